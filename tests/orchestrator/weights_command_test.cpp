// `ugs weights import|export` as a user runs them: a file saved by PyTorch in, a ugs weights file,
// a file out that PyTorch loads with torch.load(weights_only=True) + load_state_dict(strict=True).
// The PyTorch side is tests/fixtures/ugsnet_v1_reference.py (see tests/fixtures/pytorch_fixture.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "ugs/storage/files.h"

#include "fixtures/pytorch_fixture.h"
#include "storage/test_support.h"

namespace {

namespace fs = std::filesystem;

using ugs::storage::testing::CommandResult;
using ugs::storage::testing::run_ugs;

class WeightsCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto why = ugs::test::pytorch_unavailable()) GTEST_SKIP() << *why;
    fixture_ = ugs::test::pytorch_fixture_dir();
    directory_ = fs::temp_directory_path() /
                 (std::string("ugs-weights-command-test-") +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ugs::storage::remove_tree(directory_);
    fs::create_directories(directory_);
  }
  void TearDown() override { ugs::storage::remove_tree(directory_); }

  fs::path fixture_, directory_;
};

TEST_F(WeightsCommand, PublishedCheckpointInPyTorchStateDictOut) {
  const fs::path weights = directory_ / "v1.pt";
  const CommandResult imported = run_ugs("weights import '" +
                                         (fixture_ / "published_checkpoint.pt").string() +
                                         "' --model ugsnet-v1 --out '" + weights.string() + "'");
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  EXPECT_NE(imported.output.find("306 tensors of ugsnet-v1 (35069675 parameters"),
            std::string::npos) << imported.output;

  const fs::path exported = directory_ / "exported.pth";
  const CommandResult export_result = run_ugs("weights export '" + weights.string() +
                                              "' --model ugsnet-v1 --out '" + exported.string() + "'");
  ASSERT_EQ(export_result.exit_code, 0) << export_result.output;

  // PyTorch loads it (weights_only=True, strict=True) and gets exactly the fixture's weights.
  std::string output;
  const int status = ugs::test::run_reference_script(
      "check-export '" + exported.string() + "' '" + fixture_.string() + "'", output);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("accepted 306 tensors; 0 differ"), std::string::npos) << output;
}

TEST_F(WeightsCommand, MismatchFailsWithOneLineAndWritesNothing) {
  const fs::path weights = directory_ / "v1.pt";
  const fs::path file = fixture_ / "state_dict.pt";
  const CommandResult result = run_ugs("weights import '" + file.string() +
                                       "' --in-channels 1 --out '" + weights.string() + "'");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.output, "ugs: error: " + file.string() +
                               ": 'Conv1.conv.0.weight' has shape [64, 3, 3, 3], the model's is "
                               "[64, 1, 3, 3]\n");
  EXPECT_FALSE(fs::exists(weights));
}

TEST_F(WeightsCommand, ExportRefusesAPyTorchFile) {
  const fs::path file = fixture_ / "small_state_dict.pt";
  const CommandResult result =
      run_ugs("weights export '" + file.string() + "' --out '" + (directory_ / "x.pt").string() + "'");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.output.rfind("ugs: error: " + file.string() + ": not a ugs weights file", 0), 0u)
      << result.output;
  EXPECT_NE(result.output.find("ugs weights import"), std::string::npos) << result.output;
  EXPECT_FALSE(fs::exists(directory_ / "x.pt"));
}

}  // namespace
