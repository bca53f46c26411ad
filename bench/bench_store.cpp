// Read throughput of the nodule store on one thread with a warm page cache: random batches of 32 (a
// training epoch's access pattern), single random nodules, and read_all. Writes a 1,860-nodule store of
// simple random nodules (50x50, 1..4 readers) into a temporary folder and removes it at the end.
// Each figure is given per wall-clock second and per second of this thread's CPU time (user + system):
// on a shared machine the second is what one core sustains.
//   build/bench/bench_store [seconds per measurement, default 2]
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "ugs/storage/files.h"
#include "ugs/storage/store.h"

namespace {

namespace fs = std::filesystem;
using ugs::storage::Nodule;
using ugs::storage::NoduleStore;
using Clock = std::chrono::steady_clock;

constexpr int kNodules = 1860;
constexpr int kSize = 50;
constexpr std::size_t kBatch = 32;

// A disk per reader around a jittered centre, random HU values; union and intersection derived.
Nodule random_nodule(int index, std::mt19937& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const std::size_t pixels = kSize * kSize;
  Nodule n;
  n.info.nodule_id = "bench-" + std::to_string(index);
  n.info.patient_id = "patient-" + std::to_string(index / 3);
  n.info.annotator_count = 1 + static_cast<int>(rng() % 4);
  n.info.diameter_mm = 3 + 27 * unit(rng);
  n.info.spacing_mm = {0.7, 0.7};
  n.image.resize(pixels);
  for (float& v : n.image) v = static_cast<float>(-1000 + 1400 * unit(rng));
  const double radius = n.info.diameter_mm / 2 / 0.7;
  n.annotators.resize(n.info.annotator_count * pixels);
  n.union_mask.assign(pixels, 0);
  n.intersection_mask.assign(pixels, 1);
  for (int j = 0; j < n.info.annotator_count; ++j) {
    const double cy = 25 + 2 * unit(rng), cx = 25 + 2 * unit(rng), r = radius * (0.85 + 0.3 * unit(rng));
    for (std::size_t p = 0; p < pixels; ++p) {
      const double dy = static_cast<double>(p / kSize) - cy, dx = static_cast<double>(p % kSize) - cx;
      const std::uint8_t inside = dy * dy + dx * dx <= r * r;
      n.annotators[j * pixels + p] = inside;
      n.union_mask[p] |= inside;
      n.intersection_mask[p] &= inside;
    }
  }
  return n;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Runs `step` (which returns the nodules it read) for about `budget` seconds and prints the rates.
template <typename Step>
void measure(const char* name, double budget, Step step) {
  std::size_t nodules = 0, steps = 0;
  const double cpu_start = thread_cpu_seconds();
  const auto start = Clock::now();
  while (seconds_since(start) < budget) {
    nodules += step();
    ++steps;
  }
  const double wall = seconds_since(start), cpu = thread_cpu_seconds() - cpu_start;
  std::printf("%-24s %9.0f nodules/s wall %9.0f nodules/s CPU  %8.1f us per call (%zu calls)\n", name,
              nodules / wall, nodules / cpu, 1e6 * wall / steps, steps);
}

}  // namespace

int main(int argc, char** argv) {
  const double budget = argc > 1 ? std::atof(argv[1]) : 2.0;
  const fs::path dir = fs::temp_directory_path() / ("ugs-bench-store-" + std::to_string(::getpid()));
  try {
    std::mt19937 rng(2024);
    auto start = Clock::now();
    {
      ugs::storage::StoreAttributes attributes;
      attributes.source = "bench_store random nodules";
      ugs::storage::NoduleStoreWriter writer(dir, attributes);
      for (int i = 0; i < kNodules; ++i) writer.add(random_nodule(i, rng));
      writer.finish();
    }
    std::printf("wrote %d nodules (50x50, 1..4 readers) in %.2f s\n", kNodules, seconds_since(start));

    const NoduleStore store = NoduleStore::open(dir);
    std::uintmax_t bytes = 0;
    for (const auto& entry : fs::directory_iterator(dir)) bytes += entry.file_size();
    std::printf("store: %zu nodules in %d shards, %.1f MB\n", store.size(), store.shard_count(), bytes / 1e6);
    store.read_all();  // warm the page cache

    // Random batches: an epoch's shuffled order, cut into batches of 32.
    std::vector<std::size_t> order(store.size());
    std::iota(order.begin(), order.end(), 0);
    std::size_t position = order.size();
    measure("random batches of 32", budget, [&] {
      if (position + kBatch > order.size()) {
        std::shuffle(order.begin(), order.end(), rng);
        position = 0;
      }
      const std::vector<std::size_t> batch(order.begin() + position, order.begin() + position + kBatch);
      position += kBatch;
      return store.read(batch).size();
    });
    measure("single random nodules", budget, [&] {
      store.read(static_cast<std::size_t>(rng() % store.size()));
      return std::size_t{1};
    });
    measure("read_all", budget, [&] { return store.read_all().size(); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_store: %s\n", e.what());
    ugs::storage::remove_tree(dir);
    return 1;
  }
  ugs::storage::remove_tree(dir);
  return 0;
}
