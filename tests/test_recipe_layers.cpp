// The layers and ingredients the recipes added: batch normalisation,
// dropout, label smoothing and augmentation, against PyTorch's numbers
// (tests/fixtures/layers.json, from tools/make_layer_fixtures.py), against
// their naive twins, and against finite differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "data/augment.h"
#include "helpers.h"
#include "kernels/layers.h"
#include "kernels/reference.h"
#include "nn/models.h"

namespace mnist {
namespace {

using test::random_vector;

const nlohmann::json& fixture() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::string(MNIST_FIXTURES) + "/layers.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

std::vector<float> floats(const nlohmann::json& j) { return j.get<std::vector<float>>(); }

void expect_close(const std::vector<float>& ours, const std::vector<float>& theirs, double tolerance,
                  const std::string& what) {
  ASSERT_EQ(ours.size(), theirs.size()) << what;
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_NEAR(ours[i], theirs[i], tolerance * (1 + std::abs(theirs[i]))) << what << "[" << i << "]";
  }
}

// BatchNorm2d on (4, 3, 5, 6) and BatchNorm1d on (7, 5), as PyTorch.
class BatchNormParity : public ::testing::TestWithParam<const char*> {};

TEST_P(BatchNormParity, TrainEvalBackwardAndRunningStatisticsMatchPyTorch) {
  const auto& c = fixture().at(GetParam());
  const auto shape = c.at("shape").get<std::vector<int>>();
  const int n = shape[0], channels = shape[1];
  const int plane = shape.size() == 4 ? shape[2] * shape[3] : 1;
  const auto x = floats(c.at("x")), dy = floats(c.at("dy")), gamma = floats(c.at("weight")),
             beta = floats(c.at("bias"));
  std::vector<float> y(x.size()), xhat(x.size()), inv(channels), mean(channels), var(channels);
  batchnorm_train_forward(x.data(), gamma.data(), beta.data(), y.data(), xhat.data(), inv.data(), mean.data(),
                          var.data(), n, channels, plane, kBatchNormEps);
  expect_close(y, floats(c.at("y")), 1e-5, "y");
  std::vector<float> dx(x.size()), dgamma(channels, 0.0f), dbeta(channels, 0.0f);
  batchnorm_backward(xhat.data(), inv.data(), gamma.data(), dy.data(), dx.data(), dgamma.data(), dbeta.data(), n,
                     channels, plane);
  expect_close(dx, floats(c.at("dx")), 1e-5, "dx");
  expect_close(dgamma, floats(c.at("dweight")), 1e-5, "dweight");
  expect_close(dbeta, floats(c.at("dbias")), 1e-5, "dbias");

  // Running statistics after this batch and two more, through a network
  // of the one layer.
  Network<float> net("bn", {LayerSpec::batchnorm("bn")}, Shape{channels, shape.size() == 4 ? shape[2] : 1,
                                                                shape.size() == 4 ? shape[3] : 1},
                     channels * plane);
  std::copy(gamma.begin(), gamma.end(), net.params().begin());
  std::copy(beta.begin(), beta.end(), net.params().begin() + channels);
  Workspace<float> ws(net, n);
  ws.forward(net, x.data(), n);
  net.update_running_stats(ws.batch_stats().data());
  for (const auto& more : c.at("more")) {
    ws.forward(net, floats(more).data(), n);
    net.update_running_stats(ws.batch_stats().data());
  }
  const std::vector<float> buffers(net.buffers().begin(), net.buffers().end());
  expect_close({buffers.begin(), buffers.begin() + channels}, floats(c.at("running_mean")), 1e-5, "running_mean");
  expect_close({buffers.begin() + channels, buffers.end()}, floats(c.at("running_var")), 1e-5, "running_var");
  EXPECT_EQ(net.batches_tracked().at(0), c.at("num_batches_tracked").get<int64_t>());

  Workspace<float> eval(net, n, /*for_training=*/false);
  const float* out = eval.forward(net, x.data(), n);
  expect_close({out, out + x.size()}, floats(c.at("y_eval")), 1e-5, "eval y");
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormParity, ::testing::Values("batchnorm2d", "batchnorm1d"));

// The float kernels against the naive double twin, on shapes with plane
// sizes around the lane count.
TEST(BatchNorm, KernelsMatchTheNaiveTwin) {
  std::mt19937 rng(3);
  for (const auto& [n, channels, plane] : std::vector<std::tuple<int, int, int>>{{2, 3, 1}, {5, 2, 7}, {3, 4, 49}, {16, 2, 196}}) {
    SCOPED_TRACE(std::to_string(n) + "x" + std::to_string(channels) + "x" + std::to_string(plane));
    const size_t size = static_cast<size_t>(n) * channels * plane;
    const auto x = random_vector<double>(size, rng, -2, 3), dy = random_vector<double>(size, rng);
    const auto gamma = random_vector<double>(channels, rng, 0.5, 1.5), beta = random_vector<double>(channels, rng);
    std::vector<double> y(size), dx(size), dgamma(channels), dbeta(channels);
    reference::batchnorm_forward(x.data(), gamma.data(), beta.data(), y.data(), n, channels, plane, 1e-5);
    reference::batchnorm_backward(x.data(), gamma.data(), dy.data(), dx.data(), dgamma.data(), dbeta.data(), n,
                                  channels, plane, 1e-5);
    auto to_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
    const auto xf = to_float(x), dyf = to_float(dy), gf = to_float(gamma), bf = to_float(beta);
    std::vector<float> yf(size), xhat(size), inv(channels), mean(channels), var(channels), dxf(size),
        dgf(channels, 0.0f), dbf(channels, 0.0f);
    batchnorm_train_forward(xf.data(), gf.data(), bf.data(), yf.data(), xhat.data(), inv.data(), mean.data(),
                            var.data(), n, channels, plane, 1e-5f);
    batchnorm_backward(xhat.data(), inv.data(), gf.data(), dyf.data(), dxf.data(), dgf.data(), dbf.data(), n,
                       channels, plane);
    expect_close(yf, to_float(y), 2e-5, "y");
    expect_close(dxf, to_float(dx), 2e-5, "dx");
    expect_close(dgf, to_float(dgamma), 2e-5, "dgamma");
    expect_close(dbf, to_float(dbeta), 2e-5, "dbeta");
  }
}

TEST(LabelSmoothing, MatchesPyTorchsCrossEntropy) {
  const auto& c = fixture().at("label_smoothing");
  const auto logits = floats(c.at("logits"));
  const auto labels_wide = c.at("labels").get<std::vector<int>>();
  const std::vector<uint8_t> labels(labels_wide.begin(), labels_wide.end());
  const int n = static_cast<int>(labels.size());
  std::vector<float> dlogits(logits.size());
  const double sum = softmax_cross_entropy<float>(logits.data(), labels.data(), n, 10, 1.0f / n, dlogits.data(),
                                                  c.at("smoothing").get<float>());
  EXPECT_NEAR(sum / n, c.at("loss").get<double>(), 1e-6);
  expect_close(dlogits, floats(c.at("dlogits")), 1e-6, "dlogits");
}

TEST(GradientCheck, LabelSmoothedCrossEntropy) {
  const int n = 3, classes = 10;
  std::mt19937 rng(8);
  auto z = random_vector<double>(n * classes, rng, -4, 4);
  const std::vector<uint8_t> labels = {2, 9, 2};
  auto loss = [&] { return softmax_cross_entropy<double>(z.data(), labels.data(), n, classes, 1.0, nullptr, 0.2); };
  std::vector<double> dz(z.size());
  softmax_cross_entropy<double>(z.data(), labels.data(), n, classes, 1.0, dz.data(), 0.2);
  for (size_t i = 0; i < z.size(); ++i) {
    const double saved = z[i];
    z[i] = saved + 1e-6;
    const double up = loss();
    z[i] = saved - 1e-6;
    const double down = loss();
    z[i] = saved;
    EXPECT_NEAR(dz[i], (up - down) / 2e-6, 1e-6) << i;
  }
}

// Dropout: a sample's mask depends on the step's seed and its position in
// the batch, not on how the batch is cut; in evaluation it is the identity.
TEST(Dropout, MasksFollowTheSampleNotTheChunkAndKeepTheExpectation) {
  const Shape input{1, 1, 400};
  Network<float> net("drop", {LayerSpec::dropout(0.25), LayerSpec::linear("fc", 10)}, input, 10);
  net.init(1);
  const int n = 6;
  std::mt19937 rng(2);
  const auto x = random_vector<float>(n * input.size(), rng, 1, 2);
  Workspace<float> whole(net, n), part(net, n);
  whole.set_noise(99, 0);
  const float* a = whole.forward(net, x.data(), n);
  const std::vector<float> together(a, a + n * 10);
  part.set_noise(99, 4);  // samples 4 and 5 alone
  const float* b = part.forward(net, x.data() + 4 * input.size(), 2);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(b[i], together[40 + i]);
  part.set_noise(100, 0);
  const float* c = part.forward(net, x.data(), n);
  EXPECT_NE(std::vector<float>(c, c + n * 10), together) << "another step, other masks";
  // A quarter of the values dropped, the others scaled by 4/3.
  Network<float> only("drop", {LayerSpec::dropout(0.25)}, Shape{10, 1, 1}, 10);
  std::vector<float> ones(10 * 1000, 1.0f);
  Workspace<float> big(only, 1000);
  big.set_noise(5, 0);
  const float* y = big.forward(only, ones.data(), 1000);
  const auto zeros = std::count(y, y + ones.size(), 0.0f);
  EXPECT_NEAR(static_cast<double>(zeros) / ones.size(), 0.25, 0.02);
  for (size_t i = 0; i < ones.size(); ++i) ASSERT_TRUE(y[i] == 0.0f || y[i] == 4.0f / 3.0f) << y[i];
  Workspace<float> eval(only, 1000, /*for_training=*/false);
  const float* e = eval.forward(only, ones.data(), 1000);
  EXPECT_TRUE(std::all_of(e, e + ones.size(), [](float v) { return v == 1.0f; }));
}

TEST(Augment, IsTheIdentityWithNothingDrawnAndReproducibleBySeed) {
  std::mt19937 rng(4);
  const auto image = random_vector<float>(28 * 28, rng, 0, 1);
  std::vector<float> out(image.size()), again(image.size());
  augment_image(image.data(), out.data(), 28, 28, 0.0f, AugmentConfig{}, 17);
  EXPECT_EQ(out, image);
  const AugmentConfig config{15, 0.1, 2};
  augment_image(image.data(), out.data(), 28, 28, 0.0f, config, 17);
  augment_image(image.data(), again.data(), 28, 28, 0.0f, config, 17);
  EXPECT_EQ(out, again);
  EXPECT_NE(out, image);
  augment_image(image.data(), again.data(), 28, 28, 0.0f, config, 18);
  EXPECT_NE(out, again);
}

// A mirror image, drawn for about half the seeds, is the image mirrored.
TEST(Augment, FlipMirrorsHalfTheImages) {
  std::mt19937 rng(6);
  const auto image = random_vector<float>(28 * 28, rng, 0, 1);
  std::vector<float> mirrored(image.size()), out(image.size());
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) mirrored[y * 28 + x] = image[y * 28 + 27 - x];
  }
  int flipped = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    AugmentConfig config;
    config.flip = true;
    augment_image(image.data(), out.data(), 28, 28, 0.0f, config, seed);
    if (out == mirrored) {
      ++flipped;
    } else {
      ASSERT_EQ(out, image) << seed;
    }
  }
  EXPECT_GT(flipped, 70);
  EXPECT_LT(flipped, 130);
}

// Cutout blanks one square of the given side (fewer pixels where it meets
// an edge), at places that vary with the seed, and nothing else; the other
// draws are the same with it on or off.
TEST(Augment, CutoutBlanksOneSquareAndLeavesTheRest) {
  std::mt19937 rng(8);
  auto image = random_vector<float>(28 * 28, rng, 0.5f, 1);
  std::vector<float> plain(image.size()), out(image.size());
  int whole = 0, clipped = 0;
  std::vector<int> corners;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    // With the distortions on, they are drawn the same with cutout or without.
    AugmentConfig config{5, 0.05, 1};
    augment_image(image.data(), plain.data(), 28, 28, -1.0f, config, seed);
    config.cutout = 8;
    augment_image(image.data(), out.data(), 28, 28, -1.0f, config, seed);
    for (int i = 0; i < 28 * 28; ++i) ASSERT_TRUE(out[i] == plain[i] || out[i] == -1.0f) << seed;
    // Alone, on an image with no background, the square shows whole.
    config = AugmentConfig{};
    config.cutout = 8;
    std::copy(image.begin(), image.end(), plain.begin());
    augment_image(image.data(), out.data(), 28, 28, -1.0f, config, seed);
    int lo_x = 28, lo_y = 28, hi_x = -1, hi_y = -1, blanked = 0;
    for (int i = 0; i < 28 * 28; ++i) {
      if (out[i] == plain[i]) continue;
      ASSERT_EQ(out[i], -1.0f) << seed;
      ++blanked;
      lo_x = std::min(lo_x, i % 28), hi_x = std::max(hi_x, i % 28);
      lo_y = std::min(lo_y, i / 28), hi_y = std::max(hi_y, i / 28);
    }
    ASSERT_GT(blanked, 0) << seed;
    // A filled rectangle, 8 a side unless cut by an edge.
    ASSERT_EQ(blanked, (hi_x - lo_x + 1) * (hi_y - lo_y + 1)) << seed;
    ASSERT_LE(hi_x - lo_x + 1, 8);
    ASSERT_LE(hi_y - lo_y + 1, 8);
    if (hi_x - lo_x + 1 == 8 && hi_y - lo_y + 1 == 8) {
      ++whole;
    } else {
      ASSERT_TRUE(lo_x == 0 || lo_y == 0 || hi_x == 27 || hi_y == 27) << seed;
      ++clipped;
    }
    corners.push_back(lo_y * 28 + lo_x);
  }
  EXPECT_GT(whole, 30);
  EXPECT_GT(clipped, 10);
  std::sort(corners.begin(), corners.end());
  EXPECT_GT(std::unique(corners.begin(), corners.end()) - corners.begin(), 50);
}

// A shift alone moves a dot by at most the range, and keeps its ink: the
// bilinear weights of each output pixel sum to 1.
TEST(Augment, AShiftMovesADotWithinItsRangeAndKeepsItsInk) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<float> image(28 * 28, 0.0f), out(28 * 28);
    image[14 * 28 + 13] = 1.0f;
    augment_image(image.data(), out.data(), 28, 28, 0.0f, AugmentConfig{0, 0, 3}, seed);
    EXPECT_NEAR(std::accumulate(out.begin(), out.end(), 0.0), 1.0, 1e-5) << seed;
    for (int i = 0; i < 28 * 28; ++i) {
      if (out[i] > 0) {
        EXPECT_LE(std::abs(i / 28 - 14), 4) << seed;
        EXPECT_LE(std::abs(i % 28 - 13), 4) << seed;
      }
    }
  }
  // Rotating by up to 180 degrees keeps an image inside [background, max].
  std::mt19937 rng(1);
  const auto image = random_vector<float>(28 * 28, rng, 0, 1);
  std::vector<float> out(image.size());
  augment_image(image.data(), out.data(), 28, 28, 0.0f, AugmentConfig{180, 0.2, 0}, 3);
  for (float v : out) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.0f);
  }
}

}  // namespace
}  // namespace mnist
