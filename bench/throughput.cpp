// End-to-end speed of the course CNN on real MNIST, as one JSON object:
//   load_ms          reading the IDX data set
//   train_ips        training images/s (batch 100, Adam), after a warm-up
//   eval_ips         evaluation images/s over the test set
//   predict_us       one image's forward pass, model loaded (median)
// Usage: throughput DATA_DIR [THREADS] [TRAIN_STEPS]
//        throughput mnist.json.gz        (only load_ms)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <numeric>

#include "data/dataset.h"
#include "nn/models.h"
#include "optim/schedule.h"
#include "train/evaluate.h"
#include "train/trainer.h"
#include "course_trainer.h"

using namespace mnist;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: throughput DATA_DIR [THREADS] [TRAIN_STEPS]\n");
    return 2;
  }
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const int steps = argc > 3 ? std::atoi(argv[3]) : 300;
  auto t0 = Clock::now();
  const DataSplits data = load_data(argv[1]);
  const double load_ms = 1000 * seconds_since(t0);
  if (data.test.pixels.empty()) {  // course JSON: only its loading time is of interest
    fmt::print(R"({{"impl":"mnist","load_ms":{:.1f}}})" "\n", load_ms);
    return 0;
  }

  bench::CourseTrainer course(data, threads);
  Trainer& trainer = course.trainer;
  Network<float>& net = course.network;
  ThreadPool& pool = course.pool;
  const auto order = epoch_order(data.train.count, 0, 0, true);
  auto batch = [&](int b) { return std::span(order).subspan(static_cast<size_t>(b % 600) * 100, 100); };
  for (int b = 0; b < 20; ++b) trainer.step(batch(b), 0.001);
  t0 = Clock::now();
  for (int b = 0; b < steps; ++b) trainer.step(batch(b), 0.001);
  const double train_ips = steps * 100 / seconds_since(t0);

  evaluate(net, data.test, data.scaling, pool);
  t0 = Clock::now();
  evaluate(net, data.test, data.scaling, pool);
  const double eval_ips = data.test.count / seconds_since(t0);

  std::vector<float> image(784);
  std::vector<uint8_t> label(1);
  const uint32_t first = 0;
  data.test.gather(std::span(&first, 1), data.scaling, image.data(), label.data());
  Predictor predict(net);  // what mnist predict runs for each image
  std::vector<double> times;
  for (int i = 0; i < 2000; ++i) {
    t0 = Clock::now();
    predict(image.data());
    times.push_back(1e6 * seconds_since(t0));
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  fmt::print(R"({{"impl":"mnist","threads":{},"load_ms":{:.1f},"train_ips":{:.0f},"eval_ips":{:.0f},"predict_us":{:.1f}}})"
             "\n",
             threads, load_ms, train_ips, eval_ips, times[times.size() / 2]);
  return 0;
}
