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
};

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
      "Examples:\n"
      "  ugs run experiments/quickstart.toml\n"
      "  mpirun -np 5 ugs run experiments/paper.toml --out runs/paper --resume");
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
                      "Seconds without a word from a busy gang before it is declared lost (default 900)");
  command->add_option("--status-every", arguments->status_every,
                      "Seconds between status lines on the coordinator (default 10)");
  command->callback([arguments] {
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
