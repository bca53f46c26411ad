// `ugs run`: a whole sweep, under mpirun, srun, or in one process.
//
//   MPI_Init_thread(...);                       // main() does; every rank calls run_sweep
//   RunOutcome outcome = run_sweep(options, stop_requested);
//
// Ranks (docs/orchestrator.md draws it):
//   - rank 0 is the coordinator: it expands the sweep (sweep.h), keeps the ledger (ledger.h), hands
//     ready jobs to idle gangs (dependencies first, then the highest priority), runs the analysis jobs
//     itself, prints a live status and writes the report at the end;
//   - ranks 1..W-1 form gangs of [sweep] ranks_per_job ranks (MPI_Comm_split, consecutive ranks, so
//     a gang tends to share a node); each gang trains one job at a time data-parallel
//     (worker/collective.h), its root talking to the coordinator; ranks that do not fill a gang idle;
//   - one process alone (no launcher, or -np 1) is the coordinator and its only gang: the same
//     scheduling, ledger and folders, the jobs trained in the coordinator's process.
// Messages are small JSON texts over MPI_COMM_WORLD (tags in run.cpp): a gang root asks for work,
// gets a job or "quit", reports progress at most once a second (the latest step, and every step's
// timings since its previous report), each epoch's end (validation Dice, checkpoint write time) as
// it happens, and a result at the end; the coordinator may ask a gang to stop. Gang roots post
// progress without waiting for the coordinator to take it (MPI_Isend), so training never stalls on it.
//
// Monitoring (metrics.h, docs/monitoring.md): the coordinator keeps Prometheus metrics of the run,
// from its own events and the gangs' reports (alone: the same reports, in process), and serves them
// at http://metrics_address/metrics from before the first job until the end (plus the linger). Where
// it listens is printed, written to RUN/metrics.json, and to metrics_sd_file when set; both files are
// removed when the run ends. A gang that sends nothing for heartbeat_timeout_seconds while it
// owes a word (training, or between a result and its next request; a dead node, a hung rank) gets
// its job, if any, failed with that reason and no further work; as MPI cannot tear down part of a
// job, the coordinator then ends the whole run with MPI_Abort after writing the ledger and the
// report, and `--resume` continues it.
//
// Stopping: SIGTERM or SIGUSR1 to any rank (what SLURM sends before a time limit) stops every gang at
// its next step boundary with checkpoint_latest.pt written; the ledger records the jobs preempted and
// run_sweep returns kPreempted (exit code 0, so that SLURM's --requeue reruns the same command, which
// must then carry --resume; deploy/slurm/ does).
//
// Resume (--resume): the ledger decides per job (ledger.h resume_action): completed jobs are never
// redone, interrupted ones continue from their checkpoint, failed ones are retried up to max_retries,
// new ids are new jobs. Without --resume, a run folder with a ledger is refused.
//
// Errors: a bad sweep, a locked or foreign run folder: std::runtime_error on rank 0, one line; the
// other ranks are told to quit. Job errors are not run errors: the job is failed with its reason and
// the sweep goes on ([sweep] fail_fast = true stops it instead).
#pragma once

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "ugs/worker/train.h"

namespace ugs::orchestrator {

struct RunOptions {
  std::filesystem::path sweep_file;
  std::vector<std::string> overrides;         // as `ugs plan --set`
  std::filesystem::path run_dir;              // empty: runs/<sweep name>
  bool resume = false;
  std::string code_version = "unknown";
  double heartbeat_timeout_seconds = 900;     // a gang silent this long is lost
  double status_every_seconds = 10;           // the live status line's period
  std::string metrics_address = "127.0.0.1:0";  // HOST:PORT of /metrics, port 0: any free one; "": none
  std::filesystem::path metrics_sd_file;        // a Prometheus file-SD target file to write; "": none
  double metrics_linger_seconds = 0;            // after the run: serve until a scrape, at most this long
  std::FILE* out = stdout;                    // rank 0's terminal
  // Trains one job; every rank of a gang calls it with the same configuration (the coordinator alone
  // too). A benchmark of the coordinator puts a no-op here (bench/bench_coordinator.cpp); every
  // rank must then be given the same one.
  std::function<worker::TrainResult(const worker::Config&, const worker::TrainOptions&)> train_job =
      worker::train_job;
};

enum class RunOutcome {
  kCompleted,  // every job completed
  kFailed,     // some job failed after its retries (or a gang was lost); the others ran
  kPreempted,  // stopped by a signal; --resume continues
  kLostGang,   // a gang stopped answering (its job failed, the rest ran): the caller must end with
               // MPI_Abort, as MPI_Finalize would wait for the lost ranks forever
};

// Called by every rank of MPI_COMM_WORLD (MPI initialised with at least MPI_THREAD_FUNNELED).
RunOutcome run_sweep(const RunOptions& options, const std::atomic<bool>& stop_requested);

}  // namespace ugs::orchestrator
