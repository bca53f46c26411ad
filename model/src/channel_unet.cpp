#include "ugs/model/channel_unet.h"

#include "network_checks.h"

namespace ugs::model {

namespace nn = torch::nn;

namespace {

constexpr const char* kName = "channel-unet";
// Four 2x2 max-pools.
constexpr int64_t kSizeMultiple = 16;

}  // namespace

GAUImpl::GAUImpl(int64_t high_channels, int64_t low_channels)
    : conv3x3(nn::Conv2dOptions(low_channels, low_channels, 3).padding(1).bias(false)),
      bn_low(low_channels),
      conv1x1(nn::Conv2dOptions(high_channels, low_channels, 1).bias(false)),
      bn_high(low_channels),
      conv_upsample(nn::ConvTranspose2dOptions(high_channels, low_channels, 4)
                        .stride(2)
                        .padding(1)
                        .bias(false)),
      bn_upsample(low_channels) {
  register_module("conv3x3", conv3x3);
  register_module("bn_low", bn_low);
  register_module("conv1x1", conv1x1);
  register_module("bn_high", bn_high);
  register_module("conv_upsample", conv_upsample);
  register_module("bn_upsample", bn_upsample);
}

torch::Tensor GAUImpl::forward(const torch::Tensor& high, const torch::Tensor& low) {
  auto channel_weights = torch::relu(conv1x1->forward(torch::adaptive_avg_pool2d(high, {1, 1})));
  auto weighted_low = bn_low->forward(conv3x3->forward(low)) * channel_weights;
  return torch::relu(bn_upsample->forward(conv_upsample->forward(high)) + weighted_low);
}

ChannelUNetImpl::ChannelUNetImpl(const ModelConfig& config) : in_channels_(config.in_channels) {
  const int64_t w1 = detail::scaled_width(64, config, kName);
  const int64_t w2 = 2 * w1, w3 = 4 * w1, w4 = 8 * w1, w5 = 16 * w1;
  conv1 = register_module("conv1", ConvBlock(config.in_channels, w1));
  conv2 = register_module("conv2", ConvBlock(w1, w2));
  conv3 = register_module("conv3", ConvBlock(w2, w3));
  conv4 = register_module("conv4", ConvBlock(w3, w4));
  conv5 = register_module("conv5", ConvBlock(w4, w5));
  // Each decoder level concatenates the skip, the up-convolved features and the GAU output.
  up6 = register_module("up6", up_convolution(w5, w4));
  conv6 = register_module("conv6", ConvBlock(3 * w4, w4));
  up7 = register_module("up7", up_convolution(w4, w3));
  conv7 = register_module("conv7", ConvBlock(3 * w3, w3));
  up8 = register_module("up8", up_convolution(w3, w2));
  conv8 = register_module("conv8", ConvBlock(3 * w2, w2));
  up9 = register_module("up9", up_convolution(w2, w1));
  conv9 = register_module("conv9", ConvBlock(3 * w1, w1));
  conv10 = register_module("conv10", nn::Conv2d(nn::Conv2dOptions(w1, 1, 1)));
  gau_1 = register_module("gau_1", GAU(w5, w4));
  gau_2 = register_module("gau_2", GAU(w4, w3));
  gau_3 = register_module("gau_3", GAU(w3, w2));
  gau_4 = register_module("gau_4", GAU(w2, w1));
}

NetworkOutput ChannelUNetImpl::forward(const torch::Tensor& images) {
  detail::require_images(images, in_channels_, kSizeMultiple, kName);
  const auto pool = [](const torch::Tensor& x) { return torch::max_pool2d(x, 2); };
  auto c1 = conv1->forward(images);
  auto c2 = conv2->forward(pool(c1));
  auto c3 = conv3->forward(pool(c2));
  auto c4 = conv4->forward(pool(c3));
  auto c5 = conv5->forward(pool(c4));
  auto g1 = gau_1->forward(c5, c4);
  auto c6 = conv6->forward(torch::cat({c4, up6->forward(c5), g1}, 1));
  auto g2 = gau_2->forward(g1, c3);
  auto c7 = conv7->forward(torch::cat({c3, up7->forward(c6), g2}, 1));
  auto g3 = gau_3->forward(g2, c2);
  auto c8 = conv8->forward(torch::cat({c2, up8->forward(c7), g3}, 1));
  auto g4 = gau_4->forward(g3, c1);
  auto c9 = conv9->forward(torch::cat({c1, up9->forward(c8), g4}, 1));
  NetworkOutput out;
  out.segmentation = conv10->forward(c9);
  return out;
}

}  // namespace ugs::model
