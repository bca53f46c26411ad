// Segmentation metrics for 2D binary masks, exact in double precision, with the conventions of
// DeepMind's surface-distance package, nnU-Net and PHiSeg. The golden values these functions
// reproduce to 1e-9 are in ../shared/golden/metrics.md (tests/worker/metrics_test.cpp).
//
//   MaskView truth{label.data(), 50, 50}, prediction{mask.data(), 50, 50};
//   double d = dice(truth, prediction);                                   // 0.9135... for disc(10) vs disc(11)
//   double nsd = normalized_surface_dice(truth, prediction, {0.7, 0.7}, 1.0);  // tolerance 1 mm
//   double ged2 = generalized_energy_distance_squared({i, s, u}, annotators);
//
// Conventions:
//   - A mask is 0 / non-0 per pixel; shapes must agree (std::invalid_argument otherwise).
//   - A score of two empty masks is NaN (no nodule to get right or wrong); means skip NaN.
//     One empty mask against a non-empty one scores 0.
//   - Spacing is (row mm, column mm); tolerances are in mm.
// Thread safety: every function is pure; call them from any number of threads.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace ugs::metrics {

// A read-only view of a row-major height x width mask with values 0 / non-0.
struct MaskView {
  const std::uint8_t* data;
  int height;
  int width;
};

// Pixel spacing in mm: (row, column).
using Spacing = std::array<double, 2>;

// ---- Overlap ---------------------------------------------------------------------------------

double dice(MaskView truth, MaskView prediction);  // 2|T and P| / (|T| + |P|); NaN if both empty
double iou(MaskView truth, MaskView prediction);   // |T and P| / |T or P|;     NaN if both empty

// ---- Surfaces (DeepMind's surface-distance definition, 2D) ------------------------------------
// The contour lives on the (height+1) x (width+1) grid of pixel corners. A corner's code is
// 8*m[i-1,j-1] + 4*m[i-1,j] + 2*m[i,j-1] + m[i,j] (outside the image is 0); a corner with code
// other than 0 and 15 is a surface element and carries a contour length from its code: half a pixel
// diagonal for one or three set neighbours, a pixel side for two adjacent ones, two half diagonals
// for two opposite ones (a saddle). Distances between surface elements are Euclidean with spacing,
// computed exactly (see distance_transform.h).

// The sum of the surface elements' contour lengths, in mm (0 for an empty mask).
double contour_length(MaskView mask, Spacing spacing_mm);

// Normalized surface Dice at `tolerance_mm` (Nikolov et al. 2021): the contour length of each mask
// within the tolerance of the other's surface, over the total contour length of both. NaN when both
// masks are empty, 0 when exactly one is. Throws std::invalid_argument for a negative or non-finite
// tolerance or spacing that is not positive and finite.
double normalized_surface_dice(MaskView truth, MaskView prediction, Spacing spacing_mm,
                               double tolerance_mm);

// ---- Sets of masks (several plausible segmentations against several annotators) ---------------
// Both use the distance d(a, b) = 1 - IoU(a, b) with IoU(empty, empty) = 1, so two empty masks
// agree perfectly: an annotator who saw no nodule is matched by a prediction of none. Both sets
// must be non-empty (std::invalid_argument otherwise).

// The squared generalized energy distance, the quantity PHiSeg and the Probabilistic U-Net report
// as "GED":  2/(N M) sum_ij d(S_i, Y_j) - 1/N^2 sum_ik d(S_i, S_k) - 1/M^2 sum_jl d(Y_j, Y_l)
// for predictions S (N masks) and annotations Y (M masks). 0 when the sets are equal.
double generalized_energy_distance_squared(const std::vector<MaskView>& predictions,
                                           const std::vector<MaskView>& annotations);

// Hungarian-matched IoU (Kohl et al. 2019): the N x M matrix of d is tiled to L x L with
// L = lcm(N, M) (predictions repeated L/N times, annotations L/M times), the minimum-cost assignment
// is solved, and the mean IoU of the L matched pairs is returned. For N a multiple of M this is the
// usual "duplicate the annotations" definition; the lcm also covers e.g. 3 predictions vs 2 or 4
// annotators.
double hungarian_matched_iou(const std::vector<MaskView>& predictions,
                             const std::vector<MaskView>& annotations);

}  // namespace ugs::metrics
