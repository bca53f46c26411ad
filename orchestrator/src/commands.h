// The subcommands of `ugs`. Each adds itself to the app with its options and its callback; callbacks
// throw std::exception on failure and main() turns that into one line on stderr and exit code 1.
#pragma once

#include <CLI/CLI.hpp>

namespace ugs::cli {

void add_score_command(CLI::App& app);  // cmd_score.cpp: score predictions against a store

}  // namespace ugs::cli
