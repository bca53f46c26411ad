#include "ugs/model/attention_unet.h"

#include "network_checks.h"

namespace ugs::model {

namespace nn = torch::nn;

namespace {

constexpr const char* kName = "attunet";
// Four 2x2 max-pools.
constexpr int64_t kSizeMultiple = 16;

}  // namespace

AttUNetImpl::AttUNetImpl(const ModelConfig& config) : in_channels_(config.in_channels) {
  const int64_t w1 = detail::scaled_width(64, config, kName);
  const int64_t w2 = 2 * w1, w3 = 4 * w1, w4 = 8 * w1, w5 = 16 * w1;
  // The gates' inner width is half the level's width (reference F_int = 256, 128, 64, 32).
  const int64_t gate_width = detail::scaled_width(32, config, kName);
  Conv1 = register_module("Conv1", ConvBlock(config.in_channels, w1));
  Conv2 = register_module("Conv2", ConvBlock(w1, w2));
  Conv3 = register_module("Conv3", ConvBlock(w2, w3));
  Conv4 = register_module("Conv4", ConvBlock(w3, w4));
  Conv5 = register_module("Conv5", ConvBlock(w4, w5));
  Up5 = register_module("Up5", UpConv(w5, w4));
  Att5 = register_module("Att5", AttentionBlock(w4, w4, 8 * gate_width));
  Up_conv5 = register_module("Up_conv5", ConvBlock(2 * w4, w4));
  Up4 = register_module("Up4", UpConv(w4, w3));
  Att4 = register_module("Att4", AttentionBlock(w3, w3, 4 * gate_width));
  Up_conv4 = register_module("Up_conv4", ConvBlock(2 * w3, w3));
  Up3 = register_module("Up3", UpConv(w3, w2));
  Att3 = register_module("Att3", AttentionBlock(w2, w2, 2 * gate_width));
  Up_conv3 = register_module("Up_conv3", ConvBlock(2 * w2, w2));
  Up2 = register_module("Up2", UpConv(w2, w1));
  Att2 = register_module("Att2", AttentionBlock(w1, w1, gate_width));
  Up_conv2 = register_module("Up_conv2", ConvBlock(2 * w1, w1));
  Conv_1x1 = register_module("Conv_1x1", nn::Conv2d(nn::Conv2dOptions(w1, 1, 1)));
}

torch::Tensor AttUNetImpl::features(const torch::Tensor& images) {
  detail::require_images(images, in_channels_, kSizeMultiple, kName);
  const auto pool = [](const torch::Tensor& x) { return torch::max_pool2d(x, 2); };
  auto x1 = Conv1->forward(images);
  auto x2 = Conv2->forward(pool(x1));
  auto x3 = Conv3->forward(pool(x2));
  auto x4 = Conv4->forward(pool(x3));
  auto x5 = Conv5->forward(pool(x4));
  auto d5 = Up5->forward(x5);
  d5 = Up_conv5->forward(torch::cat({Att5->forward(d5, x4), d5}, 1));
  auto d4 = Up4->forward(d5);
  d4 = Up_conv4->forward(torch::cat({Att4->forward(d4, x3), d4}, 1));
  auto d3 = Up3->forward(d4);
  d3 = Up_conv3->forward(torch::cat({Att3->forward(d3, x2), d3}, 1));
  auto d2 = Up2->forward(d3);
  return Up_conv2->forward(torch::cat({Att2->forward(d2, x1), d2}, 1));
}

NetworkOutput AttUNetImpl::forward(const torch::Tensor& images) {
  NetworkOutput out;
  out.segmentation = Conv_1x1->forward(features(images));
  return out;
}

}  // namespace ugs::model
