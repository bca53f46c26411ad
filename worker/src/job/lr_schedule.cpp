#include "ugs/worker/lr_schedule.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace ugs::worker {
namespace {

constexpr double kPi = 3.14159265358979323846;

}  // namespace

LrSchedule::LrSchedule(const ScheduleConfig& schedule, double base_lr, int steps_per_epoch)
    : schedule_(schedule), base_lr_(base_lr), steps_per_epoch_(steps_per_epoch) {
  if (steps_per_epoch < 1) {
    throw std::invalid_argument("LrSchedule: steps_per_epoch must be >= 1, got " + std::to_string(steps_per_epoch));
  }
  // A cycle of length 0, or cycles that never grow past one, would never reach `now` in at().
  if (schedule.kind != ScheduleKind::kConstant && (schedule.t0 < 1 || schedule.t_mult < 1)) {
    throw std::invalid_argument("LrSchedule: cosine warm restarts need t0 >= 1 and t_mult >= 1, got t0 = " +
                                std::to_string(schedule.t0) + ", t_mult = " + std::to_string(schedule.t_mult));
  }
}

double LrSchedule::at(int epoch, int step) const {
  if (schedule_.kind == ScheduleKind::kConstant) return base_lr_;
  // Time since the start of the run, in the schedule's unit (epochs or steps).
  const std::int64_t unit = schedule_.update == ScheduleUpdate::kStep ? steps_per_epoch_ : 1;
  const std::int64_t now = schedule_.update == ScheduleUpdate::kStep ? epoch * steps_per_epoch_ + step : epoch;
  std::int64_t cycle_start = 0;
  std::int64_t cycle_length = schedule_.t0 * unit;
  while (now >= cycle_start + cycle_length) {
    cycle_start += cycle_length;
    cycle_length *= schedule_.t_mult;
  }
  const double progress = static_cast<double>(now - cycle_start) / static_cast<double>(cycle_length);
  return schedule_.eta_min + (base_lr_ - schedule_.eta_min) * (1.0 + std::cos(kPi * progress)) / 2.0;
}

}  // namespace ugs::worker
