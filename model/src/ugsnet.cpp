#include "ugs/model/ugsnet.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "network_checks.h"
#include "ugs/model/attention.h"

namespace ugs::model {

namespace nn = torch::nn;

namespace {

nn::Conv2d conv1x1(int64_t in_channels, int64_t out_channels) {
  return nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, 1));
}

}  // namespace

FeatureAwareAttentionImpl::FeatureAwareAttentionImpl(const FeatureAwareAttentionOptions& options_)
    : options(options_) {
  const int64_t channels = options.channels();
  if (options.filter() == FeatureFilter::kPublishedThreeLevel &&
      options.form() != FeatureAwareForm::kPublishedResidual) {
    throw std::invalid_argument(
        "FeatureAwareAttention: the published three-level filter only exists in the published "
        "residual block (it would leave the concat block with no gradient at all)");
  }
  const int64_t key_channels = std::max<int64_t>(1, channels / 8);
  // Registration order gives the published state-dict order: gamma, query, key, value, gabor.
  gamma = register_parameter("gamma", torch::zeros({1}));
  query_conv = register_module("query_conv", conv1x1(channels, key_channels));
  key_conv = register_module("key_conv", conv1x1(channels, key_channels));
  value_conv = register_module("value_conv", conv1x1(channels, channels));
  if (options.filter() == FeatureFilter::kGabor) {
    const int64_t orientations = options.gabor_orientations();
    if (orientations < 1 || channels % orientations != 0) {
      throw std::invalid_argument("FeatureAwareAttention: " + std::to_string(channels) +
                                  " channels do not split into " + std::to_string(orientations) +
                                  " Gabor orientations");
    }
    gaborlayer = register_module(
        "gaborlayer", GaborConv2d(GaborConv2dOptions(channels, channels / orientations)
                                      .kernel_size(options.gabor_kernel_size())
                                      .orientations(orientations)));
  }
}

int64_t FeatureAwareAttentionImpl::output_channels() const {
  return options.form() == FeatureAwareForm::kConcat ? 2 * options.channels() : options.channels();
}

torch::Tensor FeatureAwareAttentionImpl::attend(const torch::Tensor& x) {
  const int64_t batch = x.size(0);
  const int64_t pixels = x.size(2) * x.size(3);
  auto q = query_conv(x).view({batch, -1, pixels});
  auto k = key_conv(x).view({batch, -1, pixels});
  auto v = value_conv(x).view({batch, -1, pixels});
  return pixel_attention(q, k, v).reshape(x.sizes());
}

torch::Tensor FeatureAwareAttentionImpl::filter(const torch::Tensor& x) {
  switch (options.filter()) {
    case FeatureFilter::kGabor:
      return gaborlayer(x);
    case FeatureFilter::kOtsu:
      return otsu_foreground(x);
    case FeatureFilter::kPublishedThreeLevel:
      return published_three_level(x);
  }
  throw std::logic_error("FeatureAwareAttention: unknown filter");
}

torch::Tensor FeatureAwareAttentionImpl::forward(const torch::Tensor& x) {
  if (options.form() == FeatureAwareForm::kConcat) {
    return torch::cat({x, filter(x + gamma * attend(x))}, 1);
  }
  if (options.filter() == FeatureFilter::kPublishedThreeLevel) {
    // The published block detaches the attention output before quantising it, so query, key and
    // value never get a gradient: skip building (and storing) their graph at all.
    torch::Tensor levels;
    {
      torch::NoGradGuard no_grad;
      levels = filter(attend(x));
    }
    return x + gamma * levels;
  }
  return x + gamma * filter(attend(x));
}

BranchConvImpl::BranchConvImpl(int64_t in_channels, int64_t out_channels)
    : conv(nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, 3).padding(1)),
           nn::BatchNorm2d(out_channels), nn::ReLU(nn::ReLUOptions().inplace(true))) {
  register_module("conv", conv);
}

torch::Tensor BranchConvImpl::forward(const torch::Tensor& x) { return conv->forward(x); }

UgsNet::UgsNet(const UgsNetOptions& options) : options_(options) {
  const int64_t width = options.base_width;
  if (options.in_channels < 1 || options.depth < 2 || width < 2 || width % 2 != 0) {
    throw std::invalid_argument("UgsNet: need in_channels >= 1, depth >= 2 and an even base_width >= 2, got " +
                                std::to_string(options.in_channels) + ", " +
                                std::to_string(options.depth) + ", " + std::to_string(width));
  }
  auto level_width = [&](int64_t level) { return width << (level - 1); };  // level 1..depth
  for (int64_t level = 1; level <= options.depth; ++level) {
    const int64_t in = level == 1 ? options.in_channels : level_width(level - 1);
    encoders_.push_back(register_module("Conv" + std::to_string(level), ConvBlock(in, level_width(level))));
  }
  ups_.resize(options.depth - 1, nullptr);
  gates_.resize(options.depth - 1, nullptr);
  decoders_.resize(options.depth - 1, nullptr);
  for (int64_t level = options.depth; level >= 2; --level) {
    const std::string suffix = std::to_string(level);
    const int64_t skip = level_width(level - 1);
    ups_[level - 2] = register_module("Up" + suffix, UpConv(level_width(level), skip));
    gates_[level - 2] = register_module("Att" + suffix, AttentionBlock(skip, skip, skip / 2));
    decoders_[level - 2] = register_module("Up_conv" + suffix, ConvBlock(2 * skip, skip));
  }

  const int64_t branch = width / 2;
  intersection_head_ = register_module("pred1", conv1x1(branch, 1));
  union_head_ = register_module("pred2", conv1x1(branch, 1));
  annotation_head_ = register_module("pred3", conv1x1(branch, 1));
  hc_branch_ = register_module("pred_1", BranchConv(width, branch));
  lc_branch_ = register_module("pred_2", BranchConv(width, branch));
  uni_branch_ = register_module("pred_3", BranchConv(width, branch));

  const bool journal = options.architecture == UgsArchitecture::kJournal;
  const auto form = journal ? FeatureAwareForm::kConcat : FeatureAwareForm::kPublishedResidual;
  auto block = [&](FeatureFilter filter) {
    return FeatureAwareAttention(FeatureAwareAttentionOptions(branch, filter)
                                     .form(form)
                                     .gabor_kernel_size(options.gabor_kernel_size)
                                     .gabor_orientations(options.gabor_orientations));
  };
  hc_block_ = register_module("conv_Atten1", block(options.hc_filter));
  lc_block_ = register_module("conv_Atten2", block(FeatureFilter::kGabor));
  uni_block_ = register_module("conv_Atten3", block(FeatureFilter::kGabor));

  // kJournal: three R'_z of `width` channels each (R_z and Gamma(A(R_z)), w/2 + w/2) and R.
  // kPublishedV1: three residual maps of w/2 channels and R.
  const int64_t fused = journal ? 4 * width : 3 * branch + width;
  fusion_ = register_module("conv_fusion1", ConvBlock(fused, width));
  segmentation_head_ = register_module("conv_fusion2", conv1x1(width, 1));
}

torch::Tensor UgsNet::extract_features(const torch::Tensor& images) {
  std::vector<torch::Tensor> skips;
  skips.reserve(encoders_.size());
  auto x = encoders_[0]->forward(images);
  skips.push_back(x);
  for (size_t level = 1; level < encoders_.size(); ++level) {
    x = encoders_[level]->forward(torch::max_pool2d(x, 2, 2));
    skips.push_back(x);
  }
  for (int64_t i = options_.depth - 2; i >= 0; --i) {
    auto up = ups_[i]->forward(x);
    auto gated = gates_[i]->forward(up, skips[i]);
    x = decoders_[i]->forward(torch::cat({gated, up}, 1));
  }
  return x;
}

NetworkOutput UgsNet::forward(const torch::Tensor& images) {
  // depth - 1 max-pools.
  detail::require_images(images, options_.in_channels, int64_t{1} << (options_.depth - 1), "UgsNet");
  auto features = extract_features(images);  // R
  auto hc = hc_branch_->forward(features);
  auto lc = lc_branch_->forward(features);
  auto uni = uni_branch_->forward(features);

  NetworkOutput out;
  out.intersection = intersection_head_->forward(hc);
  out.union_mask = union_head_->forward(lc);
  out.annotation = annotation_head_->forward(uni);

  torch::Tensor fused;
  if (options_.architecture == UgsArchitecture::kJournal) {
    auto refined_uni = uni_block_->forward(uni);
    auto refined_lc = lc_block_->forward(lc);
    auto refined_hc = hc_block_->forward(hc);
    auto weights = distance_weights({refined_uni, refined_lc, refined_hc}, features);
    fused = torch::cat({weights[0] * refined_uni, weights[1] * refined_lc, weights[2] * refined_hc,
                        features},
                       1);
  } else {
    // The published order: the intersection block, the annotation block, the union block, R.
    fused = torch::cat({hc_block_->forward(hc), uni_block_->forward(uni), lc_block_->forward(lc),
                        features},
                       1);
  }
  out.segmentation = segmentation_head_->forward(fusion_->forward(fused));
  return out;
}

std::vector<torch::Tensor> distance_weights(const std::vector<torch::Tensor>& refined,
                                            const torch::Tensor& features) {
  std::vector<torch::Tensor> distances;
  distances.reserve(refined.size());
  for (const auto& map : refined) {
    if (map.sizes() != features.sizes()) {
      throw std::invalid_argument("distance_weights: refined map " + c10::str(map.sizes()) +
                                  " does not match R " + c10::str(features.sizes()));
    }
    distances.push_back(((map - features).square().sum(1, /*keepdim=*/true) + 1e-12).sqrt());
  }
  auto total = distances[0];
  for (size_t z = 1; z < distances.size(); ++z) total = total + distances[z];
  for (auto& distance : distances) distance = distance / total;
  return distances;
}

torch::Tensor multi_confidence_mask(const NetworkOutput& output) {
  if (!output.has_uncertainty_heads()) {
    throw std::invalid_argument("multi_confidence_mask: the network has no union/intersection heads");
  }
  return (torch::sigmoid(output.union_mask) + torch::sigmoid(output.intersection)) * 0.5;
}

const std::vector<UgsVariant>& ugsnet_variants() {
  static const std::vector<UgsVariant> variants = {
      {"ugsnet-v1", "V1", UgsArchitecture::kPublishedV1, false, false},
      {"ugsnet-v1-phi-a", "V1 + Phi_a", UgsArchitecture::kPublishedV1, true, false},
      {"ugsnet-v1-phi-b", "V1 + Phi_b", UgsArchitecture::kPublishedV1, false, true},
      {"ugsnet-v1-phi-ab", "V1 + Phi_a + Phi_b", UgsArchitecture::kPublishedV1, true, true},
      {"ugsnet-v1-iucm", "V1 + IUCM", UgsArchitecture::kJournal, false, false},
      {"ugsnet", "V1 + Phi_a + Phi_b + IUCM (UGS-Net)", UgsArchitecture::kJournal, true, true},
  };
  return variants;
}

const UgsVariant& ugsnet_variant(const std::string& name) {
  std::string known;
  for (const auto& variant : ugsnet_variants()) {
    if (variant.name == name) return variant;
    known += (known.empty() ? "" : ", ") + variant.name;
  }
  throw std::invalid_argument("unknown UGS-Net variant '" + name + "' (known: " + known + ")");
}

UgsNetOptions ugsnet_options(const ModelConfig& config) {
  const UgsVariant& variant = ugsnet_variant(config.name);
  UgsNetOptions options;
  options.in_channels = config.in_channels;
  options.base_width = config.base_width;
  options.depth = config.depth;
  options.architecture = variant.architecture;
  const bool published = variant.architecture == UgsArchitecture::kPublishedV1;
  options.gabor_kernel_size = config.gabor_kernel_size > 0 ? config.gabor_kernel_size : (published ? 1 : 3);
  options.hc_filter = published ? FeatureFilter::kPublishedThreeLevel : FeatureFilter::kOtsu;
  return options;
}

std::shared_ptr<Network> make_ugsnet(const ModelConfig& config) {
  return std::make_shared<UgsNet>(ugsnet_options(config));
}

}  // namespace ugs::model
