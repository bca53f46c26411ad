// The training-curve picture of a job (like nnU-Net's progress.png), from its per-epoch log.
//
//   plot_training_curve("runs/unet/fold_0/training_log.jsonl",
//                       "runs/unet/fold_0/training_curve.png");
//
// The log is JSON lines, one object per epoch, as `ugs train` writes it:
//   {"epoch":1,"lr":1e-5,"seconds":12.3,"samples_per_second":210,
//    "loss":{"total":0.61,"l_mcm":0.3,"phi_a":0.2,"phi_b":0.1},
//    "validation":{"loss":0.5,"dsc":0.71}}
// "epoch" (an integer >= 0) and "loss" (an object of numbers; which parts depends on the network)
// are required; "lr", "seconds", "samples_per_second" and "validation" are optional; other keys are
// ignored, so the log may grow. A number may be null (a NaN the writer could not spell in JSON).
// Blank lines are skipped. When an epoch appears twice (a run resumed from a checkpoint older than
// its last logged epoch repeats the epochs after the checkpoint) the later line wins.
//
// The picture stacks, each against the epoch: the loss parts and the validation loss (log scale),
// the validation scores when any epoch has one besides the loss (DSC), the learning rate, and the
// seconds per epoch when logged.
//
// Errors: std::runtime_error with one line: the log missing or unreadable, or a malformed line,
// named as file:line ("training_log.jsonl:7: \"loss\" must be an object of numbers"); an empty log;
// and what plot::write_png throws (gnuplot missing or failing).
// Thread safety: the functions keep no state.
#pragma once

#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace ugs::plot {

// One line of the log. Absent optional numbers are NaN.
struct EpochRecord {
  int epoch = 0;
  double lr = std::numeric_limits<double>::quiet_NaN();
  double seconds = std::numeric_limits<double>::quiet_NaN();
  double samples_per_second = std::numeric_limits<double>::quiet_NaN();
  std::map<std::string, double> loss;        // part -> value, e.g. "total", "phi_b"
  std::map<std::string, double> validation;  // e.g. "loss", "dsc"; empty without validation
};

// Reads and checks the log; the records sorted by epoch, one per epoch (the last line of each).
std::vector<EpochRecord> read_training_log(const std::filesystem::path& training_log_jsonl);

// Reads the log and draws its picture to `out_png` (atomically).
void plot_training_curve(const std::filesystem::path& training_log_jsonl,
                         const std::filesystem::path& out_png);

}  // namespace ugs::plot
