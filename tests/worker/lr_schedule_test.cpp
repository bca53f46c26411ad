// The learning-rate schedule against its closed form at and around every cycle boundary of both
// recipes, and against the published code's own formula (trainner.py, adjust_lr) epoch by epoch.
#include "ugs/worker/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace ugs::worker {
namespace {

constexpr double kPi = 3.14159265358979323846;

// eta_min + (eta_max - eta_min) * (1 + cos(pi * t / T)) / 2
double cosine(double eta_min, double eta_max, double t, double period) {
  return eta_min + (eta_max - eta_min) * (1 + std::cos(kPi * t / period)) / 2;
}

ScheduleConfig restarts(int t0, int t_mult, double eta_min = 0, ScheduleUpdate update = ScheduleUpdate::kEpoch) {
  ScheduleConfig schedule;
  schedule.t0 = t0;
  schedule.t_mult = t_mult;
  schedule.eta_min = eta_min;
  schedule.update = update;
  return schedule;
}

TEST(LrSchedule, PaperRestartsEvery50Epochs) {
  const LrSchedule schedule(restarts(50, 1), 1e-5, 58);
  for (int cycle = 0; cycle < 4; ++cycle) {
    const int start = 50 * cycle;
    EXPECT_DOUBLE_EQ(schedule.at(start), 1e-5) << "restart at epoch " << start;
    EXPECT_NEAR(schedule.at(start + 25), 0.5e-5, 1e-20);
    EXPECT_DOUBLE_EQ(schedule.at(start + 49), cosine(0, 1e-5, 49, 50));
    EXPECT_DOUBLE_EQ(schedule.at(start + 10, 57), cosine(0, 1e-5, 10, 50));  // constant within an epoch
  }
}

TEST(LrSchedule, PublishedDoublesEachCycle) {
  const LrSchedule schedule(restarts(50, 2), 1e-4, 10);
  EXPECT_DOUBLE_EQ(schedule.at(0), 1e-4);
  EXPECT_DOUBLE_EQ(schedule.at(49), cosine(0, 1e-4, 49, 50));
  EXPECT_DOUBLE_EQ(schedule.at(50), 1e-4);  // second cycle: 100 epochs
  EXPECT_NEAR(schedule.at(100), 0.5e-4, 1e-19);
  EXPECT_DOUBLE_EQ(schedule.at(149), cosine(0, 1e-4, 99, 100));
  EXPECT_DOUBLE_EQ(schedule.at(150), 1e-4);  // third cycle: 200 epochs
  EXPECT_DOUBLE_EQ(schedule.at(349), cosine(0, 1e-4, 199, 200));
  EXPECT_DOUBLE_EQ(schedule.at(350), 1e-4);

  // The published code: i = int(log2(epoch / T + 1)), T_cur = epoch - T (2^i - 1), T_i = T 2^i.
  for (int epoch = 0; epoch < 150; ++epoch) {
    const int i = static_cast<int>(std::log2(epoch / 50.0 + 1));
    const double t_cur = epoch - 50 * (std::pow(2, i) - 1), t_i = 50 * std::pow(2, i);
    EXPECT_NEAR(schedule.at(epoch), cosine(0, 1e-4, t_cur, t_i), 1e-18) << "epoch " << epoch;
  }
}

TEST(LrSchedule, StepUpdatesUseFractionalEpochs) {
  const LrSchedule schedule(restarts(2, 2, 1e-6, ScheduleUpdate::kStep), 1e-3, 4);
  EXPECT_DOUBLE_EQ(schedule.at(0, 0), 1e-3);
  EXPECT_DOUBLE_EQ(schedule.at(0, 1), cosine(1e-6, 1e-3, 0.25, 2));
  EXPECT_DOUBLE_EQ(schedule.at(1, 0), cosine(1e-6, 1e-3, 1, 2));
  EXPECT_DOUBLE_EQ(schedule.at(1, 3), cosine(1e-6, 1e-3, 1.75, 2));
  EXPECT_DOUBLE_EQ(schedule.at(2, 0), 1e-3);  // restart, next cycle 4 epochs
  EXPECT_DOUBLE_EQ(schedule.at(4, 0), cosine(1e-6, 1e-3, 2, 4));
  EXPECT_DOUBLE_EQ(schedule.at(5, 3), cosine(1e-6, 1e-3, 3.75, 4));
  EXPECT_DOUBLE_EQ(schedule.at(6, 0), 1e-3);
}

TEST(LrSchedule, EtaMinIsTheFloorOfEachCycle) {
  const LrSchedule schedule(restarts(10, 1, 2e-6), 1e-5, 1);
  EXPECT_DOUBLE_EQ(schedule.at(5), (2e-6 + 1e-5) / 2);
  EXPECT_GT(schedule.at(9), 2e-6);
  EXPECT_DOUBLE_EQ(schedule.at(10), 1e-5);
}

TEST(LrSchedule, ConstantAndBadArguments) {
  ScheduleConfig constant;
  constant.kind = ScheduleKind::kConstant;
  const LrSchedule schedule(constant, 3e-4, 5);
  EXPECT_DOUBLE_EQ(schedule.at(0), 3e-4);
  EXPECT_DOUBLE_EQ(schedule.at(173, 4), 3e-4);
  EXPECT_THROW(LrSchedule(constant, 3e-4, 0), std::invalid_argument);
}

TEST(LrSchedule, RefusesCyclesThatNeverEnd) {
  ScheduleConfig zero_length;
  zero_length.t0 = 0;
  EXPECT_THROW(LrSchedule(zero_length, 1e-4, 5), std::invalid_argument);
  ScheduleConfig shrinking;
  shrinking.t_mult = 0;
  EXPECT_THROW(LrSchedule(shrinking, 1e-4, 5), std::invalid_argument);
}

}  // namespace
}  // namespace ugs::worker
