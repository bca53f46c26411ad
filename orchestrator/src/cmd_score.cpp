// `ugs score`: score a predictions file against a nodule store (worker/include/ugs/worker/scoring.h).
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "ugs/storage/store.h"
#include "ugs/worker/scoring.h"

namespace ugs::cli {

namespace {

struct ScoreArguments {
  std::string truth;
  std::string predictions;
  std::string out;
  double tolerance_mm = 1.0;
  bool subset = false;
};

}  // namespace

void add_score_command(CLI::App& app) {
  auto arguments = std::make_shared<ScoreArguments>();
  CLI::App* command = add_command(
      app, "score", "Score a predictions file against a nodule store",
      "The segmentation /segmentation (X_S), thresholded at >= 0.5, is compared per nodule with each\n"
      "annotator's mask (label_1 is the paper's Label_1; label_mean is the mean over the nodule's\n"
      "annotators), the union and the intersection of the annotators' masks, by DSC, IoU and NSD\n"
      "(normalized surface Dice, DeepMind's definition, at --tolerance-mm with the nodule's pixel\n"
      "spacing). When the file also has /union and /intersection, the predicted set {I', X_S, U'} is\n"
      "compared with the annotators' masks by GED^2 (the quantity PHiSeg reports as GED) and\n"
      "Hungarian-matched IoU. Scores that do not apply are absent (a store without per-reader masks\n"
      "has no label_* or set scores); a score of two empty masks is NaN and skipped by the means.\n"
      "Prints the mean, standard deviation and counts over nodules; --out writes the per-nodule scores\n"
      "and the summary as JSON. The file format is in docs/predictions-format.md, the metrics in\n"
      "docs/scoring.md.\n"
      "Example: ugs score --truth out/lidc --pred runs/unet/fold_0/predictions.h5 --subset "
      "--out runs/unet/fold_0/summary.json");
  command->add_option("--truth", arguments->truth, "The nodule store directory (required)")
      ->required();
  command->add_option("--pred", arguments->predictions, "The predictions HDF5 file (required)")
      ->required();
  command->add_option("--tolerance-mm", arguments->tolerance_mm,
                      "NSD tolerance in millimetres (default 1)");
  command->add_option("--out", arguments->out,
                      "Write the per-nodule scores and summary here as JSON, atomically "
                      "(default: none, only the table on stdout)");
  command->add_flag("--subset", arguments->subset,
                    "Allow the predictions to cover only part of the store, e.g. one test fold "
                    "(default: every store nodule must have a prediction). Predicted ids that the "
                    "store lacks are an error either way");
  command->callback([arguments] {
    storage::NoduleStore store = storage::NoduleStore::open(arguments->truth);
    metrics::ScoringOptions options;
    options.tolerance_mm = arguments->tolerance_mm;
    options.coverage = arguments->subset ? metrics::Coverage::kSubset : metrics::Coverage::kWholeStore;
    metrics::ScoreReport report = metrics::score_predictions(store, arguments->predictions, options);
    std::cout << metrics::summary_table(report);
    if (!arguments->out.empty()) {
      metrics::write_summary_json(arguments->out, report);
      std::cout << "wrote " << arguments->out << "\n";
    }
  });
}

}  // namespace ugs::cli
