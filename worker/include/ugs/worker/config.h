// The configuration of one training job: a typed tree with one struct per TOML table, read from a
// file with toml++, layered, validated once and then passed down by const reference.
//
//   Config config = load_config("experiments/examples/train-ugsnet.toml", {"data.fold=2"});
//   // defaults  <  [training] recipe preset  <  the TOML file  <  overrides ("section.key=value")
//   std::string resolved = to_toml(config);   // every key, re-readable; the job folder keeps it
//
// Every field has a default; the defaults are the paper's recipe. docs/training-config.md lists
// every key with its meaning and a complete example, and explains the choices below.
//
// Recipes ([training] recipe) preset the optimiser, schedule, batch, epochs and input handling:
//   "paper"      SGD with warm restarts: LR 1e-5, momentum 0.9, weight decay 1e-4, batch 32,
//                200 epochs, restart every 50 epochs (T0 50, Tmult 1); one HU window. = the defaults.
//   "published"  the published UGS-Net-V1 code: Adam betas (0.5, 0.999), cosine warm restarts T0 50,
//                Tmult 2, eta_max 1e-4, batch 8, 150 epochs, the three published HU windows, no
//                shuffling. Keys the file sets still win over the preset.
//
// Overrides are `section.key=value` with a TOML value (`training.epochs=3`, `preprocess.windows=
// "published3"`); a value that is not valid TOML is taken as a string (`data.store=out/lidc`).
// Relative paths are relative to the working directory and stored absolute.
//
// Errors: std::runtime_error, one line that names where: a malformed file (`train.toml:4:9: ...`,
// toml++'s own words), an unknown table or key with the closest known name (`train.toml:7:1: unknown
// key 'lrr' in [optimizer]; did you mean 'lr'?`), a wrong type or a value out of range
// (`train.toml:9:14: [training] batch_size must be an integer >= 1, got 0`), an override that is not
// `section.key=value`, and settings that contradict each other (naming both keys).
// Thread safety: the functions keep no state; a Config is a plain value.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ugs/model/network.h"

namespace ugs::worker {

enum class Recipe { kPaper, kPublished };

// The single-mask target: what baselines train on, and what the single-mask terms of the UGS-Net
// losses use. The paper's Label_1 is annotator 0; stores without per-reader masks (the UGS-Net
// authors' PNG layout) have no Label_1 and must name "union" or "intersection" instead.
enum class SingleTarget { kLabel1, kUnion, kIntersection };

// Loss of a network without uncertainty heads (the baselines of Table I) against the single target.
enum class SingleMaskLoss { kBce, kDice, kBceDice };

enum class OptimizerKind { kSgd, kAdam };

// Which weights predict the test fold. Never chosen by the test fold (the published code picked its
// epoch by the test fold's Dice, which leaks it into the result).
enum class ModelSelection {
  kFinal,                // the last epoch's (the paper)
  kBestValidationDsc,    // the epoch with the best Dice on the validation split (checkpoint_best.pt);
                         // needs validation_fraction > 0
};

// How BatchNorm layers behave while training.
enum class BatchNormMode {
  kBatch,   // batch statistics, running averages updated (PyTorch's train()); per rank under data
            // parallelism: each rank normalises its own slice (docs/parallel.md)
  kFrozen,  // the running statistics, never updated (eval() for BatchNorm only): the layer is a fixed
            // affine map with learnable scale and shift, identical whatever the batch or its split
};

enum class ScheduleKind {
  kConstant,           // optimizer.lr throughout
  kCosineRestarts,     // SGDR: cosine from optimizer.lr down to eta_min, restarted after T0, T0*Tmult, ...
};

// When the learning rate changes: once per epoch (the published code) or at every step (PyTorch's
// CosineAnnealingWarmRestarts stepped with fractional epochs).
enum class ScheduleUpdate { kEpoch, kStep };

// What the loader does with the last batch of an epoch when the training set does not divide by
// the batch size.
enum class LastBatch {
  kKeep,  // a smaller last batch: every training nodule is seen every epoch (PyTorch's default)
  kDrop,  // skip it: every step has the full batch
};

struct DataConfig {
  std::filesystem::path store;    // nodule store folder (required)
  std::filesystem::path split;    // splits_final.json (`ugs split`); empty: train on the whole store
  int fold = 0;                   // the split's fold held out for testing (0-based)
  SingleTarget single_target = SingleTarget::kLabel1;  // see SingleTarget
  int min_annotators = 1;         // per-reader stores: train only on nodules with this many readers
  int limit = 0;                  // train on the first N selected nodules only (smoke runs); 0 = all
};

// A Hounsfield window: values are clipped to [lo, hi] and mapped linearly to [0, 1].
struct HuWindow {
  double lo = -1000.0;
  double hi = 800.0;
  bool operator==(const HuWindow& other) const { return lo == other.lo && hi == other.hi; }
};

// The three windows of the published code, in its channel order.
inline const std::vector<HuWindow> kPublishedWindows = {{-1000, 800}, {-160, 240}, {-1400, -950}};

struct PreprocessConfig {
  int size = 64;  // crops are resized to size x size (bilinear, PyTorch's align_corners=false)
  // One input channel per window. TOML: a list of [lo, hi] pairs, or "published3" (the three
  // published windows) or "published1" (the first of them, [-1000, 800]). An 8-bit store takes
  // exactly one entry, whose bounds it does not use (its values map to v/255; preprocess.h).
  std::vector<HuWindow> windows = {kPublishedWindows.front()};
  double mask_threshold = 0.5;  // a resized mask pixel is foreground when >= this
};

struct AugmentConfig {
  bool flips = false;  // random horizontal and vertical flips, each with probability 1/2
  bool rot90 = false;  // random rotation by 0, 90, 180 or 270 degrees
};

struct LossConfig {
  double a1 = 0.5;  // weight of L_MCM = BCE(U', U) + BCE(I', I)
  double a2 = 0.5;  // weight of Phi_a, the loss of GT'_Uni
  double a3 = 1.0;  // weight of Phi_b, the loss of the final segmentation X_S
  bool phi_a_over_set = true;  // Phi_a against every annotator (the paper) or the single target (V1)
  bool phi_b_over_set = true;  // Phi_b likewise
  SingleMaskLoss single_mask = SingleMaskLoss::kBce;  // networks without uncertainty heads
};

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kSgd;
  double lr = 1e-5;             // initial (and, with restarts, maximum) learning rate
  double momentum = 0.9;        // SGD only
  double weight_decay = 1e-4;   // L2 penalty, as torch.optim's weight_decay
  std::array<double, 2> betas{0.9, 0.999};  // Adam only
};

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::kCosineRestarts;
  int t0 = 50;            // length of the first cycle, in epochs
  int t_mult = 1;         // each cycle is t_mult times longer than the one before (1: fixed period)
  double eta_min = 0.0;   // the learning rate at the end of a cycle
  ScheduleUpdate update = ScheduleUpdate::kEpoch;
};

struct TrainingConfig {
  Recipe recipe = Recipe::kPaper;  // the preset applied before the file's keys
  int epochs = 200;
  int batch_size = 32;             // the global batch: samples per optimiser step over all ranks
  std::uint64_t seed = 0;          // data order, augmentation, validation carve-out, initialisation
  std::string device = "cpu";      // "cpu", "cuda" or "cuda:N" (is_device_name)
  bool deterministic = false;      // ask LibTorch for deterministic kernels (slower on GPUs)
  int checkpoint_every = 10;       // epochs between checkpoints (the last epoch always gets one)
  double validation_fraction = 0;  // share of the training nodules held out, by patient; 0 = none
  ModelSelection model_selection = ModelSelection::kFinal;
  bool shuffle = true;             // a new seeded order every epoch; false: store order
  LastBatch last_batch = LastBatch::kKeep;
  int prefetch_batches = 3;        // depth of the loader's queue
  BatchNormMode batch_norm = BatchNormMode::kBatch;
};

struct Config {
  DataConfig data;
  model::ModelConfig model;  // [model]; in_channels = 0 in the file means "one per window"
  LossConfig loss;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  TrainingConfig training;
  PreprocessConfig preprocess;
  AugmentConfig augment;
};

// Reads, layers and validates a configuration file. `overrides` are "section.key=value" strings.
Config load_config(const std::filesystem::path& file, const std::vector<std::string>& overrides = {});

// The same from TOML text; `source_name` is what error messages call it (a file name).
Config parse_config(std::string_view toml_text, std::string_view source_name,
                    const std::vector<std::string>& overrides = {});

// The same from tables of a larger TOML document, such as a sweep file (docs/sweeps.md): each of
// `tables` is a dotted path ("defaults", "experiments.long.overrides") to a table that holds job
// tables as a `ugs train` file does ([defaults.training] is the job's [training]). They are layered
// in order, an absent one adding nothing, then `overrides`. Keys of the document outside `tables` are
// not read. Errors name the file, line and column, and the tables as the document spells them:
// `sweep.toml:9:1: unknown key 'lrr' in [defaults.optimizer]; did you mean 'lr'?`.
Config parse_config_tables(std::string_view toml_text, std::string_view source_name,
                           const std::vector<std::string>& tables,
                           const std::vector<std::string>& overrides = {});

// One override "section.key=value" as the TOML document "[section]\nkey = value", the value quoted as
// a string when it is not TOML. std::runtime_error when `text` is not section.key=value (lowercase
// names, digits and '_'). Sweep files take their `sweep.key=value` overrides through it too.
std::string override_toml(const std::string& text);

// Applies a recipe's preset to `config` (what load_config does before reading the file's keys).
void apply_recipe(Config& config, Recipe recipe);

// The resolved configuration as TOML: every table and key, explicit windows, absolute paths.
// parse_config(to_toml(c), ...) gives back c.
std::string to_toml(const Config& config);

// Whether `key` ("training.device") changes how fast a job runs but never what it computes:
// training.device, training.prefetch_batches and training.checkpoint_every. A job folder may resume
// with other values of them, and they are no part of a job's identity.
bool is_runtime_key(std::string_view key);

// to_toml without the runtime keys: the text that identifies what a job computes (a sweep's job id
// is its hash, docs/sweeps.md).
std::string identity_toml(const Config& config);

// Whether `name` is a device a job or `ugs predict` can name: "cpu", "cuda" or "cuda:N".
bool is_device_name(const std::string& name);

}  // namespace ugs::worker
