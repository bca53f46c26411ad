// `ugs analyze hu` as a user runs it: the binary on a job folder over a small synthetic store.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "storage/test_support.h"
#include "ugs/storage/predictions.h"
#include "ugs/storage/store.h"
#include "ugs/storage/synth.h"
#include "worker/analysis_test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace ugs::storage;
using ugs::storage::testing::CommandResult;
using ugs::storage::testing::run_ugs;
using ugs::storage::testing::TemporaryFolder;

class AnalyzeHuCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    SynthOptions options;
    options.seed = 5;
    options.nodule_count = 8;
    write_synthetic_store(SynthGenerator(options), folder_ / "store", {});
    fs::create_directories(job());
    std::ofstream(job() / "config.toml")
        << "[data]\nstore = \"" << (folder_ / "store").string() << "\"\n";
    // Perfect uncertainty heads for the first four nodules.
    const Predictions p =
        ugs::testing::perfect_predictions(NoduleStore::open(folder_ / "store"), {0, 1, 2, 3});
    write_predictions(job() / "predictions.h5", p);
    without_heads_ = p;
    without_heads_.union_map.reset();
    without_heads_.intersection_map.reset();
  }

  fs::path job() const { return folder_ / "job"; }
  TemporaryFolder folder_;
  Predictions without_heads_;
};

TEST_F(AnalyzeHuCommand, WritesTheNumbersAndThePictureIntoTheJob) {
  CommandResult run = run_ugs("analyze hu " + job().string());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("of 4 nodules"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("predicted vs true: HC 0.0 HU, LC 0.0 HU"), std::string::npos)
      << run.output;
  const nlohmann::json json = nlohmann::json::parse(std::ifstream(job() / "hu_analysis.json"));
  EXPECT_EQ(json.at("wasserstein1").at("hc"), 0.0);
  EXPECT_EQ(json.at("wasserstein1").at("lc"), 0.0);
  EXPECT_GT(json.at("wasserstein1").at("true_hc_vs_true_lc").get<double>(), 0.0);
  EXPECT_EQ(json.at("regions").at("true_hc").at("count"),
            json.at("regions").at("predicted_hc").at("count"));
  EXPECT_TRUE(ugs::testing::png_size(job() / "hu_analysis.png").valid);
}

TEST_F(AnalyzeHuCommand, StoreAndPrefixCanBeGiven) {
  fs::remove(job() / "config.toml");
  const fs::path prefix = folder_ / "elsewhere";
  CommandResult run = run_ugs("analyze hu " + job().string() + " --store " +
                              (folder_ / "store").string() + " --out " + prefix.string());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(fs::exists(prefix.string() + ".json"));
  EXPECT_TRUE(ugs::testing::png_size(prefix.string() + ".png").valid);
  EXPECT_FALSE(fs::exists(job() / "hu_analysis.json"));
}

TEST_F(AnalyzeHuCommand, ErrorsAreOneLine) {
  write_predictions(job() / "predictions.h5", without_heads_);
  CommandResult run = run_ugs("analyze hu " + job().string());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.output,
            "ugs: error: " + (job() / "predictions.h5").string() +
                ": no /union and /intersection: the network has no uncertainty heads (U', "
                "I'), so there are no predicted HC and LC regions to analyse\n");

  fs::remove(job() / "config.toml");
  run = run_ugs("analyze hu " + job().string());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.output.rfind("ugs: error: " + (job() / "config.toml").string() + ": missing", 0),
            0u)
      << run.output;

  SynthOptions other;
  other.seed = 6;
  other.nodule_count = 3;
  write_synthetic_store(SynthGenerator(other), folder_ / "other", {});
  Predictions foreign = without_heads_;
  foreign.union_map = foreign.segmentation;
  foreign.intersection_map = foreign.segmentation;
  foreign.nodule_ids = {"x1", "x2", "x3", "x4"};
  write_predictions(job() / "predictions.h5", foreign);
  run = run_ugs("analyze hu " + job().string() + " --store " + (folder_ / "other").string());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("4 predicted nodule ids are not in store"), std::string::npos)
      << run.output;
  EXPECT_EQ(run.output.find('\n'), run.output.size() - 1) << run.output;
}

}  // namespace
