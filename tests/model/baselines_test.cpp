// The comparison networks of Table I, built through the factory: shapes, parameter counts and
// state-dict names against the reference implementations, input checks, and a training sanity
// check.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ugs/model/network.h"

namespace {

using ugs::model::make_network;
using ugs::model::ModelConfig;
using ugs::model::network_names;

// Table I's comparison networks, in the table's order.
const std::vector<std::string> kTableOneBaselines = {
    "fcn32s", "unet", "r2unet", "r2aunet", "attunet", "nested-unet", "channel-unet"};

// Small enough for every network to run a 64x64 batch in milliseconds; even, as nested-unet needs.
constexpr int kTinyWidth = 4;

// Facts about each reference PyTorch implementation at its default widths, one output channel.
// They come from building the reference models (the classes of wkentaro/pytorch-fcn fcn32s.py,
// yanghan-yh/UGS-Net model/Models.py U_Net, LeeJunHyun/Image_Segmentation network.py R2U_Net,
// R2AttU_Net (t=2) and AttU_Net, 4uiiurz1/pytorch-nested-unet archs.py NestedUNet without deep
// supervision, Andy-zhujunwen/UNET-ZOO channel_unet.py myChannelUnet) with Debian's python3-torch
// 1.13 and reading sum(p.numel() for p in m.parameters()) and m.state_dict(). They are not outputs
// of this code.
struct ReferenceFacts {
  std::string name;
  int64_t parameters_one_channel;
  int64_t parameters_three_channels;
  size_t state_dict_entries;  // parameters and buffers
  std::string sample_key;     // one state-dict key, with its shape for one input channel
  std::vector<int64_t> sample_shape;
};

const std::vector<ReferenceFacts> kReference = {
    {"fcn32s", 134267585, 134268737, 33, "fc6.weight", {4096, 512, 7, 7}},
    {"unet", 31042369, 31043521, 136, "up6.weight", {1024, 512, 2, 2}},
    {"r2unet", 39091265, 39091393, 174, "RRCNN1.Conv_1x1.weight", {64, 1, 1, 1}},
    {"r2aunet", 39442797, 39442925, 258, "Att2.W_x.0.weight", {32, 64, 1, 1}},
    {"attunet", 34877421, 34878573, 240, "Up_conv2.conv.4.running_mean", {64}},
    {"nested-unet", 9162753, 9163329, 212, "conv0_4.conv1.weight", {32, 192, 3, 3}},
    {"channel-unet", 49152449, 49153601, 208, "gau_1.bn_high.weight", {512}},
};

// Names the test case after the network in gtest's and ctest's output.
void PrintTo(const ReferenceFacts& facts, std::ostream* out) { *out << facts.name; }

int64_t count_parameters(torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& parameter : module.parameters()) total += parameter.numel();
  return total;
}

TEST(NetworkFactory, ListsTheBaselinesInTableOneOrder) {
  const auto names = network_names();
  ASSERT_GE(names.size(), kTableOneBaselines.size());
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + kTableOneBaselines.size()),
            kTableOneBaselines);
}

TEST(NetworkFactory, UnknownNameListsEveryKnownName) {
  try {
    make_network(ModelConfig{"segnet", 1, kTinyWidth});
    FAIL() << "make_network accepted an unknown name";
  } catch (const std::invalid_argument& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("'segnet'"), std::string::npos) << message;
    for (const auto& name : network_names()) {
      EXPECT_NE(message.find(name), std::string::npos) << name << " missing from: " << message;
    }
  }
}

TEST(NetworkFactory, RejectsWidthsThatDoNotScale) {
  EXPECT_THROW(make_network(ModelConfig{"unet", 1, 0}), std::invalid_argument);
  EXPECT_THROW(make_network(ModelConfig{"unet", 0, kTinyWidth}), std::invalid_argument);
  // nested-unet's reference widths start at 32: base_width 5 would give 2.5 channels.
  EXPECT_THROW(make_network(ModelConfig{"nested-unet", 1, 5}), std::invalid_argument);
}

class EveryBaseline : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryBaseline, GivesOneLogitMapPerImage) {
  torch::manual_seed(0);
  for (int channels : {1, 3}) {
    auto net = make_network(ModelConfig{GetParam(), channels, kTinyWidth});
    const auto out = net->forward(torch::randn({2, channels, 64, 64}));
    ASSERT_TRUE(out.segmentation.defined());
    EXPECT_EQ(out.segmentation.sizes(), torch::IntArrayRef({2, 1, 64, 64})) << channels;
    EXPECT_TRUE(torch::isfinite(out.segmentation).all().item<bool>());
    EXPECT_FALSE(out.has_uncertainty_heads());
  }
}

TEST_P(EveryBaseline, RejectsImagesOfTheWrongShape) {
  auto net = make_network(ModelConfig{GetParam(), 1, kTinyWidth});
  // The raw 50x50 LIDC-IDRI crop divides by neither 16 nor 32.
  EXPECT_THROW(net->forward(torch::zeros({1, 1, 50, 50})), std::invalid_argument);
  EXPECT_THROW(net->forward(torch::zeros({1, 3, 64, 64})), std::invalid_argument);
  EXPECT_THROW(net->forward(torch::zeros({1, 64, 64})), std::invalid_argument);
  EXPECT_THROW(net->forward(torch::Tensor()), std::invalid_argument);
}

TEST_P(EveryBaseline, AcceptsOtherMultiplesOfItsDownsampling) {
  auto net = make_network(ModelConfig{GetParam(), 1, kTinyWidth});
  const auto out = net->forward(torch::randn({1, 1, 96, 128}));
  EXPECT_EQ(out.segmentation.sizes(), torch::IntArrayRef({1, 1, 96, 128}));
}

INSTANTIATE_TEST_SUITE_P(TableOne, EveryBaseline, ::testing::ValuesIn(kTableOneBaselines),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (auto& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

class ReferenceWidths : public ::testing::TestWithParam<ReferenceFacts> {};

TEST_P(ReferenceWidths, MatchTheReferenceImplementation) {
  const auto& reference = GetParam();
  auto one_channel = make_network(ModelConfig{reference.name, 1, 64});
  EXPECT_EQ(count_parameters(*one_channel), reference.parameters_one_channel);
  const auto state = one_channel->named_parameters().size() + one_channel->named_buffers().size();
  EXPECT_EQ(state, reference.state_dict_entries);
  const auto* sample = one_channel->named_parameters().find(reference.sample_key);
  if (sample == nullptr) sample = one_channel->named_buffers().find(reference.sample_key);
  ASSERT_NE(sample, nullptr) << reference.sample_key;
  EXPECT_EQ(sample->sizes(), torch::IntArrayRef(reference.sample_shape));
  one_channel.reset();

  auto three_channels = make_network(ModelConfig{reference.name, 3, 64});
  EXPECT_EQ(count_parameters(*three_channels), reference.parameters_three_channels);
}

INSTANTIATE_TEST_SUITE_P(TableOne, ReferenceWidths, ::testing::ValuesIn(kReference),
                         [](const auto& info) {
                           std::string name = info.param.name;
                           for (auto& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

// A batch of bright discs on noise and their masks: the smallest segmentation problem.
std::pair<torch::Tensor, torch::Tensor> disc_batch(int64_t batch, int64_t size) {
  auto coordinates = torch::arange(size, torch::kFloat);
  auto rows = coordinates.view({1, size, 1});
  auto cols = coordinates.view({1, 1, size});
  auto centers = torch::randint(size / 4, 3 * size / 4, {batch, 2}).to(torch::kFloat);
  auto radii = torch::randint(size / 10, size / 5, {batch}).to(torch::kFloat).view({batch, 1, 1});
  auto distance_sq = (rows - centers.select(1, 0).view({batch, 1, 1})).pow(2) +
                     (cols - centers.select(1, 1).view({batch, 1, 1})).pow(2);
  auto masks = (distance_sq <= radii.pow(2)).to(torch::kFloat).unsqueeze(1);
  auto images = masks + 0.3 * torch::randn_like(masks);
  return {images, masks};
}

TEST(BaselineTraining, AFewAdamStepsLowerTheLossOnDiscs) {
  torch::manual_seed(0);
  const auto [images, masks] = disc_batch(4, 64);
  auto net = make_network(ModelConfig{"attunet", 1, 8});
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-2));
  const auto loss_now = [&] {
    return torch::nn::functional::binary_cross_entropy_with_logits(
        net->forward(images).segmentation, masks);
  };
  const double initial = loss_now().item<double>();
  for (int step = 0; step < 10; ++step) {
    adam.zero_grad();
    auto loss = loss_now();
    ASSERT_TRUE(std::isfinite(loss.item<double>())) << "step " << step;
    loss.backward();
    adam.step();
  }
  const double trained = loss_now().item<double>();
  EXPECT_LT(trained, 0.8 * initial) << "initial " << initial << ", after 10 steps " << trained;
}

}  // namespace
