// One-dimensional empirical distributions: summary statistics, a Gaussian kernel density estimate
// with Silverman's bandwidth, and the exact Wasserstein-1 distance between two samples. What
// `ugs analyze hu` (hu_analysis.h) compares the pixel values of regions with.
//
//   EmpiricalDistribution truth({-20, 35, 41, 60}), predicted({-15, 30, 38, 70, 72});
//   double w1 = wasserstein1(truth, predicted);           // 12.1, in the values' unit (HU)
//   std::vector<double> grid = {-100, -99.5, ..., 150};   // ascending
//   std::vector<double> f = truth.density(grid);           // integrates to ~1 over a wide grid
//
// Definitions (n values x_1 <= ... <= x_n):
//   stats()             count, mean, population std, min, quartiles, median, max: what
//                       storage::describe gives and `ugs inspect` reports (quantiles interpolate linearly between
//                       order statistics, numpy's default)
//   silverman_bandwidth Silverman's rule of thumb (Silverman 1986, eq. 3.31; R's bw.nrd0):
//                       h = 0.9 min(sd, IQR / 1.34) n^(-1/5), sd the sample standard deviation
//                       (divisor n - 1), IQR = q3 - q1. When IQR is 0 (the middle half of the
//                       values equal) sd replaces the minimum; when sd is 0 too (all values equal) or
//                       undefined (n = 1), h = 1 unit.
//   density(t)          (1 / (n h)) sum_i phi((t - x_i) / h), phi the standard normal density;
//                       terms beyond 8 h (relative weight < 1e-13) are skipped and equal values
//                       summed once, which keeps it fast on large samples of integer HU.
//   wasserstein1        the integral over t of |F(t) - G(t)|, F and G the empirical distribution
//                       functions (= the integral over u in (0,1) of |F^-1(u) - G^-1(u)|), exact: a
//                       merge of the two sorted samples, O(n + m). The samples may differ in size.
//
// Conventions: the statistics and the bandwidth of an empty distribution are NaN, as is
// wasserstein1 with an empty side. std::invalid_argument: a value that is not finite (constructor),
// density() of an empty distribution or on a grid that is not ascending and finite.
// Thread safety: an EmpiricalDistribution is immutable; use it from any number of threads.
#pragma once

#include <cstddef>
#include <vector>

#include "ugs/storage/summary.h"

namespace ugs::metrics {

class EmpiricalDistribution {
 public:
  EmpiricalDistribution() : EmpiricalDistribution(std::vector<double>{}) {}
  explicit EmpiricalDistribution(std::vector<double> values);  // any order; kept sorted

  std::size_t size() const { return sorted_.size(); }
  bool empty() const { return sorted_.empty(); }
  const std::vector<double>& sorted() const { return sorted_; }
  const storage::ValueStats& stats() const { return stats_; }
  double silverman_bandwidth() const;

  // The kernel density estimate with silverman_bandwidth() at every point of `grid` (ascending).
  std::vector<double> density(const std::vector<double>& grid) const;

 private:
  std::vector<double> sorted_;
  storage::ValueStats stats_;
};

// The Wasserstein-1 (earth mover's) distance between the two empirical distributions.
double wasserstein1(const EmpiricalDistribution& a, const EmpiricalDistribution& b);

}  // namespace ugs::metrics
