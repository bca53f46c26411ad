// The HU analysis (Fig. 8): regions and distances on a 4x4 nodule worked out by hand, zero distance
// for perfect predictions on synthetic nodules, the errors, the picture.
#include "ugs/worker/hu_analysis.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "storage/test_support.h"
#include "ugs/storage/summary.h"
#include "ugs/storage/synth.h"
#include "worker/analysis_test_support.h"

namespace ugs::metrics {
namespace {

namespace fs = std::filesystem;
using storage::Nodule;
using storage::NoduleStore;
using storage::Predictions;
using storage::testing::TemporaryFolder;

constexpr int kSide = 4;
constexpr int kPixels = kSide * kSide;

std::vector<std::uint8_t> mask_of(const std::vector<int>& pixels) {
  std::vector<std::uint8_t> mask(kPixels, 0);
  for (int p : pixels) mask[p] = 1;
  return mask;
}

// One 4x4 nodule whose pixel k has the value k: HC = {5, 6}, union = {1, 2, 5, 6, 9}.
NoduleStore hand_store(const fs::path& dir, storage::ImageUnit unit) {
  storage::StoreAttributes attributes;
  attributes.height = attributes.width = kSide;
  attributes.image_unit = unit;
  attributes.reader_masks = storage::ReaderMasks::kUnionIntersectionOnly;
  Nodule nodule;
  nodule.info.nodule_id = "n1";
  nodule.info.patient_id = "p1";
  for (int k = 0; k < kPixels; ++k) nodule.image.push_back(static_cast<float>(k));
  nodule.intersection_mask = mask_of({5, 6});
  nodule.union_mask = mask_of({1, 2, 5, 6, 9});
  storage::testing::write_store(dir, attributes, {nodule});
  return NoduleStore::open(dir);
}

// I' >= 0.5 at {5, 6, 10} (0.5 itself counts); U' >= 0.5 at {1, 5, 6, 9, 10, 14}, just under it
// at 2.
Predictions hand_predictions() {
  Predictions p;
  p.height = p.width = kSide;
  p.nodule_ids = {"n1"};
  p.segmentation.assign(kPixels, 0.0f);
  p.intersection_map = std::vector<float>(kPixels, 0.1f);
  for (int k : {5, 6}) (*p.intersection_map)[k] = 0.9f;
  (*p.intersection_map)[10] = 0.5f;
  p.union_map = std::vector<float>(kPixels, 0.2f);
  for (int k : {1, 5, 6, 9, 10, 14}) (*p.union_map)[k] = 0.8f;
  (*p.union_map)[2] = 0.4999f;
  return p;
}

TEST(HuAnalysis, RegionsAndDistancesByHand) {
  TemporaryFolder folder;
  NoduleStore store = hand_store(folder / "store", storage::ImageUnit::kHounsfield);
  const HuAnalysis a = analyze_hu(store, hand_predictions(), "p.h5");
  EXPECT_EQ(a.nodules, 1u);
  EXPECT_EQ(a.of(HuRegion::kTrueHc).sorted(), (std::vector<double>{5, 6}));
  EXPECT_EQ(a.of(HuRegion::kTrueLc).sorted(), (std::vector<double>{1, 2, 9}));
  EXPECT_EQ(a.of(HuRegion::kPredictedHc).sorted(), (std::vector<double>{5, 6, 10}));
  EXPECT_EQ(a.of(HuRegion::kPredictedLc).sorted(), (std::vector<double>{1, 9, 14}));
  // HC: {5, 6, 10} vs {5, 6}: quantiles differ by 1 on u in (1/3, 1/2) and by 4 on (2/3, 1).
  EXPECT_DOUBLE_EQ(a.w1_hc, 1.0 / 6 + 4.0 / 3);
  // LC: {1, 9, 14} vs {1, 2, 9}, equal sizes: (0 + 7 + 5) / 3.
  EXPECT_DOUBLE_EQ(a.w1_lc, 4.0);
  // {5, 6} vs {1, 2, 9}: 4/3 + 3/6 + 4/6 + 3/3.
  EXPECT_DOUBLE_EQ(a.w1_true_hc_true_lc, 3.5);
  ASSERT_EQ(a.grid.size(), static_cast<std::size_t>(kGridPoints));
  for (const auto& curve : a.density) EXPECT_EQ(curve.size(), a.grid.size());
  EXPECT_NE(hu_analysis_table(a).find("HC 1.5 HU, LC 4.0 HU (true HC vs true LC: 3.5 HU)"),
            std::string::npos)
      << hu_analysis_table(a);

  const nlohmann::json json = nlohmann::json::parse(hu_analysis_json(a));
  EXPECT_EQ(json.at("unit"), "HU");
  EXPECT_EQ(json.at("regions").at("predicted_lc").at("count"), 3);
  EXPECT_DOUBLE_EQ(json.at("regions").at("true_lc").at("median").get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(json.at("wasserstein1").at("lc").get<double>(), 4.0);
  EXPECT_EQ(json.at("density").at("grid").size(), a.grid.size());
}

TEST(HuAnalysis, EmptyPredictedRegionsHaveNoCurve) {
  TemporaryFolder folder;
  NoduleStore store = hand_store(folder / "store", storage::ImageUnit::kHounsfield);
  Predictions p = hand_predictions();
  p.union_map->assign(kPixels, 0.0f);
  p.intersection_map->assign(kPixels, 0.0f);
  const HuAnalysis a = analyze_hu(store, p, "p.h5");
  EXPECT_TRUE(a.of(HuRegion::kPredictedHc).empty());
  EXPECT_TRUE(a.density[static_cast<int>(HuRegion::kPredictedLc)].empty());
  EXPECT_TRUE(std::isnan(a.w1_hc));
  EXPECT_TRUE(std::isnan(a.w1_lc));
  const nlohmann::json json = nlohmann::json::parse(hu_analysis_json(a));
  EXPECT_TRUE(json.at("wasserstein1").at("hc").is_null());
  EXPECT_TRUE(json.at("density").at("predicted_hc").is_null());
  plot_hu_analysis(folder / "hu.png", a);  // the true curves alone
  EXPECT_TRUE(ugs::testing::png_size(folder / "hu.png").valid);
}

TEST(HuAnalysis, EightBitStoresAreNotHu) {
  TemporaryFolder folder;
  NoduleStore store = hand_store(folder / "store", storage::ImageUnit::kWindow8);
  const HuAnalysis a = analyze_hu(store, hand_predictions(), "p.h5");
  EXPECT_EQ(nlohmann::json::parse(hu_analysis_json(a)).at("unit"), "8-bit intensity");
  const std::string table = hu_analysis_table(a);
  EXPECT_NE(table.find("not HU"), std::string::npos) << table;
  EXPECT_NE(table.find("HC 1.5 8-bit intensity"), std::string::npos) << table;
}

TEST(HuAnalysis, PerfectPredictionsOfSyntheticNodulesAreAtDistanceZero) {
  TemporaryFolder folder;
  storage::SynthOptions options;
  options.seed = 11;
  options.nodule_count = 12;
  storage::SynthGenerator generator(options);
  storage::write_synthetic_store(generator, folder / "store", {});
  NoduleStore store = NoduleStore::open(folder / "store");
  // Every other nodule, as a test fold would be.
  const Predictions p = ugs::testing::perfect_predictions(store, {0, 2, 4, 6, 8, 10});
  const HuAnalysis a = analyze_hu(store, p, "p.h5");
  EXPECT_EQ(a.nodules, 6u);
  EXPECT_EQ(a.w1_hc, 0.0);
  EXPECT_EQ(a.w1_lc, 0.0);
  EXPECT_GT(a.of(HuRegion::kTrueLc).size(), 0u);
  EXPECT_EQ(a.density[0], a.density[1]);  // true and predicted HC
  EXPECT_EQ(a.density[2], a.density[3]);  // true and predicted LC
  // The synthetic readers disagree on low-density margins, as the paper found LIDC-IDRI's do.
  EXPECT_LT(a.of(HuRegion::kTrueLc).stats().mean, a.of(HuRegion::kTrueHc).stats().mean);
  EXPECT_GT(a.w1_true_hc_true_lc, 0.0);

  plot_hu_analysis(folder / "hu.png", a);
  const auto size = ugs::testing::png_size(folder / "hu.png");
  EXPECT_TRUE(size.valid);
  EXPECT_EQ(size.width, 900u);
}

TEST(HuAnalysis, TrueRegionsOfTheWholeStoreAreWhatInspectReports) {
  TemporaryFolder folder;
  storage::SynthOptions options;
  options.seed = 12;
  options.nodule_count = 5;
  storage::write_synthetic_store(storage::SynthGenerator(options), folder / "store", {});
  NoduleStore store = NoduleStore::open(folder / "store");
  const HuAnalysis a =
      analyze_hu(store, ugs::testing::perfect_predictions(store, {0, 1, 2, 3, 4}), "p.h5");
  const storage::StoreSummary inspected = storage::summarize(store);
  for (const auto& [region, expected] : {std::pair{HuRegion::kTrueHc, inspected.hc},
                                         std::pair{HuRegion::kTrueLc, inspected.lc}}) {
    const storage::ValueStats& s = a.of(region).stats();
    EXPECT_EQ(s.count, expected.count) << display_name(region);
    EXPECT_EQ(s.mean, expected.mean) << display_name(region);
    EXPECT_EQ(s.std, expected.std) << display_name(region);
    EXPECT_EQ(s.q1, expected.q1) << display_name(region);
    EXPECT_EQ(s.median, expected.median) << display_name(region);
    EXPECT_EQ(s.q3, expected.q3) << display_name(region);
  }
}

TEST(HuAnalysis, RefusesPredictionsItCannotUse) {
  TemporaryFolder folder;
  NoduleStore store = hand_store(folder / "store", storage::ImageUnit::kHounsfield);
  using storage::testing::expect_error;
  Predictions p = hand_predictions();
  p.union_map.reset();
  p.intersection_map.reset();
  expect_error([&] { analyze_hu(store, p, "job/predictions.h5"); }, "job/predictions.h5",
               "no /union and /intersection: the network has no uncertainty heads");
  p = hand_predictions();
  p.union_map.reset();
  expect_error([&] { analyze_hu(store, p, "job/predictions.h5"); }, "job/predictions.h5",
               "no /union:");
  p = hand_predictions();
  p.nodule_ids = {"elsewhere"};
  expect_error([&] { analyze_hu(store, p, "job/predictions.h5"); }, "job/predictions.h5",
               "1 predicted nodule ids are not in store");
  p = hand_predictions();
  p.height = 2;
  p.width = 8;
  expect_error([&] { analyze_hu(store, p, "job/predictions.h5"); }, "job/predictions.h5",
               "maps are 2x8");
}

}  // namespace
}  // namespace ugs::metrics
