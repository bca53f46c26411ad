// The subcommands of `ugs`. Each adds itself to the app with its options and its callback; callbacks
// throw std::exception on failure and main() turns that into one line on stderr and exit code 1.
#pragma once

#include <CLI/CLI.hpp>

namespace ugs::cli {

// ugs synth: write a synthetic LIDC-like nodule store (cmd_synth.cpp).
void add_synth_command(CLI::App& app);

}  // namespace ugs::cli
