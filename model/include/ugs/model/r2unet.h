// R2U-Net (Alom et al., "Recurrent Residual Convolutional Neural Network based on U-Net (R2U-Net)
// for Medical Image Segmentation", arXiv:1802.06955, 2018) and R2AU-Net, its variant with the
// attention gates of Attention U-Net on the skip connections (Table I cites Zuo, Chen, Wang,
// Secur. Commun. Netw. 2021; the published UGS-Net code trains LeeJunHyun's `R2AttU_Net`).
//
// Follows LeeJunHyun/Image_Segmentation network.py (`R2U_Net`, `R2AttU_Net`, copied verbatim into
// yanghan-yh/UGS-Net model/Models.py), with t = 2 recurrences: the U-Net of Attention U-Net's
// layout (widths 64..1024, UpConv decoder, concatenation (skip, upsampled)) whose ConvBlocks are
// recurrent residual blocks. Registered names (RRCNN1..5, Up5..2, Att5..2, Up_RRCNN5..2, Conv_1x1,
// and inside the blocks RCNN.{0,1}.conv.{0,1}, Conv_1x1) are the reference's state-dict keys.
//
//   using namespace ugs::model;
//   R2UNet net(ModelConfig{"r2aunet", 1, 64}, SkipGating::kAttention);
//   auto logits = net->forward(torch::randn({8, 1, 64, 64})).segmentation;  // [8, 1, 64, 64]
//
// Input: [B, in_channels, H, W] with H and W multiples of 16; other shapes throw
// std::invalid_argument. Not thread-safe: one forward at a time per instance.
#pragma once

#include <torch/torch.h>

#include "ugs/model/blocks.h"
#include "ugs/model/network.h"

namespace ugs::model {

// Recurrent convolutional layer (RCL): one [3x3 conv -> BN -> ReLU] (`conv.{0,1}`) applied t + 1
// times with shared weights, x1 = f(x), then x1 = f(x + x1) t times.
struct RecurrentBlockImpl : torch::nn::Module {
  RecurrentBlockImpl(int64_t channels, int recurrences);
  torch::Tensor forward(const torch::Tensor& x);
  int recurrences;
  torch::nn::Sequential conv;
};
TORCH_MODULE(RecurrentBlock);

// Recurrent residual block: a 1x1 conv to the output width (`Conv_1x1`), then two recurrent layers
// (`RCNN.{0,1}`) whose result is added to the 1x1 conv's output.
struct RRCNNBlockImpl : torch::nn::Module {
  RRCNNBlockImpl(int64_t in_channels, int64_t out_channels, int recurrences);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Sequential RCNN;
  torch::nn::Conv2d Conv_1x1;
};
TORCH_MODULE(RRCNNBlock);

// Whether the skip connections pass through Attention U-Net's attention gates.
enum class SkipGating { kNone, kAttention };

// R2U-Net with SkipGating::kNone, R2AU-Net with SkipGating::kAttention.
class R2UNetImpl : public Network {
 public:
  // The reference's number of recurrences per recurrent layer.
  static constexpr int kRecurrences = 2;

  R2UNetImpl(const ModelConfig& config, SkipGating gating);
  NetworkOutput forward(const torch::Tensor& images) override;

 private:
  // The skip features of one level, gated by the decoder signal when the network has gates.
  torch::Tensor gated_skip(AttentionBlock& gate, const torch::Tensor& decoder,
                           const torch::Tensor& skip);

  const char* name_;
  int64_t in_channels_;
  RRCNNBlock RRCNN1{nullptr}, RRCNN2{nullptr}, RRCNN3{nullptr}, RRCNN4{nullptr}, RRCNN5{nullptr};
  UpConv Up5{nullptr}, Up4{nullptr}, Up3{nullptr}, Up2{nullptr};
  AttentionBlock Att5{nullptr}, Att4{nullptr}, Att3{nullptr}, Att2{nullptr};
  RRCNNBlock Up_RRCNN5{nullptr}, Up_RRCNN4{nullptr}, Up_RRCNN3{nullptr}, Up_RRCNN2{nullptr};
  torch::nn::Conv2d Conv_1x1{nullptr};
};
TORCH_MODULE(R2UNet);

}  // namespace ugs::model
