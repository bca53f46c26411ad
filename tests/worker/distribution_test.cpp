// Empirical distributions: Wasserstein-1 against distances worked out by hand (derivations in the
// comments), Silverman's bandwidth against its formula, the density estimate against its
// definition.
#include "ugs/worker/distribution.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

namespace ugs::metrics {
namespace {

const double kPhiAtZero = 1.0 / std::sqrt(2.0 * M_PI);  // the standard normal density at 0

double phi(double z) { return kPhiAtZero * std::exp(-0.5 * z * z); }

std::vector<double> normal_sample(std::size_t n, double mean, double sd, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(mean, sd);
  std::vector<double> values(n);
  for (double& v : values) v = normal(rng);
  return values;
}

TEST(Wasserstein1, SmallSamplesByHand) {
  // {0, 2} vs {1}: |F - G| = 1/2 on [0, 1) and on [1, 2): 1/2 + 1/2.
  EXPECT_DOUBLE_EQ(wasserstein1(EmpiricalDistribution({0, 2}), EmpiricalDistribution({1})), 1.0);
  // {0} vs {1, 3}: half the mass moves 1, half moves 3.
  EXPECT_DOUBLE_EQ(wasserstein1(EmpiricalDistribution({0}), EmpiricalDistribution({3, 1})), 2.0);
  // {1, 2, 3} vs {1, 2, 3, 4}: |F - G| is 1/3 - 1/4 on [1, 2), 2/3 - 1/2 on [2, 3), 1 - 3/4 on
  // [3, 4): 1/12 + 2/12 + 3/12.
  EXPECT_DOUBLE_EQ(
      wasserstein1(EmpiricalDistribution({3, 1, 2}), EmpiricalDistribution({4, 2, 1, 3})), 0.5);
  // Equal sizes: the mean distance of the sorted pairs, (0 + 7 + 5) / 3.
  EXPECT_DOUBLE_EQ(
      wasserstein1(EmpiricalDistribution({1, 2, 9}), EmpiricalDistribution({14, 9, 1})), 4.0);
}

TEST(Wasserstein1, IsSymmetricAndZeroOnItself) {
  const EmpiricalDistribution a(normal_sample(300, -50, 80, 1)), b(normal_sample(451, 20, 30, 2));
  EXPECT_DOUBLE_EQ(wasserstein1(a, b), wasserstein1(b, a));
  EXPECT_EQ(wasserstein1(a, a), 0.0);
  EXPECT_GT(wasserstein1(a, b), 0.0);
}

TEST(Wasserstein1, ShiftingASampleMovesItByTheShift) {
  const std::vector<double> x = normal_sample(1000, -600, 150, 3);
  for (double shift : {0.25, 37.5, -410.0}) {
    std::vector<double> shifted = x;
    for (double& v : shifted) v += shift;
    EXPECT_NEAR(wasserstein1(EmpiricalDistribution(x), EmpiricalDistribution(shifted)),
                std::abs(shift), 1e-9);
  }
}

TEST(Wasserstein1, WithAnEmptySideIsNaN) {
  EXPECT_TRUE(std::isnan(wasserstein1(EmpiricalDistribution({1, 2}), EmpiricalDistribution())));
  EXPECT_TRUE(std::isnan(wasserstein1(EmpiricalDistribution(), EmpiricalDistribution({1}))));
}

TEST(EmpiricalDistribution, KeepsTheValuesSortedWithTheirStatistics) {
  const EmpiricalDistribution d({10, 1, 4, 3, 2});
  EXPECT_EQ(d.sorted(), (std::vector<double>{1, 2, 3, 4, 10}));
  EXPECT_EQ(d.stats().count, 5u);
  EXPECT_DOUBLE_EQ(d.stats().mean, 4.0);
  EXPECT_DOUBLE_EQ(d.stats().median, 3.0);
  EXPECT_TRUE(EmpiricalDistribution().empty());
  EXPECT_TRUE(std::isnan(EmpiricalDistribution().stats().mean));
  EXPECT_TRUE(std::isnan(EmpiricalDistribution().silverman_bandwidth()));
  EXPECT_THROW(EmpiricalDistribution({1, NAN}), std::invalid_argument);
}

TEST(EmpiricalDistribution, BandwidthIsSilvermansRuleOfThumb) {
  // {1, 2, 3, 4, 10}: IQR = 4 - 2 = 2, IQR/1.34 = 1.49 < sd = sqrt(50/4) = 3.54.
  EXPECT_DOUBLE_EQ(EmpiricalDistribution({1, 2, 3, 4, 10}).silverman_bandwidth(),
                   0.9 * (2.0 / 1.34) * std::pow(5.0, -0.2));
  // {0, 0, 0, 10, 10, 10}: IQR = 10 (positions 1.25 and 3.75), IQR/1.34 = 7.46 > the sample sd,
  // sqrt(150/5) (divisor n - 1, not n).
  EXPECT_NEAR(EmpiricalDistribution({0, 10, 0, 10, 0, 10}).silverman_bandwidth(),
              0.9 * std::sqrt(30.0) * std::pow(6.0, -0.2), 1e-14);
  // {5, 5, 5, 5, 9}: IQR = 0, so the sample sd sqrt(12.8/4) alone.
  EXPECT_NEAR(EmpiricalDistribution({5, 5, 9, 5, 5}).silverman_bandwidth(),
              0.9 * std::sqrt(3.2) * std::pow(5.0, -0.2), 1e-14);
  EXPECT_DOUBLE_EQ(EmpiricalDistribution({3, 3, 3}).silverman_bandwidth(), 1.0);
  EXPECT_DOUBLE_EQ(EmpiricalDistribution({3}).silverman_bandwidth(), 1.0);
}

TEST(EmpiricalDistribution, DensityIsTheKernelSum) {
  const EmpiricalDistribution d({1, 2, 3, 4, 10});
  const double h = d.silverman_bandwidth();
  const std::vector<double> grid = {-3, 0, 2.5, 3, 7, 10, 30};
  const std::vector<double> f = d.density(grid);
  ASSERT_EQ(f.size(), grid.size());
  for (std::size_t k = 0; k < grid.size(); ++k) {
    double expected = 0.0;
    for (double x : d.sorted()) expected += phi((grid[k] - x) / h);
    expected /= 5 * h;
    EXPECT_NEAR(f[k], expected, 1e-13 * kPhiAtZero / h) << "at " << grid[k];
  }
  // Repeated values: {0, 0, 0} has h = 1, so f(1) = phi(1).
  EXPECT_DOUBLE_EQ(EmpiricalDistribution({0, 0, 0}).density({1.0})[0], phi(1.0));
}

TEST(EmpiricalDistribution, DensityIntegratesToOne) {
  const EmpiricalDistribution d(normal_sample(2000, -700, 120, 4));
  const double h = d.silverman_bandwidth();
  const double low = d.sorted().front() - 10 * h, high = d.sorted().back() + 10 * h;
  const int points = 4001;
  std::vector<double> grid(points);
  for (int k = 0; k < points; ++k) grid[k] = low + (high - low) * k / (points - 1);
  const std::vector<double> f = d.density(grid);
  double integral = 0.0;  // trapezoids
  for (int k = 1; k < points; ++k) integral += 0.5 * (f[k] + f[k - 1]) * (grid[k] - grid[k - 1]);
  EXPECT_NEAR(integral, 1.0, 1e-6);
}

TEST(EmpiricalDistribution, DensityRefusesBadInput) {
  EXPECT_THROW(EmpiricalDistribution().density({0.0}), std::invalid_argument);
  EXPECT_THROW(EmpiricalDistribution({1, 2}).density({0.0, 2.0, 1.0}), std::invalid_argument);
  EXPECT_THROW(EmpiricalDistribution({1, 2}).density({0.0, INFINITY}), std::invalid_argument);
}

}  // namespace
}  // namespace ugs::metrics
