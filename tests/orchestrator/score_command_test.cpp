// `ugs score` as a user runs it: the binary, a tiny store, a predictions file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ugs/storage/predictions.h"
#include "ugs/storage/store.h"
#include "storage/test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace ugs::storage;
using ugs::storage::testing::CommandResult;
using ugs::storage::testing::run_ugs;
using ugs::storage::testing::TemporaryFolder;

constexpr int kSize = 16;

class ScoreCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    // Two nodules, two readers each: a 4x4 square and a 4x6 rectangle containing it.
    std::vector<std::uint8_t> square(kSize * kSize, 0), wide(kSize * kSize, 0);
    for (int i = 4; i < 8; ++i) {
      for (int j = 4; j < 10; ++j) {
        wide[i * kSize + j] = 1;
        square[i * kSize + j] = j < 8;
      }
    }
    StoreAttributes attributes;
    attributes.height = attributes.width = kSize;
    NoduleStoreWriter writer(folder_ / "store", attributes);
    for (const char* id : {"n1", "n2"}) {
      Nodule n;
      n.info.nodule_id = id;
      n.info.patient_id = id;
      n.info.annotator_count = 2;
      n.image.assign(kSize * kSize, 0.0f);
      n.annotators = square;
      n.annotators.insert(n.annotators.end(), wide.begin(), wide.end());
      n.union_mask = wide;
      n.intersection_mask = square;
      writer.add(n);
    }
    writer.finish();
    Predictions p;
    p.height = p.width = kSize;
    p.nodule_ids = {"n2", "n1"};
    for (int k = 0; k < 2; ++k) {
      for (std::uint8_t v : square) p.segmentation.push_back(v ? 0.9f : 0.1f);
    }
    write_predictions(folder_ / "predictions.h5", p);
    p.nodule_ids = {"n2"};
    p.segmentation.resize(kSize * kSize);
    write_predictions(folder_ / "one.h5", p);
  }

  std::string path(const char* name) const { return (folder_ / name).string(); }
  TemporaryFolder folder_;
};

TEST_F(ScoreCommand, PrintsTheTableAndWritesTheSummary) {
  CommandResult run = run_ugs("score --truth " + path("store") + " --pred " + path("predictions.h5") +
                    " --out " + path("summary.json"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("2 of 2 nodules"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("label_1        dsc            1.0000"), std::string::npos) << run.output;
  nlohmann::json summary = nlohmann::json::parse(std::ifstream(path("summary.json")));
  EXPECT_EQ(summary.at("mean").at("label_1").at("dsc"), 1.0);
  // 16 of 24 pixels: DSC 2*16/(16+24) = 0.8 against the wider reader and the union.
  EXPECT_NEAR(summary.at("mean").at("union").at("dsc").get<double>(), 0.8, 1e-15);
  EXPECT_NEAR(summary.at("mean").at("label_2").at("dsc").get<double>(), 0.8, 1e-15);
}

TEST_F(ScoreCommand, MissingNodulesNeedSubset) {
  CommandResult refused = run_ugs("score --truth " + path("store") + " --pred " + path("one.h5"));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.output.rfind("ugs: error: ", 0), 0u) << refused.output;
  EXPECT_NE(refused.output.find("1 of 2 nodules have no prediction"), std::string::npos);
  CommandResult subset = run_ugs("score --truth " + path("store") + " --pred " + path("one.h5") + " --subset");
  EXPECT_EQ(subset.exit_code, 0) << subset.output;
  EXPECT_NE(subset.output.find("1 of 2 nodules"), std::string::npos) << subset.output;
}

TEST_F(ScoreCommand, HelpIsAManual) {
  CommandResult help = run_ugs("score --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* text : {"--truth", "--pred", "--tolerance-mm", "default 1", "--out", "--subset",
                           "label_1", "GED^2"}) {
    EXPECT_NE(help.output.find(text), std::string::npos) << text << " missing from\n" << help.output;
  }
}

}  // namespace
