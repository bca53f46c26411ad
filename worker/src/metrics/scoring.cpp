#include "ugs/worker/scoring.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "prediction_rows.h"
#include "ugs/storage/atomic_file.h"
#include "ugs/storage/predictions.h"
#include "ugs/worker/metrics.h"

namespace ugs::metrics {

namespace fs = std::filesystem;
using storage::Nodule;
using storage::NoduleStore;
using storage::Predictions;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using detail::first_ids;
using detail::kReadBatch;

std::vector<std::uint8_t> thresholded(const float* probabilities, std::size_t pixels) {
  std::vector<std::uint8_t> mask(pixels);
  for (std::size_t k = 0; k < pixels; ++k) mask[k] = probabilities[k] >= kThreshold;
  return mask;
}

std::map<std::string, double> overlap_scores(MaskView truth, MaskView prediction,
                                             Spacing spacing_mm, double tolerance_mm) {
  return {{"dsc", dice(truth, prediction)},
          {"iou", iou(truth, prediction)},
          {"nsd", normalized_surface_dice(truth, prediction, spacing_mm, tolerance_mm)}};
}

// The mean of the finite values, NaN when there is none.
double nan_mean(const std::vector<double>& values) {
  double sum = 0.0;
  int count = 0;
  for (double v : values) {
    if (std::isnan(v)) continue;
    sum += v;
    ++count;
  }
  return count ? sum / count : kNaN;
}

NoduleScores score_nodule(const Nodule& nodule, const Predictions& p, std::size_t row,
                          double tolerance_mm) {
  const int height = p.height, width = p.width;
  const std::size_t pixels = p.pixels();
  const Spacing spacing = nodule.info.spacing_mm;
  std::vector<std::uint8_t> segmentation = thresholded(p.of(p.segmentation, row), pixels);
  const MaskView predicted{segmentation.data(), height, width};

  NoduleScores out{nodule.info.nodule_id, {}};
  out.scores["union"] = overlap_scores({nodule.union_mask.data(), height, width}, predicted, spacing,
                                       tolerance_mm);
  out.scores["intersection"] = overlap_scores({nodule.intersection_mask.data(), height, width},
                                              predicted, spacing, tolerance_mm);

  const int annotators = nodule.info.annotator_count;
  if (annotators == 0) return out;
  std::vector<MaskView> annotator_masks;
  std::map<std::string, std::vector<double>> per_annotator;
  for (int j = 0; j < annotators; ++j) {
    MaskView label{nodule.annotator(j, static_cast<int>(pixels)), height, width};
    annotator_masks.push_back(label);
    auto scores = overlap_scores(label, predicted, spacing, tolerance_mm);
    for (const auto& [metric, value] : scores) per_annotator[metric].push_back(value);
    out.scores["label_" + std::to_string(j + 1)] = std::move(scores);
  }
  for (const auto& [metric, values] : per_annotator) out.scores["label_mean"][metric] = nan_mean(values);

  if (p.union_map && p.intersection_map) {
    std::vector<std::uint8_t> predicted_union = thresholded(p.of(*p.union_map, row), pixels);
    std::vector<std::uint8_t> predicted_intersection =
        thresholded(p.of(*p.intersection_map, row), pixels);
    const std::vector<MaskView> predicted_set = {
        {predicted_intersection.data(), height, width}, predicted, {predicted_union.data(), height, width}};
    out.scores["set"] = {
        {"ged_squared", generalized_energy_distance_squared(predicted_set, annotator_masks)},
        {"hm_iou", hungarian_matched_iou(predicted_set, annotator_masks)}};
  }
  return out;
}

Statistic statistic_of(const std::vector<double>& values) {
  Statistic s;
  double sum = 0.0;
  for (double v : values) {
    if (std::isnan(v)) {
      ++s.nan_count;
    } else {
      sum += v;
      ++s.count;
    }
  }
  if (s.count == 0) {
    s.mean = s.std = kNaN;
    return s;
  }
  s.mean = sum / s.count;
  double squares = 0.0;
  for (double v : values) {
    if (!std::isnan(v)) squares += (v - s.mean) * (v - s.mean);
  }
  s.std = std::sqrt(squares / s.count);
  return s;
}

// Pairs (store index, prediction row) in store order, after checking that the ids match.
std::vector<std::pair<std::size_t, std::size_t>> match_to_store(const NoduleStore& store,
                                                                const Predictions& p,
                                                                const fs::path& predictions_file,
                                                                Coverage coverage) {
  const std::vector<std::size_t> indices = detail::store_indices(store, p, predictions_file);
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  for (std::size_t row = 0; row < indices.size(); ++row) pairs.emplace_back(indices[row], row);
  if (coverage == Coverage::kWholeStore && pairs.size() < store.size()) {
    std::unordered_set<std::string> predicted(p.nodule_ids.begin(), p.nodule_ids.end());
    std::vector<std::string> missing;
    for (std::size_t i = 0; i < store.size(); ++i) {
      if (!predicted.count(store.info(i).nodule_id)) missing.push_back(store.info(i).nodule_id);
    }
    throw std::runtime_error(store.path().string() + ": " + std::to_string(missing.size()) + " of " +
                             std::to_string(store.size()) + " nodules have no prediction in " +
                             predictions_file.string() + " (" + first_ids(missing) +
                             "); score a subset only on purpose (ugs score --subset)");
  }
  std::sort(pairs.begin(), pairs.end());
  return pairs;
}

std::vector<std::string> notes_for(const ScoreReport& report, const Predictions& p,
                                   std::size_t without_readers) {
  std::vector<std::string> notes;
  if (report.per_nodule.size() < report.store_size) {
    notes.push_back("subset: scored " + std::to_string(report.per_nodule.size()) + " of the store's " +
                    std::to_string(report.store_size) + " nodules");
  }
  if (without_readers > 0) {
    notes.push_back("label_* and set: absent for " + std::to_string(without_readers) +
                    " nodules without per-reader masks (annotator_count 0); only union and "
                    "intersection are scored for them");
  }
  if (!p.union_map || !p.intersection_map) {
    notes.push_back(std::string("set: absent, the predictions have no ") +
                    (!p.union_map && !p.intersection_map ? "/union and /intersection"
                     : !p.union_map                      ? "/union"
                                                         : "/intersection"));
  }
  return notes;
}

// Targets in reading order: the paper's Label_1 first, the set scores last.
int target_rank(const std::string& target) {
  if (target.rfind("label_", 0) == 0) return target == "label_mean" ? 1 : 0;
  if (target == "union") return 2;
  if (target == "intersection") return 3;
  return 4;
}

nlohmann::json number(double value) {
  return std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value);
}

}  // namespace

ScoreReport score_predictions(const NoduleStore& store, const fs::path& predictions_file,
                              const ScoringOptions& options) {
  if (!(std::isfinite(options.tolerance_mm) && options.tolerance_mm >= 0)) {
    throw std::runtime_error("NSD tolerance must be finite and >= 0 mm, got " +
                             std::to_string(options.tolerance_mm));
  }
  Predictions p = storage::read_predictions(predictions_file);
  auto pairs = match_to_store(store, p, predictions_file, options.coverage);

  ScoreReport report;
  report.truth = store.path();
  report.predictions = predictions_file;
  report.options = options;
  report.store_size = store.size();
  std::size_t without_readers = 0;
  for (std::size_t begin = 0; begin < pairs.size(); begin += kReadBatch) {
    std::size_t end = std::min(pairs.size(), begin + kReadBatch);
    std::vector<std::size_t> indices;
    for (std::size_t k = begin; k < end; ++k) indices.push_back(pairs[k].first);
    std::vector<Nodule> nodules = store.read(indices);
    for (std::size_t k = begin; k < end; ++k) {
      const Nodule& nodule = nodules[k - begin];
      without_readers += nodule.info.annotator_count == 0;
      report.per_nodule.push_back(score_nodule(nodule, p, pairs[k].second, options.tolerance_mm));
    }
  }

  std::map<std::string, std::map<std::string, std::vector<double>>> values;
  for (const NoduleScores& n : report.per_nodule) {
    for (const auto& [target, metrics] : n.scores) {
      for (const auto& [metric, value] : metrics) values[target][metric].push_back(value);
    }
  }
  for (const auto& [target, metrics] : values) {
    for (const auto& [metric, list] : metrics) report.summary[target][metric] = statistic_of(list);
  }
  report.notes = notes_for(report, p, without_readers);
  return report;
}

std::string summary_json(const ScoreReport& report) {
  nlohmann::json cases = nlohmann::json::array();
  for (const NoduleScores& n : report.per_nodule) {
    nlohmann::json metrics = nlohmann::json::object();
    for (const auto& [target, scores] : n.scores) {
      for (const auto& [metric, value] : scores) metrics[target][metric] = number(value);
    }
    cases.push_back({{"nodule_id", n.nodule_id}, {"metrics", metrics}});
  }
  nlohmann::json mean, std_dev, count, nan_count;
  for (const auto& [target, metrics] : report.summary) {
    for (const auto& [metric, s] : metrics) {
      mean[target][metric] = number(s.mean);
      std_dev[target][metric] = number(s.std);
      count[target][metric] = s.count;
      nan_count[target][metric] = s.nan_count;
    }
  }
  nlohmann::json summary = {
      {"schema", "ugs.score-summary"},
      {"version", 1},
      {"truth", report.truth.string()},
      {"predictions", report.predictions.string()},
      {"threshold", kThreshold},
      {"tolerance_mm", report.options.tolerance_mm},
      {"store_nodules", report.store_size},
      {"scored_nodules", report.per_nodule.size()},
      {"metric_per_case", cases},
      {"mean", mean},
      {"std", std_dev},
      {"count", count},
      {"nan_count", nan_count},
      {"notes", report.notes},
  };
  return summary.dump(2) + "\n";
}

void write_summary_json(const fs::path& file, const ScoreReport& report) {
  storage::write_file_atomically(file, summary_json(report));
}

std::string summary_table(const ScoreReport& report) {
  std::vector<std::string> targets;
  for (const auto& entry : report.summary) targets.push_back(entry.first);
  std::stable_sort(targets.begin(), targets.end(), [](const std::string& a, const std::string& b) {
    return target_rank(a) < target_rank(b);
  });
  std::ostringstream out;
  out << report.predictions.string() << " against " << report.truth.string() << ": "
      << report.per_nodule.size() << " of " << report.store_size
      << " nodules, threshold " << kThreshold << ", NSD tolerance " << report.options.tolerance_mm
      << " mm\n\n";
  char line[160];
  std::snprintf(line, sizeof line, "%-14s %-12s %8s %8s %7s %5s\n", "target", "metric", "mean", "std",
                "count", "NaN");
  out << line;
  for (const std::string& target : targets) {
    for (const auto& [metric, s] : report.summary.at(target)) {
      std::snprintf(line, sizeof line, "%-14s %-12s %8.4f %8.4f %7d %5d\n", target.c_str(),
                    metric.c_str(), s.mean, s.std, s.count, s.nan_count);
      out << line;
    }
  }
  for (const std::string& note : report.notes) out << "\nnote: " << note;
  if (!report.notes.empty()) out << "\n";
  return out.str();
}

}  // namespace ugs::metrics
