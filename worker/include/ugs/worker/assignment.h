// The linear assignment problem: match n rows to n columns one to one at minimum total cost.
//
// The Hungarian method as successive shortest augmenting paths with row and column potentials
// (Kuhn-Munkres; the scheme Jonker & Volgenant's LAPJV also builds on), O(n^3), on float64 costs. Written here rather than taken from a Debian
// package because none fits: dlib's max_cost_assignment requires integer costs, Boost.Graph 1.74's
// maximum_weighted_matching is for general graphs and has known wrong results (boostorg/graph#399),
// and LEMON is a whole network-optimisation library for one 40-line routine.
//
//   std::vector<double> cost = {4, 1, 3,
//                               2, 0, 5,
//                               3, 2, 2};
//   std::vector<int> column = solve_assignment(cost, 3);   // {1, 0, 2}: total 1 + 2 + 2 = 5
//
// Thread safety: pure function.
#pragma once

#include <vector>

namespace ugs::metrics {

// `cost` is the row-major n x n matrix, cost[i * n + j] the cost of giving row i column j. Returns
// column[i] for each row i, a permutation of 0..n-1 of minimum total cost (any one of them when
// several tie). Throws std::invalid_argument for n < 1, a size other than n*n, or a non-finite cost.
std::vector<int> solve_assignment(const std::vector<double>& cost, int n);

}  // namespace ugs::metrics
