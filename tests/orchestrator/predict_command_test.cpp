// `ugs predict` as a user runs it: a tiny UGS-Net trained for one epoch by `ugs train`, then its
// checkpoint predicts the store, a few chosen nodules' montage, and one PNG crop.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "storage/test_support.h"
#include "ugs/storage/files.h"
#include "ugs/storage/png_io.h"
#include "ugs/storage/predictions.h"
#include "ugs/storage/store.h"

namespace ugs::cli {
namespace {

namespace fs = std::filesystem;
using storage::Predictions;
using storage::testing::CommandResult;
using storage::testing::run_ugs;
using storage::testing::TemporaryFolder;

constexpr int kCrop = 50;             // `ugs synth` crops
constexpr int kPanel = kCrop * 4 + 4;  // a montage panel and its gap at the default 4x

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

// One trained job for every test of the suite: training is the slow part.
class PredictCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new fs::path(fs::temp_directory_path() / ("ugs-test-PredictCommand-" + std::to_string(::getpid())));
    fs::create_directories(*folder_);
    const fs::path store = *folder_ / "store";
    ASSERT_EQ(run_ugs("synth --out " + quoted(store) + " --nodules 24").exit_code, 0);
    ASSERT_EQ(run_ugs("split " + quoted(store) + " --folds 3 --out " + quoted(store / "splits.json")).exit_code, 0);
    std::ofstream(*folder_ / "tiny.toml") << "[data]\nstore = \"" << store.string() << "\"\nsplit = \""
                                          << (store / "splits.json").string() << "\"\n"
                                          << "[model]\nname = \"ugsnet\"\nbase_width = 8\n"
                                          << "[optimizer]\nkind = \"adam\"\nlr = 1e-3\n"
                                          << "[training]\nepochs = 1\nbatch_size = 8\n[preprocess]\nsize = 16\n";
    const CommandResult train = run_ugs("train " + quoted(*folder_ / "tiny.toml") + " --out " + quoted(job()));
    ASSERT_EQ(train.exit_code, 0) << train.output;
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    storage::remove_tree(*folder_, ignored);
    delete folder_;
  }
  static fs::path store() { return *folder_ / "store"; }
  static fs::path job() { return *folder_ / "job"; }
  static fs::path checkpoint() { return job() / "checkpoint_final.pt"; }

  TemporaryFolder out_;

 private:
  static fs::path* folder_;
};
fs::path* PredictCommand::folder_ = nullptr;

TEST_F(PredictCommand, PredictsTheStoreAsTheTrainingJobDidAndDrawsTheFirstNodules) {
  const CommandResult run =
      run_ugs("predict --checkpoint " + quoted(checkpoint()) + " " + quoted(store()) + " --out " +
              quoted(out_ / "predict") + " --montage 3 --batch-size 5");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("(24 nodules; X_S, U', I', GT'_Uni)"), std::string::npos) << run.output;

  const storage::NoduleStore truth = storage::NoduleStore::open(store());
  const Predictions all = storage::read_predictions(out_ / "predict" / "predictions.h5");
  ASSERT_EQ(all.size(), truth.size());
  for (std::size_t i = 0; i < truth.size(); ++i) EXPECT_EQ(all.nodule_ids[i], truth.info(i).nodule_id);
  EXPECT_EQ(all.height, kCrop);
  EXPECT_TRUE(all.union_map && all.intersection_map && all.annotation_map);

  // The job predicted its test fold with the same final weights (in batches of 8): the same maps.
  const Predictions test_fold = storage::read_predictions(job() / "predictions.h5");
  ASSERT_GT(test_fold.size(), 0u);
  for (std::size_t row = 0; row < test_fold.size(); ++row) {
    const std::size_t at = *truth.find(test_fold.nodule_ids[row]);
    const float* expected = test_fold.of(test_fold.segmentation, row);
    const float* actual = all.of(all.segmentation, at);
    for (std::size_t p = 0; p < all.pixels(); ++p) ASSERT_NEAR(actual[p], expected[p], 1e-5) << row << " " << p;
  }

  const storage::RgbImage montage = storage::read_png_rgb8(out_ / "predict" / "montage.png");
  EXPECT_EQ(montage.height, 4 + 3 * kPanel);
  EXPECT_EQ(montage.width, 4 + 3 * kPanel);
}

TEST_F(PredictCommand, DrawsTheNodulesNamedAndRefusesAnUnknownOneBeforeWriting) {
  const storage::NoduleStore truth = storage::NoduleStore::open(store());
  const std::string two = truth.info(5).nodule_id + "," + truth.info(2).nodule_id;
  const CommandResult run = run_ugs("predict --checkpoint " + quoted(checkpoint()) + " " + quoted(store()) +
                                    " --out " + quoted(out_ / "two") + " --nodules " + two);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(storage::read_png_rgb8(out_ / "two" / "montage.png").height, 4 + 2 * kPanel);

  const CommandResult unknown = run_ugs("predict --checkpoint " + quoted(checkpoint()) + " " + quoted(store()) +
                                        " --out " + quoted(out_ / "bad") + " --nodules no-such-nodule");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("ugs: error: " + store().string() + ": has no nodule 'no-such-nodule'"),
            std::string::npos)
      << unknown.output;
  EXPECT_FALSE(fs::exists(out_ / "bad"));
}

TEST_F(PredictCommand, OnePngCropGivesItsPredictionAndAPictureWithoutTruth) {
  // An 8-bit crop of the UGS-Net layout: the quick store is in HU, so a bright disc on dark will do.
  std::vector<std::uint8_t> pixels(kCrop * kCrop);
  for (int y = 0; y < kCrop; ++y) {
    for (int x = 0; x < kCrop; ++x) pixels[y * kCrop + x] = std::hypot(y - 25, x - 25) < 8 ? 220 : 30;
  }
  storage::write_png_gray8(out_ / "crop.png", kCrop, kCrop, pixels);
  const CommandResult run = run_ugs("predict --checkpoint " + quoted(checkpoint()) + " " + quoted(out_ / "crop.png") +
                                    " --out " + quoted(out_ / "one"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const Predictions p = storage::read_predictions(out_ / "one" / "predictions.h5");
  EXPECT_EQ(p.nodule_ids, std::vector<std::string>{"crop"});
  EXPECT_EQ(p.height, kCrop);
  EXPECT_TRUE(p.union_map);
  const storage::RgbImage picture = storage::read_png_rgb8(out_ / "one" / "prediction.png");
  EXPECT_EQ(picture.height, 4 + kPanel);
  EXPECT_EQ(picture.width, 4 + 2 * kPanel);
}

TEST_F(PredictCommand, BadCheckpointOrDeviceIsOneLine) {
  std::ofstream(out_ / "broken.pt") << "not a checkpoint";
  const CommandResult broken = run_ugs("predict --checkpoint " + quoted(out_ / "broken.pt") + " " + quoted(store()) +
                                       " --out " + quoted(out_ / "x"));
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_EQ(broken.output.rfind("ugs: error: " + (out_ / "broken.pt").string() + ": ", 0), 0u) << broken.output;
  EXPECT_EQ(std::count(broken.output.begin(), broken.output.end(), '\n'), 1) << broken.output;

  const CommandResult device = run_ugs("predict --checkpoint " + quoted(checkpoint()) + " " + quoted(store()) +
                                       " --out " + quoted(out_ / "x") + " --device gpu");
  EXPECT_NE(device.exit_code, 0);
  EXPECT_NE(device.output.find("expected cpu, cuda or cuda:N, got 'gpu'"), std::string::npos) << device.output;
  EXPECT_FALSE(fs::exists(out_ / "x"));
}

}  // namespace
}  // namespace ugs::cli
