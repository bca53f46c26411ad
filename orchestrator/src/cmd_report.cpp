// `ugs report`: the paper's tables and figures from a run folder (orchestrator/report.h).
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "ugs/orchestrator/report.h"

namespace ugs::cli {

namespace {

struct ReportArguments {
  std::string run;
  std::string format = "md";
  bool no_figures = false;
};

}  // namespace

void add_report_command(CLI::App& app) {
  auto arguments = std::make_shared<ReportArguments>();
  CLI::App* command = add_command(
      app, "report", "The paper's Tables I, II, III and Figs. 7, 8 from a run folder",
      "Reads the run folder RUN that `ugs run` wrote (or is writing): RUN/plan.json for the\n"
      "experiments and their jobs, RUN/ledger.jsonl for every job's state, and the completed jobs'\n"
      "summary.json (training) and complex_nodules.json (the Complex-Nodule Validation). Builds one\n"
      "table per experiment:\n"
      "  - training (Tables I and II): per network, the Label_1 DSC, IoU and NSD of every fold (the\n"
      "    mean over the fold's test nodules) and, for the UGS-Net family, the set scores GED^2 and\n"
      "    HM-IoU; their mean +- population standard deviation over the folds (the paper's\n"
      "    \"Average\"); the paired per-fold differences against the baseline (the experiment's\n"
      "    first network, unless the plan names a baseline); the paper's published numbers;\n"
      "  - complex_nodules (Table III): per DSC threshold, per fold and averaged, each network's DSC\n"
      "    and IoU over the nodules the reference network segments worst, the gain over the\n"
      "    reference, and the paper's numbers.\n"
      "A job that has not completed (pending, running, failed, preempted) shows as \"—\" with its\n"
      "state, and failures with their reason: nothing is filled in. Percentages as in the paper.\n"
      "\n"
      "Figures, of the network with the best mean Label_1 DSC in Table I, on its first fold: the\n"
      "Fig. 7 montage of a few test nodules (image, predicted MCM, the annotators' MCM) and the\n"
      "Fig. 8 HU densities of the predicted vs the true HC and LC regions (`ugs analyze hu`; needs\n"
      "uncertainty heads and gnuplot). They read the job's predictions.h5 and the store of its\n"
      "config.toml; a figure that cannot be drawn is skipped with a line in the report saying why.\n"
      "\n"
      "Writes RUN/report/report.md, report.json and one CSV per table (<experiment>.csv), each\n"
      "atomically, plus the figures; prints the report in the chosen format. docs/report.md\n"
      "explains every number and column.\n"
      "\n"
      "Example:\n"
      "  ugs report runs/quickstart\n"
      "  ugs report runs/paper --format csv --no-figures");
  command->add_option("RUN", arguments->run, "The run folder: holds plan.json and ledger.jsonl (required)")
      ->required()
      ->check(CLI::ExistingDirectory);
  command
      ->add_option("--format", arguments->format,
                   "What to print: md (the Markdown of report.md), csv (every table's CSV, each after a "
                   "line '# <file>'), json (report.json) (default: md); all three are written either way")
      ->check(CLI::IsMember({"md", "csv", "json"}));
  command->add_flag("--no-figures", arguments->no_figures,
                    "Skip Figs. 7 and 8 (no predictions or store read) (default: draw them)");
  command->callback([arguments] {
    orchestrator::ReportOptions options;
    options.figures = !arguments->no_figures;
    const orchestrator::Report report = orchestrator::make_report(arguments->run, options);
    if (arguments->format == "md") {
      std::printf("%s", orchestrator::report_markdown(report).c_str());
    } else if (arguments->format == "json") {
      std::printf("%s", orchestrator::report_json(report).c_str());
    } else {
      for (const auto& [name, content] : orchestrator::report_csv(report)) {
        std::printf("# %s\n%s\n", name.c_str(), content.c_str());
      }
    }
  });
}

}  // namespace ugs::cli
