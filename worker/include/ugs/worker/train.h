// One training job, top to bottom: one network, one fold, one configuration, in one process.
//
//   Config config = load_config("experiments/examples/quickstart-job.toml");
//   TrainOptions options;
//   options.job_dir = "runs/quickstart/ugsnet/fold_0";
//   options.stop_requested = &stop_flag;         // set by a SIGTERM/SIGUSR1 handler
//   TrainResult result = train_job(config, options);
//   if (result.outcome == TrainOutcome::kStopped) return kExitStoppedForResume;  // run again to resume
//
// The job folder (nnU-Net's habits; docs/training.md describes every file):
//   config.toml              the resolved configuration (to_toml): what was trained, every key
//   job.json                 network, fold, state, code version, sha1 of the split file, nodule counts, times
//   training_log.jsonl       one JSON object per finished epoch: loss parts, lr, seconds, samples/s,
//                            loader wait, and validation loss and DSC when a validation split is carved
//   checkpoint_latest.pt     every [training] checkpoint_every epochs and on a stop request
//   checkpoint_final.pt      after the last epoch; the test fold is predicted with it (the final epoch,
//                            never a model picked on the test fold) ...
//   checkpoint_best.pt       ... or with this one, the epoch of the best validation Dice, when
//                            [training] model_selection = "best_validation_dsc"
//   predictions.h5           the test fold's probabilities at the store's resolution (predictions.h)
//   summary.json             the test fold scored (scoring.h); also printed as a table
//   training_curve.png       losses, learning rate and validation DSC per epoch
//
// Running again on the same folder continues it: a finished job is not trained again (its missing
// outputs are made), a stopped or crashed one resumes from checkpoint_latest.pt with bitwise the same
// state (model, optimiser, generators, data order, schedule position), so that 4 epochs in one go
// and 2 + stop + 2 give identical parameters on the CPU with [training] deterministic. A folder whose
// config.toml differs from the configuration given is refused, naming the first differing key
// (device, prefetch_batches and checkpoint_every may change between runs: they do not change results).
//
// Data parallelism (TrainOptions::collective): rank 0's parameters and buffers are broadcast at the
// start; each rank's loss is weighted by its share of the global batch, so the summed gradient is the
// global batch's; loss parts, validation pixel counts and the stop flag are summed over the gang, so
// every rank logs, validates and stops alike. After every step the ranks compare a checksum of their
// parameters and stop with an error if they differ. Only rank 0 writes files; it alone predicts and
// scores the test fold. BatchNorm statistics are per rank unless [training] batch_norm = "frozen".
//
// Errors: std::runtime_error, one line naming the file or the key: a bad store, split or checkpoint,
// a loss that is not finite ("loss is nan at epoch 3 step 7"). The folder keeps what was written.
// Thread safety: one job per process at a time (LibTorch's generators and determinism flags are global).
#pragma once

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "ugs/worker/collective.h"
#include "ugs/worker/config.h"
#include "ugs/worker/loader.h"
#include "ugs/worker/progress.h"

namespace ugs::worker {

// What TrainOptions::on_epoch_end hears when an epoch is complete: logged, validated, checkpointed.
struct EpochReport {
  int epoch = 0;                             // 0-based, the epoch that ended
  std::optional<double> validation_dsc;      // Label_1 Dice on the validation split; absent without
                                             // one, NaN when its masks and predictions are all empty
  std::optional<double> checkpoint_seconds;  // time spent writing this epoch's checkpoints (latest,
                                             // final, best); absent when none was written, and on
                                             // every rank but 0 (rank 0 alone writes)
};

struct TrainOptions {
  std::filesystem::path job_dir;                      // created if absent
  std::string code_version = "unknown";               // recorded in job.json and checkpoints
  std::FILE* progress_out = stdout;                    // nullptr: no terminal output
  bool print_scores = true;                            // the test fold's score table, on progress_out
  const std::atomic<bool>* stop_requested = nullptr;  // checked after every step
  // Callbacks for a caller that watches the job (the orchestrator's monitoring), on every rank, in
  // the training thread: keep them short, the gang waits for the slowest rank.
  std::function<void(const StepReport&)> on_step;      // after every optimiser step
  std::function<void(const EpochReport&)> on_epoch_end;  // after every complete epoch
  // The gang training this job data-parallel (nullptr: this process alone). Every rank calls
  // train_job with the same configuration and folder; each trains on its slice of every global
  // batch (loader.h), gradients are summed over the gang, and only rank 0 writes the folder.
  Collective* collective = nullptr;
};

enum class TrainOutcome {
  kCompleted,  // every epoch trained, test fold predicted and scored
  kStopped,    // stop requested: checkpoint_latest.pt written, run again to resume
};

struct TrainResult {
  TrainOutcome outcome = TrainOutcome::kCompleted;
  LoaderPosition next;               // where training stopped (epochs, 0 when complete)
  bool resumed = false;              // started from checkpoint_latest.pt
  std::filesystem::path summary;     // summary.json, empty when the job has no test fold
};

TrainResult train_job(const Config& config, const TrainOptions& options);

}  // namespace ugs::worker
