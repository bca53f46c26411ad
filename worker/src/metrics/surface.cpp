#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "mask_checks.h"
#include "ugs/worker/distance_transform.h"
#include "ugs/worker/metrics.h"

namespace ugs::metrics {

namespace {

// Contour length per neighbourhood code, as in DeepMind's
// create_table_neighbour_code_to_contour_length: code bits are 8 = up-left, 4 = up, 2 = left,
// 1 = the pixel itself, seen from the corner at its top-left.
std::array<double, 16> contour_length_per_code(Spacing spacing_mm) {
  const double vertical = spacing_mm[0];
  const double horizontal = spacing_mm[1];
  const double half_diagonal = 0.5 * std::sqrt(spacing_mm[0] * spacing_mm[0] +
                                               spacing_mm[1] * spacing_mm[1]);
  std::array<double, 16> length{};
  for (int code : {1, 2, 4, 7, 8, 11, 13, 14}) length[code] = half_diagonal;
  for (int code : {3, 12}) length[code] = horizontal;  // the pixels above or below the corner
  for (int code : {5, 10}) length[code] = vertical;    // the pixels left or right of it
  for (int code : {6, 9}) length[code] = 2 * half_diagonal;  // a saddle: two diagonal pieces
  return length;
}

// The surface elements of a mask on the (height+1) x (width+1) corner grid.
struct Surface {
  int rows = 0, columns = 0;
  std::vector<std::uint8_t> is_element;  // rows*columns
  std::vector<double> length;            // rows*columns, 0 off the surface
  double total_length = 0.0;
};

Surface surface_of(MaskView mask, Spacing spacing_mm) {
  detail::pixel_count(mask);
  detail::require_valid_spacing(spacing_mm);
  const std::array<double, 16> length_of = contour_length_per_code(spacing_mm);
  auto pixel = [&](int i, int j) -> int {
    if (i < 0 || j < 0 || i >= mask.height || j >= mask.width) return 0;
    return mask.data[static_cast<std::size_t>(i) * mask.width + j] != 0;
  };
  Surface s;
  s.rows = mask.height + 1;
  s.columns = mask.width + 1;
  std::size_t corners = static_cast<std::size_t>(s.rows) * s.columns;
  s.is_element.assign(corners, 0);
  s.length.assign(corners, 0.0);
  for (int i = 0; i < s.rows; ++i) {
    for (int j = 0; j < s.columns; ++j) {
      int code = 8 * pixel(i - 1, j - 1) + 4 * pixel(i - 1, j) + 2 * pixel(i, j - 1) + pixel(i, j);
      if (code == 0 || code == 15) continue;
      std::size_t corner = static_cast<std::size_t>(i) * s.columns + j;
      s.is_element[corner] = 1;
      s.length[corner] = length_of[code];
      s.total_length += length_of[code];
    }
  }
  return s;
}

// The contour length of `from` whose distance to the surface of `to` is within the tolerance.
double length_within(const Surface& from, const Surface& to, Spacing spacing_mm,
                     double tolerance_mm) {
  std::vector<double> squared_distance =
      squared_distance_transform(to.is_element, to.rows, to.columns, spacing_mm);
  double within = 0.0;
  for (std::size_t corner = 0; corner < from.is_element.size(); ++corner) {
    // sqrt before comparing, as DeepMind does, so a distance equal to the tolerance counts.
    if (from.is_element[corner] && std::sqrt(squared_distance[corner]) <= tolerance_mm) {
      within += from.length[corner];
    }
  }
  return within;
}

}  // namespace

double contour_length(MaskView mask, Spacing spacing_mm) {
  return surface_of(mask, spacing_mm).total_length;
}

double normalized_surface_dice(MaskView truth, MaskView prediction, Spacing spacing_mm,
                               double tolerance_mm) {
  detail::require_same_shape(truth, prediction);
  if (!(std::isfinite(tolerance_mm) && tolerance_mm >= 0)) {
    throw std::invalid_argument("NSD tolerance must be finite and >= 0 mm, got " +
                                std::to_string(tolerance_mm));
  }
  Surface t = surface_of(truth, spacing_mm), p = surface_of(prediction, spacing_mm);
  double total = t.total_length + p.total_length;
  if (total == 0.0) return std::numeric_limits<double>::quiet_NaN();
  if (t.total_length == 0.0 || p.total_length == 0.0) return 0.0;
  return (length_within(t, p, spacing_mm, tolerance_mm) +
          length_within(p, t, spacing_mm, tolerance_mm)) /
         total;
}

}  // namespace ugs::metrics
