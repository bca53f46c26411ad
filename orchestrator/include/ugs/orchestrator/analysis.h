// Analysis jobs of a sweep: computed by the coordinator from the outputs of the training jobs they
// depend on, as soon as those complete. Today one kind, the paper's Complex-Nodule Validation.
//
//   run_analysis_job(sweep, sweep.job(id), run_dir);   // writes RUN/<job folder>/complex_nodules.json
//
// Complex-Nodule Validation (paper, Section IV-E and Table III): per fold, the test nodules whose
// Label_1 DSC under the reference network (U-Net) is <= each threshold (0.6, 0.7, 0.8) are the
// "complex" ones; for each compared network, the mean DSC and IoU against Label_1 over them, per fold
// and averaged over the folds (the paper's "Average" column: the mean of the fold means). Read from
// the jobs' summary.json (metric_per_case), so it costs no inference. Nodules whose reference DSC is
// NaN (both masks empty) are not complex at any threshold.
//
// complex_nodules.json: {"schema": "ugs.complex-nodules", "version": 1, "experiment", "reference",
//   "networks", "thresholds": [{"threshold", "folds": [{"fold", "nodules",
//   "scores": {network: {"dsc", "iou"}}}], "average": {network: {"dsc", "iou"}}}]}
//
// Errors: std::runtime_error naming the summary.json that is missing or lacks a nodule another
// network's summary has.
#pragma once

#include <filesystem>

#include "ugs/orchestrator/sweep.h"

namespace ugs::orchestrator {

inline constexpr const char* kComplexNodulesFile = "complex_nodules.json";

void run_analysis_job(const Sweep& sweep, const Job& job, const std::filesystem::path& run_dir);

}  // namespace ugs::orchestrator
