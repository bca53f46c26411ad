// Scoring a predictions file (docs/predictions-format.md) against a nodule store, per nodule and in
// summary: what `ugs score` prints and writes. The choices are explained in docs/scoring.md.
//
//   NoduleStore store = NoduleStore::open("out/lidc");
//   ScoringOptions options;
//   options.coverage = Coverage::kSubset;                 // one test fold against the whole store
//   ScoreReport report = score_predictions(store, "runs/unet/fold_0/predictions.h5", options);
//   std::cout << summary_table(report);
//   write_summary_json("runs/unet/fold_0/summary.json", report);
//
// What is scored, per nodule, with the segmentation X_S thresholded at >= 0.5:
//   target "label_1" .. "label_4"  X_S against annotator j's mask (label_1 is the paper's Label_1)
//   target "label_mean"            the mean over the nodule's annotators of the label_j scores
//   target "union", "intersection" X_S against the union / intersection of the annotators' masks
//     each with metrics "dsc", "iou", "nsd" (normalized surface Dice at tolerance_mm, the nodule's
//     pixel spacing; DeepMind's definition, metrics.h)
//   target "set"                   {I', X_S, U'} (all thresholded) against the annotators' masks:
//     metrics "ged_squared" (GED^2, what PHiSeg and the Probabilistic U-Net report as GED) and
//     "hm_iou" (Hungarian-matched IoU); only when the file has /union and /intersection.
// A score that does not apply is absent, never faked: a nodule without per-reader masks
// (annotator_count 0, e.g. the UGS-Net authors' PNG layout) has no label_* and no set scores; label_3
// exists only for nodules with at least 3 annotators. A score of two empty masks is NaN.
//
// Summary: for every (target, metric), the mean and the population standard deviation over the
// nodules that have it, skipping NaN, with the counts of finite and NaN values.
//
// Errors (std::runtime_error, one line): an invalid predictions file; maps of another size than the
// store's crops; a predicted nodule id that the store lacks; and, unless coverage is kSubset, store
// nodules without a prediction.
// Thread safety: every function may be called from several threads (HDF5 access is serialised by
// the storage library).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ugs/storage/store.h"

namespace ugs::metrics {

// Whether the predictions must cover the whole store.
enum class Coverage {
  kWholeStore,  // every store nodule must have a prediction (the default: a missing one is a bug)
  kSubset,      // score the predicted nodules only, e.g. one test fold against the whole store
};

struct ScoringOptions {
  double tolerance_mm = 1.0;  // NSD tolerance
  Coverage coverage = Coverage::kWholeStore;
};

// The probability at or above which a pixel counts as foreground.
inline constexpr float kThreshold = 0.5f;

// target -> metric -> value, e.g. scores["label_1"]["dsc"].
using ScoreTable = std::map<std::string, std::map<std::string, double>>;

struct NoduleScores {
  std::string nodule_id;
  ScoreTable scores;
};

// One (target, metric) over the nodules.
struct Statistic {
  double mean = 0.0;  // over the finite values; NaN when there is none
  double std = 0.0;   // population standard deviation (numpy's nanstd); NaN when no finite value
  int count = 0;      // nodules with a finite value
  int nan_count = 0;  // nodules where the score is NaN (both masks empty)
};

struct ScoreReport {
  std::filesystem::path truth;        // the store
  std::filesystem::path predictions;  // the predictions file
  ScoringOptions options;
  std::size_t store_size = 0;           // nodules in the store
  std::vector<NoduleScores> per_nodule;  // in store order
  std::map<std::string, std::map<std::string, Statistic>> summary;
  std::vector<std::string> notes;  // why scores are absent, for the reader of the summary
};

// Reads and validates `predictions_file`, matches it to `store` by nodule id, and scores it.
ScoreReport score_predictions(const storage::NoduleStore& store,
                              const std::filesystem::path& predictions_file,
                              const ScoringOptions& options);

// The nnU-Net-like summary: {"metric_per_case": [{"nodule_id", "metrics": {target: {metric}}}],
// "mean", "std", "count", "nan_count" (each {target: {metric}}), "notes", "truth", "predictions",
// "tolerance_mm", "threshold", "schema": "ugs.score-summary", "version": 1}, keys sorted, NaN as null.
std::string summary_json(const ScoreReport& report);
void write_summary_json(const std::filesystem::path& file, const ScoreReport& report);  // atomic

// A fixed-width table of the summary, one line per (target, metric), then the notes.
std::string summary_table(const ScoreReport& report);

}  // namespace ugs::metrics
