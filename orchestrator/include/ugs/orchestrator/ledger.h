// The run ledger: the durable record of what a sweep did, RUN/ledger.jsonl, that survives crashes,
// kill -9 and preemption, and from which `ugs run --resume` decides what to do with every job.
//
//   Ledger ledger(run_dir);                              // locks the run folder, replays the file
//   for (const auto& note : ledger.state().notes) std::cerr << note << "\n";   // e.g. a torn last line
//   ledger.run_started({code_version, sweep_sha1, /*resumed=*/true});
//   ledger.register_job({id, "jobs/unet_fold0_" + id, config_hash, {"table1"}});
//   switch (resume_action(ledger.state().job(id), max_retries)) { ... }
//   ledger.job_started(id, {/*rank=*/0, /*gang=*/0, host});
//   ledger.job_completed(id, "jobs/unet_fold0_" + id + "/summary.json");
//   ledger.run_finished();
//
// Format (docs/ledger.md lists every event and field): one JSON object per line, each an event
// {"event": ..., "time": "2024-05-01T12:00:00.123Z", ...}. Events are appended, never rewritten: a
// line goes to the file in one write() of the whole line and is fdatasync'ed before the append call
// returns, so an event the caller saw recorded survives a crash of the process or of the machine.
// Progress is not in the ledger (too frequent); the job folder's training_log.jsonl has it.
//
// Replay: a job's state is the fold of its events in file order:
//   job_registered -> pending;  job_started -> running;  job_completed -> completed;
//   job_failed -> failed;  job_preempted -> preempted.
// A job may start again when it is pending, running (its process died), preempted or failed; it may
// end (completed, failed, preempted) only when running; it never starts again once completed. A torn
// last line (no trailing newline, or not JSON: a write cut short by a crash; it was never
// acknowledged) is dropped with a note in LedgerState::notes and, by the writer, truncated away
// before the next append. Anything else wrong - a line that is not JSON anywhere but last, an
// unknown event, a missing field, an event for an unregistered job, a transition the rules above
// forbid - is an error naming RUN/ledger.jsonl:LINE.
//
// Resume semantics (`ugs run --resume`; resume_action() gives them, per job):
//   - a job id not in the ledger is new: register it, it is pending;
//   - pending: start it;
//   - running (the process died with it) or preempted: continue it from its job folder's
//     checkpoint_latest.pt (train_job does so by itself when the file exists; a job that had already
//     finished its folder before the crash is not trained again, train_job only completes it);
//   - completed: never redone; its result is the job folder;
//   - failed: retried while failures <= max_retries (so a job runs at most 1 + max_retries times to a
//     failure); preemptions and crashes do not use up retries, they are not the job's fault.
// A job's id is the hash of its resolved configuration, so a changed configuration is a new job with a
// new id, never a silent reuse of the old results; registering a known id with another config hash is
// refused.
//
// Invariants: the in-memory state equals the replay of the file; an append that is refused (a
// forbidden transition, an unknown job) writes nothing; an append whose write comes up short throws
// and truncates the partial line away; when that truncation or an fdatasync fails, this and every
// later append throw (after a failed fdatasync nothing on disk can be trusted: reopen the run).
//
// Errors: std::runtime_error, one line naming the file (and the line for a bad ledger).
//
// Thread safety: one writer, the coordinator: a Ledger is not thread-safe, call it from one thread.
// A second Ledger on the same run folder, in this or another process (on another host too, where the
// shared file system supports flock, as NFS does), is refused while the first lives: the constructor
// takes an exclusive non-blocking flock on RUN/ledger.lock and names the host and pid that hold it. read_ledger() takes no lock and writes
// nothing, so `ugs report` may read a run that is going on (a line being appended is a torn last line).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ugs::orchestrator {

using Clock = std::chrono::system_clock;

enum class JobState { kPending, kRunning, kCompleted, kFailed, kPreempted };

// "pending", "running", "completed", "failed", "preempted".
std::string_view to_string(JobState state);

// What the coordinator registers for every job of the plan.
struct JobDescription {
  std::string id;                        // the hash of the resolved configuration, or a prefix of it
  std::string folder;                    // the job folder, relative to the run folder (jobs/...)
  std::string config_hash;               // the full hash the id comes from
  std::vector<std::string> experiments;  // the experiments that use this job (shared jobs: several)
};

// Where an attempt runs.
struct Placement {
  int rank = 0;       // the world rank of the gang's root
  int gang = 0;       // the gang's index (0 when the coordinator runs the job itself)
  std::string host;   // the gang root's host name
};

// A job as its events fold. The counters count events, so they are what the tests and the report
// read: how often each job started, completed, failed, was preempted.
struct JobRecord {
  JobDescription description;
  JobState state = JobState::kPending;
  int attempts = 0;      // job_started events
  int completions = 0;   // job_completed events (at most 1: a completed job never starts again)
  int failures = 0;      // job_failed events
  int preemptions = 0;   // job_preempted events
  Placement placement;   // of the last attempt
  std::optional<Clock::time_point> last_started;
  std::optional<Clock::time_point> last_ended;  // completed, failed or preempted
  double seconds = 0;    // the sum over the attempts that ended of their start-to-end times
  std::string summary;   // summary.json of the completed job, relative to the run folder
  std::string reason;    // of the last failure or preemption
};

// The whole ledger folded.
struct LedgerState {
  std::map<std::string, JobRecord> jobs;    // by id
  std::vector<std::string> order;           // ids in registration order
  int runs = 0;                             // run_started and run_resumed events
  std::string code_version;                 // of the latest run_started/run_resumed
  std::string sweep_sha1;                   // likewise: the sweep file the latest run ran
  bool finished = false;                    // the latest run event is run_finished
  std::size_t events = 0;                   // lines (events) in the file
  std::vector<std::string> notes;           // what replay dropped, one line each

  // The job with this id; throws naming the id when it is not registered.
  const JobRecord& job(const std::string& id) const;
  // How many jobs are in each state.
  std::map<JobState, int> count_by_state() const;
};

// What `ugs run --resume` does with a registered job (see the resume semantics above).
enum class ResumeAction {
  kStart,                    // pending: never started
  kContinueFromCheckpoint,   // running (died) or preempted
  kRetry,                    // failed, failures <= max_retries
  kKeepCompleted,            // completed: never redone
  kKeepFailed,               // failed more than max_retries times: reported, not run
};
ResumeAction resume_action(const JobRecord& job, int max_retries);

struct RunStart {
  std::string code_version;
  std::string sweep_sha1;  // of the sweep file as given
  bool resumed = false;    // run_resumed instead of run_started
};

// Replays RUN/ledger.jsonl without locking or writing (a torn last line is dropped in memory only).
// An absent file is an empty ledger.
LedgerState read_ledger(const std::filesystem::path& run_dir);

class Ledger {
 public:
  static constexpr const char* kFileName = "ledger.jsonl";
  static constexpr const char* kLockFileName = "ledger.lock";

  // Locks `run_dir` (which must exist), replays its ledger.jsonl (created, and the folder fsync'ed,
  // when absent) and truncates a torn last line away.
  explicit Ledger(const std::filesystem::path& run_dir);
  ~Ledger();  // releases the lock
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  const LedgerState& state() const { return state_; }
  const std::filesystem::path& file() const { return file_; }

  void run_started(const RunStart& start);
  // Appends job_registered when the id is new or its folder or experiments changed; returns whether
  // it appended. A known id with another config hash is refused.
  bool register_job(const JobDescription& job);
  void job_started(const std::string& id, const Placement& placement);
  // `summary`: the job's summary.json relative to the run folder, empty when it has no test fold.
  void job_completed(const std::string& id, const std::string& summary);
  // `reason`: one line (line breaks become spaces).
  void job_failed(const std::string& id, const std::string& reason);
  void job_preempted(const std::string& id, const std::string& reason);
  // Records the counts by state; the run may be resumed later all the same.
  void run_finished();

 private:
  // Checks `event` (one JSON object) against the state exactly as replay will, then writes it as one
  // line, fdatasyncs, and folds it in.
  void append(const std::string& event);

  std::filesystem::path file_;
  int lock_fd_ = -1;
  int ledger_fd_ = -1;
  long long good_size_ = 0;  // bytes of whole, acknowledged lines
  bool broken_ = false;      // an append failed half-way: refuse the next ones
  LedgerState state_;
};

}  // namespace ugs::orchestrator
