// The coordinator and the worker gangs of `ugs run`. Read run_sweep() first: it splits the world into
// the coordinator and gangs; then coordinate() (rank 0) and serve() (a gang) are the two sides of the
// conversation, and both hand the actual training to execute_job(), the one place a job runs.
#include "ugs/orchestrator/run.h"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include <c10/util/hash.h>
#include <nlohmann/json.hpp>

#include "ugs/orchestrator/analysis.h"
#include "ugs/orchestrator/ledger.h"
#include "ugs/orchestrator/metrics.h"
#include "ugs/orchestrator/report.h"
#include "ugs/orchestrator/sweep.h"
#include "ugs/storage/atomic_file.h"
#include "ugs/storage/files.h"
#include "ugs/worker/collective.h"
#include "ugs/worker/progress.h"
#include "ugs/worker/train.h"

#include "this_machine.h"

namespace ugs::orchestrator {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr int kCoordinator = 0;

// Message tags over MPI_COMM_WORLD. Payloads are JSON text.
enum Tag : int {
  kTagReady = 1,   // gang root -> coordinator: give me a job              {}
  kTagJob,         // coordinator -> gang root: train this                  {id, folder, config}
  kTagQuit,        // coordinator -> gang root: no more work                {}
  kTagProgress,    // gang root -> coordinator: steps since the last report  progress_json()
  kTagResult,      // gang root -> coordinator: the job ended               {id, state, reason, summary}
  kTagStop,        // coordinator -> gang root: checkpoint and stop the job {}
  kTagEpochEnd,    // gang root -> coordinator: an epoch is complete        epoch_end_json()
};

// The least time between two progress reports of a job: the coordinator hears of every step, in
// batches small enough for it to keep up with any number of gangs.
constexpr std::chrono::seconds kProgressEvery{1};

void send_text(int destination, int tag, const std::string& text) {
  MPI_Send(text.data(), static_cast<int>(text.size()), MPI_CHAR, destination, tag, MPI_COMM_WORLD);
}

// Receives the message `status` describes (from MPI_Probe / MPI_Iprobe).
std::string receive_text(const MPI_Status& status) {
  int size = 0;
  MPI_Get_count(&status, MPI_CHAR, &size);
  std::string text(static_cast<std::size_t>(size), '\0');
  MPI_Recv(text.data(), size, MPI_CHAR, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return text;
}

// `text` of `root` on every rank of `communicator`.
std::string broadcast_text(std::string text, MPI_Comm communicator, int root = 0) {
  long size = static_cast<long>(text.size());
  MPI_Bcast(&size, 1, MPI_LONG, root, communicator);
  text.resize(static_cast<std::size_t>(size));
  MPI_Bcast(text.data(), static_cast<int>(size), MPI_CHAR, root, communicator);
  return text;
}

// Messages a gang root sends without waiting for the coordinator to take them (it may be running an
// analysis, and MPI_Send blocks until then for a message over MPI's eager limit): each text lives
// here until its send completes. MPI delivers messages between two ranks in the order they were sent,
// posted here or sent by send_text.
class Outbox {
 public:
  void post(int destination, int tag, std::string text) {
    pending_.remove_if([](Message& message) {
      int done = 0;
      MPI_Test(&message.request, &done, MPI_STATUS_IGNORE);
      return done != 0;
    });
    Message& message = pending_.emplace_back(Message{std::move(text), MPI_REQUEST_NULL});
    MPI_Isend(message.text.data(), static_cast<int>(message.text.size()), MPI_CHAR, destination, tag, MPI_COMM_WORLD,
              &message.request);
  }
  // Waits until the coordinator has taken every message posted.
  void flush() {
    for (Message& message : pending_) MPI_Wait(&message.request, MPI_STATUS_IGNORE);
    pending_.clear();
  }

 private:
  struct Message {
    std::string text;
    MPI_Request request;
  };
  std::list<Message> pending_;  // a list: a text must not move while its send is in flight
};

// ---------------------------------------------------------------------------------------------------
// One job, wherever it runs.

struct JobOutcome {
  JobState state = JobState::kCompleted;  // completed, failed or preempted
  std::string reason;                     // failed / preempted: one line
  std::string summary;                    // completed: summary.json relative to the run folder
};

// Trains the job in `folder` (absolute) with `gang` (nullptr: this process alone). `stop` is read at
// every step; `on_step` sees every step and `on_epoch_end` every epoch's end. Exceptions become a
// failed outcome: a job's error is not the sweep's.
JobOutcome execute_job(const RunOptions& run, const worker::Config& config, const fs::path& run_dir,
                       const fs::path& folder, worker::Collective* gang, const std::atomic<bool>& stop,
                       const std::function<void(const worker::StepReport&)>& on_step,
                       const std::function<void(const worker::EpochReport&)>& on_epoch_end, std::FILE* progress_out) {
  worker::TrainOptions options;
  options.job_dir = run_dir / folder;
  options.code_version = run.code_version;
  options.progress_out = progress_out;
  options.print_scores = false;  // the coordinator prints one line per job and the tables at the end
  options.stop_requested = &stop;
  options.on_step = on_step;
  options.on_epoch_end = on_epoch_end;
  options.collective = gang;
  try {
    const worker::TrainResult result = run.train_job(config, options);
    if (result.outcome == worker::TrainOutcome::kStopped) {
      return {JobState::kPreempted, "stopped at epoch " + std::to_string(result.next.epoch + 1) + " step " +
                                        std::to_string(result.next.step + 1) + ", checkpoint written", ""};
    }
    return {JobState::kCompleted, "",
            result.summary.empty() ? "" : fs::relative(result.summary, run_dir).string()};
  } catch (const std::exception& error) {
    std::string reason = error.what();
    std::replace(reason.begin(), reason.end(), '\n', ' ');
    return {JobState::kFailed, reason, ""};
  }
}

// Steps gathered into progress reports, one due at most every kProgressEvery (the first at once).
class ProgressBatcher {
 public:
  // The report due after `step`, if one is.
  std::optional<ProgressReport> add(const worker::StepReport& step) {
    pending_.add(step);
    if (SteadyClock::now() - last_ < kProgressEvery) return std::nullopt;
    return rest();
  }
  // The steps not reported yet, if any (at the job's end).
  std::optional<ProgressReport> rest() {
    if (pending_.empty()) return std::nullopt;
    last_ = SteadyClock::now();
    return std::exchange(pending_, ProgressReport());
  }

 private:
  ProgressReport pending_;
  SteadyClock::time_point last_ = SteadyClock::now() - std::chrono::hours(1);
};

// kTagProgress: {id, epoch, step, lr, losses: {name: value}, step_seconds: [...],
// allreduce_seconds: [...], loader_wait_seconds, samples} (metrics.h ProgressReport).
json progress_json(const std::string& id, const ProgressReport& report) {
  json losses = json::object();
  for (const auto& [name, value] : report.losses) losses[name] = value;
  return {{"id", id},
          {"epoch", report.epoch},
          {"step", report.step},
          {"lr", report.lr},
          {"losses", losses},
          {"step_seconds", report.step_seconds},
          {"allreduce_seconds", report.allreduce_seconds},
          {"loader_wait_seconds", report.loader_wait_seconds},
          {"samples", report.samples}};
}

ProgressReport progress_from_json(const json& message) {
  ProgressReport report;
  report.epoch = message["epoch"];
  report.step = message["step"];
  report.lr = message["lr"];
  for (const auto& [name, value] : message["losses"].items()) report.losses.emplace_back(name, value.get<double>());
  report.step_seconds = message["step_seconds"].get<std::vector<double>>();
  report.allreduce_seconds = message["allreduce_seconds"].get<std::vector<double>>();
  report.loader_wait_seconds = message["loader_wait_seconds"];
  report.samples = message["samples"];
  return report;
}

// kTagEpochEnd: {id, epoch, time (Unix seconds on the gang root), validation_dsc (null: NaN),
// checkpoint_seconds}; the last two only when the epoch has them (worker::EpochReport).
json epoch_end_json(const std::string& id, const worker::EpochReport& report, double unix_time) {
  json message = {{"id", id}, {"epoch", report.epoch}, {"time", unix_time}};
  if (report.validation_dsc) message["validation_dsc"] = *report.validation_dsc;
  if (report.checkpoint_seconds) message["checkpoint_seconds"] = *report.checkpoint_seconds;
  return message;
}

worker::EpochReport epoch_end_from_json(const json& message) {
  worker::EpochReport report;
  report.epoch = message["epoch"];
  if (message.contains("validation_dsc")) {
    const json& dsc = message["validation_dsc"];
    report.validation_dsc = dsc.is_number() ? dsc.get<double>() : std::nan("");
  }
  if (message.contains("checkpoint_seconds")) report.checkpoint_seconds = message["checkpoint_seconds"].get<double>();
  return report;
}

// ---------------------------------------------------------------------------------------------------
// A gang: ask, train, report, until told to quit.

// `local_rank` is this rank's index on its node: a job on "cuda" trains on that GPU.
void serve(const RunOptions& run, MPI_Comm gang_comm, int local_rank, const std::atomic<bool>& stop_requested,
           const fs::path& run_dir) {
  int gang_rank = 0;
  MPI_Comm_rank(gang_comm, &gang_rank);
  const bool root = gang_rank == 0;
  while (true) {
    std::string message;
    if (root) {
      send_text(kCoordinator, kTagReady, "{}");
      MPI_Status status;
      do {  // a stop meant for the job that just ended may still be on its way: it is stale now
        MPI_Probe(kCoordinator, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
        message = receive_text(status);
      } while (status.MPI_TAG == kTagStop);
      if (status.MPI_TAG == kTagQuit) message.clear();
    }
    message = broadcast_text(message, gang_comm);
    if (message.empty()) return;

    const json job = json::parse(message);
    const std::string id = job["id"];
    std::atomic<bool> stop{false};
    ProgressBatcher batcher;
    Outbox outbox;  // progress never waits for the coordinator
    const auto on_step = [&](const worker::StepReport& report) {
      if (stop_requested.load()) stop.store(true);
      if (!root) return;
      int pending = 0;
      MPI_Status status;
      MPI_Iprobe(kCoordinator, kTagStop, MPI_COMM_WORLD, &pending, &status);
      if (pending) {
        receive_text(status);
        stop.store(true);
      }
      if (const auto due = batcher.add(report)) outbox.post(kCoordinator, kTagProgress, progress_json(id, *due).dump());
    };
    const auto on_epoch_end = [&](const worker::EpochReport& report) {
      if (root) outbox.post(kCoordinator, kTagEpochEnd, epoch_end_json(id, report, unix_now()).dump());
    };
    JobOutcome outcome;
    try {
      worker::Config config = worker::parse_config(job["config"].get<std::string>(), "job " + id);
      const torch::Device device = worker::rank_device(config.training.device, local_rank);
      config.training.device = device.str();  // a runtime key: the job's identity does not change
      const std::unique_ptr<worker::Collective> gang = worker::make_gang_collective(gang_comm, device);
      outcome = execute_job(run, config, run_dir, job["folder"].get<std::string>(), gang.get(), stop, on_step,
                            on_epoch_end, nullptr);
    } catch (const std::exception& error) {
      outcome = {JobState::kFailed, error.what(), ""};
    }
    if (root) {
      if (const auto rest = batcher.rest()) outbox.post(kCoordinator, kTagProgress, progress_json(id, *rest).dump());
      send_text(kCoordinator, kTagResult,
                json{{"id", id}, {"state", to_string(outcome.state)}, {"reason", outcome.reason},
                     {"summary", outcome.summary}}
                    .dump());
      outbox.flush();
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The coordinator.

struct Gang {
  int index = 0;
  int root_rank = 0;                 // world rank of its root (0: the coordinator itself)
  std::string job;                   // the job it trains, "" when idle
  bool waiting = false;              // it asked for work and got none yet
  bool quit = false;                 // told to quit
  bool lost = false;                 // silent past the heartbeat timeout
  SteadyClock::time_point last_heard = SteadyClock::now();
  std::optional<ProgressReport> progress;  // its job's latest report
};

Gang make_gang(int index, int root_rank) {
  Gang gang;
  gang.index = index;
  gang.root_rank = root_rank;
  return gang;
}

class Coordinator {
 public:
  Coordinator(const RunOptions& options, Sweep sweep, fs::path run_dir, const std::atomic<bool>& stop_requested)
      : options_(options),
        sweep_(std::move(sweep)),
        run_dir_(std::move(run_dir)),
        stop_requested_(stop_requested),
        ledger_(run_dir_),
        metrics_(sweep_.settings.name, options.code_version) {
    for (std::size_t i = 0; i < sweep_.jobs.size(); ++i) position_[sweep_.jobs[i].id] = i;
  }

  // The files that tell where /metrics is are true only while it is served.
  ~Coordinator() {
    std::error_code ignored;
    for (const fs::path& file : metrics_files_) fs::remove(file, ignored);
  }

  RunOutcome run(std::vector<Gang> gangs) {
    gangs_ = std::move(gangs);
    // Listening first: an address in use stops the run before anything is recorded.
    const std::string metrics_address =
        options_.metrics_address.empty() ? "" : metrics_.serve(options_.metrics_address);
    prepare();
    if (!metrics_address.empty()) announce_metrics(metrics_address);
    count_gangs();
    started_ = SteadyClock::now();
    done_cost_at_start_ = done_cost_;
    print_line(plan_summary());
    if (gangs_.size() == 1 && gangs_.front().root_rank == kCoordinator) {
      run_alone();
    } else {
      run_with_gangs();
    }
    const RunOutcome outcome = finish();
    if (!metrics_address.empty() && options_.metrics_linger_seconds > 0) {
      print_line("metrics: serving the final numbers until the next scrape, at most " +
                 worker::format_duration(options_.metrics_linger_seconds) + " (--metrics-linger)");
      metrics_.wait_for_scrape(options_.metrics_linger_seconds, stop_requested_);
    }
    return outcome;
  }

 private:
  // Registers every job and decides, from the ledger, what each needs.
  void prepare() {
    const LedgerState& before = ledger_.state();
    if (!options_.resume && !before.jobs.empty()) {
      throw std::runtime_error(ledger_.file().string() + ": this run folder already has a ledger; add --resume "
                               "to continue it, or choose another --out");
    }
    const std::string sweep_text = storage::read_text_file(options_.sweep_file, "sweep file");
    ledger_.run_started({options_.code_version, c10::sha1(sweep_text).str(), options_.resume});
    storage::write_file_atomically(run_dir_ / "plan.json", plan_json(sweep_));
    storage::write_file_atomically(run_dir_ / "sweep.toml", sweep_text);
    for (const Job& job : sweep_.jobs) {
      ledger_.register_job({job.id, job.folder.string(), job.id, job.experiments});
      metrics_.add_job(job, ledger_.state().job(job.id).state);
      switch (resume_action(ledger_.state().job(job.id), sweep_.settings.max_retries)) {
        case ResumeAction::kStart:
        case ResumeAction::kContinueFromCheckpoint:
        case ResumeAction::kRetry: runnable_.insert(job.id); break;
        case ResumeAction::kKeepCompleted: done_cost_ += job.estimated_cost; break;
        case ResumeAction::kKeepFailed: break;
      }
    }
    skip_finished_jobs();
  }

  const Job& job_of(const std::string& id) const { return sweep_.jobs[position_.at(id)]; }

  // Moves first_runnable_ past the jobs that will not run again. runnable_ only shrinks after
  // prepare(), so the scans below need never look before it: with thousands of jobs, scanning from the
  // top for every dispatch would make a sweep quadratic.
  void skip_finished_jobs() {
    while (first_runnable_ < sweep_.jobs.size() && !runnable_.count(sweep_.jobs[first_runnable_].id)) {
      ++first_runnable_;
    }
  }

  // Where /metrics is: on the terminal, in RUN/metrics.json, and in the file-SD target file if asked.
  void announce_metrics(const std::string& address) {
    const std::string url = metrics_url(address);
    print_line("metrics: " + url);
    const json where = {{"address", address}, {"url", url}, {"pid", static_cast<long>(getpid())},
                        {"host", host_name()}, {"sweep", sweep_.settings.name}};
    metrics_files_.push_back(run_dir_ / "metrics.json");
    storage::write_file_atomically(metrics_files_.back(), where.dump(2) + "\n");
    if (!options_.metrics_sd_file.empty()) {
      const fs::path file = fs::absolute(options_.metrics_sd_file);
      fs::create_directories(file.parent_path());
      metrics_files_.push_back(file);
      storage::write_file_atomically(file, target_file_json(address, sweep_.settings.name));
    }
  }

  bool completed(const std::string& id) const { return ledger_.state().job(id).state == JobState::kCompleted; }

  // The next job whose dependencies are complete, in the sweep's dispatch order; training jobs only
  // when `training` (gangs train, the coordinator runs analyses).
  std::optional<std::string> next_ready(JobKind kind) const {
    if (stopping_) return std::nullopt;
    for (std::size_t i = first_runnable_; i < sweep_.jobs.size(); ++i) {
      const Job& job = sweep_.jobs[i];
      if (job.kind != kind || !runnable_.count(job.id) || running_.count(job.id)) continue;
      if (std::all_of(job.depends_on.begin(), job.depends_on.end(), [&](const auto& d) { return completed(d); })) {
        return job.id;
      }
    }
    return std::nullopt;
  }

  // Jobs that can never run: a dependency failed for good.
  bool blocked(const Job& job) const {
    return std::any_of(job.depends_on.begin(), job.depends_on.end(), [&](const std::string& d) {
      return !completed(d) && !runnable_.count(d) && !running_.count(d);
    });
  }

  bool work_left() const {
    if (!running_.empty()) return true;
    if (stopping_) return false;
    return std::any_of(sweep_.jobs.begin() + static_cast<std::ptrdiff_t>(first_runnable_), sweep_.jobs.end(),
                       [&](const Job& job) { return runnable_.count(job.id) && !blocked(job); });
  }

  void start(const std::string& id, const Gang& gang) {
    running_.insert(id);
    ledger_.job_started(id, {gang.root_rank, gang.index, host_name()});
    const Job& job = job_of(id);
    metrics_.job_state(job, JobState::kRunning);
    print_line("start  " + describe(job) +
               (job.kind == JobKind::kAnalysis ? "" : " on gang " + std::to_string(gang.index)));
  }

  void end(const std::string& id, const JobOutcome& outcome) {
    running_.erase(id);
    const Job& job = job_of(id);
    metrics_.job_state(job, outcome.state);
    switch (outcome.state) {
      case JobState::kCompleted:
        ledger_.job_completed(id, outcome.summary);
        if (!outcome.summary.empty()) {
          try {
            metrics_.job_scores(job, run_dir_ / outcome.summary);
          } catch (const std::exception& error) {
            print_line("warning: no test scores in the metrics: " + std::string(error.what()));
          }
        }
        runnable_.erase(id);
        done_cost_ += job.estimated_cost;
        print_line("done   " + describe(job) + summary_note(outcome.summary));
        break;
      case JobState::kPreempted:
        ledger_.job_preempted(id, outcome.reason);
        print_line("paused " + describe(job) + ": " + outcome.reason);
        stop_all("a job was preempted");
        break;
      default:
        ledger_.job_failed(id, outcome.reason);
        print_line("FAILED " + describe(job) + ": " + outcome.reason);
        if (resume_action(ledger_.state().job(id), sweep_.settings.max_retries) != ResumeAction::kRetry) {
          runnable_.erase(id);
          failed_for_good_ = true;
          if (sweep_.settings.fail_fast) stop_all("fail_fast: " + describe(job) + " failed");
        }
        break;
    }
    skip_finished_jobs();
  }

  std::string summary_note(const std::string& summary) const {
    if (summary.empty()) return "";
    std::ifstream in(run_dir_ / summary);
    const json scores = json::parse(in, nullptr, false);
    if (scores.is_discarded() || !scores.contains("mean")) return "";
    const json& dsc = scores["mean"]["label_1"]["dsc"];
    if (!dsc.is_number()) return "";
    char text[64];
    std::snprintf(text, sizeof text, ": test DSC (Label_1) %.4f", dsc.get<double>());
    return text;
  }

  void stop_all(const std::string& why) {
    if (stopping_) return;
    stopping_ = true;
    print_line("stopping: " + why + "; running jobs checkpoint at their next step");
    for (Gang& gang : gangs_) {
      if (!gang.job.empty() && gang.root_rank != kCoordinator && !gang.lost) send_text(gang.root_rank, kTagStop, "{}");
    }
  }

  // Analyses are cheap: the coordinator runs each as soon as its jobs are complete.
  void run_ready_analyses() {
    while (const auto id = next_ready(JobKind::kAnalysis)) {
      const Job& job = job_of(*id);
      start(*id, Gang{});
      JobOutcome outcome;
      try {
        run_analysis_job(sweep_, job, run_dir_);
      } catch (const std::exception& error) {
        outcome = {JobState::kFailed, error.what(), ""};
      }
      end(*id, outcome);
    }
  }

  void run_alone() {
    Gang& self = gangs_.front();
    while (true) {
      run_ready_analyses();
      if (stop_requested_.load()) stop_all("signal received");
      const auto id = next_ready(JobKind::kTraining);
      if (!id) break;
      const Job& job = job_of(*id);
      start(*id, self);
      self.job = *id;
      count_gangs();
      std::atomic<bool> stop{false};
      // The same reports as a gang root's messages, handed over in this process.
      ProgressBatcher batcher;
      const auto on_step = [&](const worker::StepReport& report) {
        if (stop_requested_.load()) stop.store(true);
        if (const auto due = batcher.add(report)) progress(self, job, *due);
      };
      const auto on_epoch_end = [&](const worker::EpochReport& report) { epoch_ended(self, job, report, unix_now()); };
      const JobOutcome outcome =
          execute_job(options_, job.config, run_dir_, job.folder, nullptr, stop, on_step, on_epoch_end, options_.out);
      if (const auto rest = batcher.rest()) progress(self, job, *rest);
      end(*id, outcome);
      self.job.clear();
      self.progress.reset();
      count_gangs();
    }
  }

  void progress(Gang& gang, const Job& job, const ProgressReport& report) {
    gang.progress = report;
    metrics_.gang_heard(gang.index, gang.root_rank);
    metrics_.job_progress(job, report);
  }

  void epoch_ended(Gang& gang, const Job& job, const worker::EpochReport& report, double unix_time) {
    metrics_.gang_heard(gang.index, gang.root_rank);
    metrics_.job_epoch_end(job, report, unix_time);
  }

  void count_gangs() {
    int busy = 0, idle = 0, lost = 0;
    for (const Gang& gang : gangs_) ++(gang.lost ? lost : gang.job.empty() ? idle : busy);
    metrics_.gang_states(busy, idle, lost);
  }

  void run_with_gangs() {
    auto last_status = SteadyClock::now();
    // Silence counts from when the coordinator starts listening, not from before prepare().
    for (Gang& gang : gangs_) gang.last_heard = last_status;
    const auto alive = [](const Gang& g) { return !g.lost; };
    while (work_left() || std::any_of(gangs_.begin(), gangs_.end(), [](const Gang& g) { return !g.quit && !g.lost; })) {
      if (std::none_of(gangs_.begin(), gangs_.end(), alive)) {
        print_line("no gang is left to run the remaining jobs");
        break;
      }
      if (stop_requested_.load()) stop_all("signal received");
      run_ready_analyses();
      bool handled = false;
      int pending = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &pending, &status);
      if (pending) {
        handle(status);
        handled = true;
      }
      dispatch();
      check_heartbeats();
      count_gangs();
      if (SteadyClock::now() - last_status >= std::chrono::duration<double>(options_.status_every_seconds)) {
        print_line(status_line());
        last_status = SteadyClock::now();
      }
      if (!handled) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  Gang& gang_of_rank(int rank) {
    for (Gang& gang : gangs_) {
      if (gang.root_rank == rank) return gang;
    }
    throw std::logic_error("a message from rank " + std::to_string(rank) + ", which roots no gang");
  }

  void handle(const MPI_Status& status) {
    const std::string text = receive_text(status);
    Gang& gang = gang_of_rank(status.MPI_SOURCE);
    gang.last_heard = SteadyClock::now();
    if (gang.lost) return;  // it came back after being written off: it gets nothing more
    metrics_.gang_heard(gang.index, gang.root_rank);
    switch (status.MPI_TAG) {
      case kTagReady: gang.waiting = true; break;
      case kTagProgress: {
        const json message = json::parse(text);
        progress(gang, job_of(message["id"].get<std::string>()), progress_from_json(message));
        break;
      }
      case kTagEpochEnd: {
        const json message = json::parse(text);
        epoch_ended(gang, job_of(message["id"].get<std::string>()), epoch_end_from_json(message), message["time"]);
        break;
      }
      case kTagResult: {
        const json result = json::parse(text);
        const std::string state = result["state"];
        JobOutcome outcome{state == "completed" ? JobState::kCompleted
                                                : state == "preempted" ? JobState::kPreempted : JobState::kFailed,
                           result["reason"], result["summary"]};
        end(result["id"], outcome);
        gang.job.clear();
        gang.progress.reset();
        break;
      }
      default: throw std::logic_error("an unexpected message tag " + std::to_string(status.MPI_TAG));
    }
  }

  // Idle gangs that asked get the next ready job, or "quit" when nothing will ever be ready for them.
  void dispatch() {
    for (Gang& gang : gangs_) {
      if (!gang.waiting || gang.lost) continue;
      if (const auto id = next_ready(JobKind::kTraining)) {
        const Job& job = job_of(*id);
        start(*id, gang);
        gang.job = *id;
        gang.waiting = false;
        gang.last_heard = SteadyClock::now();
        send_text(gang.root_rank, kTagJob,
                  json{{"id", *id}, {"folder", job.folder.string()}, {"config", worker::to_toml(job.config)}}.dump());
      } else if (!work_left() || stopping_) {
        send_text(gang.root_rank, kTagQuit, "{}");
        gang.waiting = false;
        gang.quit = true;
      }
    }
  }

  // A gang owes a word unless it waits for work or was told to quit: one that froze between its
  // result and its next request is as lost as one that froze mid-job.
  void check_heartbeats() {
    const auto now = SteadyClock::now();
    for (Gang& gang : gangs_) {
      if (gang.lost || gang.quit || gang.waiting) continue;
      if (now - gang.last_heard < std::chrono::duration<double>(options_.heartbeat_timeout_seconds)) continue;
      gang.lost = true;
      lost_gangs_ = true;
      const std::string silence = "gang " + std::to_string(gang.index) + " (rank " + std::to_string(gang.root_rank) +
                                  ") stopped answering for " +
                                  std::to_string(static_cast<int>(options_.heartbeat_timeout_seconds)) + " s";
      if (gang.job.empty()) {
        print_line(silence + " between jobs");
      } else {
        const std::string id = gang.job;
        gang.job.clear();
        end(id, {JobState::kFailed, silence, ""});
      }
      count_gangs();
    }
  }

  RunOutcome finish() {
    const auto counts = ledger_.state().count_by_state();
    auto count = [&](JobState state) { return counts.count(state) ? counts.at(state) : 0; };
    RunOutcome outcome = RunOutcome::kCompleted;
    if (lost_gangs_) {
      outcome = RunOutcome::kLostGang;
    } else if (stopping_ && !failed_for_good_) {
      outcome = RunOutcome::kPreempted;
    } else if (failed_for_good_ || count(JobState::kCompleted) < static_cast<int>(sweep_.jobs.size())) {
      outcome = RunOutcome::kFailed;
    }
    if (outcome != RunOutcome::kPreempted) ledger_.run_finished();
    print_line(status_line());
    // The tables as far as they go (a failed job shows as such); a report that cannot be made is said,
    // not fatal: the jobs' results are in their folders and `ugs report` can try again.
    try {
      const Report report = make_report(run_dir_);
      if (options_.out) std::fprintf(options_.out, "\n%s\n", report_markdown(report).c_str());
      print_line("report: " + (run_dir_ / "report" / "report.md").string());
    } catch (const std::exception& error) {
      print_line("report not written: " + std::string(error.what()));
    }
    if (outcome == RunOutcome::kPreempted) {
      print_line("preempted: run the same command with --resume to continue (" + run_dir_.string() + ")");
    }
    return outcome;
  }

  std::string describe(const Job& job) const {
    if (job.kind == JobKind::kAnalysis) return "analysis " + job.folder.string();
    return job.network + " fold " + std::to_string(job.fold) +
           (sweep_.settings.seeds.size() > 1 ? " seed " + std::to_string(job.seed) : "") + " [" + job.id + "]";
  }

  std::string plan_summary() const {
    std::ostringstream text;
    text << "sweep " << sweep_.settings.name << ": " << sweep_.jobs.size() << " jobs, " << runnable_.size()
         << " to run, " << gangs_.size() << (gangs_.size() == 1 ? " gang" : " gangs") << " of "
         << sweep_.settings.ranks_per_job << " rank(s); run folder " << run_dir_.string();
    return text.str();
  }

  std::string status_line() const {
    const auto counts = ledger_.state().count_by_state();
    auto count = [&](JobState state) { return counts.count(state) ? counts.at(state) : 0; };
    double total_cost = 0;
    for (const Job& job : sweep_.jobs) total_cost += job.estimated_cost;
    const double elapsed = std::chrono::duration<double>(SteadyClock::now() - started_).count();
    std::ostringstream text;
    text << "status: " << count(JobState::kCompleted) << "/" << sweep_.jobs.size() << " done, " << running_.size()
         << " running, " << count(JobState::kFailed) << " failed, " << count(JobState::kPreempted) << " preempted";
    // ETA from the estimated cost of the jobs done in this run (earlier runs' are not timed here).
    const double fraction = total_cost > 0 ? done_cost_ / total_cost : 0;
    const double fraction_now = total_cost > 0 ? (done_cost_ - done_cost_at_start_) / total_cost : 0;
    if (fraction_now > 0 && fraction < 1) {
      text << " | " << static_cast<int>(100 * fraction) << "% of the work, ETA "
           << worker::format_duration(elapsed * (1 - fraction) / fraction_now);
    }
    for (const Gang& gang : gangs_) {
      if (gang.job.empty() || !gang.progress) continue;
      const Job& job = job_of(gang.job);
      text << " | " << job.network << " f" << job.fold << " e" << gang.progress->epoch + 1 << "/"
           << job.config.training.epochs;
      for (const auto& [name, value] : gang.progress->losses) {
        if (name != "loss") continue;
        char loss[32];
        std::snprintf(loss, sizeof loss, " loss %.4f", value);
        text << loss;
      }
    }
    return text.str();
  }

  void print_line(const std::string& line) const {
    if (!options_.out) return;
    std::fprintf(options_.out, "%s\n", line.c_str());
    std::fflush(options_.out);
  }

  const RunOptions& options_;
  Sweep sweep_;
  fs::path run_dir_;
  const std::atomic<bool>& stop_requested_;
  Ledger ledger_;
  RunMetrics metrics_;                  // always kept; served when options_.metrics_address is set
  std::vector<fs::path> metrics_files_;  // metrics.json and the target file, removed at the end
  std::vector<Gang> gangs_;
  std::set<std::string> runnable_;  // still to run (new, interrupted, or failed with retries left)
  std::set<std::string> running_;
  std::map<std::string, std::size_t> position_;  // job id -> its index in sweep_.jobs (dispatch order)
  std::size_t first_runnable_ = 0;                // every job before it has completed or failed for good
  bool stopping_ = false;
  bool failed_for_good_ = false;
  bool lost_gangs_ = false;
  double done_cost_ = 0;           // estimated cost of the completed jobs
  double done_cost_at_start_ = 0;  // of those completed by earlier runs
  SteadyClock::time_point started_;
};

}  // namespace

RunOutcome run_sweep(const RunOptions& options, const std::atomic<bool>& stop_requested) {
  int world_rank = 0, world_size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);

  // Rank 0 reads the sweep and makes the run folder; the others learn the gang size, or that it failed.
  std::optional<Sweep> sweep;
  fs::path run_dir;
  std::string error;
  int ranks_per_job = 0;  // 0: rank 0 failed, everyone returns
  if (world_rank == kCoordinator) {
    try {
      sweep = load_sweep(options.sweep_file, options.overrides);
      run_dir = options.run_dir.empty() ? fs::path("runs") / sweep->settings.name : options.run_dir;
      run_dir = fs::absolute(run_dir);
      fs::create_directories(run_dir);
      ranks_per_job = sweep->settings.ranks_per_job;
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  MPI_Bcast(&ranks_per_job, 1, MPI_INT, kCoordinator, MPI_COMM_WORLD);
  const std::string run_dir_text = broadcast_text(run_dir.string(), MPI_COMM_WORLD);
  if (ranks_per_job == 0) {
    if (world_rank == kCoordinator) throw std::runtime_error(error);
    return RunOutcome::kFailed;
  }

  // Gangs of consecutive worker ranks; the coordinator alone when it is the only rank.
  const int workers = world_size - 1;
  const int gang_count = workers / ranks_per_job;
  if (world_size > 1 && gang_count == 0) {
    if (world_rank == kCoordinator) {
      throw std::runtime_error(options.sweep_file.string() + ": [sweep] ranks_per_job = " +
                               std::to_string(ranks_per_job) + " but only " + std::to_string(workers) +
                               " worker rank(s) besides the coordinator; start at least " +
                               std::to_string(ranks_per_job + 1) + " ranks");
    }
    return RunOutcome::kFailed;
  }
  const int gang_index = world_rank == kCoordinator ? -1 : (world_rank - 1) / ranks_per_job;
  const bool in_gang = gang_index >= 0 && gang_index < gang_count;
  MPI_Comm gang_comm = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, in_gang ? gang_index : MPI_UNDEFINED, world_rank, &gang_comm);
  const int local_rank = worker::node_local_rank(MPI_COMM_WORLD);

  if (world_rank != kCoordinator) {
    if (in_gang) {
      serve(options, gang_comm, local_rank, stop_requested, run_dir_text);
      MPI_Comm_free(&gang_comm);
    }
    return RunOutcome::kCompleted;  // the coordinator's outcome is the run's
  }

  std::vector<Gang> gangs;
  if (world_size == 1) {
    gangs.push_back(make_gang(0, kCoordinator));
  } else {
    for (int g = 0; g < gang_count; ++g) gangs.push_back(make_gang(g, 1 + g * ranks_per_job));
    if (workers % ranks_per_job != 0 && options.out) {
      std::fprintf(options.out, "note: %d worker rank(s) do not fill a gang of %d and stay idle\n",
                   workers % ranks_per_job, ranks_per_job);
    }
  }
  Coordinator coordinator(options, std::move(*sweep), run_dir_text, stop_requested);
  const RunOutcome outcome = coordinator.run(std::move(gangs));
  return outcome;
}

}  // namespace ugs::orchestrator
