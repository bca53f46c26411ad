// The results of a run as the paper shows them: Tables I, II and III, the Fig. 7 montage and the
// Fig. 8 HU densities, read from a run folder that `ugs run` wrote or is writing. What `ugs report`
// prints and what `ugs run` writes at its end. docs/report.md is the manual.
//
//   Report report = make_report("runs/paper");   // reads, draws the figures, writes runs/paper/report/
//   std::cout << report_markdown(report);
//
// Read from the run folder RUN:
//   RUN/plan.json        the experiments, their jobs and folds (sweep.h plan_json)
//   RUN/ledger.jsonl     every job's state (ledger.h read_ledger; no lock taken, so a run in progress
//                        can be reported)
//   RUN/<job>/summary.json            a completed training job's scores (scoring.h summary_json)
//   RUN/<job>/complex_nodules.json    a completed Complex-Nodule Validation (analysis.h)
//   RUN/<job>/config.toml, predictions.h5   for the figures
// Only jobs the ledger says are completed give numbers; any other cell is "—" with the job's state
// (pending, running, failed, preempted) and, for failures, the reason: nothing is invented.
//
// Tables (one per experiment of the plan, in its order):
//   - a training experiment: rows = its networks; per fold (of [sweep] folds) the Label_1 DSC, IoU
//     and NSD (the means over the fold's test nodules, as the job's summary.json has them) and, for
//     networks with uncertainty heads, the set scores GED^2 and HM-IoU; over the folds, the mean and
//     the POPULATION standard deviation of the fold values (the paper's "Average" column is exactly
//     that); the paired per-fold differences against the experiment's baseline (network - baseline,
//     fold by fold, over the folds where both have a value; mean +- population std of them); and the
//     paper's published row when the experiment names a paper_table and the paper has the network.
//     The baseline is the plan experiment's "baseline" when it has one, else its first network.
//     With several seeds a fold's value is the mean over its seeds, and only when every seed has one.
//   - a complex_nodules experiment: per threshold, per fold and averaged (the mean of the fold
//     means), each network's DSC and IoU over the complex nodules, the difference from the reference
//     network, and the paper's Table III beside them.
// Units: DSC, IoU, NSD and HM-IoU in percent (x 100, as the paper), GED^2 as is.
// Figures (make_report, when ReportOptions::figures): of the best network of the Table I experiment
// (the experiment whose paper_table is "I", else the first training experiment), i.e. the highest
// mean Label_1 DSC among the networks with a DSC in every fold, on its first fold with a completed
// job: RUN/report/fig7_montage.png (montage.h, kMontageNodules test nodules spread evenly over its
// predictions) and RUN/report/fig8_hu_analysis.{png,json} (hu_analysis.h; needs uncertainty heads
// and gnuplot). A figure that cannot be drawn is skipped with a line in the report saying why.
//
// Output, in RUN/report/, each file written atomically: report.md, report.json, and one CSV per
// table, <experiment>.csv (columns in docs/report.md).
//
// Errors: std::runtime_error, one line naming the file: RUN/plan.json missing or malformed, a bad
// ledger (ledger.h), a summary.json or complex_nodules.json that exists but cannot be read, a
// write that fails. A missing summary.json of a completed job is not an error: its cells say so.
// Thread safety: the functions keep no state; a Report is a plain value.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ugs/orchestrator/paper_results.h"

namespace ugs::orchestrator {

// A metric of Tables I and II: `target`/`metric` in summary.json, shown times `scale`.
struct ReportMetric {
  const char* key;     // "dsc": the name in report.json and the CSV columns
  const char* label;   // "DSC": the name in the Markdown tables
  const char* target;  // "label_1" or "set"
  const char* metric;  // "dsc", "iou", "nsd", "ged_squared", "hm_iou"
  double scale;        // 100 for percentages
};
// DSC, IoU, NSD (Label_1), then GED^2 and HM-IoU (set), in this order everywhere.
const std::vector<ReportMetric>& report_metrics();

// Mean and population standard deviation over the folds that have a value (NaN when none do).
struct FoldStatistic {
  int folds = 0;
  double mean = 0;
  double std = 0;
};
FoldStatistic fold_statistic(const std::vector<double>& values);

// One network's fold in a training table.
struct FoldCell {
  int fold = 0;
  std::string state;                     // "completed", or the state of a job without a result
  std::string note;                      // why there is no number: "failed: <reason>", ...; "" if none
  std::vector<std::string> job_ids;      // one per seed
  std::map<std::string, double> values;  // metric key -> value, only those the job has
};

// Paired differences of one metric against the baseline.
struct PairedDifference {
  std::map<int, double> per_fold;  // fold -> network - baseline, where both have a value
  FoldStatistic over_folds;
};

struct NetworkRow {
  std::string network;
  bool uncertainty_heads = false;  // the UGS-Net family (model::ugsnet_variants): scored on the set too
  std::vector<FoldCell> folds;                          // in the plan's fold order
  std::map<std::string, FoldStatistic> over_folds;      // metric key -> over its folds
  std::map<std::string, PairedDifference> vs_baseline;  // metric key -> ; empty for the baseline
  const paper::SegmentationRow* paper = nullptr;        // the published row, if any
};

struct TrainingTable {
  std::string experiment;
  std::string description;
  std::string paper_table;  // "I", "II" or ""
  std::string baseline;     // a network of `rows`
  std::string baseline_rule;  // why it is the baseline: "named by the experiment", "its first network"
  std::vector<int> folds;
  std::vector<NetworkRow> rows;  // in the experiment's order

  const NetworkRow* row(const std::string& network) const;  // nullptr when absent
};

// One network in one group (threshold) of a complex_nodules table.
struct ComplexNodulesRow {
  std::string network;
  std::map<int, std::map<std::string, double>> per_fold;  // fold -> "dsc"/"iou" -> %, when present
  std::map<std::string, double> average;                  // "dsc"/"iou" -> the mean of fold means
  std::map<int, std::map<std::string, double>> vs_reference_per_fold;
  std::map<std::string, double> vs_reference;  // average - the reference's average; not for the reference
  const paper::ComplexNodulesRow* paper = nullptr;
};

struct ComplexNodulesGroup {
  double threshold = 0;            // a nodule is complex when the reference's DSC <= threshold
  std::map<int, int> nodules;      // fold -> complex nodules in it
  std::vector<ComplexNodulesRow> rows;
};

struct ComplexNodulesTable {
  std::string experiment;
  std::string description;
  std::string paper_table;
  std::string reference;
  std::string job_id;
  std::string state;  // of the analysis job
  std::string note;   // why there are no numbers; "" when there are
  std::vector<int> folds;
  std::vector<ComplexNodulesGroup> groups;  // the plan's thresholds; rows without numbers when none
};

// A figure: drawn (file set) or skipped (file empty, note says why).
struct ReportFigure {
  std::string name;   // "Fig. 7", "Fig. 8"
  std::string file;   // relative to RUN/report/; "" when not drawn
  std::string note;   // what it shows (network, job) or why it was not drawn
  std::string text;   // Fig. 8: the HU table (hu_analysis_table); "" otherwise
};

struct Report {
  std::filesystem::path run_dir;
  std::string sweep_name;
  std::map<std::string, int> job_states;  // state -> jobs of the plan in it
  std::map<std::string, std::string> job_folders;  // job id -> its folder, relative to run_dir
  std::vector<std::string> notes;         // what reading the ledger dropped, and the like
  std::vector<TrainingTable> training_tables;
  std::vector<ComplexNodulesTable> complex_nodules_tables;
  std::vector<ReportFigure> figures;
};

// Montage rows of the Fig. 7 figure.
inline constexpr std::size_t kMontageNodules = 6;

struct ReportOptions {
  bool figures = true;  // draw Fig. 7 and Fig. 8 (reads predictions.h5 and the store)
};

// Reads the tables of the run folder (no figures, nothing written).
Report read_report(const std::filesystem::path& run_dir);

// Draws the figures of `report` into RUN/report/ and records them (or why not) in report.figures.
void draw_figures(Report& report);

std::string report_markdown(const Report& report);
std::string report_json(const Report& report);
// file name (e.g. "table1.csv") -> content, one per table.
std::map<std::string, std::string> report_csv(const Report& report);

// Writes report.md, report.json and the CSVs into RUN/report/ (created when absent).
void write_report_files(const Report& report);

// read_report, then draw_figures when options.figures, then write_report_files.
Report make_report(const std::filesystem::path& run_dir, const ReportOptions& options = {});

}  // namespace ugs::orchestrator
