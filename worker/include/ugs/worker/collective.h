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
// number of ranks. MPI for tensors on the CPU; NCCL for tensors on a GPU (builds with UGS_WITH_CUDA:
// NCCL's id is broadcast over the gang's MPI communicator, each rank on the GPU of its node-local rank;
// small host vectors still go over MPI). docs/parallel.md.
//
// Errors: NCCL errors throw std::runtime_error naming the call; MPI errors abort the job by MPI's
// default handler (MPI_ERRORS_ARE_FATAL): a rank that cannot communicate cannot continue, and the
// coordinator detects the lost gang. Thread safety: one thread per Collective, as MPI communicators
// are used here (MPI_THREAD_FUNNELED).
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

// The gang's collective for a job on `device`: MPI on the CPU, NCCL on cuda:N (every rank of the gang
// calls it at once: NCCL's set-up is collective). Throws std::invalid_argument for a GPU in a build
// without UGS_WITH_CUDA, or for "cuda" without an index (rank_device gives one).
std::unique_ptr<Collective> make_gang_collective(MPI_Comm communicator, const torch::Device& device);

// This process's rank among the ranks of `communicator` on the same node (MPI_COMM_TYPE_SHARED).
// Collective over `communicator`.
int node_local_rank(MPI_Comm communicator);

// Where a rank trains a job configured for `configured` ("cpu", "cuda", "cuda:N"): "cuda" without an
// index means one GPU per rank, the GPU at the rank's node-local index (modulo the GPUs visible, so
// that a launcher exporting one CUDA_VISIBLE_DEVICES per rank also works). Throws when no GPU is seen.
torch::Device rank_device(const std::string& configured, int local_rank);

}  // namespace ugs::worker
