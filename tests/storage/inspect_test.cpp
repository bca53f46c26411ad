// `ugs inspect` and the summary behind it, on a tiny store whose numbers follow from its construction.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <H5Cpp.h>

#include <nlohmann/json.hpp>

#include "storage/test_support.h"
#include "ugs/storage/store.h"
#include "ugs/storage/summary.h"

namespace ugs::storage {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TemporaryFolder;

TEST(Describe, QuantilesInterpolateLikeNumpy) {
  const ValueStats s = describe(std::vector<double>{4, 1, 3, 2});
  EXPECT_EQ(s.count, 4u);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.std, std::sqrt(1.25));  // population: mean of squared deviations (2.25+.25+.25+2.25)/4
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.q1, 1.75);  // position 0.75 between 1 and 2
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.q3, 3.25);
  EXPECT_DOUBLE_EQ(s.max, 4);
  const ValueStats empty = describe(std::vector<float>{});
  EXPECT_EQ(empty.count, 0u);
  EXPECT_TRUE(std::isnan(empty.mean) && std::isnan(empty.median));
}

// Three nodules (patients p0: n0, n1; p1: n2) with 2, 3, 4 readers; image values set by region:
// HC 100, background -800, LC 40 + 10 i, except n2 whose LC (200) is denser than its HC.
class InspectTinyStore : public ::testing::Test {
 protected:
  void SetUp() override {
    attributes_.height = attributes_.width = 16;
    attributes_.source = "inspect test";
    for (int i = 0; i < 3; ++i) {
      Nodule n = testing::random_nodule(attributes_, "n" + std::to_string(i), "p" + std::to_string(i / 2), i + 2, 40 + i);
      n.info.diameter_mm = 4.0 + 7.0 * i;  // 4, 11, 18: bins [3,5), [10,20), [10,20)
      for (std::size_t p = 0; p < attributes_.pixel_count(); ++p) {
        n.image[p] = n.intersection_mask[p] ? 100.0f : n.union_mask[p] ? (i == 2 ? 200.0f : 40.0f + 10 * i) : -800.0f;
      }
      nodules_.push_back(std::move(n));
    }
    testing::write_store(folder_ / "store", attributes_, nodules_);
  }

  TemporaryFolder folder_;
  StoreAttributes attributes_;
  std::vector<Nodule> nodules_;
};

TEST_F(InspectTinyStore, JsonHoldsTheNumbersOfTheStore) {
  std::size_t hc = 0, background = 0, with_both = 0, lc_below_hc = 0;
  std::vector<double> lc_values;
  for (const Nodule& n : nodules_) {
    std::size_t nodule_hc = 0, nodule_lc = 0;
    double lc_of_nodule = 0;
    for (std::size_t p = 0; p < attributes_.pixel_count(); ++p) {
      if (n.intersection_mask[p]) {
        ++nodule_hc;
      } else if (n.union_mask[p]) {
        lc_values.push_back(n.image[p]);
        lc_of_nodule = n.image[p];
        ++nodule_lc;
      } else {
        ++background;
      }
    }
    hc += nodule_hc;
    if (nodule_hc > 0 && nodule_lc > 0) {
      ++with_both;
      lc_below_hc += lc_of_nodule < 100;
    }
  }
  ASSERT_GT(hc, 0u);
  ASSERT_GT(lc_values.size(), 0u);
  double lc_sum = 0;
  for (double v : lc_values) lc_sum += v;

  const auto run = testing::run_ugs("inspect --json '" + (folder_ / "store").string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const json s = json::parse(run.output);
  EXPECT_EQ(s["nodules"], 3);
  EXPECT_EQ(s["patients"], 2);
  EXPECT_EQ(s["shards"], 1);
  EXPECT_EQ(s["attributes"]["image_unit"], "HU");
  EXPECT_EQ(s["attributes"]["reader_masks"], "per-reader");
  EXPECT_EQ(s["attributes"]["source"], "inspect test");
  EXPECT_EQ(s["nodules_by_annotator_count"], (json{{"2", 1}, {"3", 1}, {"4", 1}}));
  EXPECT_EQ(s["nodules_by_kind"], (json{{"solid", 1}}));  // random_nodule names odd reader counts "solid"
  EXPECT_EQ(s["patients_by_nodule_count"], (json{{"1", 1}, {"2", 1}}));
  EXPECT_EQ(s["diameter_mm"]["min"], 4.0);
  EXPECT_EQ(s["diameter_mm"]["median"], 11.0);
  EXPECT_EQ(s["diameter_mm"]["max"], 18.0);
  std::vector<std::size_t> histogram;
  for (const json& bin : s["diameter_histogram"]) histogram.push_back(bin["nodules"]);
  EXPECT_EQ(histogram, (std::vector<std::size_t>{0, 1, 0, 2, 0, 0}));
  EXPECT_TRUE(s["diameter_histogram"].back()["upper_mm"].is_null());

  const json& values = s["image_values"];
  EXPECT_EQ(values["hc_intersection"]["count"], hc);
  EXPECT_EQ(values["hc_intersection"]["mean"], 100.0);
  EXPECT_EQ(values["hc_intersection"]["std"], 0.0);
  EXPECT_EQ(values["hc_intersection"]["median"], 100.0);
  EXPECT_EQ(values["lc_union_minus_intersection"]["count"], lc_values.size());
  EXPECT_NEAR(values["lc_union_minus_intersection"]["mean"].get<double>(), lc_sum / lc_values.size(), 1e-9);
  EXPECT_EQ(values["lc_union_minus_intersection"]["min"], *std::min_element(lc_values.begin(), lc_values.end()));
  EXPECT_EQ(values["lc_union_minus_intersection"]["max"], 200.0);
  EXPECT_EQ(values["background"]["count"], background);
  EXPECT_EQ(values["background"]["q3"], -800.0);
  EXPECT_EQ(s["nodules_with_lc_and_hc"], with_both);
  EXPECT_EQ(s["nodules_lc_mean_below_hc_mean"], lc_below_hc);
  EXPECT_EQ(with_both, 3u);  // the construction's intent: every nodule has both regions, n2's LC is dense
  EXPECT_EQ(lc_below_hc, 2u);
}

TEST_F(InspectTinyStore, TableIsReadable) {
  const auto run = testing::run_ugs("inspect '" + (folder_ / "store").string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  for (const char* line : {"source      inspect test", "16x16 pixels, image unit HU, masks per-reader",
                           "nodules     3 of 2 patients, in 1 shard", "annotators per nodule", "solid",
                           "diameter (mm): min 4.0, median 11.0, max 18.0", "HC: intersection",
                           "LC: union minus intersection", "background: outside the union",
                           "LC mean below HC mean in 2 of 3 nodules that have both regions"}) {
    EXPECT_NE(run.output.find(line), std::string::npos) << "missing '" << line << "' in\n" << run.output;
  }
}

// summarize() reads every nodule, so a bad pixel anywhere fails it with the shard named.
TEST_F(InspectTinyStore, ValidatesEveryNodule) {
  const NoduleStore store = NoduleStore::open(folder_ / "store");
  EXPECT_EQ(summarize(store).nodules, 3u);
  testing::write_store(folder_ / "bad", attributes_, {nodules_[0]});
  {
    // Rewriting with a mask value of 2 is refused by the writer, so damage the file itself: flip the
    // union at one pixel where the annotators agree on 0, which makes it inconsistent.
    const std::size_t pixel = std::find(nodules_[0].union_mask.begin(), nodules_[0].union_mask.end(), 0) -
                              nodules_[0].union_mask.begin();
    H5::H5File file((folder_ / "bad" / "shard-00000.h5").string(), H5F_ACC_RDWR);
    H5::DataSet dataset = file.openDataSet("union");
    H5::DataSpace space = dataset.getSpace();
    const hsize_t start[3] = {0, pixel / 16, pixel % 16}, count[3] = {1, 1, 1}, one = 1;
    space.selectHyperslab(H5S_SELECT_SET, count, start);
    const std::uint8_t value = 1;
    dataset.write(&value, H5::PredType::NATIVE_UINT8, H5::DataSpace(1, &one), space);
  }
  const NoduleStore bad = NoduleStore::open(folder_ / "bad");
  testing::expect_error([&] { summarize(bad); }, folder_ / "bad" / "shard-00000.h5", "nodule 'n0': union is 1");
}

}  // namespace
}  // namespace ugs::storage
