// The subcommands of `ugs`. Each adds itself to the app with its options and its callback; callbacks
// throw std::exception on failure and main() turns that into one line on stderr and exit code 1.
#pragma once

#include <CLI/CLI.hpp>

namespace ugs::cli {

// Adds subcommand `name`: `summary` (one line) shows in `ugs --help`, `manual` (paragraphs, an
// example) after the options in `ugs <name> --help`.
inline CLI::App* add_command(CLI::App& app, const std::string& name, const std::string& summary,
                             const std::string& manual) {
  CLI::App* command = app.add_subcommand(name, summary);
  command->footer("\n" + manual);
  return command;
}

// Ends `ugs` with `code` after the command has said why on its own (no "error:" line): e.g. a
// training run stopped by a signal, which exits kExitStoppedForResume.
struct Exit {
  int code;
};

// A job stopped by SIGTERM/SIGUSR1/SIGINT after writing checkpoint_latest: running the same command
// again resumes it. 75 is EX_TEMPFAIL of sysexits.h, "try again later".
inline constexpr int kExitStoppedForResume = 75;

// In the order `ugs --help` lists them: data, then training, then results.
void add_synth_command(CLI::App& app);    // ugs synth --out DIR: a synthetic LIDC-like nodule store
void add_import_command(CLI::App& app);   // ugs import ugsnet-png DIR OUT
void add_inspect_command(CLI::App& app);  // ugs inspect STORE
void add_split_command(CLI::App& app);    // ugs split STORE --out FILE
void add_plan_command(CLI::App& app);     // ugs plan SWEEP: the jobs of a sweep, nothing run
void add_train_command(CLI::App& app);    // ugs train CONFIG [--fold K] [--out DIR]
void add_run_command(CLI::App& app);      // ugs run SWEEP [--out RUN] [--resume]
void add_report_command(CLI::App& app);   // ugs report RUN: the paper's tables from a run folder
void add_score_command(CLI::App& app);    // ugs score --truth STORE --pred FILE
void add_predict_command(CLI::App& app);  // ugs predict --checkpoint CKPT INPUT --out DIR
void add_analyze_command(CLI::App& app);  // ugs analyze hu JOB: analyses of a job's results
void add_weights_command(CLI::App& app);  // ugs weights import|export: weights from/to PyTorch

}  // namespace ugs::cli
