// The 12 real LIDC-IDRI nodules (Armato III et al., Med. Phys. 38(2), 2011; TCIA, CC BY 3.0) in the
// UGS-Net authors' PNG layout, through every command a user chains: import -> split -> train ->
// predict -> score. A smoke run of a tiny model for two epochs: it checks that the path works on
// real data (8-bit crops, union and intersection only), not a score.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "storage/test_support.h"

namespace ugs::cli {
namespace {

namespace fs = std::filesystem;
using storage::testing::run_ugs;
using storage::testing::TemporaryFolder;

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

TEST(RealData, ImportTrainPredictScoreOnTheTwelveSharedNodules) {
  ASSERT_TRUE(fs::is_directory(storage::testing::ugsnet_png_samples())) << storage::testing::kMissingSamples;
  TemporaryFolder folder;
  const fs::path store = folder.path() / "lidc12";
  const auto imported = run_ugs("import ugsnet-png " + quoted(storage::testing::ugsnet_png_samples()) + " " +
                                quoted(store));
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  const fs::path split = store / "splits_final.json";
  ASSERT_EQ(run_ugs("split " + quoted(store) + " --folds 3 --out " + quoted(split)).exit_code, 0);

  // A store without per-reader masks: the single target is the union; 8-bit crops take one window.
  const fs::path config = folder.path() / "smoke.toml";
  std::ofstream(config) << "[data]\nstore = \"" << store.string() << "\"\nsplit = \"" << split.string()
                        << "\"\nsingle_target = \"union\"\n"
                        << "[model]\nname = \"ugsnet\"\nbase_width = 8\n"
                        << "[optimizer]\nkind = \"adam\"\nlr = 1e-3\n"
                        << "[training]\nepochs = 2\nbatch_size = 4\n[preprocess]\nsize = 32\n";
  const fs::path job = folder.path() / "job";
  const auto trained = run_ugs("train " + quoted(config) + " --fold 1 --out " + quoted(job));
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_NE(trained.output.find("union          dsc"), std::string::npos) << trained.output;

  const fs::path predicted = folder.path() / "predicted";
  const auto predict = run_ugs("predict --checkpoint " + quoted(job / "checkpoint_final.pt") + " " + quoted(store) +
                               " --out " + quoted(predicted));
  ASSERT_EQ(predict.exit_code, 0) << predict.output;
  EXPECT_TRUE(fs::exists(predicted / "montage.png"));

  const fs::path scores = folder.path() / "scores.json";
  const auto scored = run_ugs("score --truth " + quoted(store) + " --pred " + quoted(predicted / "predictions.h5") +
                              " --out " + quoted(scores));
  ASSERT_EQ(scored.exit_code, 0) << scored.output;
  std::ifstream in(scores);
  const auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["count"]["union"]["dsc"].get<int>() + summary["nan_count"]["union"]["dsc"].get<int>(), 12);
  EXPECT_FALSE(summary["mean"].contains("label_1")) << "a store without readers' masks has no Label_1 scores";
}

}  // namespace
}  // namespace ugs::cli
