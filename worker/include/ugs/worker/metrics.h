// Segmentation metrics for 2D binary masks, exact in double precision, with the conventions of
// DeepMind's surface-distance package and nnU-Net: a score of two empty masks is NaN (no nodule to
// get right or wrong), and means skip NaN.
#pragma once

#include <cstdint>

namespace ugs::metrics {

// A read-only view of a row-major height x width mask with values 0/1.
struct MaskView {
  const std::uint8_t* data;
  int height;
  int width;
};

double dice(MaskView truth, MaskView prediction);  // NaN when both are empty
double iou(MaskView truth, MaskView prediction);   // NaN when both are empty

}  // namespace ugs::metrics
