// Fast kernels against their naive references, on random shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "helpers.h"
#include "kernels/blas.h"
#include "kernels/conv.h"
#include "kernels/conv_direct.h"
#include "kernels/reference.h"

namespace mnist {
namespace {

using test::random_vector;

struct ConvCase {
  int n, c, h, w, oc, k, stride, pad;
};

class ConvMatchesReference : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvMatchesReference, ForwardAndBackward) {
  const ConvCase p = GetParam();
  const ConvGeometry g{p.c, p.h, p.w, p.oc, p.k, p.stride, p.pad};
  std::mt19937 rng(p.n * 131 + p.c * 17 + p.h);
  const auto x = random_vector<double>(static_cast<size_t>(p.n) * p.c * p.h * p.w, rng);
  const auto w = random_vector<double>(static_cast<size_t>(p.oc) * g.patch(), rng);
  const auto b = random_vector<double>(p.oc, rng);
  const size_t out_size = static_cast<size_t>(p.n) * p.oc * g.out_plane();
  std::vector<double> y(out_size), y_ref(out_size);
  std::vector<double> scratch(conv2d_scratch_size<double>(g, p.n));
  conv2d_forward(x.data(), w.data(), b.data(), y.data(), p.n, g, scratch.data());
  reference::conv2d_forward(x.data(), w.data(), b.data(), y_ref.data(), p.n, g);
  for (size_t i = 0; i < out_size; ++i) ASSERT_NEAR(y[i], y_ref[i], 1e-12) << "output " << i;

  const auto dy = random_vector<double>(out_size, rng);
  std::vector<double> dx(x.size(), 0.5), dw(w.size(), 0.25), db(b.size(), -0.5);
  auto dx_ref = dx, dw_ref = dw, db_ref = db;  // dw and db accumulate, dx is written: start from non-zero
  conv2d_backward(x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), p.n, g, scratch.data());
  reference::conv2d_backward(x.data(), w.data(), dy.data(), dx_ref.data(), dw_ref.data(), db_ref.data(), p.n, g);
  for (size_t i = 0; i < dx.size(); ++i) ASSERT_NEAR(dx[i], dx_ref[i], 1e-12) << "dx " << i;
  for (size_t i = 0; i < dw.size(); ++i) ASSERT_NEAR(dw[i], dw_ref[i], 1e-11) << "dw " << i;
  for (size_t i = 0; i < db.size(); ++i) ASSERT_NEAR(db[i], db_ref[i], 1e-11) << "db " << i;

  // Columns kept from the forward pass give bit-identical gradients.
  std::vector<double> columns(conv2d_saved_size<double>(g, p.n)), y_kept(out_size);
  conv2d_forward(x.data(), w.data(), b.data(), y_kept.data(), p.n, g, scratch.data(), columns.data());
  EXPECT_EQ(y_kept, y);
  std::vector<double> dx2(x.size(), 0.5), dw2(w.size(), 0.25), db2(b.size(), -0.5);
  conv2d_backward(x.data(), w.data(), dy.data(), dx2.data(), dw2.data(), db2.data(), p.n, g, scratch.data(),
                  columns.data());
  EXPECT_EQ(dx2, dx);
  EXPECT_EQ(dw2, dw);
  EXPECT_EQ(db2, db);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvMatchesReference,
                         ::testing::Values(ConvCase{1, 1, 28, 28, 20, 5, 1, 2},   // the course's conv1
                                           ConvCase{3, 20, 14, 14, 20, 5, 1, 2},  // the course's conv2
                                           ConvCase{1, 1, 1, 1, 1, 1, 1, 0},      // smallest
                                           ConvCase{2, 3, 5, 7, 4, 3, 1, 0},      // no padding, non-square
                                           ConvCase{5, 2, 6, 6, 3, 3, 2, 1},      // stride 2
                                           ConvCase{2, 1, 4, 4, 2, 5, 1, 2},      // kernel larger than the input
                                           ConvCase{40, 1, 9, 9, 3, 5, 1, 2}));   // several im2col groups

TEST(Conv, ScratchCoversSeveralGroupsWithRemainder) {
  // conv1 on 28x28 takes several samples per group; make n not a multiple.
  const ConvGeometry g{1, 28, 28, 20, 5, 1, 2};
  ASSERT_GT(g.group(), 1);
  const int n = g.group() * 2 + 1;
  std::mt19937 rng(7);
  const auto x = random_vector<float>(static_cast<size_t>(n) * 784, rng);
  const auto w = random_vector<float>(20 * 25, rng);
  const auto b = random_vector<float>(20, rng);
  std::vector<float> y(static_cast<size_t>(n) * 20 * 784), y_ref(y.size());
  std::vector<float> scratch(conv2d_scratch_size<float>(g, n));
  conv2d_forward(x.data(), w.data(), b.data(), y.data(), n, g, scratch.data());
  reference::conv2d_forward(x.data(), w.data(), b.data(), y_ref.data(), n, g);
  for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], y_ref[i], 1e-5f) << i;
}

// The direct kernels of every instruction set this CPU runs against the
// scalar reference that adds the same terms in the same order: equal to the
// bit, forward and backward, on the course's shapes and on edges (one
// vector per row exactly, one lane past it, remainders of every blocking,
// 1x1 kernels). They are also checked against the plain definition.
struct DirectCase {
  int n, c, h, w, oc, k;
  int narrow = 0;  // the layout plan_for must choose: 1 flat, 0 by rows
};

class DirectConv : public ::testing::TestWithParam<DirectCase> {};

TEST_P(DirectConv, EqualsItsReferenceToTheBit) {
  const DirectCase p = GetParam();
  const ConvGeometry g{p.c, p.h, p.w, p.oc, p.k, 1, (p.k - 1) / 2};
  ASSERT_TRUE(direct::supports(g));
  // The case tests the layout it was written for.
  ASSERT_EQ(direct::plan_for(g).narrow, p.narrow);
  int count = 0;
  const direct::Kernels* const* builds = direct::available(count);
  if (count == 0) GTEST_SKIP() << "this CPU has neither AVX2 with FMA nor AVX-512";
  std::mt19937 rng(p.n * 7 + p.c * 131 + p.w);
  auto x = random_vector<float>(static_cast<size_t>(p.n) * p.c * p.h * p.w, rng);
  for (size_t i = 0; i < x.size(); i += 5) x[i] = 0;  // like a ReLU's output
  const auto w = random_vector<float>(static_cast<size_t>(p.oc) * g.patch(), rng);
  const auto b = random_vector<float>(p.oc, rng);
  const auto dy = random_vector<float>(static_cast<size_t>(p.n) * p.oc * p.h * p.w, rng);
  std::vector<float> y_ref(dy.size()), dx_ref(x.size(), 0.5f), dw_ref(w.size(), 0.25f), db_ref(b.size(), -0.5f);
  reference::direct_conv2d_forward(x.data(), w.data(), b.data(), y_ref.data(), p.n, g);
  reference::direct_conv2d_backward(x.data(), w.data(), dy.data(), dx_ref.data(), dw_ref.data(), db_ref.data(), p.n, g);

  // The reference computes the convolution (in another order).
  std::vector<float> y_def(dy.size());
  reference::conv2d_forward(x.data(), w.data(), b.data(), y_def.data(), p.n, g);
  for (size_t i = 0; i < y_def.size(); ++i) ASSERT_NEAR(y_ref[i], y_def[i], 1e-4f) << "output " << i;

  std::vector<float> scratch(direct::scratch_size(g, p.n)), saved(direct::saved_size(g, p.n));
  for (int b_i = 0; b_i < count; ++b_i) {
    const direct::Kernels& k = *builds[b_i];
    SCOPED_TRACE(k.isa);
    std::vector<float> y(dy.size(), 7.0f);
    direct::conv2d_forward(k, x.data(), w.data(), b.data(), y.data(), p.n, g, scratch.data(), saved.data());
    for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], y_ref[i]) << "output " << i;
    // With and without what the forward pass saved.
    for (const float* kept : {static_cast<const float*>(saved.data()), static_cast<const float*>(nullptr)}) {
      std::vector<float> dx(x.size(), 0.5f), dw(w.size(), 0.25f), db(b.size(), -0.5f);
      direct::conv2d_backward(k, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), p.n, g, scratch.data(),
                              kept);
      for (size_t i = 0; i < dx.size(); ++i) ASSERT_EQ(dx[i], dx_ref[i]) << "dx " << i;
      for (size_t i = 0; i < dw.size(); ++i) ASSERT_EQ(dw[i], dw_ref[i]) << "dw " << i;
      for (size_t i = 0; i < db.size(); ++i) ASSERT_EQ(db[i], db_ref[i]) << "db " << i;
    }
    // The first layer asks for no input gradient.
    std::vector<float> dw(w.size(), 0.25f), db(b.size(), -0.5f);
    direct::conv2d_backward(k, x.data(), w.data(), dy.data(), nullptr, dw.data(), db.data(), p.n, g, scratch.data(),
                            saved.data());
    EXPECT_EQ(dw, dw_ref);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DirectConv,
                         ::testing::Values(DirectCase{13, 1, 28, 28, 20, 5},   // the course's conv1, one worker's chunk
                                           DirectCase{13, 20, 14, 14, 20, 5},  // the course's conv2
                                           DirectCase{2, 3, 16, 16, 7, 3},     // a whole vector per row; 7 channels
                                           DirectCase{3, 2, 5, 17, 5, 5},      // one lane past a vector
                                           DirectCase{4, 1, 2, 40, 3, 1},      // 1x1 kernel, three vectors per row
                                           // Flat layouts (planes at most 8 wide):
                                           DirectCase{1, 1, 1, 1, 1, 1, 1},   // smallest
                                           DirectCase{1, 5, 33, 3, 9, 7, 1},  // tall and narrow, large kernel
                                           DirectCase{5, 6, 7, 7, 13, 3, 1},  // best's conv3; odd channels, 4+1 samples
                                           DirectCase{3, 4, 8, 8, 9, 5, 1},   // 8 wide exactly, pad 2
                                           DirectCase{2, 3, 4, 3, 3, 3, 1},   // narrower than 8 with its padding
                                           DirectCase{6, 2, 7, 7, 17, 1, 1},  // 1x1 kernel
                                           DirectCase{1, 2, 9, 8, 2, 7, 1}));  // a 7x7 kernel's long reach

// A bias of -0 with only zero products gives -0, as in the reference: the
// sums start from the bias itself, not from 0 + bias.
TEST(DirectConvSignedZero, NegativeZeroBiasSurvives) {
  const ConvGeometry g{2, 3, 18, 3, 3, 1, 1};
  const std::vector<float> x(2 * 3 * 18, 0.0f), w(3 * g.patch(), -1.0f), b(3, -0.0f);
  std::vector<float> y_ref(3 * 3 * 18);
  reference::direct_conv2d_forward(x.data(), w.data(), b.data(), y_ref.data(), 1, g);
  ASSERT_TRUE(std::signbit(y_ref[0]));
  int count = 0;
  const direct::Kernels* const* builds = direct::available(count);
  std::vector<float> scratch(direct::scratch_size(g, 1));
  for (int i = 0; i < count; ++i) {
    std::vector<float> y(y_ref.size(), 1.0f);
    direct::conv2d_forward(*builds[i], x.data(), w.data(), b.data(), y.data(), 1, g, scratch.data(), nullptr);
    for (size_t j = 0; j < y.size(); ++j) ASSERT_TRUE(std::signbit(y[j])) << builds[i]->isa << " output " << j;
  }
}

// Planes at most 8 wide take the flat layout, wider ones stay by rows (so
// the shapes above cover both).
TEST(DirectConvPlan, FlatLayoutForNarrowPlanes) {
  const direct::Plan conv3 = direct::plan_for(ConvGeometry{64, 7, 7, 128, 3, 1, 1});
  EXPECT_EQ(conv3.narrow, 1);
  EXPECT_EQ(conv3.pitch, 9);
  EXPECT_EQ(conv3.vectors, 4);  // 7 x 9 positions from 0 to 60
  EXPECT_EQ(direct::plan_for(ConvGeometry{2, 4, 3, 3, 3, 1, 1}).pitch, 8);
  for (const ConvGeometry& g : {ConvGeometry{1, 28, 28, 20, 5, 1, 2}, ConvGeometry{20, 14, 14, 20, 5, 1, 2},
                                ConvGeometry{16, 14, 14, 32, 3, 1, 1}, ConvGeometry{1, 9, 9, 2, 3, 1, 1}}) {
    EXPECT_EQ(direct::plan_for(g).narrow, 0) << g.height << "x" << g.width;
  }
}

TEST(DirectConvRouting, CoursesShapesTakeTheDirectKernels) {
  const ConvGeometry conv2{20, 14, 14, 20, 5, 1, 2};
  if (direct::best() == nullptr) GTEST_SKIP() << "no direct kernels on this CPU";
  // conv2d_forward<float> takes the direct path: its output equals the
  // reference of the direct kernels, not merely the convolution.
  std::mt19937 rng(11);
  const int n = 3;
  const auto x = random_vector<float>(static_cast<size_t>(n) * 20 * 196, rng);
  const auto w = random_vector<float>(20 * 500, rng);
  const auto b = random_vector<float>(20, rng);
  std::vector<float> y(static_cast<size_t>(n) * 20 * 196), y_ref(y.size());
  std::vector<float> scratch(conv2d_scratch_size<float>(conv2, n));
  conv2d_forward(x.data(), w.data(), b.data(), y.data(), n, conv2, scratch.data());
  reference::direct_conv2d_forward(x.data(), w.data(), b.data(), y_ref.data(), n, conv2);
  EXPECT_EQ(y, y_ref);
  EXPECT_FALSE(direct::supports(ConvGeometry{1, 8, 8, 2, 5, 1, 0}));  // "valid" padding
  EXPECT_FALSE(direct::supports(ConvGeometry{1, 8, 8, 2, 3, 2, 1}));  // stride 2
  EXPECT_FALSE(direct::supports(ConvGeometry{1, 8, 8, 2, 4, 1, 1}));  // even kernel
}

// Max-pooling, the portable loops and every vector build, against the
// reference: values with ties and NaNs, odd sizes, rows of 1 to 37 outputs.
TEST(MaxPool, EveryBuildMatchesTheReference) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> level(-3, 3), nan_one_in(0, 40);
  int count = 0;
  const direct::Kernels* const* builds = direct::available(count);
  for (const auto& [h, w] : std::vector<std::pair<int, int>>{{28, 28}, {14, 14}, {2, 2}, {5, 3}, {7, 74}, {3, 33}}) {
    const PoolGeometry g{h, w, 2, 2};
    const size_t planes = 3, in = planes * h * w, out = planes * g.out_height() * g.out_width();
    std::vector<float> x(in);
    for (auto& v : x) v = nan_one_in(rng) == 0 ? std::numeric_limits<float>::quiet_NaN() : 0.5f * level(rng);
    std::vector<float> y_ref(out);
    std::vector<int32_t> arg_ref(out);
    reference::maxpool_forward(x.data(), y_ref.data(), arg_ref.data(), planes, g);
    auto same = [&](const std::vector<float>& y, const std::vector<int32_t>& arg) {
      for (size_t i = 0; i < out; ++i) {
        ASSERT_EQ(arg[i], arg_ref[i]) << h << "x" << w << " output " << i;
        ASSERT_TRUE(y[i] == y_ref[i] || (std::isnan(y[i]) && std::isnan(y_ref[i]))) << i;
      }
    };
    std::vector<float> y(out);
    std::vector<int32_t> arg(out);
    maxpool_forward(x.data(), y.data(), arg.data(), planes, g);
    same(y, arg);
    std::vector<double> xd(x.begin(), x.end()), yd(out);  // the portable loop
    maxpool_forward(xd.data(), yd.data(), arg.data(), planes, g);
    same(std::vector<float>(yd.begin(), yd.end()), arg);
    for (int b = 0; b < count; ++b) {
      SCOPED_TRACE(builds[b]->isa);
      std::fill(arg.begin(), arg.end(), -1);
      builds[b]->maxpool2x2(x.data(), y.data(), arg.data(), planes, h, w);
      same(y, arg);
    }

    // Backward, by its definition (dx = 0, then dx[argmax] += dy), against
    // the portable loop and every build, to the bit: gradients with -0
    // (which becomes +0) and NaN, over a dx full of garbage.
    std::vector<float> dy(out);
    for (auto& v : dy) v = nan_one_in(rng) == 0 ? std::numeric_limits<float>::quiet_NaN() : 0.25f * level(rng);
    for (size_t i = 0; i < out; i += 7) dy[i] = -0.0f;
    std::vector<float> dx_def(in, 0.0f);
    for (size_t p = 0; p < planes; ++p) {
      for (size_t o = 0; o < out / planes; ++o) dx_def[p * h * w + arg_ref[p * out / planes + o]] += dy[p * out / planes + o];
    }
    auto same_bits = [&](const std::vector<float>& dx) {
      ASSERT_EQ(std::memcmp(dx.data(), dx_def.data(), in * sizeof(float)), 0) << h << "x" << w;
    };
    std::vector<float> dx(in, 3.0f);
    maxpool_backward(dy.data(), arg_ref.data(), dx.data(), planes, g);
    same_bits(dx);
    std::vector<double> dyd(dy.begin(), dy.end()), dxd(in, 3.0);  // the portable loop
    maxpool_backward(dyd.data(), arg_ref.data(), dxd.data(), planes, g);
    same_bits(std::vector<float>(dxd.begin(), dxd.end()));
    for (int b = 0; b < count; ++b) {
      SCOPED_TRACE(builds[b]->isa);
      std::fill(dx.begin(), dx.end(), 3.0f);
      builds[b]->maxpool2x2_backward(dy.data(), arg_ref.data(), dx.data(), planes, h, w);
      same_bits(dx);
    }
  }
}

TEST(Gemm, MatchesReferenceInAllTransposes) {
  std::mt19937 rng(3);
  const int m = 7, n = 5, k = 9;
  const auto a = random_vector<double>(m * k, rng);
  const auto b = random_vector<double>(k * n, rng);
  std::vector<double> want(m * n);
  reference::matmul(a.data(), b.data(), want.data(), m, n, k);
  // Transposed copies of a and b.
  std::vector<double> at(k * m), bt(n * k);
  for (int i = 0; i < m; ++i)
    for (int p = 0; p < k; ++p) at[p * m + i] = a[i * k + p];
  for (int p = 0; p < k; ++p)
    for (int j = 0; j < n; ++j) bt[j * k + p] = b[p * n + j];
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      std::vector<double> c(m * n, 1.0);
      gemm<double>(ta, tb, m, n, k, 1.0, ta ? at.data() : a.data(), ta ? m : k, tb ? bt.data() : b.data(), tb ? k : n,
                   0.0, c.data(), n);
      for (int i = 0; i < m * n; ++i) ASSERT_NEAR(c[i], want[i], 1e-12) << ta << tb << i;
    }
  }
}

}  // namespace
}  // namespace mnist
