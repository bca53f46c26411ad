// Argument checks shared by the metric sources (internal).
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "ugs/worker/metrics.h"

namespace ugs::metrics::detail {

inline std::size_t pixel_count(MaskView mask) {
  if (mask.data == nullptr || mask.height < 1 || mask.width < 1) {
    throw std::invalid_argument("mask view is empty or has no data (" + std::to_string(mask.height) +
                                "x" + std::to_string(mask.width) + ")");
  }
  return static_cast<std::size_t>(mask.height) * static_cast<std::size_t>(mask.width);
}

inline void require_same_shape(MaskView a, MaskView b) {
  pixel_count(a);
  pixel_count(b);
  if (a.height != b.height || a.width != b.width) {
    throw std::invalid_argument("masks differ in shape: " + std::to_string(a.height) + "x" +
                                std::to_string(a.width) + " vs " + std::to_string(b.height) + "x" +
                                std::to_string(b.width));
  }
}

inline void require_valid_spacing(Spacing spacing_mm) {
  for (double s : spacing_mm) {
    if (!(std::isfinite(s) && s > 0)) {
      throw std::invalid_argument("pixel spacing must be positive and finite, got (" +
                                  std::to_string(spacing_mm[0]) + ", " +
                                  std::to_string(spacing_mm[1]) + ") mm");
    }
  }
}

}  // namespace ugs::metrics::detail
