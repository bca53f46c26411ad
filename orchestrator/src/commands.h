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

void add_score_command(CLI::App& app);  // cmd_score.cpp: score predictions against a store

}  // namespace ugs::cli
