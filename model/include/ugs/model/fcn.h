// FCN-32s (Long, Shelhamer, Darrell, "Fully Convolutional Networks for Semantic Segmentation",
// CVPR 2015), the first network of the UGS-Net paper's Table I.
//
// Follows wkentaro/pytorch-fcn (torchfcn/models/fcn32s.py, itself a port of the authors' Caffe
// voc-fcn32s): VGG16 convolutions (13 x [3x3 conv + ReLU], 5 max-pools with ceil_mode), fc6 as a
// 7x7 conv to 4096 channels, fc7 as a 1x1 conv, both with Dropout2d(0.5), a 1x1 class scorer and
// one learned 64x64 transposed conv of stride 32 back to the input resolution. Registered names
// (conv1_1 .. conv5_3, fc6, fc7, score_fr, upscore) are that implementation's state-dict keys.
//
// Adaptations (docs/model-baselines.md): one output class (a logit map), `in_channels` input
// channels, widths scaled by base_width/64 (reference: 64..512 and 4096 at base_width 64), no
// ImageNet weights (PyTorch default initialisation; the upsampling starts as bilinear
// interpolation, as in the paper). A 64x64 crop needs no resizing: the first conv pads by 100 as in
// the reference. Without that, 64x64 pools down to 2x2, smaller than fc6's 7x7 window; with it,
// pool5 is 9x9, fc6 gives 3x3, the upsampling 128x128, cropped back to 64x64 at the reference's
// offset 19.
//
//   ugs::model::FCN32s net(ugs::model::ModelConfig{"fcn32s", 1, 64});
//   auto logits = net->forward(torch::randn({8, 1, 64, 64})).segmentation;  // [8, 1, 64, 64]
//
// Input: [B, in_channels, H, W] with H and W multiples of 32; other shapes throw
// std::invalid_argument. Not thread-safe: one forward at a time per instance.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "ugs/model/network.h"

namespace ugs::model {

class FCN32sImpl : public Network {
 public:
  explicit FCN32sImpl(const ModelConfig& config);
  NetworkOutput forward(const torch::Tensor& images) override;

 private:
  int64_t in_channels_;
  // VGG16's five stages; stage s holds conv{s+1}_1, conv{s+1}_2, ... and ends in a max-pool.
  std::vector<std::vector<torch::nn::Conv2d>> stages_;
  torch::nn::Conv2d fc6{nullptr}, fc7{nullptr}, score_fr{nullptr};
  torch::nn::ConvTranspose2d upscore{nullptr};
};
TORCH_MODULE(FCN32s);

}  // namespace ugs::model
