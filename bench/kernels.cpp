// Kernel micro-benchmarks: the course CNN's layers at the shapes one worker
// sees (a chunk of 13 samples of a batch of 100), GEMM shapes, the
// optimizer step, and one whole training step.
#include <benchmark/benchmark.h>

#include <random>

#include "kernels/blas.h"
#include "kernels/conv.h"
#include "kernels/layers.h"
#include "nn/models.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/trainer.h"
#include "course_trainer.h"

namespace mnist {
namespace {

constexpr int kChunk = 13;

std::vector<float> random_floats(size_t n, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

const ConvGeometry kConv1{1, 28, 28, 20, 5, 1, 2};
const ConvGeometry kConv2{20, 14, 14, 20, 5, 1, 2};

void conv_forward(benchmark::State& state, const ConvGeometry& g) {
  const int n = static_cast<int>(state.range(0));
  const auto x = random_floats(static_cast<size_t>(n) * g.in_channels * g.height * g.width);
  const auto w = random_floats(static_cast<size_t>(g.out_channels) * g.patch());
  const auto b = random_floats(g.out_channels);
  std::vector<float> y(static_cast<size_t>(n) * g.out_channels * g.out_plane());
  std::vector<float> scratch(conv2d_scratch_size<float>(g, n));
  for (auto _ : state) {
    conv2d_forward(x.data(), w.data(), b.data(), y.data(), n, g, scratch.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * g.out_channels * g.patch() * g.out_plane() * n,
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void conv_backward(benchmark::State& state, const ConvGeometry& g, bool input_grad) {
  const int n = static_cast<int>(state.range(0));
  const auto x = random_floats(static_cast<size_t>(n) * g.in_channels * g.height * g.width);
  const auto w = random_floats(static_cast<size_t>(g.out_channels) * g.patch());
  const auto dy = random_floats(static_cast<size_t>(n) * g.out_channels * g.out_plane());
  std::vector<float> dx(x.size()), dw(w.size()), db(g.out_channels);
  std::vector<float> scratch(conv2d_scratch_size<float>(g, n));
  for (auto _ : state) {
    conv2d_backward(x.data(), w.data(), dy.data(), input_grad ? dx.data() : nullptr, dw.data(), db.data(), n, g,
                    scratch.data());
    benchmark::DoNotOptimize(dw.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_Conv1Forward(benchmark::State& s) { conv_forward(s, kConv1); }
void BM_Conv2Forward(benchmark::State& s) { conv_forward(s, kConv2); }
void BM_Conv1Backward(benchmark::State& s) { conv_backward(s, kConv1, false); }
void BM_Conv2Backward(benchmark::State& s) { conv_backward(s, kConv2, true); }
BENCHMARK(BM_Conv1Forward)->Arg(kChunk)->Arg(100);
BENCHMARK(BM_Conv2Forward)->Arg(kChunk)->Arg(100);
BENCHMARK(BM_Conv1Backward)->Arg(kChunk);
BENCHMARK(BM_Conv2Backward)->Arg(kChunk);

void BM_MaxPool(benchmark::State& state) {
  const PoolGeometry g{28, 28, 2, 2};
  const size_t planes = kChunk * 20;
  const auto x = random_floats(planes * 784);
  std::vector<float> y(planes * 196), dx(x.size());
  std::vector<int32_t> arg(y.size());
  for (auto _ : state) {
    maxpool_forward(x.data(), y.data(), arg.data(), planes, g);
    maxpool_backward(y.data(), arg.data(), dx.data(), planes, g);
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetItemsProcessed(state.iterations() * kChunk);
}
BENCHMARK(BM_MaxPool);

// Row-major GEMM at the shapes the CNN uses: (M, N, K).
void BM_Gemm(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0)), n = static_cast<int>(state.range(1)), k = static_cast<int>(state.range(2));
  const auto a = random_floats(static_cast<size_t>(m) * k), b = random_floats(static_cast<size_t>(k) * n);
  std::vector<float> c(static_cast<size_t>(m) * n);
  for (auto _ : state) {
    gemm<float>(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Gemm)->Args({20, 784 * 6, 25})->Args({20, 196, 500})->Args({500, 196, 20})->Args({kChunk, 10, 980});

void BM_OptimizerStep(benchmark::State& state, const char* name) {
  const Network<float> net = make_network<float>("cnn", {1, 28, 28}, 10);
  OptimizerConfig config;
  config.name = name;
  auto opt = make_optimizer(config, net.tensors());
  auto params = random_floats(net.num_params(), 2);
  const auto grads = random_floats(net.num_params(), 3);
  for (auto _ : state) {
    opt->step(params, grads, 1e-6);
    benchmark::DoNotOptimize(params.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(net.num_params()));
}
BENCHMARK_CAPTURE(BM_OptimizerStep, sgd, "sgd");
BENCHMARK_CAPTURE(BM_OptimizerStep, adam, "adam");

// One whole training step of the course CNN (batch 100, Adam) on random data.
void BM_TrainStep(benchmark::State& state) {
  DataSplits data;
  data.train.count = 100;
  data.train.rows = data.train.cols = 28;
  std::mt19937 rng(4);
  for (int i = 0; i < 100 * 784; ++i) data.train.pixels.push_back(static_cast<uint8_t>(rng()));
  for (int i = 0; i < 100; ++i) data.train.labels.push_back(static_cast<uint8_t>(i % 10));
  bench::CourseTrainer course(data, static_cast<int>(state.range(0)));
  std::vector<uint32_t> indices(100);
  for (uint32_t i = 0; i < 100; ++i) indices[i] = i;
  for (auto _ : state) benchmark::DoNotOptimize(course.trainer.step(indices, 1e-6));
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_TrainStep)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
}  // namespace mnist

BENCHMARK_MAIN();
