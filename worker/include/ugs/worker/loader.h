// Training batches from preprocessed nodules, made ahead of time on a background thread.
//
//   auto data = std::make_shared<const NoduleTensors>(preprocess_store(store, job.train, ...));
//   BatchLoader loader(data, loader_options(config, rank, world_size), {start_epoch, start_step});
//   for (int epoch = start_epoch; epoch < epochs; ++epoch) {
//     for (int step = epoch == start_epoch ? start_step : 0; step < loader.steps_per_epoch(); ++step) {
//       Batch batch = loader.next();          // batch.epoch == epoch, batch.step == step
//       ...
//     }
//   }
//   loader.stats().wait_seconds              // how long the training thread waited ("loader wait")
//
// What a batch is, as pure functions of (data, options, epoch, step), whatever thread makes it:
// - The order of an epoch is a permutation of the N nodules drawn from (seed, epoch) alone, with
//   SplitMix64 and a Fisher-Yates shuffle with unbiased draws: the same on every platform and
//   standard library (std:: distributions are implementation-defined), different for every epoch.
//   With shuffle = false the order is 0..N-1 every epoch.
// - Global batch s is positions [s*B, s*B + B) of that order (B = batch_size, the global batch).
//   The last, smaller batch is kept or dropped (LastBatch). So within an epoch no nodule is returned
//   twice and, with kKeep, none is skipped.
// - Data parallelism: rank r of W gets positions [r*b/W, (r+1)*b/W) of a global batch of b samples,
//   so the ranks' slices partition it exactly (sizes differ by at most one). Every rank takes the
//   same number of steps; a slice may be empty when a kept last batch has fewer samples than ranks
//   (then the batch tensors have 0 rows). Batch::global_size lets a rank weight its loss by its share.
// - Augmentation (flips, rot90) is drawn per nodule from (seed, epoch, store index), so it does not
//   depend on the batch size or the number of ranks; image and masks get the same transform.
// - Resuming at (epoch, step) gives exactly the batches an uninterrupted run would have seen.
//
// The background thread keeps up to `prefetch_batches` batches ready and makes batches across epoch
// boundaries, so the training thread waits only if a step is faster than making a batch (0.4 to 2 ms
// for 32 nodules on a 2-core VM, bench/RESULTS-worker-data.md).
//
// Errors: the constructor throws std::invalid_argument for bad options (an empty data set, batch
// size < 1, rank outside [0, world_size), a drop policy that leaves no batch). An exception inside
// the background thread is rethrown by next(). Thread safety: one thread calls next(); the others
// may read stats().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "ugs/worker/config.h"
#include "ugs/worker/preprocess.h"

namespace ugs::worker {

// One rank's part of one global batch. b = the rows of this rank's slice; S = the crop size.
struct Batch {
  int epoch = 0;
  int step = 0;
  int global_size = 0;            // samples in the global batch, over all ranks
  torch::Tensor images;           // [b, C, S, S] float32 in [0, 1]
  torch::Tensor target;           // [b, 1, S, S] float32 0/1: the single target (Label_1 by default)
  torch::Tensor union_mask;       // [b, 1, S, S] float32 0/1
  torch::Tensor intersection;     // [b, 1, S, S] float32 0/1
  torch::Tensor annotators;       // [b, 4, S, S] float32 0/1; slots >= annotator_count are 0
  torch::Tensor annotator_count;  // [b] int64; 0 for stores without per-reader masks
  // [b, 1, S, S] float32: the mean of the nodule's annotator masks. BCE is linear in its target, so
  // mean_j BCE(p, GT_j) = BCE(p, annotator_mean): the Phi losses of the paper need only this. For a
  // nodule without annotators it is (U + I) / 2, which is exactly the two-reader mean (a + b =
  // max(a, b) + min(a, b) pixel by pixel) and the best available stand-in for more readers.
  torch::Tensor annotator_mean;
  torch::Tensor store_indices;    // [b] int64: the nodules' indices in the store

  std::int64_t size() const { return images.size(0); }
};

struct LoaderOptions {
  int batch_size = 32;  // the global batch
  std::uint64_t seed = 0;
  bool shuffle = true;
  LastBatch last_batch = LastBatch::kKeep;
  AugmentConfig augment;
  int rank = 0;
  int world_size = 1;
  int prefetch_batches = 3;  // depth of the queue
  bool pin_memory = false;   // page-locked batch tensors for fast, asynchronous copies to a GPU
};

// The loader options of a job: [training] batch_size, seed, shuffle, last_batch, prefetch_batches,
// [augment]; page-locked memory when the device is a GPU.
LoaderOptions loader_options(const Config& config, int rank = 0, int world_size = 1);

// Where a loader is: the batch next() returns next.
struct LoaderPosition {
  int epoch = 0;
  int step = 0;
};

struct LoaderStats {
  std::int64_t batches = 0;       // returned by next() so far
  double wait_seconds = 0;        // total time next() blocked because no batch was ready
  double max_wait_seconds = 0;    // the longest single wait
  double produce_seconds = 0;     // total time the background thread spent making batches
};

// Steps in an epoch of `nodules` nodules. Throws std::invalid_argument if that is 0.
int steps_per_epoch(std::size_t nodules, int batch_size, LastBatch last_batch);

// The order of epoch `epoch`: a permutation of 0..nodules-1 (identity without shuffling).
std::vector<std::size_t> epoch_order(std::size_t nodules, std::uint64_t seed, int epoch, bool shuffle);

// The positions in `order` of this rank's part of batch `step` ([begin, end)), and the global size.
struct BatchSlice {
  std::size_t begin = 0;
  std::size_t end = 0;
  int global_size = 0;
};
BatchSlice batch_slice(std::size_t nodules, const LoaderOptions& options, int step);

// Batch `position` as the loader makes it (the background thread calls exactly this).
Batch make_batch(const NoduleTensors& data, const std::vector<std::size_t>& order, const LoaderOptions& options,
                 LoaderPosition position);

class BatchLoader {
 public:
  BatchLoader(std::shared_ptr<const NoduleTensors> data, LoaderOptions options, LoaderPosition start = {});
  ~BatchLoader();  // stops and joins the background thread
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  int steps_per_epoch() const;
  // The batch at position(), then position() moves on (to step 0 of the next epoch after the last).
  Batch next();
  LoaderPosition position() const;
  LoaderStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ugs::worker
