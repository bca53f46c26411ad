// Terminal progress of a training run: epoch, step, loss parts, learning rate, samples/s and ETA.
//
//   Progress progress(stdout, {config.training.epochs, loader.steps_per_epoch(), loader.position()});
//   progress.step({epoch, step, {{"loss", 0.412}, {"mcm", 0.201}}, lr, batch.global_size});
//   progress.epoch_end(epoch, {{"loss", 0.398}, {"loader wait s", 0.02}});
//
// On a terminal (isatty) one line is redrawn in place with '\r', at most every redraw_seconds:
//   epoch 3/200 [#######-------------]  36% step 21/58 | loss 0.4121 mcm 0.2011 | lr 9.94e-06 | 212 samples/s | ETA 1h02m
// and each epoch ends with a plain line that stays. Piped into a file or a log collector there are
// no control characters: a plain line at most every line_seconds, and one at each epoch's end.
// Epochs and steps print 1-based. samples/s counts the current epoch; ETA spreads the time of every
// step (and whatever ran between them, e.g. validation) since this Progress began over the steps
// left, so a resumed run estimates from its own speed.
//
// Thread safety: one thread uses a Progress.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ugs/worker/loader.h"

namespace ugs::worker {

// Named values in print order, e.g. {{"loss", 0.41}, {"mcm", 0.20}}.
using NamedValues = std::vector<std::pair<std::string, double>>;

struct StepReport {
  int epoch = 0;        // 0-based
  int step = 0;         // 0-based, within the epoch
  NamedValues losses;   // the loss and its parts
  double lr = 0;
  int samples = 0;      // samples in the step, over all ranks
  // Where this rank's time went, in seconds of its steady clock (host time: a GPU step is timed up
  // to the loss read-back that ends it):
  double seconds = 0;              // the whole step, from asking for the batch to the updated model
  double allreduce_seconds = 0;    // of which summing the gradients over the gang (0 alone)
  double loader_wait_seconds = 0;  // of which waiting for the batch (the loader was behind)
};

class Progress {
 public:
  struct Options {
    int epochs = 1;
    int steps_per_epoch = 1;
    LoaderPosition start;             // where the run begins (resumed runs start later)
    std::optional<bool> tty;          // default: isatty(out)
    double redraw_seconds = 0.1;      // terminal: the least time between redraws
    double line_seconds = 10.0;       // piped: the least time between step lines
    std::function<double()> clock;    // seconds; default: a steady clock (tests pass their own)
  };

  Progress(std::FILE* out, Options options);

  void step(const StepReport& report);
  void epoch_end(int epoch, const NamedValues& values);

 private:
  std::string describe(const StepReport& report) const;
  void emit(const std::string& line, bool in_place);

  std::FILE* out_;
  Options options_;
  bool tty_;
  double run_start_ = 0;
  double epoch_start_ = 0;
  double last_print_ = -1e300;
  long long steps_done_ = 0;
  long long epoch_samples_ = 0;
  bool bar_shown_ = false;
};

// "1h02m", "4m05s", "12s": a duration for people.
std::string format_duration(double seconds);

}  // namespace ugs::worker
