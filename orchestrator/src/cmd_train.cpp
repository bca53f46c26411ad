// `ugs train`: one training job in this process (worker/include/ugs/worker/train.h).
#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "code_version.h"
#include "commands.h"
#include "stop_signals.h"
#include "mpi_session.h"
#include "ugs/worker/collective.h"
#include "ugs/worker/config.h"
#include "ugs/worker/train.h"

namespace ugs::cli {

namespace {

struct TrainArguments {
  std::string config;
  std::string out;
  int fold = -1;
  std::string device;
  std::vector<std::string> overrides;
};

// runs/<config name>/<network>/fold_<K>: one folder per job, as nnU-Net keeps one per fold.
std::string default_job_dir(const std::string& config_file, const worker::Config& config) {
  return "runs/" + std::filesystem::path(config_file).stem().string() + "/" + config.model.name + "/fold_" +
         std::to_string(config.data.fold);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto arguments = std::make_shared<TrainArguments>();
  CLI::App* command = add_command(
      app, "train", "Train one network on one fold, predict and score its test fold",
      "Trains the network of CONFIG (a TOML file: docs/training-config.md lists every key, with the\n"
      "recipes \"paper\" and \"published\") on every fold of the split but the held-out one, then\n"
      "predicts the held-out fold with the final weights and scores it (summary.json, printed as a\n"
      "table). Baselines train on Label_1, the UGS-Net family on every annotator's mask.\n"
      "\n"
      "The job folder holds config.toml (resolved), job.json (state, code version, split sha1),\n"
      "training_log.jsonl (one line per epoch), checkpoint_latest.pt / checkpoint_final.pt,\n"
      "predictions.h5, summary.json and training_curve.png (docs/training.md).\n"
      "\n"
      "Under mpirun or srun, every rank trains the one job together, data-parallel: each takes its\n"
      "slice of every global batch ([training] batch_size), gradients are summed over MPI, and rank 0\n"
      "writes the folder (docs/parallel.md).\n"
      "\n"
      "Stopping and resuming: SIGTERM, SIGUSR1 or Ctrl-C finish the current step, write\n"
      "checkpoint_latest.pt and exit with code 75; the same command resumes exactly where it\n"
      "stopped (model, optimizer, schedule, random streams, data order). A finished job is not\n"
      "trained again. A folder made for another configuration is refused.\n"
      "\n"
      "Example:\n"
      "  ugs synth --out out/synthetic && ugs split out/synthetic --out out/synthetic/splits_final.json\n"
      "  ugs train experiments/examples/quickstart-job.toml --fold 0");
  command->add_option("config", arguments->config, "The job's TOML configuration (required)")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--fold", arguments->fold,
                      "Hold out this fold of the split for testing (default: [data] fold of CONFIG, 0)");
  command->add_option("--out", arguments->out,
                      "The job folder (default: runs/<CONFIG name>/<network>/fold_<K>)");
  command->add_option("--device", arguments->device, "cpu, cuda or cuda:N (default: [training] device, cpu)");
  command->add_option("--set", arguments->overrides,
                      "Override a key of CONFIG, section.key=value with a TOML value, e.g. --set "
                      "training.epochs=3 (repeatable; applied after the file)");
  command->callback([arguments] {
    std::vector<std::string> overrides = arguments->overrides;
    if (arguments->fold >= 0) overrides.push_back("data.fold=" + std::to_string(arguments->fold));
    if (!arguments->device.empty()) overrides.push_back("training.device=\"" + arguments->device + "\"");
    const worker::Config config = worker::load_config(arguments->config, overrides);

    // Under a launcher all ranks form one gang; alone, no MPI at all.
    std::optional<MpiSession> mpi;
    std::unique_ptr<worker::Collective> gang;
    if (MpiSession::launched()) {
      mpi.emplace();
      if (mpi->size() > 1) gang = worker::make_mpi_collective(MPI_COMM_WORLD);
    }
    const bool root = !mpi || mpi->rank() == 0;

    worker::TrainOptions options;
    options.job_dir = arguments->out.empty() ? default_job_dir(arguments->config, config) : arguments->out;
    options.code_version = UGS_CODE_VERSION;
    options.stop_requested = &install_stop_handlers();
    options.collective = gang.get();
    options.progress_out = root ? stdout : nullptr;
    if (root) {
      const std::string ranks = gang ? " on " + std::to_string(gang->size()) + " ranks" : "";
      std::printf("training %s, fold %d, into %s%s\n", config.model.name.c_str(), config.data.fold,
                  options.job_dir.string().c_str(), ranks.c_str());
    }
    worker::TrainResult result;
    try {
      result = worker::train_job(config, options);
    } catch (const std::exception& error) {
      if (!gang) throw;
      std::fprintf(stderr, "ugs: error: %s\n", error.what());
      mpi->abort(1);  // the other ranks may be waiting in a collective
    }
    if (!root) return;
    if (result.outcome == worker::TrainOutcome::kStopped) {
      std::printf("stopped at epoch %d step %d; checkpoint_latest.pt written. Run the same command to resume.\n",
                  result.next.epoch + 1, result.next.step + 1);
      std::fflush(stdout);
      throw Exit{kExitStoppedForResume};
    }
    std::printf("done: %s\n", options.job_dir.string().c_str());
  });
}

}  // namespace ugs::cli
