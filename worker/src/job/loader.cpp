#include "ugs/worker/loader.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>

#include "random.h"

namespace ugs::worker {
namespace {

// A dihedral transform of a square plane: rotate by quarter_turns * 90 degrees counter-clockwise
// (torch.rot90's direction), then flip rows and/or columns.
struct Transform {
  int quarter_turns = 0;
  bool flip_rows = false;     // upside down
  bool flip_columns = false;  // left-right

  bool is_identity() const { return quarter_turns == 0 && !flip_rows && !flip_columns; }
};

Transform draw_transform(const LoaderOptions& options, int epoch, std::size_t store_index) {
  Transform transform;
  if (!options.augment.flips && !options.augment.rot90) return transform;
  const std::uint64_t bits =
      SplitMix64::stream(options.seed, kAugmentStream, {static_cast<std::uint64_t>(epoch), store_index}).next();
  if (options.augment.flips) {
    transform.flip_rows = bits & 1u;
    transform.flip_columns = bits & 2u;
  }
  if (options.augment.rot90) transform.quarter_turns = static_cast<int>((bits >> 2) & 3u);
  return transform;
}

// For every output pixel, the input pixel it takes (row-major offsets into a size x size plane).
void source_pixels(const Transform& transform, int size, std::vector<std::int32_t>& source) {
  const int last = size - 1;
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const int ry = transform.flip_rows ? last - y : y;  // undo the flips first: they were applied last
      const int rx = transform.flip_columns ? last - x : x;
      int sy = ry, sx = rx;
      switch (transform.quarter_turns) {
        case 1: sy = rx, sx = last - ry; break;  // torch.rot90(k=1): out[y][x] = in[x][last - y]
        case 2: sy = last - ry, sx = last - rx; break;
        case 3: sy = last - rx, sx = ry; break;
        default: break;
      }
      source[static_cast<std::size_t>(y) * size + x] = sy * size + sx;
    }
  }
}

// out[p] = in[source[p]] (or in[p] without a transform), as float.
template <class T>
void copy_plane(const T* in, float* out, std::size_t pixels, const std::vector<std::int32_t>* source) {
  if (!source) {
    std::copy(in, in + pixels, out);
    return;
  }
  for (std::size_t p = 0; p < pixels; ++p) out[p] = static_cast<float>(in[(*source)[p]]);
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

LoaderOptions loader_options(const Config& config, int rank, int world_size) {
  LoaderOptions options;
  options.batch_size = config.training.batch_size;
  options.seed = config.training.seed;
  options.shuffle = config.training.shuffle;
  options.last_batch = config.training.last_batch;
  options.augment = config.augment;
  options.rank = rank;
  options.world_size = world_size;
  options.prefetch_batches = config.training.prefetch_batches;
  options.pin_memory = config.training.device.rfind("cuda", 0) == 0;
  return options;
}

int steps_per_epoch(std::size_t nodules, int batch_size, LastBatch last_batch) {
  if (batch_size < 1) throw std::invalid_argument("loader: batch size must be >= 1, got " + std::to_string(batch_size));
  const std::size_t batch = static_cast<std::size_t>(batch_size);
  const std::size_t steps = last_batch == LastBatch::kKeep ? (nodules + batch - 1) / batch : nodules / batch;
  if (steps == 0) {
    throw std::invalid_argument("loader: " + std::to_string(nodules) + " training nodules make no batch of " +
                                std::to_string(batch_size) +
                                (last_batch == LastBatch::kDrop ? " with last_batch = \"drop\"" : ""));
  }
  return static_cast<int>(steps);
}

std::vector<std::size_t> epoch_order(std::size_t nodules, std::uint64_t seed, int epoch, bool shuffle) {
  std::vector<std::size_t> order(nodules);
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (shuffle) SplitMix64::stream(seed, kEpochOrderStream, {static_cast<std::uint64_t>(epoch)}).shuffle(order);
  return order;
}

BatchSlice batch_slice(std::size_t nodules, const LoaderOptions& options, int step) {
  const std::size_t batch = static_cast<std::size_t>(options.batch_size);
  const std::size_t global_begin = static_cast<std::size_t>(step) * batch;
  const std::size_t global_size = std::min(batch, nodules - std::min(nodules, global_begin));
  const auto rank = static_cast<std::size_t>(options.rank), ranks = static_cast<std::size_t>(options.world_size);
  return BatchSlice{global_begin + rank * global_size / ranks, global_begin + (rank + 1) * global_size / ranks,
                    static_cast<int>(global_size)};
}

Batch make_batch(const NoduleTensors& data, const std::vector<std::size_t>& order, const LoaderOptions& options,
                 LoaderPosition position) {
  const BatchSlice slice = batch_slice(data.size(), options, position.step);
  const auto rows = static_cast<std::int64_t>(slice.end - slice.begin);
  const std::int64_t channels = data.images.size(1), size = data.images.size(2);
  const auto pixels = static_cast<std::size_t>(size * size);
  const auto floats = torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(options.pin_memory);
  const auto integers = torch::TensorOptions().dtype(torch::kInt64).pinned_memory(options.pin_memory);

  Batch batch;
  batch.epoch = position.epoch;
  batch.step = position.step;
  batch.global_size = slice.global_size;
  batch.images = torch::empty({rows, channels, size, size}, floats);
  batch.target = torch::empty({rows, 1, size, size}, floats);
  batch.union_mask = torch::empty({rows, 1, size, size}, floats);
  batch.intersection = torch::empty({rows, 1, size, size}, floats);
  batch.annotators = torch::empty({rows, storage::kMaxAnnotators, size, size}, floats);
  batch.annotator_count = torch::empty({rows}, integers);
  batch.annotator_mean = torch::empty({rows, 1, size, size}, floats);
  batch.store_indices = torch::empty({rows}, integers);

  const float* images = data.images.data_ptr<float>();
  const std::uint8_t* masks = data.masks.data_ptr<std::uint8_t>();
  const std::int64_t* counts = data.annotator_count.data_ptr<std::int64_t>();
  float* out_images = batch.images.data_ptr<float>();
  float* out_target = batch.target.data_ptr<float>();
  float* out_union = batch.union_mask.data_ptr<float>();
  float* out_intersection = batch.intersection.data_ptr<float>();
  float* out_annotators = batch.annotators.data_ptr<float>();
  float* out_mean = batch.annotator_mean.data_ptr<float>();
  std::int64_t* out_counts = batch.annotator_count.data_ptr<std::int64_t>();
  std::int64_t* out_indices = batch.store_indices.data_ptr<std::int64_t>();
  std::vector<std::int32_t> source(pixels);
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::size_t n = order[slice.begin + static_cast<std::size_t>(i)];
    const std::size_t store_index = data.store_indices[n];
    const Transform transform = draw_transform(options, position.epoch, store_index);
    if (!transform.is_identity()) source_pixels(transform, static_cast<int>(size), source);
    const std::vector<std::int32_t>* map = transform.is_identity() ? nullptr : &source;

    for (std::int64_t c = 0; c < channels; ++c) {
      copy_plane(images + (n * channels + c) * pixels, out_images + (i * channels + c) * pixels, pixels, map);
    }
    const std::uint8_t* nodule_masks = masks + n * kMaskPlanes * pixels;
    float* target = out_target + i * pixels;
    float* union_mask = out_union + i * pixels;
    float* intersection = out_intersection + i * pixels;
    float* annotators = out_annotators + i * storage::kMaxAnnotators * pixels;
    copy_plane(nodule_masks + kTargetPlane * pixels, target, pixels, map);
    copy_plane(nodule_masks + kUnionPlane * pixels, union_mask, pixels, map);
    copy_plane(nodule_masks + kIntersectionPlane * pixels, intersection, pixels, map);
    const std::int64_t count = counts[n];
    for (int j = 0; j < storage::kMaxAnnotators; ++j) {
      float* plane = annotators + j * pixels;
      if (j < count) {
        copy_plane(nodule_masks + (kFirstAnnotatorPlane + j) * pixels, plane, pixels, map);
      } else {
        std::fill(plane, plane + pixels, 0.0f);  // an absent reader's plane is zero, whatever the transform
      }
    }

    float* mean = out_mean + i * pixels;
    if (count > 0) {
      std::fill(mean, mean + pixels, 0.0f);
      for (std::int64_t j = 0; j < count; ++j) {
        for (std::size_t p = 0; p < pixels; ++p) mean[p] += annotators[j * pixels + p];
      }
      for (std::size_t p = 0; p < pixels; ++p) mean[p] /= static_cast<float>(count);
    } else {
      for (std::size_t p = 0; p < pixels; ++p) mean[p] = (union_mask[p] + intersection[p]) / 2.0f;
    }
    out_counts[i] = count;
    out_indices[i] = static_cast<std::int64_t>(store_index);
  }
  return batch;
}

// ---------------------------------------------------------------------------------------------------

struct BatchLoader::Impl {
  std::shared_ptr<const NoduleTensors> data;
  LoaderOptions options;
  int steps = 0;
  LoaderPosition consumer;  // only the consuming thread touches it

  mutable std::mutex mutex;
  std::condition_variable ready;  // a batch was queued, or the producer failed
  std::condition_variable space;  // a batch was taken, or stop was asked
  std::deque<Batch> queue;
  std::exception_ptr error;
  bool stop = false;
  LoaderStats stats;
  std::thread producer;

  void advance(LoaderPosition& position) const {
    if (++position.step == steps) {
      position.step = 0;
      ++position.epoch;
    }
  }

  void produce(LoaderPosition at) {
    std::vector<std::size_t> order;
    int order_epoch = -1;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        space.wait(lock, [&] { return stop || queue.size() < static_cast<std::size_t>(options.prefetch_batches); });
        if (stop) return;
      }
      try {
        const Clock::time_point start = Clock::now();
        if (at.epoch != order_epoch) {
          order = epoch_order(data->size(), options.seed, at.epoch, options.shuffle);
          order_epoch = at.epoch;
        }
        Batch batch = make_batch(*data, order, options, at);
        const double took = seconds_since(start);
        std::lock_guard<std::mutex> lock(mutex);
        queue.push_back(std::move(batch));
        stats.produce_seconds += took;
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        error = std::current_exception();
        ready.notify_one();
        return;
      }
      ready.notify_one();
      advance(at);
    }
  }
};

BatchLoader::BatchLoader(std::shared_ptr<const NoduleTensors> data, LoaderOptions options, LoaderPosition start)
    : impl_(std::make_unique<Impl>()) {
  if (!data || data->size() == 0) throw std::invalid_argument("loader: no nodules to load");
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    throw std::invalid_argument("loader: rank " + std::to_string(options.rank) + " is not in [0, world size " +
                                std::to_string(options.world_size) + ")");
  }
  if (options.prefetch_batches < 1) throw std::invalid_argument("loader: prefetch_batches must be >= 1");
  impl_->steps = worker::steps_per_epoch(data->size(), options.batch_size, options.last_batch);
  if (start.epoch < 0 || start.step < 0 || start.step >= impl_->steps) {
    throw std::invalid_argument("loader: cannot start at epoch " + std::to_string(start.epoch) + ", step " +
                                std::to_string(start.step) + " (an epoch has " + std::to_string(impl_->steps) +
                                " steps)");
  }
  impl_->data = std::move(data);
  impl_->options = options;
  impl_->consumer = start;
  impl_->producer = std::thread([impl = impl_.get(), start] { impl->produce(start); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->space.notify_all();
  impl_->producer.join();
}

int BatchLoader::steps_per_epoch() const { return impl_->steps; }

Batch BatchLoader::next() {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  const Clock::time_point start = Clock::now();
  impl_->ready.wait(lock, [&] { return !impl_->queue.empty() || impl_->error; });
  if (impl_->queue.empty()) std::rethrow_exception(impl_->error);
  const double waited = seconds_since(start);
  impl_->stats.wait_seconds += waited;
  impl_->stats.max_wait_seconds = std::max(impl_->stats.max_wait_seconds, waited);
  ++impl_->stats.batches;
  Batch batch = std::move(impl_->queue.front());
  impl_->queue.pop_front();
  lock.unlock();
  impl_->space.notify_one();
  impl_->advance(impl_->consumer);
  return batch;
}

LoaderPosition BatchLoader::position() const { return impl_->consumer; }

LoaderStats BatchLoader::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace ugs::worker
