// The training loop of one job. Read train_job() from the top: set up, resume, the epochs, the end.
#include "ugs/worker/train.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <toml++/toml.h>

#include <c10/util/hash.h>
#include <nlohmann/json.hpp>

#include "ugs/model/losses.h"
#include "ugs/model/weights.h"
#include "ugs/storage/atomic_file.h"
#include "ugs/storage/files.h"
#include "ugs/storage/folds.h"
#include "ugs/storage/predictions.h"
#include "ugs/worker/checkpoint.h"
#include "ugs/worker/dataset.h"
#include "ugs/worker/inference.h"
#include "ugs/worker/lr_schedule.h"
#include "ugs/worker/preprocess.h"
#include "ugs/worker/scoring.h"
#include "ugs/worker/training_curve.h"

namespace ugs::worker {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kConfigFile = "config.toml";
constexpr const char* kJobFile = "job.json";
constexpr const char* kLogFile = "training_log.jsonl";
constexpr const char* kLatestCheckpoint = "checkpoint_latest.pt";
constexpr const char* kFinalCheckpoint = "checkpoint_final.pt";
constexpr const char* kBestCheckpoint = "checkpoint_best.pt";
constexpr const char* kPredictionsFile = "predictions.h5";
constexpr const char* kSummaryFile = "summary.json";
constexpr const char* kCurveFile = "training_curve.png";

// The first key whose value differs between two resolved configurations, or "" when none does.
std::string first_difference(const std::string& old_toml, const std::string& new_toml) {
  const toml::table old_table = toml::parse(old_toml);
  const toml::table new_table = toml::parse(new_toml);
  std::map<std::string, std::string> old_values, new_values;
  auto flatten = [](const toml::table& document, std::map<std::string, std::string>& values) {
    for (const auto& [section, table] : document) {
      if (!table.is_table()) continue;
      for (const auto& [key, value] : *table.as_table()) {
        std::ostringstream text;
        value.visit([&](const auto& node) { text << node; });
        values[std::string(section.str()) + "." + std::string(key.str())] = text.str();
      }
    }
  };
  flatten(old_table, old_values);
  flatten(new_table, new_values);
  for (const auto& [key, value] : new_values) {
    if (is_runtime_key(key)) continue;
    const auto old = old_values.find(key);
    if (old == old_values.end()) return key + " (new)";
    if (old->second != value) return key + " (" + old->second + " there, " + value + " here)";
  }
  for (const auto& [key, value] : old_values) {
    if (!new_values.count(key) && !is_runtime_key(key)) return key + " (gone)";
  }
  return "";
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

std::string host_name() {
  char name[256] = {};
  return gethostname(name, sizeof name - 1) == 0 ? name : "unknown";
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The annotations the losses see. Per-reader stores give the readers' masks (channel 0 = Label_1).
// A store with only U and I gives the two-reader set {target, the other}: its OR is U, its AND is I,
// its mean (U + I) / 2, and its first annotation is the single target.
model::AnnotationTargets annotation_targets(const Batch& batch, bool per_reader, SingleTarget single_target) {
  if (per_reader) return {batch.annotators, batch.annotator_count};
  const torch::Tensor& other = single_target == SingleTarget::kUnion ? batch.intersection : batch.union_mask;
  return {torch::cat({batch.target, other}, 1),
          torch::full({batch.size()}, 2, torch::TensorOptions().dtype(torch::kLong))};
}

Batch to_device(Batch batch, const torch::Device& device) {
  if (device.is_cpu()) return batch;
  for (torch::Tensor* t : {&batch.images, &batch.target, &batch.union_mask, &batch.intersection,
                           &batch.annotators, &batch.annotator_count, &batch.annotator_mean}) {
    *t = t->to(device, /*non_blocking=*/true);
  }
  return batch;
}

// train() for the whole network; BatchNorm layers back in eval() when their statistics are frozen.
void set_training_mode(model::Network& net, BatchNormMode batch_norm) {
  net.train();
  if (batch_norm != BatchNormMode::kFrozen) return;
  for (const auto& module : net.modules(/*include_self=*/false)) {
    if (module->as<torch::nn::BatchNorm2d>() != nullptr) module->eval();
  }
}

// The gang's view of one number per rank: {max, -min}, equal negated when every rank agrees.
void check_replicas(model::Network& net, Collective& gang, int epoch, int step) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> sums;
  for (const torch::Tensor& p : net.parameters()) sums.push_back(p.sum().to(torch::kDouble));
  const double checksum = torch::stack(sums).sum().item<double>();
  std::vector<double> extremes = {checksum, -checksum};
  gang.all_reduce_max(extremes);
  if (extremes[0] != -extremes[1]) {
    throw std::runtime_error("the ranks' parameters differ after epoch " + std::to_string(epoch + 1) + " step " +
                             std::to_string(step + 1) + " (checksums " + std::to_string(-extremes[1]) + " to " +
                             std::to_string(extremes[0]) + ")");
  }
}

std::vector<torch::Tensor> state_tensors(model::Network& net) {
  std::vector<torch::Tensor> tensors;
  for (const auto& [name, tensor] : model::state_dict(net)) tensors.push_back(tensor);
  return tensors;
}

// Sums over an epoch, kept in a fixed order so the log and the checkpoint list them the same way.
class EpochTotals {
 public:
  void add(const std::string& name, double value) {
    for (auto& [key, total] : values_) {
      if (key == name) {
        total += value;
        return;
      }
    }
    values_.emplace_back(name, value);
  }
  double get(const std::string& name) const {
    for (const auto& [key, total] : values_) {
      if (key == name) return total;
    }
    return 0.0;
  }
  NamedValues& values() { return values_; }

 private:
  NamedValues values_;
};

// One pass over the validation nodules, each rank over its slice of every batch: the loss and the
// Dice of X_S against the single target, from pixel counts summed over the set and the gang (not an
// average of per-nodule Dice).
json validate(model::Network& net, const model::Loss& loss, const NoduleTensors& data, const Config& config,
              bool per_reader, const torch::Device& device, Collective& gang) {
  torch::NoGradGuard no_grad;
  net.eval();
  LoaderOptions options;
  options.batch_size = config.training.batch_size;
  options.shuffle = false;
  options.rank = gang.rank();
  options.world_size = gang.size();
  const std::vector<std::size_t> order = epoch_order(data.size(), 0, 0, false);
  const int steps = steps_per_epoch(data.size(), options.batch_size, LastBatch::kKeep);
  std::vector<double> sums(4, 0.0);  // loss * samples, overlap, predicted, truth
  for (int step = 0; step < steps; ++step) {
    const Batch batch = to_device(make_batch(data, order, options, {0, step}), device);
    if (batch.size() == 0) continue;
    const model::NetworkOutput output = net.forward(batch.images);
    sums[0] += loss.compute(output, annotation_targets(batch, per_reader, config.data.single_target))
                   .total.item<double>() *
               static_cast<double>(batch.size());
    const torch::Tensor foreground = output.segmentation >= 0;  // sigmoid(x) >= 0.5
    const torch::Tensor target = batch.target > 0.5;
    sums[1] += (foreground & target).sum().item<double>();
    sums[2] += foreground.sum().item<double>();
    sums[3] += target.sum().item<double>();
  }
  gang.all_reduce_sum(sums);
  set_training_mode(net, config.training.batch_norm);
  const double dsc = sums[2] + sums[3] > 0 ? 2 * sums[1] / (sums[2] + sums[3]) : std::nan("");
  return {{"loss", sums[0] / static_cast<double>(data.size())}, {"dsc", dsc}};
}

std::vector<std::string> read_log_until(const fs::path& file, int epochs_done) {
  std::vector<std::string> lines;
  if (!fs::exists(file)) return lines;
  std::ifstream in(file);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    const json entry = json::parse(line, nullptr, false);
    if (entry.is_discarded() || !entry.contains("epoch")) {
      throw std::runtime_error(file.string() + ":" + std::to_string(number) + ": not a training log line");
    }
    if (entry["epoch"].get<int>() <= epochs_done) lines.push_back(line);
  }
  return lines;
}

// The best validation Dice among the logged epochs and its epoch (1-based; 0 when none is logged).
std::pair<double, int> best_validation_dsc(const std::vector<std::string>& log_lines) {
  std::pair<double, int> best{-1.0, 0};
  for (const std::string& line : log_lines) {
    const json entry = json::parse(line);
    if (!entry.contains("validation") || !entry["validation"]["dsc"].is_number()) continue;
    const double dsc = entry["validation"]["dsc"].get<double>();
    if (dsc > best.first) best = {dsc, entry["epoch"].get<int>()};
  }
  return best;
}

void write_lines(const fs::path& file, const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  storage::write_file_atomically(file, text);
}

// The facts about a job a person (or the orchestrator) needs without opening a checkpoint.
struct JobRecord {
  json fields;
  void set_state(const std::string& state, int epochs_done) {
    fields["state"] = state;
    fields["epochs_done"] = epochs_done;
    fields["updated"] = utc_now();
  }
  void write(const fs::path& dir) const { storage::write_file_atomically(dir / kJobFile, fields.dump(2) + "\n"); }
};

}  // namespace

TrainResult train_job(const Config& config, const TrainOptions& options) {
  const std::unique_ptr<Collective> alone = make_single_process_collective();
  Collective& gang = options.collective ? *options.collective : *alone;
  const bool root = gang.rank() == 0;  // the rank that writes the folder
  const fs::path& dir = options.job_dir;
  const std::string config_toml = to_toml(config);
  if (root) fs::create_directories(dir);
  // Every rank checks (the folder is shared), so that a refusal stops the whole gang alike.
  if (fs::exists(dir / kConfigFile)) {
    const std::string difference = first_difference(storage::read_text_file(dir / kConfigFile), config_toml);
    if (!difference.empty()) {
      throw std::runtime_error((dir / kConfigFile).string() + ": this job folder was made for another "
                               "configuration: " + difference + "; use another --out or remove the folder");
    }
  }
  if (root) storage::write_file_atomically(dir / kConfigFile, config_toml);
  if (config.training.deterministic) at::globalContext().setDeterministicAlgorithms(true, false);
  const torch::Device device(config.training.device);

  // The data: the fold's nodules, preprocessed once.
  const storage::NoduleStore store = storage::NoduleStore::open(config.data.store);
  std::vector<std::string> test_ids;
  if (!config.data.split.empty()) {
    const std::vector<storage::Fold> folds = storage::read_folds(config.data.split, store.infos());
    if (config.data.fold >= static_cast<int>(folds.size())) {
      throw std::runtime_error(config.data.split.string() + ": has " + std::to_string(folds.size()) +
                               " folds, [data] fold = " + std::to_string(config.data.fold) + " asks for another");
    }
    test_ids = folds[config.data.fold].val;
  }
  const JobNodules nodules = select_nodules(store, test_ids, config);
  const bool per_reader = store.attributes().reader_masks == storage::ReaderMasks::kPerReader;
  if (per_reader && config.data.single_target != SingleTarget::kLabel1) {
    throw std::runtime_error(config.data.store.string() + ": has every reader's mask, so the single target is "
                             "Label_1 as in the paper; [data] single_target is for stores with only union "
                             "and intersection");
  }
  const auto train_data = std::make_shared<const NoduleTensors>(
      preprocess_store(store, nodules.train, config.preprocess, config.data.single_target));
  NoduleTensors validation_data;
  if (!nodules.validation.empty()) {
    validation_data = preprocess_store(store, nodules.validation, config.preprocess, config.data.single_target);
  }

  // The model, its optimiser and loss, then the state of an earlier run of this folder.
  torch::manual_seed(config.training.seed);
  std::shared_ptr<model::Network> net = model::make_network(config.model);
  net->to(device);
  set_training_mode(*net, config.training.batch_norm);
  std::unique_ptr<torch::optim::Optimizer> optimizer = make_optimizer(config, *net);
  model::UgsLossOptions ugs_loss;
  ugs_loss.mcm_weight = config.loss.a1;
  ugs_loss.annotation_weight = config.loss.a2;
  ugs_loss.segmentation_weight = config.loss.a3;
  model::SegmentationLossOptions segmentation_loss;
  segmentation_loss.bce_weight = config.loss.single_mask == SingleMaskLoss::kDice ? 0.0 : 1.0;
  segmentation_loss.dice_weight = config.loss.single_mask == SingleMaskLoss::kBce ? 0.0 : 1.0;
  const std::unique_ptr<model::Loss> loss = model::make_loss(config.model.name, ugs_loss, segmentation_loss);

  std::vector<std::string> part_names = {"loss"};
  for (const std::string& name : loss->part_names()) part_names.push_back(name);

  TrainResult result;
  LoaderPosition start;
  EpochTotals totals;
  bool finished = false;
  if (fs::exists(dir / kFinalCheckpoint)) {
    const CheckpointInfo info = load_checkpoint(dir / kFinalCheckpoint, *net, *optimizer);
    start = info.next;
    finished = true;
  } else if (fs::exists(dir / kLatestCheckpoint)) {
    const CheckpointInfo info = load_checkpoint(dir / kLatestCheckpoint, *net, *optimizer);
    start = info.next;
    for (const auto& [name, value] : info.epoch_totals) totals.add(name, value);
    result.resumed = true;
  }
  if (gang.size() > 1) gang.broadcast(state_tensors(*net));
  std::vector<std::string> log_lines = root ? read_log_until(dir / kLogFile, start.epoch) : std::vector<std::string>{};
  const bool select_by_validation = config.training.model_selection == ModelSelection::kBestValidationDsc;
  auto [best_dsc, best_epoch] = best_validation_dsc(log_lines);

  JobRecord record;
  if (fs::exists(dir / kJobFile)) record.fields = json::parse(storage::read_text_file(dir / kJobFile), nullptr, false);
  if (!record.fields.is_object()) record.fields = json::object();
  record.fields["schema"] = "ugs.job";
  record.fields["network"] = config.model.name;
  record.fields["fold"] = config.data.fold;
  record.fields["store"] = config.data.store.string();
  record.fields["split"] = config.data.split.string();
  record.fields["split_sha1"] =
      config.data.split.empty() ? "" : c10::sha1(storage::read_text_file(config.data.split, "split file")).str();
  record.fields["code_version"] = options.code_version;
  record.fields["host"] = host_name();
  record.fields["device"] = config.training.device;
  record.fields["epochs"] = config.training.epochs;
  record.fields["nodules"] = {{"train", nodules.train.size()},
                              {"validation", nodules.validation.size()},
                              {"test", nodules.test.size()}};
  if (!record.fields.contains("started")) record.fields["started"] = utc_now();
  record.fields["ranks"] = gang.size();
  record.set_state(finished ? "evaluating" : "running", start.epoch);
  if (root) record.write(dir);

  // The epochs.
  if (!finished) {
    BatchLoader loader(train_data, loader_options(config, gang.rank(), gang.size()), start);
    const LrSchedule schedule(config.schedule, config.optimizer.lr, loader.steps_per_epoch());
    Progress::Options progress_options;
    progress_options.epochs = config.training.epochs;
    progress_options.steps_per_epoch = loader.steps_per_epoch();
    progress_options.start = start;
    Progress progress(options.progress_out ? options.progress_out : stdout, progress_options);
    const bool show = root && options.progress_out != nullptr;
    if (show && result.resumed) {
      std::fprintf(options.progress_out, "resuming %s at epoch %d step %d\n", dir.string().c_str(),
                   start.epoch + 1, start.step + 1);
    }

    bool stopping = false;
    LoaderPosition next = start;
    for (int epoch = start.epoch; epoch < config.training.epochs && !stopping; ++epoch) {
      const auto epoch_clock = std::chrono::steady_clock::now();
      const double wait_before = loader.stats().wait_seconds;
      int step = epoch == start.epoch ? start.step : 0;
      for (; step < loader.steps_per_epoch(); ++step) {
        const auto step_clock = std::chrono::steady_clock::now();
        const double wait_before_step = loader.stats().wait_seconds;
        const double lr = schedule.at(epoch, step);
        for (auto& group : optimizer->param_groups()) group.options().set_lr(lr);
        const Batch batch = to_device(loader.next(), device);
        // This rank's loss weighted by its share of the global batch: the gang's summed gradient is
        // then the gradient of the global batch's mean loss.
        const double share = static_cast<double>(batch.size()) / batch.global_size;
        std::vector<double> step_sums;  // the loss and its parts, each times this rank's share
        optimizer->zero_grad();
        if (batch.size() > 0) {
          const model::NetworkOutput output = net->forward(batch.images);
          const model::LossTerms terms =
              loss->compute(output, annotation_targets(batch, per_reader, config.data.single_target));
          (terms.total * share).backward();
          step_sums.push_back(terms.total.item<double>() * share);
          for (const auto& [name, value] : terms.parts) step_sums.push_back(value.item<double>() * share);
        }
        double allreduce_seconds = 0;
        if (gang.size() > 1) {
          std::vector<torch::Tensor> gradients;
          for (torch::Tensor& p : net->parameters()) {
            if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
            gradients.push_back(p.grad());
          }
          const auto allreduce_clock = std::chrono::steady_clock::now();
          gang.all_reduce_sum(gradients);
          allreduce_seconds = seconds_since(allreduce_clock);
        }
        optimizer->step();
        step_sums.resize(part_names.size(), 0.0);  // a rank with an empty slice adds nothing
        gang.all_reduce_sum(step_sums);
        if (gang.size() > 1) check_replicas(*net, gang, epoch, step);

        StepReport report{epoch, step, {}, lr, batch.global_size};
        report.seconds = seconds_since(step_clock);
        report.allreduce_seconds = allreduce_seconds;
        report.loader_wait_seconds = loader.stats().wait_seconds - wait_before_step;
        for (std::size_t i = 0; i < part_names.size(); ++i) report.losses.emplace_back(part_names[i], step_sums[i]);
        if (!std::isfinite(report.losses.front().second)) {
          throw std::runtime_error(dir.string() + ": loss is " + std::to_string(report.losses.front().second) +
                                   " at epoch " + std::to_string(epoch + 1) + " step " + std::to_string(step + 1));
        }
        for (const auto& [name, value] : report.losses) totals.add(name, value * batch.global_size);
        totals.add("samples", batch.global_size);
        if (show) progress.step(report);
        if (options.on_step) options.on_step(report);
        // A stop asked of any rank, by a signal or by on_step, ends this step for the whole gang.
        std::vector<double> stop = {options.stop_requested && options.stop_requested->load() ? 1.0 : 0.0};
        gang.all_reduce_max(stop);
        if (stop.front() > 0) {
          stopping = true;
          ++step;
          break;
        }
      }
      totals.add("seconds", seconds_since(epoch_clock));
      totals.add("loader_wait_seconds", loader.stats().wait_seconds - wait_before);
      next = {epoch, step};
      if (step < loader.steps_per_epoch()) break;  // stopped inside the epoch: its totals go in the checkpoint

      // The epoch is complete: log it, validate, checkpoint.
      const double samples = totals.get("samples");
      json entry = {{"epoch", epoch + 1},
                    {"lr", schedule.at(epoch, 0)},
                    {"seconds", totals.get("seconds")},
                    {"samples_per_second", samples / totals.get("seconds")},
                    {"loader_wait_seconds", totals.get("loader_wait_seconds")}};
      NamedValues shown;
      for (const auto& [name, value] : totals.values()) {
        if (name == "samples" || name == "seconds" || name == "loader_wait_seconds") continue;
        entry["loss"][name == "loss" ? "total" : name] = value / samples;
        shown.emplace_back(name, value / samples);
      }
      EpochReport epoch_report{epoch, {}, {}};
      const auto save = [&](const fs::path& file, const CheckpointInfo& info) {
        const auto clock = std::chrono::steady_clock::now();
        save_checkpoint(file, info, *net, *optimizer);
        epoch_report.checkpoint_seconds = epoch_report.checkpoint_seconds.value_or(0) + seconds_since(clock);
      };
      if (validation_data.size() > 0) {
        entry["validation"] = validate(*net, *loss, validation_data, config, per_reader, device, gang);
        epoch_report.validation_dsc = entry["validation"]["dsc"].get<double>();
        const double dsc = std::isnan(*epoch_report.validation_dsc) ? -1.0 : *epoch_report.validation_dsc;
        shown.emplace_back("val dsc", dsc);
        if (root && select_by_validation && dsc > best_dsc) {
          best_dsc = dsc;
          best_epoch = epoch + 1;
          save(dir / kBestCheckpoint, {config_toml, {epoch + 1, 0}, false, options.code_version, {}});
        }
      }
      log_lines.push_back(entry.dump());
      if (root) write_lines(dir / kLogFile, log_lines);
      if (show) progress.epoch_end(epoch, shown);
      totals = EpochTotals();
      next = {epoch + 1, 0};
      const bool last = epoch + 1 == config.training.epochs;
      if (root && !last && (stopping || (epoch + 1) % config.training.checkpoint_every == 0)) {
        save(dir / kLatestCheckpoint, {config_toml, next, false, options.code_version, {}});
      }
      if (root && last) {
        save(dir / kFinalCheckpoint, {config_toml, next, true, options.code_version, {}});
        fs::remove(dir / kLatestCheckpoint);  // final supersedes it; checkpoints of big networks are large
      }
      if (options.on_epoch_end) options.on_epoch_end(epoch_report);
    }
    if (stopping && next.epoch < config.training.epochs) {
      if (root && next.step > 0) {  // inside an epoch: keep its partial sums so its log line comes out whole
        save_checkpoint(dir / kLatestCheckpoint,
                        {config_toml, next, false, options.code_version, totals.values()}, *net, *optimizer);
      }
      record.set_state("stopped", next.epoch);
      if (root) record.write(dir);
      result.outcome = TrainOutcome::kStopped;
      result.next = next;
      return result;
    }
  }

  // The end: the test fold predicted with the selected weights and scored, and the picture.
  result.next = {config.training.epochs, 0};
  if (!root) return result;
  record.set_state("evaluating", config.training.epochs);
  if (select_by_validation) {
    if (best_epoch == 0) {
      throw std::runtime_error(dir.string() + ": no epoch has a validation Dice to select by (empty masks?)");
    }
    model::load_weights(*net, dir / kBestCheckpoint);
    record.fields["test_fold_weights"] = {{"checkpoint", kBestCheckpoint}, {"epoch", best_epoch},
                                          {"validation_dsc", best_dsc}};
  } else {
    record.fields["test_fold_weights"] = {{"checkpoint", kFinalCheckpoint}, {"epoch", config.training.epochs}};
  }
  record.write(dir);
  if (!nodules.test.empty()) {
    const storage::Predictions predictions =
        predict_nodules(*net, store, nodules.test, config.preprocess, device, config.training.batch_size);
    storage::write_predictions(dir / kPredictionsFile, predictions);
    metrics::ScoringOptions scoring;
    scoring.coverage = metrics::Coverage::kSubset;
    const metrics::ScoreReport report = metrics::score_predictions(store, dir / kPredictionsFile, scoring);
    metrics::write_summary_json(dir / kSummaryFile, report);
    result.summary = dir / kSummaryFile;
    if (options.progress_out && options.print_scores) {
      std::fprintf(options.progress_out, "test fold %d, %zu nodules (%s):\n%s", config.data.fold,
                   nodules.test.size(), result.summary.string().c_str(), metrics::summary_table(report).c_str());
    }
  }
  // A missing gnuplot costs the picture, not the trained job: said on the terminal and in job.json.
  try {
    plot::plot_training_curve(dir / kLogFile, dir / kCurveFile);
    record.fields.erase("training_curve_error");
  } catch (const std::exception& error) {
    record.fields["training_curve_error"] = error.what();
    if (options.progress_out) std::fprintf(options.progress_out, "warning: %s not drawn: %s\n", kCurveFile, error.what());
  }
  record.set_state("completed", config.training.epochs);
  record.write(dir);
  return result;
}

}  // namespace ugs::worker
