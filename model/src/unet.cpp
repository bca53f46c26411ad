#include "ugs/model/unet.h"

#include <cmath>

#include "network_checks.h"

namespace ugs::model {

namespace nn = torch::nn;

namespace {

constexpr const char* kName = "unet";
// Four 2x2 max-pools.
constexpr int64_t kSizeMultiple = 16;
// Standard deviation of the reference's BatchNorm scale initialisation, around 1.
constexpr double kBatchNormScaleStd = 0.02;

}  // namespace

UNetImpl::UNetImpl(const ModelConfig& config) : in_channels_(config.in_channels) {
  const int64_t w1 = detail::scaled_width(64, config, kName);
  const int64_t w2 = 2 * w1, w3 = 4 * w1, w4 = 8 * w1, w5 = 16 * w1;
  conv1 = register_module("conv1", ConvBlock(config.in_channels, w1));
  conv2 = register_module("conv2", ConvBlock(w1, w2));
  conv3 = register_module("conv3", ConvBlock(w2, w3));
  conv4 = register_module("conv4", ConvBlock(w3, w4));
  conv5 = register_module("conv5", ConvBlock(w4, w5));
  up6 = register_module("up6", up_convolution(w5, w4));
  conv6 = register_module("conv6", ConvBlock(2 * w4, w4));
  up7 = register_module("up7", up_convolution(w4, w3));
  conv7 = register_module("conv7", ConvBlock(2 * w3, w3));
  up8 = register_module("up8", up_convolution(w3, w2));
  conv8 = register_module("conv8", ConvBlock(2 * w2, w2));
  up9 = register_module("up9", up_convolution(w2, w1));
  conv9 = register_module("conv9", ConvBlock(2 * w1, w1));
  conv10 = register_module("conv10", nn::Conv2d(nn::Conv2dOptions(w1, 1, 1)));

  // The reference's (and the U-Net paper's) Gaussian initialisation; its n counts a kernel's
  // outputs (k*k*out_channels), not its inputs. Transposed convs are not nn.Conv2d there.
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv2d>()) {
      const auto& kernel = conv->options.kernel_size();
      const double fan_out =
          static_cast<double>(kernel->at(0) * kernel->at(1) * conv->options.out_channels());
      conv->weight.normal_(0.0, std::sqrt(2.0 / fan_out));
      conv->bias.zero_();
    } else if (auto* norm = module->as<nn::BatchNorm2d>()) {
      norm->weight.normal_(1.0, kBatchNormScaleStd);
      norm->bias.zero_();
    }
  }
}

NetworkOutput UNetImpl::forward(const torch::Tensor& images) {
  detail::require_images(images, in_channels_, kSizeMultiple, kName);
  const auto pool = [](const torch::Tensor& x) { return torch::max_pool2d(x, 2); };
  auto c1 = conv1->forward(images);
  auto c2 = conv2->forward(pool(c1));
  auto c3 = conv3->forward(pool(c2));
  auto c4 = conv4->forward(pool(c3));
  auto c5 = conv5->forward(pool(c4));
  auto c6 = conv6->forward(torch::cat({up6->forward(c5), c4}, 1));
  auto c7 = conv7->forward(torch::cat({up7->forward(c6), c3}, 1));
  auto c8 = conv8->forward(torch::cat({up8->forward(c7), c2}, 1));
  auto c9 = conv9->forward(torch::cat({up9->forward(c8), c1}, 1));
  NetworkOutput out;
  out.segmentation = conv10->forward(c9);
  return out;
}

}  // namespace ugs::model
