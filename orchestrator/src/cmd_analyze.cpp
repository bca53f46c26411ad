// `ugs analyze`: analyses of a job's results. `ugs analyze hu` is the paper's Fig. 8
// (worker/include/ugs/worker/hu_analysis.h).
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include "commands.h"
#include "ugs/storage/predictions.h"
#include "ugs/storage/store.h"
#include "ugs/worker/config.h"
#include "ugs/worker/hu_analysis.h"

namespace ugs::cli {

namespace fs = std::filesystem;

namespace {

struct HuArguments {
  std::string job;
  std::string store;  // empty: the store of the job's config.toml
  std::string out;    // empty: JOB/hu_analysis
};

fs::path store_of_job(const fs::path& job) {
  const fs::path config = job / "config.toml";
  if (!fs::exists(config)) {
    throw std::runtime_error(config.string() + ": missing, so the job names no store; give one "
                             "with --store");
  }
  return worker::load_config(config).data.store;
}

void add_hu_command(CLI::App& analyze) {
  auto arguments = std::make_shared<HuArguments>();
  CLI::App* command = add_command(
      analyze, "hu", "HU in predicted vs true HC and LC regions (the paper's Fig. 8)",
      "Reads JOB/predictions.h5 and the store the job trained on (data.store of\n"
      "JOB/config.toml, or --store). Per predicted nodule, at the store's resolution: true HC\n"
      "= the intersection of the annotators' masks, true LC = the union minus the\n"
      "intersection, predicted HC = I' >= 0.5, predicted LC = U' >= 0.5 minus predicted HC.\n"
      "The image values inside each region are pooled over the nodules; their Gaussian kernel\n"
      "density estimates (Silverman's bandwidth) are drawn like the paper's Fig. 8 (HC red,\n"
      "LC blue, true solid, predicted dashed) to PREFIX.png, and the Wasserstein-1 distance\n"
      "between predicted and true values, for HC and for LC, is printed and written with the\n"
      "regions' pixel counts, means, medians and the density curves to PREFIX.json. The\n"
      "distance is in the store's unit: HU, or 8-bit display intensity for stores imported\n"
      "from 8-bit PNGs (which keep no HU). As the scale to read it against, the distance\n"
      "between true HC and true LC is reported too. Needs a network with uncertainty heads\n"
      "(the predictions' /union and /intersection), and gnuplot for the picture.\n"
      "docs/analysis.md explains the choices.\n"
      "Example: ugs analyze hu runs/ugsnet/fold_0");
  command
      ->add_option("JOB", arguments->job,
                   "The job folder: holds predictions.h5 and config.toml (required)")
      ->required();
  command->add_option("--store", arguments->store,
                      "The nodule store (default: data.store of JOB/config.toml)");
  command->add_option(
      "--out", arguments->out,
      "Prefix of the outputs PREFIX.png and PREFIX.json (default: JOB/hu_analysis)");
  command->callback([arguments] {
    const fs::path job = arguments->job;
    const fs::path store_path =
        arguments->store.empty() ? store_of_job(job) : fs::path(arguments->store);
    const fs::path predictions_file = job / "predictions.h5";
    const fs::path prefix = arguments->out.empty() ? job / "hu_analysis" : fs::path(arguments->out);

    storage::NoduleStore store = storage::NoduleStore::open(store_path);
    const storage::Predictions predictions = storage::read_predictions(predictions_file);
    const metrics::HuAnalysis analysis = metrics::analyze_hu(store, predictions, predictions_file);
    std::cout << metrics::hu_analysis_table(analysis);
    const fs::path json = prefix.string() + ".json", png = prefix.string() + ".png";
    metrics::write_hu_analysis_json(json, analysis);
    metrics::plot_hu_analysis(png, analysis);
    std::cout << "wrote " << json.string() << " and " << png.string() << "\n";
  });
}

}  // namespace

void add_analyze_command(CLI::App& app) {
  CLI::App* analyze = add_command(
      app, "analyze", "Analyses of a job's results (hu: the paper's Fig. 8)",
      "A group of analyses, each a subcommand run on a job folder that `ugs train` wrote:\n"
      "  hu   pixel values in the predicted vs the true high- and low-confidence regions\n"
      "Run `ugs analyze <analysis> --help` for its manual.\n"
      "Example: ugs analyze hu runs/ugsnet/fold_0");
  analyze->require_subcommand(1);
  add_hu_command(*analyze);
}

}  // namespace ugs::cli
