// The coordinator's overhead: `ugs run`'s machinery (MPI messages, scheduling, ledger appends with
// their fdatasync, status) around training jobs that do nothing. Every rank runs run_sweep() as
// `ugs run` does, with RunOptions::train_job replaced by a no-op, on a sweep of --jobs jobs (one
// network, fold 0, seeds 0..N-1). Each no-op notes the time since the previous job on its rank
// returned: the dispatch latency (its result message, its ready message, the coordinator's
// scheduling and ledger appends, the job message). Rank 0 gathers them and prints the figures.
//
//   mpirun -np 4 build/bench/bench_coordinator [--jobs 10000] [--work DIR] [--keep]
//
// --work: the folder the sweep and the run folder go to (default: a new one under the system's
// temporary folder); the ledger's fdatasyncs cost what that file system makes them cost, so compare
// a disk with /dev/shm. The store and split file the sweep names are never opened. The coordinator's
// output goes to WORK/coordinator.log, as a batch job's would go to a file.
#include <mpi.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ugs/orchestrator/run.h"

namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

constexpr int kDefaultJobs = 10000;

struct Arguments {
  int jobs = kDefaultJobs;
  fs::path work;  // empty: a new temporary folder
  bool keep = false;
};

Arguments parse_arguments(int argc, char** argv) {
  Arguments arguments;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--keep") {
      arguments.keep = true;
    } else if ((flag == "--jobs" || flag == "--work") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (flag == "--jobs") arguments.jobs = std::stoi(value);
      if (flag == "--work") arguments.work = value;
    } else {
      throw std::invalid_argument("usage: bench_coordinator [--jobs N] [--work DIR] [--keep]; unknown '" + flag + "'");
    }
  }
  if (arguments.jobs < 1) throw std::invalid_argument("--jobs must be at least 1");
  return arguments;
}

// The sweep: N jobs that differ only in their seed. The paths it names need not exist.
void write_sweep(const fs::path& file, int jobs) {
  std::ofstream out(file);
  out << "[sweep]\nname = \"coordbench\"\nfolds = [0]\nseeds = [";
  for (int seed = 0; seed < jobs; ++seed) out << (seed ? ", " : "") << seed;
  out << "]\n[defaults.data]\nstore = \"never-opened\"\nsplit = \"never-opened/splits.json\"\n"
      << "[experiments.noop]\nnetworks = [\"unet\"]\n";
  if (!out) throw std::runtime_error(file.string() + ": cannot write the sweep");
}

// A path of rank 0 on every rank.
fs::path broadcast_path(const fs::path& path) {
  std::string text = path.string();
  int size = static_cast<int>(text.size());
  MPI_Bcast(&size, 1, MPI_INT, 0, MPI_COMM_WORLD);
  text.resize(static_cast<std::size_t>(size));
  MPI_Bcast(text.data(), size, MPI_CHAR, 0, MPI_COMM_WORLD);
  return text;
}

double seconds_since_epoch(SteadyClock::time_point time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

// What one rank's no-op jobs saw.
struct RankRecord {
  std::vector<double> latencies;  // seconds from the previous job's return to this job's start
  std::optional<SteadyClock::time_point> first_start, last_return;
  long jobs = 0;
};

// All ranks' latencies on rank 0 (empty elsewhere).
std::vector<double> gather_latencies(const std::vector<double>& mine, int ranks) {
  const int count = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<std::size_t>(ranks)), offsets(static_cast<std::size_t>(ranks));
  MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < ranks; ++r) {
    offsets[r] = total;
    total += counts[r];
  }
  std::vector<double> all(static_cast<std::size_t>(total));
  MPI_Gatherv(mine.data(), count, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE, 0,
              MPI_COMM_WORLD);
  return all;
}

double quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  const auto at = values.begin() + static_cast<std::ptrdiff_t>(q * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), at, values.end());
  return *at;
}

int run(int argc, char** argv) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const Arguments arguments = parse_arguments(argc, argv);

  fs::path work;
  if (rank == 0) {
    if (arguments.work.empty()) {
      std::string pattern = (fs::temp_directory_path() / "ugs-coordbench-XXXXXX").string();
      if (!mkdtemp(pattern.data())) throw std::runtime_error(pattern + ": cannot make the work folder");
      work = pattern;
    } else {
      work = fs::absolute(arguments.work);
      fs::create_directories(work);
    }
    fs::remove_all(work / "run");  // a ledger from an earlier run would be refused
    write_sweep(work / "coordbench.toml", arguments.jobs);
  }
  work = broadcast_path(work);

  RankRecord record;
  ugs::orchestrator::RunOptions options;
  options.sweep_file = work / "coordbench.toml";
  options.run_dir = work / "run";
  options.heartbeat_timeout_seconds = 600;
  options.train_job = [&record](const ugs::worker::Config&, const ugs::worker::TrainOptions&) {
    const auto start = SteadyClock::now();
    if (record.last_return) {
      record.latencies.push_back(std::chrono::duration<double>(start - *record.last_return).count());
    }
    if (!record.first_start) record.first_start = start;
    ++record.jobs;
    record.last_return = SteadyClock::now();
    return ugs::worker::TrainResult{};
  };
  std::FILE* log = nullptr;
  if (rank == 0) {
    log = std::fopen((work / "coordinator.log").c_str(), "w");
    if (!log) throw std::runtime_error((work / "coordinator.log").string() + ": cannot write");
  }
  options.out = log;

  const std::atomic<bool> never_stop{false};
  MPI_Barrier(MPI_COMM_WORLD);
  const auto started = SteadyClock::now();
  const auto outcome = ugs::orchestrator::run_sweep(options, never_stop);
  const auto ended = SteadyClock::now();
  if (log) std::fclose(log);

  // The busy window, from the first job's start to the last job's return on any rank (one host: the
  // steady clocks of its processes agree).
  double window[2] = {record.first_start ? -seconds_since_epoch(*record.first_start) : -1e300,
                      record.last_return ? seconds_since_epoch(*record.last_return) : -1e300};
  double extremes[2] = {0, 0};
  MPI_Reduce(window, extremes, 2, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  long jobs = 0;
  MPI_Reduce(&record.jobs, &jobs, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  const std::vector<double> latencies = gather_latencies(record.latencies, ranks);
  if (rank != 0) return 0;

  const double first_start = -extremes[0], last_return = extremes[1];
  const double total = std::chrono::duration<double>(ended - started).count();
  const double busy = last_return - first_start;
  const std::string gangs = ranks == 1 ? "the coordinator alone" : std::to_string(ranks - 1) + " gang(s) of 1";
  std::printf("coordinator overhead: %ld no-op jobs, %d rank(s): %s; work folder %s\n", jobs, ranks, gangs.c_str(),
              work.c_str());
  std::printf("  outcome                  %s\n",
              outcome == ugs::orchestrator::RunOutcome::kCompleted ? "completed" : "NOT completed");
  std::printf("  run_sweep wall           %.2f s\n", total);
  std::printf("    before the first job   %.2f s (sweep expansion, plan.json, registering the jobs)\n",
              first_start - seconds_since_epoch(started));
  std::printf("    first to last job      %.2f s\n", busy);
  std::printf("    after the last job     %.2f s (run_finished, report)\n", seconds_since_epoch(ended) - last_return);
  std::printf("  jobs/s, whole run        %.1f\n", static_cast<double>(jobs) / total);
  std::printf("  jobs/s, dispatch         %.1f\n", static_cast<double>(jobs) / busy);
  std::printf("  dispatch latency (%zu)  median %.3f ms, p95 %.3f ms, max %.3f ms\n", latencies.size(),
              1e3 * quantile(latencies, 0.5), 1e3 * quantile(latencies, 0.95), 1e3 * quantile(latencies, 1.0));
  std::fflush(stdout);
  if (!arguments.keep && arguments.work.empty()) fs::remove_all(work);
  return outcome == ugs::orchestrator::RunOutcome::kCompleted ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int code = 1;
  try {
    code = run(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_coordinator: %s\n", error.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return code;
}
