#include "ugs/worker/distribution.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

namespace ugs::metrics {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInfinity = std::numeric_limits<double>::infinity();
// Kernel terms farther than this many bandwidths weigh exp(-32) < 1e-13 relative: skipped.
constexpr double kKernelReach = 8.0;
constexpr double kSqrtTwoPi = 2.506628274631000502;

}  // namespace

EmpiricalDistribution::EmpiricalDistribution(std::vector<double> values)
    : sorted_(std::move(values)) {
  for (double v : sorted_) {
    if (!std::isfinite(v)) {
      throw std::invalid_argument("EmpiricalDistribution: a value is not finite (" +
                                  std::to_string(v) + ")");
    }
  }
  std::sort(sorted_.begin(), sorted_.end());
  stats_ = storage::describe(sorted_);
}

double EmpiricalDistribution::silverman_bandwidth() const {
  if (empty()) return kNaN;
  const double n = static_cast<double>(size());
  const double sd = size() > 1 ? stats_.std * std::sqrt(n / (n - 1)) : 0.0;
  const double iqr = stats_.q3 - stats_.q1;
  const double spread = iqr > 0.0 ? std::min(sd, iqr / 1.34) : sd;
  if (!(spread > 0.0)) return 1.0;  // all values equal (or one): no spread to scale by
  return 0.9 * spread * std::pow(n, -0.2);
}

std::vector<double> EmpiricalDistribution::density(const std::vector<double>& grid) const {
  if (empty()) throw std::invalid_argument("density: the distribution has no values");
  for (std::size_t k = 0; k < grid.size(); ++k) {
    if (!std::isfinite(grid[k]) || (k > 0 && grid[k] < grid[k - 1])) {
      throw std::invalid_argument("density: the grid must be finite and ascending (point " +
                                  std::to_string(k) + ")");
    }
  }
  const double h = silverman_bandwidth();
  std::vector<double> f(grid.size(), 0.0);
  for (std::size_t i = 0; i < size();) {
    const double x = sorted_[i];
    std::size_t j = i;
    while (j < size() && sorted_[j] == x) ++j;
    const double weight = static_cast<double>(j - i);
    auto first = std::lower_bound(grid.begin(), grid.end(), x - kKernelReach * h);
    auto last = std::upper_bound(first, grid.end(), x + kKernelReach * h);
    for (auto t = first; t != last; ++t) {
      const double z = (*t - x) / h;
      f[t - grid.begin()] += weight * std::exp(-0.5 * z * z);
    }
    i = j;
  }
  const double scale = 1.0 / (static_cast<double>(size()) * h * kSqrtTwoPi);
  for (double& value : f) value *= scale;
  return f;
}

double wasserstein1(const EmpiricalDistribution& a, const EmpiricalDistribution& b) {
  if (a.empty() || b.empty()) return kNaN;
  const std::vector<double>& x = a.sorted();
  const std::vector<double>& y = b.sorted();
  const double n = static_cast<double>(x.size()), m = static_cast<double>(y.size());
  // Between consecutive values of the merged samples both distribution functions are constant:
  // F = i/n and G = j/m, i and j the counts of values already passed.
  std::size_t i = 0, j = 0;
  double previous = std::min(x.front(), y.front()), total = 0.0;
  while (i < x.size() || j < y.size()) {
    const double next = std::min(i < x.size() ? x[i] : kInfinity, j < y.size() ? y[j] : kInfinity);
    total += std::abs(static_cast<double>(i) / n - static_cast<double>(j) / m) * (next - previous);
    while (i < x.size() && x[i] == next) ++i;
    while (j < y.size() && y[j] == next) ++j;
    previous = next;
  }
  return total;
}

}  // namespace ugs::metrics
