// Training checkpoints: everything a job needs to continue exactly where it stopped, in one file.
//
//   save_checkpoint(job / "checkpoint_latest.pt", {to_toml(config), {epoch, step}}, net, optimizer);
//   CheckpointInfo info = load_checkpoint(job / "checkpoint_latest.pt", net, optimizer);
//   // ... training continues at info.next with bitwise the same state
//   LoadedModel m = load_model(job / "checkpoint_final.pt", torch::kCPU);  // for `ugs predict`
//
// A checkpoint is a LibTorch archive (torch::serialize::OutputArchive, a zip) with these entries:
//   model_state     Dict[str, Tensor], the state dict in PyTorch's order (model::load_weights and
//                   `ugs weights export` read it, so a checkpoint is also a weights file)
//   optimizer       the optimiser's own archive (momentum buffers, Adam moments and step counts)
//   rng_cpu         LibTorch's default CPU generator (dropout draws from it); rng_cuda likewise on GPUs
//   schema, version "ugs.checkpoint", 1
//   config          the resolved configuration (worker::to_toml), so a checkpoint rebuilds its network
//   next_epoch, next_step, finished, code_version, epoch_totals (the unfinished epoch's loss sums)
// The learning rate is not stored: LrSchedule gives it in closed form from (epoch, step), and the
// loader's batches are pure functions of (seed, epoch, step), so the position is all they need.
//
// Loading is all or nothing. The schema, version, configuration and every model tensor (names,
// shapes, dtypes) are checked before anything is copied; the optimiser state is read into a fresh
// optimiser first and moved into the caller's only when it loaded whole. A truncated or corrupt file,
// a checkpoint of another network or configuration, or a file that is no checkpoint throws
// std::runtime_error with one line naming the file; the network and optimiser are then unchanged.
// Thread safety: functions keep no state; loading sets LibTorch's global generators.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "ugs/model/network.h"
#include "ugs/worker/config.h"
#include "ugs/worker/loader.h"
#include "ugs/worker/progress.h"

namespace ugs::worker {

inline constexpr const char* kCheckpointSchema = "ugs.checkpoint";
inline constexpr int kCheckpointVersion = 1;

struct CheckpointInfo {
  std::string config_toml;    // the resolved configuration (to_toml)
  LoaderPosition next;        // the batch training continues with
  bool finished = false;      // true in checkpoint_final: training ran every epoch
  std::string code_version;   // `ugs --version` of the code that wrote it
  NamedValues epoch_totals;   // sums the trainer keeps over the unfinished epoch (empty at epoch ends)
};

// Writes network, optimiser, generators and `info` to `file` atomically (temporary + rename).
void save_checkpoint(const std::filesystem::path& file, const CheckpointInfo& info, const model::Network& network,
                     const torch::optim::Optimizer& optimizer);

// Reads `info` alone, without touching any tensor.
CheckpointInfo read_checkpoint_info(const std::filesystem::path& file);

// Restores network, optimiser and generators from `file` and returns its info. The network and the
// optimiser must be built from the same configuration (the caller compares info.config_toml first;
// a tensor that does not match is refused anyway).
CheckpointInfo load_checkpoint(const std::filesystem::path& file, model::Network& network,
                               torch::optim::Optimizer& optimizer);

// The optimiser of a configuration ([optimizer] kind, lr, momentum, weight_decay, betas) over
// `network`'s parameters. The learning rate is the initial one; the trainer sets it every step.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Config& config, model::Network& network);

// A trained network ready for inference: built from the checkpoint's configuration, weights loaded,
// moved to `device`, in eval() mode.
struct LoadedModel {
  Config config;
  std::shared_ptr<model::Network> network;
  CheckpointInfo info;
};
LoadedModel load_model(const std::filesystem::path& checkpoint, const torch::Device& device);

}  // namespace ugs::worker
