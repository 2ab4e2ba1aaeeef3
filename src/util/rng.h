#pragma once
// Random numbers that are the same on every platform and compiler.
// std::mt19937_64 is specified bit-exactly by the standard; the standard
// distributions are not, so the conversions to floats and bounded integers
// are written here.
#include <cstdint>
#include <random>
#include <span>

namespace mnist {

// splitmix64 finaliser: derives independent seeds for separate streams
// (initialisation, the shuffle of epoch e, ...) from one user seed.
uint64_t mix_seed(uint64_t seed, uint64_t stream);

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  uint64_t next() { return engine_(); }
  // Uniform in [0, 1) from the top 24 bits: exactly representable floats.
  float uniform() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n), n > 0, without modulo bias (Lemire 2019).
  uint64_t below(uint64_t n);

 private:
  std::mt19937_64 engine_;
};

// Fisher-Yates shuffle driven by Rng::below, so permutations are portable.
void shuffle(std::span<uint32_t> items, Rng& rng);

}  // namespace mnist
