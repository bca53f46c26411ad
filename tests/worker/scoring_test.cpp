// End to end: a tiny store written with NoduleStoreWriter, predictions equal to Label_1, scores
// checked against numbers worked out by hand (the derivations are in the comments).
#include "ugs/worker/scoring.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ugs/storage/predictions.h"
#include "ugs/storage/store.h"
#include "storage/test_support.h"

namespace ugs::metrics {
namespace {

namespace fs = std::filesystem;
using storage::Nodule;
using storage::NoduleStore;
using storage::NoduleStoreWriter;
using storage::Predictions;
using storage::ReaderMasks;
using storage::StoreAttributes;

constexpr int kSize = 32;
constexpr int kPixels = kSize * kSize;

std::vector<std::uint8_t> rect(int r0, int r1, int c0, int c1) {
  std::vector<std::uint8_t> m(kPixels, 0);
  for (int i = r0; i < r1; ++i) {
    for (int j = c0; j < c1; ++j) m[i * kSize + j] = 1;
  }
  return m;
}

// A = rows 10..19 x columns 10..19 (100 px), B = rows 10..19 x columns 10..24 (150 px): B contains A.
const std::vector<std::uint8_t> kA = rect(10, 20, 10, 20);
const std::vector<std::uint8_t> kB = rect(10, 20, 10, 25);
const std::vector<std::uint8_t> kEmpty(kPixels, 0);

// NSD of A against B, derived on the corner grid. A's contour: 4 sides of 9 unit corners plus 4
// vertices of sqrt(2)/2, 36 + 2 sqrt(2); B's: 2*9 + 2*14 + 2 sqrt(2) = 46 + 2 sqrt(2). They share
// the left side and the top and bottom up to column 20.
//  - At 1 px: A's right side (column 20) is more than 1 px from B's surface at rows 12..18 (7 unit
//    corners); B's top and bottom reach 1 px past column 20 (column 21 counts; 22..24 and the
//    right vertices do not), so B within = 2*(11 + sqrt(2)/2) + 9.
//  - At 0.5 px (spacing 2 mm, tolerance 1 mm) only shared corners count: A loses its 9 right-side
//    corners, B keeps 2*(10 + sqrt(2)/2) + 9 (lengths scale by 2 on both sides of the fraction).
const double kSqrt2 = std::sqrt(2.0);
const double kNsdAtOnePixel = (29 + 2 * kSqrt2 + 31 + kSqrt2) / (82 + 4 * kSqrt2);
const double kNsdAtHalfPixel = (27 + 2 * kSqrt2 + 29 + kSqrt2) / (82 + 4 * kSqrt2);

Nodule make_nodule(const std::string& id, std::array<double, 2> spacing,
                   const std::vector<std::vector<std::uint8_t>>& readers) {
  Nodule n;
  n.info.nodule_id = id;
  n.info.patient_id = "patient-" + id;
  n.info.spacing_mm = spacing;
  n.info.diameter_mm = 10;
  n.info.annotator_count = static_cast<int>(readers.size());
  n.image.assign(kPixels, -500.0f);
  n.union_mask.assign(kPixels, 0);
  n.intersection_mask.assign(kPixels, readers.empty() ? 0 : 1);
  for (const auto& mask : readers) {
    n.annotators.insert(n.annotators.end(), mask.begin(), mask.end());
    for (int k = 0; k < kPixels; ++k) {
      n.union_mask[k] |= mask[k];
      n.intersection_mask[k] &= mask[k];
    }
  }
  return n;
}

// Probabilities that threshold to `mask` exactly at the edge: 0.5 is foreground, 0.4999 is not.
std::vector<float> probabilities(const std::vector<std::uint8_t>& mask) {
  std::vector<float> p(mask.size());
  for (std::size_t k = 0; k < mask.size(); ++k) p[k] = mask[k] ? 0.5f : 0.4999f;
  return p;
}

class Scoring : public ::testing::Test {
 protected:
  // Nodules "a" (spacing 1 mm) and "b" (2 mm): Label_1 = A, Label_2 = B. Nodule "c": one reader
  // whose mask is empty.
  fs::path write_reader_store() {
    fs::path dir = directory_ / "store";
    StoreAttributes attributes;
    attributes.height = kSize;
    attributes.width = kSize;
    attributes.source = "scoring test";
    NoduleStoreWriter writer(dir, attributes);
    writer.add(make_nodule("a", {1.0, 1.0}, {kA, kB}));
    writer.add(make_nodule("b", {2.0, 2.0}, {kA, kB}));
    writer.add(make_nodule("c", {1.0, 1.0}, {kEmpty}));
    writer.finish();
    return dir;
  }

  // Predictions equal to Label_1, listed in another order than the store's; with_set adds
  // I' = A and U' = B (both right for a and b).
  fs::path write_predictions_file(const std::vector<std::string>& ids, bool with_set) {
    Predictions p;
    p.height = kSize;
    p.width = kSize;
    p.nodule_ids = ids;
    p.union_map.emplace();
    p.intersection_map.emplace();
    for (const std::string& id : ids) {
      const auto& label_1 = id == "c" ? kEmpty : kA;
      auto x = probabilities(label_1);
      p.segmentation.insert(p.segmentation.end(), x.begin(), x.end());
      auto u = probabilities(id == "c" ? kEmpty : kB);
      p.union_map->insert(p.union_map->end(), u.begin(), u.end());
      p.intersection_map->insert(p.intersection_map->end(), x.begin(), x.end());
    }
    if (!with_set) p.union_map.reset(), p.intersection_map.reset();
    fs::path file = directory_ / "predictions.h5";
    storage::write_predictions(file, p);
    return file;
  }

  storage::testing::TemporaryFolder folder_;
  const fs::path& directory_ = folder_.path();
};

TEST_F(Scoring, PredictionsEqualToLabel1AgainstTwoDifferentReaders) {
  NoduleStore store = NoduleStore::open(write_reader_store());
  fs::path file = write_predictions_file({"c", "b", "a"}, true);
  ScoreReport report = score_predictions(store, file, ScoringOptions{});

  ASSERT_EQ(report.per_nodule.size(), 3u);
  EXPECT_EQ(report.per_nodule[0].nodule_id, "a");  // store order, not the file's
  const ScoreTable& a = report.per_nodule[0].scores;
  const ScoreTable& b = report.per_nodule[1].scores;
  const ScoreTable& c = report.per_nodule[2].scores;

  // Against Label_1 the prediction is perfect.
  EXPECT_EQ(a.at("label_1").at("dsc"), 1.0);
  EXPECT_EQ(a.at("label_1").at("iou"), 1.0);
  EXPECT_EQ(a.at("label_1").at("nsd"), 1.0);
  // Against Label_2 = the union = B: DSC 2*100/(100+150), IoU 100/150.
  for (const char* target : {"label_2", "union"}) {
    SCOPED_TRACE(target);
    EXPECT_NEAR(a.at(target).at("dsc"), 0.8, 1e-15);
    EXPECT_NEAR(a.at(target).at("iou"), 2.0 / 3.0, 1e-15);
    EXPECT_NEAR(a.at(target).at("nsd"), kNsdAtOnePixel, 1e-12);
    EXPECT_NEAR(b.at(target).at("nsd"), kNsdAtHalfPixel, 1e-12);  // 2 mm pixels, 1 mm tolerance
  }
  EXPECT_EQ(a.at("intersection").at("dsc"), 1.0);
  EXPECT_NEAR(a.at("label_mean").at("dsc"), 0.9, 1e-15);
  EXPECT_NEAR(a.at("label_mean").at("iou"), 5.0 / 6.0, 1e-15);
  EXPECT_NEAR(a.at("label_mean").at("nsd"), (1 + kNsdAtOnePixel) / 2, 1e-12);

  // S = {A, A, B}, Y = {A, B}, d(A, B) = 1/3:
  // GED^2 = 2/6 * (1/3 + 1/3 + 1/3) - 1/9 * 4/3 - 1/4 * 2/3 = 1/54.
  // HM-IoU: L = 6, rows A A B A A B, columns A B A B A B; five pairs match exactly, one A-B: 17/18.
  EXPECT_NEAR(a.at("set").at("ged_squared"), 1.0 / 54.0, 1e-15);
  EXPECT_NEAR(a.at("set").at("hm_iou"), 17.0 / 18.0, 1e-15);

  // Nodule c: empty reader, empty prediction: NaN scores; its set {empty x3} vs {empty} is perfect.
  EXPECT_TRUE(std::isnan(c.at("label_1").at("dsc")));
  EXPECT_TRUE(std::isnan(c.at("union").at("nsd")));
  EXPECT_TRUE(std::isnan(c.at("label_mean").at("iou")));
  EXPECT_EQ(c.count("label_2"), 0u);  // one reader: no label_2, not a faked one
  EXPECT_EQ(c.at("set").at("ged_squared"), 0.0);
  EXPECT_EQ(c.at("set").at("hm_iou"), 1.0);

  // Summary: NaN skipped and counted; label_2 only over the two nodules that have a second reader.
  const Statistic& label_1_dsc = report.summary.at("label_1").at("dsc");
  EXPECT_EQ(label_1_dsc.mean, 1.0);
  EXPECT_EQ(label_1_dsc.std, 0.0);
  EXPECT_EQ(label_1_dsc.count, 2);
  EXPECT_EQ(label_1_dsc.nan_count, 1);
  const Statistic& union_dsc = report.summary.at("union").at("dsc");
  EXPECT_NEAR(union_dsc.mean, 0.8, 1e-15);
  EXPECT_LT(union_dsc.mean, label_1_dsc.mean);
  const Statistic& label_2_nsd = report.summary.at("label_2").at("nsd");
  EXPECT_EQ(label_2_nsd.count, 2);
  EXPECT_EQ(label_2_nsd.nan_count, 0);
  EXPECT_NEAR(label_2_nsd.mean, (kNsdAtOnePixel + kNsdAtHalfPixel) / 2, 1e-12);
  EXPECT_NEAR(label_2_nsd.std, (kNsdAtOnePixel - kNsdAtHalfPixel) / 2, 1e-12);
  const Statistic& hm = report.summary.at("set").at("hm_iou");
  EXPECT_NEAR(hm.mean, (17.0 / 18 + 17.0 / 18 + 1) / 3, 1e-15);
  EXPECT_EQ(hm.count, 3);
  EXPECT_TRUE(report.notes.empty());

  // The tolerance is in mm: at 2 mm nodule a counts A's right side within 2 px too.
  ScoringOptions wide;
  wide.tolerance_mm = 2.0;
  ScoreReport report_2mm = score_predictions(store, file, wide);
  EXPECT_GT(report_2mm.per_nodule[0].scores.at("label_2").at("nsd"), kNsdAtOnePixel);
}

TEST_F(Scoring, SummaryJsonIsNnUnetLike) {
  NoduleStore store = NoduleStore::open(write_reader_store());
  ScoreReport report = score_predictions(store, write_predictions_file({"a", "b", "c"}, false),
                                         ScoringOptions{});
  fs::path out = directory_ / "summary.json";
  write_summary_json(out, report);
  nlohmann::json j = nlohmann::json::parse(std::ifstream(out));
  EXPECT_EQ(j.at("schema"), "ugs.score-summary");
  EXPECT_EQ(j.at("tolerance_mm"), 1.0);
  ASSERT_EQ(j.at("metric_per_case").size(), 3u);
  EXPECT_EQ(j.at("metric_per_case")[0].at("nodule_id"), "a");
  EXPECT_EQ(j.at("metric_per_case")[0].at("metrics").at("label_1").at("dsc"), 1.0);
  EXPECT_TRUE(j.at("metric_per_case")[2].at("metrics").at("label_1").at("dsc").is_null());  // NaN
  EXPECT_EQ(j.at("mean").at("label_1").at("dsc"), 1.0);
  EXPECT_NEAR(j.at("mean").at("union").at("dsc").get<double>(), 0.8, 1e-15);
  EXPECT_EQ(j.at("std").at("label_1").at("dsc"), 0.0);
  EXPECT_EQ(j.at("nan_count").at("label_1").at("dsc"), 1);
  EXPECT_EQ(j.at("count").at("label_2").at("dsc"), 2);
  // No /union and /intersection: no set scores, and a note that says so.
  EXPECT_FALSE(j.at("mean").contains("set"));
  ASSERT_EQ(j.at("notes").size(), 1u);
  EXPECT_NE(j.at("notes")[0].get<std::string>().find("set: absent"), std::string::npos);

  std::string table = summary_table(report);
  EXPECT_NE(table.find("label_1        dsc            1.0000   0.0000       2     1"),
            std::string::npos)
      << table;
  EXPECT_LT(table.find("label_1"), table.find("union"));  // Label_1 first
}

TEST_F(Scoring, StoreWithoutPerReaderMasksHasNoAnnotatorScores) {
  fs::path dir = directory_ / "png-layout";
  StoreAttributes attributes;
  attributes.height = kSize;
  attributes.width = kSize;
  attributes.reader_masks = ReaderMasks::kUnionIntersectionOnly;
  NoduleStoreWriter writer(dir, attributes);
  Nodule n = make_nodule("a", {1.0, 1.0}, {});
  n.union_mask = kB;
  n.intersection_mask = kA;
  writer.add(n);
  writer.finish();
  NoduleStore store = NoduleStore::open(dir);
  ScoreReport report = score_predictions(store, write_predictions_file({"a"}, true), ScoringOptions{});
  const ScoreTable& a = report.per_nodule.at(0).scores;
  EXPECT_EQ(a.count("label_1") + a.count("label_mean") + a.count("set"), 0u);
  EXPECT_NEAR(a.at("union").at("dsc"), 0.8, 1e-15);
  EXPECT_EQ(a.at("intersection").at("dsc"), 1.0);
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_NE(report.notes[0].find("without per-reader masks"), std::string::npos);
}

TEST_F(Scoring, CoverageAndShapeErrors) {
  NoduleStore store = NoduleStore::open(write_reader_store());
  auto expect_error = [&](const fs::path& file, const ScoringOptions& options,
                          const std::string& phrase) {
    try {
      score_predictions(store, file, options);
      FAIL() << "scored predictions that should fail with '" << phrase << "'";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    }
  };
  ScoringOptions whole, subset;
  subset.coverage = Coverage::kSubset;

  fs::path partial = write_predictions_file({"b"}, false);
  expect_error(partial, whole, "2 of 3 nodules have no prediction in " + partial.string() +
                                   " ('a', 'c')");
  ScoreReport report = score_predictions(store, partial, subset);
  ASSERT_EQ(report.per_nodule.size(), 1u);
  EXPECT_EQ(report.per_nodule[0].nodule_id, "b");
  EXPECT_NE(report.notes.at(0).find("subset: scored 1 of the store's 3 nodules"), std::string::npos);

  fs::path stranger = write_predictions_file({"a", "b", "c", "zz"}, false);
  expect_error(stranger, subset, "1 predicted nodule ids are not in store");
  expect_error(stranger, subset, "('zz')");

  Predictions small;
  small.height = small.width = 8;
  small.nodule_ids = {"a"};
  small.segmentation.assign(64, 0.0f);
  storage::write_predictions(directory_ / "small.h5", small);
  expect_error(directory_ / "small.h5", subset, "maps are 8x8, the crops of store");

  ScoringOptions negative;
  negative.tolerance_mm = -1;
  expect_error(partial, negative, "NSD tolerance must be finite and >= 0 mm");
}

}  // namespace
}  // namespace ugs::metrics
