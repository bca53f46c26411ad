// The feature-aware filters Gamma of UGS-Net's Feature-Aware Attention Blocks (paper, Section III-C):
// a Gabor-modulated convolution for the union (LC) and annotation (Uni) branches, Otsu's threshold
// for the intersection (HC) branch; and the published V1 code's stand-in for Otsu.
//
//   GaborConv2d gabor(GaborConv2dOptions(32, 8).kernel_size(3));   // 32 -> 8 x 4 orientations
//   auto y = gabor(x);                                              // [B, 32, H, W] -> [B, 32, H, W]
//   auto t = otsu_threshold(x);                                     // [B, C]: one per plane
//   auto core = otsu_foreground(x);                                 // x where x >= t, else 0
//
// Everything runs as tensor operations on the tensor's device (no host round trip, no loop over
// planes). Errors: std::invalid_argument naming the bad option or shape.
// Thread safety: the free functions are pure; a module is not safe to call concurrently.
#pragma once

#include <torch/torch.h>

namespace ugs::model {

// The real part of the Gabor filter bank of Luan et al., "Gabor Convolutional Networks" (IEEE TIP
// 2018), as their GCN code builds it: orientations m = 0..M-1 at angle m*pi/M, wave number
// (pi/2) / sqrt(2)^(scale-1), sigma = pi, each orientation min-max normalised to [0, 1].
// [M, k, k]; all ones when k == 1 (a 1x1 filter carries no orientation).
torch::Tensor gabor_filter_bank(int64_t orientations, int64_t kernel_size, int64_t scale = 1);

struct GaborConv2dOptions {
  GaborConv2dOptions(int64_t in_channels, int64_t out_channels)
      : in_channels_(in_channels), out_channels_(out_channels) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);    // per orientation: the layer outputs out_channels * M
  TORCH_ARG(int64_t, kernel_size) = 1;  // odd; padded to keep H x W
  TORCH_ARG(int64_t, orientations) = 4;
  TORCH_ARG(int64_t, scale) = 1;
};

// A Gabor-modulated convolution (GConv with expand = True and no bias, the configuration UGS-Net
// uses): the learnable weight [out, in, M, k, k] is modulated by the fixed bank [M, k, k] into the
// weight of an ordinary convolution from the input repeated M times to out * M channels, output
// channel o*M + m seeing orientation m. Because every expanded input copy is the same, the layer is
// computed as one convolution of the unexpanded input with weight
//   W'[o*M + m, i] = (sum_n weight[o, i, n]) * bank[m],
// which is the same function at a quarter of the input memory. Registered names `weight` and
// `MFilters` match the published state dict.
struct GaborConv2dImpl : torch::nn::Module {
  explicit GaborConv2dImpl(const GaborConv2dOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  // The convolution weight [out*M, in, k, k] that forward applies.
  torch::Tensor modulated_weight() const;

  GaborConv2dOptions options;
  torch::Tensor weight;
  torch::Tensor MFilters;
};
TORCH_MODULE(GaborConv2d);

// Otsu's threshold (Otsu 1979) of every [H, W] plane of x [B, C, H, W]: the histogram of the plane
// over `bins` equal bins spanning [min, max], and the bin edge that maximises the between-class
// variance (the first one on ties). Returns [B, C] thresholds t: the upper foreground class is
// x >= t. A plane of one value has no split: t = +inf, an empty foreground. No gradient flows
// through t (a threshold is piecewise constant in x). The statistics are taken in float64.
torch::Tensor otsu_threshold(const torch::Tensor& x, int64_t bins = 256);

// x where x >= its plane's Otsu threshold, 0 elsewhere: Otsu's foreground of each feature map with
// its values kept. Differentiable in x (gradient 1 on the foreground, 0 elsewhere), which is how the
// HC block of `ugsnet` lets its query/key/value learn (docs/model.md).
torch::Tensor otsu_foreground(const torch::Tensor& x, int64_t bins = 256);

// What the published V1 code calls Otsu: a fixed three-level quantisation, 0 below -0.5, 128 in
// [-0.5, 0.5), 255 from 0.5 up, computed on a detached copy, so nothing before it gets gradient.
torch::Tensor published_three_level(const torch::Tensor& x);

}  // namespace ugs::model
