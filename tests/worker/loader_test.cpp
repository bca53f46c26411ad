// The batch loader: every nodule exactly once per epoch, the same batches for the same (seed, epoch)
// on any thread and after a resume, rank slices that partition each global batch, and augmentation
// that moves image and masks together.
#include "ugs/worker/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <set>
#include <stdexcept>
#include <vector>

#include "worker/job_test_data.h"

namespace ugs::worker {
namespace {

using storage::ReaderMasks;

std::shared_ptr<const NoduleTensors> tensors(int count, int size = 16, ReaderMasks masks = ReaderMasks::kPerReader) {
  const storage::StoreAttributes attributes = testing::square_attributes(size, masks);
  PreprocessConfig config;
  config.size = size;  // the identity resize: windowed images are exactly the union
  const SingleTarget target = masks == ReaderMasks::kPerReader ? SingleTarget::kLabel1 : SingleTarget::kUnion;
  auto data = std::make_shared<NoduleTensors>(preprocess(testing::patterned_nodules(attributes, count), attributes,
                                                         config, target));
  // Store indices other than the positions, so that a mix-up of the two shows.
  for (std::size_t n = 0; n < data->store_indices.size(); ++n) data->store_indices[n] = 1000 + 7 * n;
  return data;
}

LoaderOptions options_of(int batch_size, std::uint64_t seed = 5, LastBatch last = LastBatch::kKeep) {
  LoaderOptions options;
  options.batch_size = batch_size;
  options.seed = seed;
  options.last_batch = last;
  return options;
}

std::vector<std::int64_t> indices_of(const Batch& batch) {
  const torch::Tensor t = batch.store_indices.contiguous();
  return std::vector<std::int64_t>(t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + t.numel());
}

void expect_same_batch(const Batch& a, const Batch& b) {
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.global_size, b.global_size);
  EXPECT_TRUE(torch::equal(a.store_indices, b.store_indices)) << "epoch " << a.epoch << " step " << a.step;
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_TRUE(torch::equal(a.target, b.target));
  EXPECT_TRUE(torch::equal(a.annotators, b.annotators));
}

TEST(Loader, EveryNoduleExactlyOncePerEpoch) {
  const auto data = tensors(23);
  BatchLoader loader(data, options_of(5));
  ASSERT_EQ(loader.steps_per_epoch(), 5);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::multiset<std::int64_t> seen;
    for (int step = 0; step < 5; ++step) {
      const Batch batch = loader.next();
      EXPECT_EQ(batch.epoch, epoch);
      EXPECT_EQ(batch.step, step);
      EXPECT_EQ(batch.size(), step < 4 ? 5 : 3);
      EXPECT_EQ(batch.global_size, batch.size());
      for (std::int64_t index : indices_of(batch)) seen.insert(index);
    }
    EXPECT_EQ(seen, std::multiset<std::int64_t>(data->store_indices.begin(), data->store_indices.end()))
        << "epoch " << epoch;
  }
  EXPECT_EQ(loader.position().epoch, 3);
  EXPECT_EQ(loader.position().step, 0);
}

TEST(Loader, DropSkipsOnlyTheLastPartialBatch) {
  const auto data = tensors(23);
  BatchLoader loader(data, options_of(5, 5, LastBatch::kDrop));
  ASSERT_EQ(loader.steps_per_epoch(), 4);
  const std::vector<std::size_t> order = epoch_order(23, 5, 0, true);
  std::set<std::int64_t> seen;
  for (int step = 0; step < 4; ++step) {
    const Batch batch = loader.next();
    EXPECT_EQ(batch.size(), 5);
    for (std::int64_t index : indices_of(batch)) EXPECT_TRUE(seen.insert(index).second) << "twice: " << index;
  }
  // The 3 left out are the last 3 of the epoch's order.
  for (std::size_t k = 20; k < 23; ++k) EXPECT_EQ(seen.count(static_cast<std::int64_t>(data->store_indices[order[k]])), 0u);
  EXPECT_EQ(loader.next().epoch, 1);
}

TEST(Loader, DeterministicPerSeedAndEpochAndDifferentAcrossThem) {
  const auto data = tensors(40);
  LoaderOptions options = options_of(8);
  options.augment.flips = options.augment.rot90 = true;
  BatchLoader a(data, options), b(data, options);
  std::vector<std::vector<std::int64_t>> epochs(2);
  for (int i = 0; i < 10; ++i) {
    const Batch x = a.next(), y = b.next();
    expect_same_batch(x, y);
    const std::vector<std::int64_t> indices = indices_of(x);
    epochs[x.epoch].insert(epochs[x.epoch].end(), indices.begin(), indices.end());
  }
  EXPECT_NE(epochs[0], epochs[1]) << "two epochs in the same order";
  EXPECT_NE(epoch_order(40, 5, 0, true), epoch_order(40, 6, 0, true)) << "two seeds with the same order";
  std::vector<std::size_t> identity(40);
  std::iota(identity.begin(), identity.end(), std::size_t{0});
  EXPECT_EQ(epoch_order(40, 5, 3, false), identity);

  // The order is fixed by SplitMix64 and Fisher-Yates alone, so it is the same on every platform and
  // a run resumed on another machine continues with the same batches. The expected order was computed
  // by an independent Python transcription of random.h (whose SplitMix64(0) gives 0xe220a8397b1dcdaf,
  // the reference implementation's first output).
  EXPECT_EQ(epoch_order(8, 7, 0, true), (std::vector<std::size_t>{6, 2, 4, 1, 0, 5, 7, 3}));
}

TEST(Loader, ResumeReproducesTheRestOfTheRun) {
  const auto data = tensors(23);
  LoaderOptions options = options_of(4);
  options.augment.flips = true;
  BatchLoader uninterrupted(data, options);
  std::vector<Batch> all;
  for (int i = 0; i < 3 * 6; ++i) all.push_back(uninterrupted.next());
  BatchLoader resumed(data, options, {1, 2});
  EXPECT_EQ(resumed.position().epoch, 1);
  for (std::size_t i = 6 + 2; i < all.size(); ++i) expect_same_batch(resumed.next(), all[i]);
}

TEST(Loader, RankSlicesPartitionEachGlobalBatch) {
  const auto data = tensors(23);
  const LoaderOptions global = options_of(8);
  BatchLoader whole(data, global);
  constexpr int kRanks = 3;
  std::vector<std::unique_ptr<BatchLoader>> ranks;
  for (int r = 0; r < kRanks; ++r) {
    LoaderOptions options = global;
    options.rank = r;
    options.world_size = kRanks;
    ranks.push_back(std::make_unique<BatchLoader>(data, options));
    EXPECT_EQ(ranks.back()->steps_per_epoch(), whole.steps_per_epoch());
  }
  for (int i = 0; i < 2 * whole.steps_per_epoch(); ++i) {
    const Batch batch = whole.next();
    std::vector<std::int64_t> joined;
    for (auto& rank : ranks) {
      const Batch part = rank->next();
      EXPECT_EQ(part.global_size, batch.global_size);
      EXPECT_LE(std::abs(part.size() * kRanks - batch.size()), kRanks);  // sizes differ by at most one
      const std::vector<std::int64_t> indices = indices_of(part);
      joined.insert(joined.end(), indices.begin(), indices.end());
    }
    EXPECT_EQ(joined, indices_of(batch)) << "step " << batch.step;
  }
  // More ranks than samples in the kept last batch (23 = 2 * 10 + 3): some slices are empty.
  LoaderOptions wide = options_of(10);
  wide.world_size = 5;
  wide.rank = 4;
  const BatchSlice last = batch_slice(23, wide, 2);
  EXPECT_EQ(last.global_size, 3);
  EXPECT_EQ(last.end - last.begin, 1u);
  wide.rank = 0;
  EXPECT_EQ(batch_slice(23, wide, 2).end - batch_slice(23, wide, 2).begin, 0u);
}

// The eight symmetries of a square, as torch ops on the last two dimensions.
std::vector<torch::Tensor> symmetries(const torch::Tensor& x) {
  std::vector<torch::Tensor> all;
  for (int k = 0; k < 4; ++k) {
    const torch::Tensor turned = torch::rot90(x, k, {-2, -1});
    all.push_back(turned);
    all.push_back(turned.flip({-1}));
  }
  return all;
}

TEST(Loader, AugmentationMovesImagesAndMasksTogether) {
  const auto data = tensors(32);
  LoaderOptions options = options_of(32);
  options.augment.flips = options.augment.rot90 = true;
  BatchLoader loader(data, options);
  std::set<int> transforms_seen;
  for (int epoch = 0; epoch < 2; ++epoch) {
    const Batch batch = loader.next();
    const std::vector<std::int64_t> indices = indices_of(batch);
    for (std::int64_t i = 0; i < batch.size(); ++i) {
      const std::size_t n = static_cast<std::size_t>((indices[i] - 1000) / 7);
      // The image is the union (see patterned_nodule), before and after augmentation.
      EXPECT_TRUE(torch::equal(batch.images[i][0], batch.union_mask[i][0]));
      // All planes went through one and the same symmetry of the original.
      const torch::Tensor original = torch::cat({data->images[n], data->masks[n].to(torch::kFloat32)});
      const torch::Tensor augmented = torch::cat(
          {batch.images[i], batch.target[i], batch.union_mask[i], batch.intersection[i], batch.annotators[i]});
      const std::vector<torch::Tensor> candidates = symmetries(original);
      int match = -1;
      for (int s = 0; s < 8 && match < 0; ++s) {
        if (torch::equal(candidates[s], augmented)) match = s;
      }
      EXPECT_GE(match, 0) << "sample " << i << " is no symmetry of its nodule";
      transforms_seen.insert(match);
    }
  }
  EXPECT_EQ(transforms_seen.size(), 8u) << "64 draws should show all eight symmetries";

  LoaderOptions plain = options_of(32);
  const Batch unaugmented = make_batch(*data, epoch_order(32, 5, 0, true), plain, {0, 0});
  for (std::int64_t i = 0; i < unaugmented.size(); ++i) {
    const std::size_t n = static_cast<std::size_t>((indices_of(unaugmented)[i] - 1000) / 7);
    EXPECT_TRUE(torch::equal(unaugmented.images[i], data->images[n]));
  }
}

TEST(Loader, BatchContentsAndTheAnnotatorMean) {
  const auto data = tensors(9);
  const Batch batch = make_batch(*data, epoch_order(9, 1, 0, false), options_of(9), {0, 0});
  for (std::int64_t i = 0; i < 9; ++i) {
    const std::int64_t count = data->annotator_count[i].item<std::int64_t>();
    EXPECT_EQ(batch.annotator_count[i].item<std::int64_t>(), count);
    EXPECT_TRUE(torch::equal(batch.target[i][0], data->masks[i][kTargetPlane].to(torch::kFloat32)));
    const torch::Tensor mean = batch.annotators[i].narrow(0, 0, count).mean(0);
    EXPECT_TRUE(torch::allclose(batch.annotator_mean[i][0], mean, 0, 1e-6)) << i;
  }

  // Without per-reader masks the mean is (U + I) / 2.
  const auto pairs = tensors(4, 16, ReaderMasks::kUnionIntersectionOnly);
  const Batch uio = make_batch(*pairs, epoch_order(4, 1, 0, false), options_of(4), {0, 0});
  EXPECT_TRUE(torch::equal(uio.annotator_mean, (uio.union_mask + uio.intersection) / 2));
  EXPECT_EQ(uio.annotator_count.sum().item<std::int64_t>(), 0);
  EXPECT_EQ(uio.annotators.sum().item<float>(), 0.0f);
}

TEST(Loader, StatsCountBatchesAndWaits) {
  BatchLoader loader(tensors(12), options_of(4));
  for (int i = 0; i < 7; ++i) loader.next();
  const LoaderStats stats = loader.stats();
  EXPECT_EQ(stats.batches, 7);
  EXPECT_GE(stats.wait_seconds, 0.0);
  EXPECT_GE(stats.wait_seconds, stats.max_wait_seconds);
  EXPECT_GT(stats.produce_seconds, 0.0);
}

// Only where LibTorch sees a GPU (the GPU check): page-locked batches copy to the device unchanged.
TEST(Loader, PinnedBatchesOnGpuMachines) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  LoaderOptions options = options_of(8);
  options.pin_memory = true;
  BatchLoader loader(tensors(20), options);
  const Batch batch = loader.next();
  EXPECT_TRUE(batch.images.is_pinned());
  EXPECT_TRUE(batch.annotator_mean.is_pinned());
  const torch::Tensor on_gpu = batch.images.to(torch::kCUDA, /*non_blocking=*/true);
  EXPECT_TRUE(torch::equal(on_gpu.cpu(), batch.images));
}

TEST(Loader, BadOptionsAreRefused) {
  const auto data = tensors(6);
  LoaderOptions options = options_of(4);
  options.rank = 2;
  options.world_size = 2;
  EXPECT_THROW(BatchLoader(data, options), std::invalid_argument);
  EXPECT_THROW(BatchLoader(data, options_of(8, 1, LastBatch::kDrop)), std::invalid_argument);
  EXPECT_THROW(BatchLoader(data, options_of(0)), std::invalid_argument);
  EXPECT_THROW(BatchLoader(data, options_of(4), {0, 2}), std::invalid_argument);
  EXPECT_THROW(BatchLoader(std::make_shared<const NoduleTensors>(), options_of(4)), std::invalid_argument);
  EXPECT_EQ(steps_per_epoch(8, 4, LastBatch::kDrop), 2);
  EXPECT_EQ(steps_per_epoch(9, 4, LastBatch::kDrop), 2);
  EXPECT_EQ(steps_per_epoch(9, 4, LastBatch::kKeep), 3);
}

}  // namespace
}  // namespace ugs::worker
