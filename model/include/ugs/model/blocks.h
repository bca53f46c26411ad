// Building blocks shared by the U-Net family (U-Net, Channel U-Net, Attention U-Net, the UGS-Net
// backbone).
// Registered names follow the published PyTorch code (and its source, LeeJunHyun/Image_Segmentation),
// so that state-dict keys such as `Conv1.conv.0.weight` or `Att5.W_g.0.weight` match it exactly.
#pragma once

#include <torch/torch.h>

namespace ugs::model {

// [3x3 conv (bias) -> BatchNorm -> ReLU] x 2, as `conv.{0,1,3,4}`.
struct ConvBlockImpl : torch::nn::Module {
  ConvBlockImpl(int64_t in_channels, int64_t out_channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Sequential conv;
};
TORCH_MODULE(ConvBlock);

// 2x2 transposed convolution with stride 2: the up-convolution of the original U-Net, which U-Net
// and Channel U-Net keep (the Attention U-Net family upsamples with UpConv instead).
torch::nn::ConvTranspose2d up_convolution(int64_t in_channels, int64_t out_channels);

// Nearest 2x upsampling -> 3x3 conv -> BatchNorm -> ReLU, as `up.{1,2}`.
struct UpConvImpl : torch::nn::Module {
  UpConvImpl(int64_t in_channels, int64_t out_channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Sequential up;
};
TORCH_MODULE(UpConv);

// Additive attention gate of Attention U-Net (Oktay et al. 2018): the decoder signal g decides which
// skip features x pass. W_g, W_x = 1x1 conv + BN; psi = 1x1 conv to one channel + BN + sigmoid.
struct AttentionBlockImpl : torch::nn::Module {
  AttentionBlockImpl(int64_t gate_channels, int64_t skip_channels, int64_t inner_channels);
  torch::Tensor forward(const torch::Tensor& g, const torch::Tensor& x);
  torch::nn::Sequential W_g, W_x, psi;
  torch::nn::ReLU relu;
};
TORCH_MODULE(AttentionBlock);

}  // namespace ugs::model
