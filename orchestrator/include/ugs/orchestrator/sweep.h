// A sweep: the experiments of a study (the paper's Tables I, II and III) in one TOML file, expanded
// into the unique jobs that produce them, in the order to run them. docs/sweeps.md is the manual.
//
//   Sweep sweep = load_sweep("experiments/paper.toml", {"training.device=cuda", "sweep.folds=[0]"});
//   for (const Job& job : sweep.jobs) {...}   // dependencies first, then the longest first
//   std::printf("%s", plan_text(sweep).c_str());               // what `ugs plan` prints
//   storage::write_file_atomically(run / "plan.json", plan_json(sweep));
//
// The file:
//   [sweep]              name, folds, seeds, ranks_per_job, max_retries, fail_fast
//   [defaults]           the tables of a `ugs train` file: [defaults.data], [defaults.training], ...
//   [experiments.NAME]   kind = "training" (the default): networks, overrides (job tables layered over
//                        [defaults]), after, baseline; kind = "complex_nodules" (the paper's Table III): after,
//                        networks, reference, dsc_thresholds; either: description, paper_table.
//
// Expansion and identity:
//   - A training experiment gives one job per network x fold x seed, configured by [defaults] <
//     its overrides < the caller's job overrides, with model.name, data.fold and training.seed set
//     per job (and therefore refused anywhere else).
//   - A job's id is the SHA-1 of worker::identity_toml(config) (the resolved configuration without
//     the runtime keys), as 12 hex digits. The same configuration in two experiments is ONE job listed
//     under both; any other key changed is another job; the device, prefetch depth and checkpoint
//     interval are no part of it (a shared job takes them from the first experiment that lists it).
//   - Its folder, relative to the run folder, is jobs/<network>-<configuration id>/fold_<k>, with
//     _seed<s> appended for seeds other than 0. The configuration id (8 hex digits) hashes the same
//     text with the fold and seed left at 0, so a configuration's folds sit side by side (nnU-Net's
//     <results>/<configuration>/fold_<k>) and a folder is a function of the job alone.
//   - An analysis experiment gives one analysis job (folder analysis/<kind>-<id8>) that depends on
//     the training jobs of its `after` experiments that train its networks; its id hashes its
//     settings and those jobs' ids. Every job of a training experiment depends on every job of its
//     `after` experiments.
//   - Order: a job comes after everything it depends on; among jobs that could go next, the highest
//     priority first, where priority = estimated cost + the largest priority among the jobs that
//     depend on it (the longest chain of work it starts), ties in expansion order.
//   - Estimated cost of a training job: epochs x training nodules of its fold (from the split file
//     when it exists; 1 otherwise) x relative_cost(network). An analysis job costs 0.
//
// Errors: std::runtime_error, one line naming where: `paper.toml:7:12: unknown network 'unett' in
// [experiments.table1] networks; did you mean 'unet'?`; a malformed file, an unknown table or key
// (with "did you mean"), a wrong type or range, an `after` naming an unknown experiment, a cycle of
// `after`s (naming it), a key chosen per job set elsewhere, a fold the split file lacks, a malformed
// split file, and every job configuration error of worker::parse_config_tables. Errors in an
// override quote it: `override 'sweep.foldz=[0]': unknown key 'foldz' in [sweep]; did you mean 'folds'?`.
// Thread safety: the functions keep no state; a Sweep is a plain value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ugs/worker/config.h"

namespace ugs::orchestrator {

// [sweep]: how the whole sweep is run.
struct SweepSettings {
  std::string name;                       // the default run folder is runs/<name>; default: the file's stem
  std::vector<int> folds{0, 1, 2, 3, 4};  // the folds of the split every training experiment runs
  std::vector<std::uint64_t> seeds{0};    // [training] seed of each repetition
  int ranks_per_job = 1;                  // MPI ranks of one data-parallel job
  int max_retries = 1;                    // a failed job is run again up to this many times
  bool fail_fast = false;                 // true: the first failure (after its retries) stops the sweep
};

enum class ExperimentKind {
  kTraining,        // trains networks x folds x seeds
  kComplexNodules,  // the Complex-Nodule Validation (Table III): an analysis of finished training jobs
};

// "training", "complex_nodules": the names of `kind` in the file.
const char* to_string(ExperimentKind kind);

// One [experiments.NAME] table.
struct Experiment {
  std::string name;
  ExperimentKind kind = ExperimentKind::kTraining;
  std::string description;
  std::string paper_table;             // "I", "II", "III": the paper's table it reproduces; "" if none
  std::vector<std::string> networks;   // training: the networks trained; complex_nodules: compared
  std::vector<std::string> after;      // experiments whose jobs must complete first
  std::string baseline;                // training: the network the report pairs the others against;
                                       // "" = the first network (`ugs report`, docs/report.md)
  std::string reference;               // complex_nodules: the network whose DSC picks the nodules
  std::vector<double> dsc_thresholds;  // complex_nodules: a nodule is complex at t when its DSC <= t
  std::vector<std::string> job_ids;    // its jobs, in expansion order (network, fold, seed)
};

enum class JobKind { kTraining, kAnalysis };

struct Job {
  std::string id;  // 12 hex digits, see above
  JobKind kind = JobKind::kTraining;
  std::vector<std::string> experiments;  // every experiment that lists it, in file order
  std::string network;                   // training: [model] name; analysis: ""
  int fold = -1;                         // training: [data] fold; analysis: -1 (it reads every fold)
  std::uint64_t seed = 0;                // training: [training] seed
  worker::Config config;                 // training: the resolved configuration to train
  std::filesystem::path folder;          // relative to the run folder
  std::vector<std::string> depends_on;   // ids of the jobs that must complete first
  double estimated_cost = 0;             // see above; relative units
  double priority = 0;                   // see above
};

struct Sweep {
  std::string source;  // the file it was read from, as given
  SweepSettings settings;
  std::vector<Experiment> experiments;  // in file order
  std::vector<Job> jobs;                // unique, in dispatch order
  bool nodule_counts_known = true;      // false: some split file was absent, costs lack the nodules

  // The job or experiment of that id or name; std::out_of_range if there is none.
  const Job& job(std::string_view id) const;
  const Experiment& experiment(std::string_view name) const;
  // The sum of the jobs' estimated costs.
  double estimated_work() const;
};

// Reads and expands a sweep file. `overrides` are `section.key=value` strings: `sweep.KEY=VALUE`
// overrides a [sweep] key, any other the job key of every training job (after the experiments'
// overrides), as `ugs train --set` does.
Sweep load_sweep(const std::filesystem::path& file, const std::vector<std::string>& overrides = {});

// The same from TOML text; `source_name` is what error messages call it.
Sweep parse_sweep(std::string_view toml_text, std::string_view source_name,
                  const std::vector<std::string>& overrides = {});

// The relative cost of one training step per nodule of `network` against U-Net's (1), at the same
// input size and widths: a rough measurement (docs/sweeps.md), used to order and size jobs only.
// std::invalid_argument for a name model::network_names() does not have.
double relative_cost(std::string_view network);

// The plan as `ugs plan` prints it: the settings, the experiments, every job in dispatch order with
// its id, network, fold, seed, folder and experiments, the dependencies and the estimated work.
std::string plan_text(const Sweep& sweep);

// The plan as JSON (RUN/plan.json; docs/sweeps.md lists the fields): settings, experiments, and the
// jobs in dispatch order, each with its resolved configuration (worker::to_toml) to train.
std::string plan_json(const Sweep& sweep);

}  // namespace ugs::orchestrator
