// Gamma filters: the Gabor-modulated convolution against the published layer's definition, Otsu's
// threshold against a brute-force search, the published three-level stand-in.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

#include "test_device.h"
#include "ugs/model/filters.h"

namespace ugs::model {
namespace {

using testing::test_device;

// The layer as Luan et al.'s GConv computes it: repeat every input channel M times, build the
// [out*M, in*M, k, k] weight W[o*M + m, i*M + n] = weight[o, i, n] * bank[m], convolve.
torch::Tensor literal_gabor_conv(const torch::Tensor& x, const torch::Tensor& weight,
                                 const torch::Tensor& bank) {
  const int64_t out = weight.size(0), in = weight.size(1), m = weight.size(2), k = weight.size(3);
  auto expanded_input = x.repeat_interleave(m, 1);
  auto full = weight.view({out, 1, in, m, k, k}) * bank.view({1, m, 1, 1, k, k});
  return torch::conv2d(expanded_input, full.reshape({out * m, in * m, k, k}), {}, 1, k / 2);
}

TEST(GaborConv2d, KernelOneIsTheSummedOneByOneConvRepeatedPerOrientation) {
  torch::manual_seed(1);
  GaborConv2d gabor(GaborConv2dOptions(32, 8));  // the published layer: 32 -> 8 x 4, k = 1
  EXPECT_TRUE(torch::equal(gabor->MFilters, torch::ones({4, 1, 1})));
  auto x = torch::randn({2, 32, 9, 7});
  auto reduced = torch::conv2d(x, gabor->weight.sum(2)).repeat_interleave(4, 1);
  auto y = gabor(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 32, 9, 7}));
  EXPECT_TRUE(torch::allclose(y, reduced, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(y, literal_gabor_conv(x, gabor->weight, gabor->MFilters), 1e-5, 1e-5));
}

TEST(GaborConv2d, KernelThreeEqualsTheLiteralModulatedConvolution) {
  torch::manual_seed(2);
  GaborConv2d gabor(GaborConv2dOptions(6, 3).kernel_size(3).orientations(4));
  auto x = torch::randn({2, 6, 8, 8});
  auto y = gabor(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 12, 8, 8}));
  EXPECT_TRUE(torch::allclose(y, literal_gabor_conv(x, gabor->weight, gabor->MFilters), 1e-5, 1e-5));
}

TEST(GaborFilterBank, IsOrientedAndNormalised) {
  auto bank = gabor_filter_bank(4, 3);
  ASSERT_EQ(bank.sizes(), (std::vector<int64_t>{4, 3, 3}));
  for (int64_t m = 0; m < 4; ++m) {
    EXPECT_FLOAT_EQ(bank[m].min().item<float>(), 0.0f);
    EXPECT_FLOAT_EQ(bank[m].max().item<float>(), 1.0f);
  }
  // 0 and 90 degrees are each other's transpose; 0 degrees varies along x, not along y.
  EXPECT_TRUE(torch::allclose(bank[0], bank[2].t(), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(bank[0].select(1, 0), bank[0].select(1, 2)));
  EXPECT_FALSE(torch::allclose(bank[0].select(0, 0), bank[0].select(0, 1)));
  EXPECT_THROW(GaborConv2d(GaborConv2dOptions(4, 1).kernel_size(2)), std::invalid_argument);
}

// Otsu by definition: the same 256 bins over [min, max], every split tried, the between-class
// variance w0 w1 (mu0 - mu1)^2 from explicit class sums, the first best split kept.
double brute_force_otsu(const std::vector<float>& values) {
  constexpr int kBins = 256;
  const float low = *std::min_element(values.begin(), values.end());
  const float high = *std::max_element(values.begin(), values.end());
  const float width = (high - low) / static_cast<float>(kBins);
  std::vector<double> histogram(kBins, 0.0);
  for (float v : values) {
    const int bin = std::min(kBins - 1, std::max(0, static_cast<int>(std::floor((v - low) / width))));
    histogram[bin] += 1.0;
  }
  int best = -1;
  double best_variance = -1.0;
  for (int split = 0; split < kBins; ++split) {
    double n0 = 0, s0 = 0, n1 = 0, s1 = 0;
    for (int b = 0; b < kBins; ++b) {
      (b <= split ? n0 : n1) += histogram[b];
      (b <= split ? s0 : s1) += histogram[b] * b;
    }
    if (n0 == 0 || n1 == 0) continue;
    const double total = n0 + n1;
    const double variance = (n0 / total) * (n1 / total) * std::pow(s0 / n0 - s1 / n1, 2);
    if (variance > best_variance * (1 + 1e-12)) {
      best_variance = variance;
      best = split;
    }
  }
  return low + (best + 1) * width;
}

TEST(Otsu, ThresholdEqualsBruteForceOnRandomPlanes) {
  torch::manual_seed(3);
  // Mixtures of two normals with random weights and spreads, plus a uniform plane: varied histograms.
  auto mix = (torch::rand({3, 5, 1, 1}) > 0.5).to(torch::kFloat);
  auto x = torch::randn({3, 5, 20, 24}) * (0.5 + torch::rand({3, 5, 1, 1})) +
           3.0 * (torch::rand({3, 5, 20, 24}) < 0.3).to(torch::kFloat) * mix;
  x[1][2] = torch::rand({20, 24});
  auto thresholds = otsu_threshold(x.to(test_device())).cpu();
  ASSERT_EQ(thresholds.sizes(), (std::vector<int64_t>{3, 5}));
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t c = 0; c < 5; ++c) {
      auto plane = x[b][c].contiguous();
      std::vector<float> values(plane.data_ptr<float>(), plane.data_ptr<float>() + plane.numel());
      EXPECT_NEAR(thresholds[b][c].item<float>(), brute_force_otsu(values), 1e-5) << b << "," << c;
    }
  }
}

TEST(Otsu, SeparatesTwoClustersAndLeavesConstantPlanesEmpty) {
  auto x = torch::zeros({1, 2, 4, 4});
  x[0][0].narrow(0, 0, 2).fill_(10.0);   // half the plane at 10, half at 0
  x[0][1].fill_(3.0);                    // constant
  auto thresholds = otsu_threshold(x.to(test_device())).cpu();
  EXPECT_GT(thresholds[0][0].item<float>(), 0.0f);
  EXPECT_LE(thresholds[0][0].item<float>(), 10.0f);
  EXPECT_TRUE(std::isinf(thresholds[0][1].item<float>()));
  auto foreground = otsu_foreground(x.to(test_device())).cpu();
  EXPECT_EQ(foreground[0][0].sum().item<float>(), 80.0f);
  EXPECT_EQ(foreground[0][1].sum().item<float>(), 0.0f);
}

TEST(Otsu, ForegroundPassesGradientOnTheForegroundOnly) {
  auto x = torch::tensor({0.0f, 0.1f, 0.2f, 5.0f, 5.5f, 6.0f}).view({1, 1, 2, 3}).requires_grad_();
  otsu_foreground(x).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad().flatten(), torch::tensor({0.0f, 0.0f, 0.0f, 1.0f, 1.0f, 1.0f})));
}

TEST(PublishedThreeLevel, QuantisesAtPlusMinusHalfWithoutGradient) {
  auto x = torch::tensor({-2.0f, -0.5f, 0.0f, 0.49f, 0.5f, 3.0f}).view({1, 1, 2, 3}).requires_grad_();
  auto levels = published_three_level(x);
  EXPECT_TRUE(torch::equal(levels.flatten(), torch::tensor({0.0f, 128.0f, 128.0f, 128.0f, 255.0f, 255.0f})));
  EXPECT_FALSE(levels.requires_grad());
}

}  // namespace
}  // namespace ugs::model
