// Channel U-Net, Table I's last comparison network (cited as Chen et al., "Channel-Unet: A Spatial
// Channel-Wise Convolutional Neural Network for Liver and Tumors Segmentation", Front. Genet. 10,
// 2019, whose authors published no code we could find).
//
// Follows the public implementation that carries the name, Andy-zhujunwen/UNET-ZOO channel_unet.py
// `myChannelUnet`, the collection whose U-Net layout and names the published UGS-Net baselines
// share: the U-Net of unet.h (widths 64..1024, 2x2 transposed-conv up-sampling) in which every
// decoder level also receives a Global Attention Upsample (GAU) branch. Decoder level k
// concatenates (skip, up-convolved, GAU) and so has three times the level's width at its input. The
// GAU chain starts from the bottleneck and feeds each level's GAU output into the next. Registered
// names (conv1..conv10, up6..up9, gau_1..gau_4) are the reference's state-dict keys. What this
// takes from the paper and what it infers: docs/model-baselines.md.
//
//   ugs::model::ChannelUNet net(ugs::model::ModelConfig{"channel-unet", 1, 64});
//   auto logits = net->forward(torch::randn({8, 1, 64, 64})).segmentation;  // [8, 1, 64, 64]
//
// Input: [B, in_channels, H, W] with H and W multiples of 16; other shapes throw
// std::invalid_argument. Not thread-safe: one forward at a time per instance.
#pragma once

#include <torch/torch.h>

#include "ugs/model/blocks.h"
#include "ugs/model/network.h"

namespace ugs::model {

// Global Attention Upsample (Li et al., Pyramid Attention Network, BMVC 2018): the high-level map's
// global average, through a 1x1 conv and ReLU, weights the low-level map's channels (after 3x3 conv
// + BN); the result is added to the high-level map upsampled by a 4x4 stride-2 transposed conv +
// BN, then ReLU. `bn_high` is registered because the reference defines it, so that its state dicts
// load, but the reference never applies it and neither does this.
struct GAUImpl : torch::nn::Module {
  GAUImpl(int64_t high_channels, int64_t low_channels);
  torch::Tensor forward(const torch::Tensor& high, const torch::Tensor& low);
  torch::nn::Conv2d conv3x3;
  torch::nn::BatchNorm2d bn_low;
  torch::nn::Conv2d conv1x1;
  torch::nn::BatchNorm2d bn_high;
  torch::nn::ConvTranspose2d conv_upsample;
  torch::nn::BatchNorm2d bn_upsample;
};
TORCH_MODULE(GAU);

class ChannelUNetImpl : public Network {
 public:
  explicit ChannelUNetImpl(const ModelConfig& config);
  NetworkOutput forward(const torch::Tensor& images) override;

 private:
  int64_t in_channels_;
  ConvBlock conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr}, conv5{nullptr};
  torch::nn::ConvTranspose2d up6{nullptr}, up7{nullptr}, up8{nullptr}, up9{nullptr};
  ConvBlock conv6{nullptr}, conv7{nullptr}, conv8{nullptr}, conv9{nullptr};
  torch::nn::Conv2d conv10{nullptr};
  GAU gau_1{nullptr}, gau_2{nullptr}, gau_3{nullptr}, gau_4{nullptr};
};
TORCH_MODULE(ChannelUNet);

}  // namespace ugs::model
