#include "ugs/worker/assignment.h"

#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

namespace ugs::metrics {

std::vector<int> solve_assignment(const std::vector<double>& cost, int n) {
  if (n < 1 || cost.size() != static_cast<std::size_t>(n) * static_cast<std::size_t>(n)) {
    throw std::invalid_argument("assignment: " + std::to_string(cost.size()) +
                                " costs for a " + std::to_string(n) + "x" + std::to_string(n) +
                                " problem");
  }
  for (double c : cost) {
    if (!std::isfinite(c)) throw std::invalid_argument("assignment: non-finite cost");
  }
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  auto at = [&](int row, int column) {  // 1-based, as below
    return cost[static_cast<std::size_t>(row - 1) * n + (column - 1)];
  };
  // Index 0 is a virtual column where each new row's augmenting path starts. Invariant:
  // row_potential[i] + column_potential[j] <= cost(i, j), with equality on assigned pairs.
  std::vector<double> row_potential(n + 1, 0.0), column_potential(n + 1, 0.0);
  std::vector<int> row_of_column(n + 1, 0), previous_column(n + 1, 0);
  for (int row = 1; row <= n; ++row) {
    row_of_column[0] = row;
    int column = 0;
    std::vector<double> slack(n + 1, kInfinity);
    std::vector<bool> visited(n + 1, false);
    // Dijkstra on reduced costs until the path reaches a free column.
    do {
      visited[column] = true;
      int current_row = row_of_column[column];
      double delta = kInfinity;
      int next_column = 0;
      for (int j = 1; j <= n; ++j) {
        if (visited[j]) continue;
        double reduced = at(current_row, j) - row_potential[current_row] - column_potential[j];
        if (reduced < slack[j]) {
          slack[j] = reduced;
          previous_column[j] = column;
        }
        if (slack[j] < delta) {
          delta = slack[j];
          next_column = j;
        }
      }
      for (int j = 0; j <= n; ++j) {
        if (visited[j]) {
          row_potential[row_of_column[j]] += delta;
          column_potential[j] -= delta;
        } else {
          slack[j] -= delta;
        }
      }
      column = next_column;
    } while (row_of_column[column] != 0);
    // Flip the path: every column on it takes the row of its predecessor.
    do {
      int before = previous_column[column];
      row_of_column[column] = row_of_column[before];
      column = before;
    } while (column != 0);
  }
  std::vector<int> column_of_row(n);
  for (int j = 1; j <= n; ++j) column_of_row[row_of_column[j] - 1] = j - 1;
  return column_of_row;
}

}  // namespace ugs::metrics
