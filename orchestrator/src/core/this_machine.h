// What the coordinator records about where and when it runs: in the ledger, in the metrics, in the
// messages between ranks. Internal to ugs_orchestrator.
#pragma once

#include <unistd.h>

#include <chrono>
#include <string>

namespace ugs::orchestrator {

// Seconds since the Unix epoch (the unit Prometheus timestamps use).
inline double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// This machine's name, or "unknown".
inline std::string host_name() {
  char name[256] = {};
  return ::gethostname(name, sizeof name - 1) == 0 ? name : "unknown";
}

}  // namespace ugs::orchestrator
