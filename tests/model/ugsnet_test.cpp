// UGS-Net, its variants, and the choices docs/model.md makes where the paper is silent.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "test_device.h"
#include "ugs/model/ugsnet.h"

namespace ugs::model {
namespace {

using testing::test_device;

ModelConfig tiny_config(const std::string& name) {
  ModelConfig config;
  config.name = name;
  config.in_channels = 3;
  config.base_width = 8;
  config.depth = 3;
  return config;
}

std::shared_ptr<Network> tiny_network(const std::string& name) {
  torch::manual_seed(11);
  auto net = make_ugsnet(tiny_config(name));
  net->to(test_device());
  return net;
}

// SAGAN initialises gamma to 0, which zeroes the attention's gradient at the first step; move it
// so that every path carries gradient.
void open_attention_gates(torch::nn::Module& net) {
  torch::NoGradGuard no_grad;
  for (auto& item : net.named_parameters()) {
    if (item.key().size() >= 5 && item.key().substr(item.key().size() - 5) == "gamma") item.value().fill_(0.5);
  }
}

void backward_through_every_head(Network& net) {
  auto out = net.forward(torch::randn({2, 3, 16, 16}, test_device()));
  (out.segmentation.square().mean() + out.union_mask.square().mean() +
   out.intersection.square().mean() + out.annotation.square().mean())
      .backward();
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Parameters whose true gradient is exactly zero, so that they get a defined but round-off-only
// gradient: a convolution bias right before a training-mode BatchNorm (the batch mean absorbs it),
// and the key bias (it adds the same q_i . b to every score of query i; softmax ignores that).
bool has_zero_true_gradient(const std::string& name) {
  for (const char* suffix : {"conv.0.bias", "conv.3.bias", "up.1.bias", "W_g.0.bias", "W_x.0.bias",
                             "psi.0.bias", "key_conv.bias"}) {
    if (ends_with(name, suffix)) return true;
  }
  return false;
}

TEST(UgsNet, EveryVariantGivesFourLogitMapsOfTheInputSize) {
  for (const auto& variant : ugsnet_variants()) {
    auto net = tiny_network(variant.name);
    const auto out = net->forward(torch::randn({2, 3, 16, 16}, test_device()));
    for (const auto& logits : {out.segmentation, out.union_mask, out.intersection, out.annotation}) {
      EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 1, 16, 16})) << variant.name;
    }
  }
}

TEST(UgsNet, GradientReachesEveryTrainableParameter) {
  auto net = tiny_network("ugsnet");
  open_attention_gates(*net);
  backward_through_every_head(*net);
  for (const auto& item : net->named_parameters()) {
    const auto& grad = item.value().grad();
    ASSERT_TRUE(grad.defined()) << item.key();
    ASSERT_TRUE(torch::isfinite(grad).all().item<bool>()) << item.key();
    if (!has_zero_true_gradient(item.key())) {
      EXPECT_GT(grad.abs().sum().item<double>(), 0.0) << item.key();
    }
  }
  // The point of the Otsu foreground: the HC block learns its attention.
  for (const char* name : {"conv_Atten1.query_conv.weight", "conv_Atten1.key_conv.weight",
                           "conv_Atten1.value_conv.weight"}) {
    EXPECT_GT(net->named_parameters()[name].grad().abs().sum().item<double>(), 0.0) << name;
  }
}

TEST(UgsNetV1, ReproducesThePublishedGradientCutInTheHcBlock) {
  auto net = tiny_network("ugsnet-v1");
  open_attention_gates(*net);
  backward_through_every_head(*net);
  auto params = net->named_parameters();
  for (const char* part : {"query_conv", "key_conv", "value_conv"}) {
    for (const char* tensor : {".weight", ".bias"}) {
      const auto hc = std::string("conv_Atten1.") + part + tensor;
      EXPECT_FALSE(params[hc].grad().defined() && params[hc].grad().abs().sum().item<double>() > 0) << hc;
      for (const char* gabor_block : {"conv_Atten2.", "conv_Atten3."}) {
        const auto name = std::string(gabor_block) + part + tensor;
        if (!has_zero_true_gradient(name)) {
          EXPECT_GT(params[name].grad().abs().sum().item<double>(), 0.0) << name;
        }
      }
    }
  }
  EXPECT_GT(params["conv_Atten1.gamma"].grad().abs().item<double>(), 0.0);
}

TEST(UgsNet, VariantsMapToTheirArchitectureAndFilters) {
  const auto v1 = ugsnet_options(tiny_config("ugsnet-v1"));
  EXPECT_EQ(v1.architecture, UgsArchitecture::kPublishedV1);
  EXPECT_EQ(v1.gabor_kernel_size, 1);
  EXPECT_EQ(v1.hc_filter, FeatureFilter::kPublishedThreeLevel);
  const auto full = ugsnet_options(tiny_config("ugsnet"));
  EXPECT_EQ(full.architecture, UgsArchitecture::kJournal);
  EXPECT_EQ(full.gabor_kernel_size, 3);
  EXPECT_EQ(full.hc_filter, FeatureFilter::kOtsu);
  EXPECT_EQ(ugsnet_options(tiny_config("ugsnet-v1-iucm")).architecture, UgsArchitecture::kJournal);
  EXPECT_EQ(ugsnet_options(tiny_config("ugsnet-v1-phi-ab")).architecture, UgsArchitecture::kPublishedV1);
  auto config = tiny_config("ugsnet");
  config.gabor_kernel_size = 5;
  EXPECT_EQ(ugsnet_options(config).gabor_kernel_size, 5);
  EXPECT_EQ(ugsnet_variants().size(), 6u);
  EXPECT_THROW(ugsnet_variant("ugsnet-v2"), std::invalid_argument);
}

TEST(UgsNet, RejectsImagesItCannotTake) {
  auto net = tiny_network("ugsnet");
  EXPECT_THROW(net->forward(torch::randn({1, 1, 16, 16}, test_device())), std::invalid_argument);
  EXPECT_THROW(net->forward(torch::randn({1, 3, 18, 16}, test_device())), std::invalid_argument);
}

TEST(FeatureAwareAttention, ConcatBlockDoublesChannelsToMeetR) {
  // R has w channels, a branch w/2; R'_z = concat(R_z, Gamma(A(R_z))) has w again.
  for (auto filter : {FeatureFilter::kGabor, FeatureFilter::kOtsu}) {
    FeatureAwareAttention block(FeatureAwareAttentionOptions(32, filter));
    EXPECT_EQ(block->output_channels(), 64);
    EXPECT_EQ(block(torch::randn({1, 32, 8, 8})).size(1), 64);
  }
  EXPECT_THROW(FeatureAwareAttention(FeatureAwareAttentionOptions(32, FeatureFilter::kPublishedThreeLevel)),
               std::invalid_argument);
}

TEST(FeatureAwareAttention, AttentionIsSaganResidualBeforeTheFilter) {
  // Gamma(A(x)) with A(x) = x + gamma * attention(x): at gamma = 0 the block is concat(x, Gamma(x)).
  torch::manual_seed(5);
  FeatureAwareAttention block(FeatureAwareAttentionOptions(8, FeatureFilter::kOtsu));
  auto x = torch::randn({2, 8, 6, 6});
  EXPECT_TRUE(torch::allclose(block(x), torch::cat({x, otsu_foreground(x)}, 1)));
  {
    torch::NoGradGuard no_grad;
    block->gamma.fill_(1.0);
  }
  EXPECT_FALSE(torch::allclose(block(x), torch::cat({x, otsu_foreground(x)}, 1)));
}

TEST(DistanceWeights, ArePerPixelL2DistancesNormalisedOverTheThreeMaps) {
  torch::manual_seed(6);
  auto features = torch::randn({2, 4, 3, 5});
  std::vector<torch::Tensor> refined = {torch::randn({2, 4, 3, 5}), torch::randn({2, 4, 3, 5}),
                                        torch::randn({2, 4, 3, 5})};
  auto weights = distance_weights(refined, features);
  ASSERT_EQ(weights.size(), 3u);
  auto total = torch::zeros({2, 1, 3, 5});
  for (size_t z = 0; z < 3; ++z) {
    ASSERT_EQ(weights[z].sizes(), (std::vector<int64_t>{2, 1, 3, 5}));
    total += weights[z];
  }
  EXPECT_TRUE(torch::allclose(total, torch::ones_like(total)));
  // One pixel by hand.
  double d[3];
  for (int z = 0; z < 3; ++z) {
    d[z] = std::sqrt((refined[z][1].select(1, 2).select(1, 4) - features[1].select(1, 2).select(1, 4))
                         .square().sum().item<double>());
  }
  EXPECT_NEAR(weights[1][1][0][2][4].item<double>(), d[1] / (d[0] + d[1] + d[2]), 1e-6);
  EXPECT_THROW(distance_weights({torch::randn({2, 3, 3, 5})}, features), std::invalid_argument);
}

TEST(MultiConfidenceMask, IsTheMeanOfTheUnionAndIntersectionProbabilities) {
  NetworkOutput out;
  out.union_mask = torch::tensor({20.0f, 20.0f, -20.0f}).view({1, 1, 1, 3});
  out.intersection = torch::tensor({20.0f, -20.0f, -20.0f}).view({1, 1, 1, 3});
  auto mcm = multi_confidence_mask(out).flatten();
  EXPECT_NEAR(mcm[0].item<float>(), 1.0f, 1e-6);  // high confidence
  EXPECT_NEAR(mcm[1].item<float>(), 0.5f, 1e-6);  // low confidence
  EXPECT_NEAR(mcm[2].item<float>(), 0.0f, 1e-6);  // background
  EXPECT_THROW(multi_confidence_mask(NetworkOutput{}), std::invalid_argument);
}

}  // namespace
}  // namespace ugs::model
