// ugsnet-v1 against the published code's state dict (UGS_SHARED_DIR/reference/ugsnet_v1_state_dict.tsv).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ugs/model/ugsnet.h"

namespace ugs::model {
namespace {

// key -> shape, from the TSV's "key<TAB>[d0, d1, ...]<TAB>numel" lines.
std::map<std::string, std::vector<int64_t>> read_reference_state_dict() {
  const std::string path = std::string(UGS_SHARED_DIR) + "/reference/ugsnet_v1_state_dict.tsv";
  std::ifstream file(path);
  if (!file) {
    ADD_FAILURE() << "cannot read " << path << ": point the CMake cache variable UGS_SHARED_DIR at ../shared";
    return {};
  }
  std::map<std::string, std::vector<int64_t>> shapes;
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string key, shape_text;
    std::getline(fields, key, '\t');
    std::getline(fields, shape_text, '\t');
    std::vector<int64_t> shape;
    std::string digits;
    for (char c : shape_text) {
      if (std::isdigit(static_cast<unsigned char>(c))) {
        digits += c;
      } else if (!digits.empty()) {
        shape.push_back(std::stoll(digits));
        digits.clear();
      }
    }
    shapes[key] = shape;
  }
  return shapes;
}

std::shared_ptr<Network> published_v1(int in_channels) {
  ModelConfig config;
  config.name = "ugsnet-v1";
  config.in_channels = in_channels;
  return make_ugsnet(config);
}

int64_t trainable_parameters(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const auto& parameter : module.parameters()) {
    if (parameter.requires_grad()) count += parameter.numel();
  }
  return count;
}

TEST(UgsNetV1, HasThePublishedParameterCount) {
  EXPECT_EQ(trainable_parameters(*published_v1(3)), 35069675);
  EXPECT_EQ(trainable_parameters(*published_v1(1)), 35068523);
}

TEST(UgsNetV1, StateDictIsExactlyThePublishedOne) {
  const auto reference = read_reference_state_dict();
  ASSERT_EQ(reference.size(), 306u);
  auto net = published_v1(3);
  std::map<std::string, std::vector<int64_t>> ours;
  for (const auto& item : net->named_parameters()) ours[item.key()] = item.value().sizes().vec();
  for (const auto& item : net->named_buffers()) ours[item.key()] = item.value().sizes().vec();
  for (const auto& [key, shape] : reference) {
    auto found = ours.find(key);
    if (found == ours.end()) {
      ADD_FAILURE() << "missing published key " << key;
    } else {
      EXPECT_EQ(found->second, shape) << key;
    }
  }
  for (const auto& [key, shape] : ours) EXPECT_TRUE(reference.count(key)) << "extra key " << key;
}

TEST(UgsNetV1, ForwardGivesFourLogitMapsOfTheInputSize) {
  ModelConfig config;
  config.name = "ugsnet-v1";
  config.in_channels = 3;
  config.base_width = 8;
  config.depth = 3;
  auto net = make_ugsnet(config);
  const auto out = net->forward(torch::randn({2, 3, 16, 16}));
  for (const auto& logits : {out.segmentation, out.union_mask, out.intersection, out.annotation}) {
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 1, 16, 16}));
  }
}

}  // namespace
}  // namespace ugs::model
