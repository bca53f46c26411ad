// U-Net (Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical Image
// Segmentation", MICCAI 2015), as the published UGS-Net code trains it for Table I
// (yanghan-yh/UGS-Net, model/Models.py `U_Net`, instantiated by trainner_baseline.py).
//
// Five levels of [3x3 conv -> BN -> ReLU] x 2 (ConvBlock, widths 64..1024 at base_width 64), 2x2
// max-pooling, and the paper's learned 2x2 up-convolution (a stride-2 transposed conv halving the
// channels) followed by concatenation (upsampled, skip) and a ConvBlock; a 1x1 conv gives the
// logit. Padded convolutions keep every map the size of its level, so no cropping is needed.
// Registered names conv1..conv10, up6..up9 are the reference's state-dict keys.
//
// Initialisation follows the reference, which follows the paper: every Conv2d draws its weights
// from N(0, 2/n) with n = k*k*out_channels and zeroes its bias; every BatchNorm draws its scale
// from N(1, 0.02^2). The transposed convs keep PyTorch's default, as in the reference.
//
//   ugs::model::UNet net(ugs::model::ModelConfig{"unet", 1, 64});
//   auto logits = net->forward(torch::randn({8, 1, 64, 64})).segmentation;  // [8, 1, 64, 64]
//
// Input: [B, in_channels, H, W] with H and W multiples of 16; other shapes throw
// std::invalid_argument. Not thread-safe: one forward at a time per instance.
#pragma once

#include <torch/torch.h>

#include "ugs/model/blocks.h"
#include "ugs/model/network.h"

namespace ugs::model {

class UNetImpl : public Network {
 public:
  explicit UNetImpl(const ModelConfig& config);
  NetworkOutput forward(const torch::Tensor& images) override;

 private:
  int64_t in_channels_;
  ConvBlock conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr}, conv5{nullptr};
  torch::nn::ConvTranspose2d up6{nullptr}, up7{nullptr}, up8{nullptr}, up9{nullptr};
  ConvBlock conv6{nullptr}, conv7{nullptr}, conv8{nullptr}, conv9{nullptr};
  torch::nn::Conv2d conv10{nullptr};
};
TORCH_MODULE(UNet);

}  // namespace ugs::model
