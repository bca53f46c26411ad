// The factory builds every network it names, and each gives a logit map of the input's size.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ugs/model/network.h"
#include "ugs/model/ugsnet.h"

namespace {

using ugs::model::ModelConfig;

TEST(NetworkFactory, BuildsEveryNameItListsAndTheFamilyHasUncertaintyHeads) {
  torch::manual_seed(0);
  const auto images = torch::randn({2, 1, 64, 64});
  for (const auto& name : ugs::model::network_names()) {
    SCOPED_TRACE(name);
    ModelConfig config;
    config.name = name;
    config.base_width = 16;  // small, yet wide enough for every network's channel splits
    auto network = ugs::model::make_network(config);
    torch::NoGradGuard no_grad;
    network->eval();
    const auto out = network->forward(images);
    EXPECT_EQ(out.segmentation.sizes(), (torch::IntArrayRef{2, 1, 64, 64}));
    const bool family = name.rfind("ugsnet", 0) == 0;
    EXPECT_EQ(out.has_uncertainty_heads(), family);
  }
}

TEST(NetworkFactory, ListsEveryTableTwoVariant) {
  const auto names = ugs::model::network_names();
  for (const auto& variant : ugs::model::ugsnet_variants()) {
    EXPECT_NE(std::find(names.begin(), names.end(), variant.name), names.end()) << variant.name;
  }
}

}  // namespace
