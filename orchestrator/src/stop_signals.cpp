#include "stop_signals.h"

#include <csignal>

namespace ugs::cli {
namespace {

std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

extern "C" void request_stop(int signal_number) {
  stop_requested.store(true);
  if (signal_number == SIGINT) std::signal(SIGINT, SIG_DFL);
}

}  // namespace

const std::atomic<bool>& install_stop_handlers() {
  std::signal(SIGTERM, request_stop);
  std::signal(SIGUSR1, request_stop);
  std::signal(SIGINT, request_stop);
  return stop_requested;
}

}  // namespace ugs::cli
