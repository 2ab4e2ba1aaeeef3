// Fast kernels against their naive references, on random shapes.
#include <gtest/gtest.h>

#include "helpers.h"
#include "kernels/blas.h"
#include "kernels/conv.h"
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
  std::vector<double> scratch(conv2d_scratch_size(g, p.n));
  conv2d_forward(x.data(), w.data(), b.data(), y.data(), p.n, g, scratch.data());
  reference::conv2d_forward(x.data(), w.data(), b.data(), y_ref.data(), p.n, g);
  for (size_t i = 0; i < out_size; ++i) ASSERT_NEAR(y[i], y_ref[i], 1e-12) << "output " << i;

  const auto dy = random_vector<double>(out_size, rng);
  std::vector<double> dx(x.size(), 0.5), dw(w.size(), 0.25), db(b.size(), -0.5);
  auto dx_ref = dx, dw_ref = dw, db_ref = db;  // backward accumulates: start from non-zero
  conv2d_backward(x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), p.n, g, scratch.data());
  reference::conv2d_backward(x.data(), w.data(), dy.data(), dx_ref.data(), dw_ref.data(), db_ref.data(), p.n, g);
  for (size_t i = 0; i < dx.size(); ++i) ASSERT_NEAR(dx[i], dx_ref[i], 1e-12) << "dx " << i;
  for (size_t i = 0; i < dw.size(); ++i) ASSERT_NEAR(dw[i], dw_ref[i], 1e-11) << "dw " << i;
  for (size_t i = 0; i < db.size(); ++i) ASSERT_NEAR(db[i], db_ref[i], 1e-11) << "db " << i;

  // Columns kept from the forward pass give bit-identical gradients.
  std::vector<double> columns(conv2d_columns_size(g, p.n)), y_kept(out_size);
  conv2d_forward(x.data(), w.data(), b.data(), y_kept.data(), p.n, g, scratch.data(), columns.data());
  EXPECT_EQ(y_kept, y);
  std::vector<double> dx2(x.size(), 0.5), dw2(w.size(), 0.25), db2(b.size(), -0.5);
  conv2d_backward(x.data(), w.data(), dy.data(), dx2.data(), dw2.data(), db2.data(), p.n, g, scratch.data(),
                  columns.data());
  EXPECT_EQ(dx2, dx);
  EXPECT_EQ(dw2, dw);
  EXPECT_EQ(db2, db);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvMatchesReference,
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
  std::vector<float> scratch(conv2d_scratch_size(g, n));
  conv2d_forward(x.data(), w.data(), b.data(), y.data(), n, g, scratch.data());
  reference::conv2d_forward(x.data(), w.data(), b.data(), y_ref.data(), n, g);
  for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], y_ref[i], 1e-5f) << i;
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
  for (int i = 0; i < m; ++i) for (int p = 0; p < k; ++p) at[p * m + i] = a[i * k + p];
  for (int p = 0; p < k; ++p) for (int j = 0; j < n; ++j) bt[j * k + p] = b[p * n + j];
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      std::vector<double> c(m * n, 1.0);
      gemm<double>(ta, tb, m, n, k, 1.0, ta ? at.data() : a.data(), ta ? m : k, tb ? bt.data() : b.data(),
                   tb ? k : n, 0.0, c.data(), n);
      for (int i = 0; i < m * n; ++i) ASSERT_NEAR(c[i], want[i], 1e-12) << ta << tb << i;
    }
  }
}

}  // namespace
}  // namespace mnist
