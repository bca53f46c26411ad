// The training configuration: defaults, the two recipes, layering, overrides, and every kind of bad
// input refused with where it is and what would fix it.
#include "ugs/worker/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace ugs::worker {
namespace {

namespace fs = std::filesystem;

const std::string kMinimal = "[data]\nstore = \"out/lidc\"\n";

// The message of the exception that parsing `text` throws ("" if it throws none).
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(text, "train.toml", overrides);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsAreThePaperRecipe) {
  const Config c = parse_config(kMinimal, "train.toml");
  EXPECT_EQ(c.training.recipe, Recipe::kPaper);
  EXPECT_EQ(c.optimizer.kind, OptimizerKind::kSgd);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 1e-5);
  EXPECT_DOUBLE_EQ(c.optimizer.momentum, 0.9);
  EXPECT_DOUBLE_EQ(c.optimizer.weight_decay, 1e-4);
  EXPECT_EQ(c.schedule.kind, ScheduleKind::kCosineRestarts);
  EXPECT_EQ(c.schedule.t0, 50);
  EXPECT_EQ(c.schedule.t_mult, 1);
  EXPECT_EQ(c.training.epochs, 200);
  EXPECT_EQ(c.training.batch_size, 32);
  EXPECT_EQ(c.preprocess.size, 64);
  EXPECT_DOUBLE_EQ(c.preprocess.mask_threshold, 0.5);
  ASSERT_EQ(c.preprocess.windows.size(), 1u);
  EXPECT_EQ(c.preprocess.windows[0], (HuWindow{-1000, 800}));
  EXPECT_EQ(c.model.in_channels, 1);  // follows the windows
  EXPECT_EQ(c.model.name, "ugsnet");
  EXPECT_DOUBLE_EQ(c.loss.a1, 0.5);
  EXPECT_DOUBLE_EQ(c.loss.a2, 0.5);
  EXPECT_DOUBLE_EQ(c.loss.a3, 1.0);
  EXPECT_FALSE(c.augment.flips);
  EXPECT_EQ(c.data.single_target, SingleTarget::kLabel1);
  EXPECT_TRUE(c.data.store.is_absolute());
  EXPECT_EQ(c.data.store, fs::current_path() / "out" / "lidc");
}

TEST(Config, PublishedRecipe) {
  const Config c = parse_config(kMinimal + "[training]\nrecipe = \"published\"\n", "train.toml");
  EXPECT_EQ(c.optimizer.kind, OptimizerKind::kAdam);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 1e-4);
  EXPECT_DOUBLE_EQ(c.optimizer.betas[0], 0.5);
  EXPECT_DOUBLE_EQ(c.optimizer.betas[1], 0.999);
  EXPECT_EQ(c.schedule.t0, 50);
  EXPECT_EQ(c.schedule.t_mult, 2);
  EXPECT_DOUBLE_EQ(c.schedule.eta_min, 0.0);
  EXPECT_EQ(c.schedule.update, ScheduleUpdate::kEpoch);
  EXPECT_EQ(c.training.epochs, 150);
  EXPECT_EQ(c.training.batch_size, 8);
  EXPECT_FALSE(c.training.shuffle);
  EXPECT_EQ(c.preprocess.windows, kPublishedWindows);
  EXPECT_EQ(c.model.in_channels, 3);
}

TEST(Config, LayersDefaultsRecipeFileOverrides) {
  const std::string text = kMinimal + "[training]\nrecipe = \"published\"\nbatch_size = 16\nepochs = 20\n";
  const Config file = parse_config(text, "train.toml");
  EXPECT_EQ(file.training.batch_size, 16);        // the file beats the recipe
  EXPECT_EQ(file.optimizer.kind, OptimizerKind::kAdam);  // the recipe beats the defaults

  const Config overridden = parse_config(text, "train.toml", {"training.batch_size=4", "optimizer.lr=3e-4"});
  EXPECT_EQ(overridden.training.batch_size, 4);   // an override beats the file
  EXPECT_DOUBLE_EQ(overridden.optimizer.lr, 3e-4);
  EXPECT_EQ(overridden.training.epochs, 20);

  // A recipe given as an override is applied first too: the file's keys still win over it.
  const Config recipe = parse_config(kMinimal + "[training]\nepochs = 7\n", "train.toml", {"training.recipe=published"});
  EXPECT_EQ(recipe.optimizer.kind, OptimizerKind::kAdam);
  EXPECT_EQ(recipe.training.batch_size, 8);
  EXPECT_EQ(recipe.training.epochs, 7);

  // Later overrides win over earlier ones.
  EXPECT_EQ(parse_config(kMinimal, "t", {"training.seed=1", "training.seed=9"}).training.seed, 9u);
}

TEST(Config, OverrideValuesAreTomlOrPlainStrings) {
  const Config c = parse_config("", "train.toml",
                                {"data.store=runs/../out/lidc", "preprocess.windows=\"published3\"",
                                 "training.device=cuda:1", "augment.flips=true", "model.name=unet"});
  EXPECT_EQ(c.data.store, fs::current_path() / "out" / "lidc");
  EXPECT_EQ(c.preprocess.windows.size(), 3u);
  EXPECT_EQ(c.model.in_channels, 3);
  EXPECT_EQ(c.training.device, "cuda:1");
  EXPECT_TRUE(c.augment.flips);
  EXPECT_EQ(c.model.name, "unet");
}

TEST(Config, WindowsAsPairsOrPresets) {
  const Config pairs = parse_config(kMinimal + "[preprocess]\nwindows = [[-1350, 150], [-160, 240.5]]\n", "t");
  ASSERT_EQ(pairs.preprocess.windows.size(), 2u);
  EXPECT_EQ(pairs.preprocess.windows[0], (HuWindow{-1350, 150}));
  EXPECT_EQ(pairs.preprocess.windows[1], (HuWindow{-160, 240.5}));
  EXPECT_EQ(pairs.model.in_channels, 2);
  const Config one = parse_config(kMinimal + "[training]\nrecipe = \"published\"\n[preprocess]\nwindows = "
                                             "\"published1\"\n", "t");
  EXPECT_EQ(one.preprocess.windows, std::vector<HuWindow>{kPublishedWindows.front()});
  EXPECT_EQ(one.model.in_channels, 1);
}

TEST(Config, UnknownKeysNameLineColumnAndTheClosestName) {
  EXPECT_EQ(error_of(kMinimal + "[optimizer]\nlrr = 1e-3\n"),
            "train.toml:4:1: unknown key 'lrr' in [optimizer]; did you mean 'lr'?");
  EXPECT_EQ(error_of(kMinimal + "[training]\n  batchsize = 8\n"),
            "train.toml:4:3: unknown key 'batchsize' in [training]; did you mean 'batch_size'?");
  EXPECT_EQ(error_of(kMinimal + "[optimiser]\nlr = 1e-3\n"),
            "train.toml:3:2: unknown table [optimiser]; did you mean [optimizer]?");
  EXPECT_EQ(error_of("epochs = 3\n" + kMinimal),
            "train.toml:1:1: unknown top-level key 'epochs'; did you mean 'epochs' in [training]?");
  EXPECT_EQ(error_of(kMinimal + "seed = 3\n"),
            "train.toml:3:1: unknown key 'seed' in [data]; 'seed' belongs in [training]");
  EXPECT_EQ(error_of(kMinimal + "[model]\ncolour = 3\n"), "train.toml:4:1: unknown key 'colour' in [model]");
  EXPECT_EQ(error_of(kMinimal, {"training.epoch=3"}),
            "override 'training.epoch=3': unknown key 'epoch' in [training]; did you mean 'epochs'?");
}

TEST(Config, WrongTypesAndRangesNameLineColumnAndWhatIsExpected) {
  EXPECT_EQ(error_of(kMinimal + "[training]\nbatch_size = \"32\"\n"),
            "train.toml:4:14: [training] batch_size must be an integer >= 1, got '32'");
  EXPECT_EQ(error_of(kMinimal + "[training]\nbatch_size = 0\n"),
            "train.toml:4:14: [training] batch_size must be an integer >= 1, got 0");
  EXPECT_EQ(error_of(kMinimal + "[training]\nepochs = 2.5\n"),
            "train.toml:4:10: [training] epochs must be an integer >= 1, got 2.5");
  EXPECT_EQ(error_of(kMinimal + "[optimizer]\nlr = -1\n"), "train.toml:4:6: [optimizer] lr must be a number > 0, got -1");
  EXPECT_EQ(error_of(kMinimal + "[optimizer]\nkind = \"rmsprop\"\n"),
            "train.toml:4:8: [optimizer] kind must be \"sgd\" or \"adam\", got 'rmsprop'");
  EXPECT_EQ(error_of(kMinimal + "[optimizer]\nbetas = [0.5]\n"),
            "train.toml:4:9: [optimizer] betas must be two numbers in [0, 1), got [ 0.5 ]");
  EXPECT_EQ(error_of(kMinimal + "[training]\ndevice = \"gpu\"\n"),
            "train.toml:4:10: [training] device must be \"cpu\", \"cuda\" or \"cuda:N\", got 'gpu'");
  EXPECT_EQ(error_of(kMinimal + "[augment]\nflips = 1\n"), "train.toml:4:9: [augment] flips must be true or false, got 1");
  EXPECT_EQ(error_of(kMinimal + "[training]\nvalidation_fraction = 1.0\n"),
            "train.toml:4:23: [training] validation_fraction must be a number in [0, 1), got 1.0");
  const std::string windows = error_of(kMinimal + "[preprocess]\nwindows = [[800, -1000]]\n");
  EXPECT_EQ(windows.rfind("train.toml:4:12: [preprocess] windows must be a list of [lo, hi] HU pairs with lo < hi", 0),
            0u)
      << windows;
  EXPECT_NE(error_of(kMinimal + "[preprocess]\nwindows = \"lung\"\n").find("\"published1\", \"published3\""),
            std::string::npos);
  EXPECT_EQ(error_of("training = 3\n" + kMinimal), "train.toml:1:12: 'training' must be a table ([training])");
  EXPECT_EQ(error_of(kMinimal, {"training.seed=-1"}),
            "override 'training.seed=-1': [training] seed must be an integer >= 0, got -1");
}

TEST(Config, MalformedTomlNamesTheFile) {
  const std::string message = error_of("[data]\nstore = \"out/lidc\n");
  EXPECT_EQ(message.rfind("train.toml:2:18: Error while parsing string", 0), 0u) << message;
  EXPECT_EQ(error_of("", {"epochs=3"}), "override 'epochs=3': expected section.key=value, e.g. training.epochs=3");
  EXPECT_EQ(error_of("", {"training.epochs"}),
            "override 'training.epochs': expected section.key=value, e.g. training.epochs=3");
}

TEST(Config, MissingFileIsNamed) {
  try {
    load_config("no/such/train.toml");
    FAIL() << "a missing file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "no/such/train.toml: cannot open the configuration file");
  }
}

TEST(Config, ContradictionsNameBothKeys) {
  EXPECT_EQ(error_of(""), "train.toml: [data] store is required: the nodule store to train on");
  EXPECT_EQ(error_of(kMinimal + "fold = 2\n"), "train.toml: [data] fold = 2 needs a [data] split file");
  EXPECT_EQ(error_of(kMinimal + "[model]\nin_channels = 3\n"),
            "train.toml: [model] in_channels = 3 but [preprocess] windows makes 1 channel(s); set in_channels = 0 "
            "to follow the windows");
  EXPECT_EQ(error_of(kMinimal + "[schedule]\neta_min = 1e-3\n"),
            "train.toml: [schedule] eta_min = 0.001 exceeds [optimizer] lr = 1e-05, the top of each cycle");
  // Consistent explicit values are fine.
  EXPECT_EQ(parse_config(kMinimal + "[model]\nin_channels = 1\n", "t").model.in_channels, 1);
}

TEST(Config, ResolvedTomlReadsBackToTheSameConfig) {
  const std::string text = kMinimal +
                           "split = \"out/splits_final.json\"\nfold = 3\nsingle_target = \"union\"\n"
                           "[training]\nrecipe = \"published\"\nseed = 12345678901\nlast_batch = \"drop\"\n"
                           "[preprocess]\nwindows = [[-1350, 150.25]]\nsize = 96\n"
                           "[optimizer]\nweight_decay = 3e-7\n[augment]\nrot90 = true\n"
                           "[loss]\nsingle_mask = \"bce+dice\"\nphi_a_over_set = false\n";
  const Config config = parse_config(text, "train.toml", {"schedule.update=\"step\""});
  const std::string resolved = to_toml(config);
  const Config again = parse_config(resolved, "resolved.toml");
  EXPECT_EQ(to_toml(again), resolved);
  EXPECT_EQ(again.data.split, fs::current_path() / "out" / "splits_final.json");
  EXPECT_EQ(again.data.fold, 3);
  EXPECT_EQ(again.training.seed, 12345678901u);
  EXPECT_EQ(again.training.last_batch, LastBatch::kDrop);
  EXPECT_DOUBLE_EQ(again.optimizer.weight_decay, 3e-7);
  EXPECT_DOUBLE_EQ(again.optimizer.lr, 1e-4);
  EXPECT_EQ(again.preprocess.windows, (std::vector<HuWindow>{{-1350, 150.25}}));
  EXPECT_EQ(again.schedule.update, ScheduleUpdate::kStep);
  EXPECT_EQ(again.loss.single_mask, SingleMaskLoss::kBceDice);
  EXPECT_FALSE(again.loss.phi_a_over_set);
  EXPECT_TRUE(again.augment.rot90);
  // Every table is written, with every key.
  for (const char* table : {"[data]", "[model]", "[loss]", "[optimizer]", "[schedule]", "[training]",
                            "[preprocess]", "[augment]"}) {
    EXPECT_NE(resolved.find(table), std::string::npos) << table;
  }
  EXPECT_NE(resolved.find("prefetch_batches = 3"), std::string::npos) << resolved;
}

// A sweep file keeps job tables under [defaults] and under each experiment: they layer in the order
// given, and errors name the file's own lines and the tables as it spells them.
TEST(Config, TablesOfALargerDocumentLayerInOrder) {
  const std::string sweep =
      "[sweep]\nname = \"s\"\n"                                                   // lines 1-2
      "[defaults.data]\nstore = \"out/lidc\"\n"                                   // lines 3-4
      "[defaults.training]\nrecipe = \"published\"\nepochs = 20\n"                 // lines 5-7
      "[experiments.long.overrides.training]\nepochs = 40\n";                       // lines 8-9
  const Config defaults = parse_config_tables(sweep, "sweep.toml", {"defaults"});
  EXPECT_EQ(defaults.training.epochs, 20);
  EXPECT_EQ(defaults.optimizer.kind, OptimizerKind::kAdam);  // the recipe of [defaults.training]
  EXPECT_EQ(defaults.data.store, fs::current_path() / "out" / "lidc");
  const Config longer = parse_config_tables(sweep, "sweep.toml", {"defaults", "experiments.long.overrides"});
  EXPECT_EQ(longer.training.epochs, 40);
  EXPECT_EQ(longer.optimizer.kind, OptimizerKind::kAdam);
  const Config overridden = parse_config_tables(sweep, "sweep.toml", {"defaults", "experiments.long.overrides",
                                                                      "experiments.absent.overrides"},
                                                {"training.epochs=3"});
  EXPECT_EQ(overridden.training.epochs, 3);
  EXPECT_EQ(to_toml(longer), to_toml(parse_config(to_toml(longer), "resolved.toml")));

  auto error_in = [](const std::string& text, const std::vector<std::string>& tables) -> std::string {
    try {
      parse_config_tables(text, "sweep.toml", tables);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_in(sweep + "lrr = 1\n", {"defaults", "experiments.long.overrides"}),
            "sweep.toml:10:1: unknown key 'lrr' in [experiments.long.overrides.training]; did you mean 'lr'?");
  EXPECT_EQ(error_in(sweep + "[defaults.trainig]\n", {"defaults"}),
            "sweep.toml:10:2: unknown table [defaults.trainig]; did you mean [defaults.training]?");
  EXPECT_EQ(error_in(sweep + "[defaults.data.x]\n", {"defaults"}),
            "sweep.toml:10:2: unknown key 'x' in [defaults.data]");
  EXPECT_EQ(error_in(sweep + "[defaults.optimizer]\nepochs = 1\n", {"defaults"}),
            "sweep.toml:11:1: unknown key 'epochs' in [defaults.optimizer]; 'epochs' belongs in "
            "[defaults.training]");
  EXPECT_EQ(error_in("defaults = 3\n", {"defaults"}), "sweep.toml:1:12: 'defaults' must be a table ([defaults])");
  EXPECT_EQ(error_in("[defaults]\nepochs = 3\n", {"defaults"}),
            "sweep.toml:2:1: unknown key 'epochs' in [defaults]; did you mean 'epochs' in [defaults.training]?");
  // Only the named tables are read: the rest of the document is the caller's.
  EXPECT_EQ(error_in(sweep + "[other]\nanything = 1\n", {"defaults"}), "");
}

// The identity text leaves out exactly the keys that change speed, not results.
TEST(Config, IdentityLeavesOutTheRuntimeKeys) {
  const Config config = parse_config(kMinimal, "train.toml");
  Config faster = config;
  faster.training.device = "cuda:1";
  faster.training.prefetch_batches = 9;
  faster.training.checkpoint_every = 1;
  EXPECT_NE(to_toml(faster), to_toml(config));
  EXPECT_EQ(identity_toml(faster), identity_toml(config));
  Config other = config;
  other.training.deterministic = true;
  EXPECT_NE(identity_toml(other), identity_toml(config));
  const std::string identity = identity_toml(config);
  EXPECT_EQ(identity.find("device"), std::string::npos) << identity;
  EXPECT_EQ(identity.find("prefetch_batches"), std::string::npos) << identity;
  EXPECT_EQ(identity.find("checkpoint_every"), std::string::npos) << identity;
  EXPECT_NE(identity.find("batch_size = 32"), std::string::npos) << identity;
  EXPECT_TRUE(is_runtime_key("training.device"));
  EXPECT_FALSE(is_runtime_key("training.epochs"));
}

TEST(Config, TheExampleFileIsValid) {
  const fs::path example = fs::path(UGS_SOURCE_DIR) / "experiments" / "examples" / "train-ugsnet.toml";
  const Config config = load_config(example);
  EXPECT_EQ(config.model.name, "ugsnet");
  EXPECT_EQ(config.training.recipe, Recipe::kPaper);
}

}  // namespace
}  // namespace ugs::worker
