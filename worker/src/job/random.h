// Portable random numbers for everything a job draws (data order, augmentation, validation
// carve-out): SplitMix64 (Steele, Lea & Flood, OOPSLA 2014), whose output is fixed by its definition,
// unlike std:: distributions, which each standard library implements its own way.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace ugs::worker {

class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  // A stream for one purpose: `tag` and `keys` (epoch, nodule, ...) are folded into the seed, so
  // streams for different keys are unrelated and each can be recreated on its own.
  static SplitMix64 stream(std::uint64_t seed, std::uint64_t tag, std::initializer_list<std::uint64_t> keys) {
    SplitMix64 mix(seed ^ (tag * 0xD1B54A32D192ED03ull));
    std::uint64_t h = mix.next();
    for (std::uint64_t key : keys) h = SplitMix64(h ^ key).next();
    return SplitMix64(h);
  }

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n), n >= 1, without modulo bias (draws below 2^64 mod n are rejected).
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t reject_below = (0 - n) % n;
    std::uint64_t r = next();
    while (r < reject_below) r = next();
    return r % n;
  }

  // Fisher-Yates shuffle.
  template <class T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }

 private:
  std::uint64_t state_;
};

// Stream tags: one per purpose, so that the same seed gives unrelated numbers to each.
inline constexpr std::uint64_t kEpochOrderStream = 1;
inline constexpr std::uint64_t kAugmentStream = 2;
inline constexpr std::uint64_t kValidationStream = 3;

}  // namespace ugs::worker
