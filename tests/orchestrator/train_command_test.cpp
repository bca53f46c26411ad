// `ugs train` as a user runs it: a signal stops it with exit code 75, the same command resumes it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "storage/test_support.h"

extern char** environ;

namespace ugs::cli {
namespace {

namespace fs = std::filesystem;
using storage::testing::run_ugs;
using storage::testing::TemporaryFolder;

// A synthetic store, its split and a job configuration small enough for seconds of training.
struct TrainFixture {
  TemporaryFolder folder;
  fs::path config = folder.path() / "tiny.toml";

  explicit TrainFixture(int epochs) {
    const fs::path store = folder.path() / "store";
    EXPECT_EQ(run_ugs("synth --out '" + store.string() + "' --nodules 60").exit_code, 0);
    EXPECT_EQ(run_ugs("split '" + store.string() + "' --folds 3 --out '" + store.string() + "/splits.json'").exit_code,
              0);
    std::ofstream(config) << "[data]\nstore = \"" << store.string() << "\"\nsplit = \"" << store.string()
                          << "/splits.json\"\n[model]\nname = \"unet\"\nbase_width = 4\n"
                          << "[optimizer]\nkind = \"adam\"\nlr = 1e-3\n"
                          << "[training]\nepochs = " << epochs << "\nbatch_size = 4\n[preprocess]\nsize = 32\n";
  }
};

// Starts `ugs <arguments...>` with its output in `log`; returns the child's pid.
pid_t spawn_ugs(const std::vector<std::string>& arguments, const fs::path& log) {
  std::vector<std::string> argv_text = {UGS_BINARY};
  argv_text.insert(argv_text.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, UGS_BINARY, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(TrainCommand, SigtermCheckpointsExitsWith75AndTheSameCommandResumes) {
  TrainFixture fixture(200);  // far more epochs than the test waits for
  const fs::path job = fixture.folder.path() / "job";
  const pid_t pid = spawn_ugs({"train", fixture.config.string(), "--out", job.string()},
                              fixture.folder.path() / "first.log");
  // Wait until training runs (the first epoch is logged), then ask it to stop as SLURM would.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(job / "training_log.jsonl") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(fs::exists(job / "training_log.jsonl")) << read_file(fixture.folder.path() / "first.log");
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 75) << read_file(fixture.folder.path() / "first.log");
  EXPECT_TRUE(fs::exists(job / "checkpoint_latest.pt"));
  std::ifstream job_file(job / "job.json");
  EXPECT_EQ(nlohmann::json::parse(job_file)["state"], "stopped");

  // The same command resumes: it says where, and stops again on the next signal.
  const fs::path second_log = fixture.folder.path() / "second.log";
  const pid_t again = spawn_ugs({"train", fixture.config.string(), "--out", job.string()}, second_log);
  const auto second_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (read_file(second_log).find("resuming") == std::string::npos &&
         std::chrono::steady_clock::now() < second_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(again, SIGUSR1);
  ASSERT_EQ(waitpid(again, &status, 0), again);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 75) << read_file(second_log);
  EXPECT_NE(read_file(second_log).find("resuming " + job.string() + " at epoch"), std::string::npos)
      << read_file(second_log);

  // With fewer epochs it would be another configuration: refused, naming the key.
  const auto changed = run_ugs("train '" + fixture.config.string() + "' --out '" + job.string() +
                               "' --set training.epochs=3");
  EXPECT_EQ(changed.exit_code, 1);
  EXPECT_NE(changed.output.find("training.epochs"), std::string::npos) << changed.output;
}

TEST(TrainCommand, CompletesPrintsTheTestFoldScoresAndResumesNothingWhenDone) {
  TrainFixture fixture(1);
  const fs::path job = fixture.folder.path() / "job";
  const auto first = run_ugs("train '" + fixture.config.string() + "' --out '" + job.string() + "'");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("label_1        dsc"), std::string::npos) << first.output;
  for (const char* file : {"config.toml", "job.json", "training_log.jsonl", "checkpoint_final.pt", "predictions.h5",
                           "summary.json"}) {
    EXPECT_TRUE(fs::exists(job / file)) << file;
  }
  std::ifstream job_file(job / "job.json");
  const auto record = nlohmann::json::parse(job_file);
  EXPECT_EQ(record["code_version"].get<std::string>().rfind("0.", 0), 0u) << record["code_version"];
  const auto again = run_ugs("train '" + fixture.config.string() + "' --out '" + job.string() + "'");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(again.output.find("epoch 1/1"), std::string::npos) << "trained again:\n" << again.output;
}

TEST(TrainCommand, BadConfigurationIsOneLineNamingFileLineAndKey) {
  TemporaryFolder folder;
  const fs::path config = folder.path() / "bad.toml";
  std::ofstream(config) << "[data]\nstore = \"x\"\n[optimizer]\nlrr = 0.1\n";
  const auto result = run_ugs("train '" + config.string() + "'");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.output.find(config.string() + ":4:1: unknown key 'lrr'"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("did you mean 'lr'"), std::string::npos) << result.output;
  EXPECT_FALSE(fs::exists("runs/bad")) << "a refused configuration made a job folder";
}

}  // namespace
}  // namespace ugs::cli
