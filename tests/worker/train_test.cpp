// The training loop: resume identity, learning, the job folder, refusals.
#include "ugs/worker/train.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "storage/test_support.h"
#include "ugs/model/weights.h"
#include "ugs/storage/folds.h"
#include "ugs/storage/predictions.h"
#include "ugs/storage/synth.h"
#include "ugs/worker/checkpoint.h"
#include "ugs/worker/metrics.h"

namespace ugs::worker {
namespace {

namespace fs = std::filesystem;
using storage::testing::TemporaryFolder;

// A small synthetic store (per-reader masks, 50x50) with a five-fold split beside it.
struct SyntheticJobData {
  TemporaryFolder folder;
  fs::path store;
  fs::path split;

  explicit SyntheticJobData(std::size_t nodules) {
    storage::SynthOptions options;
    options.nodule_count = nodules;
    store = folder.path() / "store";
    storage::write_synthetic_store(storage::SynthGenerator(options), store, {});
    split = folder.path() / "splits_final.json";
    storage::write_folds(split, storage::make_folds(storage::NoduleStore::open(store).infos(), 5));
  }
};

const SyntheticJobData& synthetic_data() {
  static const SyntheticJobData data(200);
  return data;
}

// A tiny, fast, deterministic job on the synthetic store.
Config tiny_config(const std::string& network, int epochs, const std::vector<std::string>& extra = {}) {
  std::ostringstream toml;
  toml << "[data]\nstore = \"" << synthetic_data().store.string() << "\"\nsplit = \""
       << synthetic_data().split.string() << "\"\n"
       << "[model]\nname = \"" << network << "\"\nbase_width = 8\n"
       << "[optimizer]\nkind = \"adam\"\nlr = 1e-3\nbetas = [0.9, 0.999]\nweight_decay = 0.0\n"
       << "[training]\nepochs = " << epochs << "\nbatch_size = 16\ndeterministic = true\n"
       << "[preprocess]\nsize = 32\n"
       << "[augment]\nflips = true\nrot90 = true\n";
  return parse_config(toml.str(), "tiny.toml", extra);
}

TrainOptions quiet(const fs::path& dir) {
  TrainOptions options;
  options.job_dir = dir;
  options.progress_out = nullptr;
  return options;
}

model::StateDict weights_of(const fs::path& checkpoint) {
  const LoadedModel loaded = load_model(checkpoint, torch::kCPU);
  model::StateDict copy;
  for (const auto& [name, tensor] : model::state_dict(*loaded.network)) copy.emplace_back(name, tensor.clone());
  return copy;
}

void expect_bitwise_equal(const model::StateDict& a, const model::StateDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first << " differs";
  }
}

std::vector<nlohmann::json> log_of(const fs::path& dir) {
  std::ifstream in(dir / "training_log.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// Stops the job right after optimiser step `stop_step` (counted over the whole run, 0-based).
TrainOptions stopping_after(const fs::path& dir, int stop_step, std::atomic<bool>& flag) {
  TrainOptions options = quiet(dir);
  options.stop_requested = &flag;
  auto steps = std::make_shared<int>(0);
  options.on_step = [&flag, steps, stop_step](const StepReport&) {
    if ((*steps)++ == stop_step) flag.store(true);
  };
  return options;
}

int training_steps_per_epoch(const Config& config) {
  const storage::NoduleStore store = storage::NoduleStore::open(config.data.store);
  const auto test = storage::read_folds(config.data.split, store.infos())[config.data.fold].val.size();
  return steps_per_epoch(store.size() - test, config.training.batch_size, config.training.last_batch);
}

// Trains `config` straight, and again stopped after step `stops[i]` (counted from the start of each
// run) and resumed each time; the final weights and the logged losses must be identical to the bit.
void expect_resume_identity(const Config& config, const std::vector<int>& stops, const fs::path& out) {
  ASSERT_EQ(train_job(config, quiet(out / "straight")).outcome, TrainOutcome::kCompleted);
  const fs::path resumed = out / "resumed";
  for (const int stop : stops) {
    std::atomic<bool> flag{false};
    const TrainResult part = train_job(config, stopping_after(resumed, stop, flag));
    ASSERT_EQ(part.outcome, TrainOutcome::kStopped);
    EXPECT_FALSE(fs::exists(resumed / "predictions.h5"));
  }
  const TrainResult last = train_job(config, quiet(resumed));
  ASSERT_EQ(last.outcome, TrainOutcome::kCompleted);
  EXPECT_TRUE(last.resumed);
  expect_bitwise_equal(weights_of(out / "straight" / "checkpoint_final.pt"), weights_of(resumed / "checkpoint_final.pt"));
  EXPECT_FALSE(fs::exists(resumed / "checkpoint_latest.pt"));
  const auto straight_log = log_of(out / "straight");
  const auto resumed_log = log_of(resumed);
  ASSERT_EQ(resumed_log.size(), static_cast<std::size_t>(config.training.epochs));
  for (std::size_t e = 0; e < resumed_log.size(); ++e) {
    EXPECT_EQ(resumed_log[e]["epoch"], straight_log[e]["epoch"]);
    EXPECT_EQ(resumed_log[e]["loss"], straight_log[e]["loss"]) << "epoch " << e + 1;
  }
}

TEST(Train, FourEpochsStraightEqualTwoThenStopThenResumeToTheBit) {
  TemporaryFolder out;
  const Config config = tiny_config("ugsnet", 4);
  const int steps = training_steps_per_epoch(config);
  // Stopped at the end of epoch 2, then inside epoch 3, resumed each time.
  expect_resume_identity(config, {2 * steps - 1, 2}, out.path());
  std::atomic<bool> flag{false};
  const TrainResult stopped = train_job(config, stopping_after(out.path() / "positions", 2 * steps - 1, flag));
  EXPECT_EQ(stopped.next.epoch, 2);
  EXPECT_EQ(stopped.next.step, 0);
  flag.store(false);
  const TrainResult inside = train_job(config, stopping_after(out.path() / "positions", 2, flag));
  EXPECT_TRUE(inside.resumed);
  EXPECT_EQ(inside.next.epoch, 2);
  EXPECT_EQ(inside.next.step, 3);
}

TEST(Train, ResumeRestoresTheGeneratorThatDropoutDrawsFrom) {
  TemporaryFolder out;  // FCN-32s has dropout: without the generator state the masks would differ
  expect_resume_identity(tiny_config("fcn32s", 2, {"model.base_width=4"}), {3}, out.path());
}

// The fixed-threshold baseline: X_S = pixels at or above `hu` in the image, at the store's resolution.
double threshold_dsc(const storage::NoduleStore& store, const std::vector<std::string>& ids, float hu) {
  double sum = 0;
  int scored = 0;
  for (const std::string& id : ids) {
    const storage::Nodule nodule = store.read(*store.find(id));
    std::vector<std::uint8_t> predicted(nodule.image.size());
    for (std::size_t p = 0; p < predicted.size(); ++p) predicted[p] = nodule.image[p] >= hu;
    const std::vector<std::uint8_t> label1(nodule.annotators.begin(), nodule.annotators.begin() + predicted.size());
    const int h = store.attributes().height, w = store.attributes().width;
    const double dsc = metrics::dice({label1.data(), h, w}, {predicted.data(), h, w});
    if (std::isnan(dsc)) continue;  // as the summary's means do
    sum += dsc;
    ++scored;
  }
  return sum / scored;
}

double label1_dsc(const fs::path& summary) {
  std::ifstream in(summary);
  return nlohmann::json::parse(in)["mean"]["label_1"]["dsc"].get<double>();
}

TEST(Train, BaselineAndUgsNetLearnToBeatTheBestFixedThreshold) {
  const storage::NoduleStore store = storage::NoduleStore::open(synthetic_data().store);
  const auto test_ids = storage::read_folds(synthetic_data().split, store.infos())[0].val;
  double best_threshold = 0;
  for (float hu : {-800.f, -700.f, -600.f, -500.f, -400.f, -300.f, -200.f, 0.f}) {
    best_threshold = std::max(best_threshold, threshold_dsc(store, test_ids, hu));
  }
  TemporaryFolder out;
  for (const std::string network : {"unet", "ugsnet"}) {
    SCOPED_TRACE(network);
    const Config config = tiny_config(network, 12, {"augment.rot90=false"});
    const TrainResult result = train_job(config, quiet(out.path() / network));
    ASSERT_EQ(result.outcome, TrainOutcome::kCompleted);
    const double learned = label1_dsc(result.summary);
    EXPECT_GT(learned, best_threshold + 0.05) << "best fixed threshold " << best_threshold;
    const auto log = log_of(out.path() / network);
    EXPECT_LT(log.back()["loss"]["total"].get<double>(), log.front()["loss"]["total"].get<double>());
  }
}

TEST(Train, JobFolderHoldsEveryOutput) {
  TemporaryFolder out;
  const Config config = tiny_config("ugsnet", 2, {"training.validation_fraction=0.2",
                                                  "training.model_selection=\"best_validation_dsc\""});
  const TrainResult result = train_job(config, quiet(out.path()));
  for (const char* file : {"config.toml", "job.json", "training_log.jsonl", "checkpoint_final.pt", "predictions.h5",
                           "summary.json", "training_curve.png"}) {
    EXPECT_TRUE(fs::exists(out.path() / file)) << file;
  }
  EXPECT_EQ(parse_config(to_toml(config), "x").model.name, load_config(out.path() / "config.toml").model.name);
  std::ifstream job_file(out.path() / "job.json");
  const auto job = nlohmann::json::parse(job_file);
  EXPECT_EQ(job["state"], "completed");
  EXPECT_EQ(job["test_fold_weights"]["checkpoint"], "checkpoint_best.pt");
  EXPECT_TRUE(fs::exists(out.path() / "checkpoint_best.pt"));
  EXPECT_EQ(job["split_sha1"].get<std::string>().size(), 40u);
  EXPECT_EQ(job["nodules"]["test"].get<int>() + job["nodules"]["train"].get<int>() +
                job["nodules"]["validation"].get<int>(),
            200);
  const auto log = log_of(out.path());
  ASSERT_EQ(log.size(), 2u);
  EXPECT_TRUE(log[0].contains("validation"));
  EXPECT_GE(log[0]["validation"]["dsc"].get<double>(), 0.0);
  const storage::Predictions predictions = storage::read_predictions(out.path() / "predictions.h5");
  EXPECT_EQ(predictions.size(), static_cast<std::size_t>(job["nodules"]["test"].get<int>()));
  EXPECT_EQ(predictions.height, 50);
  EXPECT_TRUE(predictions.union_map.has_value());

  // A finished job is not trained again.
  const auto written = fs::last_write_time(out.path() / "checkpoint_final.pt");
  EXPECT_EQ(train_job(config, quiet(out.path())).outcome, TrainOutcome::kCompleted);
  EXPECT_EQ(fs::last_write_time(out.path() / "checkpoint_final.pt"), written);
}

// What a watcher (the orchestrator's monitoring) hears: every step with its times, every epoch's end
// with its validation Dice and checkpoint write time; alone, no time in an all-reduce.
TEST(Train, TellsItsWatcherEachStepsTimesAndEachEpochsEnd) {
  TemporaryFolder out;
  const Config config = tiny_config("unet", 2, {"training.validation_fraction=0.2", "training.checkpoint_every=1"});
  TrainOptions options = quiet(out.path());
  std::vector<StepReport> steps;
  std::vector<EpochReport> epochs;
  options.on_step = [&](const StepReport& report) { steps.push_back(report); };
  options.on_epoch_end = [&](const EpochReport& report) { epochs.push_back(report); };
  ASSERT_EQ(train_job(config, options).outcome, TrainOutcome::kCompleted);
  ASSERT_FALSE(steps.empty());
  for (const StepReport& step : steps) {
    EXPECT_GT(step.seconds, 0);
    EXPECT_EQ(step.allreduce_seconds, 0);
    EXPECT_GE(step.loader_wait_seconds, 0);
    EXPECT_LE(step.loader_wait_seconds, step.seconds);
  }
  ASSERT_EQ(epochs.size(), 2u);
  for (int e = 0; e < 2; ++e) {
    EXPECT_EQ(epochs[e].epoch, e);
    ASSERT_TRUE(epochs[e].validation_dsc.has_value()) << "epoch " << e;
    EXPECT_EQ(*epochs[e].validation_dsc, log_of(out.path())[e]["validation"]["dsc"].get<double>());
    ASSERT_TRUE(epochs[e].checkpoint_seconds.has_value()) << "epoch " << e << ": latest, then final";
    EXPECT_GT(*epochs[e].checkpoint_seconds, 0);
  }

  // Without a validation split there is no Dice; without a checkpoint at that epoch, no write time.
  TemporaryFolder plain;
  TrainOptions plain_options = quiet(plain.path());
  epochs.clear();
  plain_options.on_epoch_end = [&](const EpochReport& report) { epochs.push_back(report); };
  ASSERT_EQ(train_job(tiny_config("unet", 2, {"training.checkpoint_every=5"}), plain_options).outcome,
            TrainOutcome::kCompleted);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_FALSE(epochs[0].validation_dsc.has_value());
  EXPECT_FALSE(epochs[0].checkpoint_seconds.has_value());
  EXPECT_TRUE(epochs[1].checkpoint_seconds.has_value()) << "the final checkpoint";
}

TEST(Train, SelectionByValidationNeedsAValidationSplit) {
  try {
    tiny_config("unet", 1, {"training.model_selection=\"best_validation_dsc\""});
    FAIL() << "selection by validation without a validation split was accepted";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("validation_fraction"), std::string::npos) << error.what();
  }
}

TEST(Train, RefusesAFolderOfAnotherConfigurationNamingTheKey) {
  TemporaryFolder out;
  std::atomic<bool> flag{true};  // stop after the first step
  TrainOptions options = quiet(out.path());
  options.stop_requested = &flag;
  ASSERT_EQ(train_job(tiny_config("unet", 2), options).outcome, TrainOutcome::kStopped);
  try {
    train_job(tiny_config("unet", 2, {"optimizer.lr=0.01"}), quiet(out.path()));
    FAIL() << "a changed learning rate was accepted";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("optimizer.lr"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("config.toml"), std::string::npos) << error.what();
  }
  // A runtime key may change.
  EXPECT_EQ(train_job(tiny_config("unet", 2, {"training.prefetch_batches=1"}), quiet(out.path())).outcome,
            TrainOutcome::kCompleted);
}

TEST(Train, RefusesCorruptAndMismatchedCheckpointsWithoutHalfLoading) {
  TemporaryFolder out;
  const Config config = tiny_config("unet", 1);
  train_job(config, quiet(out.path() / "job"));
  const fs::path good = out.path() / "job" / "checkpoint_final.pt";

  auto net = model::make_network(config.model);
  auto optimizer = make_optimizer(config, *net);
  const model::StateDict before = [&] {
    model::StateDict copy;
    for (const auto& [name, t] : model::state_dict(*net)) copy.emplace_back(name, t.clone());
    return copy;
  }();

  // Truncated.
  const fs::path truncated = out.path() / "truncated.pt";
  fs::copy_file(good, truncated);
  fs::resize_file(truncated, fs::file_size(good) / 2);
  storage::testing::expect_error([&] { load_checkpoint(truncated, *net, *optimizer); }, truncated, "checkpoint");
  // Not a checkpoint at all.
  const fs::path text = out.path() / "text.pt";
  std::ofstream(text) << "hello";
  storage::testing::expect_error([&] { load_checkpoint(text, *net, *optimizer); }, text, "checkpoint");
  // Another network's checkpoint: refused by the tensor check before anything is copied.
  const Config other = tiny_config("unet", 1, {"model.base_width=16"});
  auto wider = model::make_network(other.model);
  auto wider_optimizer = make_optimizer(other, *wider);
  const fs::path mismatched = out.path() / "wider.pt";
  save_checkpoint(mismatched, {to_toml(other), {1, 0}, true, "test", {}}, *wider, *wider_optimizer);
  EXPECT_THROW(load_checkpoint(mismatched, *net, *optimizer), std::runtime_error);
  expect_bitwise_equal(before, model::state_dict(*net));
  EXPECT_TRUE(optimizer->state().empty());
}

}  // namespace
}  // namespace ugs::worker
