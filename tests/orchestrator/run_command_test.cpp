// `ugs run` as users run it: alone and under mpirun with 2 and 3 ranks (same results), a rank killed
// with -9 and the run resumed (no completed job redone), a preemption by signal, and a frozen rank
// caught by the heartbeat timeout.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "storage/test_support.h"
#include "ugs/orchestrator/ledger.h"

namespace ugs::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using storage::testing::CommandResult;
using storage::testing::run_command;
using storage::testing::run_ugs;
using storage::testing::TemporaryFolder;

// mpirun as root needs Open MPI's consent; one thread per rank keeps runs bitwise comparable
// (LibTorch's CPU reductions depend on the thread count) and the 2-core CI machine unloaded.
const std::string kMpiEnvironment =
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 ";

std::string ugs_run(const std::string& arguments, int ranks) {
  const std::string launcher =
      ranks == 0 ? "" : "mpirun -np " + std::to_string(ranks) + " --oversubscribe ";
  return kMpiEnvironment + launcher + "'" + UGS_BINARY + "' run " + arguments;
}

// A synthetic store with a 2-fold split and a sweep of Table I, a shared Table II job, and Table III.
struct SweepFixture {
  TemporaryFolder folder;
  fs::path sweep = folder.path() / "tiny.toml";

  explicit SweepFixture(int epochs) {
    const fs::path store = folder.path() / "store";
    EXPECT_EQ(run_ugs("synth --out '" + store.string() + "' --nodules 48").exit_code, 0);
    EXPECT_EQ(run_ugs("split '" + store.string() + "' --folds 2 --out '" + store.string() + "/splits.json'").exit_code,
              0);
    std::ofstream(sweep) << "[sweep]\nname = \"tiny\"\nfolds = [0, 1]\n"
                         << "[defaults.data]\nstore = \"" << store.string() << "\"\nsplit = \"" << store.string()
                         << "/splits.json\"\n"
                         << "[defaults.model]\nbase_width = 8\n"
                         << "[defaults.optimizer]\nkind = \"adam\"\nlr = 1e-3\n"
                         << "[defaults.training]\nepochs = " << epochs
                         << "\nbatch_size = 8\ndeterministic = true\ncheckpoint_every = 1\n"
                         << "[defaults.preprocess]\nsize = 32\n"
                         << "[experiments.table1]\nnetworks = [\"unet\", \"ugsnet\"]\n"
                         << "[experiments.table2]\nnetworks = [\"ugsnet\"]\n"
                         << "[experiments.table3]\nkind = \"complex_nodules\"\nafter = [\"table1\"]\n"
                         << "networks = [\"unet\", \"ugsnet\"]\nreference = \"unet\"\ndsc_thresholds = [0.6, 0.8]\n";
  }
};

std::vector<json> ledger_events(const fs::path& run) {
  std::ifstream in(run / "ledger.jsonl");
  std::vector<json> events;
  for (std::string line; std::getline(in, line);) events.push_back(json::parse(line));
  return events;
}

// job id -> how many times it started / completed, from the ledger.
std::map<std::string, int> count_events(const fs::path& run, const std::string& event) {
  std::map<std::string, int> counts;
  for (const json& e : ledger_events(run)) {
    if (e["event"] == event) ++counts[e["id"].get<std::string>()];
  }
  return counts;
}

// Every job's test-fold means and the Table III numbers: the deterministic results of a run.
json results_of(const fs::path& run) {
  json results = json::object();
  for (const auto& entry : fs::recursive_directory_iterator(run)) {
    const std::string name = entry.path().filename().string();
    if (name != "summary.json" && name != "complex_nodules.json") continue;
    std::ifstream in(entry.path());
    json document = json::parse(in);
    const std::string key = fs::relative(entry.path(), run).string();
    results[key] = name == "summary.json" ? document["mean"] : document["thresholds"];
  }
  return results;
}

TEST(RunCommand, AloneAndUnderMpirunWithTwoAndThreeRanksGiveTheSameResults) {
  SweepFixture fixture(1);
  json reference;
  for (const int ranks : {0, 2, 3}) {
    SCOPED_TRACE("ranks " + std::to_string(ranks));
    const fs::path run = fixture.folder.path() / ("run" + std::to_string(ranks));
    const CommandResult result = run_command(ugs_run("'" + fixture.sweep.string() + "' --out '" + run.string() + "'", ranks));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("status: 5/5 done"), std::string::npos) << result.output;
    const json results = results_of(run);
    EXPECT_EQ(results.size(), 5u) << results.dump(2);  // 4 training jobs (table2 shares) + table3
    if (reference.is_null()) {
      reference = results;
    } else {
      EXPECT_EQ(results, reference);
    }
    for (const auto& [id, n] : count_events(run, "job_completed")) EXPECT_EQ(n, 1) << id;
  }
}

int rank_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  std::string variable;
  while (std::getline(in, variable, '\0')) {
    if (variable.rfind("OMPI_COMM_WORLD_RANK=", 0) == 0) return std::stoi(variable.substr(21));
  }
  return -1;
}

// The processes with `run_dir` among their arguments, by pid: mpirun and the ranks it started for
// that run (tests run in parallel: other runs' processes must not be touched).
std::map<pid_t, std::vector<std::string>> processes_of_run(const fs::path& run_dir) {
  std::map<pid_t, std::vector<std::string>> processes;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmdline(entry.path() / "cmdline");
    std::vector<std::string> argv;
    for (std::string argument; std::getline(cmdline, argument, '\0');) argv.push_back(argument);
    if (std::find(argv.begin(), argv.end(), run_dir.string()) != argv.end()) processes[std::stoi(name)] = argv;
  }
  return processes;
}

// The pids of the `ugs` processes that mpirun started for the run in `run_dir`, by rank.
std::map<int, pid_t> ranks_of_run(const fs::path& run_dir) {
  std::map<int, pid_t> ranks;
  for (const auto& [pid, argv] : processes_of_run(run_dir)) {
    if (argv.front() != UGS_BINARY) continue;
    const int rank = rank_of(pid);
    if (rank >= 0) ranks[rank] = pid;
  }
  return ranks;
}

// Joins a thread however the test leaves its scope (a failed ASSERT returns early).
struct Joined {
  std::thread thread;
  ~Joined() {
    if (thread.joinable()) thread.join();
  }
};

bool wait_for(const std::function<bool()>& condition, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

TEST(RunCommand, KillNineOfAWorkerThenResumeRedoesNoCompletedJobAndMatchesAnUninterruptedRun) {
  SweepFixture fixture(3);
  const fs::path uninterrupted = fixture.folder.path() / "uninterrupted";
  ASSERT_EQ(run_command(ugs_run("'" + fixture.sweep.string() + "' --out '" + uninterrupted.string() + "'", 0)).exit_code,
            0);

  const fs::path run = fixture.folder.path() / "killed";
  Joined sweep{std::thread([&] {
    run_command(ugs_run("'" + fixture.sweep.string() + "' --out '" + run.string() + "'", 3));
  })};
  // Once a job has completed and another is running, rank 2 dies without a word.
  const bool ready = wait_for(
      [&] {
        const auto completed = count_events(run, "job_completed");
        const auto started = count_events(run, "job_started");
        return !completed.empty() && started.size() > completed.size();
      },
      120);
  const std::map<int, pid_t> ranks = ranks_of_run(run);
  ASSERT_TRUE(ready && ranks.count(2)) << "the sweep did not get going";
  kill(ranks.at(2), SIGKILL);
  sweep.thread.join();  // Open MPI ends the whole run when a rank dies
  const auto completed_before = count_events(run, "job_completed");
  ASSERT_LT(completed_before.size(), 5u) << "everything finished before the kill";

  const CommandResult resumed = run_command(ugs_run("'" + fixture.sweep.string() + "' --out '" + run.string() + "' --resume", 2));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  const auto completed = count_events(run, "job_completed");
  const auto started = count_events(run, "job_started");
  EXPECT_EQ(completed.size(), 5u);
  for (const auto& [id, n] : completed) EXPECT_EQ(n, 1) << id << " completed twice";
  for (const auto& [id, n] : completed_before) EXPECT_EQ(started.at(id), 1) << id << " ran again after completing";
  EXPECT_EQ(results_of(run), results_of(uninterrupted));
}

TEST(RunCommand, SigtermToOneRankPreemptsEveryGangExitsZeroAndResumes) {
  SweepFixture fixture(15);  // long enough to be caught running
  const fs::path run = fixture.folder.path() / "preempted";
  CommandResult first;
  Joined sweep{std::thread([&] {
    first = run_command(ugs_run("'" + fixture.sweep.string() + "' --out '" + run.string() + "'", 3));
  })};
  ASSERT_TRUE(wait_for([&] { return count_events(run, "job_started").size() >= 2; }, 120));
  const std::map<int, pid_t> ranks = ranks_of_run(run);
  ASSERT_TRUE(ranks.count(1));
  kill(ranks.at(1), SIGTERM);
  sweep.thread.join();
  EXPECT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("--resume"), std::string::npos) << first.output;
  EXPECT_GE(count_events(run, "job_preempted").size(), 2u) << "both gangs should have checkpointed";
  for (const auto& entry : fs::recursive_directory_iterator(run / "jobs")) {
    if (entry.path().filename() == "job.json") {
      std::ifstream in(entry.path());
      const std::string state = json::parse(in)["state"];
      EXPECT_TRUE(state == "stopped") << entry.path() << " " << state;
    }
  }
  // Resumed with fewer epochs it would be new jobs; the same sweep resumes the same jobs.
  const CommandResult resumed = run_command(ugs_run("'" + fixture.sweep.string() + "' --out '" + run.string() +
                                                    "' --resume",
                                                2));
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  for (const auto& [id, n] : count_events(run, "job_completed")) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(count_events(run, "job_completed").size(), 5u);
}

TEST(RunCommand, RefusesARunFolderWithALedgerWithoutResume) {
  SweepFixture fixture(1);
  const fs::path run = fixture.folder.path() / "run";
  ASSERT_EQ(run_command(ugs_run("'" + fixture.sweep.string() + "' --out '" + run.string() + "'", 0)).exit_code, 0);
  const CommandResult again = run_command(ugs_run("'" + fixture.sweep.string() + "' --out '" + run.string() + "'", 0));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("--resume"), std::string::npos) << again.output;
}

TEST(RunCommand, AFrozenWorkerIsLostAfterTheHeartbeatTimeoutAndTheRunEndsWithItsLedgerAndReport) {
  constexpr int kHeartbeatSeconds = 4;
  SweepFixture fixture(1000);  // the first job would outlast the test: it is frozen in its middle
  const fs::path run = fixture.folder.path() / "frozen";
  CommandResult result;
  std::atomic<bool> ended{false};
  Joined sweep{std::thread([&] {
    result = run_command(ugs_run("'" + fixture.sweep.string() + "' --out '" + run.string() +
                                     "' --heartbeat-timeout " + std::to_string(kHeartbeatSeconds),
                                 2));
    ended = true;
  })};
  // However the test ends, nothing of this run outlives it (SIGKILL ends a stopped process too); it
  // is destroyed before `sweep`, whose join then returns.
  struct Reaper {
    fs::path run;
    ~Reaper() {
      for (const auto& [pid, argv] : processes_of_run(run)) kill(pid, SIGKILL);
    }
  } reaper{run};

  // Rank 1, the only gang, is frozen once its job has trained an epoch (so it was answering).
  std::string job_id;
  const bool training = wait_for(
      [&] {
        for (const auto& [id, job] : orchestrator::read_ledger(run).jobs) {
          if (job.state == orchestrator::JobState::kRunning &&
              fs::exists(run / job.description.folder / "training_log.jsonl")) {
            job_id = id;
            return true;
          }
        }
        return false;
      },
      120);
  const std::map<int, pid_t> ranks = ranks_of_run(run);
  ASSERT_TRUE(training && ranks.count(1)) << "the sweep did not get going";
  const auto frozen_at = orchestrator::Clock::now();
  ASSERT_EQ(kill(ranks.at(1), SIGSTOP), 0);

  ASSERT_TRUE(wait_for([&] { return ended.load(); }, 120)) << "the coordinator did not give up on the frozen rank";
  EXPECT_NE(result.exit_code, 0) << result.output;
  const std::string reason = "gang 0 (rank 1) stopped answering for " + std::to_string(kHeartbeatSeconds) + " s";
  EXPECT_NE(result.output.find("FAILED"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find(reason), std::string::npos) << result.output;
  EXPECT_TRUE(wait_for([&] { return ranks_of_run(run).empty(); }, 30)) << "a rank outlived mpirun";

  const orchestrator::LedgerState ledger = orchestrator::read_ledger(run);
  const orchestrator::JobRecord& frozen = ledger.job(job_id);
  EXPECT_EQ(frozen.state, orchestrator::JobState::kFailed);
  EXPECT_NE(frozen.reason.find(reason), std::string::npos) << frozen.reason;
  // Lost because it froze: the coordinator last heard from it at most a second or so before, so not
  // much less than the timeout after the freeze.
  ASSERT_TRUE(frozen.last_ended);
  const double lost_after = std::chrono::duration<double>(*frozen.last_ended - frozen_at).count();
  EXPECT_GT(lost_after, kHeartbeatSeconds - 2);
  EXPECT_TRUE(ledger.finished) << "the run's end is not in the ledger";
  EXPECT_TRUE(fs::exists(run / "report" / "report.md"));
}

}  // namespace
}  // namespace ugs::cli
