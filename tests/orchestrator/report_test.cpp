// The report: a run folder built by hand (a plan from a small sweep, summaries with known numbers, a
// ledger with a failed, a running and a pending job) gives tables whose means, population standard
// deviations and paired differences are the ones worked out by hand below; jobs without a result show
// as such; the CSV and JSON read back; the paper's numbers are beside ours and reproduce themselves.
#include "ugs/orchestrator/report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/test_support.h"
#include "ugs/orchestrator/ledger.h"
#include "ugs/orchestrator/paper_results.h"
#include "ugs/orchestrator/sweep.h"
#include "ugs/storage/atomic_file.h"
#include "ugs/storage/predictions.h"
#include "ugs/worker/config.h"
#include "ugs/worker/scoring.h"

namespace ugs::orchestrator {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using storage::testing::run_ugs;
using storage::testing::TemporaryFolder;

// Three folds of U-Net, Attention U-Net and UGS-Net as Table I, and their Complex-Nodule Validation.
std::string sweep_text(const fs::path& store) {
  return "[sweep]\n"
         "name = \"fake\"\n"
         "folds = [0, 1, 2]\n"
         "[defaults.data]\n"
         "store = \"" + store.generic_string() + "\"\n"
         "split = \"" + (store / "splits.json").generic_string() + "\"\n"  // need not exist
         "[defaults.training]\n"
         "epochs = 1\n"
         "[experiments.table1]\n"
         "paper_table = \"I\"\n"
         "networks = [\"unet\", \"attunet\", \"ugsnet\"]\n"
         "[experiments.table3]\n"
         "kind = \"complex_nodules\"\n"
         "paper_table = \"III\"\n"
         "after = [\"table1\"]\n"
         "networks = [\"unet\", \"ugsnet\"]\n"
         "reference = \"unet\"\n"
         "dsc_thresholds = [0.6, 0.8]\n";
}

// Label_1 DSC, IoU, NSD of each fold (fractions, as summary.json has them); UGS-Net also the set.
struct Scores {
  double dsc, iou, nsd;
  std::optional<double> ged_squared{}, hm_iou{};  // the UGS-Net family only
};
const std::map<std::string, std::vector<Scores>> kScores{
    {"unet", {{0.80, 0.70, 0.90}, {0.84, 0.72, 0.91}, {0.82, 0.74, 0.95}}},
    {"attunet", {{0.83, 0.71, 0.92}, {0.10, 0.10, 0.10}, {0.85, 0.75, 0.96}}},  // fold 1 fails
    {"ugsnet", {{0.86, 0.76, 0.93, 0.30, 0.60}, {0.88, 0.77, 0.94, 0.25, 0.62}, {0.87, 0.78, 0.97, 0.20, 0.64}}},
};

void write_summary(const fs::path& file, const Scores& s) {
  metrics::ScoreReport report;
  report.summary["label_1"]["dsc"] = {s.dsc, 0.1, 10, 0};
  report.summary["label_1"]["iou"] = {s.iou, 0.1, 10, 0};
  report.summary["label_1"]["nsd"] = {s.nsd, 0.1, 10, 0};
  report.summary["union"]["dsc"] = {0.5, 0.1, 10, 0};  // not in the tables
  if (s.ged_squared) report.summary["set"]["ged_squared"] = {*s.ged_squared, 0.1, 10, 0};
  if (s.hm_iou) report.summary["set"]["hm_iou"] = {*s.hm_iou, 0.1, 10, 0};
  fs::create_directories(file.parent_path());
  metrics::write_summary_json(file, report);
}

const Job& training_job(const Sweep& sweep, const std::string& network, int fold) {
  for (const Job& job : sweep.jobs) {
    if (job.kind == JobKind::kTraining && job.network == network && job.fold == fold) return job;
  }
  throw std::runtime_error("no job " + network + " fold " + std::to_string(fold));
}

const Job& analysis_job(const Sweep& sweep) {
  for (const Job& job : sweep.jobs) {
    if (job.kind == JobKind::kAnalysis) return job;
  }
  throw std::runtime_error("no analysis job");
}

// A run folder: plan.json, a ledger, and the summaries of the completed jobs. Every training job
// completes except attunet fold 1 (failed) and, unless `all_ugsnet`, ugsnet fold 2 (running); the
// analysis job completes when `analysis` (its complex_nodules.json is then written by the test).
class FakeRun {
 public:
  explicit FakeRun(bool all_ugsnet, bool analysis, const fs::path& store = "out/none")
      : run_(folder_ / "run"), sweep_(parse_sweep(sweep_text(store), "fake.toml")) {
    fs::create_directories(run_);
    storage::write_file_atomically(run_ / "plan.json", plan_json(sweep_));
    Ledger ledger(run_);
    ledger.run_started({"test", "0", false});
    for (const Job& job : sweep_.jobs) {
      ledger.register_job({job.id, job.folder.generic_string(), job.id, job.experiments});
    }
    for (const auto& [network, folds] : kScores) {
      for (int fold = 0; fold < 3; ++fold) {
        const Job& job = training_job(sweep_, network, fold);
        ledger.job_started(job.id, {});
        if (network == "attunet" && fold == 1) {
          ledger.job_failed(job.id, "NaN loss at epoch 1");
          continue;
        }
        if (network == "ugsnet" && fold == 2 && !all_ugsnet) continue;  // still running
        write_summary(run_ / job.folder / "summary.json", folds[fold]);
        ledger.job_completed(job.id, (job.folder / "summary.json").generic_string());
      }
    }
    if (analysis) {
      const Job& job = analysis_job(sweep_);
      ledger.job_started(job.id, {});
      ledger.job_completed(job.id, "");
    }
  }

  const fs::path& run() const { return run_; }
  const Sweep& sweep() const { return sweep_; }

 private:
  TemporaryFolder folder_;
  fs::path run_;
  Sweep sweep_;
};

// complex_nodules.json with known numbers: at 0.6, fold 0 has 2 complex nodules, fold 1 one, fold 2
// none (null scores); at 0.8 every fold has some.
void write_complex_nodules(const FakeRun& run) {
  const json null = nullptr;
  const json document = {
      {"schema", "ugs.complex-nodules"}, {"version", 1}, {"experiment", "table3"}, {"reference", "unet"},
      {"networks", {"unet", "ugsnet"}},
      {"thresholds",
       {{{"threshold", 0.6},
         {"folds",
          {{{"fold", 0}, {"nodules", 2}, {"scores", {{"unet", {{"dsc", 0.50}, {"iou", 0.34}}}, {"ugsnet", {{"dsc", 0.62}, {"iou", 0.45}}}}}},
           {{"fold", 1}, {"nodules", 1}, {"scores", {{"unet", {{"dsc", 0.40}, {"iou", 0.25}}}, {"ugsnet", {{"dsc", 0.58}, {"iou", 0.41}}}}}},
           {{"fold", 2}, {"nodules", 0}, {"scores", {{"unet", {{"dsc", null}, {"iou", null}}}, {"ugsnet", {{"dsc", null}, {"iou", null}}}}}}}},
         {"average", {{"unet", {{"dsc", 0.45}, {"iou", 0.295}}}, {"ugsnet", {{"dsc", 0.60}, {"iou", 0.43}}}}}},
        {{"threshold", 0.8},
         {"folds",
          {{{"fold", 0}, {"nodules", 5}, {"scores", {{"unet", {{"dsc", 0.70}, {"iou", 0.55}}}, {"ugsnet", {{"dsc", 0.75}, {"iou", 0.61}}}}}},
           {{"fold", 1}, {"nodules", 4}, {"scores", {{"unet", {{"dsc", 0.72}, {"iou", 0.57}}}, {"ugsnet", {{"dsc", 0.74}, {"iou", 0.60}}}}}},
           {{"fold", 2}, {"nodules", 6}, {"scores", {{"unet", {{"dsc", 0.71}, {"iou", 0.56}}}, {"ugsnet", {{"dsc", 0.79}, {"iou", 0.65}}}}}}}},
         {"average", {{"unet", {{"dsc", 0.71}, {"iou", 0.56}}}, {"ugsnet", {{"dsc", 0.76}, {"iou", 0.62}}}}}}}}};
  const Job& job = analysis_job(run.sweep());
  fs::create_directories(run.run() / job.folder);
  storage::write_file_atomically(run.run() / job.folder / "complex_nodules.json", document.dump(2));
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// RFC 4180 CSV: quoted fields with doubled quotes, no line breaks inside fields (the report has none).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        fields.emplace_back();
      } else {
        fields.back() += c;
      }
    }
    rows.push_back(fields);
  }
  return rows;
}

// The CSV rows as maps column -> value.
std::vector<std::map<std::string, std::string>> csv_records(const std::string& text) {
  const auto rows = parse_csv(text);
  std::vector<std::map<std::string, std::string>> records;
  for (std::size_t r = 1; r < rows.size(); ++r) {
    EXPECT_EQ(rows[r].size(), rows[0].size()) << "row " << r;
    std::map<std::string, std::string> record;
    for (std::size_t c = 0; c < rows[0].size() && c < rows[r].size(); ++c) record[rows[0][c]] = rows[r][c];
    records.push_back(record);
  }
  return records;
}

const std::map<std::string, std::string>& record(const std::vector<std::map<std::string, std::string>>& records,
                                                 const std::map<std::string, std::string>& match) {
  for (const auto& r : records) {
    bool all = true;
    for (const auto& [column, value] : match) all = all && r.count(column) && r.at(column) == value;
    if (all) return r;
  }
  throw std::runtime_error("no CSV record matches");
}

double population_std(const std::vector<double>& v) {
  double mean = 0;
  for (double x : v) mean += x / v.size();
  double sum = 0;
  for (double x : v) sum += (x - mean) * (x - mean);
  return std::sqrt(sum / v.size());
}

TEST(Report, TrainingTableMeansStdsAndPairedDifferences) {
  const FakeRun run(/*all_ugsnet=*/false, /*analysis=*/false);
  const Report report = read_report(run.run());
  ASSERT_EQ(report.training_tables.size(), 1u);
  const TrainingTable& table = report.training_tables[0];
  EXPECT_EQ(table.paper_table, "I");
  EXPECT_EQ(table.baseline, "unet");  // the first network: the sweep names none
  EXPECT_EQ(table.folds, (std::vector<int>{0, 1, 2}));

  // U-Net: DSC 80, 84, 82 -> 82 +- sqrt(8/3); IoU 70, 72, 74 -> 72 +- sqrt(8/3).
  const NetworkRow& unet = *table.row("unet");
  EXPECT_NEAR(unet.over_folds.at("dsc").mean, 82.0, 1e-9);
  EXPECT_NEAR(unet.over_folds.at("dsc").std, std::sqrt(8.0 / 3.0), 1e-9);
  EXPECT_NEAR(unet.over_folds.at("iou").std, std::sqrt(8.0 / 3.0), 1e-9);
  EXPECT_NEAR(unet.over_folds.at("nsd").mean, 92.0, 1e-9);
  EXPECT_EQ(unet.over_folds.at("dsc").folds, 3);
  EXPECT_EQ(unet.over_folds.at("ged_squared").folds, 0);  // no uncertainty heads
  EXPECT_FALSE(unet.uncertainty_heads);
  EXPECT_TRUE(unet.vs_baseline.empty());

  // Attention U-Net: fold 1 failed, so no number there; DSC 83, 85 over two folds; paired with U-Net
  // on folds 0 and 2: +3, +3.
  const NetworkRow& attunet = *table.row("attunet");
  EXPECT_EQ(attunet.folds[1].state, "failed");
  EXPECT_TRUE(attunet.folds[1].values.empty());  // the 0.10 written for it is never read
  EXPECT_NE(attunet.folds[1].note.find("NaN loss at epoch 1"), std::string::npos) << attunet.folds[1].note;
  EXPECT_EQ(attunet.over_folds.at("dsc").folds, 2);
  EXPECT_NEAR(attunet.over_folds.at("dsc").mean, 84.0, 1e-9);
  EXPECT_NEAR(attunet.over_folds.at("dsc").std, 1.0, 1e-9);
  const PairedDifference& att_dsc = attunet.vs_baseline.at("dsc");
  EXPECT_EQ(att_dsc.per_fold.size(), 2u);
  EXPECT_NEAR(att_dsc.per_fold.at(0), 3.0, 1e-9);
  EXPECT_NEAR(att_dsc.per_fold.at(2), 3.0, 1e-9);
  EXPECT_NEAR(att_dsc.over_folds.mean, 3.0, 1e-9);
  EXPECT_NEAR(att_dsc.over_folds.std, 0.0, 1e-9);

  // UGS-Net: fold 2 still running; DSC 86, 88 -> 87 +- 1; minus U-Net's 80, 84: +6, +4 -> 5 +- 1;
  // GED^2 0.30, 0.25 as is; HM-IoU 60, 62 %.
  const NetworkRow& ugsnet = *table.row("ugsnet");
  EXPECT_TRUE(ugsnet.uncertainty_heads);
  EXPECT_EQ(ugsnet.folds[2].state, "running");
  EXPECT_EQ(ugsnet.over_folds.at("dsc").folds, 2);
  EXPECT_NEAR(ugsnet.over_folds.at("dsc").mean, 87.0, 1e-9);
  EXPECT_NEAR(ugsnet.vs_baseline.at("dsc").over_folds.mean, 5.0, 1e-9);
  EXPECT_NEAR(ugsnet.vs_baseline.at("dsc").over_folds.std, 1.0, 1e-9);
  EXPECT_NEAR(ugsnet.vs_baseline.at("iou").per_fold.at(1), 5.0, 1e-9);
  EXPECT_NEAR(ugsnet.over_folds.at("ged_squared").mean, 0.275, 1e-12);
  EXPECT_NEAR(ugsnet.over_folds.at("hm_iou").mean, 61.0, 1e-9);
  EXPECT_EQ(ugsnet.vs_baseline.at("ged_squared").over_folds.folds, 0);  // U-Net has no set scores

  // The paper's rows are Table I's.
  EXPECT_EQ(unet.paper, paper::find_segmentation_row("I", "unet"));
  ASSERT_NE(ugsnet.paper, nullptr);
  EXPECT_EQ(std::string(ugsnet.paper->paper_name), "UGS-Net");

  // Job states over the plan: 9 training jobs and the analysis.
  EXPECT_EQ(report.job_states.at("completed"), 7);
  EXPECT_EQ(report.job_states.at("failed"), 1);
  EXPECT_EQ(report.job_states.at("running"), 1);
  EXPECT_EQ(report.job_states.at("pending"), 1);
}

TEST(Report, MissingJobsShowTheirStateNeverANumber) {
  const FakeRun run(false, false);
  const Report report = read_report(run.run());
  const std::string markdown = report_markdown(report);
  EXPECT_NE(markdown.find("— failed"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("— running"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("— pending"), std::string::npos) << markdown;  // the analysis job
  EXPECT_NE(markdown.find("`attunet` fold 1: failed (1 attempt): NaN loss at epoch 1"), std::string::npos) << markdown;
  // Partial means say over how many folds: UGS-Net's DSC over 2 of 3.
  EXPECT_NE(markdown.find("87.00 ± 1.00 (2/3)"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("82.00 ± 1.63 |"), std::string::npos) << markdown;  // U-Net, every fold
  EXPECT_NE(markdown.find("+5.00 ± 1.00 (2/3)"), std::string::npos) << markdown;  // UGS-Net - U-Net
  // The failed fold's score written to its folder is not used anywhere.
  EXPECT_EQ(markdown.find("10.00"), std::string::npos) << markdown;

  // The Complex-Nodule Validation has not run: every cell pending, the paper's numbers still there.
  ASSERT_EQ(report.complex_nodules_tables.size(), 1u);
  const ComplexNodulesTable& table3 = report.complex_nodules_tables[0];
  EXPECT_EQ(table3.state, "pending");
  ASSERT_EQ(table3.groups.size(), 2u);
  for (const ComplexNodulesGroup& group : table3.groups) {
    for (const ComplexNodulesRow& row : group.rows) {
      EXPECT_TRUE(row.per_fold.empty() && row.average.empty()) << row.network;
    }
  }
}

TEST(Report, PaperNumbersStandBesideOurs) {
  const FakeRun run(false, false);
  const std::string markdown = report_markdown(read_report(run.run()));
  char expected[64];
  for (const char* network : {"unet", "attunet", "ugsnet"}) {
    const paper::SegmentationRow& row = *paper::find_segmentation_row("I", network);
    std::snprintf(expected, sizeof expected, "%.2f ± %.2f", row.dsc.mean, row.dsc.std);
    EXPECT_NE(markdown.find(expected), std::string::npos) << expected << "\n" << markdown;
  }
  // The paper's difference of averages: UGS-Net - U-Net DSC.
  const double gain = paper::find_segmentation_row("I", "ugsnet")->dsc.mean - paper::find_segmentation_row("I", "unet")->dsc.mean;
  std::snprintf(expected, sizeof expected, "%+.2f", gain);
  EXPECT_NE(markdown.find(expected), std::string::npos) << expected;
  // Table III: the printed gain at 60%.
  const paper::ComplexNodulesRow& ugs60 = *paper::find_complex_nodules_row(0.6, "ugsnet");
  std::snprintf(expected, sizeof expected, "%+.2f", ugs60.gain.dsc);
  EXPECT_NE(markdown.find(expected), std::string::npos) << expected;
  EXPECT_EQ(paper::find_complex_nodules_row(0.7, "attunet"), nullptr);
}

// The paper's Table I "Average" is the mean +- the population std of its five folds: checked on its
// own numbers, which also checks that they were copied right. Five NSD deviations lost their second
// decimal in the text (paper_results.h), hence the looser NSD std tolerance.
TEST(Report, PaperTableOneAveragesAreFoldMeansWithPopulationStd) {
  ASSERT_EQ(paper::segmentation_table("I").size(), 9u);
  for (const paper::SegmentationRow& row : paper::segmentation_table("I")) {
    ASSERT_EQ(row.folds.size(), 5u) << row.network;
    std::vector<double> dsc, iou, nsd;
    for (const paper::FoldScores& f : row.folds) {
      dsc.push_back(f.dsc);
      iou.push_back(f.iou);
      nsd.push_back(f.nsd);
    }
    const FoldStatistic d = fold_statistic(dsc), i = fold_statistic(iou), n = fold_statistic(nsd);
    EXPECT_NEAR(d.mean, row.dsc.mean, 0.006) << row.network;
    EXPECT_NEAR(d.std, row.dsc.std, 0.006) << row.network;
    EXPECT_NEAR(i.mean, row.iou.mean, 0.006) << row.network;
    EXPECT_NEAR(i.std, row.iou.std, 0.006) << row.network;
    EXPECT_NEAR(n.mean, row.nsd.mean, 0.007) << row.network;
    EXPECT_NEAR(n.std, row.nsd.std, 0.1) << row.network;
    EXPECT_NEAR(d.std, population_std(dsc), 1e-12);
  }
  // The sample deviation would not match: U-Net DSC's is 0.82, the paper prints 0.74.
  const paper::SegmentationRow& unet = *paper::find_segmentation_row("I", "unet");
  std::vector<double> dsc;
  for (const paper::FoldScores& f : unet.folds) dsc.push_back(f.dsc);
  EXPECT_GT(std::abs(population_std(dsc) * std::sqrt(5.0 / 4.0) - unet.dsc.std), 0.05);
  // Table II's rows shared with Table I carry the same averages.
  for (const char* network : {"attunet", "ugsnet-v1", "ugsnet"}) {
    EXPECT_EQ(paper::find_segmentation_row("II", network)->dsc.mean, paper::find_segmentation_row("I", network)->dsc.mean);
  }
}

TEST(Report, ComplexNodulesTableAndGains) {
  const FakeRun run(/*all_ugsnet=*/true, /*analysis=*/true);
  write_complex_nodules(run);
  const Report report = read_report(run.run());
  const ComplexNodulesTable& table = report.complex_nodules_tables.at(0);
  EXPECT_EQ(table.state, "completed");
  EXPECT_EQ(table.reference, "unet");
  const ComplexNodulesGroup& at60 = table.groups.at(0);
  EXPECT_DOUBLE_EQ(at60.threshold, 0.6);
  EXPECT_EQ(at60.nodules.at(0), 2);
  EXPECT_EQ(at60.nodules.at(2), 0);
  const ComplexNodulesRow& unet = at60.rows.at(0);
  const ComplexNodulesRow& ugsnet = at60.rows.at(1);
  ASSERT_EQ(ugsnet.network, "ugsnet");
  EXPECT_NEAR(unet.per_fold.at(0).at("dsc"), 50.0, 1e-9);
  EXPECT_EQ(unet.per_fold.count(2), 0u);  // no complex nodule in fold 2: no score, not 0
  EXPECT_NEAR(ugsnet.average.at("dsc"), 60.0, 1e-9);
  EXPECT_NEAR(ugsnet.vs_reference.at("dsc"), 15.0, 1e-9);   // 60 - 45
  EXPECT_NEAR(ugsnet.vs_reference.at("iou"), 13.5, 1e-9);   // 43 - 29.5
  EXPECT_NEAR(ugsnet.vs_reference_per_fold.at(1).at("dsc"), 18.0, 1e-9);  // 58 - 40
  EXPECT_TRUE(unet.vs_reference.empty());
  ASSERT_NE(ugsnet.paper, nullptr);
  EXPECT_TRUE(ugsnet.paper->has_gain);
  EXPECT_NEAR(table.groups.at(1).rows.at(1).vs_reference.at("dsc"), 5.0, 1e-9);  // 76 - 71 at 0.8

  // Every job done: the training table has every fold.
  EXPECT_EQ(report.training_tables[0].row("ugsnet")->over_folds.at("dsc").folds, 3);
  EXPECT_EQ(report.job_states.count("pending"), 0u);
}

TEST(Report, CsvAndJsonReadBack) {
  const FakeRun run(/*all_ugsnet=*/false, /*analysis=*/true);
  write_complex_nodules(run);
  const Report report = read_report(run.run());
  write_report_files(report);
  const fs::path out = run.run() / "report";
  ASSERT_TRUE(fs::exists(out / "report.md"));
  EXPECT_EQ(read_text(out / "report.md"), report_markdown(report));

  const auto table1 = csv_records(read_text(out / "table1.csv"));
  // 3 networks x (3 folds + mean, std, folds + 5 paper folds + paper mean, std) rows.
  EXPECT_EQ(table1.size(), 3u * (3 + 3 + 5 + 2));
  const auto& unet_mean = record(table1, {{"network", "unet"}, {"row", "mean"}});
  EXPECT_NEAR(std::stod(unet_mean.at("dsc")), 82.0, 1e-7);
  EXPECT_EQ(unet_mean.at("dsc_vs_baseline"), "");
  const auto& unet_std = record(table1, {{"network", "unet"}, {"row", "std"}});
  EXPECT_NEAR(std::stod(unet_std.at("dsc")), std::sqrt(8.0 / 3.0), 1e-7);
  const auto& failed = record(table1, {{"network", "attunet"}, {"row", "fold"}, {"fold", "1"}});
  EXPECT_EQ(failed.at("state"), "failed");
  EXPECT_EQ(failed.at("dsc"), "");
  EXPECT_NE(failed.at("note").find("NaN loss"), std::string::npos);
  const auto& ugs_fold1 = record(table1, {{"network", "ugsnet"}, {"row", "fold"}, {"fold", "1"}});
  EXPECT_NEAR(std::stod(ugs_fold1.at("dsc_vs_baseline")), 4.0, 1e-7);
  EXPECT_NEAR(std::stod(ugs_fold1.at("ged_squared")), 0.25, 1e-9);
  const auto& ugs_folds = record(table1, {{"network", "ugsnet"}, {"row", "folds"}});
  EXPECT_EQ(ugs_folds.at("dsc"), "2");
  const auto& paper_mean = record(table1, {{"network", "ugsnet"}, {"row", "paper_mean"}});
  EXPECT_NEAR(std::stod(paper_mean.at("dsc")), paper::find_segmentation_row("I", "ugsnet")->dsc.mean, 1e-9);
  const auto& paper_fold3 = record(table1, {{"network", "unet"}, {"row", "paper_fold"}, {"fold", "3"}});
  EXPECT_NEAR(std::stod(paper_fold3.at("nsd")), paper::find_segmentation_row("I", "unet")->folds[2].nsd, 1e-9);

  const auto table3 = csv_records(read_text(out / "table3.csv"));
  const auto& average = record(table3, {{"threshold", "0.6"}, {"network", "ugsnet"}, {"row", "average"}});
  EXPECT_NEAR(std::stod(average.at("dsc_vs_reference")), 15.0, 1e-7);
  EXPECT_EQ(average.at("state"), "completed");
  const auto& paper_average = record(table3, {{"threshold", "0.6"}, {"network", "ugsnet"}, {"row", "paper_average"}});
  EXPECT_NEAR(std::stod(paper_average.at("dsc_vs_reference")), paper::find_complex_nodules_row(0.6, "ugsnet")->gain.dsc, 1e-9);

  const json document = json::parse(read_text(out / "report.json"));
  EXPECT_EQ(document["schema"], "ugs.report");
  const json& rows = document["tables"][0]["rows"];
  EXPECT_EQ(rows[0]["network"], "unet");
  EXPECT_NEAR(rows[0]["over_folds"]["dsc"]["mean"].get<double>(), 82.0, 1e-9);
  EXPECT_TRUE(rows[0]["over_folds"]["ged_squared"]["mean"].is_null());
  EXPECT_EQ(rows[1]["folds"][1]["state"], "failed");
  EXPECT_TRUE(rows[1]["folds"][1]["values"].empty());
  EXPECT_NEAR(rows[2]["vs_baseline"]["dsc"]["mean"].get<double>(), 5.0, 1e-9);
  EXPECT_EQ(document["tables"][1]["kind"], "complex_nodules");
}

TEST(Report, NamedBaselineWinsOverTheFirstNetwork) {
  const FakeRun run(true, false);
  json plan = json::parse(read_text(run.run() / "plan.json"));
  plan["experiments"][0]["baseline"] = "attunet";
  storage::write_file_atomically(run.run() / "plan.json", plan.dump());
  const Report report = read_report(run.run());
  const TrainingTable& table = report.training_tables[0];
  EXPECT_EQ(table.baseline, "attunet");
  EXPECT_NEAR(table.row("unet")->vs_baseline.at("dsc").per_fold.at(0), -3.0, 1e-9);  // 80 - 83
  EXPECT_TRUE(table.row("attunet")->vs_baseline.empty());

  plan["experiments"][0]["baseline"] = "r2unet";
  storage::write_file_atomically(run.run() / "plan.json", plan.dump());
  storage::testing::expect_error([&] { read_report(run.run()); }, run.run() / "plan.json", "baseline 'r2unet'");
}

TEST(Report, RunNotStartedAndBadFiles) {
  TemporaryFolder folder;
  // No plan: not a run folder.
  storage::testing::expect_error([&] { read_report(folder.path()); }, folder / "plan.json", "missing");

  // A plan and no ledger: every job pending, no figures.
  const Sweep sweep = parse_sweep(sweep_text("out/none"), "fake.toml");
  storage::write_file_atomically(folder / "plan.json", plan_json(sweep));
  Report report = read_report(folder.path());
  EXPECT_EQ(report.job_states.at("pending"), static_cast<int>(sweep.jobs.size()));
  EXPECT_EQ(report.training_tables[0].row("unet")->over_folds.at("dsc").folds, 0);
  draw_figures(report);
  ASSERT_EQ(report.figures.size(), 2u);
  EXPECT_TRUE(report.figures[0].file.empty());
  EXPECT_NE(report.figures[0].note.find("no network of `table1` has a Label_1 DSC in every fold"), std::string::npos)
      << report.figures[0].note;
  EXPECT_NE(report_markdown(report).find("— pending"), std::string::npos);

  // A completed job whose summary.json is broken is an error naming it.
  const FakeRun run(true, false);
  const fs::path summary = run.run() / training_job(run.sweep(), "unet", 0).folder / "summary.json";
  storage::write_file_atomically(summary, "{\"schema\": \"ugs.score-summary\", \"mean\": ");
  storage::testing::expect_error([&] { read_report(run.run()); }, summary, "not valid JSON");

  // A completed analysis without its file says so; one with a broken file is an error naming it.
  const FakeRun analysed(true, true);
  EXPECT_NE(read_report(analysed.run()).complex_nodules_tables[0].note.find("completed without"), std::string::npos);
  const fs::path complex = analysed.run() / analysis_job(analysed.sweep()).folder / "complex_nodules.json";
  fs::create_directories(complex.parent_path());
  storage::write_file_atomically(complex, "{\"schema\": \"ugs.complex-nodules\"}");
  storage::testing::expect_error([&] { read_report(analysed.run()); }, complex, "thresholds");
}

// Figures of the best network (UGS-Net: 87 in every fold beats U-Net's 82 and Attention U-Net's
// failed fold) from a real store and predictions.h5.
TEST(Report, FiguresOfTheBestNetwork) {
  TemporaryFolder data;
  storage::StoreAttributes attributes;
  attributes.height = attributes.width = 16;
  const std::vector<storage::Nodule> nodules = storage::testing::random_nodules(attributes, 8);
  storage::testing::write_store(data / "store", attributes, nodules);
  const FakeRun run(/*all_ugsnet=*/true, /*analysis=*/false, data / "store");
  const Job& best = training_job(run.sweep(), "ugsnet", 0);
  const fs::path job_dir = run.run() / best.folder;
  storage::write_file_atomically(job_dir / "config.toml", worker::to_toml(best.config));
  storage::Predictions predictions;
  predictions.height = predictions.width = 16;
  std::vector<float> union_map, intersection_map;
  for (const storage::Nodule& n : nodules) {
    predictions.nodule_ids.push_back(n.info.nodule_id);
    for (std::size_t p = 0; p < attributes.pixel_count(); ++p) {
      predictions.segmentation.push_back(n.annotators[p]);
      union_map.push_back(n.union_mask[p]);
      intersection_map.push_back(n.intersection_mask[p]);
    }
  }
  predictions.union_map = union_map;
  predictions.intersection_map = intersection_map;
  storage::write_predictions(job_dir / "predictions.h5", predictions);

  const Report report = make_report(run.run());
  ASSERT_EQ(report.figures.size(), 2u);
  EXPECT_EQ(report.figures[0].file, "fig7_montage.png") << report.figures[0].note;
  EXPECT_NE(report.figures[0].note.find("`ugsnet`"), std::string::npos) << report.figures[0].note;
  EXPECT_NE(report.figures[0].note.find("6 of its 8 test nodules"), std::string::npos) << report.figures[0].note;
  EXPECT_TRUE(fs::exists(run.run() / "report" / "fig7_montage.png"));
  EXPECT_EQ(report.figures[1].file, "fig8_hu_analysis.png") << report.figures[1].note;
  EXPECT_TRUE(fs::exists(run.run() / "report" / "fig8_hu_analysis.json"));
  EXPECT_NE(read_text(run.run() / "report" / "report.md").find("![Fig. 7](fig7_montage.png)"), std::string::npos);

  // Without uncertainty heads Fig. 8 is skipped, saying why.
  predictions.union_map.reset();
  predictions.intersection_map.reset();
  storage::write_predictions(job_dir / "predictions.h5", predictions);
  Report again = read_report(run.run());
  draw_figures(again);
  EXPECT_EQ(again.figures[0].file, "fig7_montage.png");
  EXPECT_TRUE(again.figures[1].file.empty());
  EXPECT_NE(again.figures[1].note.find("no uncertainty heads"), std::string::npos) << again.figures[1].note;
}

TEST(Report, CommandPrintsAndWrites) {
  const FakeRun run(false, false);
  const auto markdown = run_ugs("report '" + run.run().string() + "' --no-figures");
  ASSERT_EQ(markdown.exit_code, 0) << markdown.output;
  EXPECT_NE(markdown.output.find("## Table I — `table1`"), std::string::npos) << markdown.output;
  EXPECT_TRUE(fs::exists(run.run() / "report" / "table1.csv"));
  EXPECT_TRUE(fs::exists(run.run() / "report" / "report.json"));

  const auto as_json = run_ugs("report '" + run.run().string() + "' --no-figures --format json");
  ASSERT_EQ(as_json.exit_code, 0) << as_json.output;
  EXPECT_EQ(json::parse(as_json.output)["sweep"], "fake");

  const auto as_csv = run_ugs("report '" + run.run().string() + "' --no-figures --format csv");
  ASSERT_EQ(as_csv.exit_code, 0) << as_csv.output;
  EXPECT_NE(as_csv.output.find("# table1.csv\nexperiment,network,row,fold,state,note,dsc"), std::string::npos)
      << as_csv.output;

  const auto bad = run_ugs("report '" + (run.run() / "jobs").string() + "'");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("ugs: error: "), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("plan.json: missing"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace ugs::orchestrator
