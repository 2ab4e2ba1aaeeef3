#include "optim/adafactor.h"

#include <algorithm>
#include <cmath>

namespace mnist {

namespace {

// torch.lerp: start + w (end - start), computed from the end for w >= 0.5.
float lerp(float start, float end, float w) {
  return w < 0.5f ? start + w * (end - start) : end - (end - start) * (1.0f - w);
}

// The L2 norm of n values, summed in double.
double norm(const float* x, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return std::sqrt(sum);
}

}  // namespace

Adafactor::Adafactor(const OptimizerConfig& c, std::vector<ParamTensor> t) : Optimizer(c, std::move(t)) {
  size_t rows_total = 0, cols_total = 0, full_total = 0, largest = 0;
  for (const ParamTensor& tensor : tensors_) {
    Layout layout;
    const auto& shape = tensor.shape;
    if (shape.size() >= 2) {
      layout.factored = true;
      layout.rows = static_cast<size_t>(shape[shape.size() - 2]);
      layout.cols = static_cast<size_t>(shape.back());
      layout.batch = tensor.size / (layout.rows * layout.cols);
      layout.row_offset = rows_total;
      layout.col_offset = cols_total;
      rows_total += layout.batch * layout.rows;
      cols_total += layout.batch * layout.cols;
    } else {
      layout.full_offset = full_total;
      full_total += tensor.size;
    }
    layouts_.push_back(layout);
    largest = std::max(largest, tensor.size);
  }
  row_var_.assign(rows_total, 0.0f);
  col_var_.assign(cols_total, 0.0f);
  variance_.assign(full_total, 0.0f);
  update_.resize(largest);
}

std::vector<StateBuffer> Adafactor::state_buffers() {
  return {{"row_var", &row_var_, false}, {"col_var", &col_var_, false}, {"variance", &variance_, false}};
}

void Adafactor::apply(std::span<float> params, std::span<const float> grads, double lr, const Closure*) {
  const auto t = static_cast<double>(steps_ + 1);
  const auto w = static_cast<float>(std::pow(t, config_.get("beta2_decay")));  // 1 - beta2_t
  const double rho = std::min(lr, 1 / std::sqrt(t));
  const auto eps1 = static_cast<float>(config_.get("eps", 0));
  const double eps2 = config_.get("eps", 1), d = config_.get("d");
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const ParamTensor& tensor = tensors_[k];
    const Layout& L = layouts_[k];
    float* p = params.data() + tensor.offset;
    const float* g = grads.data() + tensor.offset;
    const size_t n = tensor.size;
    const double alpha = std::max(eps2, norm(p, n) / std::sqrt(static_cast<double>(n))) * rho;
    if (const double wd = decay_of(tensor); wd != 0) {
      const auto shrink = static_cast<float>(1 - lr * wd);
      for (size_t i = 0; i < n; ++i) p[i] = p[i] * shrink;
    }
    float* u = update_.data();
    if (L.factored) {
      for (size_t b = 0; b < L.batch; ++b) {
        const float* gm = g + b * L.rows * L.cols;
        float* r = row_var_.data() + L.row_offset + b * L.rows;
        float* c = col_var_.data() + L.col_offset + b * L.cols;
        // Mean squares of each row and column (torch: vector_norm squared / count).
        for (size_t i = 0; i < L.rows; ++i) {
          const auto s = static_cast<float>(norm(gm + i * L.cols, L.cols));
          r[i] = lerp(r[i], s * s / static_cast<float>(L.cols), w);
        }
        for (size_t j = 0; j < L.cols; ++j) {
          double sum = 0;
          for (size_t i = 0; i < L.rows; ++i) sum += static_cast<double>(gm[i * L.cols + j]) * gm[i * L.cols + j];
          const auto s = static_cast<float>(std::sqrt(sum));
          c[j] = lerp(c[j], s * s / static_cast<float>(L.rows), w);
        }
        double row_sum = 0;
        for (size_t i = 0; i < L.rows; ++i) row_sum += r[i];
        const float row_mean = std::max(static_cast<float>(row_sum / static_cast<double>(L.rows)), eps1);
        float* um = u + b * L.rows * L.cols;
        for (size_t i = 0; i < L.rows; ++i) {
          for (size_t j = 0; j < L.cols; ++j) um[i * L.cols + j] = r[i] * c[j] / row_mean;
        }
      }
    } else {
      float* v = variance_.data() + L.full_offset;
      for (size_t i = 0; i < n; ++i) {
        v[i] = lerp(v[i], g[i] * g[i], w);
        u[i] = v[i];
      }
    }
    for (size_t i = 0; i < n; ++i) u[i] = 1.0f / std::sqrt(std::max(u[i], eps1 * eps1)) * g[i];
    const double denom = std::max(1.0, norm(u, n) / (std::sqrt(static_cast<double>(n)) * d));
    const auto step = static_cast<float>(-alpha / denom);
    for (size_t i = 0; i < n; ++i) p[i] = p[i] + step * u[i];
  }
}

}  // namespace mnist
