// bench_metrics: what the coordinator's metrics cost it, for the paper's sweep (66 jobs) with every
// training job's series present (the largest /metrics a sweep serves): one gang's progress report of
// 20 steps taken in, one epoch end, and one scrape's collection and text serialisation (what the
// exporter's thread does per scrape), with the scrape's size.
//
//   build/bench/bench_metrics [SWEEP]        (default: experiments/paper.toml; no data needed)
#include <chrono>
#include <cstdio>
#include <string>

#include "ugs/orchestrator/metrics.h"
#include "ugs/orchestrator/sweep.h"

namespace {

using namespace ugs;
using Clock = std::chrono::steady_clock;

constexpr int kStepsPerReport = 20;  // a 50 ms step reported once a second
constexpr int kReports = 20000;
constexpr int kScrapes = 200;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

orchestrator::ProgressReport report_of(int epoch) {
  orchestrator::ProgressReport report;
  for (int step = 0; step < kStepsPerReport; ++step) {
    worker::StepReport s{epoch, step, {{"loss", 0.4}, {"l_mcm", 0.2}, {"phi_a", 0.1}, {"phi_b", 0.1}}, 1e-4, 32};
    s.seconds = 0.05 + 0.001 * step;
    s.allreduce_seconds = 0.004;
    s.loader_wait_seconds = 0.0001;
    report.add(s);
  }
  return report;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string sweep_file = argc > 1 ? argv[1] : "experiments/paper.toml";
  const orchestrator::Sweep sweep = orchestrator::load_sweep(sweep_file);
  orchestrator::RunMetrics metrics(sweep.settings.name, "bench");
  std::vector<const orchestrator::Job*> training;
  for (const orchestrator::Job& job : sweep.jobs) {
    metrics.add_job(job, orchestrator::JobState::kPending);
    if (job.kind == orchestrator::JobKind::kTraining) training.push_back(&job);
  }
  const orchestrator::ProgressReport report = report_of(3);
  for (const orchestrator::Job* job : training) {
    metrics.job_state(*job, orchestrator::JobState::kRunning);
    metrics.job_progress(*job, report);
    metrics.job_epoch_end(*job, {3, 0.8, 0.5}, 1.7e9);
    metrics.gang_heard(0, 1);
  }

  auto start = Clock::now();
  for (int i = 0; i < kReports; ++i) metrics.job_progress(*training[i % training.size()], report);
  const double per_report = seconds_since(start) / kReports;
  start = Clock::now();
  for (int i = 0; i < kReports; ++i) {
    metrics.job_epoch_end(*training[i % training.size()], {3, 0.8, 0.5}, 1.7e9);
  }
  const double per_epoch_end = seconds_since(start) / kReports;
  std::string text;
  start = Clock::now();
  for (int i = 0; i < kScrapes; ++i) text = metrics.text();
  const double per_scrape = seconds_since(start) / kScrapes;
  std::size_t series = 0;  // lines that are not # HELP or # TYPE
  for (std::size_t line = 0; line < text.size();) {
    if (text[line] != '#') ++series;
    const std::size_t end = text.find('\n', line);
    line = end == std::string::npos ? text.size() : end + 1;
  }

  std::printf("sweep %s: %zu jobs, %zu training jobs, every training job running with its series\n",
              sweep.settings.name.c_str(), sweep.jobs.size(), training.size());
  std::printf("progress report of %d steps taken in: %.2f us (%.3f us per step)\n", kStepsPerReport,
              per_report * 1e6, per_report * 1e6 / kStepsPerReport);
  std::printf("epoch end taken in: %.2f us\n", per_epoch_end * 1e6);
  std::printf("one scrape collected and serialised: %.2f ms, %zu bytes, %zu series\n", per_scrape * 1e3, text.size(),
              series);
  return 0;
}
