// bench_synth: how fast synthetic nodules are made (storage/include/ugs/storage/synth.h): drawing the
// plans, rendering in memory on one thread and on all, and writing the whole store.
//   bench_synth [nodules=1860] [repeats=3]      prints the best of `repeats` runs of each
#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "ugs/storage/files.h"
#include "ugs/storage/synth.h"

namespace {

using Clock = std::chrono::steady_clock;

// Wall-clock and process CPU seconds of the fastest run. CPU time is the figure to trust on a busy
// machine; wall time shows what threads bring.
struct Timing {
  double wall = 1e300;
  double cpu = 0.0;
};

template <typename F>
Timing best_of(int repeats, F&& run) {
  Timing best;
  for (int i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    const std::clock_t cpu_start = std::clock();
    run();
    const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    if (wall < best.wall) best = {wall, cpu};
  }
  return best;
}

void print_row(const std::string& what, const Timing& t, double nodules, const std::string& extra = "") {
  std::printf("  %-36s %8.3f s wall %8.0f nodules/s   %8.3f s CPU %8.0f nodules/CPU-s%s\n", what.c_str(), t.wall,
              nodules / t.wall, t.cpu, nodules / t.cpu, extra.c_str());
}

void render_all(const ugs::storage::SynthGenerator& generator, int threads) {
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> pixels{0};  // keeps the optimiser from dropping the work
  auto work = [&] {
    for (std::size_t i = next++; i < generator.size(); i = next++) pixels += generator.nodule(i).image.size();
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
  if (pixels == 0) std::abort();
}

std::uintmax_t folder_bytes(const std::filesystem::path& dir) {
  std::uintmax_t bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) bytes += entry.file_size();
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  ugs::storage::SynthOptions options;
  options.nodule_count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1860;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const double n = static_cast<double>(options.nodule_count);
  try {
    std::printf("bench_synth: %zu nodules %dx%d, best of %d, %d hardware threads\n", options.nodule_count,
                options.height, options.width, repeats, cores);

    print_row("plans (SynthGenerator construction)", best_of(repeats, [&] { ugs::storage::SynthGenerator{options}; }), n);

    const ugs::storage::SynthGenerator generator(options);
    print_row("render in memory, 1 thread", best_of(repeats, [&] { render_all(generator, 1); }), n);
    print_row("render in memory, " + std::to_string(cores) + " threads",
              best_of(repeats, [&] { render_all(generator, cores); }), n);

    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("ugs-bench-synth-" + std::to_string(::getpid()));
    ugs::storage::SynthWriteOptions write;
    write.overwrite = true;
    const Timing store = best_of(repeats, [&] { ugs::storage::write_synthetic_store(generator, dir, write); });
    char size[64];
    std::snprintf(size, sizeof size, "   (%.1f MB on disk)", folder_bytes(dir) / 1e6);
    ugs::storage::remove_tree(dir);
    print_row("render + write store, " + std::to_string(cores) + " threads", store, n, size);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_synth: %s\n", e.what());
    return 1;
  }
  return 0;
}
