// Inference: shapes, order, heads and values of predict_nodules on tiny networks and a tiny store
// whose 10x10 crops are resized to 16x16 for the network and back.
#include "ugs/worker/inference.h"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/test_device.h"
#include "ugs/worker/preprocess.h"
#include "worker/job_test_data.h"

namespace ugs::worker {
namespace {

using model::testing::test_device;
using storage::Predictions;

constexpr int kCrop = 10;        // the store's crops
constexpr int kNetworkSize = 16;  // the network's input (depth 3: divisible by 4)
constexpr int kNodules = 5;

std::shared_ptr<model::Network> tiny_network(const std::string& name) {
  torch::manual_seed(3);
  model::ModelConfig config;
  config.name = name;
  config.base_width = 8;
  config.depth = 3;
  auto net = model::make_network(config);
  net->to(test_device());
  return net;
}

PreprocessConfig tiny_preprocess() {
  PreprocessConfig config;
  config.size = kNetworkSize;
  return config;
}

// A store of patterned nodules (their images show their union, so the maps are not uniform).
class PredictNodules : public ::testing::Test {
 protected:
  void open(storage::ReaderMasks masks = storage::ReaderMasks::kPerReader) {
    const storage::StoreAttributes attributes = testing::square_attributes(kCrop, masks);
    storage::testing::write_store(folder_ / "store", attributes, testing::patterned_nodules(attributes, kNodules));
    store_ = std::make_unique<storage::NoduleStore>(storage::NoduleStore::open(folder_ / "store"));
  }
  const storage::NoduleStore& store() const { return *store_; }

  Predictions predict(model::Network& net, const std::vector<std::size_t>& indices, int batch_size = 32) {
    return predict_nodules(net, store(), indices, tiny_preprocess(), test_device(), batch_size);
  }

  testing::TemporaryFolder folder_;
  std::unique_ptr<storage::NoduleStore> store_;
};

void expect_probabilities(const std::vector<float>& maps, std::size_t size, const char* name) {
  ASSERT_EQ(maps.size(), size) << name;
  for (float v : maps) {
    ASSERT_GE(v, 0.0f) << name;
    ASSERT_LE(v, 1.0f) << name;
  }
}

TEST_F(PredictNodules, UgsNetFillsEveryHeadAtTheStoreResolutionInTheOrderAsked) {
  open();
  auto net = tiny_network("ugsnet");
  const Predictions p = predict(*net, {3, 0, 4});
  EXPECT_EQ(p.height, kCrop);
  EXPECT_EQ(p.width, kCrop);
  EXPECT_EQ(p.nodule_ids, (std::vector<std::string>{"n3", "n0", "n4"}));
  const std::size_t size = 3 * kCrop * kCrop;
  expect_probabilities(p.segmentation, size, "segmentation");
  ASSERT_TRUE(p.union_map && p.intersection_map && p.annotation_map);
  expect_probabilities(*p.union_map, size, "union");
  expect_probabilities(*p.intersection_map, size, "intersection");
  expect_probabilities(*p.annotation_map, size, "annotation");
  EXPECT_FALSE(net->is_training());
}

TEST_F(PredictNodules, BaselinesHaveOnlyTheSegmentation) {
  open();
  auto net = tiny_network("unet");
  const Predictions p = predict(*net, {1, 2});
  expect_probabilities(p.segmentation, 2 * kCrop * kCrop, "segmentation");
  EXPECT_FALSE(p.union_map);
  EXPECT_FALSE(p.intersection_map);
  EXPECT_FALSE(p.annotation_map);
}

TEST_F(PredictNodules, AreTheSigmoidOfTheNetworkResizedBackBilinearly) {
  open();
  auto net = tiny_network("ugsnet");
  const Predictions p = predict(*net, {2});

  net->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor images = preprocess_store(store(), {2}, tiny_preprocess(), SingleTarget::kLabel1).images;
  const model::NetworkOutput out = net->forward(images.to(test_device()));
  namespace F = torch::nn::functional;
  auto expected = [](const torch::Tensor& logits) {
    return F::interpolate(torch::sigmoid(logits), F::InterpolateFuncOptions()
                                                      .size(std::vector<std::int64_t>{kCrop, kCrop})
                                                      .mode(torch::kBilinear)
                                                      .align_corners(false))
        .to(torch::kCPU)
        .flatten();
  };
  auto as_tensor = [](const std::vector<float>& maps) { return torch::tensor(maps); };
  EXPECT_TRUE(torch::allclose(as_tensor(p.segmentation), expected(out.segmentation), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(as_tensor(*p.union_map), expected(out.union_mask), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(as_tensor(*p.intersection_map), expected(out.intersection), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(as_tensor(*p.annotation_map), expected(out.annotation), 1e-5, 1e-6));
  // Not a constant map: the sigmoid of a tiny random network is near 0.5 but varies.
  EXPECT_GT(as_tensor(p.segmentation).std().item<float>(), 0.0f);
}

TEST_F(PredictNodules, ANoduleAloneEqualsItWithinABatch) {
  open();
  auto net = tiny_network("ugsnet");
  const Predictions together = predict(*net, {0, 1, 2, 3, 4});
  const Predictions in_twos = predict(*net, {0, 1, 2, 3, 4}, 2);
  const Predictions alone = predict(*net, {3}, 1);
  const std::size_t pixels = together.pixels();
  auto row = [&](const std::vector<float>& maps, std::size_t r) {
    return torch::tensor(std::vector<float>(maps.begin() + r * pixels, maps.begin() + (r + 1) * pixels));
  };
  EXPECT_TRUE(torch::allclose(row(alone.segmentation, 0), row(together.segmentation, 3), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(row(*alone.union_map, 0), row(*together.union_map, 3), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(row(*alone.intersection_map, 0), row(*together.intersection_map, 3), 1e-5, 1e-6));
  for (std::size_t r = 0; r < kNodules; ++r) {
    EXPECT_TRUE(torch::allclose(row(in_twos.segmentation, r), row(together.segmentation, r), 1e-5, 1e-6)) << r;
  }
}

TEST_F(PredictNodules, StoresWithoutPerReaderMasksAndNodulesInMemoryWork) {
  open(storage::ReaderMasks::kUnionIntersectionOnly);
  auto net = tiny_network("ugsnet");
  const Predictions from_store = predict(*net, {4, 1});
  const Predictions in_memory =
      predict_nodules(*net, store().read({4, 1}), store().attributes(), tiny_preprocess(), test_device(), 1);
  EXPECT_EQ(in_memory.nodule_ids, from_store.nodule_ids);
  EXPECT_TRUE(torch::allclose(torch::tensor(in_memory.segmentation), torch::tensor(from_store.segmentation),
                              1e-5, 1e-6));
}

TEST_F(PredictNodules, RefusesWhatCannotMakeAPredictionsFile) {
  open();
  auto net = tiny_network("unet");
  EXPECT_THROW(predict(*net, {}), std::invalid_argument);
  EXPECT_THROW(predict(*net, {1, 2, 1}), std::invalid_argument);
  EXPECT_THROW(predict(*net, {1}, 0), std::invalid_argument);
  EXPECT_THROW(predict(*net, {kNodules}), std::out_of_range);
  PreprocessConfig three_windows = tiny_preprocess();
  three_windows.windows = kPublishedWindows;  // the network takes one channel
  EXPECT_THROW(predict_nodules(*net, store(), {0}, three_windows, test_device()), std::exception);
}

}  // namespace
}  // namespace ugs::worker
