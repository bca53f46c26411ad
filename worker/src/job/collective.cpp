#include "ugs/worker/collective.h"

#include <stdexcept>
#include <string>

#ifdef UGS_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <nccl.h>
#endif

namespace ugs::worker {
namespace {

class SingleProcess final : public Collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void broadcast(const std::vector<torch::Tensor>&, int) override {}
  void all_reduce_sum(const std::vector<torch::Tensor>&) override {}
  void all_reduce_sum(std::vector<double>&) override {}
  void all_reduce_max(std::vector<double>&) override {}
};

// Sums `tensors` in buckets of at most kBucketBytes of one dtype, in the order given: each bucket is
// flattened into one new contiguous buffer, `reduce_in_place` sums that buffer over the ranks, and
// the result is copied back into the bucket's tensors.
template <typename ReduceInPlace>
void reduce_in_buckets(const std::vector<torch::Tensor>& tensors, ReduceInPlace reduce_in_place) {
  std::size_t begin = 0;
  while (begin < tensors.size()) {
    std::size_t end = begin;
    std::size_t bytes = 0;
    const torch::ScalarType type = tensors[begin].scalar_type();
    while (end < tensors.size() && tensors[end].scalar_type() == type &&
           (end == begin || bytes + tensors[end].nbytes() <= kBucketBytes)) {
      bytes += tensors[end].nbytes();
      ++end;
    }
    std::vector<torch::Tensor> flat_parts;
    for (std::size_t i = begin; i < end; ++i) flat_parts.push_back(tensors[i].reshape({-1}));
    torch::Tensor bucket = torch::cat(flat_parts);  // a new buffer, even for one tensor
    reduce_in_place(bucket);
    std::int64_t offset = 0;
    for (std::size_t i = begin; i < end; ++i) {
      const std::int64_t n = tensors[i].numel();
      tensors[i].copy_(bucket.narrow(0, offset, n).view(tensors[i].sizes()));
      offset += n;
    }
    begin = end;
  }
}

MPI_Datatype mpi_type(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return MPI_FLOAT;
    case torch::kDouble: return MPI_DOUBLE;
    default: throw std::invalid_argument(std::string("Collective (MPI): cannot sum tensors of ") + c10::toString(type));
  }
}

// Rank, size and the host vectors over an MPI communicator; the tensors are the subclass's.
class OverMpi : public Collective {
 public:
  explicit OverMpi(MPI_Comm communicator) : communicator_(communicator) {
    MPI_Comm_rank(communicator_, &rank_);
    MPI_Comm_size(communicator_, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce_sum(std::vector<double>& values) override {
    MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM, communicator_);
  }
  void all_reduce_max(std::vector<double>& values) override {
    MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_MAX, communicator_);
  }
  using Collective::all_reduce_sum;

 protected:
  MPI_Comm communicator_;
  int rank_ = 0;
  int size_ = 1;
};

class Mpi final : public OverMpi {
 public:
  using OverMpi::OverMpi;
  using OverMpi::all_reduce_sum;

  void broadcast(const std::vector<torch::Tensor>& tensors, int root) override {
    for (const torch::Tensor& tensor : tensors) {
      check_cpu(tensor);
      torch::Tensor data = tensor.contiguous();  // the tensor itself when it already is
      MPI_Bcast(data.data_ptr(), static_cast<int>(data.nbytes()), MPI_BYTE, root, communicator_);
      if (!data.is_same(tensor)) tensor.copy_(data);
    }
  }

  void all_reduce_sum(const std::vector<torch::Tensor>& tensors) override {
    for (const torch::Tensor& tensor : tensors) check_cpu(tensor);
    reduce_in_buckets(tensors, [&](torch::Tensor& bucket) {
      MPI_Allreduce(MPI_IN_PLACE, bucket.data_ptr(), static_cast<int>(bucket.numel()),
                    mpi_type(bucket.scalar_type()), MPI_SUM, communicator_);
    });
  }

 private:
  static void check_cpu(const torch::Tensor& tensor) {
    if (!tensor.device().is_cpu()) {
      throw std::invalid_argument("Collective (MPI): tensors must be on the CPU; a data-parallel job on CUDA needs "
                                  "ugs built with -DUGS_WITH_CUDA=ON (NCCL)");
    }
  }
};

#ifdef UGS_WITH_CUDA
void check_nccl(ncclResult_t result, const char* call) {
  if (result != ncclSuccess) throw std::runtime_error(std::string(call) + ": " + ncclGetErrorString(result));
}

ncclDataType_t nccl_type(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return ncclFloat32;
    case torch::kDouble: return ncclFloat64;
    case torch::kHalf: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    default:
      throw std::invalid_argument(std::string("Collective (NCCL): cannot sum tensors of ") + c10::toString(type));
  }
}

// NCCL for the tensors, on the device's current stream (the one LibTorch enqueues the step on, so no
// synchronisation is needed either side); MPI for the host vectors and for sharing NCCL's id.
class Nccl final : public OverMpi {
 public:
  Nccl(MPI_Comm communicator, const torch::Device& device) : OverMpi(communicator), device_(device) {
    ncclUniqueId id;
    if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, communicator_);
    const c10::cuda::CUDAGuard guard(device_);
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
  }
  ~Nccl() override { ncclCommDestroy(comm_); }
  Nccl(const Nccl&) = delete;
  Nccl& operator=(const Nccl&) = delete;
  using OverMpi::all_reduce_sum;

  void broadcast(const std::vector<torch::Tensor>& tensors, int root) override {
    const c10::cuda::CUDAGuard guard(device_);
    for (const torch::Tensor& tensor : tensors) {
      check_device(tensor);
      torch::Tensor data = tensor.contiguous();
      // Bytes, so that every dtype (integer buffers such as BatchNorm's counter included) travels.
      check_nccl(ncclBroadcast(data.data_ptr(), data.data_ptr(), data.nbytes(), ncclUint8, root, comm_, stream()),
                 "ncclBroadcast");
      if (!data.is_same(tensor)) tensor.copy_(data);
    }
  }

  void all_reduce_sum(const std::vector<torch::Tensor>& tensors) override {
    const c10::cuda::CUDAGuard guard(device_);
    for (const torch::Tensor& tensor : tensors) check_device(tensor);
    reduce_in_buckets(tensors, [&](torch::Tensor& bucket) {
      check_nccl(ncclAllReduce(bucket.data_ptr(), bucket.data_ptr(), static_cast<std::size_t>(bucket.numel()),
                               nccl_type(bucket.scalar_type()), ncclSum, comm_, stream()),
                 "ncclAllReduce");
    });
  }

 private:
  cudaStream_t stream() const { return c10::cuda::getCurrentCUDAStream(device_.index()).stream(); }
  void check_device(const torch::Tensor& tensor) const {
    if (tensor.device() != device_) {
      throw std::invalid_argument("Collective (NCCL): tensors must be on " + device_.str() + ", got one on " +
                                  tensor.device().str());
    }
  }

  torch::Device device_;
  ncclComm_t comm_ = nullptr;
};
#endif

}  // namespace

std::unique_ptr<Collective> make_single_process_collective() { return std::make_unique<SingleProcess>(); }

std::unique_ptr<Collective> make_mpi_collective(MPI_Comm communicator) { return std::make_unique<Mpi>(communicator); }

std::unique_ptr<Collective> make_gang_collective(MPI_Comm communicator, const torch::Device& device) {
  if (device.is_cpu()) return make_mpi_collective(communicator);
#ifdef UGS_WITH_CUDA
  if (device.is_cuda() && device.has_index()) return std::make_unique<Nccl>(communicator, device);
#endif
  throw std::invalid_argument("a data-parallel job on " + device.str() +
                              " needs ugs built with -DUGS_WITH_CUDA=ON (NCCL) and a device with an index");
}

int node_local_rank(MPI_Comm communicator) {
  MPI_Comm node;
  MPI_Comm_split_type(communicator, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int rank = 0;
  MPI_Comm_rank(node, &rank);
  MPI_Comm_free(&node);
  return rank;
}

torch::Device rank_device(const std::string& configured, int local_rank) {
  const torch::Device device(configured);
  if (!device.is_cuda() || device.has_index()) return device;
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (gpus == 0) throw std::runtime_error("device \"" + configured + "\": no CUDA device is visible to this rank");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % gpus));
}

}  // namespace ugs::worker
