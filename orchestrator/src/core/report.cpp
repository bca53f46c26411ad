// The paper's tables from a run folder (report.h; docs/report.md).
#include "ugs/orchestrator/report.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

#include "ugs/model/ugsnet.h"
#include "ugs/orchestrator/ledger.h"
#include "ugs/storage/atomic_file.h"
#include "ugs/storage/predictions.h"
#include "ugs/storage/store.h"
#include "ugs/worker/config.h"
#include "ugs/worker/hu_analysis.h"
#include "ugs/worker/montage.h"

namespace ugs::orchestrator {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr const char* kReportFolder = "report";
constexpr const char* kMontageFile = "fig7_montage.png";
constexpr const char* kHuPrefix = "fig8_hu_analysis";
// Thresholds of the plan and of complex_nodules.json are the same doubles written twice; this only
// absorbs a last-digit difference of a printer.
constexpr double kThresholdTolerance = 1e-9;

// ---------------------------------------------------------------------------------------------
// Reading the run folder

struct PlanJob {
  std::string id;
  bool training = true;
  std::string network;
  int fold = -1;
  std::uint64_t seed = 0;
  std::string folder;  // relative to the run folder
};

struct PlanExperiment {
  std::string name;
  bool training = true;
  std::string description;
  std::string paper_table;
  std::vector<std::string> networks;
  std::string baseline;  // "" unless the plan names one
  std::string reference;
  std::vector<double> thresholds;
  std::vector<std::string> jobs;
};

struct Plan {
  std::string name;
  std::vector<int> folds;
  std::vector<std::uint64_t> seeds;
  std::vector<PlanExperiment> experiments;
  std::vector<PlanJob> jobs;  // dispatch order

  const PlanJob* job(const std::string& id) const {
    for (const PlanJob& job : jobs) {
      if (job.id == id) return &job;
    }
    return nullptr;
  }
};

json read_json_file(const fs::path& file, const std::string& what_writes_it) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(file.string() + ": missing (" + what_writes_it + " writes it)");
  json document = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) throw std::runtime_error(file.string() + ": not valid JSON");
  return document;
}

void expect_schema(const json& document, const fs::path& file, const std::string& schema) {
  if (!document.is_object() || document.value("schema", std::string()) != schema) {
    throw std::runtime_error(file.string() + ": not a " + schema + " file (its \"schema\" is not \"" +
                             schema + "\")");
  }
}

Plan read_plan(const fs::path& run_dir) {
  const fs::path file = run_dir / "plan.json";
  const json document = read_json_file(file, "`ugs run`");
  expect_schema(document, file, "ugs.plan");
  Plan plan;
  try {
    const json& sweep = document.at("sweep");
    plan.name = sweep.at("name").get<std::string>();
    plan.folds = sweep.at("folds").get<std::vector<int>>();
    plan.seeds = sweep.at("seeds").get<std::vector<std::uint64_t>>();
    for (const json& entry : document.at("experiments")) {
      PlanExperiment e;
      e.name = entry.at("name").get<std::string>();
      const std::string kind = entry.at("kind").get<std::string>();
      if (kind != "training" && kind != "complex_nodules") {
        throw std::runtime_error("experiment '" + e.name + "' has an unknown kind '" + kind + "'");
      }
      e.training = kind == "training";
      e.description = entry.value("description", std::string());
      e.paper_table = entry.value("paper_table", std::string());
      e.networks = entry.at("networks").get<std::vector<std::string>>();
      e.baseline = entry.value("baseline", std::string());
      e.reference = entry.value("reference", std::string());
      e.thresholds = entry.value("dsc_thresholds", std::vector<double>());
      e.jobs = entry.at("jobs").get<std::vector<std::string>>();
      if (e.networks.empty()) throw std::runtime_error("experiment '" + e.name + "' has no networks");
      plan.experiments.push_back(std::move(e));
    }
    for (const json& entry : document.at("jobs")) {
      PlanJob job;
      job.id = entry.at("id").get<std::string>();
      job.training = entry.at("kind").get<std::string>() == "training";
      job.folder = entry.at("folder").get<std::string>();
      if (job.training) {
        job.network = entry.at("network").get<std::string>();
        job.fold = entry.at("fold").get<int>();
        job.seed = entry.at("seed").get<std::uint64_t>();
      }
      plan.jobs.push_back(std::move(job));
    }
  } catch (const json::exception& e) {
    throw std::runtime_error(file.string() + ": " + e.what());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(file.string() + ": " + e.what());
  }
  for (const PlanExperiment& e : plan.experiments) {
    for (const std::string& id : e.jobs) {
      if (plan.job(id) == nullptr) {
        throw std::runtime_error(file.string() + ": experiment '" + e.name + "' lists job " + id +
                                 ", which its \"jobs\" lack");
      }
    }
  }
  return plan;
}

// A job's state as the ledger has it, and why it has no result when it has none.
struct JobStatus {
  std::string state;  // ledger.h to_string(JobState); "pending" for a job the ledger lacks
  std::string note;   // "" for completed jobs
};

JobStatus status_of(const LedgerState& ledger, const std::string& id) {
  const auto found = ledger.jobs.find(id);
  if (found == ledger.jobs.end()) return {"pending", "not started"};
  const JobRecord& record = found->second;
  JobStatus status{std::string(to_string(record.state)), ""};
  switch (record.state) {
    case JobState::kCompleted:
      break;
    case JobState::kFailed:
      status.note = "failed (" + std::to_string(record.attempts) + " attempt" +
                    (record.attempts == 1 ? "" : "s") + "): " + record.reason;
      break;
    case JobState::kPreempted:
      status.note = "preempted: " + record.reason;
      break;
    case JobState::kRunning:
      status.note = "running (attempt " + std::to_string(record.attempts) + ")";
      break;
    case JobState::kPending:
      status.note = "not started";
      break;
  }
  return status;
}

// A completed training job's result: its summary.json means, in report units.
struct TrainingResult {
  JobStatus status;
  std::optional<std::map<std::string, double>> values;  // metric key -> value
};

TrainingResult training_result(const fs::path& run_dir, const PlanJob& job, const LedgerState& ledger) {
  TrainingResult result{status_of(ledger, job.id), std::nullopt};
  if (result.status.state != "completed") return result;
  const fs::path file = run_dir / job.folder / "summary.json";
  if (!fs::exists(file)) {
    result.status.note = "completed without " + (fs::path(job.folder) / "summary.json").generic_string();
    return result;
  }
  const json document = read_json_file(file, "`ugs train`");
  expect_schema(document, file, "ugs.score-summary");
  if (!document.contains("mean") || !document["mean"].is_object()) {
    throw std::runtime_error(file.string() + ": has no \"mean\" object");
  }
  const json& mean = document["mean"];
  std::map<std::string, double> values;
  for (const ReportMetric& m : report_metrics()) {
    if (!mean.contains(m.target) || !mean[m.target].contains(m.metric)) continue;
    const json& value = mean[m.target][m.metric];
    if (value.is_null()) continue;  // NaN: no nodule with a finite score
    if (!value.is_number()) {
      throw std::runtime_error(file.string() + ": mean " + m.target + " " + m.metric + " is not a number");
    }
    values[m.key] = value.get<double>() * m.scale;
  }
  if (!values.count("dsc")) {
    result.status.note = "its summary.json has no Label_1 DSC (a store without per-reader masks?)";
  }
  result.values = std::move(values);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Tables

// The jobs of `experiment` training `network` on `fold`, in seed order.
std::vector<const PlanJob*> jobs_of(const Plan& plan, const PlanExperiment& experiment,
                                    const std::string& network, int fold) {
  std::vector<const PlanJob*> jobs;
  for (const std::string& id : experiment.jobs) {
    const PlanJob* job = plan.job(id);
    if (job->training && job->network == network && job->fold == fold) jobs.push_back(job);
  }
  std::sort(jobs.begin(), jobs.end(), [](const PlanJob* a, const PlanJob* b) { return a->seed < b->seed; });
  return jobs;
}

FoldCell fold_cell(const fs::path& run_dir, const Plan& plan, const PlanExperiment& experiment,
                   const std::string& network, int fold, const LedgerState& ledger) {
  FoldCell cell;
  cell.fold = fold;
  const std::vector<const PlanJob*> jobs = jobs_of(plan, experiment, network, fold);
  if (jobs.empty()) {
    cell.state = "absent";
    cell.note = "the plan has no job for it";
    return cell;
  }
  std::vector<std::map<std::string, double>> seed_values;
  for (const PlanJob* job : jobs) {
    cell.job_ids.push_back(job->id);
    const TrainingResult result = training_result(run_dir, *job, ledger);
    if (cell.state.empty() || cell.state == "completed") cell.state = result.status.state;
    if (!result.status.note.empty()) {
      const std::string seed = jobs.size() > 1 ? "seed " + std::to_string(job->seed) + ": " : "";
      cell.note += (cell.note.empty() ? "" : "; ") + seed + result.status.note;
    }
    if (result.values) seed_values.push_back(*result.values);
  }
  if (seed_values.size() != jobs.size()) return cell;  // a fold's value needs every seed
  for (const ReportMetric& m : report_metrics()) {
    double sum = 0;
    bool everywhere = true;
    for (const auto& values : seed_values) {
      const auto found = values.find(m.key);
      if (found == values.end()) {
        everywhere = false;
        break;
      }
      sum += found->second;
    }
    if (everywhere) cell.values[m.key] = sum / static_cast<double>(seed_values.size());
  }
  return cell;
}

TrainingTable training_table(const fs::path& run_dir, const Plan& plan, const PlanExperiment& experiment,
                             const LedgerState& ledger) {
  TrainingTable table;
  table.experiment = experiment.name;
  table.description = experiment.description;
  table.paper_table = experiment.paper_table;
  table.folds = plan.folds;
  if (!experiment.baseline.empty()) {
    if (std::find(experiment.networks.begin(), experiment.networks.end(), experiment.baseline) ==
        experiment.networks.end()) {
      throw std::runtime_error((run_dir / "plan.json").string() + ": experiment '" + experiment.name +
                               "' names baseline '" + experiment.baseline + "', which it does not train");
    }
    table.baseline = experiment.baseline;
    table.baseline_rule = "named by the experiment";
  } else {
    table.baseline = experiment.networks.front();
    table.baseline_rule = "the experiment's first network";
  }
  for (const std::string& network : experiment.networks) {
    NetworkRow row;
    row.network = network;
    for (const model::UgsVariant& variant : model::ugsnet_variants()) {
      row.uncertainty_heads = row.uncertainty_heads || network == variant.name;
    }
    row.paper = paper::find_segmentation_row(experiment.paper_table, network);
    for (int fold : plan.folds) row.folds.push_back(fold_cell(run_dir, plan, experiment, network, fold, ledger));
    for (const ReportMetric& m : report_metrics()) {
      std::vector<double> values;
      for (const FoldCell& cell : row.folds) {
        const auto found = cell.values.find(m.key);
        if (found != cell.values.end()) values.push_back(found->second);
      }
      row.over_folds[m.key] = fold_statistic(values);
    }
    table.rows.push_back(std::move(row));
  }
  const NetworkRow& baseline = *table.row(table.baseline);
  for (NetworkRow& row : table.rows) {
    if (row.network == table.baseline) continue;
    for (const ReportMetric& m : report_metrics()) {
      PairedDifference difference;
      std::vector<double> values;
      for (std::size_t k = 0; k < row.folds.size(); ++k) {
        const auto own = row.folds[k].values.find(m.key);
        const auto base = baseline.folds[k].values.find(m.key);
        if (own == row.folds[k].values.end() || base == baseline.folds[k].values.end()) continue;
        difference.per_fold[row.folds[k].fold] = own->second - base->second;
        values.push_back(own->second - base->second);
      }
      difference.over_folds = fold_statistic(values);
      row.vs_baseline[m.key] = std::move(difference);
    }
  }
  return table;
}

std::optional<double> percent_or_none(const json& scores, const std::string& network, const char* metric,
                                      const fs::path& file) {
  if (!scores.contains(network)) return std::nullopt;
  const json& value = scores[network].at(metric);
  if (value.is_null()) return std::nullopt;
  if (!value.is_number()) throw std::runtime_error(file.string() + ": " + network + " " + metric + " is not a number");
  return value.get<double>() * 100;
}

ComplexNodulesTable complex_nodules_table(const fs::path& run_dir, const Plan& plan,
                                          const PlanExperiment& experiment, const LedgerState& ledger) {
  ComplexNodulesTable table;
  table.experiment = experiment.name;
  table.description = experiment.description;
  table.paper_table = experiment.paper_table;
  table.reference = experiment.reference;
  table.folds = plan.folds;
  if (experiment.jobs.size() != 1) {
    throw std::runtime_error((run_dir / "plan.json").string() + ": complex_nodules experiment '" +
                             experiment.name + "' has " + std::to_string(experiment.jobs.size()) +
                             " jobs, expected its one analysis job");
  }
  const PlanJob& job = *plan.job(experiment.jobs.front());
  table.job_id = job.id;
  const JobStatus status = status_of(ledger, job.id);
  table.state = status.state;
  table.note = status.note;
  std::optional<json> document;
  const fs::path file = run_dir / job.folder / "complex_nodules.json";
  if (status.state == "completed") {
    if (fs::exists(file)) {
      document = read_json_file(file, "the coordinator's analysis");
      expect_schema(*document, file, "ugs.complex-nodules");
    } else {
      table.note = "completed without " + (fs::path(job.folder) / "complex_nodules.json").generic_string();
    }
  }
  for (double threshold : experiment.thresholds) {
    ComplexNodulesGroup group;
    group.threshold = threshold;
    for (const std::string& network : experiment.networks) {
      ComplexNodulesRow row;
      row.network = network;
      if (experiment.paper_table == "III") row.paper = paper::find_complex_nodules_row(threshold, network);
      group.rows.push_back(std::move(row));
    }
    if (document) {
      try {
        const json* entry = nullptr;
        for (const json& candidate : document->at("thresholds")) {
          if (std::abs(candidate.at("threshold").get<double>() - threshold) <= kThresholdTolerance) entry = &candidate;
        }
        if (entry == nullptr) {
          throw std::runtime_error(file.string() + ": has no threshold " + std::to_string(threshold) +
                                   " of the plan");
        }
        for (const json& fold : entry->at("folds")) {
          const int k = fold.at("fold").get<int>();
          group.nodules[k] = fold.at("nodules").get<int>();
          for (ComplexNodulesRow& row : group.rows) {
            for (const char* metric : {"dsc", "iou"}) {
              if (auto v = percent_or_none(fold.at("scores"), row.network, metric, file)) row.per_fold[k][metric] = *v;
            }
          }
        }
        for (ComplexNodulesRow& row : group.rows) {
          for (const char* metric : {"dsc", "iou"}) {
            if (auto v = percent_or_none(entry->at("average"), row.network, metric, file)) row.average[metric] = *v;
          }
        }
      } catch (const json::exception& e) {
        throw std::runtime_error(file.string() + ": " + e.what());
      }
    }
    const auto reference = std::find_if(group.rows.begin(), group.rows.end(),
                                         [&](const ComplexNodulesRow& r) { return r.network == table.reference; });
    if (reference != group.rows.end()) {
      for (ComplexNodulesRow& row : group.rows) {
        if (row.network == table.reference) continue;
        for (const auto& [fold, scores] : row.per_fold) {
          const auto base = reference->per_fold.find(fold);
          if (base == reference->per_fold.end()) continue;
          for (const auto& [metric, value] : scores) {
            const auto b = base->second.find(metric);
            if (b != base->second.end()) row.vs_reference_per_fold[fold][metric] = value - b->second;
          }
        }
        for (const auto& [metric, value] : row.average) {
          const auto b = reference->average.find(metric);
          if (b != reference->average.end()) row.vs_reference[metric] = value - b->second;
        }
      }
    }
    table.groups.push_back(std::move(group));
  }
  return table;
}

// ---------------------------------------------------------------------------------------------
// Formatting

bool finite(double v) { return std::isfinite(v); }

std::string fixed(double value, int decimals, bool sign = false) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, sign ? "%+.*f" : "%.*f", decimals, value);
  return buffer;
}

int decimals_of(const std::string& key) { return key == "ged_squared" ? 4 : 2; }

// A published "mean ± std" as the paper prints it.
std::string published(const paper::MeanStd& value) {
  return fixed(value.mean, 2) + " ± " + fixed(value.std, value.std_decimals);
}

std::string mean_std_cell(const FoldStatistic& s, const std::string& key, std::size_t folds) {
  if (s.folds == 0) return "—";
  std::string text = fixed(s.mean, decimals_of(key)) + " ± " + fixed(s.std, decimals_of(key));
  if (static_cast<std::size_t>(s.folds) < folds) text += " (" + std::to_string(s.folds) + "/" + std::to_string(folds) + ")";
  return text;
}

std::string difference_cell(const PairedDifference& d, const std::string& key, std::size_t folds) {
  const FoldStatistic& s = d.over_folds;
  if (s.folds == 0) return "—";
  std::string text = fixed(s.mean, decimals_of(key), true) + " ± " + fixed(s.std, decimals_of(key));
  if (static_cast<std::size_t>(s.folds) < folds) text += " (" + std::to_string(s.folds) + "/" + std::to_string(folds) + ")";
  return text;
}

// "— failed", "— running": a missing cell with the state of its job ("—" alone when it completed
// without that score; the notes under the table say why).
std::string missing(const std::string& state) { return state == "completed" ? "—" : "— " + state; }

std::string table_title(const std::string& paper_table, const std::string& experiment) {
  return (paper_table.empty() ? "Experiment" : "Table " + paper_table) + " — `" + experiment + "`";
}

std::string row_line(const std::vector<std::string>& cells) {
  std::string line = "|";
  for (const std::string& cell : cells) line += " " + cell + " |";
  return line + "\n";
}

std::string header_lines(const std::vector<std::string>& cells) {
  std::string rule = "|";
  for (std::size_t i = 0; i < cells.size(); ++i) rule += i == 0 ? "---|" : "---:|";
  return row_line(cells) + rule + "\n";
}

const std::vector<std::string> kLabelMetrics{"dsc", "iou", "nsd"};
const std::vector<std::string> kSetMetrics{"ged_squared", "hm_iou"};

const ReportMetric& metric(const std::string& key) {
  for (const ReportMetric& m : report_metrics()) {
    if (key == m.key) return m;
  }
  throw std::logic_error("no report metric " + key);
}

const paper::MeanStd* paper_statistic(const paper::SegmentationRow& row, const std::string& key) {
  if (key == "dsc") return &row.dsc;
  if (key == "iou") return &row.iou;
  if (key == "nsd") return &row.nsd;
  return nullptr;
}

double paper_fold_value(const paper::FoldScores& scores, const std::string& key) {
  if (key == "dsc") return scores.dsc;
  if (key == "iou") return scores.iou;
  return scores.nsd;
}

std::string training_markdown(const TrainingTable& table) {
  std::string out = "## " + table_title(table.paper_table, table.experiment) + "\n\n";
  if (!table.description.empty()) out += table.description + "\n\n";
  const std::size_t folds = table.folds.size();
  bool any_set = false, any_paper = false;
  for (const NetworkRow& row : table.rows) {
    any_set = any_set || row.uncertainty_heads;
    any_paper = any_paper || row.paper != nullptr;
  }
  std::vector<std::string> metrics = kLabelMetrics;
  if (any_set) metrics.insert(metrics.end(), kSetMetrics.begin(), kSetMetrics.end());
  const NetworkRow& baseline = *table.row(table.baseline);

  out += "Over the " + std::to_string(folds) + " folds (mean ± population std of the fold values; (k/" +
         std::to_string(folds) + "): only k folds have a value)" +
         (any_paper ? "; the paper's Table " + table.paper_table + " beside it" : "") + ":\n\n";
  std::vector<std::string> header{"Network"};
  for (const std::string& key : metrics) header.push_back(metric(key).label);
  if (any_paper) {
    for (const std::string& key : kLabelMetrics) header.push_back(std::string("Paper ") + metric(key).label);
  }
  out += header_lines(header);
  for (const NetworkRow& row : table.rows) {
    std::vector<std::string> cells{"`" + row.network + "`"};
    for (const std::string& key : metrics) {
      const bool set_metric = std::find(kSetMetrics.begin(), kSetMetrics.end(), key) != kSetMetrics.end();
      cells.push_back(set_metric && !row.uncertainty_heads ? "n/a" : mean_std_cell(row.over_folds.at(key), key, folds));
    }
    if (any_paper) {
      for (const std::string& key : kLabelMetrics) {
        const paper::MeanStd* p = row.paper ? paper_statistic(*row.paper, key) : nullptr;
        cells.push_back(p ? published(*p) : "");
      }
    }
    out += row_line(cells);
  }
  if (any_set) out += "\nGED² and HM-IoU score {I', X_S, U'} against the annotators' masks; n/a: a network without uncertainty heads.\n";

  out += "\nPer fold (Label_1; the mean over the fold's test nodules):\n\n";
  header = {"Network"};
  for (int fold : table.folds) {
    for (const std::string& key : kLabelMetrics) header.push_back("fold " + std::to_string(fold) + " " + metric(key).label);
  }
  out += header_lines(header);
  for (const NetworkRow& row : table.rows) {
    std::vector<std::string> cells{"`" + row.network + "`"};
    for (const FoldCell& cell : row.folds) {
      for (const std::string& key : kLabelMetrics) {
        const auto found = cell.values.find(key);
        cells.push_back(found != cell.values.end() ? fixed(found->second, decimals_of(key)) : missing(cell.state));
      }
    }
    out += row_line(cells);
  }
  if (any_set) {
    out += "\nSet scores per fold:\n\n";
    header = {"Network"};
    for (int fold : table.folds) {
      for (const std::string& key : kSetMetrics) header.push_back("fold " + std::to_string(fold) + " " + metric(key).label);
    }
    out += header_lines(header);
    for (const NetworkRow& row : table.rows) {
      if (!row.uncertainty_heads) continue;
      std::vector<std::string> cells{"`" + row.network + "`"};
      for (const FoldCell& cell : row.folds) {
        for (const std::string& key : kSetMetrics) {
          const auto found = cell.values.find(key);
          cells.push_back(found != cell.values.end() ? fixed(found->second, decimals_of(key)) : missing(cell.state));
        }
      }
      out += row_line(cells);
    }
  }

  out += "\nPaired differences against the baseline `" + table.baseline + "` (" + table.baseline_rule +
         "): network − baseline fold by fold (DSC / IoU / NSD), then their mean ± population std";
  const bool paper_baseline = baseline.paper != nullptr;
  if (any_paper && paper_baseline) out += "; the paper's: the difference of its averages";
  out += ":\n\n";
  header = {"Network"};
  for (int fold : table.folds) header.push_back("fold " + std::to_string(fold));
  for (const std::string& key : kLabelMetrics) header.push_back(std::string("Δ ") + metric(key).label);
  if (any_paper && paper_baseline) {
    for (const std::string& key : kLabelMetrics) header.push_back(std::string("Paper Δ ") + metric(key).label);
  }
  out += header_lines(header);
  for (const NetworkRow& row : table.rows) {
    if (row.network == table.baseline) continue;
    std::vector<std::string> cells{"`" + row.network + "`"};
    for (int fold : table.folds) {
      std::string cell;
      for (const std::string& key : kLabelMetrics) {
        const auto& per_fold = row.vs_baseline.at(key).per_fold;
        const auto found = per_fold.find(fold);
        cell += (cell.empty() ? "" : " / ") + (found != per_fold.end() ? fixed(found->second, 2, true) : "—");
      }
      cells.push_back(cell);
    }
    for (const std::string& key : kLabelMetrics) cells.push_back(difference_cell(row.vs_baseline.at(key), key, folds));
    if (any_paper && paper_baseline) {
      for (const std::string& key : kLabelMetrics) {
        cells.push_back(row.paper ? fixed(paper_statistic(*row.paper, key)->mean -
                                              paper_statistic(*baseline.paper, key)->mean, 2, true)
                                  : "");
      }
    }
    out += row_line(cells);
  }

  std::string notes;
  for (const NetworkRow& row : table.rows) {
    for (const FoldCell& cell : row.folds) {
      if (!cell.note.empty()) notes += "- `" + row.network + "` fold " + std::to_string(cell.fold) + ": " + cell.note + "\n";
    }
  }
  if (!notes.empty()) out += "\nWithout a result:\n\n" + notes;
  return out + "\n";
}

// 0.6 -> "60%", 0.625 -> "62.5%".
std::string threshold_label(double threshold) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g%%", threshold * 100);
  return buffer;
}

std::string complex_nodules_markdown(const ComplexNodulesTable& table) {
  std::string out = "## " + table_title(table.paper_table, table.experiment) + "\n\n";
  if (!table.description.empty()) out += table.description + "\n\n";
  out += "Complex nodules: those whose `" + table.reference + "` DSC (Label_1) is <= the threshold, per fold; " +
         "a network's score is its mean DSC / IoU over them, the average the mean of the fold means; Δ = network − `" +
         table.reference + "`. Analysis job " + table.job_id + ": " + table.state +
         (table.note.empty() ? "" : " (" + table.note + ")") + ".\n\n";
  bool any_paper = false;
  for (const ComplexNodulesGroup& group : table.groups) {
    for (const ComplexNodulesRow& row : group.rows) any_paper = any_paper || row.paper != nullptr;
  }
  const std::string none = table.state == "completed" ? "—" : missing(table.state);
  for (const ComplexNodulesGroup& group : table.groups) {
    out += "### `" + table.reference + "` DSC <= " + threshold_label(group.threshold) + "\n\n";
    if (!group.nodules.empty()) {
      out += "Complex nodules per fold:";
      for (const auto& [fold, count] : group.nodules) out += " fold " + std::to_string(fold) + ": " + std::to_string(count) + ";";
      out.back() = '.';
      out += "\n\n";
    }
    std::vector<std::string> header{"Network"};
    for (int fold : table.folds) {
      header.push_back("fold " + std::to_string(fold) + " DSC");
      header.push_back("fold " + std::to_string(fold) + " IoU");
    }
    for (const char* h : {"Average DSC", "Average IoU", "Δ DSC", "Δ IoU"}) header.push_back(h);
    if (any_paper) {
      for (const char* h : {"Paper DSC", "Paper IoU", "Paper Δ DSC", "Paper Δ IoU"}) header.push_back(h);
    }
    out += header_lines(header);
    for (const ComplexNodulesRow& row : group.rows) {
      std::vector<std::string> cells{"`" + row.network + "`"};
      const auto value = [&](const std::map<std::string, double>& scores, const char* metric, bool sign) {
        const auto found = scores.find(metric);
        return found != scores.end() ? fixed(found->second, 2, sign) : none;
      };
      for (int fold : table.folds) {
        const auto found = row.per_fold.find(fold);
        const std::map<std::string, double> empty;
        const auto& scores = found != row.per_fold.end() ? found->second : empty;
        cells.push_back(value(scores, "dsc", false));
        cells.push_back(value(scores, "iou", false));
      }
      cells.push_back(value(row.average, "dsc", false));
      cells.push_back(value(row.average, "iou", false));
      const bool is_reference = row.network == table.reference;
      cells.push_back(is_reference ? "" : value(row.vs_reference, "dsc", true));
      cells.push_back(is_reference ? "" : value(row.vs_reference, "iou", true));
      if (any_paper) {
        cells.push_back(row.paper ? fixed(row.paper->average.dsc, 2) : "");
        cells.push_back(row.paper ? fixed(row.paper->average.iou, 2) : "");
        cells.push_back(row.paper && row.paper->has_gain ? fixed(row.paper->gain.dsc, 2, true) : "");
        cells.push_back(row.paper && row.paper->has_gain ? fixed(row.paper->gain.iou, 2, true) : "");
      }
      out += row_line(cells);
    }
    out += "\n";
  }
  return out;
}

json number_or_null(double value) { return finite(value) ? json(value) : json(nullptr); }

json statistic_json(const FoldStatistic& s) {
  return {{"folds", s.folds}, {"mean", number_or_null(s.mean)}, {"std", number_or_null(s.std)}};
}

json paper_segmentation_json(const paper::SegmentationRow& row) {
  json folds = json::array();
  for (const paper::FoldScores& f : row.folds) folds.push_back({{"dsc", f.dsc}, {"iou", f.iou}, {"nsd", f.nsd}});
  return {{"row", row.paper_name},
          {"mean", {{"dsc", row.dsc.mean}, {"iou", row.iou.mean}, {"nsd", row.nsd.mean}}},
          {"std", {{"dsc", row.dsc.std}, {"iou", row.iou.std}, {"nsd", row.nsd.std}}},
          {"folds", folds}};
}

json training_json(const TrainingTable& table) {
  json rows = json::array();
  for (const NetworkRow& row : table.rows) {
    json folds = json::array();
    for (const FoldCell& cell : row.folds) {
      json values = json::object();
      for (const auto& [key, value] : cell.values) values[key] = value;
      folds.push_back({{"fold", cell.fold}, {"state", cell.state}, {"note", cell.note}, {"jobs", cell.job_ids},
                       {"values", values}});
    }
    json over_folds = json::object(), vs_baseline = json::object();
    for (const ReportMetric& m : report_metrics()) {
      over_folds[m.key] = statistic_json(row.over_folds.at(m.key));
      const auto difference = row.vs_baseline.find(m.key);
      if (difference == row.vs_baseline.end()) continue;
      json per_fold = json::object();
      for (const auto& [fold, value] : difference->second.per_fold) per_fold[std::to_string(fold)] = value;
      json entry = statistic_json(difference->second.over_folds);
      entry["per_fold"] = per_fold;
      vs_baseline[m.key] = entry;
    }
    rows.push_back({{"network", row.network}, {"folds", folds}, {"over_folds", over_folds},
                    {"vs_baseline", vs_baseline},
                    {"paper", row.paper ? paper_segmentation_json(*row.paper) : json(nullptr)}});
  }
  return {{"experiment", table.experiment}, {"kind", "training"}, {"description", table.description},
          {"paper_table", table.paper_table}, {"baseline", table.baseline}, {"baseline_rule", table.baseline_rule},
          {"folds", table.folds}, {"rows", rows}};
}

json scores_json(const std::map<std::string, double>& scores) {
  json out = json::object();
  for (const auto& [metric, value] : scores) out[metric] = value;
  return out;
}

json complex_nodules_json(const ComplexNodulesTable& table) {
  json groups = json::array();
  for (const ComplexNodulesGroup& group : table.groups) {
    json nodules = json::object(), rows = json::array();
    for (const auto& [fold, count] : group.nodules) nodules[std::to_string(fold)] = count;
    for (const ComplexNodulesRow& row : group.rows) {
      json per_fold = json::object(), vs_per_fold = json::object();
      for (const auto& [fold, scores] : row.per_fold) per_fold[std::to_string(fold)] = scores_json(scores);
      for (const auto& [fold, scores] : row.vs_reference_per_fold) vs_per_fold[std::to_string(fold)] = scores_json(scores);
      json paper = nullptr;
      if (row.paper) {
        json folds = json::array();
        for (const paper::OverlapScores& f : row.paper->folds) folds.push_back({{"dsc", f.dsc}, {"iou", f.iou}});
        paper = {{"folds", folds}, {"average", {{"dsc", row.paper->average.dsc}, {"iou", row.paper->average.iou}}},
                 {"gain", row.paper->has_gain ? json{{"dsc", row.paper->gain.dsc}, {"iou", row.paper->gain.iou}}
                                              : json(nullptr)}};
      }
      rows.push_back({{"network", row.network}, {"per_fold", per_fold}, {"average", scores_json(row.average)},
                      {"vs_reference_per_fold", vs_per_fold}, {"vs_reference", scores_json(row.vs_reference)},
                      {"paper", paper}});
    }
    groups.push_back({{"threshold", group.threshold}, {"nodules", nodules}, {"rows", rows}});
  }
  return {{"experiment", table.experiment}, {"kind", "complex_nodules"}, {"description", table.description},
          {"paper_table", table.paper_table}, {"reference", table.reference}, {"job", table.job_id},
          {"state", table.state}, {"note", table.note}, {"folds", table.folds}, {"groups", groups}};
}

// CSV: RFC 4180 quoting where needed; numbers with 10 significant digits; empty = no value.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string csv_number(double value) {
  if (!finite(value)) return "";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.10g", value);
  return buffer;
}

std::string csv_line(const std::vector<std::string>& fields) {
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) line += (i ? "," : "") + csv_field(fields[i]);
  return line + "\n";
}

std::string training_csv(const TrainingTable& table) {
  std::vector<std::string> header{"experiment", "network", "row", "fold", "state", "note"};
  for (const ReportMetric& m : report_metrics()) header.push_back(m.key);
  for (const ReportMetric& m : report_metrics()) header.push_back(std::string(m.key) + "_vs_baseline");
  std::string out = csv_line(header);
  const NetworkRow& baseline = *table.row(table.baseline);
  for (const NetworkRow& row : table.rows) {
    const auto line = [&](const std::string& kind, const std::string& fold, const std::string& state,
                          const std::string& note, const auto& value_of, const auto& difference_of) {
      std::vector<std::string> fields{table.experiment, row.network, kind, fold, state, note};
      for (const ReportMetric& m : report_metrics()) fields.push_back(csv_number(value_of(m.key)));
      for (const ReportMetric& m : report_metrics()) {
        fields.push_back(row.network == table.baseline ? "" : csv_number(difference_of(m.key)));
      }
      out += csv_line(fields);
    };
    for (const FoldCell& cell : row.folds) {
      line("fold", std::to_string(cell.fold), cell.state, cell.note,
           [&](const std::string& key) {
             const auto found = cell.values.find(key);
             return found != cell.values.end() ? found->second : kNaN;
           },
           [&](const std::string& key) {
             const auto& per_fold = row.vs_baseline.at(key).per_fold;
             const auto found = per_fold.find(cell.fold);
             return found != per_fold.end() ? found->second : kNaN;
           });
    }
    const auto over = [&](const std::string& key) -> const FoldStatistic& { return row.over_folds.at(key); };
    const auto paired = [&](const std::string& key) -> const FoldStatistic& {
      return row.vs_baseline.at(key).over_folds;
    };
    line("mean", "", "", "", [&](const std::string& k) { return over(k).folds ? over(k).mean : kNaN; },
         [&](const std::string& k) { return paired(k).folds ? paired(k).mean : kNaN; });
    line("std", "", "", "", [&](const std::string& k) { return over(k).folds ? over(k).std : kNaN; },
         [&](const std::string& k) { return paired(k).folds ? paired(k).std : kNaN; });
    line("folds", "", "", "", [&](const std::string& k) { return static_cast<double>(over(k).folds); },
         [&](const std::string& k) { return static_cast<double>(paired(k).folds); });
    if (!row.paper) continue;
    const paper::SegmentationRow& p = *row.paper;
    const paper::SegmentationRow* b = baseline.paper;
    const auto label_only = [](const std::string& key) {
      return std::find(kLabelMetrics.begin(), kLabelMetrics.end(), key) != kLabelMetrics.end();
    };
    for (std::size_t k = 0; k < p.folds.size(); ++k) {
      line("paper_fold", std::to_string(k + 1), "", "",
           [&](const std::string& key) { return label_only(key) ? paper_fold_value(p.folds[k], key) : kNaN; },
           [&](const std::string& key) {
             return label_only(key) && b && k < b->folds.size()
                        ? paper_fold_value(p.folds[k], key) - paper_fold_value(b->folds[k], key) : kNaN;
           });
    }
    line("paper_mean", "", "", "",
         [&](const std::string& key) { return label_only(key) ? paper_statistic(p, key)->mean : kNaN; },
         [&](const std::string& key) {
           return label_only(key) && b ? paper_statistic(p, key)->mean - paper_statistic(*b, key)->mean : kNaN;
         });
    line("paper_std", "", "", "",
         [&](const std::string& key) { return label_only(key) ? paper_statistic(p, key)->std : kNaN; },
         [&](const std::string&) { return kNaN; });
  }
  return out;
}

std::string complex_nodules_csv(const ComplexNodulesTable& table) {
  std::string out = csv_line({"experiment", "threshold", "network", "row", "fold", "nodules", "state", "dsc", "iou",
                              "dsc_vs_reference", "iou_vs_reference"});
  const auto get = [](const std::map<std::string, double>& scores, const char* metric) {
    const auto found = scores.find(metric);
    return found != scores.end() ? found->second : kNaN;
  };
  const std::map<std::string, double> empty;
  for (const ComplexNodulesGroup& group : table.groups) {
    const paper::ComplexNodulesRow* paper_reference = nullptr;
    for (const ComplexNodulesRow& row : group.rows) {
      if (row.network == table.reference) paper_reference = row.paper;
    }
    for (const ComplexNodulesRow& row : group.rows) {
      const std::string threshold = csv_number(group.threshold);
      for (int fold : table.folds) {
        const auto scores = row.per_fold.find(fold);
        const auto diffs = row.vs_reference_per_fold.find(fold);
        const auto nodules = group.nodules.find(fold);
        const auto& s = scores != row.per_fold.end() ? scores->second : empty;
        const auto& d = diffs != row.vs_reference_per_fold.end() ? diffs->second : empty;
        out += csv_line({table.experiment, threshold, row.network, "fold", std::to_string(fold),
                         nodules != group.nodules.end() ? std::to_string(nodules->second) : "", table.state,
                         csv_number(get(s, "dsc")), csv_number(get(s, "iou")), csv_number(get(d, "dsc")),
                         csv_number(get(d, "iou"))});
      }
      out += csv_line({table.experiment, threshold, row.network, "average", "", "", table.state,
                       csv_number(get(row.average, "dsc")), csv_number(get(row.average, "iou")),
                       csv_number(get(row.vs_reference, "dsc")), csv_number(get(row.vs_reference, "iou"))});
      if (!row.paper) continue;
      const bool is_reference = row.network == table.reference;
      for (std::size_t k = 0; k < row.paper->folds.size(); ++k) {
        const paper::OverlapScores& f = row.paper->folds[k];
        const bool paired = !is_reference && paper_reference;
        out += csv_line({table.experiment, threshold, row.network, "paper_fold", std::to_string(k + 1), "", "",
                         csv_number(f.dsc), csv_number(f.iou),
                         paired ? csv_number(f.dsc - paper_reference->folds[k].dsc) : "",
                         paired ? csv_number(f.iou - paper_reference->folds[k].iou) : ""});
      }
      out += csv_line({table.experiment, threshold, row.network, "paper_average", "", "", "",
                       csv_number(row.paper->average.dsc), csv_number(row.paper->average.iou),
                       row.paper->has_gain ? csv_number(row.paper->gain.dsc) : "",
                       row.paper->has_gain ? csv_number(row.paper->gain.iou) : ""});
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Figures

// The training table the figures come from: paper_table "I", else the first one.
const TrainingTable* figure_table(const Report& report) {
  for (const TrainingTable& table : report.training_tables) {
    if (table.paper_table == "I") return &table;
  }
  return report.training_tables.empty() ? nullptr : &report.training_tables.front();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

const std::vector<ReportMetric>& report_metrics() {
  static const std::vector<ReportMetric> kMetrics{
      {"dsc", "DSC", "label_1", "dsc", 100},
      {"iou", "IoU", "label_1", "iou", 100},
      {"nsd", "NSD", "label_1", "nsd", 100},
      {"ged_squared", "GED²", "set", "ged_squared", 1},
      {"hm_iou", "HM-IoU", "set", "hm_iou", 100},
  };
  return kMetrics;
}

FoldStatistic fold_statistic(const std::vector<double>& values) {
  FoldStatistic s;
  s.folds = static_cast<int>(values.size());
  if (values.empty()) {
    s.mean = s.std = kNaN;
    return s;
  }
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  double squares = 0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(squares / static_cast<double>(values.size()));
  return s;
}

const NetworkRow* TrainingTable::row(const std::string& network) const {
  for (const NetworkRow& r : rows) {
    if (r.network == network) return &r;
  }
  return nullptr;
}

Report read_report(const fs::path& run_dir) {
  const Plan plan = read_plan(run_dir);
  const LedgerState ledger = read_ledger(run_dir);
  Report report;
  report.run_dir = run_dir;
  report.sweep_name = plan.name;
  report.notes = ledger.notes;
  for (const PlanJob& job : plan.jobs) {
    ++report.job_states[status_of(ledger, job.id).state];
    report.job_folders[job.id] = job.folder;
  }
  for (const PlanExperiment& experiment : plan.experiments) {
    if (experiment.training) {
      report.training_tables.push_back(training_table(run_dir, plan, experiment, ledger));
    } else {
      report.complex_nodules_tables.push_back(complex_nodules_table(run_dir, plan, experiment, ledger));
    }
  }
  return report;
}

void draw_figures(Report& report) {
  report.figures.clear();
  ReportFigure montage{"Fig. 7", "", "", ""};
  ReportFigure hu{"Fig. 8", "", "", ""};
  const auto skip_both = [&](const std::string& why) {
    montage.note = hu.note = why;
    report.figures = {montage, hu};
  };
  const TrainingTable* table = figure_table(report);
  if (table == nullptr) return skip_both("the run has no training experiment");
  const NetworkRow* best = nullptr;
  for (const NetworkRow& row : table->rows) {
    const FoldStatistic& dsc = row.over_folds.at("dsc");
    if (static_cast<std::size_t>(dsc.folds) != table->folds.size()) continue;
    if (best == nullptr || dsc.mean > best->over_folds.at("dsc").mean) best = &row;
  }
  if (best == nullptr) {
    return skip_both("no network of `" + table->experiment + "` has a Label_1 DSC in every fold yet");
  }
  const FoldCell* cell = nullptr;
  for (const FoldCell& c : best->folds) {
    if (c.state == "completed" && !c.job_ids.empty()) {
      cell = &c;
      break;
    }
  }
  const std::string job_folder = report.job_folders.at(cell->job_ids.front());
  const fs::path job_dir = report.run_dir / job_folder;
  const std::string which = "`" + best->network + "` (best mean Label_1 DSC of `" + table->experiment + "`, " +
                            fixed(best->over_folds.at("dsc").mean, 2) + "%), fold " + std::to_string(cell->fold) +
                            ", job " + job_folder;
  const fs::path out_dir = report.run_dir / kReportFolder;
  try {
    fs::create_directories(out_dir);
    const worker::Config config = worker::load_config(job_dir / "config.toml");
    storage::NoduleStore store = storage::NoduleStore::open(config.data.store);
    const fs::path predictions_file = job_dir / "predictions.h5";
    const storage::Predictions predictions = storage::read_predictions(predictions_file);
    try {
      const std::size_t count = std::min(kMontageNodules, predictions.size());
      std::vector<std::size_t> rows;
      for (std::size_t k = 0; k < count; ++k) rows.push_back(k * predictions.size() / count);
      worker::write_montage(out_dir / kMontageFile, store, predictions, rows);
      montage.file = kMontageFile;
      montage.note = which + ": " + std::to_string(count) + " of its " + std::to_string(predictions.size()) +
                     " test nodules (image | predicted MCM: red I', blue U' outside I', green X_S contour | "
                     "the same from the annotators, green Label_1)";
    } catch (const std::exception& e) {
      montage.note = "not drawn for " + which + ": " + e.what();
    }
    if (!predictions.union_map || !predictions.intersection_map) {
      hu.note = "not drawn: " + which + " has no uncertainty heads (its predictions.h5 has no /union and "
                "/intersection), so it predicts no HC and LC regions";
    } else {
      try {
        const metrics::HuAnalysis analysis = metrics::analyze_hu(store, predictions, predictions_file);
        const std::string prefix = kHuPrefix;
        metrics::write_hu_analysis_json(out_dir / (prefix + ".json"), analysis);
        hu.text = metrics::hu_analysis_table(analysis);
        metrics::plot_hu_analysis(out_dir / (prefix + ".png"), analysis);
        hu.file = prefix + ".png";
        hu.note = which + ": HU densities in the predicted vs the true HC and LC regions (" + prefix + ".json)";
      } catch (const std::exception& e) {
        hu.note = "not drawn for " + which + ": " + e.what();
      }
    }
  } catch (const std::exception& e) {
    return skip_both("not drawn for " + which + ": " + e.what());
  }
  report.figures = {montage, hu};
}

std::string report_markdown(const Report& report) {
  std::string out = "# Results of run `" + report.sweep_name + "`\n\n";
  int total = 0;
  std::string states;
  for (const char* state : {"completed", "running", "preempted", "failed", "pending"}) {
    const auto found = report.job_states.find(state);
    if (found == report.job_states.end()) continue;
    total += found->second;
    states += (states.empty() ? "" : ", ") + std::to_string(found->second) + " " + state;
  }
  out += "Run folder `" + report.run_dir.generic_string() + "`: " + std::to_string(total) + " jobs, " + states +
         ". DSC, IoU, NSD and HM-IoU in percent, GED² as is. “—”: no result (with the job's state); "
         "nothing is filled in. docs/report.md explains every number.\n\n";
  for (const std::string& note : report.notes) out += "- ledger: " + note + "\n";
  if (!report.notes.empty()) out += "\n";
  for (const TrainingTable& table : report.training_tables) out += training_markdown(table);
  for (const ComplexNodulesTable& table : report.complex_nodules_tables) out += complex_nodules_markdown(table);
  if (!report.figures.empty()) {
    out += "## Figures\n\n";
    for (const ReportFigure& figure : report.figures) {
      out += "### " + figure.name + "\n\n";
      if (!figure.file.empty()) out += "![" + figure.name + "](" + figure.file + ")\n\n";
      out += figure.note + "\n\n";
      if (!figure.text.empty()) out += "```\n" + figure.text + "```\n\n";
    }
  }
  return out;
}

std::string report_json(const Report& report) {
  json tables = json::array();
  for (const TrainingTable& table : report.training_tables) tables.push_back(training_json(table));
  for (const ComplexNodulesTable& table : report.complex_nodules_tables) tables.push_back(complex_nodules_json(table));
  json units = json::object();
  for (const ReportMetric& m : report_metrics()) units[m.key] = m.scale == 100 ? "percent" : "as is";
  json figures = json::array();
  for (const ReportFigure& f : report.figures) {
    figures.push_back({{"name", f.name}, {"file", f.file.empty() ? json(nullptr) : json(f.file)}, {"note", f.note}});
  }
  json states = json::object();
  for (const auto& [state, count] : report.job_states) states[state] = count;
  const json document = {{"schema", "ugs.report"},
                         {"version", 1},
                         {"run", report.run_dir.generic_string()},
                         {"sweep", report.sweep_name},
                         {"units", units},
                         {"std", "population (ddof = 0) over the folds"},
                         {"jobs", states},
                         {"notes", report.notes},
                         {"tables", tables},
                         {"figures", figures}};
  return document.dump(2) + "\n";
}

std::map<std::string, std::string> report_csv(const Report& report) {
  std::map<std::string, std::string> files;
  for (const TrainingTable& table : report.training_tables) files[table.experiment + ".csv"] = training_csv(table);
  for (const ComplexNodulesTable& table : report.complex_nodules_tables) {
    files[table.experiment + ".csv"] = complex_nodules_csv(table);
  }
  return files;
}

void write_report_files(const Report& report) {
  const fs::path out_dir = report.run_dir / kReportFolder;
  fs::create_directories(out_dir);
  storage::write_file_atomically(out_dir / "report.md", report_markdown(report));
  storage::write_file_atomically(out_dir / "report.json", report_json(report));
  for (const auto& [name, content] : report_csv(report)) storage::write_file_atomically(out_dir / name, content);
}

Report make_report(const fs::path& run_dir, const ReportOptions& options) {
  Report report = read_report(run_dir);
  if (options.figures) draw_figures(report);
  write_report_files(report);
  return report;
}

}  // namespace ugs::orchestrator
