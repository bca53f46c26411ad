#include "ugs/worker/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

namespace ugs::worker {
namespace {

// Characters of the bar between the brackets.
constexpr int kBarWidth = 20;

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string join(const NamedValues& values) {
  std::string text;
  for (const auto& [name, value] : values) {
    text += (text.empty() ? "" : " ") + name + " " + format("%.4g", value);
  }
  return text;
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = std::llround(seconds);
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%lldh%02lldm", s / 3600, s % 3600 / 60);
  } else if (s >= 60) {
    std::snprintf(text, sizeof text, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(text, sizeof text, "%llds", s);
  }
  return text;
}

Progress::Progress(std::FILE* out, Options options) : out_(out), options_(std::move(options)) {
  if (!options_.clock) options_.clock = steady_seconds;
  tty_ = options_.tty.value_or(isatty(fileno(out_)) == 1);
  run_start_ = epoch_start_ = options_.clock();
}

std::string Progress::describe(const StepReport& report) const {
  const double now = options_.clock();
  const long long total_steps = static_cast<long long>(options_.epochs) * options_.steps_per_epoch;
  const long long done_in_run = static_cast<long long>(report.epoch) * options_.steps_per_epoch + report.step + 1;
  const double per_step = (now - run_start_) / static_cast<double>(std::max(1LL, steps_done_));
  const double epoch_seconds = now - epoch_start_;

  std::string line = "epoch " + std::to_string(report.epoch + 1) + "/" + std::to_string(options_.epochs);
  if (tty_) {
    const double fraction = static_cast<double>(report.step + 1) / options_.steps_per_epoch;
    const int filled = static_cast<int>(fraction * kBarWidth);
    line += " [" + std::string(filled, '#') + std::string(kBarWidth - filled, '-') + "] " +
            format("%3.0f%%", 100 * fraction);
  }
  line += " step " + std::to_string(report.step + 1) + "/" + std::to_string(options_.steps_per_epoch);
  if (!report.losses.empty()) line += " | " + join(report.losses);
  line += " | lr " + format("%.3g", report.lr);
  line += " | " + (epoch_seconds > 0 ? format("%.0f", epoch_samples_ / epoch_seconds) : std::string("?")) +
          " samples/s";
  line += " | ETA " + format_duration(per_step * static_cast<double>(total_steps - done_in_run));
  return line;
}

void Progress::emit(const std::string& line, bool in_place) {
  if (tty_) {
    // \033[K clears what a longer previous line left to the right.
    std::fprintf(out_, "\r%s\033[K%s", line.c_str(), in_place ? "" : "\n");
    bar_shown_ = in_place;
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
  last_print_ = options_.clock();
}

void Progress::step(const StepReport& report) {
  ++steps_done_;
  epoch_samples_ += report.samples;
  const double now = options_.clock();
  const bool last_of_epoch = report.step + 1 == options_.steps_per_epoch;
  const double interval = tty_ ? options_.redraw_seconds : options_.line_seconds;
  if (now - last_print_ >= interval || (tty_ && last_of_epoch)) emit(describe(report), /*in_place=*/true);
}

void Progress::epoch_end(int epoch, const NamedValues& values) {
  const double now = options_.clock();
  std::string line = "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options_.epochs) + " done in " +
                     format_duration(now - epoch_start_);
  if (!values.empty()) line += " | " + join(values);
  if (tty_ && bar_shown_) std::fputc('\n', out_);  // keep the bar's last state above the summary
  emit(line, /*in_place=*/false);
  epoch_start_ = now;
  epoch_samples_ = 0;
}

}  // namespace ugs::worker
