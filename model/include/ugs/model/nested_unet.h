// Nested U-Net, "UNet++" (Zhou, Siddiquee, Tajbakhsh, Liang, "UNet++: A Nested U-Net Architecture
// for Medical Image Segmentation", DLMIA 2018).
//
// Follows 4uiiurz1/pytorch-nested-unet archs.py `NestedUNet` without deep supervision (its
// default): nodes X(i,j) = VGGBlock(concat(X(i,0..j-1), up(X(i+1,j-1)))) on five levels of
// widths 32..512, 2x2 max-pooling, bilinear 2x upsampling (align_corners), a 1x1 conv on X(0,4) for
// the logit. Registered names (conv{i}_{j} with conv1, bn1, conv2, bn2 inside, final) are the
// reference's state-dict keys.
//
// Widths scale by base_width/64 like every network here, so the reference's 32..512 are those of
// base_width 64 (the default) and base_width must be even.
//
//   ugs::model::NestedUNet net(ugs::model::ModelConfig{"nested-unet", 1, 64});
//   auto logits = net->forward(torch::randn({8, 1, 64, 64})).segmentation;  // [8, 1, 64, 64]
//
// Input: [B, in_channels, H, W] with H and W multiples of 16; other shapes throw
// std::invalid_argument. Not thread-safe: one forward at a time per instance.
#pragma once

#include <torch/torch.h>

#include "ugs/model/network.h"

namespace ugs::model {

// [3x3 conv -> BN -> ReLU] to `middle_channels`, then [3x3 conv -> BN -> ReLU] to `out_channels`,
// as conv1, bn1, conv2, bn2.
struct VGGBlockImpl : torch::nn::Module {
  VGGBlockImpl(int64_t in_channels, int64_t middle_channels, int64_t out_channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1, conv2;
  torch::nn::BatchNorm2d bn1, bn2;
};
TORCH_MODULE(VGGBlock);

class NestedUNetImpl : public Network {
 public:
  explicit NestedUNetImpl(const ModelConfig& config);
  NetworkOutput forward(const torch::Tensor& images) override;

 private:
  int64_t in_channels_;
  VGGBlock conv0_0{nullptr}, conv1_0{nullptr}, conv2_0{nullptr}, conv3_0{nullptr}, conv4_0{nullptr};
  VGGBlock conv0_1{nullptr}, conv1_1{nullptr}, conv2_1{nullptr}, conv3_1{nullptr};
  VGGBlock conv0_2{nullptr}, conv1_2{nullptr}, conv2_2{nullptr};
  VGGBlock conv0_3{nullptr}, conv1_3{nullptr};
  VGGBlock conv0_4{nullptr};
  torch::nn::Conv2d final_conv{nullptr};  // registered as `final`
};
TORCH_MODULE(NestedUNet);

}  // namespace ugs::model
