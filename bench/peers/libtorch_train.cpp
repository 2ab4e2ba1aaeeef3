// The libtorch (PyTorch C++) peer of bench/throughput.cpp: the same CNN,
// batch, optimizer and measurements, printed as the same JSON fields.
// Built by bench/run.sh against Debian's libtorch-dev, never by the project.
//   libtorch_train DATA_DIR [THREADS] [TRAIN_STEPS]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

using Clock = std::chrono::steady_clock;
static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct CourseCNN : torch::nn::Module {
  torch::nn::Conv2d conv1{torch::nn::Conv2dOptions(1, 20, 5).padding(2)};
  torch::nn::Conv2d conv2{torch::nn::Conv2dOptions(20, 20, 5).padding(2)};
  torch::nn::Linear fc{980, 10};
  CourseCNN() {
    register_module("conv1", conv1);
    register_module("conv2", conv2);
    register_module("fc", fc);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2->forward(x)), 2);
    return fc->forward(x.flatten(1));
  }
};

// An IDX file's data after its header, as uint8.
static std::vector<uint8_t> read_idx(const std::string& path, int dims) {
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {bytes.begin() + 4 + 4 * dims, bytes.end()};
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: libtorch_train DATA_DIR [THREADS] [TRAIN_STEPS]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const int steps = argc > 3 ? std::atoi(argv[3]) : 300;
  torch::set_num_threads(threads);
  auto t0 = Clock::now();
  auto train_px = read_idx(dir + "/train-images-idx3-ubyte", 3);
  auto train_lb = read_idx(dir + "/train-labels-idx1-ubyte", 1);
  auto test_px = read_idx(dir + "/t10k-images-idx3-ubyte", 3);
  auto x = torch::from_blob(train_px.data(), {60000, 1, 28, 28}, torch::kUInt8).to(torch::kFloat).div_(255);
  auto y = torch::from_blob(train_lb.data(), {60000}, torch::kUInt8).to(torch::kLong);
  auto tx = torch::from_blob(test_px.data(), {10000, 1, 28, 28}, torch::kUInt8).to(torch::kFloat).div_(255);
  const double load_ms = 1000 * seconds_since(t0);

  torch::manual_seed(0);
  auto model = std::make_shared<CourseCNN>();
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.001));
  auto order = torch::randperm(60000, torch::kLong);
  auto step = [&](int b) {
    auto idx = order.slice(0, (b % 600) * 100, (b % 600) * 100 + 100);
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x.index_select(0, idx)), y.index_select(0, idx));
    loss.backward();
    opt.step();
  };
  for (int b = 0; b < 20; ++b) step(b);
  t0 = Clock::now();
  for (int b = 0; b < steps; ++b) step(b);
  const double train_ips = steps * 100 / seconds_since(t0);

  torch::NoGradGuard no_grad;
  for (int pass = 0; pass < 2; ++pass) {
    t0 = Clock::now();
    for (int b = 0; b < 100; ++b) model->forward(tx.slice(0, b * 100, b * 100 + 100));
  }
  const double eval_ips = 10000 / seconds_since(t0);
  auto one = tx.slice(0, 0, 1);
  std::vector<double> times;
  for (int i = 0; i < 2000; ++i) {
    t0 = Clock::now();
    torch::softmax(model->forward(one), 1);
    times.push_back(1e6 * seconds_since(t0));
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  std::printf(
      "{\"impl\":\"libtorch\",\"threads\":%d,\"load_ms\":%.1f,\"train_ips\":%.0f,\"eval_ips\":%.0f,\"predict_us\":%.1f}\n",
      threads, load_ms, train_ips, eval_ips, times[times.size() / 2]);
  return 0;
}
