#include "ugs/orchestrator/analysis.h"

#include <cmath>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "ugs/storage/atomic_file.h"

namespace ugs::orchestrator {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct CaseScores {
  double dsc = std::nan("");
  double iou = std::nan("");
};

// nodule id -> Label_1 DSC and IoU, from a job's summary.json.
std::map<std::string, CaseScores> label1_scores(const fs::path& summary) {
  std::ifstream in(summary);
  if (!in) throw std::runtime_error(summary.string() + ": missing; the training job did not write its summary");
  const json document = json::parse(in, nullptr, false);
  if (document.is_discarded() || !document.contains("metric_per_case")) {
    throw std::runtime_error(summary.string() + ": not a ugs summary (no metric_per_case)");
  }
  auto number = [](const json& value) { return value.is_number() ? value.get<double>() : std::nan(""); };
  std::map<std::string, CaseScores> scores;
  for (const json& entry : document["metric_per_case"]) {
    const json& label1 = entry["metrics"]["label_1"];
    scores[entry["nodule_id"].get<std::string>()] = {number(label1["dsc"]), number(label1["iou"])};
  }
  return scores;
}

// Mean over finite values; NaN when there is none.
double mean(const std::vector<double>& values) {
  double sum = 0;
  int count = 0;
  for (double v : values) {
    if (std::isfinite(v)) {
      sum += v;
      ++count;
    }
  }
  return count ? sum / count : std::nan("");
}

json number_or_null(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

}  // namespace

void run_analysis_job(const Sweep& sweep, const Job& job, const fs::path& run_dir) {
  const Experiment& experiment = sweep.experiment(job.experiments.front());
  // fold -> network -> scores, from the training jobs this analysis depends on.
  std::map<int, std::map<std::string, std::map<std::string, CaseScores>>> by_fold;
  std::map<int, std::map<std::string, fs::path>> summaries;
  for (const std::string& id : job.depends_on) {
    const Job& training = sweep.job(id);
    const fs::path summary = run_dir / training.folder / "summary.json";
    by_fold[training.fold][training.network] = label1_scores(summary);
    summaries[training.fold][training.network] = summary;
  }
  json thresholds = json::array();
  for (const double threshold : experiment.dsc_thresholds) {
    json folds = json::array();
    std::map<std::string, std::vector<double>> fold_dsc, fold_iou;
    for (const auto& [fold, networks] : by_fold) {
      const auto reference = networks.find(experiment.reference);
      if (reference == networks.end()) continue;
      json scores = json::object();
      int nodules = 0;
      for (const std::string& network : experiment.networks) {
        const auto scored = networks.find(network);
        if (scored == networks.end()) continue;
        std::vector<double> dsc, iou;
        for (const auto& [nodule, reference_scores] : reference->second) {
          if (!(reference_scores.dsc <= threshold)) continue;  // NaN is never complex
          const auto own = scored->second.find(nodule);
          if (own == scored->second.end()) {
            throw std::runtime_error(summaries[fold][network].string() + ": has no nodule '" + nodule +
                                     "', which the " + experiment.reference + " summary of fold " +
                                     std::to_string(fold) + " has");
          }
          dsc.push_back(own->second.dsc);
          iou.push_back(own->second.iou);
        }
        nodules = static_cast<int>(dsc.size());
        scores[network] = {{"dsc", number_or_null(mean(dsc))}, {"iou", number_or_null(mean(iou))}};
        fold_dsc[network].push_back(mean(dsc));
        fold_iou[network].push_back(mean(iou));
      }
      folds.push_back({{"fold", fold}, {"nodules", nodules}, {"scores", scores}});
    }
    json average = json::object();
    for (const std::string& network : experiment.networks) {
      average[network] = {{"dsc", number_or_null(mean(fold_dsc[network]))},
                          {"iou", number_or_null(mean(fold_iou[network]))}};
    }
    thresholds.push_back({{"threshold", threshold}, {"folds", folds}, {"average", average}});
  }
  const json result = {{"schema", "ugs.complex-nodules"}, {"version", 1},          {"experiment", experiment.name},
                       {"reference", experiment.reference}, {"networks", experiment.networks},
                       {"thresholds", thresholds}};
  fs::create_directories(run_dir / job.folder);
  storage::write_file_atomically(run_dir / job.folder / kComplexNodulesFile, result.dump(2) + "\n");
}

}  // namespace ugs::orchestrator
