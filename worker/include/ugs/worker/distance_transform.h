// Exact Euclidean distance transform of a 2D grid with anisotropic spacing, the building block of the
// surface metrics (metrics.h).
//
// Felzenszwalb & Huttenlocher's separable algorithm ("Distance Transforms of Sampled Functions",
// Theory of Computing 8, 2012): a 1D nearest-seed scan along each column, then the lower envelope of
// parabolas along each row; O(height * width). Each result is evaluated as
// (di*s_row)^2 + (dj*s_col)^2 for the offset (di, dj) of the nearest seed, the same float64
// expression scipy.ndimage.distance_transform_edt uses, so distances agree with DeepMind's
// surface-distance package bit for bit (up to ties between equally near seeds).
//
//   std::vector<std::uint8_t> seeds(h * w);  seeds[5 * w + 7] = 1;
//   std::vector<double> d2 = squared_distance_transform(seeds, h, w, {1.0, 0.5});
//   // d2[i * w + j] == ((i - 5) * 1.0)^2 + ((j - 7) * 0.5)^2
//
// Thread safety: pure function.
#pragma once

#include <cstdint>
#include <vector>

#include "ugs/worker/metrics.h"

namespace ugs::metrics {

// For every cell of the row-major height x width grid, the squared distance in mm^2 to the nearest
// cell whose `seeds` value is non-0; +infinity everywhere when there is no seed. Throws
// std::invalid_argument when seeds.size() != height * width or the spacing is not positive and finite.
std::vector<double> squared_distance_transform(const std::vector<std::uint8_t>& seeds, int height,
                                               int width, Spacing spacing_mm);

}  // namespace ugs::metrics
