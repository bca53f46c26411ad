// `ugs run`: a whole sweep under mpirun / srun or alone (orchestrator/include/ugs/orchestrator/run.h).
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "code_version.h"
#include "commands.h"
#include "stop_signals.h"
#include "mpi_session.h"
#include "ugs/orchestrator/run.h"

namespace ugs::cli {

namespace {

struct RunArguments {
  std::string sweep;
  std::string out;
  bool resume = false;
  std::vector<std::string> overrides;
  double heartbeat_timeout = 900;
  double status_every = 10;
  std::string metrics_address = "127.0.0.1:0";
  bool no_metrics = false;
  std::string metrics_sd_file;
  double metrics_linger = 0;
};

// Without --metrics-linger: a run that publishes a target file is scraped by a Prometheus, which
// should get the final numbers; one that does not is watched by nobody, and ends at once.
constexpr double kLingerWithTargetFile = 60;

}  // namespace

void add_run_command(CLI::App& app) {
  auto arguments = std::make_shared<RunArguments>();
  CLI::App* command = add_command(
      app, "run", "Run a sweep: every job of every experiment, on one process or many (MPI)",
      "Expands SWEEP (docs/sweeps.md; `ugs plan SWEEP` shows the jobs without running them) and runs\n"
      "its jobs. Under mpirun or srun, rank 0 coordinates and the other ranks form gangs of [sweep]\n"
      "ranks_per_job ranks that train one job each, data-parallel; alone, this process runs every job\n"
      "itself. Same jobs, same folders, same results either way.\n"
      "\n"
      "The run folder (default runs/<sweep name>) holds plan.json, the ledger (ledger.jsonl: every\n"
      "job's state, written before anything else happens, so a crash loses nothing it recorded) and\n"
      "one folder per job (jobs/<network>-<config id>/fold_<k>, as `ugs train` writes it).\n"
      "\n"
      "SIGTERM or SIGUSR1 to any rank (SLURM sends one before a time limit) makes every gang\n"
      "checkpoint at its next step; the ledger marks the jobs preempted and ugs exits 0, so that a\n"
      "requeued job can continue with --resume. --resume never redoes a completed job, continues\n"
      "interrupted ones from their checkpoints and retries failed ones up to [sweep] max_retries.\n"
      "Exit codes: 0 done or preempted, 1 some job failed or an error, 2 bad arguments.\n"
      "\n"
      "Monitoring (docs/monitoring.md): the coordinator serves Prometheus metrics of the run (jobs by\n"
      "state, each job's epoch, loss parts, learning rate, samples/s, step and all-reduce times,\n"
      "checkpoints, validation and test scores; the gangs' numbers reach it over MPI) at\n"
      "http://HOST:PORT/metrics, by default on 127.0.0.1 only and on a free port chosen at start, as\n"
      "two runs on one machine must not collide. It prints the address (\"metrics: http://...\") and\n"
      "writes it to RUN/metrics.json (url, address, pid); `curl -s` of that URL shows the numbers. For a\n"
      "site Prometheus, --metrics-address 0.0.0.0:0 (or a fixed port) and --metrics-sd-file\n"
      "DIR/NAME.json, a file-service-discovery target file in the folder that Prometheus watches\n"
      "(deploy/prometheus/prometheus.yml); both files are removed when the run ends.\n"
      "\n"
      "Examples:\n"
      "  ugs run experiments/quickstart.toml\n"
      "  mpirun -np 5 ugs run experiments/paper.toml --out runs/paper --resume\n"
      "  ugs run experiments/paper.toml --metrics-address 0.0.0.0:0 \\\n"
      "      --metrics-sd-file /srv/ugs/prometheus-targets/paper.json");
  command->add_option("sweep", arguments->sweep, "The sweep's TOML file (required)")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--out", arguments->out, "The run folder (default: runs/<[sweep] name>)");
  command->add_flag("--resume", arguments->resume,
                    "Continue the run folder's ledger (default: refuse a folder that has one)");
  command->add_option("--set", arguments->overrides,
                      "Override a key: sweep.KEY=VALUE for [sweep], section.key=value for every training "
                      "job (repeatable)");
  command->add_option("--heartbeat-timeout", arguments->heartbeat_timeout,
                      "Seconds without a word from a gang that is not waiting for work before it is declared lost "
                      "(default 900)");
  command->add_option("--status-every", arguments->status_every,
                      "Seconds between status lines on the coordinator (default 10)");
  CLI::Option* no_metrics =
      command->add_flag("--no-metrics", arguments->no_metrics, "Serve no metrics (default: serve them)");
  command
      ->add_option("--metrics-address", arguments->metrics_address,
                   "HOST:PORT where the coordinator serves /metrics; HOST an IP address (0.0.0.0: every "
                   "interface), PORT 0 for any free port (default 127.0.0.1:0: this machine only)")
      ->excludes(no_metrics);
  command
      ->add_option("--metrics-sd-file", arguments->metrics_sd_file,
                   "Write a Prometheus file-SD target file here (JSON: the coordinator's address, "
                   "labelled with the sweep), atomically, and remove it at the end (default: none)")
      ->excludes(no_metrics);
  CLI::Option* linger =
      command
          ->add_option("--metrics-linger", arguments->metrics_linger,
                       "After the sweep, keep serving until the next scrape has taken the final numbers, "
                       "at most SECONDS (default: 60 with --metrics-sd-file, else 0)")
          ->check(CLI::NonNegativeNumber)
          ->excludes(no_metrics);
  command->callback([arguments, linger] {
    MpiSession mpi;
    const std::atomic<bool>& stop_requested = install_stop_handlers();
    orchestrator::RunOptions options;
    options.sweep_file = arguments->sweep;
    options.overrides = arguments->overrides;
    options.run_dir = arguments->out;
    options.resume = arguments->resume;
    options.code_version = UGS_CODE_VERSION;
    options.heartbeat_timeout_seconds = arguments->heartbeat_timeout;
    options.status_every_seconds = arguments->status_every;
    options.metrics_address = arguments->no_metrics ? "" : arguments->metrics_address;
    options.metrics_sd_file = arguments->metrics_sd_file;
    options.metrics_linger_seconds = linger->count() > 0 ? arguments->metrics_linger
                                     : arguments->metrics_sd_file.empty() ? 0
                                                                          : kLingerWithTargetFile;
    options.out = mpi.rank() == 0 ? stdout : nullptr;
    orchestrator::RunOutcome outcome;
    try {
      outcome = orchestrator::run_sweep(options, stop_requested);
    } catch (const std::exception& error) {
      if (mpi.size() == 1) throw;
      std::fprintf(stderr, "ugs: error: %s\n", error.what());
      mpi.abort(1);  // the other ranks may be waiting for the coordinator
    }
    if (outcome == orchestrator::RunOutcome::kLostGang) mpi.abort(1);
    if (outcome == orchestrator::RunOutcome::kFailed && mpi.rank() == 0) throw Exit{1};
  });
}

}  // namespace ugs::cli
