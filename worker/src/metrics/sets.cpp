#include <cmath>
#include <cstddef>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "ugs/worker/assignment.h"
#include "ugs/worker/metrics.h"

namespace ugs::metrics {

namespace {

// The tiled assignment problem is O(L^3); beyond this the set sizes are a mistake, not a workload.
constexpr int kMaxTiledSize = 1024;

// IoU with IoU(empty, empty) = 1: between sets, two empty masks agree perfectly.
double set_iou(MaskView a, MaskView b) {
  double value = iou(a, b);
  return std::isnan(value) ? 1.0 : value;
}

// rows x columns IoU matrix, row-major.
std::vector<double> iou_matrix(const std::vector<MaskView>& rows,
                               const std::vector<MaskView>& columns) {
  std::vector<double> matrix;
  matrix.reserve(rows.size() * columns.size());
  for (MaskView a : rows) {
    for (MaskView b : columns) matrix.push_back(set_iou(a, b));
  }
  return matrix;
}

double mean_distance(const std::vector<double>& iou_values) {
  double sum = 0.0;
  for (double value : iou_values) sum += 1.0 - value;
  return sum / static_cast<double>(iou_values.size());
}

void require_non_empty(const std::vector<MaskView>& predictions,
                       const std::vector<MaskView>& annotations) {
  if (predictions.empty() || annotations.empty()) {
    throw std::invalid_argument("set metric needs at least one prediction and one annotation, got " +
                                std::to_string(predictions.size()) + " and " +
                                std::to_string(annotations.size()));
  }
}

}  // namespace

double generalized_energy_distance_squared(const std::vector<MaskView>& predictions,
                                           const std::vector<MaskView>& annotations) {
  require_non_empty(predictions, annotations);
  return 2.0 * mean_distance(iou_matrix(predictions, annotations)) -
         mean_distance(iou_matrix(predictions, predictions)) -
         mean_distance(iou_matrix(annotations, annotations));
}

double hungarian_matched_iou(const std::vector<MaskView>& predictions,
                             const std::vector<MaskView>& annotations) {
  require_non_empty(predictions, annotations);
  const int n = static_cast<int>(predictions.size());
  const int m = static_cast<int>(annotations.size());
  const long long tiled = std::lcm(static_cast<long long>(n), static_cast<long long>(m));
  if (tiled > kMaxTiledSize) {
    throw std::invalid_argument("Hungarian-matched IoU: lcm(" + std::to_string(n) + ", " +
                                std::to_string(m) + ") = " + std::to_string(tiled) +
                                " exceeds " + std::to_string(kMaxTiledSize));
  }
  const int size = static_cast<int>(tiled);
  std::vector<double> pair_iou = iou_matrix(predictions, annotations);
  auto tiled_iou = [&](int row, int column) {
    return pair_iou[static_cast<std::size_t>(row % n) * m + column % m];
  };
  std::vector<double> cost(static_cast<std::size_t>(size) * size);
  for (int row = 0; row < size; ++row) {
    for (int column = 0; column < size; ++column) {
      cost[static_cast<std::size_t>(row) * size + column] = 1.0 - tiled_iou(row, column);
    }
  }
  std::vector<int> column_of_row = solve_assignment(cost, size);
  double sum = 0.0;
  for (int row = 0; row < size; ++row) sum += tiled_iou(row, column_of_row[row]);
  return sum / size;
}

}  // namespace ugs::metrics
