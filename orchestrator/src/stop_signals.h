// The stop request of long commands (`ugs train`, `ugs run`): the first SIGTERM, SIGUSR1 (what SLURM
// sends before a time limit) or SIGINT sets a flag that training reads at every step boundary; a
// second SIGINT kills at once, as people expect of a second Ctrl-C.
#pragma once

#include <atomic>

namespace ugs::cli {

// Installs the handlers (idempotent) and returns the flag they set.
const std::atomic<bool>& install_stop_handlers();

}  // namespace ugs::cli
