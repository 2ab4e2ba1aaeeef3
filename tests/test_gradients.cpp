// Gradient checks in double precision: every layer's backward, the loss and
// whole networks against central finite differences.
#include <gtest/gtest.h>

#include <functional>

#include "helpers.h"
#include "kernels/conv.h"
#include "kernels/layers.h"
#include "nn/models.h"

namespace mnist {
namespace {

using test::random_vector;

constexpr double kStep = 1e-6;

// |analytic - numeric| within 1e-7 absolute plus 1e-6 relative.
void expect_gradient(double analytic, double numeric, const std::string& what) {
  EXPECT_NEAR(analytic, numeric, 1e-7 + 1e-6 * std::abs(numeric)) << what;
}

// Central difference of f with respect to v[i].
double numeric_derivative(std::vector<double>& v, size_t i, const std::function<double()>& f) {
  const double saved = v[i];
  v[i] = saved + kStep;
  const double up = f();
  v[i] = saved - kStep;
  const double down = f();
  v[i] = saved;
  return (up - down) / (2 * kStep);
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// For a layer y = f(x, params), checks the backward pass on the objective
// L = sum(y * r) with random r, for which dL/dy = r.
TEST(GradientCheck, Conv2d) {
  const ConvGeometry g{2, 6, 5, 3, 3, 1, 1};
  const int n = 2;
  std::mt19937 rng(1);
  auto x = random_vector<double>(static_cast<size_t>(n) * 2 * 6 * 5, rng);
  auto w = random_vector<double>(3 * g.patch(), rng);
  auto b = random_vector<double>(3, rng);
  const auto r = random_vector<double>(static_cast<size_t>(n) * 3 * g.out_plane(), rng);
  std::vector<double> scratch(conv2d_scratch_size<double>(g, n)), y(r.size());
  auto loss = [&] {
    conv2d_forward(x.data(), w.data(), b.data(), y.data(), n, g, scratch.data());
    return dot(y, r);
  };
  std::vector<double> dx(x.size(), 7.0), dw(w.size()), db(b.size());  // dx is written, not added to
  conv2d_backward(x.data(), w.data(), r.data(), dx.data(), dw.data(), db.data(), n, g, scratch.data());
  for (size_t i = 0; i < x.size(); ++i) expect_gradient(dx[i], numeric_derivative(x, i, loss), "dx " + std::to_string(i));
  for (size_t i = 0; i < w.size(); ++i) expect_gradient(dw[i], numeric_derivative(w, i, loss), "dw " + std::to_string(i));
  for (size_t i = 0; i < b.size(); ++i) expect_gradient(db[i], numeric_derivative(b, i, loss), "db " + std::to_string(i));
}

TEST(GradientCheck, Linear) {
  const int n = 3, in = 7, out = 4;
  std::mt19937 rng(2);
  auto x = random_vector<double>(n * in, rng);
  auto w = random_vector<double>(out * in, rng);
  auto b = random_vector<double>(out, rng);
  const auto r = random_vector<double>(n * out, rng);
  std::vector<double> y(r.size());
  auto loss = [&] {
    linear_forward(x.data(), w.data(), b.data(), y.data(), n, in, out);
    return dot(y, r);
  };
  std::vector<double> dx(x.size(), 7.0), dw(w.size()), db(b.size());
  linear_backward(x.data(), w.data(), r.data(), dx.data(), dw.data(), db.data(), n, in, out);
  for (size_t i = 0; i < x.size(); ++i) expect_gradient(dx[i], numeric_derivative(x, i, loss), "dx");
  for (size_t i = 0; i < w.size(); ++i) expect_gradient(dw[i], numeric_derivative(w, i, loss), "dw");
  for (size_t i = 0; i < b.size(); ++i) expect_gradient(db[i], numeric_derivative(b, i, loss), "db");
}

TEST(GradientCheck, ReLU) {
  std::mt19937 rng(3);
  auto x = random_vector<double>(50, rng);
  for (auto& v : x) v += v > 0 ? 0.01 : -0.01;  // keep away from the kink at 0
  const auto r = random_vector<double>(50, rng);
  std::vector<double> y(50);
  auto loss = [&] {
    relu_forward(x.data(), y.data(), x.size());
    return dot(y, r);
  };
  loss();
  std::vector<double> dx(50, 7.0);
  relu_backward(y.data(), r.data(), dx.data(), 50);
  for (size_t i = 0; i < x.size(); ++i) expect_gradient(dx[i], numeric_derivative(x, i, loss), "dx");
}

TEST(GradientCheck, MaxPool) {
  const PoolGeometry g{6, 7, 2, 2};  // odd width: the last column is dropped
  const size_t planes = 3;
  std::mt19937 rng(4);
  auto x = random_vector<double>(planes * 6 * 7, rng);
  const auto r = random_vector<double>(planes * g.out_height() * g.out_width(), rng);
  std::vector<double> y(r.size());
  std::vector<int32_t> arg(r.size());
  auto loss = [&] {
    maxpool_forward(x.data(), y.data(), arg.data(), planes, g);
    return dot(y, r);
  };
  loss();
  std::vector<double> dx(x.size(), 7.0);
  maxpool_backward(r.data(), arg.data(), dx.data(), planes, g);
  for (size_t i = 0; i < x.size(); ++i) expect_gradient(dx[i], numeric_derivative(x, i, loss), "dx");
}

TEST(GradientCheck, SoftmaxCrossEntropy) {
  const int n = 4, classes = 10;
  std::mt19937 rng(5);
  auto z = random_vector<double>(n * classes, rng, -5, 5);
  const std::vector<uint8_t> labels = {3, 0, 9, 3};
  const double scale = 1.0 / n;
  auto loss = [&] { return scale * softmax_cross_entropy<double>(z.data(), labels.data(), n, classes, scale, nullptr); };
  std::vector<double> dz(z.size());
  softmax_cross_entropy<double>(z.data(), labels.data(), n, classes, scale, dz.data());
  for (size_t i = 0; i < z.size(); ++i) expect_gradient(dz[i], numeric_derivative(z, i, loss), "dz");
}

TEST(SoftmaxCrossEntropy, IsStableForHugeLogits) {
  const std::vector<float> z = {1000.0f, 0.0f, -1000.0f};
  const uint8_t label = 1;
  std::vector<float> dz(3);
  const double loss = softmax_cross_entropy<float>(z.data(), &label, 1, 3, 1.0f, dz.data());
  EXPECT_DOUBLE_EQ(loss, 1000.0);
  EXPECT_FLOAT_EQ(dz[0], 1.0f);
  EXPECT_FLOAT_EQ(dz[1], -1.0f);
  EXPECT_FLOAT_EQ(dz[2], 0.0f);
}

// Whole networks: the mean loss over a batch against every parameter.
class NetworkGradient : public ::testing::TestWithParam<std::string> {};

TEST_P(NetworkGradient, MatchesFiniteDifferences) {
  const Shape input{1, 8, 8};
  Network<double> net = make_network<double>(GetParam(), input, 10);
  net.init(11);
  const int n = 3;
  std::mt19937 rng(6);
  const auto x = random_vector<double>(n * input.size(), rng, 0, 1);
  const std::vector<uint8_t> labels = {1, 7, 4};
  Workspace<double> ws(net, n);
  auto loss = [&] {
    const double* logits = ws.forward(net, x.data(), n);
    return softmax_cross_entropy<double>(logits, labels.data(), n, 10, 1.0 / n, nullptr) / n;
  };
  std::vector<double> grad(net.num_params()), dlogits(n * 10);
  const double* logits = ws.forward(net, x.data(), n);
  softmax_cross_entropy<double>(logits, labels.data(), n, 10, 1.0 / n, dlogits.data());
  ws.backward(net, dlogits.data(), n, grad.data());
  std::vector<double> params(net.params().begin(), net.params().end());
  auto loss_at = [&] {
    std::copy(params.begin(), params.end(), net.params().begin());
    return loss();
  };
  for (const auto& t : net.tensors()) {
    // Every bias and a spread of the weights (all of them in small tensors).
    const size_t stride = t.size > 400 ? 13 : 1;
    for (size_t i = 0; i < t.size; i += stride) {
      expect_gradient(grad[t.offset + i], numeric_derivative(params, t.offset + i, loss_at),
                      t.name + "[" + std::to_string(i) + "]");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, NetworkGradient, ::testing::Values("cnn", "mlp", "linear", "speed", "best"));

}  // namespace
}  // namespace mnist
