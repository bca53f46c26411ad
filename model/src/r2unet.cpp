#include "ugs/model/r2unet.h"

#include "network_checks.h"

namespace ugs::model {

namespace nn = torch::nn;

namespace {

// Four 2x2 max-pools.
constexpr int64_t kSizeMultiple = 16;

}  // namespace

RecurrentBlockImpl::RecurrentBlockImpl(int64_t channels, int recurrences)
    : recurrences(recurrences),
      conv(nn::Conv2d(nn::Conv2dOptions(channels, channels, 3).padding(1)),
           nn::BatchNorm2d(channels), nn::ReLU(nn::ReLUOptions().inplace(true))) {
  register_module("conv", conv);
}

torch::Tensor RecurrentBlockImpl::forward(const torch::Tensor& x) {
  auto state = conv->forward(x);
  for (int step = 0; step < recurrences; ++step) state = conv->forward(x + state);
  return state;
}

RRCNNBlockImpl::RRCNNBlockImpl(int64_t in_channels, int64_t out_channels, int recurrences)
    : RCNN(RecurrentBlock(out_channels, recurrences), RecurrentBlock(out_channels, recurrences)),
      Conv_1x1(nn::Conv2dOptions(in_channels, out_channels, 1)) {
  register_module("RCNN", RCNN);
  register_module("Conv_1x1", Conv_1x1);
}

torch::Tensor RRCNNBlockImpl::forward(const torch::Tensor& x) {
  auto projected = Conv_1x1->forward(x);
  return projected + RCNN->forward(projected);
}

R2UNetImpl::R2UNetImpl(const ModelConfig& config, SkipGating gating)
    : name_(gating == SkipGating::kAttention ? "r2aunet" : "r2unet"),
      in_channels_(config.in_channels) {
  const int64_t w1 = detail::scaled_width(64, config, name_);
  const int64_t w2 = 2 * w1, w3 = 4 * w1, w4 = 8 * w1, w5 = 16 * w1;
  const int t = kRecurrences;
  const bool gated = gating == SkipGating::kAttention;
  // As in Attention U-Net: the gates' inner width is half the level's width.
  const int64_t gate_width = gated ? detail::scaled_width(32, config, name_) : 0;
  // Registered in the reference's order, so that parameters() lists them as PyTorch does.
  RRCNN1 = register_module("RRCNN1", RRCNNBlock(config.in_channels, w1, t));
  RRCNN2 = register_module("RRCNN2", RRCNNBlock(w1, w2, t));
  RRCNN3 = register_module("RRCNN3", RRCNNBlock(w2, w3, t));
  RRCNN4 = register_module("RRCNN4", RRCNNBlock(w3, w4, t));
  RRCNN5 = register_module("RRCNN5", RRCNNBlock(w4, w5, t));
  Up5 = register_module("Up5", UpConv(w5, w4));
  if (gated) Att5 = register_module("Att5", AttentionBlock(w4, w4, 8 * gate_width));
  Up_RRCNN5 = register_module("Up_RRCNN5", RRCNNBlock(2 * w4, w4, t));
  Up4 = register_module("Up4", UpConv(w4, w3));
  if (gated) Att4 = register_module("Att4", AttentionBlock(w3, w3, 4 * gate_width));
  Up_RRCNN4 = register_module("Up_RRCNN4", RRCNNBlock(2 * w3, w3, t));
  Up3 = register_module("Up3", UpConv(w3, w2));
  if (gated) Att3 = register_module("Att3", AttentionBlock(w2, w2, 2 * gate_width));
  Up_RRCNN3 = register_module("Up_RRCNN3", RRCNNBlock(2 * w2, w2, t));
  Up2 = register_module("Up2", UpConv(w2, w1));
  if (gated) Att2 = register_module("Att2", AttentionBlock(w1, w1, gate_width));
  Up_RRCNN2 = register_module("Up_RRCNN2", RRCNNBlock(2 * w1, w1, t));
  Conv_1x1 = register_module("Conv_1x1", nn::Conv2d(nn::Conv2dOptions(w1, 1, 1)));
}

torch::Tensor R2UNetImpl::gated_skip(AttentionBlock& gate, const torch::Tensor& decoder,
                                     const torch::Tensor& skip) {
  return gate.is_empty() ? skip : gate->forward(decoder, skip);
}

NetworkOutput R2UNetImpl::forward(const torch::Tensor& images) {
  detail::require_images(images, in_channels_, kSizeMultiple, name_);
  const auto pool = [](const torch::Tensor& x) { return torch::max_pool2d(x, 2); };
  auto x1 = RRCNN1->forward(images);
  auto x2 = RRCNN2->forward(pool(x1));
  auto x3 = RRCNN3->forward(pool(x2));
  auto x4 = RRCNN4->forward(pool(x3));
  auto x5 = RRCNN5->forward(pool(x4));
  auto d5 = Up5->forward(x5);
  d5 = Up_RRCNN5->forward(torch::cat({gated_skip(Att5, d5, x4), d5}, 1));
  auto d4 = Up4->forward(d5);
  d4 = Up_RRCNN4->forward(torch::cat({gated_skip(Att4, d4, x3), d4}, 1));
  auto d3 = Up3->forward(d4);
  d3 = Up_RRCNN3->forward(torch::cat({gated_skip(Att3, d3, x2), d3}, 1));
  auto d2 = Up2->forward(d3);
  d2 = Up_RRCNN2->forward(torch::cat({gated_skip(Att2, d2, x1), d2}, 1));
  NetworkOutput out;
  out.segmentation = Conv_1x1->forward(d2);
  return out;
}

}  // namespace ugs::model
