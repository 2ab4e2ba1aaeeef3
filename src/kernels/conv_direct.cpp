#include "kernels/conv_direct.h"

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <type_traits>

#include "kernels/conv.h"

namespace mnist::direct {

namespace avx2 {
extern const Kernels kernels;
}
namespace avx512 {
extern const Kernels kernels;
}

bool supports(const ConvGeometry& g) {
  return g.stride == 1 && g.kernel % 2 == 1 && g.pad == (g.kernel - 1) / 2 && g.in_channels > 0 && g.out_channels > 0 &&
         g.height > 0 && g.width > 0;
}

static_assert(std::is_trivially_default_constructible_v<Plan> && std::is_trivially_copyable_v<Plan>);

Plan plan_for(const ConvGeometry& g) {
  Plan p{};
  p.channels = g.in_channels;
  p.out_channels = g.out_channels;
  p.kernel = g.kernel;
  p.pad = g.pad;
  p.height = g.height;
  p.width = g.width;
  p.rows = g.height + 2 * g.pad;
  const auto round_up = [](size_t v) { return (v + kLanes - 1) / kLanes * kLanes; };
  // At least 8 wide, so that an 8-lane row of the output gradient past the
  // image's width reads padding zeros, as it does by rows.
  const int flat_pitch = std::max(g.width + 2 * g.pad, kNarrowWidth);
  const int flat_vectors = ((g.height - 1) * flat_pitch + g.width + kLanes - 1) / kLanes;
  if (g.width <= kNarrowWidth && flat_vectors <= g.height) {
    p.narrow = 1;
    p.vectors = flat_vectors;
    p.pitch = flat_pitch;
    // The furthest reads: a flat vector at the kernel's far corner, and an
    // 8-lane row of the weight gradient at the far corner.
    const size_t reach = static_cast<size_t>(2 * g.pad) * p.pitch + 2 * g.pad;
    const size_t last_vector = static_cast<size_t>(p.vectors) * kLanes + reach;
    const size_t last_row = static_cast<size_t>(g.height - 1) * p.pitch + reach + kNarrowWidth;
    p.plane = round_up(std::max({static_cast<size_t>(p.rows) * p.pitch, last_vector, last_row}));
  } else {
    p.vectors = (g.width + kLanes - 1) / kLanes;
    p.pitch = p.vectors * kLanes + 2 * g.pad;
    p.plane = round_up(static_cast<size_t>(p.rows) * p.pitch);
  }
  return p;
}

namespace {

// The builds this CPU runs, fastest first. MNIST_KERNELS=avx2 or =gemm
// (for benchmarks) leaves out the faster ones.
struct Registry {
  const Kernels* list[2] = {};
  int count = 0;
  Registry() {
    const char* env = std::getenv("MNIST_KERNELS");
    const std::string_view choice = env != nullptr ? env : "";
    if (choice == "gemm") return;
    __builtin_cpu_init();
    if (choice != "avx2" && __builtin_cpu_supports("avx512f")) list[count++] = &avx512::kernels;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) list[count++] = &avx2::kernels;
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

}  // namespace

const Kernels* best() { return registry().count > 0 ? registry().list[0] : nullptr; }

const Kernels* const* available(int& count) {
  count = registry().count;
  return registry().list;
}

void flip_weights(const float* w, int out_channels, int channels, int kernel, float* wt) {
  const int kk = kernel * kernel;
  for (int oc = 0; oc < out_channels; ++oc) {
    for (int c = 0; c < channels; ++c) {
      const float* src = w + (static_cast<long>(oc) * channels + c) * kk;
      float* dst = wt + (static_cast<long>(c) * out_channels + oc) * kk;
      for (int t = 0; t < kk; ++t) dst[t] = src[kk - 1 - t];
    }
  }
}

// The scratch: the padded input planes (n x C), the padded output gradient
// (n x OC) and the flipped weights.
size_t scratch_size(const ConvGeometry& g, int n) {
  const Plan p = plan_for(g);
  return p.plane * n * (g.in_channels + g.out_channels) + static_cast<size_t>(g.out_channels) * g.patch();
}

size_t saved_size(const ConvGeometry& g, int n) { return plan_for(g).plane * g.in_channels * n; }

// y = bias + w (*) x, one sample at a time from the padded planes.
void conv2d_forward(const Kernels& k, const float* x, const float* weight, const float* bias, float* y, int n,
                    const ConvGeometry& g, float* scratch, float* saved) {
  const Plan p = plan_for(g);
  float* padded = saved != nullptr ? saved : scratch;
  k.pad_planes(x, static_cast<long>(n) * g.in_channels, p, padded);
  const size_t in_size = p.plane * g.in_channels, out_size = static_cast<size_t>(g.out_channels) * g.height * g.width;
  for (int s = 0; s < n; ++s) {
    k.correlate(padded + s * in_size, weight, bias, y + s * out_size, p);
  }
}

// The weight gradient correlates dy with the input; the input gradient
// correlates dy with the flipped, transposed weights.
void conv2d_backward(const Kernels& k, const float* x, const float* weight, const float* dy, float* dx, float* dweight,
                     float* dbias, int n, const ConvGeometry& g, float* scratch, const float* saved) {
  const Plan p = plan_for(g);
  const int C = g.in_channels, OC = g.out_channels, plane = g.height * g.width;
  float* padded_dy = scratch + p.plane * n * C;
  float* flipped = padded_dy + p.plane * n * OC;
  const float* padded = saved;
  if (padded == nullptr) {
    k.pad_planes(x, static_cast<long>(n) * C, p, scratch);
    padded = scratch;
  }
  k.pad_planes(dy, static_cast<long>(n) * OC, p, padded_dy);
  k.bias_grad(padded_dy, n, dbias, p);
  k.weight_grad(padded, padded_dy, n, dweight, p);
  if (dx == nullptr) return;
  Plan back = p;
  std::swap(back.channels, back.out_channels);
  flip_weights(weight, OC, C, g.kernel, flipped);
  for (int s = 0; s < n; ++s) {
    k.correlate(padded_dy + s * p.plane * OC, flipped, nullptr, dx + static_cast<size_t>(s) * C * plane, back);
  }
}

}  // namespace mnist::direct
