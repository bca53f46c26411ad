#include "ugs/worker/collective.h"

#include <stdexcept>
#include <string>

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

MPI_Datatype mpi_type(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return MPI_FLOAT;
    case torch::kDouble: return MPI_DOUBLE;
    default: throw std::invalid_argument(std::string("Collective: cannot sum tensors of ") + c10::toString(type));
  }
}

class Mpi final : public Collective {
 public:
  explicit Mpi(MPI_Comm communicator) : communicator_(communicator) {
    MPI_Comm_rank(communicator_, &rank_);
    MPI_Comm_size(communicator_, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void broadcast(const std::vector<torch::Tensor>& tensors, int root) override {
    for (const torch::Tensor& tensor : tensors) {
      check_cpu(tensor);
      torch::Tensor data = tensor.contiguous();  // the tensor itself when it already is
      MPI_Bcast(data.data_ptr(), static_cast<int>(data.nbytes()), MPI_BYTE, root, communicator_);
      if (!data.is_same(tensor)) tensor.copy_(data);
    }
  }

  // Buckets of at most kBucketBytes of one dtype, flattened, summed in place, copied back.
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors) override {
    std::size_t begin = 0;
    while (begin < tensors.size()) {
      std::size_t end = begin;
      std::size_t bytes = 0;
      const torch::ScalarType type = tensors[begin].scalar_type();
      while (end < tensors.size() && tensors[end].scalar_type() == type &&
             (end == begin || bytes + tensors[end].nbytes() <= kBucketBytes)) {
        check_cpu(tensors[end]);
        bytes += tensors[end].nbytes();
        ++end;
      }
      reduce_bucket(tensors, begin, end, type);
      begin = end;
    }
  }

  void all_reduce_sum(std::vector<double>& values) override {
    MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM, communicator_);
  }
  void all_reduce_max(std::vector<double>& values) override {
    MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_MAX, communicator_);
  }

 private:
  static void check_cpu(const torch::Tensor& tensor) {
    if (!tensor.device().is_cpu()) throw std::invalid_argument("Collective (MPI): tensors must be on the CPU");
  }

  void reduce_bucket(const std::vector<torch::Tensor>& tensors, std::size_t begin, std::size_t end,
                     torch::ScalarType type) {
    std::vector<torch::Tensor> flat_parts;
    for (std::size_t i = begin; i < end; ++i) flat_parts.push_back(tensors[i].reshape({-1}));
    torch::Tensor bucket = torch::cat(flat_parts);  // a new contiguous buffer, even for one tensor
    MPI_Allreduce(MPI_IN_PLACE, bucket.data_ptr(), static_cast<int>(bucket.numel()), mpi_type(type), MPI_SUM,
                  communicator_);
    std::int64_t offset = 0;
    for (std::size_t i = begin; i < end; ++i) {
      const std::int64_t n = tensors[i].numel();
      tensors[i].copy_(bucket.narrow(0, offset, n).view(tensors[i].sizes()));
      offset += n;
    }
  }

  MPI_Comm communicator_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

std::unique_ptr<Collective> make_single_process_collective() { return std::make_unique<SingleProcess>(); }

std::unique_ptr<Collective> make_mpi_collective(MPI_Comm communicator) { return std::make_unique<Mpi>(communicator); }

}  // namespace ugs::worker
