// Preprocessing: windowing, bilinear resizing and mask thresholds on inputs small enough to work out
// by hand; the reference values were also checked with python3-torch 1.13's F.interpolate(...,
// mode="bilinear", align_corners=False), which gave exactly these numbers.
#include "ugs/worker/preprocess.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "worker/job_test_data.h"

namespace ugs::worker {
namespace {

using storage::ImageUnit;
using storage::Nodule;
using storage::ReaderMasks;
using storage::StoreAttributes;
using testing::square_attributes;

// A nodule of one reader whose mask is `mask`, with image `image`.
Nodule one_reader(const std::vector<float>& image, const std::vector<std::uint8_t>& mask) {
  Nodule nodule;
  nodule.info.nodule_id = "n";
  nodule.info.patient_id = "p";
  nodule.info.annotator_count = 1;
  nodule.image = image;
  nodule.annotators = nodule.union_mask = nodule.intersection_mask = mask;
  return nodule;
}

PreprocessConfig config_of(int size, std::vector<HuWindow> windows = {{-1000, 800}}, double threshold = 0.5) {
  PreprocessConfig config;
  config.size = size;
  config.windows = std::move(windows);
  config.mask_threshold = threshold;
  return config;
}

std::vector<float> values(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous().to(torch::kFloat32);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

TEST(Preprocess, ResizeIsPyTorchBilinearWithHalfPixelCentres) {
  // 2x2 -> 4x4: output pixel d samples input position (d + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25,
  // clamped to [0, 1]: rows and columns mix as [a, 3a/4 + b/4, a/4 + 3b/4, b].
  const Nodule nodule = one_reader({0, 1, 2, 3}, {1, 0, 0, 0});
  const NoduleTensors t = preprocess({nodule}, square_attributes(2), config_of(4, {{0, 3}}), SingleTarget::kLabel1);
  const std::vector<float> expected = {0.00f, 0.25f, 0.75f, 1.00f, 0.50f, 0.75f, 1.25f, 1.50f,
                                       1.50f, 1.75f, 2.25f, 2.50f, 2.00f, 2.25f, 2.75f, 3.00f};
  const std::vector<float> image = values(t.images);
  ASSERT_EQ(image.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(image[i], expected[i] / 3, 1e-6) << i;

  // The mask 1 at (0,0) becomes [1, .75, .25, 0] x [1, .75, .25, 0]: >= 0.5 keeps the 2x2 corner
  // (0.75 * 0.75 = 0.5625 included).
  const std::vector<float> corner = {1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int plane : {kTargetPlane, kUnionPlane, kIntersectionPlane, kFirstAnnotatorPlane}) {
    EXPECT_EQ(values(t.masks[0][plane]), corner) << "plane " << plane;
  }
  EXPECT_EQ(values(t.masks[0][kFirstAnnotatorPlane + 1]), std::vector<float>(16, 0.0f));
}

TEST(Preprocess, From50To64LinearRampsStayExact) {
  // Bilinear interpolation reproduces a linear function, so the output is the function at the
  // sampling positions s(d) = clamp((d + 0.5) * 50 / 64 - 0.5, 0, 49).
  const StoreAttributes attributes = square_attributes(50);
  std::vector<float> image(2500);
  for (int r = 0; r < 50; ++r) {
    for (int c = 0; c < 50; ++c) image[r * 50 + c] = static_cast<float>(r + c);
  }
  std::vector<std::uint8_t> mask(2500, 0);
  mask[25 * 50 + 25] = 1;
  const NoduleTensors t = preprocess({one_reader(image, mask)}, attributes, config_of(64, {{0, 98}}),
                                     SingleTarget::kLabel1);
  ASSERT_EQ(t.images.sizes(), (std::vector<std::int64_t>{1, 1, 64, 64}));
  auto s = [](int d) { return std::clamp((d + 0.5) * 50.0 / 64.0 - 0.5, 0.0, 49.0); };
  const std::vector<float> out = values(t.images);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) EXPECT_NEAR(out[y * 64 + x], (s(y) + s(x)) / 98.0, 1e-6) << y << "," << x;
  }
}

TEST(Preprocess, MasksAreThresholdedAfterResizing) {
  // 3x3 -> 5x5 of a single centre pixel: 1 at the centre, 0.4 beside it, 0.16 diagonally.
  std::vector<std::uint8_t> centre(9, 0);
  centre[4] = 1;
  const Nodule nodule = one_reader(std::vector<float>(9, 0.0f), centre);
  const NoduleTensors half = preprocess({nodule}, square_attributes(3), config_of(5), SingleTarget::kLabel1);
  std::vector<float> dot(25, 0);
  dot[12] = 1;
  EXPECT_EQ(values(half.masks[0][kTargetPlane]), dot);
  const NoduleTensors low = preprocess({nodule}, square_attributes(3), config_of(5, {{-1000, 800}}, 0.3),
                                       SingleTarget::kLabel1);
  std::vector<float> plus = dot;
  for (int p : {7, 11, 13, 17}) plus[p] = 1;
  EXPECT_EQ(values(low.masks[0][kTargetPlane]), plus);
}

TEST(Preprocess, WindowsClipAndScaleEachChannel) {
  // Same size in and out: the resize is the identity. HU -2000, -100, 800, 1000 through the three
  // published windows [-1000, 800], [-160, 240], [-1400, -950].
  const Nodule nodule = one_reader({-2000, -100, 800, 1000}, {0, 1, 1, 0});
  const NoduleTensors t = preprocess({nodule}, square_attributes(2), config_of(2, kPublishedWindows),
                                     SingleTarget::kLabel1);
  ASSERT_EQ(t.images.size(1), 3);
  const std::vector<float> expected = {0, 0.5f, 1, 1, 0, 0.15f, 1, 1, 0, 1, 1, 1};
  const std::vector<float> image = values(t.images);
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(image[i], expected[i], 1e-6) << i;
  EXPECT_EQ(values(t.masks[0][kTargetPlane]), (std::vector<float>{0, 1, 1, 0}));
}

TEST(Preprocess, EightBitSourcesMapToTheUnitRange) {
  StoreAttributes attributes = square_attributes(2);
  attributes.image_unit = ImageUnit::kWindow8;
  const Nodule nodule = one_reader({0, 51, 255, 102}, {0, 1, 1, 0});
  const NoduleTensors t = preprocess({nodule}, attributes, config_of(2), SingleTarget::kLabel1);
  const std::vector<float> image = values(t.images);
  const std::vector<float> expected = {0, 0.2f, 1, 0.4f};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(image[i], expected[i], 1e-6) << i;
  try {
    check_preprocessable(attributes, config_of(2, kPublishedWindows), SingleTarget::kLabel1, "out/png");
    FAIL() << "three windows on an 8-bit store were accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "out/png: the store holds 8-bit display images (window8), which make one input "
                           "channel, but [preprocess] windows has 3; use windows = \"published1\"");
  }
}

TEST(Preprocess, PerReaderUnionAndIntersectionFollowTheResizedAnnotators) {
  const StoreAttributes attributes = square_attributes(50);
  const std::vector<Nodule> nodules = testing::patterned_nodules(attributes, 8);
  const NoduleTensors t = preprocess(nodules, attributes, config_of(64), SingleTarget::kLabel1);
  ASSERT_EQ(t.masks.sizes(), (std::vector<std::int64_t>{8, kMaskPlanes, 64, 64}));
  for (int i = 0; i < 8; ++i) {
    const int count = nodules[i].info.annotator_count;
    EXPECT_EQ(t.annotator_count[i].item<std::int64_t>(), count);
    const torch::Tensor readers = t.masks[i].narrow(0, kFirstAnnotatorPlane, count).to(torch::kBool);
    EXPECT_TRUE(torch::equal(t.masks[i][kUnionPlane].to(torch::kBool), readers.any(0))) << i;
    EXPECT_TRUE(torch::equal(t.masks[i][kIntersectionPlane].to(torch::kBool), readers.all(0))) << i;
    EXPECT_TRUE(torch::equal(t.masks[i][kTargetPlane], t.masks[i][kFirstAnnotatorPlane])) << i;
    EXPECT_EQ(t.masks[i].narrow(0, kFirstAnnotatorPlane + count, storage::kMaxAnnotators - count).sum().item<int>(),
              0);
    EXPECT_GT(t.masks[i][kIntersectionPlane].sum().item<int>(), 0) << "a test nodule without an intersection";
  }
}

TEST(Preprocess, UnionIntersectionOnlyStoresNeedAnotherSingleTarget) {
  const StoreAttributes attributes = square_attributes(16, ReaderMasks::kUnionIntersectionOnly);
  try {
    check_preprocessable(attributes, config_of(16), SingleTarget::kLabel1, "out/png");
    FAIL() << "Label_1 was accepted for a store without per-reader masks";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "out/png: the store has no per-reader masks (union-intersection-only), so there is no "
                           "Label_1 to train on; set [data] single_target = \"union\" or \"intersection\"");
  }
  const std::vector<Nodule> nodules = testing::patterned_nodules(attributes, 3);
  const NoduleTensors t = preprocess(nodules, attributes, config_of(24), SingleTarget::kIntersection);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t.annotator_count[i].item<std::int64_t>(), 0);
    EXPECT_TRUE(torch::equal(t.masks[i][kTargetPlane], t.masks[i][kIntersectionPlane]));
    EXPECT_EQ(t.masks[i].narrow(0, kFirstAnnotatorPlane, storage::kMaxAnnotators).sum().item<int>(), 0);
    // I ⊆ U after resizing.
    EXPECT_EQ((t.masks[i][kIntersectionPlane] > t.masks[i][kUnionPlane]).sum().item<int>(), 0);
  }
  const NoduleTensors u = preprocess(nodules, attributes, config_of(24), SingleTarget::kUnion);
  EXPECT_TRUE(torch::equal(u.masks.select(1, kTargetPlane), u.masks.select(1, kUnionPlane)));
}

TEST(Preprocess, StoreNodulesInTheOrderGivenAcrossReadChunks) {
  testing::TemporaryFolder folder;
  const StoreAttributes attributes = square_attributes(12);
  const std::vector<Nodule> nodules = testing::patterned_nodules(attributes, 300);
  storage::testing::write_store(folder / "store", attributes, nodules, 128);
  const storage::NoduleStore store = storage::NoduleStore::open(folder / "store");
  std::vector<std::size_t> indices;
  for (std::size_t i = 300; i-- > 0;) indices.push_back(i);
  const NoduleTensors from_store = preprocess_store(store, indices, config_of(16), SingleTarget::kLabel1);
  const NoduleTensors direct = preprocess(store.read(indices), attributes, config_of(16), SingleTarget::kLabel1);
  EXPECT_EQ(from_store.store_indices, indices);
  EXPECT_TRUE(torch::equal(from_store.images, direct.images));
  EXPECT_TRUE(torch::equal(from_store.masks, direct.masks));
  EXPECT_TRUE(torch::equal(from_store.annotator_count, direct.annotator_count));
  EXPECT_THROW(preprocess_store(store, {}, config_of(16), SingleTarget::kLabel1), std::invalid_argument);
}

}  // namespace
}  // namespace ugs::worker
