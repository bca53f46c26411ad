// bench_train: training throughput of whole `ugs train` jobs on this machine, and the loader's share of
// it. Each case trains a real job (worker::train_job, the code `ugs train` runs) on a synthetic store
// and reads the figures back from the job's training_log.jsonl: samples/s of the last epoch (the
// first pays for warming up the allocator) and loader_wait_seconds / seconds, the share of the epoch
// the training thread spent waiting for a batch.
//
//   build/bench/bench_train                   the quick start's network (UGS-Net, base width 8, 32x32,
//                                             batch 16) and UGS-Net-V1 (width 64, 64x64, 3 windows,
//                                             batch 8: the published recipe)
//   build/bench/bench_train --threads 2       torch::set_num_threads first (default: LibTorch's choice)
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ugs/storage/files.h"
#include "ugs/storage/folds.h"
#include "ugs/storage/synth.h"
#include "ugs/worker/train.h"

namespace {

namespace fs = std::filesystem;
using namespace ugs;

struct Case {
  const char* title;
  std::vector<std::string> overrides;
  std::size_t nodules;  // in the store; 4/5 of them train (fold 0 of 5 is held out)
};

nlohmann::json last_epoch(const fs::path& job) {
  std::ifstream in(job / "training_log.jsonl");
  std::string line, last;
  while (std::getline(in, line)) last = line;
  return nlohmann::json::parse(last);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--threads") torch::set_num_threads(std::atoi(argv[i + 1]));
  }
  const fs::path root = fs::temp_directory_path() / ("ugs_bench_train_" + std::to_string(::getpid()));
  const fs::path store = root / "store";
  storage::SynthOptions synth;
  synth.nodule_count = 400;
  storage::write_synthetic_store(storage::SynthGenerator(synth), store, {});
  storage::write_folds(root / "splits.json", storage::make_folds(storage::NoduleStore::open(store).infos(), 5));

  const std::vector<Case> cases = {
      {"quick start: ugsnet, base width 8, 32x32, batch 16",
       {"model.name=ugsnet", "model.base_width=8", "preprocess.size=32", "training.batch_size=16",
        "augment.flips=true"},
       400},
      {"ugsnet-v1, base width 64, 64x64, 3 windows, batch 8 (published recipe)",
       {"training.recipe=published", "model.name=ugsnet-v1", "data.limit=64"},
       400},
  };
  std::printf("torch threads: %d\n\n", torch::get_num_threads());
  std::printf("| job | epoch s | samples/s | loader wait share |\n|---|---|---|---|\n");
  for (std::size_t c = 0; c < cases.size(); ++c) {
    std::vector<std::string> overrides = cases[c].overrides;
    overrides.push_back("data.store=" + store.string());
    overrides.push_back("data.split=" + (root / "splits.json").string());
    overrides.push_back("training.epochs=2");
    overrides.push_back("training.checkpoint_every=100");
    const std::string toml = "[data]\nstore = \"" + store.string() + "\"\n";
    const worker::Config config = worker::parse_config(toml, "bench_train", overrides);
    worker::TrainOptions options;
    options.job_dir = root / ("job" + std::to_string(c));
    options.progress_out = nullptr;
    worker::train_job(config, options);
    const nlohmann::json epoch = last_epoch(options.job_dir);
    const double seconds = epoch["seconds"].get<double>();
    std::printf("| %s | %.2f | %.1f | %.2f%% |\n", cases[c].title, seconds,
                epoch["samples_per_second"].get<double>(),
                100.0 * epoch["loader_wait_seconds"].get<double>() / seconds);
    std::fflush(stdout);
  }
  ugs::storage::remove_tree(root);
  return 0;
}
