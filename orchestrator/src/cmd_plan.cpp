// `ugs plan`: a sweep expanded into its unique jobs, printed, optionally written as plan.json.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ugs/orchestrator/sweep.h"
#include "ugs/storage/atomic_file.h"

namespace ugs::cli {

namespace {

struct PlanArguments {
  std::string sweep;
  std::string json;
  std::vector<std::string> overrides;
};

}  // namespace

void add_plan_command(CLI::App& app) {
  auto arguments = std::make_shared<PlanArguments>();
  CLI::App* command = add_command(
      app, "plan", "Expand a sweep into its jobs and print them, without running anything",
      "Reads SWEEP (a TOML file: docs/sweeps.md lists every key) and expands every experiment into\n"
      "jobs: one per network x fold x seed for a training experiment, configured by [defaults] and\n"
      "the experiment's overrides; one analysis job for a \"complex_nodules\" experiment (Table III),\n"
      "after the training jobs it reads. Jobs with the same configuration are one job, listed under\n"
      "every experiment that needs it; a job's id is a hash of its resolved configuration without\n"
      "the runtime keys (device, prefetch_batches, checkpoint_every).\n"
      "\n"
      "Prints the settings, the experiments, and the unique jobs in the order `ugs run` would start\n"
      "them (dependencies first, then the longest chain of work first) with id, network, fold, seed,\n"
      "estimated cost (epochs x training nodules x a rough per-network factor), folder under the run\n"
      "folder, the experiments sharing each job, and what each waits for; then the estimated work.\n"
      "Nothing is trained and no folder is made; the data need not exist (without the split file the\n"
      "costs count one nodule per job). Errors name the file, line and column.\n"
      "\n"
      "Example:\n"
      "  ugs plan experiments/paper.toml\n"
      "  ugs plan experiments/quickstart.toml --set sweep.folds=[0] --set training.epochs=1 --json plan.json");
  command->add_option("sweep", arguments->sweep, "The sweep's TOML file (required)")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--set", arguments->overrides,
                      "Override a key, section.key=value with a TOML value: sweep.KEY a [sweep] key (e.g. "
                      "sweep.folds=[0]), any other a job key of every training job, after the experiments' "
                      "overrides (e.g. training.epochs=3) (repeatable)");
  command->add_option("--json", arguments->json,
                      "Also write the plan as JSON to this file (what `ugs run` keeps as RUN/plan.json; "
                      "default: none)");
  command->callback([arguments] {
    const orchestrator::Sweep sweep = orchestrator::load_sweep(arguments->sweep, arguments->overrides);
    std::printf("%s", orchestrator::plan_text(sweep).c_str());
    if (!arguments->json.empty()) {
      storage::write_file_atomically(arguments->json, orchestrator::plan_json(sweep));
      std::printf("plan written to %s\n", arguments->json.c_str());
    }
  });
}

}  // namespace ugs::cli
