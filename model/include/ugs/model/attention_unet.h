// Attention U-Net (Oktay et al., "Attention U-Net: Learning Where to Look for the Pancreas",
// MIDL 2018), the comparison network of Table I and the feature extractor of UGS-Net.
//
// Follows LeeJunHyun/Image_Segmentation network.py `AttU_Net` (copied verbatim into
// yanghan-yh/UGS-Net model/Models.py): five ConvBlock levels (widths 64..1024), 2x2 max-pooling, a
// decoder of UpConv (nearest 2x upsampling + 3x3 conv) whose skip features pass an additive
// attention gate (inner width = half the level's width) before concatenation (gated skip,
// upsampled) and a ConvBlock; a 1x1 conv gives the logit. Registered names (Conv1..5, Up5..2,
// Att5..2, Up_conv5..2, Conv_1x1) are the reference's state-dict keys.
//
//   ugs::model::AttUNet net(ugs::model::ModelConfig{"attunet", 1, 64});
//   auto logits = net->forward(torch::randn({8, 1, 64, 64})).segmentation;  // [8, 1, 64, 64]
//
// Input: [B, in_channels, H, W] with H and W multiples of 16; other shapes throw
// std::invalid_argument. Not thread-safe: one forward at a time per instance.
#pragma once

#include <torch/torch.h>

#include "ugs/model/blocks.h"
#include "ugs/model/network.h"

namespace ugs::model {

class AttUNetImpl : public Network {
 public:
  explicit AttUNetImpl(const ModelConfig& config);
  NetworkOutput forward(const torch::Tensor& images) override;

  // The last decoder level's features [B, base_width, H, W], before the 1x1 logit conv: what
  // UGS-Net's Feature Extracting Module calls R.
  torch::Tensor features(const torch::Tensor& images);

 private:
  int64_t in_channels_;
  ConvBlock Conv1{nullptr}, Conv2{nullptr}, Conv3{nullptr}, Conv4{nullptr}, Conv5{nullptr};
  UpConv Up5{nullptr}, Up4{nullptr}, Up3{nullptr}, Up2{nullptr};
  AttentionBlock Att5{nullptr}, Att4{nullptr}, Att3{nullptr}, Att2{nullptr};
  ConvBlock Up_conv5{nullptr}, Up_conv4{nullptr}, Up_conv3{nullptr}, Up_conv2{nullptr};
  torch::nn::Conv2d Conv_1x1{nullptr};
};
TORCH_MODULE(AttUNet);

}  // namespace ugs::model
