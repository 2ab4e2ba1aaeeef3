// Kernel micro-benchmarks: the course CNN's layers at the shapes one worker
// sees (a chunk of 13 samples of a batch of 100), the recipe models' other
// convolutions, batch normalisation and augmentation, GEMM shapes, the
// optimizer step, and whole training steps.
#include <benchmark/benchmark.h>

#include <immintrin.h>

#include <random>

#include "kernels/blas.h"
#include "kernels/conv.h"
#include "kernels/conv_direct.h"
#include "data/augment.h"
#include "kernels/layers.h"
#include "train/recipes.h"
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

// The fused multiply-add peak of one core, the yardstick for the kernels'
// GFLOP/s: twelve independent chains of 16-lane FMAs (enough to cover the
// latency of two FMA pipes), nothing loaded or stored.
__attribute__((target("avx512f"))) void fma_peak(benchmark::State& state) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i + 1));
  const __m512 a = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(0.0001f);
  constexpr int kRounds = 1000;
  for (auto _ : state) {
    for (int r = 0; r < kRounds; ++r) {
      for (auto& x : acc) x = _mm512_fmadd_ps(x, a, b);
    }
    for (auto& x : acc) benchmark::DoNotOptimize(x);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 16 * 12 * kRounds, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
void BM_FmaPeak(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512f")) {
    state.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  fma_peak(state);
}
BENCHMARK(BM_FmaPeak);

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

// The weight gradient alone, through the fastest direct build, on planes
// already padded (as conv2d_backward hands them over): useful GFLOP/s, the
// padding lanes not counted.
void weight_grad(benchmark::State& state, const ConvGeometry& g) {
  const int n = static_cast<int>(state.range(0));
  const direct::Kernels* k = direct::best();
  if (k == nullptr) {
    state.SkipWithError("no direct kernels on this CPU");
    return;
  }
  const direct::Plan p = direct::plan_for(g);
  const auto x = random_floats(static_cast<size_t>(n) * g.in_channels * g.height * g.width);
  const auto dy = random_floats(static_cast<size_t>(n) * g.out_channels * g.out_plane(), 2);
  std::vector<float> padded(p.plane * n * g.in_channels), padded_dy(p.plane * n * g.out_channels);
  k->pad_planes(x.data(), static_cast<long>(n) * g.in_channels, p, padded.data());
  k->pad_planes(dy.data(), static_cast<long>(n) * g.out_channels, p, padded_dy.data());
  std::vector<float> dw(static_cast<size_t>(g.out_channels) * g.patch());
  for (auto _ : state) {
    k->weight_grad(padded.data(), padded_dy.data(), n, dw.data(), p);
    benchmark::DoNotOptimize(dw.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * g.out_channels * g.patch() * g.out_plane() * n,
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
void BM_Conv1WeightGrad(benchmark::State& s) { weight_grad(s, kConv1); }
void BM_Conv2WeightGrad(benchmark::State& s) { weight_grad(s, kConv2); }
BENCHMARK(BM_Conv1WeightGrad)->Arg(kChunk);
BENCHMARK(BM_Conv2WeightGrad)->Arg(kChunk);

// The recipe models' other convolutions, at a chunk of a batch of 128 (16):
// speed's and best's 3x3 ones on 14x14 planes, best's 3x3 on 7x7.
const ConvGeometry kSpeedConv2{16, 14, 14, 32, 3, 1, 1};
const ConvGeometry kBestConv2{32, 14, 14, 64, 3, 1, 1};
const ConvGeometry kBestConv3{64, 7, 7, 128, 3, 1, 1};
void BM_SpeedConv2Forward(benchmark::State& s) { conv_forward(s, kSpeedConv2); }
void BM_SpeedConv2Backward(benchmark::State& s) { conv_backward(s, kSpeedConv2, true); }
void BM_BestConv2Forward(benchmark::State& s) { conv_forward(s, kBestConv2); }
void BM_BestConv3Forward(benchmark::State& s) { conv_forward(s, kBestConv3); }
void BM_BestConv3Backward(benchmark::State& s) { conv_backward(s, kBestConv3, true); }
BENCHMARK(BM_SpeedConv2Forward)->Arg(16);
BENCHMARK(BM_SpeedConv2Backward)->Arg(16);
BENCHMARK(BM_BestConv2Forward)->Arg(16);
BENCHMARK(BM_BestConv3Forward)->Arg(16);
BENCHMARK(BM_BestConv3Backward)->Arg(16);

// Batch normalisation in training, forward then backward, at the speed
// model's bn1 (16 samples x 16 channels x 14x14) and bn3 (16 x 64 x 1).
void BM_BatchNorm(benchmark::State& state) {
  const int n = 16, channels = static_cast<int>(state.range(0)), plane = static_cast<int>(state.range(1));
  const size_t size = static_cast<size_t>(n) * channels * plane;
  const auto x = random_floats(size), dy = random_floats(size, 2), gamma = random_floats(channels, 3),
             beta = random_floats(channels, 4);
  std::vector<float> y(size), xhat(size), dx(size), inv(channels), mean(channels), var(channels), dg(channels),
      db(channels);
  for (auto _ : state) {
    batchnorm_train_forward(x.data(), gamma.data(), beta.data(), y.data(), xhat.data(), inv.data(), mean.data(),
                            var.data(), n, channels, plane, 1e-5f);
    batchnorm_backward(xhat.data(), inv.data(), gamma.data(), dy.data(), dx.data(), dg.data(), db.data(), n,
                       channels, plane);
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_BatchNorm)->Args({16, 196})->Args({64, 1});

// One 28x28 image rotated, scaled and shifted.
void BM_Augment(benchmark::State& state) {
  const auto image = random_floats(784);
  std::vector<float> out(784);
  uint64_t seed = 0;
  for (auto _ : state) {
    augment_image(image.data(), out.data(), 28, 28, 0.0f, AugmentConfig{10, 0.1, 2}, ++seed);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Augment);

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

// One training step of each recipe (its model, batch, augmentation) on
// random data, on 2 threads.
void BM_RecipeStep(benchmark::State& state, const char* recipe) {
  TrainConfig config;
  find_recipe(recipe).apply(config);
  config.epochs = 1000;  // a schedule long enough for any number of steps
  const int batch = config.batch_size;
  DataSplits data;
  data.train.count = batch;
  data.train.rows = data.train.cols = 28;
  std::mt19937 rng(4);
  for (int i = 0; i < batch * 784; ++i) data.train.pixels.push_back(static_cast<uint8_t>(rng()));
  for (int i = 0; i < batch; ++i) data.train.labels.push_back(static_cast<uint8_t>(i % 10));
  TrainingRun run(plan_new_run(config, "", 2), borrow(data));
  std::vector<uint32_t> indices(static_cast<size_t>(batch));
  for (int i = 0; i < batch; ++i) indices[i] = static_cast<uint32_t>(i);
  for (auto _ : state) benchmark::DoNotOptimize(run.trainer().step(indices, 1e-6));
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK_CAPTURE(BM_RecipeStep, speedrun, "speedrun")->UseRealTime();
BENCHMARK_CAPTURE(BM_RecipeStep, best, "best")->UseRealTime();

}  // namespace
}  // namespace mnist

BENCHMARK_MAIN();
