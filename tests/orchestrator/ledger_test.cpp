// The run ledger: replay, attempt counting, torn and corrupt lines, the run folder lock, and what
// survives a kill -9 in the middle of appends.
#include "ugs/orchestrator/ledger.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "storage/test_support.h"

namespace ugs::orchestrator {
namespace {

namespace fs = std::filesystem;
using storage::testing::TemporaryFolder;

JobDescription job(const std::string& id, std::vector<std::string> experiments = {"table1"}) {
  return {id, "jobs/unet_fold0_" + id, "hash-of-" + id, std::move(experiments)};
}

const Placement kHere{0, 0, "node-a"};

std::string contents(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void append_raw(const fs::path& file, const std::string& text) {
  std::ofstream(file, std::ios::binary | std::ios::app) << text;
}

// The whole lines of a file (a last line without its line end is left out).
std::vector<std::string> whole_lines(const fs::path& file) {
  const std::string text = contents(file);
  std::vector<std::string> lines;
  for (std::size_t begin = 0, end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1) {
    lines.push_back(text.substr(begin, end - begin));
  }
  return lines;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "(no error)";
}

// Three events: a run and two registered jobs.
void write_small_ledger(const fs::path& run) {
  Ledger ledger(run);
  ledger.run_started({"0.1.0+abc", "sha1-of-sweep", false});
  ledger.register_job(job("a"));
  ledger.register_job(job("b"));
}

TEST(Ledger, ReplayGivesEveryJobsStateAndResumeAction) {
  TemporaryFolder run;
  {
    Ledger ledger(run.path());
    ledger.run_started({"0.1.0+abc", "sha1-of-sweep", false});
    for (const char* id : {"done", "failed", "died", "preempted", "pending"}) ledger.register_job(job(id));
    ledger.job_started("done", kHere);
    ledger.job_completed("done", "jobs/unet_fold0_done/summary.json");
    ledger.job_started("failed", {2, 1, "node-b"});
    ledger.job_failed("failed", "loss is nan at epoch 3 step 7\nsecond line");
    ledger.job_started("died", kHere);
    ledger.job_started("preempted", kHere);
    ledger.job_preempted("preempted", "SIGTERM");
    EXPECT_EQ(ledger.state().events, 13u);
  }
  Ledger ledger(run.path());
  const LedgerState& state = ledger.state();
  EXPECT_TRUE(ledger.state().notes.empty());
  EXPECT_EQ(state.events, 13u);
  EXPECT_EQ(state.runs, 1);
  EXPECT_EQ(state.code_version, "0.1.0+abc");
  EXPECT_EQ(state.sweep_sha1, "sha1-of-sweep");
  EXPECT_EQ(state.order, (std::vector<std::string>{"done", "failed", "died", "preempted", "pending"}));

  EXPECT_EQ(state.job("done").state, JobState::kCompleted);
  EXPECT_EQ(state.job("done").summary, "jobs/unet_fold0_done/summary.json");
  EXPECT_EQ(state.job("done").description.experiments, std::vector<std::string>{"table1"});
  EXPECT_EQ(state.job("failed").state, JobState::kFailed);
  EXPECT_EQ(state.job("failed").reason, "loss is nan at epoch 3 step 7 second line");
  EXPECT_EQ(state.job("failed").placement.rank, 2);
  EXPECT_EQ(state.job("failed").placement.gang, 1);
  EXPECT_EQ(state.job("failed").placement.host, "node-b");
  EXPECT_EQ(state.job("died").state, JobState::kRunning);
  EXPECT_EQ(state.job("preempted").state, JobState::kPreempted);
  EXPECT_EQ(state.job("pending").state, JobState::kPending);
  EXPECT_THROW(state.job("unknown"), std::runtime_error);

  EXPECT_EQ(resume_action(state.job("done"), 1), ResumeAction::kKeepCompleted);
  EXPECT_EQ(resume_action(state.job("failed"), 1), ResumeAction::kRetry);
  EXPECT_EQ(resume_action(state.job("failed"), 0), ResumeAction::kKeepFailed);
  EXPECT_EQ(resume_action(state.job("died"), 0), ResumeAction::kContinueFromCheckpoint);
  EXPECT_EQ(resume_action(state.job("preempted"), 0), ResumeAction::kContinueFromCheckpoint);
  EXPECT_EQ(resume_action(state.job("pending"), 0), ResumeAction::kStart);

  const auto counts = state.count_by_state();
  for (JobState s : {JobState::kPending, JobState::kRunning, JobState::kCompleted, JobState::kFailed,
                     JobState::kPreempted}) {
    EXPECT_EQ(counts.at(s), 1) << to_string(s);
  }

  // The reader sees the same, and every line is one JSON object that starts with its event's name.
  const LedgerState read = read_ledger(run.path());
  EXPECT_EQ(read.events, state.events);
  for (const auto& [id, record] : state.jobs) EXPECT_EQ(read.job(id).state, record.state) << id;
  const auto lines = whole_lines(run / Ledger::kFileName);
  ASSERT_EQ(lines.size(), 13u);
  for (const std::string& line : lines) {
    EXPECT_EQ(line.rfind("{\"event\":\"", 0), 0u) << line;
    EXPECT_TRUE(nlohmann::json::parse(line).is_object());
  }
}

TEST(Ledger, CountsAttemptsFailuresPreemptionsAndTime) {
  TemporaryFolder run;
  {
    Ledger ledger(run.path());
    ledger.register_job(job("j"));
    for (int i = 0; i < 2; ++i) {
      ledger.job_started("j", kHere);
      ledger.job_failed("j", "out of memory");
    }
    ledger.job_started("j", kHere);
    ledger.job_preempted("j", "SIGUSR1");
    ledger.job_started("j", kHere);
    ledger.job_failed("j", "loss is nan");
  }
  {
    Ledger ledger(run.path());
    const JobRecord& j = ledger.state().job("j");
    EXPECT_EQ(j.attempts, 4);
    EXPECT_EQ(j.failures, 3);
    EXPECT_EQ(j.preemptions, 1);
    EXPECT_EQ(j.completions, 0);
    EXPECT_EQ(j.reason, "loss is nan");
    // failures <= max_retries are retried: preemptions do not use retries up.
    EXPECT_EQ(resume_action(j, 2), ResumeAction::kKeepFailed);
    EXPECT_EQ(resume_action(j, 3), ResumeAction::kRetry);
    ASSERT_TRUE(j.last_started && j.last_ended);
    EXPECT_LE(*j.last_started, *j.last_ended);
    EXPECT_GE(j.seconds, 0.0);
    EXPECT_LT(j.seconds, 60.0);

    ledger.job_started("j", kHere);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ledger.job_completed("j", "");
    EXPECT_GE(ledger.state().job("j").seconds, 0.02);
    ledger.run_finished();
    EXPECT_TRUE(ledger.state().finished);
  }
  const LedgerState state = read_ledger(run.path());
  EXPECT_EQ(state.job("j").attempts, 5);
  EXPECT_EQ(state.job("j").completions, 1);
  EXPECT_EQ(state.job("j").state, JobState::kCompleted);
  EXPECT_TRUE(state.finished);
  const auto last = nlohmann::json::parse(whole_lines(run / Ledger::kFileName).back());
  EXPECT_EQ(last["jobs"]["completed"], 1);
  EXPECT_EQ(last["jobs"]["pending"], 0);
}

TEST(Ledger, RefusedAppendsWriteNothing) {
  TemporaryFolder run;
  Ledger ledger(run.path());
  ledger.register_job(job("a"));
  ledger.job_started("a", kHere);
  ledger.job_completed("a", "jobs/unet_fold0_a/summary.json");
  ledger.register_job(job("b"));
  const std::string before = contents(ledger.file());

  EXPECT_NE(error_of([&] { ledger.job_started("a", kHere); }).find("job a, which is completed"), std::string::npos);
  EXPECT_NE(error_of([&] { ledger.job_completed("b", ""); }).find("which is pending, not running"), std::string::npos);
  EXPECT_NE(error_of([&] { ledger.job_failed("b", "x"); }).find("not running"), std::string::npos);
  EXPECT_NE(error_of([&] { ledger.job_started("c", kHere); }).find("not registered"), std::string::npos);
  JobDescription changed = job("a");
  changed.config_hash = "another-hash";
  EXPECT_NE(error_of([&] { ledger.register_job(changed); }).find("new job id"), std::string::npos);
  EXPECT_NE(error_of([&] { ledger.job_started("a", kHere); }).find("refused, nothing written"), std::string::npos);

  EXPECT_EQ(contents(ledger.file()), before);
  EXPECT_EQ(ledger.state().events, 4u);

  // The same registration again is no event; a new experiment using the job is one.
  EXPECT_FALSE(ledger.register_job(job("a")));
  EXPECT_TRUE(ledger.register_job(job("a", {"table1", "table2"})));
  EXPECT_EQ(ledger.state().job("a").state, JobState::kCompleted);
  EXPECT_EQ(read_ledger(run.path()).job("a").description.experiments,
            (std::vector<std::string>{"table1", "table2"}));
}

TEST(Ledger, TornLastLineIsDroppedAndLaterAppendsAreValid) {
  for (const std::string& torn : {std::string("{\"event\":\"job_started\",\"ti"), std::string(40, '\0') + "\n"}) {
    TemporaryFolder run;
    const fs::path file = run / Ledger::kFileName;
    write_small_ledger(run.path());
    const std::size_t good_size = contents(file).size();
    append_raw(file, torn);

    const LedgerState read = read_ledger(run.path());  // reads, drops in memory, writes nothing
    EXPECT_EQ(read.events, 3u);
    ASSERT_EQ(read.notes.size(), 1u);
    EXPECT_NE(read.notes[0].find("ledger.jsonl:4: dropped a torn last line"), std::string::npos) << read.notes[0];
    EXPECT_EQ(contents(file).size(), good_size + torn.size());
    {
      Ledger ledger(run.path());
      ASSERT_EQ(ledger.state().notes.size(), 1u);
      EXPECT_NE(ledger.state().notes[0].find("truncated away"), std::string::npos) << ledger.state().notes[0];
      EXPECT_EQ(contents(file).size(), good_size);
      ledger.job_started("a", kHere);
    }
    Ledger ledger(run.path());
    EXPECT_TRUE(ledger.state().notes.empty());
    EXPECT_EQ(ledger.state().events, 4u);
    EXPECT_EQ(ledger.state().job("a").state, JobState::kRunning);
    for (const std::string& line : whole_lines(file)) EXPECT_TRUE(nlohmann::json::parse(line).is_object()) << line;
  }
}

TEST(Ledger, ACorruptLineIsAnErrorNamingFileAndLine) {
  TemporaryFolder run;
  const fs::path file = run / Ledger::kFileName;
  write_small_ledger(run.path());
  auto lines = whole_lines(file);
  const auto rewrite = [&](const std::vector<std::string>& new_lines) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    for (const auto& line : new_lines) out << line << "\n";
  };
  const auto open_error = [&] { return error_of([&] { Ledger ledger(run.path()); }); };

  // Not JSON, but not the last line: not a torn write, refused.
  auto broken = lines;
  broken[1] = "{\"event\":\"job_registered\", garbage";
  rewrite(broken);
  EXPECT_NE(open_error().find(file.string() + ":2: not valid JSON"), std::string::npos) << open_error();
  EXPECT_NE(error_of([&] { read_ledger(run.path()); }).find("ledger.jsonl:2:"), std::string::npos);
  EXPECT_EQ(whole_lines(file), broken);  // the refused file is left as it was

  // Valid JSON on the last line that is no valid event is an error too, not a torn line.
  broken = lines;
  broken.push_back("{\"event\":\"job_exploded\",\"time\":\"2024-05-01T12:00:00.000Z\",\"id\":\"a\"}");
  rewrite(broken);
  EXPECT_NE(open_error().find("ledger.jsonl:4: unknown event \"job_exploded\""), std::string::npos) << open_error();

  // A forbidden transition in the file: completing a job that never started.
  broken = lines;
  broken.push_back(
      "{\"event\":\"job_completed\",\"time\":\"2024-05-01T12:00:00.000Z\",\"id\":\"a\",\"folder\":\"x\","
      "\"summary\":\"\"}");
  rewrite(broken);
  EXPECT_NE(open_error().find("ledger.jsonl:4: job_completed for job a, which is pending"), std::string::npos)
      << open_error();

  broken = lines;
  broken[0].replace(broken[0].find("\"time\":\"") + 8, 4, "20xx");
  rewrite(broken);
  EXPECT_NE(open_error().find("ledger.jsonl:1: run_started: \"time\" is not"), std::string::npos) << open_error();

  broken = lines;
  broken.insert(broken.begin() + 2, "");
  rewrite(broken);
  EXPECT_NE(open_error().find("ledger.jsonl:3: not valid JSON"), std::string::npos) << open_error();
}

TEST(Ledger, ASecondCoordinatorIsRefusedWhileTheFirstHoldsTheLock) {
  TemporaryFolder run;
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  const std::string holder = "host " + std::string(host) + " pid " + std::to_string(getpid());
  {
    Ledger first(run.path());
    const std::string error = error_of([&] { Ledger second(run.path()); });
    EXPECT_NE(error.find("another coordinator"), std::string::npos) << error;
    EXPECT_NE(error.find(holder), std::string::npos) << error;

    // Another process is refused too.
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      try {
        Ledger second(run.path());
      } catch (const std::runtime_error&) {
        _exit(0);
      }
      _exit(1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child process opened a locked ledger";
  }
  Ledger after_the_first(run.path());  // the lock went with the first
  EXPECT_NE(error_of([&] { Ledger ledger(run / "absent"); }).find("no such run folder"), std::string::npos);
}

// A child appends events, reporting over a pipe the event count each append will make before calling
// it, and is killed with SIGKILL at a random moment. Every line is then valid JSON but a torn last
// one, and the ledger holds the reported count or one less (the append in flight). Some events are
// 64 KiB long, so that a kill may land in the middle of a write spanning many pages. Three rounds on
// one ledger: appends after a crash are valid too.
TEST(Ledger, AKillDuringAppendsLosesAtMostTheEventInFlight) {
  TemporaryFolder run;
  const fs::path file = run / Ledger::kFileName;
  std::mt19937 random(std::random_device{}());
  const std::string long_experiment(1 << 16, 'x');
  for (int round = 0; round < 3; ++round) {
    const int delay_ms = std::uniform_int_distribution<int>(0, 100)(random);
    SCOPED_TRACE("round " + std::to_string(round) + ", kill after " + std::to_string(delay_ms) + " ms");
    int pipe_ends[2];
    ASSERT_EQ(pipe(pipe_ends), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      close(pipe_ends[0]);
      try {
        Ledger ledger(run.path());
        std::uint64_t count = ledger.state().events;
        for (int i = 0;; ++i) {
          const std::string id = "r" + std::to_string(round) + "-" + std::to_string(i / 3);
          ++count;
          if (write(pipe_ends[1], &count, sizeof count) != sizeof count) _exit(3);
          if (i % 3 == 0) ledger.register_job(job(id, {i % 2 ? long_experiment : "table1"}));
          if (i % 3 == 1) ledger.job_started(id, kHere);
          if (i % 3 == 2) ledger.job_completed(id, "");
        }
      } catch (...) {
        _exit(2);
      }
    }
    close(pipe_ends[1]);
    std::uint64_t reported = 0, count = 0;
    ASSERT_EQ(read(pipe_ends[0], &count, sizeof count), static_cast<ssize_t>(sizeof count)) << "the child died";
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child ended on its own: " << status;
    do reported = std::max(reported, count);
    while (read(pipe_ends[0], &count, sizeof count) == static_cast<ssize_t>(sizeof count));
    close(pipe_ends[0]);

    const auto lines = whole_lines(file);
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
      EXPECT_TRUE(nlohmann::json::accept(lines[i])) << "line " << i + 1 << " is not JSON";
    }
    Ledger ledger(run.path());  // throws if anything but the last line is bad
    EXPECT_LE(ledger.state().notes.size(), 1u);
    EXPECT_TRUE(ledger.state().events == reported || ledger.state().events + 1 == reported)
        << ledger.state().events << " events in the ledger, the child reported " << reported;
    EXPECT_EQ(whole_lines(file).size(), ledger.state().events);
    EXPECT_EQ(contents(file).back(), '\n');
  }
}

}  // namespace
}  // namespace ugs::orchestrator
