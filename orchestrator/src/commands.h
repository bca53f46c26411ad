// The subcommands of `ugs`. Each adds itself to the app with its options and its callback; callbacks
// throw std::exception on failure and main() turns that into one line on stderr and exit code 1.
#pragma once

#include <CLI/CLI.hpp>

namespace ugs::cli {

// `ugs weights import|export`: weights between PyTorch's torch.save files and ugs weights files.
void add_weights_command(CLI::App& app);

}  // namespace ugs::cli
