#include <limits>

#include "mask_checks.h"
#include "ugs/worker/metrics.h"

namespace ugs::metrics {

namespace {

struct Counts {
  long long true_positive = 0, false_positive = 0, false_negative = 0;
};

Counts count(MaskView truth, MaskView prediction) {
  detail::require_same_shape(truth, prediction);
  Counts c;
  std::size_t n = detail::pixel_count(truth);
  for (std::size_t i = 0; i < n; ++i) {
    bool t = truth.data[i] != 0, p = prediction.data[i] != 0;
    c.true_positive += t && p;
    c.false_positive += !t && p;
    c.false_negative += t && !p;
  }
  return c;
}

}  // namespace

double dice(MaskView truth, MaskView prediction) {
  Counts c = count(truth, prediction);
  long long denominator = 2 * c.true_positive + c.false_positive + c.false_negative;
  if (denominator == 0) return std::numeric_limits<double>::quiet_NaN();
  return 2.0 * c.true_positive / denominator;
}

double iou(MaskView truth, MaskView prediction) {
  Counts c = count(truth, prediction);
  long long denominator = c.true_positive + c.false_positive + c.false_negative;
  if (denominator == 0) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(c.true_positive) / denominator;
}

}  // namespace ugs::metrics
