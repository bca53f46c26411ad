// Sweeps: the paper's sweep expands to the whole paper with shared jobs once, job identity follows
// the configuration (and not the runtime keys), dependencies order the jobs, and bad files are
// refused at their line and column with the closest known name.
#include "ugs/orchestrator/sweep.h"

#include <c10/util/hash.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/test_support.h"
#include "ugs/model/network.h"
#include "ugs/model/ugsnet.h"

namespace ugs::orchestrator {
namespace {

namespace fs = std::filesystem;
using storage::testing::run_ugs;
using storage::testing::TemporaryFolder;

const fs::path kPaperSweep = fs::path(UGS_SOURCE_DIR) / "experiments" / "paper.toml";
const fs::path kQuickstartSweep = fs::path(UGS_SOURCE_DIR) / "experiments" / "quickstart.toml";

// Two folds of a small sweep with two training experiments that share U-Net. Line numbers matter
// to the error tests below.
const std::string kSmall =
    "[sweep]\n"                             // 1
    "name = \"small\"\n"                    // 2
    "folds = [0, 1]\n"                      // 3
    "[defaults.data]\n"                     // 4
    "store = \"out/x\"\n"                   // 5
    "split = \"out/x/splits.json\"\n"       // 6
    "[defaults.training]\n"                 // 7
    "epochs = 4\n"                          // 8
    "[experiments.first]\n"                 // 9
    "networks = [\"unet\", \"attunet\"]\n"  // 10
    "[experiments.second]\n"                // 11
    "networks = [\"unet\", \"ugsnet\"]\n";  // 12

Sweep parse(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return parse_sweep(text, "small.toml", overrides);
}

// The message of the exception that parsing throws ("" if none).
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse(text, overrides);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> ids_of(const Sweep& sweep) {
  std::vector<std::string> ids;
  for (const Job& job : sweep.jobs) ids.push_back(job.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

const Job& job_of(const Sweep& sweep, const std::string& network, int fold, std::uint64_t seed = 0) {
  for (const Job& job : sweep.jobs) {
    if (job.kind == JobKind::kTraining && job.network == network && job.fold == fold && job.seed == seed) return job;
  }
  throw std::runtime_error("no job " + network + " fold " + std::to_string(fold));
}

// Every job comes after every job it depends on.
void expect_dependencies_first(const Sweep& sweep) {
  std::map<std::string, std::size_t> position;
  for (std::size_t i = 0; i < sweep.jobs.size(); ++i) position[sweep.jobs[i].id] = i;
  for (std::size_t i = 0; i < sweep.jobs.size(); ++i) {
    for (const std::string& dependency : sweep.jobs[i].depends_on) {
      ASSERT_TRUE(position.count(dependency)) << dependency;
      EXPECT_LT(position[dependency], i) << sweep.jobs[i].id << " runs before its dependency " << dependency;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The paper

TEST(Sweep, ThePaperIsTablesOneTwoAndThree) {
  const Sweep sweep = load_sweep(kPaperSweep);
  ASSERT_EQ(sweep.experiments.size(), 3u);
  const Experiment& table1 = sweep.experiment("table1");
  const Experiment& table2 = sweep.experiment("table2");
  const Experiment& table3 = sweep.experiment("table3");
  EXPECT_EQ(table1.paper_table, "I");
  EXPECT_EQ(table2.paper_table, "II");
  EXPECT_EQ(table3.paper_table, "III");
  EXPECT_EQ(sweep.settings.folds, (std::vector<int>{0, 1, 2, 3, 4}));

  // Table I: the seven comparison networks, then UGS-Net-V1 and UGS-Net (network_names() lists the
  // comparison networks first, then the UGS-Net family from ugsnet-v1).
  std::vector<std::string> table1_networks;
  for (const std::string& name : model::network_names()) {
    if (model::ugsnet_variants().end() == std::find_if(model::ugsnet_variants().begin(), model::ugsnet_variants().end(),
                                                       [&](const model::UgsVariant& v) { return v.name == name; })) {
      table1_networks.push_back(name);
    }
  }
  EXPECT_EQ(table1_networks.size(), 7u);
  table1_networks.push_back("ugsnet-v1");
  table1_networks.push_back("ugsnet");
  EXPECT_EQ(table1.networks, table1_networks);
  // Table II: the backbone (Attention U-Net), then every ablation variant in its order.
  std::vector<std::string> table2_networks = {"attunet"};
  for (const model::UgsVariant& variant : model::ugsnet_variants()) table2_networks.push_back(variant.name);
  EXPECT_EQ(table2.networks, table2_networks);
  EXPECT_EQ(table2.networks.size(), 7u);

  // 9 x 5 + 7 x 5 training jobs, of which Attention U-Net, V1 and UGS-Net (3 x 5) are shared: 65, + 1 analysis.
  EXPECT_EQ(table1.job_ids.size(), 45u);
  EXPECT_EQ(table2.job_ids.size(), 35u);
  EXPECT_EQ(table3.job_ids.size(), 1u);
  EXPECT_EQ(sweep.jobs.size(), 66u);
  const std::vector<std::string> ids = ids_of(sweep);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size()) << "a job is listed twice";
  std::size_t shared = 0;
  for (const Job& job : sweep.jobs) {
    if (job.experiments == std::vector<std::string>{"table1", "table2"}) {
      ++shared;
      EXPECT_TRUE(job.network == "attunet" || job.network == "ugsnet-v1" || job.network == "ugsnet") << job.network;
    }
  }
  EXPECT_EQ(shared, 15u);

  // Every training job has the paper's recipe.
  for (const Job& job : sweep.jobs) {
    if (job.kind != JobKind::kTraining) continue;
    EXPECT_EQ(job.config.training.recipe, worker::Recipe::kPaper);
    EXPECT_EQ(job.config.training.epochs, 200);
    EXPECT_EQ(job.config.training.batch_size, 32);
    EXPECT_DOUBLE_EQ(job.config.optimizer.lr, 1e-5);
    EXPECT_EQ(job.config.optimizer.kind, worker::OptimizerKind::kSgd);
    EXPECT_EQ(job.config.schedule.t0, 50);
    EXPECT_EQ(job.config.model.base_width, 64);
    EXPECT_EQ(job.config.preprocess.size, 64);
  }

  // Table III reads Table I's U-Net and UGS-Net on every fold, and runs after them.
  const Job& analysis = sweep.job(table3.job_ids.front());
  EXPECT_EQ(analysis.kind, JobKind::kAnalysis);
  std::vector<std::string> expected;
  for (const char* network : {"unet", "ugsnet"}) {
    for (int fold = 0; fold < 5; ++fold) expected.push_back(job_of(sweep, network, fold).id);
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(analysis.depends_on, expected);
  EXPECT_EQ(sweep.jobs.back().id, analysis.id);
  expect_dependencies_first(sweep);
  // With no other dependency, the costliest network goes first.
  EXPECT_EQ(sweep.jobs.front().network, "fcn32s");
}

TEST(Sweep, PlanCommandListsTheWholePaper) {
  TemporaryFolder folder;
  const fs::path json_file = folder / "plan.json";
  const auto result = run_ugs("plan '" + kPaperSweep.string() + "' --json '" + json_file.string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("66 unique jobs (65 training, 1 analysis)"), std::string::npos) << result.output;
  for (const std::string& network : model::network_names()) {
    EXPECT_NE(result.output.find(" " + network + " "), std::string::npos) << network;
  }
  const Sweep sweep = load_sweep(kPaperSweep);
  for (const Job& job : sweep.jobs) EXPECT_NE(result.output.find(job.id), std::string::npos) << job.id;

  // A bad sweep: exit code 1 and one line that says where.
  const fs::path bad = folder / "bad.toml";
  std::ofstream(bad) << kSmall << "[experiments.third]\nnetworks = [\"unett\"]\n";
  const auto refused = run_ugs("plan '" + bad.string() + "'");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.output,
            "ugs: error: " + bad.string() +
                ":14:13: unknown network 'unett' in [experiments.third] networks; did you mean 'unet'?\n");

  std::ifstream in(json_file);
  const nlohmann::json plan = nlohmann::json::parse(in);
  ASSERT_EQ(plan["jobs"].size(), 66u);
  EXPECT_EQ(plan["sweep"]["name"], "paper");
  EXPECT_EQ(plan["experiments"].size(), 3u);
  // A job's id is the first 12 hex digits of the SHA-1 of its configuration without the runtime keys,
  // and the configuration plan.json keeps reads back to it.
  for (const nlohmann::json& job : plan["jobs"]) {
    if (job["kind"] != "training") continue;
    const worker::Config config = worker::parse_config(job["config"].get<std::string>(), "plan.json");
    EXPECT_EQ(job["id"], c10::sha1(worker::identity_toml(config)).str().substr(0, 12));
    EXPECT_EQ(job["network"], config.model.name);
    EXPECT_EQ(job["fold"], config.data.fold);
  }
}

TEST(Sweep, QuickstartSweepHasThePapersShapeTiny) {
  const Sweep sweep = load_sweep(kQuickstartSweep);
  EXPECT_EQ(sweep.settings.folds.size(), 2u);
  std::set<std::string> tables;
  for (const Experiment& e : sweep.experiments) tables.insert(e.paper_table);
  EXPECT_EQ(tables, (std::set<std::string>{"I", "II", "III"}));
  for (const Job& job : sweep.jobs) {
    if (job.kind != JobKind::kTraining) continue;
    EXPECT_LE(job.config.training.epochs, 3);
    EXPECT_EQ(job.config.model.base_width, 8);
    EXPECT_EQ(job.config.preprocess.size, 32);
  }
  expect_dependencies_first(sweep);
}

// ---------------------------------------------------------------------------------------------------
// Identity

TEST(Sweep, TheSameConfigurationInTwoExperimentsIsOneJob) {
  const Sweep sweep = parse(kSmall);
  // first: unet, attunet; second: unet (shared), ugsnet; x 2 folds.
  EXPECT_EQ(sweep.jobs.size(), 6u);
  EXPECT_EQ(job_of(sweep, "unet", 0).experiments, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(job_of(sweep, "attunet", 1).experiments, std::vector<std::string>{"first"});
  EXPECT_EQ(sweep.experiment("second").job_ids.front(), job_of(sweep, "unet", 0).id);

  // An override makes the second experiment's U-Net another configuration: two jobs.
  const Sweep apart = parse(kSmall + "[experiments.second.overrides.training]\nepochs = 5\n");
  EXPECT_EQ(apart.jobs.size(), 8u);
}

TEST(Sweep, IdsFollowTheConfigurationButNotTheRuntimeKeys) {
  const std::vector<std::string> ids = ids_of(parse(kSmall));
  EXPECT_EQ(ids_of(parse(kSmall)), ids);
  EXPECT_EQ(ids.front().size(), 12u);
  for (const char* runtime : {"training.device=cuda", "training.prefetch_batches=7", "training.checkpoint_every=1"}) {
    EXPECT_EQ(ids_of(parse(kSmall, {runtime})), ids) << runtime;
  }
  const Sweep runtime = parse(kSmall, {"training.device=cuda"});
  EXPECT_EQ(runtime.jobs.front().config.training.device, "cuda");

  for (const char* change :
       {"training.epochs=5", "loss.a1=0.25", "preprocess.size=32", "data.split=out/y/splits.json"}) {
    const std::vector<std::string> changed = ids_of(parse(kSmall, {change}));
    std::vector<std::string> common;
    std::set_intersection(ids.begin(), ids.end(), changed.begin(), changed.end(), std::back_inserter(common));
    EXPECT_TRUE(common.empty()) << change << " kept some ids";
  }
  // A key changed in one experiment changes only its jobs.
  const Sweep one = parse(kSmall + "[experiments.second.overrides.loss]\na3 = 2.0\n");
  EXPECT_EQ(job_of(one, "attunet", 0).id, job_of(parse(kSmall), "attunet", 0).id);
  EXPECT_NE(job_of(one, "ugsnet", 0).id, job_of(parse(kSmall), "ugsnet", 0).id);
}

TEST(Sweep, FoldersAreReadableUniqueAndGroupAConfigurationsFolds) {
  const Sweep sweep = parse(kSmall, {"sweep.seeds=[0, 3]"});
  EXPECT_EQ(sweep.jobs.size(), 12u);
  std::set<fs::path> folders;
  for (const Job& job : sweep.jobs) folders.insert(job.folder);
  EXPECT_EQ(folders.size(), sweep.jobs.size());
  const fs::path fold0 = job_of(sweep, "unet", 0).folder;
  const fs::path fold1_seed3 = job_of(sweep, "unet", 1, 3).folder;
  EXPECT_EQ(fold0.filename(), "fold_0");
  EXPECT_EQ(fold1_seed3.filename(), "fold_1_seed3");
  EXPECT_EQ(fold0.parent_path(), fold1_seed3.parent_path());
  EXPECT_EQ(fold0.parent_path().parent_path(), "jobs");
  EXPECT_EQ(fold0.parent_path().filename().string().rfind("unet-", 0), 0u) << fold0;
  EXPECT_NE(job_of(sweep, "attunet", 0).folder.parent_path(), fold0.parent_path());
  // Seeds other than 0 do not move the folders of seed 0: a folder is a function of its job.
  EXPECT_EQ(job_of(parse(kSmall), "unet", 0).folder, fold0);
}

// ---------------------------------------------------------------------------------------------------
// Order and cost

TEST(Sweep, DependenciesFirstThenTheLongestChainOfWork) {
  // `cheap` is short but `long` waits for it; `medium` waits for nothing. Longest-first alone would
  // start `medium` first; the chain cheap -> long is longer, so `cheap` goes first.
  const std::string text =
      "[sweep]\nfolds = [0]\n[defaults.data]\nstore = \"out/x\"\n"
      "[experiments.long]\nnetworks = [\"fcn32s\"]\nafter = [\"cheap\"]\n"
      "[experiments.long.overrides.training]\nepochs = 100\n"
      "[experiments.medium]\nnetworks = [\"attunet\"]\n[experiments.medium.overrides.training]\nepochs = 10\n"
      "[experiments.cheap]\nnetworks = [\"unet\"]\n[experiments.cheap.overrides.training]\nepochs = 1\n";
  const Sweep sweep = parse(text);
  ASSERT_EQ(sweep.jobs.size(), 3u);
  EXPECT_EQ(sweep.jobs[0].network, "unet");
  EXPECT_EQ(sweep.jobs[1].network, "fcn32s");
  EXPECT_EQ(sweep.jobs[2].network, "attunet");
  EXPECT_EQ(sweep.jobs[1].depends_on, std::vector<std::string>{sweep.jobs[0].id});
  EXPECT_DOUBLE_EQ(sweep.jobs[0].priority, sweep.jobs[0].estimated_cost + sweep.jobs[1].estimated_cost);
  EXPECT_DOUBLE_EQ(sweep.jobs[1].estimated_cost, 100 * relative_cost("fcn32s"));  // no split: 1 nodule
  EXPECT_FALSE(sweep.nodule_counts_known);
  expect_dependencies_first(sweep);
}

TEST(Sweep, CostsCountTheTrainingNodulesOfTheSplit) {
  TemporaryFolder folder;
  const fs::path split = folder / "splits.json";
  std::ofstream(split)
      << R"([{"train": ["a", "b", "c"], "val": ["d"]}, {"train": ["a", "b", "c", "d", "e"], "val": []}])";
  const std::string text = "[sweep]\nfolds = [0, 1]\n[defaults.data]\nstore = \"out/x\"\nsplit = \"" + split.string() +
                           "\"\n[defaults.training]\nepochs = 2\n[experiments.e]\nnetworks = [\"ugsnet\"]\n";
  const Sweep sweep = parse(text);
  EXPECT_TRUE(sweep.nodule_counts_known);
  EXPECT_DOUBLE_EQ(job_of(sweep, "ugsnet", 0).estimated_cost, 2 * 3 * relative_cost("ugsnet"));
  EXPECT_DOUBLE_EQ(job_of(sweep, "ugsnet", 1).estimated_cost, 2 * 5 * relative_cost("ugsnet"));
  // The longer fold goes first.
  EXPECT_EQ(sweep.jobs.front().fold, 1);
  EXPECT_EQ(error_of(text, {"sweep.folds=[0, 2]"}), "override 'sweep.folds=[0, 2]': [sweep] folds: fold 2 is not in " +
                                                        split.string() + ", which has 2 folds (0-1)");
}

TEST(Sweep, EveryNetworkHasARelativeCost) {
  for (const std::string& network : model::network_names()) EXPECT_GT(relative_cost(network), 0.0) << network;
  EXPECT_DOUBLE_EQ(relative_cost("unet"), 1.0);
  EXPECT_THROW(relative_cost("resnet"), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------------
// Errors

TEST(Sweep, UnknownKeysNameLineColumnAndTheClosestName) {
  EXPECT_EQ(error_of(kSmall + "[experiments.third]\nnetwroks = [\"unet\"]\n"),
            "small.toml:14:1: unknown key 'netwroks' in [experiments.third]; did you mean 'networks'?");
  EXPECT_EQ(error_of("[sweep]\nfoldz = [0]\n" + kSmall.substr(8)),
            "small.toml:2:1: unknown key 'foldz' in [sweep]; did you mean 'folds'?");
  EXPECT_EQ(error_of(kSmall + "[experiment.third]\n"),
            "small.toml:13:2: unknown table [experiment]; did you mean [experiments]?");
  EXPECT_EQ(error_of("[training]\nepochs = 3\n" + kSmall),
            "small.toml:1:2: unknown table [training]; job tables go under [defaults] ([defaults.training]) or an "
            "experiment's overrides");
  EXPECT_EQ(error_of(kSmall + "reference = \"unet\"\n"),
            "small.toml:13:1: unknown key 'reference' in [experiments.second]; 'reference' is a key of kind = "
            "\"complex_nodules\" experiments");
  // The job tables are the worker's: its errors, at the sweep file's lines, with its tables' names.
  EXPECT_EQ(error_of(kSmall + "[defaults.optimizer]\nlrr = 1e-3\n"),
            "small.toml:14:1: unknown key 'lrr' in [defaults.optimizer]; did you mean 'lr'?");
  EXPECT_EQ(error_of(kSmall + "[experiments.second.overrides.trainig]\nepochs = 3\n"),
            "small.toml:13:31: unknown table [experiments.second.overrides.trainig]; did you mean "
            "[experiments.second.overrides.training]?");
  // Overrides are named as such.
  EXPECT_EQ(error_of(kSmall, {"sweep.foldz=[0]"}),
            "override 'sweep.foldz=[0]': unknown key 'foldz' in [sweep]; did you mean 'folds'?");
  EXPECT_EQ(error_of(kSmall, {"training.epoch=3"}),
            "override 'training.epoch=3': unknown key 'epoch' in [training]; did you mean 'epochs'?");
}

TEST(Sweep, WrongValuesNameLineColumnAndWhatIsExpected) {
  EXPECT_EQ(error_of("[sweep]\nfolds = [0, 0]\n" + kSmall.substr(kSmall.find("[defaults"))),
            "small.toml:2:13: [sweep] folds names 0 twice");
  EXPECT_EQ(error_of("[sweep]\nfolds = [-1]\n" + kSmall.substr(kSmall.find("[defaults"))),
            "small.toml:2:10: [sweep] folds must be a list of distinct fold numbers >= 0, got -1");
  EXPECT_EQ(error_of("[sweep]\nranks_per_job = 0\n" + kSmall.substr(kSmall.find("[defaults"))),
            "small.toml:2:17: [sweep] ranks_per_job must be an integer in [1, 1048576], got 0");
  EXPECT_EQ(error_of(kSmall + "kind = \"complex_nodule\"\n"),
            "small.toml:13:8: [experiments.second] kind must be \"training\" or \"complex_nodules\", got "
            "'complex_nodule'");
  EXPECT_EQ(error_of(kSmall + "paper_table = \"IV\"\n"),
            "small.toml:13:15: [experiments.second] paper_table must be \"I\", \"II\" or \"III\", got 'IV'");
  EXPECT_EQ(error_of(kSmall + "[experiments.third]\ndescription = \"no networks\"\n"),
            "small.toml:13:1: [experiments.third] needs networks = [...], some of 'fcn32s', 'unet', 'r2unet', "
            "'r2aunet', 'attunet', 'nested-unet', 'channel-unet', 'ugsnet-v1', 'ugsnet-v1-phi-a', 'ugsnet-v1-phi-b', "
            "'ugsnet-v1-phi-ab', 'ugsnet-v1-iucm', 'ugsnet'");
  EXPECT_EQ(error_of("[sweep\n"), "small.toml:1:7: Error while parsing table header: expected ']', saw '\\n'");
  EXPECT_EQ(error_of(kSmall + "baseline = \"attunet\"\n"),
            "small.toml:13:12: [experiments.second] baseline must be one of its networks ('unet', 'ugsnet'), got "
            "'attunet'");
}

TEST(Sweep, TheBaselineOfAnExperimentReachesThePlan) {
  const Sweep sweep = parse(kSmall + "baseline = \"ugsnet\"\n");
  EXPECT_EQ(sweep.experiment("second").baseline, "ugsnet");
  EXPECT_EQ(sweep.experiment("first").baseline, "");
  const auto plan = nlohmann::json::parse(plan_json(sweep));
  EXPECT_EQ(plan["experiments"][1]["baseline"], "ugsnet");
  EXPECT_FALSE(plan["experiments"][0].contains("baseline"));
  EXPECT_EQ(load_sweep(kPaperSweep).experiment("table1").baseline, "unet");
  EXPECT_EQ(load_sweep(kPaperSweep).experiment("table2").baseline, "attunet");
}

TEST(Sweep, UnknownNetworksAndExperimentsGetTheClosestName) {
  EXPECT_EQ(error_of(kSmall + "[experiments.third]\nnetworks = [\"unet\", \"nestedunet\"]\n"),
            "small.toml:14:21: unknown network 'nestedunet' in [experiments.third] networks; did you mean "
            "'nested-unet'?");
  EXPECT_EQ(error_of(kSmall + "after = [\"frist\"]\n"),
            "small.toml:13:10: [experiments.second] after names an unknown experiment 'frist'; did you mean 'first'?");
  EXPECT_EQ(error_of(kSmall + "after = [\"zzzzzz\"]\n"),
            "small.toml:13:10: [experiments.second] after names an unknown experiment 'zzzzzz'; experiments: "
            "'first', 'second'");
}

TEST(Sweep, DependencyCyclesAreNamed) {
  EXPECT_EQ(error_of(kSmall + "after = [\"second\"]\n"),
            "small.toml:13:9: a cycle of `after`s: second -> second (each must run after the next)");
  const std::string cycle = kSmall.substr(0, kSmall.find("[experiments.second]")) + "after = [\"third\"]\n" +
                            "[experiments.second]\nnetworks = [\"ugsnet\"]\nafter = [\"first\"]\n" +
                            "[experiments.third]\nnetworks = [\"attunet\"]\nafter = [\"second\"]\n";
  EXPECT_EQ(error_of(cycle),
            "small.toml:11:9: a cycle of `after`s: first -> third -> second -> first (each must run "
            "after the next)");
  // A job shared by two experiments, one after the other, would wait for itself.
  const std::string shared = kSmall + "after = [\"first\"]\n";
  EXPECT_NE(error_of(shared).find("would wait for itself"), std::string::npos) << error_of(shared);
}

TEST(Sweep, KeysChosenPerJobAreRefusedElsewhere) {
  EXPECT_EQ(error_of(kSmall + "[defaults.model]\nname = \"unet\"\n"),
            "small.toml:14:8: [defaults.model] name is chosen per job by the experiment's networks; remove it here");
  EXPECT_EQ(error_of(kSmall + "[experiments.second.overrides.training]\nseed = 3\n"),
            "small.toml:14:8: [experiments.second.overrides.training] seed is chosen per job by [sweep] seeds; "
            "remove it here");
  EXPECT_EQ(error_of(kSmall, {"data.fold=1"}), "override 'data.fold=1': data.fold is chosen per job by [sweep] folds");
}

TEST(Sweep, AnalysesReadTrainedNetworks) {
  const std::string worst = kSmall +
                            "[experiments.worst]\nkind = \"complex_nodules\"\nnetworks = [\"unet\", \"ugsnet\"]\n"
                            "reference = \"unet\"\n";
  const Sweep sweep = parse(worst + "after = [\"first\", \"second\"]\n");
  const Experiment& e = sweep.experiment("worst");
  EXPECT_EQ(e.dsc_thresholds, (std::vector<double>{0.6, 0.7, 0.8}));  // the paper's, by default
  ASSERT_EQ(e.job_ids.size(), 1u);
  const Job& analysis = sweep.job(e.job_ids.front());
  EXPECT_EQ(analysis.depends_on.size(), 4u);  // U-Net and UGS-Net, two folds each; not Attention U-Net
  EXPECT_EQ(analysis.folder.parent_path(), "analysis");
  EXPECT_EQ(sweep.jobs.back().id, analysis.id);
  expect_dependencies_first(sweep);
  // Its id follows what it reads.
  const Sweep retrained = parse(worst + "after = [\"first\", \"second\"]\n", {"training.epochs=5"});
  EXPECT_NE(retrained.job(retrained.experiment("worst").job_ids.front()).id, analysis.id);

  EXPECT_EQ(error_of(worst + "after = [\"first\"]\n"),
            "small.toml: [experiments.worst] compares 'ugsnet', but none of the experiments it runs after ('first') "
            "trains it");
  EXPECT_EQ(error_of(worst),
            "small.toml:13:1: [experiments.worst] needs after = [...]: the experiments that train "
            "'unet', 'ugsnet'");
  EXPECT_EQ(error_of(kSmall + "[experiments.worst]\nkind = \"complex_nodules\"\nnetworks = [\"unet\"]\n"
                              "after = [\"first\"]\nreference = \"ugsnet\"\n"),
            "small.toml:17:13: [experiments.worst] reference must be one of its networks ('unet'), got 'ugsnet'");
  EXPECT_EQ(error_of(worst + "after = [\"first\", \"second\"]\n[experiments.worst.overrides.training]\nepochs = 1\n"),
            "small.toml:18:20: unknown key 'overrides' in [experiments.worst]; an analysis trains nothing: "
            "'overrides' is a key of kind = \"training\" experiments");
}

}  // namespace
}  // namespace ugs::orchestrator
