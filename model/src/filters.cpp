#include "ugs/model/filters.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace ugs::model {

torch::Tensor gabor_filter_bank(int64_t orientations, int64_t kernel_size, int64_t scale) {
  if (orientations < 1 || kernel_size < 1 || scale < 1) {
    throw std::invalid_argument("gabor_filter_bank: orientations, kernel size and scale must be >= 1, got " +
                                std::to_string(orientations) + ", " + std::to_string(kernel_size) +
                                ", " + std::to_string(scale));
  }
  if (kernel_size == 1) return torch::ones({orientations, 1, 1});
  constexpr double kPi = 3.14159265358979323846;
  const double sigma = kPi;
  const double wave = (kPi / 2.0) / std::pow(std::sqrt(2.0), static_cast<double>(scale - 1));
  const double dc_offset = std::exp(-sigma * sigma / 2.0);  // makes the real part zero-mean
  auto bank = torch::empty({orientations, kernel_size, kernel_size}, torch::kDouble);
  auto bank_access = bank.accessor<double, 3>();
  const double centre = (static_cast<double>(kernel_size) - 1.0) / 2.0;
  for (int64_t m = 0; m < orientations; ++m) {
    const double theta = static_cast<double>(m) * kPi / static_cast<double>(orientations);
    for (int64_t row = 0; row < kernel_size; ++row) {
      for (int64_t col = 0; col < kernel_size; ++col) {
        const double y = static_cast<double>(row) - centre;
        const double x = static_cast<double>(col) - centre;
        const double envelope = std::exp(-wave * wave * (x * x + y * y) / (2.0 * sigma * sigma));
        const double carrier =
            std::cos(wave * std::cos(theta) * x + wave * std::sin(theta) * y) - dc_offset;
        bank_access[m][row][col] = wave * wave * envelope * carrier / (sigma * sigma);
      }
    }
  }
  auto low = std::get<0>(bank.flatten(1).min(1)).view({orientations, 1, 1});
  auto high = std::get<0>(bank.flatten(1).max(1)).view({orientations, 1, 1});
  return ((bank - low) / (high - low)).to(torch::kFloat);
}

GaborConv2dImpl::GaborConv2dImpl(const GaborConv2dOptions& options_) : options(options_) {
  if (options.kernel_size() % 2 == 0) {
    throw std::invalid_argument("GaborConv2d: kernel size must be odd to keep the map size, got " +
                                std::to_string(options.kernel_size()));
  }
  const int64_t k = options.kernel_size();
  weight = register_parameter(
      "weight", torch::empty({options.out_channels(), options.in_channels(), options.orientations(), k, k}));
  // PyTorch's default convolution initialisation, with the fan-in of the 5-D weight, as in GConv.
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  MFilters = register_buffer("MFilters",
                             gabor_filter_bank(options.orientations(), k, options.scale()));
}

torch::Tensor GaborConv2dImpl::modulated_weight() const {
  const int64_t out = options.out_channels();
  const int64_t in = options.in_channels();
  const int64_t m = options.orientations();
  const int64_t k = options.kernel_size();
  auto summed = weight.sum(2);  // [out, in, k, k]: the expanded input copies are identical
  return (summed.unsqueeze(1) * MFilters.view({1, m, 1, k, k})).reshape({out * m, in, k, k});
}

torch::Tensor GaborConv2dImpl::forward(const torch::Tensor& x) {
  return torch::conv2d(x, modulated_weight(), {}, 1, options.kernel_size() / 2);
}

namespace {

void check_planes(const char* who, const torch::Tensor& x) {
  if (x.dim() != 4 || x.numel() == 0) {
    throw std::invalid_argument(std::string(who) + ": expected a non-empty [B, C, H, W] tensor, got " +
                                c10::str(x.sizes()));
  }
}

}  // namespace

torch::Tensor otsu_threshold(const torch::Tensor& x, int64_t bins) {
  check_planes("otsu_threshold", x);
  if (bins < 2) throw std::invalid_argument("otsu_threshold: needs at least 2 bins, got " + std::to_string(bins));
  torch::NoGradGuard no_grad;
  const int64_t planes = x.size(0) * x.size(1);
  auto values = x.reshape({planes, -1}).to(torch::kFloat);
  auto low = std::get<0>(values.min(1, /*keepdim=*/true));
  auto high = std::get<0>(values.max(1, /*keepdim=*/true));
  // A constant plane gets a positive width so that its one bin and its threshold stay defined.
  auto width = ((high - low) / static_cast<double>(bins)).clamp_min(std::numeric_limits<float>::min());
  auto bin = ((values - low) / width).floor().clamp(0, bins - 1).to(torch::kLong);
  // One histogram per plane in one call: offset each plane's bins into its own range.
  auto offsets = torch::arange(planes, bin.options()).unsqueeze(1) * bins;
  auto histogram = torch::bincount((bin + offsets).flatten(), {}, planes * bins)
                       .view({planes, bins})
                       .to(torch::kDouble);
  auto probability = histogram / static_cast<double>(values.size(1));
  auto levels = torch::arange(bins, probability.options());
  auto below = probability.cumsum(1);                  // omega(t): mass of bins 0..t
  auto below_mean = (probability * levels).cumsum(1);  // mu(t)
  auto total_mean = below_mean.narrow(1, bins - 1, 1);
  auto denominator = below * (1.0 - below);
  auto between = (total_mean * below - below_mean).square() / denominator;
  // Splits with an empty class are not splits (0/0); rank them below every real one.
  between = torch::where(denominator > 1e-12, between, torch::full_like(between, -1.0));
  auto best = between.argmax(1, /*keepdim=*/true);
  auto threshold = low + (best.to(low.scalar_type()) + 1.0) * width;
  auto splittable = std::get<0>(between.max(1, /*keepdim=*/true)) >= 0.0;
  threshold = torch::where(splittable, threshold,
                           torch::full_like(threshold, std::numeric_limits<float>::infinity()));
  return threshold.view({x.size(0), x.size(1)}).to(x.scalar_type());
}

torch::Tensor otsu_foreground(const torch::Tensor& x, int64_t bins) {
  auto threshold = otsu_threshold(x, bins).view({x.size(0), x.size(1), 1, 1});
  return x * (x >= threshold).to(x.scalar_type());
}

torch::Tensor published_three_level(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  auto options = x.options();
  return (x >= -0.5).to(options.dtype()) * 128.0 + (x >= 0.5).to(options.dtype()) * 127.0;
}

}  // namespace ugs::model
