// The coordinator's live metrics for Prometheus: what `ugs run` serves at http://HOST:PORT/metrics
// (docs/monitoring.md is the manual). Names follow Prometheus conventions: base units, `_seconds`,
// `_total` for counters, `_timestamp_seconds` for Unix times; labels are bounded (no nodule, patient,
// epoch or step).
//
//   RunMetrics metrics("paper", code_version);          // every family registered, nothing served
//   const std::string address = metrics.serve("127.0.0.1:0");   // "127.0.0.1:40123": port 0 = any free one
//   metrics.add_job(job, JobState::kPending);            // each job of the sweep, with its ledger state
//   metrics.job_state(job, JobState::kRunning);          // ... as the coordinator moves it
//   metrics.job_progress(job, report);                   // a gang root's progress message
//   metrics.job_epoch_end(job, epoch_report, unix_time); // ... and its epoch ends
//   metrics.job_scores(job, run_dir / summary);          // a completed job's summary.json
//   metrics.wait_for_scrape(60, stop_flag);              // at the end: let Prometheus take the final numbers
//
// Families (label sets: RUN = {sweep}; JOB = {sweep, config, network, fold}; GANG = {sweep, gang, rank}):
//   ugs_run_info{RUN, version, torch, host, slurm_job_id, gpu} = 1   ugs_run_start_timestamp_seconds{RUN}
//   ugs_jobs{RUN, state}                     jobs of the sweep by state (pending, running, completed,
//                                            failed, preempted); they sum to the sweep's job count
//   ugs_jobs_{completed,failed,retried,preempted}_total{RUN, network}   events in this process's lifetime
//   ugs_gangs{RUN, state}                    busy, idle, lost       ugs_gang_last_heard_timestamp_seconds{GANG}
//   ugs_job_state{JOB, state} (0/1)  ugs_job_epoch, ugs_job_epochs, ugs_job_loss{JOB, part},
//   ugs_job_learning_rate, ugs_job_samples_per_second, ugs_job_step_duration_seconds (histogram),
//   ugs_job_allreduce_duration_seconds (histogram), ugs_job_loader_wait_seconds_total,
//   ugs_job_last_progress_timestamp_seconds, ugs_job_checkpoint_write_duration_seconds,
//   ugs_job_checkpoint_timestamp_seconds, ugs_job_validation_dsc, ugs_job_test_{dsc,iou,nsd}{JOB, mask}
// Label values: config is the job's configuration folder under jobs/ ("ugsnet-9bae9c0f"), with
// "-seed<s>" appended for seeds other than 0 so that repetitions stay apart; fold is "0".."4"; an
// analysis job (Table III) counts in ugs_jobs and the _total counters with network = "analysis" and
// has no JOB series. Timestamps are Unix seconds (ages are `time() - x` in PromQL); durations seconds.
//
// Invariants: a training job's ugs_job_state is 1 for exactly one state; the counters only grow; a
// job's series appear when it is added (state, epochs) or first reports (the rest), and stay after it
// ends, so that a finished sweep's numbers can still be scraped (wait_for_scrape).
//
// Errors: serve() throws std::runtime_error naming the address when it cannot listen (a port in use,
// not an IP address); job_scores() throws std::runtime_error naming the file when it cannot read it.
// An update for a job that was never added is a coordinator bug: std::logic_error.
//
// Thread safety: one thread (the coordinator's) calls the updates; scrapes() and text() may be called
// from any thread. Scrapes are served on the exporter's own thread, reading the values atomically
// (prometheus-cpp's metrics and families lock).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ugs/orchestrator/ledger.h"
#include "ugs/orchestrator/sweep.h"
#include "ugs/worker/progress.h"
#include "ugs/worker/train.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace ugs::orchestrator {

// What a gang root tells the coordinator about its running job in one progress message: the latest
// step, and the timings of every step since its previous message (so that histograms see each one).
struct ProgressReport {
  int epoch = 0;                                        // 0-based, the epoch in progress
  int step = 0;                                         // 0-based, within it
  std::vector<std::pair<std::string, double>> losses;  // the latest step's "loss" and its parts
  double lr = 0;                                        // the latest step's learning rate
  std::vector<double> step_seconds;                     // each step since the previous report
  std::vector<double> allreduce_seconds;                // the same steps' gradient all-reduce
  double loader_wait_seconds = 0;                       // the same steps' waits for a batch, summed
  long long samples = 0;                                // the same steps' samples (whole gang), summed

  // Takes one more step in (its losses and rate become the latest).
  void add(const worker::StepReport& step);
  bool empty() const { return step_seconds.empty(); }
  // Training throughput over these steps: samples / the steps' seconds (0 when empty).
  double samples_per_second() const;
};

// The coordinator's metrics: the registry, every family, and (after serve()) the HTTP exporter.
class RunMetrics {
 public:
  // Registers every family for sweep `sweep` and sets ugs_run_info (torch version, host,
  // SLURM_JOB_ID, CUDA devices seen by this process) and ugs_run_start_timestamp_seconds (now).
  RunMetrics(std::string sweep, const std::string& code_version);
  ~RunMetrics();  // stops serving; a scrape in flight completes first
  RunMetrics(const RunMetrics&) = delete;
  RunMetrics& operator=(const RunMetrics&) = delete;

  // Serves /metrics on `address`, "HOST:PORT" with HOST an IP address ("127.0.0.1", "0.0.0.0",
  // "[::1]") and PORT 0 for any free port; returns the address listening, with the port chosen.
  std::string serve(const std::string& address);
  // Scrapes of /metrics begun so far.
  std::uint64_t scrapes() const;
  // What /metrics serves now, in Prometheus's text format (served or not).
  std::string text() const;
  // After the last update: waits until a scrape begins (it then carries the final numbers), at most
  // `seconds`, or until `stop` is set. Returns whether one began. Without serve(): returns false.
  bool wait_for_scrape(double seconds, const std::atomic<bool>& stop) const;

  // A job of the sweep, in its state from the ledger (a job that was running when an earlier
  // coordinator died counts as pending: nothing runs it now). Counts nothing in the _total counters.
  void add_job(const Job& job, JobState state);
  // The job moved to `state`: ugs_jobs and ugs_job_state follow; completed, failed and preempted
  // count in their _total; running after failed counts as a retry. Running also stamps
  // ugs_job_last_progress_timestamp_seconds (a job is not stalled before its first step).
  void job_state(const Job& job, JobState state);
  void job_progress(const Job& job, const ProgressReport& report);
  // `checkpoint_unix_time`: when the gang root heard of the epoch's end (right after its checkpoints).
  void job_epoch_end(const Job& job, const worker::EpochReport& report, double checkpoint_unix_time);
  // A completed job's test-fold means from its summary.json: ugs_job_test_{dsc,iou,nsd}{mask}.
  void job_scores(const Job& job, const std::filesystem::path& summary_json);
  // A message from gang `gang` (root at world rank `root_rank`) just arrived.
  void gang_heard(int gang, int root_rank);
  void gang_states(int busy, int idle, int lost);

 private:
  friend std::vector<std::string> metric_family_names();
  struct Families;
  class ScrapeCounter;
  void count_states();

  std::string sweep_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
  std::shared_ptr<ScrapeCounter> scrape_counter_;
  std::map<std::string, JobState> states_;        // by job id: every job added
  std::string listening_;                         // serve()'s address
  std::unique_ptr<prometheus::Exposer> exposer_;  // last: destroyed (stops serving) first
};

// The names of every family RunMetrics registers, in registration order, read from the families
// themselves (built on a throwaway registry). Histograms also expose <name>_bucket, _sum and _count.
std::vector<std::string> metric_family_names();

// "http://127.0.0.1:40123/metrics" for a listening address; a wildcard host (0.0.0.0, [::]) becomes
// this machine's host name, the name another machine can reach it by.
std::string metrics_url(const std::string& listening_address);

// The Prometheus file-service-discovery target list for a coordinator listening on
// `listening_address` (wildcard host: this machine's name), labelled with the sweep:
//   [{"targets": ["node07:40123"], "labels": {"sweep": "paper"}}]
std::string target_file_json(const std::string& listening_address, const std::string& sweep);

}  // namespace ugs::orchestrator
