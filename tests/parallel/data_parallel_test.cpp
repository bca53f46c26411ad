// Data-parallel training over MPI, run by ctest as `mpirun -np 2 ugs_parallel_tests`: every rank runs
// every test; rank 0 makes the data and checks the files.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "ugs/model/weights.h"
#include "ugs/storage/files.h"
#include "ugs/storage/folds.h"
#include "ugs/storage/synth.h"
#include "ugs/worker/checkpoint.h"
#include "ugs/worker/collective.h"
#include "ugs/worker/train.h"

namespace ugs::worker {
namespace {

namespace fs = std::filesystem;

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

// One folder for the whole test program, named by rank 0's pid and shared by every rank.
const fs::path& shared_folder() {
  static const fs::path folder = [] {
    long pid = static_cast<long>(::getpid());
    MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    return fs::temp_directory_path() / ("ugs_parallel_" + std::to_string(pid));
  }();
  return folder;
}

// A synthetic store with a split, made once by rank 0.
const fs::path& store() {
  static const fs::path path = [] {
    const fs::path dir = shared_folder() / "store";
    if (world_rank() == 0) {
      storage::SynthOptions options;
      options.nodule_count = 90;
      storage::write_synthetic_store(storage::SynthGenerator(options), dir, {});
      storage::write_folds(shared_folder() / "splits.json",
                           storage::make_folds(storage::NoduleStore::open(dir).infos(), 3));
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return dir;
  }();
  return path;
}

Config tiny(const std::string& network, const std::vector<std::string>& overrides) {
  std::vector<std::string> all = {"data.store=" + store().string(),
                                  "data.split=" + (shared_folder() / "splits.json").string(),
                                  "model.name=" + network, "model.base_width=8", "preprocess.size=32",
                                  "optimizer.kind=\"adam\"", "optimizer.lr=1e-3", "training.epochs=2",
                                  "training.batch_size=12", "augment.flips=true"};
  all.insert(all.end(), overrides.begin(), overrides.end());
  return parse_config("", "tiny", all);
}

TrainOptions quiet(const fs::path& dir, Collective* gang) {
  TrainOptions options;
  options.job_dir = dir;
  options.progress_out = nullptr;
  options.collective = gang;
  return options;
}

TEST(DataParallel, TwoRanksGiveTheParametersOfOneRankWithTheSameGlobalBatch) {
  // Frozen BatchNorm: no batch statistics, so splitting a batch over ranks changes nothing but the
  // order of floating-point sums.
  // SGD: Adam divides by the root of its second moment, which magnifies the last-bit differences of
  // near-zero gradients into whole learning-rate steps.
  const Config config = tiny("unet", {"training.batch_norm=\"frozen\"", "training.validation_fraction=0.2",
                                      "optimizer.kind=\"sgd\"", "optimizer.lr=0.05"});
  const fs::path alone = shared_folder() / "alone";
  const fs::path gang_dir = shared_folder() / "gang";
  if (world_rank() == 0) {
    ASSERT_EQ(train_job(config, quiet(alone, nullptr)).outcome, TrainOutcome::kCompleted);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const auto gang = make_mpi_collective(MPI_COMM_WORLD);
  ASSERT_EQ(gang->size(), 2) << "run under mpirun -np 2";
  ASSERT_EQ(train_job(config, quiet(gang_dir, gang.get())).outcome, TrainOutcome::kCompleted);
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() != 0) return;

  const LoadedModel one = load_model(alone / "checkpoint_final.pt", torch::kCPU);
  const LoadedModel two = load_model(gang_dir / "checkpoint_final.pt", torch::kCPU);
  const auto a = model::state_dict(*one.network);
  const auto b = model::state_dict(*two.network);
  ASSERT_EQ(a.size(), b.size());
  double largest = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    largest = std::max(largest, (a[i].second.to(torch::kDouble) - b[i].second.to(torch::kDouble)).abs().max().item<double>());
  }
  EXPECT_LT(largest, 1e-5);
  // Both logged the same losses and validation, the gang's from counts over both ranks.
  auto last_line = [](const fs::path& dir) {
    std::ifstream in(dir / "training_log.jsonl");
    std::string line, last;
    while (std::getline(in, line)) last = line;
    return nlohmann::json::parse(last);
  };
  EXPECT_NEAR(last_line(alone)["loss"]["total"].get<double>(), last_line(gang_dir)["loss"]["total"].get<double>(),
              1e-5);
  EXPECT_NEAR(last_line(alone)["validation"]["dsc"].get<double>(),
              last_line(gang_dir)["validation"]["dsc"].get<double>(), 1e-4);
  std::ifstream job(gang_dir / "job.json");
  EXPECT_EQ(nlohmann::json::parse(job)["ranks"], 2);
}

TEST(DataParallel, BatchStatisticsPerRankTrainAndAStopOnOneRankStopsTheGang) {
  // UGS-Net with ordinary BatchNorm (statistics per rank); rank 1 alone is asked to stop after its
  // second step, as if SLURM had signalled only that node: both ranks stop at the same step.
  const Config config = tiny("ugsnet", {});
  const auto gang = make_mpi_collective(MPI_COMM_WORLD);
  std::atomic<bool> stop{false};
  TrainOptions options = quiet(shared_folder() / "stopped", gang.get());
  options.stop_requested = &stop;
  int steps = 0;
  options.on_step = [&](const StepReport& report) {
    EXPECT_GT(report.allreduce_seconds, 0) << "the gradients were summed over the gang";
    EXPECT_LE(report.allreduce_seconds, report.seconds);
    if (++steps == 2 && world_rank() == 1) stop.store(true);
  };
  const TrainResult stopped = train_job(config, options);
  EXPECT_EQ(stopped.outcome, TrainOutcome::kStopped);
  EXPECT_EQ(stopped.next.step, 2);
  EXPECT_EQ(steps, 2);
  MPI_Barrier(MPI_COMM_WORLD);
  const TrainResult resumed = train_job(config, quiet(shared_folder() / "stopped", gang.get()));
  EXPECT_EQ(resumed.outcome, TrainOutcome::kCompleted);
  EXPECT_TRUE(resumed.resumed);
  if (world_rank() == 0) {
    EXPECT_TRUE(fs::exists(shared_folder() / "stopped" / "summary.json"));
  }
}

}  // namespace
}  // namespace ugs::worker

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) ::testing::GTEST_FLAG(output) = "";
  const int failed = RUN_ALL_TESTS();
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) ugs::storage::remove_tree(ugs::worker::shared_folder());
  // A failure on any rank fails the program on every rank, so ctest sees it whichever rank it was.
  int any_failed = failed;
  MPI_Allreduce(MPI_IN_PLACE, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any_failed;
}
