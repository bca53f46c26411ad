// MPI for the duration of a command: initialised on construction, finalised on destruction, or
// aborted when a run cannot end cleanly (a lost gang, an error on the coordinator while gangs wait).
#pragma once

#include <mpi.h>

#include <cstdio>
#include <cstdlib>

namespace ugs::cli {

class MpiSession {
 public:
  MpiSession() {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiSession() {
    if (!aborted_) MPI_Finalize();
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  [[noreturn]] void abort(int code) {
    aborted_ = true;
    std::fflush(stdout);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return
  }
  int rank() const { return rank_; }
  int size() const { return size_; }

  // Whether a launcher (mpirun, srun with PMI or PMIx) started this process as one of several ranks.
  static bool launched() {
    for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"}) {
      if (std::getenv(variable) != nullptr) return true;
    }
    return false;
  }

 private:
  int rank_ = 0;
  int size_ = 1;
  bool aborted_ = false;
};

}  // namespace ugs::cli
