// UGS-Net (Yang, Wang et al., "Lung Nodule Segmentation and Low-Confidence Region Prediction with an
// Uncertainty-Aware Attention Mechanism", the journal version) and its published preliminary version
// UGS-Net-V1 (MICCAI 2022, github.com/yanghan-yh/UGS-Net), as ONE configurable network, and the
// ablation variants of the paper's Table II as configurations of it. docs/model.md explains every
// choice the paper leaves open.
//
//   images [B, in, H, W]
//     -> Feature Extracting Module: Attention U-Net (widths w, 2w, .., 2^(depth-1) w)  -> R [B, w, H, W]
//     -> Uncertainty-Aware Module: branches R_HC, R_LC, R_Uni = 3x3 conv w -> w/2 (pred_1/2/3),
//        heads I' = pred1(R_HC), U' = pred2(R_LC), GT'_Uni = pred3(R_Uni) (1x1 conv -> 1)
//     -> Intersection-Union Constraining Module (kJournal):
//        R'_z = concat(R_z, Gamma_z(A(R_z))) for z in {Uni, LC, HC} (conv_Atten3, 2, 1), w channels;
//        S_z = distance_weights(R'_z, R); X_S = conv(concat(S_Uni R'_Uni, S_LC R'_LC, S_HC R'_HC, R))
//        or the published fusion (kPublishedV1): R''_z = R_z + gamma Gamma_z(attention(R_z)),
//        X_S = conv(concat(R''_HC, R''_Uni, R''_LC, R)).
//
//   ModelConfig config;  config.name = "ugsnet-v1";  config.in_channels = 3;
//   auto net = make_ugsnet(config);                  // 35,069,675 parameters, the published names
//   NetworkOutput out = net->forward(images);        // segmentation, union_mask, intersection,
//                                                    // annotation: logits [B, 1, H, W]
//   auto mcm = multi_confidence_mask(out);           // [B, 1, H, W] in [0, 1]
//
// Registered names follow the published state dict (reference/ugsnet_v1_state_dict.tsv) wherever
// the part exists there, so published V1 weights load into `ugsnet-v1`, and into `ugsnet` for the
// backbone and the branches.
// Errors: std::invalid_argument for an unknown variant, an inconsistent option, or an input that is
// undefined, empty, of the wrong channel count or of a size not divisible by 2^(depth-1).
// Thread safety: a network is a torch::nn::Module; do not call forward concurrently on one instance.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ugs/model/blocks.h"
#include "ugs/model/filters.h"
#include "ugs/model/network.h"

namespace ugs::model {

// Gamma, the feature-aware filter of a Feature-Aware Attention Block.
enum class FeatureFilter {
  kGabor,                 // GaborConv2d, channels -> channels
  kOtsu,                  // otsu_foreground: x where x >= Otsu(x), per (sample, channel)
  kPublishedThreeLevel,   // published_three_level: detached; the block's q/k/v get no gradient
};

// How a block combines its input with the filtered attention.
enum class FeatureAwareForm {
  kPublishedResidual,  // x + gamma * Gamma(attention(x))                  (published code), C out
  kConcat,             // concat(x, Gamma(x + gamma * attention(x)))       (paper, eq. 1), 2C out
};

struct FeatureAwareAttentionOptions {
  FeatureAwareAttentionOptions(int64_t channels, FeatureFilter filter)
      : channels_(channels), filter_(filter) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(FeatureFilter, filter);
  TORCH_ARG(FeatureAwareForm, form) = FeatureAwareForm::kConcat;
  TORCH_ARG(int64_t, gabor_kernel_size) = 3;
  TORCH_ARG(int64_t, gabor_orientations) = 4;
};

// A Feature-Aware Attention Block: SAGAN self-attention over the pixels (query/key: 1x1 conv to
// max(1, C/8) channels, value: 1x1 conv to C, learnable gamma initialised to 0) followed by the
// filter Gamma. Names: query_conv, key_conv, value_conv, gamma, gaborlayer (Gabor filter only).
struct FeatureAwareAttentionImpl : torch::nn::Module {
  explicit FeatureAwareAttentionImpl(const FeatureAwareAttentionOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  int64_t output_channels() const;

  FeatureAwareAttentionOptions options;
  torch::nn::Conv2d query_conv{nullptr}, key_conv{nullptr}, value_conv{nullptr};
  GaborConv2d gaborlayer{nullptr};
  torch::Tensor gamma;

 private:
  torch::Tensor attend(const torch::Tensor& x);
  torch::Tensor filter(const torch::Tensor& x);
};
TORCH_MODULE(FeatureAwareAttention);

// One [3x3 conv (bias) -> BatchNorm -> ReLU], as `conv.{0,1}`: a branch of the Uncertainty-Aware
// Module (the published `single_conv`).
struct BranchConvImpl : torch::nn::Module {
  BranchConvImpl(int64_t in_channels, int64_t out_channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Sequential conv;
};
TORCH_MODULE(BranchConv);

enum class UgsArchitecture {
  kPublishedV1,  // the published code's fusion: residual blocks, concat with R, conv
  kJournal,      // the paper's Intersection-Union Constraining Module
};

struct UgsNetOptions {
  int64_t in_channels = 3;
  int64_t base_width = 64;  // R's channels; level l has base_width * 2^(l-1); branches base_width/2
  int64_t depth = 5;        // levels of the Attention U-Net, >= 2
  UgsArchitecture architecture = UgsArchitecture::kJournal;
  int64_t gabor_kernel_size = 3;  // 1 = the published layer (its bank is all ones)
  int64_t gabor_orientations = 4;
  FeatureFilter hc_filter = FeatureFilter::kOtsu;  // the published V1: kPublishedThreeLevel
};

class UgsNet : public Network {
 public:
  explicit UgsNet(const UgsNetOptions& options);
  NetworkOutput forward(const torch::Tensor& images) override;
  const UgsNetOptions& options() const { return options_; }

 private:
  torch::Tensor extract_features(const torch::Tensor& images);

  UgsNetOptions options_;
  std::vector<ConvBlock> encoders_;      // Conv1..Conv<depth>
  std::vector<UpConv> ups_;              // ups_[i] is Up<i+2>
  std::vector<AttentionBlock> gates_;    // Att<i+2>
  std::vector<ConvBlock> decoders_;      // Up_conv<i+2>
  BranchConv hc_branch_{nullptr}, lc_branch_{nullptr}, uni_branch_{nullptr};  // pred_1, _2, _3
  torch::nn::Conv2d intersection_head_{nullptr}, union_head_{nullptr}, annotation_head_{nullptr};
  FeatureAwareAttention hc_block_{nullptr}, lc_block_{nullptr}, uni_block_{nullptr};  // conv_Atten1..3
  ConvBlock fusion_{nullptr};            // conv_fusion1
  torch::nn::Conv2d segmentation_head_{nullptr};  // conv_fusion2
};

// The IUCM's distance weights: for refined maps R'_z (each with R's channel count) and R,
//   d_z(p) = || R'_z(p) - R(p) ||_2 over channels (+ a 1e-12 guard under the root),
//   S_z(p) = d_z(p) / sum_z' d_z'(p),
// one [B, 1, H, W] map per z, summing to 1 at every pixel.
std::vector<torch::Tensor> distance_weights(const std::vector<torch::Tensor>& refined,
                                            const torch::Tensor& features);

// The Multi-Confidence Mask, Normal(U' + I') = (sigmoid(U') + sigmoid(I')) / 2: about 1 where both
// heads see nodule (high confidence), 1/2 where only the union does (low confidence), 0 outside.
torch::Tensor multi_confidence_mask(const NetworkOutput& output);

// A row of the paper's Table II: the network and which heads the Multiple Annotation Fusion Loss
// supervises (every annotator) instead of the first annotation alone.
struct UgsVariant {
  std::string name;         // ModelConfig::name
  std::string table_row;    // as Table II writes it
  UgsArchitecture architecture;
  bool fusion_loss_on_annotation_head;  // Phi_a on GT'_Uni
  bool fusion_loss_on_segmentation;     // Phi_b on X_S
};

// ugsnet-v1, ugsnet-v1-phi-a, ugsnet-v1-phi-b, ugsnet-v1-phi-ab, ugsnet-v1-iucm, ugsnet: Table II order.
const std::vector<UgsVariant>& ugsnet_variants();
// Throws std::invalid_argument naming the unknown name and the known ones.
const UgsVariant& ugsnet_variant(const std::string& name);

// The options of config.name's variant: kPublishedV1 variants use the published Gabor (k = 1) and
// three-level "Otsu"; kJournal ones a 3x3 Gabor bank and Otsu. config.gabor_kernel_size > 0
// overrides the Gabor size.
UgsNetOptions ugsnet_options(const ModelConfig& config);
std::shared_ptr<Network> make_ugsnet(const ModelConfig& config);

}  // namespace ugs::model
