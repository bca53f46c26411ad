// The paper's Fig. 8 as a measurement: are the pixel values (HU) inside the high- and
// low-confidence regions a network predicts distributed like those inside the true ones? What
// `ugs analyze hu` computes; docs/analysis.md explains the choices.
//
//   NoduleStore store = NoduleStore::open("out/lidc");
//   Predictions p = read_predictions("runs/ugsnet/fold_0/predictions.h5");
//   HuAnalysis a = analyze_hu(store, p, "runs/ugsnet/fold_0/predictions.h5");
//   std::cout << hu_analysis_table(a);                       // W1 HC 8.1 HU, LC 14.9 HU, ...
//   write_hu_analysis_json("runs/ugsnet/fold_0/hu_analysis.json", a);
//   plot_hu_analysis("runs/ugsnet/fold_0/hu_analysis.png", a);  // 4 density curves, as Fig. 8
//
// Regions of each predicted nodule, at the store's resolution (the maps must be the crops' size):
//   true HC       the intersection of the annotators' masks
//   true LC       the union AND NOT the intersection
//   predicted HC  I' >= 0.5
//   predicted LC  U' >= 0.5 AND NOT I' >= 0.5
// The image values inside each region are pooled over all predicted nodules into one
// EmpiricalDistribution per region (distribution.h). Compared: the Wasserstein-1 distance between
// predicted and true HC and between predicted and true LC, in the store's unit (HU; for 8-bit
// stores 8-bit display intensity, which is not HU), and as the scale to read them against, the
// distance between true HC and true LC. Gaussian kernel density estimates (Silverman's bandwidth,
// each region its own) on one grid of kGridPoints points spanning every region's values +- 4
// bandwidths. A region with no pixel (e.g. nothing predicted above 0.5) has NaN statistics and no
// curve.
//
// Errors: std::runtime_error with one line naming the predictions file: no /union or /intersection
// ("the network has no uncertainty heads"), maps of another size than the store's crops, nodule ids
// the store lacks; what the store throws when reading; plot_hu_analysis throws what plot::write_png
// throws (gnuplot missing or failing).
// Thread safety: the functions keep no state; an HuAnalysis is a plain value.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "ugs/storage/predictions.h"
#include "ugs/storage/store.h"
#include "ugs/worker/distribution.h"

namespace ugs::metrics {

// The four regions, in this order in every array, the JSON, the table and the picture.
enum class HuRegion { kTrueHc, kPredictedHc, kTrueLc, kPredictedLc };
inline constexpr int kHuRegionCount = 4;
inline constexpr int kGridPoints = 512;

const char* json_name(HuRegion region);     // "true_hc", "predicted_hc", "true_lc", "predicted_lc"
const char* display_name(HuRegion region);  // "true HC", "predicted HC", ...
// "HU", or "8-bit intensity" for window8 stores.
const char* unit_label(storage::ImageUnit unit);

struct HuAnalysis {
  std::filesystem::path store;
  std::filesystem::path predictions;
  storage::ImageUnit unit = storage::ImageUnit::kHounsfield;
  std::size_t nodules = 0;
  std::array<EmpiricalDistribution, kHuRegionCount> values;  // by HuRegion
  std::vector<double> grid;                                  // ascending, kGridPoints
  std::array<std::vector<double>, kHuRegionCount> density;   // on grid; empty without pixels
  double w1_hc = 0.0;               // W1(predicted HC, true HC), in the unit
  double w1_lc = 0.0;               // W1(predicted LC, true LC)
  double w1_true_hc_true_lc = 0.0;  // W1(true HC, true LC): how far apart the regions really are

  const EmpiricalDistribution& of(HuRegion region) const {
    return values[static_cast<int>(region)];
  }
};

// Pools the regions' values over every nodule of `predictions`; `predictions_file` names them in
// error messages and in the result.
HuAnalysis analyze_hu(const storage::NoduleStore& store, const storage::Predictions& predictions,
                      const std::filesystem::path& predictions_file);

// {"schema": "ugs.hu-analysis", "version": 1, "store", "predictions", "unit", "nodules",
//  "threshold", "regions": {region: {"count", "mean", "std", "min", "q1", "median", "q3", "max"
//  (the pixels' storage::ValueStats, as `ugs inspect`), "bandwidth"}},
//  "wasserstein1": {"hc", "lc", "true_hc_vs_true_lc"},
//  "density": {"grid": [...], region: [...] or null}}, NaN as null.
std::string hu_analysis_json(const HuAnalysis& analysis);
// Writes hu_analysis_json(analysis) to `file` atomically.
void write_hu_analysis_json(const std::filesystem::path& file, const HuAnalysis& analysis);

// A fixed-width table: one line per region, then the distances.
std::string hu_analysis_table(const HuAnalysis& analysis);

// The four density curves (HC red, LC blue; true solid, predicted dashed), like Fig. 8.
void plot_hu_analysis(const std::filesystem::path& png, const HuAnalysis& analysis);

}  // namespace ugs::metrics
