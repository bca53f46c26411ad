// The learning rate at every point of a run: constant, or cosine annealing with warm restarts (SGDR,
// Loshchilov & Hutter, ICLR 2017), the schedule of both UGS-Net recipes.
//
//   LrSchedule schedule(config.schedule, config.optimizer.lr, loader.steps_per_epoch());
//   double lr = schedule.at(epoch, step);   // set on the optimiser before the step
//
// Closed form (PyTorch's CosineAnnealingWarmRestarts): cycle i lasts T_i = T0 * Tmult^i epochs;
// at T_cur epochs into it, lr = eta_min + (eta_max - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2, with
// eta_max = [optimizer] lr. So every cycle starts at eta_max, and the paper's "restart every 50
// epochs" is T0 = 50, Tmult = 1. With update = epoch, T_cur counts whole epochs (the published code);
// with update = step, T_cur = epoch + step / steps_per_epoch. Cycle boundaries are found in integer
// units, so a restart falls exactly on its epoch (no log() rounding).
//
// Thread safety: immutable after construction.
#pragma once

#include <cstdint>

#include "ugs/worker/config.h"

namespace ugs::worker {

class LrSchedule {
 public:
  // Throws std::invalid_argument for steps_per_epoch < 1, or a cosine schedule with t0 or t_mult < 1.
  LrSchedule(const ScheduleConfig& schedule, double base_lr, int steps_per_epoch);

  // The learning rate for step `step` (0-based, within the epoch) of epoch `epoch` (0-based).
  double at(int epoch, int step = 0) const;

 private:
  ScheduleConfig schedule_;
  double base_lr_;
  std::int64_t steps_per_epoch_;
};

}  // namespace ugs::worker
