// bench_loader: how fast the training job's data path is, on a store of 1,860 50x50 nodules (the size
// of the paper's LIDC-IDRI set): reading and preprocessing the whole set once, making batches of 32
// (with and without augmentation), and how long a training thread waits for the background loader
// when each step takes a given time.
//
//   build/bench/bench_loader [STEP_MS ...]     (default: 0 5 25; 25 ms is below the fastest published
//                                               H100 step at batch 8, ../shared/reference/ugsnet.md)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "ugs/storage/files.h"
#include "ugs/storage/store.h"
#include "ugs/worker/loader.h"
#include "ugs/worker/preprocess.h"

namespace {

namespace fs = std::filesystem;
using namespace ugs;

constexpr int kNodules = 1860;
constexpr int kCrop = 50;
constexpr int kBatch = 32;
constexpr int kEpochs = 3;

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Nodules with 1..4 readers whose masks are jittered disks over random HU.
void write_store(const fs::path& dir) {
  storage::StoreAttributes attributes;
  attributes.height = attributes.width = kCrop;
  attributes.source = "bench_loader";
  storage::NoduleStoreWriter writer(dir, attributes);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> unit(0, 1);
  const std::size_t pixels = attributes.pixel_count();
  for (int i = 0; i < kNodules; ++i) {
    storage::Nodule n;
    n.info.nodule_id = "n" + std::to_string(i);
    n.info.patient_id = "p" + std::to_string(i / 2);
    n.info.annotator_count = 1 + i % 4;
    n.image.resize(pixels);
    for (float& v : n.image) v = static_cast<float>(-1000 + 1400 * unit(rng));
    n.union_mask.assign(pixels, 0);
    n.intersection_mask.assign(pixels, 1);
    n.annotators.assign(n.info.annotator_count * pixels, 0);
    const double radius = 4 + 12 * unit(rng);
    for (int j = 0; j < n.info.annotator_count; ++j) {
      const double r = radius + 2 * unit(rng), cy = 25 + unit(rng), cx = 25 + unit(rng);
      for (int y = 0; y < kCrop; ++y) {
        for (int x = 0; x < kCrop; ++x) {
          n.annotators[j * pixels + y * kCrop + x] = (y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r;
        }
      }
      for (std::size_t p = 0; p < pixels; ++p) {
        n.union_mask[p] |= n.annotators[j * pixels + p];
        n.intersection_mask[p] &= n.annotators[j * pixels + p];
      }
    }
    writer.add(std::move(n));
  }
  writer.finish();
}

void make_batches(const worker::NoduleTensors& data, bool augment) {
  worker::LoaderOptions options;
  options.batch_size = kBatch;
  options.augment.flips = options.augment.rot90 = augment;
  const int steps = worker::steps_per_epoch(data.size(), kBatch, options.last_batch);
  std::size_t samples = 0;
  const Clock::time_point start = Clock::now();
  for (int epoch = 0; epoch < kEpochs; ++epoch) {
    const std::vector<std::size_t> order = worker::epoch_order(data.size(), options.seed, epoch, true);
    for (int step = 0; step < steps; ++step) samples += worker::make_batch(data, order, options, {epoch, step}).size();
  }
  const double took = seconds_since(start);
  std::printf("make_batch, batch %d, %-15s %8.0f batches/s  %9.0f samples/s  (%.3f ms a batch)\n", kBatch,
              augment ? "flips+rot90:" : "no augment:", kEpochs * steps / took, samples / took,
              1e3 * took / (kEpochs * steps));
}

void consume(const std::shared_ptr<const worker::NoduleTensors>& data, double step_ms) {
  worker::LoaderOptions options;
  options.batch_size = kBatch;
  options.augment.flips = options.augment.rot90 = true;
  options.pin_memory = torch::cuda::is_available();  // as a CUDA job runs it
  worker::BatchLoader loader(data, options);
  const int steps = kEpochs * loader.steps_per_epoch();
  const Clock::time_point start = Clock::now();
  double first_wait = 0;  // the first batch is made while the job waits: a start-up cost, not a per-step one
  for (int i = 0; i < steps; ++i) {
    loader.next();
    if (i == 0) first_wait = loader.stats().wait_seconds;
    if (step_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(step_ms));
  }
  const double took = seconds_since(start);
  const worker::LoaderStats stats = loader.stats();
  std::printf("BatchLoader, step %4.1f ms: %5.0f batches/s, first batch %.2f ms, then wait %.4f ms/step "
              "(%.3f%% of the run)\n",
              step_ms, steps / took, 1e3 * first_wait, 1e3 * (stats.wait_seconds - first_wait) / (steps - 1),
              100 * (stats.wait_seconds - first_wait) / took);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<double> step_ms;
  for (int i = 1; i < argc; ++i) step_ms.push_back(std::atof(argv[i]));
  if (step_ms.empty()) step_ms = {0, 5, 25};
  const fs::path dir = fs::temp_directory_path() / ("ugs-bench-loader-" + std::to_string(getpid()));
  try {
    write_store(dir);
    const storage::NoduleStore store = storage::NoduleStore::open(dir);
    std::vector<std::size_t> all(store.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    std::printf("store: %zu nodules of %dx%d, %d threads for LibTorch, BatchLoader with %s memory\n",
                store.size(), kCrop, kCrop, torch::get_num_threads(),
                torch::cuda::is_available() ? "page-locked" : "pageable");

    for (const char* windows : {"published1", "published3"}) {
      worker::PreprocessConfig config;
      if (std::string(windows) == "published3") config.windows = worker::kPublishedWindows;
      const Clock::time_point start = Clock::now();
      const worker::NoduleTensors data = worker::preprocess_store(store, all, config, worker::SingleTarget::kLabel1);
      std::printf("read + preprocess to 64x64, %s: %.2f s (%.0f nodules/s), %.0f MB in memory\n", windows,
                  seconds_since(start), all.size() / seconds_since(start),
                  (data.images.nbytes() + data.masks.nbytes()) / 1e6);
    }

    worker::PreprocessConfig config;
    config.windows = worker::kPublishedWindows;
    auto data = std::make_shared<const worker::NoduleTensors>(
        worker::preprocess_store(store, all, config, worker::SingleTarget::kLabel1));
    make_batches(*data, false);
    make_batches(*data, true);
    for (double ms : step_ms) consume(data, ms);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_loader: %s\n", e.what());
    ugs::storage::remove_tree(dir);
    return 1;
  }
  ugs::storage::remove_tree(dir);
  return 0;
}
