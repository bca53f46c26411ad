// Progress output: a redrawn bar on a terminal, plain throttled lines in a pipe, rates and ETA from a
// clock the test controls.
#include "ugs/worker/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

namespace ugs::worker {
namespace {

// A FILE* whose contents the test can read back.
class Capture {
 public:
  Capture() : file_(std::tmpfile()) {}
  ~Capture() { std::fclose(file_); }
  std::FILE* file() const { return file_; }
  std::string text() const {
    std::fflush(file_);
    std::string text;
    std::rewind(file_);
    for (int c; (c = std::fgetc(file_)) != EOF;) text += static_cast<char>(c);
    return text;
  }

 private:
  std::FILE* file_;
};

Progress::Options options(bool tty, double& now) {
  Progress::Options o;
  o.epochs = 2;
  o.steps_per_epoch = 4;
  o.tty = tty;
  o.clock = [&now] { return now; };
  return o;
}

TEST(Progress, PlainLinesWhenPiped) {
  Capture out;
  double now = 0;
  Progress progress(out.file(), options(false, now));
  for (int step = 0; step < 4; ++step) {
    now += 5;  // 5 s a step of 32 samples: 6.4 samples/s
    progress.step({0, step, {{"loss", 0.5}, {"mcm", 0.25}}, 1e-5, 32});
  }
  progress.epoch_end(0, {{"loss", 0.45}});
  // Lines at most every 10 s: steps 1 (first), 3 (10 s later); then the epoch line.
  EXPECT_EQ(out.text(),
            "epoch 1/2 step 1/4 | loss 0.5 mcm 0.25 | lr 1e-05 | 6 samples/s | ETA 35s\n"
            "epoch 1/2 step 3/4 | loss 0.5 mcm 0.25 | lr 1e-05 | 6 samples/s | ETA 25s\n"
            "epoch 1/2 done in 20s | loss 0.45\n");
}

TEST(Progress, RedrawnBarOnATerminal) {
  Capture out;
  double now = 100;
  Progress progress(out.file(), options(true, now));
  now += 2;
  progress.step({1, 0, {{"loss", 0.125}}, 2.5e-4, 8});
  now += 2;
  progress.step({1, 1, {{"loss", 0.0625}}, 2.5e-4, 8});
  now += 4000;
  progress.epoch_end(1, {});
  const std::string text = out.text();
  EXPECT_EQ(text,
            "\repoch 2/2 [#####---------------]  25% step 1/4 | loss 0.125 | lr 0.00025 | 4 samples/s | ETA 6s\033[K"
            "\repoch 2/2 [##########----------]  50% step 2/4 | loss 0.0625 | lr 0.00025 | 4 samples/s | ETA 4s\033[K"
            "\n\repoch 2/2 done in 1h06m\033[K\n");
}

TEST(Progress, Durations) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(59.4), "59s");
  EXPECT_EQ(format_duration(245), "4m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
  EXPECT_EQ(format_duration(-1), "?");
}

}  // namespace
}  // namespace ugs::worker
