#include "ugs/worker/distance_transform.h"

#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

#include "mask_checks.h"

namespace ugs::metrics {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Offsets are scaled before squaring, as scipy does, so that each distance is the same float64.
double squared_offset(int offset, double spacing) {
  double scaled = offset * spacing;
  return scaled * scaled;
}

// Along one column: the squared distance to the nearest seed in that column (two scans).
void column_pass(const std::vector<std::uint8_t>& seeds, int height, int width, int column,
                 double row_spacing, std::vector<double>& out) {
  std::vector<int> nearest(height, -1);
  int last = -1;
  for (int i = 0; i < height; ++i) {
    if (seeds[static_cast<std::size_t>(i) * width + column]) last = i;
    nearest[i] = last;
  }
  last = -1;
  for (int i = height - 1; i >= 0; --i) {
    if (seeds[static_cast<std::size_t>(i) * width + column]) last = i;
    if (last >= 0 && (nearest[i] < 0 || last - i < i - nearest[i])) nearest[i] = last;
    std::size_t cell = static_cast<std::size_t>(i) * width + column;
    out[cell] = nearest[i] < 0 ? kInfinity : squared_offset(i - nearest[i], row_spacing);
  }
}

// Along one row: the lower envelope of the parabolas f(q) + ((p - q) * spacing)^2 over the columns
// q with a finite f (Felzenszwalb & Huttenlocher), evaluated at every p in place.
void row_pass(double* f, int width, double column_spacing, std::vector<int>& apex,
              std::vector<double>& boundary) {
  const double w = column_spacing * column_spacing;
  auto intersection = [&](int r, int q) {
    return ((f[q] + w * q * q) - (f[r] + w * r * r)) / (2.0 * w * (q - r));
  };
  int k = -1;
  for (int q = 0; q < width; ++q) {
    if (!std::isfinite(f[q])) continue;
    if (k < 0) {
      k = 0;
      apex[0] = q;
      boundary[0] = -kInfinity;
      boundary[1] = kInfinity;
      continue;
    }
    double s = intersection(apex[k], q);
    while (s <= boundary[k]) {
      --k;
      s = intersection(apex[k], q);
    }
    ++k;
    apex[k] = q;
    boundary[k] = s;
    boundary[k + 1] = kInfinity;
  }
  if (k < 0) return;  // no seed reaches this row: it stays +infinity
  std::vector<double> row(f, f + width);
  k = 0;
  for (int p = 0; p < width; ++p) {
    while (boundary[k + 1] < p) ++k;
    f[p] = row[apex[k]] + squared_offset(p - apex[k], column_spacing);
  }
}

}  // namespace

std::vector<double> squared_distance_transform(const std::vector<std::uint8_t>& seeds, int height,
                                               int width, Spacing spacing_mm) {
  if (height < 1 || width < 1 ||
      seeds.size() != static_cast<std::size_t>(height) * static_cast<std::size_t>(width)) {
    throw std::invalid_argument("distance transform: " + std::to_string(seeds.size()) +
                                " seeds for a " + std::to_string(height) + "x" +
                                std::to_string(width) + " grid");
  }
  detail::require_valid_spacing(spacing_mm);
  std::vector<double> result(seeds.size());
  for (int j = 0; j < width; ++j) column_pass(seeds, height, width, j, spacing_mm[0], result);
  std::vector<int> apex(width);
  std::vector<double> boundary(width + 1);
  for (int i = 0; i < height; ++i) {
    row_pass(result.data() + static_cast<std::size_t>(i) * width, width, spacing_mm[1], apex,
             boundary);
  }
  return result;
}

}  // namespace ugs::metrics
