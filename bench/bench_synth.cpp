// bench_synth: how fast synthetic nodules are made (storage/include/ugs/storage/synth.h): drawing the
// plans, rendering in memory on one thread and on all, and writing the whole store.
//   bench_synth [nodules=1860] [repeats=3]      prints the best of `repeats` runs of each
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include <unistd.h>

#include "ugs/storage/synth.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double best_seconds(int repeats, F&& run) {
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return best;
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

    const double plan_s = best_seconds(repeats, [&] { ugs::storage::SynthGenerator{options}; });
    std::printf("  %-34s %9.4f s  %10.0f nodules/s\n", "plans (SynthGenerator construction)", plan_s, n / plan_s);

    const ugs::storage::SynthGenerator generator(options);
    const double one_s = best_seconds(repeats, [&] { render_all(generator, 1); });
    std::printf("  %-34s %9.3f s  %10.0f nodules/s\n", "render in memory, 1 thread", one_s, n / one_s);
    const double all_s = best_seconds(repeats, [&] { render_all(generator, cores); });
    std::printf("  %-34s %9.3f s  %10.0f nodules/s\n",
                ("render in memory, " + std::to_string(cores) + " threads").c_str(), all_s, n / all_s);

    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("ugs-bench-synth-" + std::to_string(::getpid()));
    ugs::storage::SynthWriteOptions write;
    write.overwrite = true;
    const double store_s = best_seconds(repeats, [&] { ugs::storage::write_synthetic_store(generator, dir, write); });
    const double megabytes = folder_bytes(dir) / 1e6;
    std::filesystem::remove_all(dir);
    std::printf("  %-34s %9.3f s  %10.0f nodules/s  (%.1f MB on disk)\n", "render + write store, all threads",
                store_s, n / store_s, megabytes);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_synth: %s\n", e.what());
    return 1;
  }
  return 0;
}
