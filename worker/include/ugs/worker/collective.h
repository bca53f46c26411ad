// How the ranks of one data-parallel job (a gang) agree: parameters broadcast from the gang's root,
// gradients summed over the ranks, and small vectors of numbers (loss sums, pixel counts, the stop
// flag) summed or maxed. The training loop (train.h) takes a Collective and never sees MPI.
//
//   std::unique_ptr<Collective> gang = make_mpi_collective(gang_comm);   // or make_single_process()
//   gang->broadcast(parameters);              // once, at the start: every rank holds the root's model
//   ...backward...
//   gang->all_reduce_sum(gradients);          // every step, same order on every rank
//
// Gradients are reduced in buckets of about kBucketBytes: the tensors are copied into one flat buffer
// per bucket, in the order given, which every rank gives identically (the module's parameter order),
// so the reduction is the same sequence of MPI calls on every rank and deterministic for a given
// number of ranks. MPI on CPU builds (this file); an NCCL implementation for CUDA builds goes behind
// UGS_WITH_CUDA with the same interface (docs/parallel.md).
//
// Errors: MPI errors abort the job by MPI's default handler (MPI_ERRORS_ARE_FATAL): a rank that cannot
// communicate cannot continue, and the coordinator detects the lost gang. Thread safety: one thread
// per Collective, as MPI communicators are used here (MPI_THREAD_FUNNELED).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <mpi.h>
#include <torch/torch.h>

namespace ugs::worker {

inline constexpr std::size_t kBucketBytes = std::size_t{25} << 20;  // DDP's default bucket size

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every rank's tensors become the root's (in place; float32 or any dtype, CPU).
  virtual void broadcast(const std::vector<torch::Tensor>& tensors, int root = 0) = 0;
  // Every rank's tensors become the element-wise sum over the ranks (in place).
  virtual void all_reduce_sum(const std::vector<torch::Tensor>& tensors) = 0;
  // Small host vectors: the sum / the maximum over the ranks (in place).
  virtual void all_reduce_sum(std::vector<double>& values) = 0;
  virtual void all_reduce_max(std::vector<double>& values) = 0;
};

// One process: every operation is the identity.
std::unique_ptr<Collective> make_single_process_collective();

// The ranks of `communicator` (MPI must be initialised; the communicator must outlive the Collective).
std::unique_ptr<Collective> make_mpi_collective(MPI_Comm communicator);

}  // namespace ugs::worker
