// Golden values from ../shared/golden/metrics.md (DeepMind surface-distance at commit 1f805cea, numpy,
// scipy): every value of that file is reproduced here to 1e-9, with masks built from its definitions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "ugs/worker/assignment.h"
#include "ugs/worker/distance_transform.h"
#include "ugs/worker/metrics.h"

namespace ugs::metrics {
namespace {

constexpr int kSize = 50;            // every golden mask is 50x50
constexpr double kTolerance = 1e-9;  // the golden file's promise

struct Mask {
  std::vector<std::uint8_t> pixels = std::vector<std::uint8_t>(kSize * kSize, 0);
  MaskView view() const { return {pixels.data(), kSize, kSize}; }
};

// disc(r, c): (i-c0)^2 + (j-c1)^2 <= r^2.
Mask disc(int radius, int center_row = 25, int center_column = 25) {
  Mask m;
  for (int i = 0; i < kSize; ++i) {
    for (int j = 0; j < kSize; ++j) {
      int di = i - center_row, dj = j - center_column;
      m.pixels[i * kSize + j] = di * di + dj * dj <= radius * radius;
    }
  }
  return m;
}

// rect(r0, r1, c0, c1): rows r0..r1-1, columns c0..c1-1.
Mask rect(int r0, int r1, int c0, int c1) {
  Mask m;
  for (int i = r0; i < r1; ++i) {
    for (int j = c0; j < c1; ++j) m.pixels[i * kSize + j] = 1;
  }
  return m;
}

Mask empty() { return Mask{}; }

// NaN in the golden table is written as NaN here; anything else must match to 1e-9.
void expect_golden(double actual, double expected, const char* what) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << what << ": expected NaN, got " << actual;
  } else {
    EXPECT_NEAR(actual, expected, kTolerance) << what;
  }
}

struct GoldenCase {
  const char* name;
  Mask truth, prediction;
  Spacing spacing;
  double dice, iou, nsd_at_1, nsd_at_2;
};

std::vector<GoldenCase> golden_cases() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {
      {"A", disc(10), disc(11), {1, 1}, 0.9135446685878963, 0.8408488063660478, 1.0, 1.0},
      {"A2", disc(10), disc(10, 26, 27), {1, 1}, 0.8580441640378549, 0.7513812154696132,
       0.5248235842186917, 0.9280241432493492},
      {"B", rect(10, 30, 10, 30), rect(12, 32, 13, 33), {1, 1}, 0.765, 0.6194331983805668,
       0.07611467358729593, 0.525371557862432},
      {"C", empty(), empty(), {1, 1}, nan, nan, nan, nan},
      {"D", empty(), rect(10, 30, 10, 30), {1, 1}, 0, 0, 0, 0},
      {"E", rect(0, 10, 0, 10), rect(0, 10, 0, 12), {1, 1}, 0.9090909090909091,
       0.8333333333333334, 0.7867391081566022, 1.0},
      {"G", rect(10, 30, 10, 30), rect(12, 32, 13, 33), {1.0, 0.5}, 0.765, 0.6194331983805668,
       0.09284883665960271, 0.9736812883163156},
  };
}

TEST(GoldenMetrics, EveryCaseOfTheTable) {
  for (const GoldenCase& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    MaskView t = c.truth.view(), p = c.prediction.view();
    expect_golden(dice(t, p), c.dice, "DSC");
    expect_golden(iou(t, p), c.iou, "IoU");
    expect_golden(normalized_surface_dice(t, p, c.spacing, 1.0), c.nsd_at_1, "NSD@1");
    expect_golden(normalized_surface_dice(t, p, c.spacing, 2.0), c.nsd_at_2, "NSD@2");
  }
}

TEST(GoldenMetrics, ScoresAreSymmetric) {
  for (const GoldenCase& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    MaskView t = c.truth.view(), p = c.prediction.view();
    expect_golden(dice(p, t), c.dice, "DSC swapped");
    expect_golden(normalized_surface_dice(p, t, c.spacing, 1.0), c.nsd_at_1, "NSD@1 swapped");
  }
}

TEST(GoldenMetrics, ContourLengths) {
  EXPECT_NEAR(contour_length(rect(10, 30, 10, 30).view(), {1, 1}), 78.82842712474618, kTolerance);
  EXPECT_NEAR(contour_length(disc(10).view(), {1, 1}), 68.76955262170048, kTolerance);
  EXPECT_EQ(contour_length(empty().view(), {1, 1}), 0.0);
  // With anisotropic spacing the straight sides scale with their own axis: 19 inner corners per
  // side, 4 quarter-diagonal corners of 0.5*sqrt(s0^2 + s1^2) each.
  double expected = 2 * 19 * 0.5 + 2 * 19 * 2.0 + 4 * 0.5 * std::sqrt(0.25 + 4.0);
  EXPECT_NEAR(contour_length(rect(10, 30, 10, 30).view(), {2.0, 0.5}), expected, kTolerance);
}

std::vector<MaskView> views(const std::vector<Mask>& masks) {
  std::vector<MaskView> out;
  for (const Mask& m : masks) out.push_back(m.view());
  return out;
}

TEST(GoldenMetrics, SetsGedSquaredAndHungarianMatchedIou) {
  std::vector<Mask> y = {disc(10), disc(11), rect(15, 35, 15, 35), empty()};
  std::vector<Mask> s4 = {disc(10), disc(12), rect(16, 36, 15, 35), disc(10, 26, 27)};
  std::vector<Mask> s8 = s4;
  for (Mask m : {disc(9), empty(), rect(15, 35, 15, 35), disc(11)}) s8.push_back(m);

  EXPECT_NEAR(generalized_energy_distance_squared(views(s4), views(y)), 0.15391804733572567,
              kTolerance);
  EXPECT_NEAR(hungarian_matched_iou(views(s4), views(y)), 0.6899092970521542, kTolerance);
  EXPECT_NEAR(generalized_energy_distance_squared(views(s8), views(y)), 0.04431888050198951,
              kTolerance);
  EXPECT_NEAR(hungarian_matched_iou(views(s8), views(y)), 0.8197180554661402, kTolerance);
  EXPECT_NEAR(generalized_energy_distance_squared(views(y), views(y)), 0.0, kTolerance);
  EXPECT_NEAR(hungarian_matched_iou(views(y), views(y)), 1.0, kTolerance);
}

TEST(Metrics, RejectsMismatchedShapesEmptySetsAndBadArguments) {
  std::vector<std::uint8_t> small(10 * 10, 0);
  Mask big = disc(10);
  MaskView a = big.view(), b{small.data(), 10, 10};
  EXPECT_THROW(dice(a, b), std::invalid_argument);
  EXPECT_THROW(iou(a, b), std::invalid_argument);
  EXPECT_THROW(normalized_surface_dice(a, b, {1, 1}, 1), std::invalid_argument);
  EXPECT_THROW(normalized_surface_dice(a, a, {1, 1}, -1), std::invalid_argument);
  EXPECT_THROW(normalized_surface_dice(a, a, {0, 1}, 1), std::invalid_argument);
  EXPECT_THROW(contour_length(a, {1, std::nan("")}), std::invalid_argument);
  EXPECT_THROW(generalized_energy_distance_squared({}, {a}), std::invalid_argument);
  EXPECT_THROW(hungarian_matched_iou({a}, {}), std::invalid_argument);
  EXPECT_THROW(hungarian_matched_iou({a}, {b}), std::invalid_argument);
}

// ---- Distance transform against brute force ---------------------------------------------------

TEST(DistanceTransform, MatchesBruteForceExactly) {
  std::mt19937 random(7);
  const std::vector<Spacing> spacings = {{1, 1}, {1.0, 0.5}, {0.7, 0.9}, {2.5, 0.3}};
  for (int trial = 0; trial < 40; ++trial) {
    int height = 1 + static_cast<int>(random() % 23), width = 1 + static_cast<int>(random() % 23);
    double density = (trial % 4 == 0) ? 0.0 : 0.02 * (trial % 5 + 1);
    std::bernoulli_distribution is_seed(density);
    std::vector<std::uint8_t> seeds(height * width);
    for (auto& s : seeds) s = is_seed(random);
    for (Spacing spacing : spacings) {
      std::vector<double> d2 = squared_distance_transform(seeds, height, width, spacing);
      for (int i = 0; i < height; ++i) {
        for (int j = 0; j < width; ++j) {
          double best = std::numeric_limits<double>::infinity();
          for (int si = 0; si < height; ++si) {
            for (int sj = 0; sj < width; ++sj) {
              if (!seeds[si * width + sj]) continue;
              double a = (i - si) * spacing[0], b = (j - sj) * spacing[1];
              best = std::min(best, a * a + b * b);
            }
          }
          // Equal to the last bit: the transform evaluates the nearest seed's offset the same way.
          ASSERT_EQ(d2[i * width + j], best) << height << "x" << width << " at (" << i << "," << j
                                             << ") spacing " << spacing[0] << "," << spacing[1];
        }
      }
    }
  }
}

TEST(DistanceTransform, RejectsWrongSizes) {
  std::vector<std::uint8_t> seeds(12, 0);
  EXPECT_THROW(squared_distance_transform(seeds, 3, 5, {1, 1}), std::invalid_argument);
  EXPECT_THROW(squared_distance_transform(seeds, 3, 4, {-1, 1}), std::invalid_argument);
}

// ---- Assignment against brute force -----------------------------------------------------------

double total_cost(const std::vector<double>& cost, int n, const std::vector<int>& column_of_row) {
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += cost[i * n + column_of_row[i]];
  return sum;
}

double brute_force_minimum(const std::vector<double>& cost, int n) {
  std::vector<int> permutation(n);
  std::iota(permutation.begin(), permutation.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {
    best = std::min(best, total_cost(cost, n, permutation));
  } while (std::next_permutation(permutation.begin(), permutation.end()));
  return best;
}

TEST(Assignment, MatchesBruteForceOnRandomMatrices) {
  std::mt19937 random(11);
  std::uniform_real_distribution<double> uniform(-3.0, 5.0);
  std::uniform_int_distribution<int> small_integer(0, 3);  // many ties
  for (int trial = 0; trial < 300; ++trial) {
    int n = 1 + trial % 7;
    std::vector<double> cost(n * n);
    for (double& c : cost) c = (trial % 3 == 0) ? small_integer(random) : uniform(random);
    std::vector<int> column_of_row = solve_assignment(cost, n);
    std::vector<int> sorted = column_of_row;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i) << "not a permutation, n=" << n;
    ASSERT_NEAR(total_cost(cost, n, column_of_row), brute_force_minimum(cost, n), 1e-12)
        << "trial " << trial << ", n=" << n;
  }
}

TEST(Assignment, DocumentedExampleAndErrors) {
  EXPECT_EQ(solve_assignment({4, 1, 3, 2, 0, 5, 3, 2, 2}, 3), (std::vector<int>{1, 0, 2}));
  EXPECT_THROW(solve_assignment({1, 2, 3}, 2), std::invalid_argument);
  EXPECT_THROW(solve_assignment({}, 0), std::invalid_argument);
  EXPECT_THROW(solve_assignment({1, std::nan(""), 0, 1}, 2), std::invalid_argument);
}

// ---- Hungarian-matched IoU for set sizes that do not divide --------------------------------------

// Minimum-cost assignment by dynamic programming over subsets of columns: independent of the
// solver, exact for n <= 12.
double minimum_by_subsets(const std::vector<double>& cost, int n) {
  std::vector<double> best(1u << n, std::numeric_limits<double>::infinity());
  best[0] = 0;
  for (unsigned used = 0; used < (1u << n); ++used) {
    int row = __builtin_popcount(used);
    if (row == n || std::isinf(best[used])) continue;
    for (int j = 0; j < n; ++j) {
      if (used & (1u << j)) continue;
      best[used | (1u << j)] = std::min(best[used | (1u << j)], best[used] + cost[row * n + j]);
    }
  }
  return best[(1u << n) - 1];
}

double hungarian_matched_iou_by_subsets(const std::vector<Mask>& s, const std::vector<Mask>& y) {
  int n = static_cast<int>(s.size()), m = static_cast<int>(y.size()), size = std::lcm(n, m);
  std::vector<double> cost(size * size);
  for (int r = 0; r < size; ++r) {
    for (int c = 0; c < size; ++c) {
      double value = iou(s[r % n].view(), y[c % m].view());
      cost[r * size + c] = 1.0 - (std::isnan(value) ? 1.0 : value);
    }
  }
  return 1.0 - minimum_by_subsets(cost, size) / size;
}

TEST(Metrics, HungarianMatchedIouTilesToTheLeastCommonMultiple) {
  std::vector<Mask> three = {disc(9), rect(14, 34, 15, 35), empty()};
  std::vector<Mask> two = {disc(10), rect(15, 35, 15, 35)};
  std::vector<Mask> four = {disc(10), disc(12, 24, 26), rect(15, 35, 15, 35), empty()};
  EXPECT_NEAR(hungarian_matched_iou(views(three), views(two)),
              hungarian_matched_iou_by_subsets(three, two), 1e-12);  // L = 6
  EXPECT_NEAR(hungarian_matched_iou(views(three), views(four)),
              hungarian_matched_iou_by_subsets(three, four), 1e-12);  // L = 12
  // Repeating the prediction set changes nothing: the tiling already repeats it.
  std::vector<Mask> six = three;
  six.insert(six.end(), three.begin(), three.end());
  EXPECT_NEAR(hungarian_matched_iou(views(six), views(four)),
              hungarian_matched_iou(views(three), views(four)), 1e-12);
}

}  // namespace
}  // namespace ugs::metrics
