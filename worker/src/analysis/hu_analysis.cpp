#include "ugs/worker/hu_analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../metrics/prediction_rows.h"
#include "ugs/storage/atomic_file.h"
#include "ugs/worker/plot.h"
#include "ugs/worker/scoring.h"

namespace ugs::metrics {

namespace fs = std::filesystem;
using storage::Nodule;
using storage::NoduleStore;
using storage::Predictions;

namespace {

// The density grid reaches this many bandwidths beyond the extreme values (the tails hold < 1e-4).
constexpr double kGridMarginBandwidths = 4.0;
constexpr std::array<HuRegion, kHuRegionCount> kRegions = {
    HuRegion::kTrueHc, HuRegion::kPredictedHc, HuRegion::kTrueLc, HuRegion::kPredictedLc};
struct RegionNames {
  const char* json;
  const char* display;
};
constexpr RegionNames kRegionNames[kHuRegionCount] = {  // by HuRegion
    {"true_hc", "true HC"},
    {"predicted_hc", "predicted HC"},
    {"true_lc", "true LC"},
    {"predicted_lc", "predicted LC"}};
constexpr const char* kHcColor = "#d62728";
constexpr const char* kLcColor = "#1f77b4";

void require_uncertainty_heads(const Predictions& p, const fs::path& predictions_file) {
  if (p.union_map && p.intersection_map) return;
  const std::string missing = !p.union_map && !p.intersection_map ? "/union and /intersection"
                              : !p.union_map                      ? "/union"
                                                                  : "/intersection";
  throw std::runtime_error(predictions_file.string() + ": no " + missing +
                           ": the network has no uncertainty heads (U', I'), so there are no "
                           "predicted HC and LC regions to analyse");
}

using RegionValues = std::array<std::vector<double>, kHuRegionCount>;

void pool_regions(const Nodule& nodule, const Predictions& p, std::size_t row, RegionValues& out) {
  const float* predicted_union = p.of(*p.union_map, row);
  const float* predicted_intersection = p.of(*p.intersection_map, row);
  for (std::size_t k = 0; k < p.pixels(); ++k) {
    const double value = nodule.image[k];
    const bool true_hc = nodule.intersection_mask[k] != 0;
    const bool true_lc = nodule.union_mask[k] != 0 && !true_hc;
    const bool predicted_hc = predicted_intersection[k] >= kThreshold;
    const bool predicted_lc = predicted_union[k] >= kThreshold && !predicted_hc;
    if (true_hc) out[static_cast<int>(HuRegion::kTrueHc)].push_back(value);
    if (true_lc) out[static_cast<int>(HuRegion::kTrueLc)].push_back(value);
    if (predicted_hc) out[static_cast<int>(HuRegion::kPredictedHc)].push_back(value);
    if (predicted_lc) out[static_cast<int>(HuRegion::kPredictedLc)].push_back(value);
  }
}

// kGridPoints points from the smallest value minus kGridMarginBandwidths of its region's bandwidth
// to the largest plus as much.
std::vector<double> common_grid(const HuAnalysis& a) {
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (const EmpiricalDistribution& d : a.values) {
    if (d.empty()) continue;
    const double margin = kGridMarginBandwidths * d.silverman_bandwidth();
    low = std::min(low, d.sorted().front() - margin);
    high = std::max(high, d.sorted().back() + margin);
  }
  std::vector<double> grid(kGridPoints);
  for (int k = 0; k < kGridPoints; ++k) grid[k] = low + (high - low) * k / (kGridPoints - 1);
  return grid;
}

nlohmann::json number(double value) {
  return std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value);
}

std::string formatted(double value, const char* format) {
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

}  // namespace

const char* json_name(HuRegion region) { return kRegionNames[static_cast<int>(region)].json; }

const char* display_name(HuRegion region) {
  return kRegionNames[static_cast<int>(region)].display;
}

const char* unit_label(storage::ImageUnit unit) {
  return unit == storage::ImageUnit::kHounsfield ? "HU" : "8-bit intensity";
}

HuAnalysis analyze_hu(const NoduleStore& store, const Predictions& predictions,
                      const fs::path& predictions_file) {
  require_uncertainty_heads(predictions, predictions_file);
  const std::vector<std::size_t> indices =
      detail::store_indices(store, predictions, predictions_file);

  RegionValues pooled;
  for (std::size_t begin = 0; begin < indices.size(); begin += detail::kReadBatch) {
    const std::size_t end = std::min(indices.size(), begin + detail::kReadBatch);
    std::vector<Nodule> nodules =
        store.read(std::vector<std::size_t>(indices.begin() + begin, indices.begin() + end));
    for (std::size_t row = begin; row < end; ++row) {
      pool_regions(nodules[row - begin], predictions, row, pooled);
    }
  }

  HuAnalysis a;
  a.store = store.path();
  a.predictions = predictions_file;
  a.unit = store.attributes().image_unit;
  a.nodules = predictions.size();
  bool any_pixel = false;
  for (int r = 0; r < kHuRegionCount; ++r) {
    any_pixel |= !pooled[r].empty();
    a.values[r] = EmpiricalDistribution(std::move(pooled[r]));
  }
  if (!any_pixel) {
    throw std::runtime_error(predictions_file.string() + ": none of its " +
                             std::to_string(a.nodules) +
                             " nodules has a pixel in a true or predicted HC or LC region");
  }
  a.grid = common_grid(a);
  for (int r = 0; r < kHuRegionCount; ++r) {
    if (!a.values[r].empty()) a.density[r] = a.values[r].density(a.grid);
  }
  a.w1_hc = wasserstein1(a.of(HuRegion::kPredictedHc), a.of(HuRegion::kTrueHc));
  a.w1_lc = wasserstein1(a.of(HuRegion::kPredictedLc), a.of(HuRegion::kTrueLc));
  a.w1_true_hc_true_lc = wasserstein1(a.of(HuRegion::kTrueHc), a.of(HuRegion::kTrueLc));
  return a;
}

std::string hu_analysis_json(const HuAnalysis& a) {
  nlohmann::json regions = nlohmann::json::object();
  nlohmann::json density = {{"grid", a.grid}};
  for (HuRegion region : kRegions) {
    const EmpiricalDistribution& d = a.of(region);
    const storage::ValueStats& s = d.stats();
    regions[json_name(region)] = {{"count", s.count},
                                  {"mean", number(s.mean)},
                                  {"std", number(s.std)},
                                  {"min", number(s.min)},
                                  {"q1", number(s.q1)},
                                  {"median", number(s.median)},
                                  {"q3", number(s.q3)},
                                  {"max", number(s.max)},
                                  {"bandwidth", number(d.silverman_bandwidth())}};
    const std::vector<double>& curve = a.density[static_cast<int>(region)];
    density[json_name(region)] = curve.empty() ? nlohmann::json(nullptr) : nlohmann::json(curve);
  }
  nlohmann::json out = {
      {"schema", "ugs.hu-analysis"},
      {"version", 1},
      {"store", a.store.string()},
      {"predictions", a.predictions.string()},
      {"unit", unit_label(a.unit)},
      {"nodules", a.nodules},
      {"threshold", kThreshold},
      {"regions", regions},
      {"wasserstein1",
       {{"hc", number(a.w1_hc)},
        {"lc", number(a.w1_lc)},
        {"true_hc_vs_true_lc", number(a.w1_true_hc_true_lc)}}},
      {"density", density},
  };
  return out.dump(2) + "\n";
}

void write_hu_analysis_json(const fs::path& file, const HuAnalysis& analysis) {
  storage::write_file_atomically(file, hu_analysis_json(analysis));
}

std::string hu_analysis_table(const HuAnalysis& a) {
  const std::string unit = unit_label(a.unit);
  std::ostringstream out;
  out << "Pixel values (" << unit << ") in the true and predicted HC and LC regions of "
      << a.nodules << " nodules\n  predictions " << a.predictions.string() << "\n  store       "
      << a.store.string() << "\n";
  if (a.unit != storage::ImageUnit::kHounsfield) {
    out << "  the store keeps 8-bit display intensities (0..255), not HU\n";
  }
  char line[160];
  std::snprintf(line, sizeof line, "\n%-13s %9s %9s %9s %9s %9s %9s %9s\n", "region", "pixels",
                "mean", "std", "q1", "median", "q3", "bandwidth");
  out << line;
  for (HuRegion region : kRegions) {
    const EmpiricalDistribution& d = a.of(region);
    const storage::ValueStats& s = d.stats();
    std::snprintf(line, sizeof line, "%-13s %9zu %9.1f %9.1f %9.1f %9.1f %9.1f %9.2f\n",
                  display_name(region), s.count, s.mean, s.std, s.q1, s.median, s.q3,
                  d.silverman_bandwidth());
    out << line;
  }
  out << "\nWasserstein-1, predicted vs true: HC " << formatted(a.w1_hc, "%.1f") << " " << unit
      << ", LC " << formatted(a.w1_lc, "%.1f") << " " << unit
      << " (true HC vs true LC: " << formatted(a.w1_true_hc_true_lc, "%.1f") << " " << unit
      << ")\n";
  return out.str();
}

void plot_hu_analysis(const fs::path& png, const HuAnalysis& a) {
  const std::string unit = unit_label(a.unit);
  const std::string title = "Kernel density estimates, " + std::to_string(a.nodules) +
                            " nodules: W1 HC " + formatted(a.w1_hc, "%.1f") + " " + unit +
                            ", LC " + formatted(a.w1_lc, "%.1f") + " " + unit;
  plot::Panel panel{title, unit, "density", plot::Scale::kLinear, {}};
  for (HuRegion region : kRegions) {
    const std::vector<double>& curve = a.density[static_cast<int>(region)];
    if (curve.empty()) continue;
    const bool hc = region == HuRegion::kTrueHc || region == HuRegion::kPredictedHc;
    const bool predicted = region == HuRegion::kPredictedHc || region == HuRegion::kPredictedLc;
    panel.series.push_back({display_name(region), a.grid, curve, hc ? kHcColor : kLcColor,
                            predicted ? plot::Dash::kDashed : plot::Dash::kSolid});
  }
  plot::write_png(png, plot::Figure{"", {panel}, 1, 900, 600});
}

}  // namespace ugs::metrics
