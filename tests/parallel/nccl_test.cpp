// The NCCL gang collective on GPUs, run by ctest as `mpirun -np <GPUs> ugs_nccl_tests` on builds with
// UGS_WITH_CUDA, one rank per GPU (NCCL refuses two ranks on one GPU, so a one-GPU machine checks a
// gang of one: the bucketing, the dtypes, the id exchange over MPI and the rank's GPU, not the sum
// across GPUs). Every rank runs every test.
#include <gtest/gtest.h>
#include <mpi.h>

#include <vector>

#include "ugs/worker/collective.h"

namespace ugs::worker {
namespace {

int world(int (*query)(MPI_Comm, int*)) {
  int value = 0;
  query(MPI_COMM_WORLD, &value);
  return value;
}

torch::Device this_rank_gpu() { return rank_device("cuda", node_local_rank(MPI_COMM_WORLD)); }

TEST(Nccl, EachRankTrainsOnTheGpuOfItsNodeLocalRank) {
  const int local = node_local_rank(MPI_COMM_WORLD);
  const torch::Device device = this_rank_gpu();
  EXPECT_EQ(device.index(), local % static_cast<int>(torch::cuda::device_count()));
  EXPECT_EQ(rank_device("cuda:0", local), torch::Device("cuda:0"));  // an explicit index is kept
  EXPECT_EQ(rank_device("cpu", local), torch::Device("cpu"));
}

TEST(Nccl, BucketsComeBackToTheirTensorsSummedOverTheGang) {
  const torch::Device device = this_rank_gpu();
  const auto gang = make_gang_collective(MPI_COMM_WORLD, device);
  const int ranks = gang->size();
  const double rank_sum = ranks * (ranks + 1) / 2.0;  // every rank adds (its rank + 1) times the base
  // Two tensors larger than half a bucket (one bucket each), small ones between them, a dtype change
  // (a new bucket), and bf16: small integers, exact in every dtype.
  const std::vector<std::pair<std::vector<std::int64_t>, torch::ScalarType>> shapes = {
      {{1024, 4096}, torch::kFloat}, {{3, 5}, torch::kFloat},  {{7}, torch::kFloat},
      {{1024, 4096}, torch::kFloat}, {{2, 3, 4}, torch::kDouble}, {{33}, torch::kBFloat16}, {{1}, torch::kFloat}};
  std::vector<torch::Tensor> tensors, bases;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const auto& [shape, dtype] = shapes[i];
    const torch::Tensor base =
        torch::arange(c10::multiply_integers(shape), torch::TensorOptions(torch::kFloat).device(device))
            .fmod(7.0 + static_cast<double>(i)).reshape(shape).to(dtype);
    bases.push_back(base);
    tensors.push_back(base * (gang->rank() + 1));
  }
  gang->all_reduce_sum(tensors);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(tensors[i].device(), device);
    EXPECT_TRUE(torch::equal(tensors[i], bases[i] * rank_sum)) << "tensor " << i;
  }
}

TEST(Nccl, BroadcastGivesEveryRankTheRootsTensorsOfAnyDtype) {
  const torch::Device device = this_rank_gpu();
  const auto gang = make_gang_collective(MPI_COMM_WORLD, device);
  const auto on_gpu = torch::TensorOptions().device(device);
  // BatchNorm's counter is an int64 buffer; a transposed view is not contiguous.
  std::vector<torch::Tensor> tensors = {torch::full({4, 6}, gang->rank() + 1.0, on_gpu),
                                        torch::full({1}, gang->rank() + 10, on_gpu.dtype(torch::kLong)),
                                        torch::full({3, 5}, gang->rank() + 2.0, on_gpu).t()};
  gang->broadcast(tensors, 0);
  EXPECT_TRUE(torch::equal(tensors[0], torch::full({4, 6}, 1.0, on_gpu)));
  EXPECT_EQ(tensors[1].item<std::int64_t>(), 10);
  EXPECT_TRUE(torch::equal(tensors[2], torch::full({5, 3}, 2.0, on_gpu)));
}

TEST(Nccl, HostNumbersGoOverMpi) {
  const auto gang = make_gang_collective(MPI_COMM_WORLD, this_rank_gpu());
  std::vector<double> sums = {1.0, static_cast<double>(gang->rank())};
  std::vector<double> maxima = {static_cast<double>(gang->rank())};
  gang->all_reduce_sum(sums);
  gang->all_reduce_max(maxima);
  EXPECT_EQ(sums[0], gang->size());
  EXPECT_EQ(sums[1], gang->size() * (gang->size() - 1) / 2.0);
  EXPECT_EQ(maxima[0], gang->size() - 1);
}

TEST(Nccl, TensorsOnAnotherDeviceAreRefusedInOneLine) {
  const auto gang = make_gang_collective(MPI_COMM_WORLD, this_rank_gpu());
  std::vector<torch::Tensor> on_cpu = {torch::ones({3})};
  try {
    gang->all_reduce_sum(on_cpu);
    FAIL() << "a CPU tensor was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("tensors must be on cuda:"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace ugs::worker

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (ugs::worker::world(MPI_Comm_rank) != 0) ::testing::GTEST_FLAG(output) = "";
  int failed = RUN_ALL_TESTS();
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return failed;
}
