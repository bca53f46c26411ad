// Portable random numbers and the few math functions the synthetic-nodule generator needs, written
// so that a seed gives bit-identical nodules on every IEEE-754 machine and compiler.
//
// Why not <random> and <cmath>: std::normal_distribution (and every distribution) is
// implementation-defined, and std::exp/std::log may differ in the last bit between C libraries.
// Everything here uses only +, -, *, / and std::sqrt (correctly rounded by IEEE 754), plus the exact
// operations floor, ldexp and frexp. The synth sources are compiled with -ffp-contract=off so that no
// compiler fuses a*b+c into an FMA (storage/CMakeLists.txt).
#pragma once

#include <cmath>
#include <cstdint>

namespace ugs::storage::synth {

// SplitMix64 finaliser: a bijective 64-bit mix with good avalanche (Steele, Lea, Flood, OOPSLA 2014).
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Purposes of the independent random streams derived from one seed.
enum class Stream : std::uint64_t { kPatients = 1, kScan = 2, kPlan = 3, kRender = 4 };

// SplitMix64 generator. A stream is keyed by (seed, purpose, a, b), so that e.g. nodule 17 draws
// the same numbers whether it is generated alone, first or on another thread.
// Draw at most once per function-call argument list: C++ leaves the order in which arguments are
// evaluated unspecified (GCC and Clang differ), so f(rng.uniform(), rng.uniform()) is not portable.
class Rng {
 public:
  Rng(std::uint64_t seed, Stream purpose, std::uint64_t a = 0, std::uint64_t b = 0)
      : state_(mix64(mix64(mix64(seed + 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(purpose)) ^
                           (a + 0x632BE59BD9B4E019ull)) ^
                     (b + 0x8CB92BA72F3D8DD7ull))) {}

  std::uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    return mix64(state_);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool chance(double p) { return uniform() < p; }
  // Uniform integer in [0, n), n > 0 (the modulo bias is below 2^-40 for the n used here).
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  // Standard normal by Marsaglia's polar method (needs only log and sqrt).
  double normal();
  double normal(double mean, double sd) { return mean + sd * normal(); }
  // A uniformly distributed unit vector (the normalised pair of a polar-method draw).
  void direction(double& x, double& y);

 private:
  std::uint64_t state_;
  double spare_normal_ = 0.0;  // the polar method yields normals in pairs
  bool has_spare_normal_ = false;
};

// 1/n, n = 0..23, for the series below (a table: a division per term would dominate their cost).
inline constexpr double kInverse[24] = {0.0,      1.0,      1.0 / 2,  1.0 / 3,  1.0 / 4,  1.0 / 5,
                                        1.0 / 6,  1.0 / 7,  1.0 / 8,  1.0 / 9,  1.0 / 10, 1.0 / 11,
                                        1.0 / 12, 1.0 / 13, 1.0 / 14, 1.0 / 15, 1.0 / 16, 1.0 / 17,
                                        1.0 / 18, 1.0 / 19, 1.0 / 20, 1.0 / 21, 1.0 / 22, 1.0 / 23};

// e^x for |x| < 700 to about 1e-16 relative: x = k ln2 + r, |r| <= ln2/2, Taylor series to r^14.
inline double exp_portable(double x) {
  if (x < -700.0) return 0.0;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;  // ln 2 split so that k*kLn2Hi is exact
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kInvLn2 = 1.44269504088896338700e+00;
  const double k = std::floor(x * kInvLn2 + 0.5);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  double sum = 1.0;
  for (int n = 14; n >= 1; --n) sum = 1.0 + sum * r * kInverse[n];
  return std::ldexp(sum, static_cast<int>(k));
}

// ln x for finite x > 0 to about 1e-16 relative: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
// ln m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172, odd series to s^23.
inline double log_portable(double x) {
  int e = 0;
  double m = std::frexp(x, &e);
  if (m < 0.70710678118654752440) {
    m *= 2.0;
    e -= 1;
  }
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double series = 0.0;
  for (int n = 23; n >= 1; n -= 2) series = kInverse[n] + s2 * series;
  constexpr double kLn2 = 6.93147180559945309417e-01;
  return 2.0 * s * series + e * kLn2;
}

inline double Rng::normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  for (;;) {
    const double u = 2.0 * uniform() - 1.0;
    const double v = 2.0 * uniform() - 1.0;
    const double s = u * u + v * v;
    if (s > 0.0 && s < 1.0) {
      const double factor = std::sqrt(-2.0 * log_portable(s) / s);
      spare_normal_ = v * factor;
      has_spare_normal_ = true;
      return u * factor;
    }
  }
}

inline void Rng::direction(double& x, double& y) {
  for (;;) {
    const double u = 2.0 * uniform() - 1.0;
    const double v = 2.0 * uniform() - 1.0;
    const double s = u * u + v * v;
    if (s > 1e-6 && s < 1.0) {
      const double norm = std::sqrt(s);
      x = u / norm;
      y = v / norm;
      return;
    }
  }
}

inline double clamp01(double x) { return x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x); }

// Smooth 0 -> 1 transition as t goes from -1 to +1 (cubic smoothstep): the soft edge of a structure
// seen through the CT point-spread function and partial volume.
inline double soft_step(double t) {
  const double x = clamp01(0.5 * (t + 1.0));
  return x * x * (3.0 - 2.0 * x);
}

}  // namespace ugs::storage::synth
