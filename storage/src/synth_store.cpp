// Writing a whole synthetic set: nodules are rendered in parallel, a chunk at a time, and handed to
// the store writer in index order, so the store does not depend on the number of threads.
#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>
#include <vector>

#include "ugs/storage/store.h"
#include "ugs/storage/synth.h"

namespace ugs::storage {

void write_synthetic_store(const SynthGenerator& generator, const std::filesystem::path& dir,
                           const SynthWriteOptions& write_options) {
  int threads = write_options.threads > 0 ? write_options.threads
                                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  NoduleStoreWriter writer(dir, generator.attributes(), write_options.nodules_per_shard, write_options.overwrite);
  // Bounds memory (a chunk of 50x50 nodules is a few MB) while keeping every thread busy.
  const std::size_t chunk = std::max<std::size_t>(256, 16 * static_cast<std::size_t>(threads));
  std::vector<Nodule> rendered;
  for (std::size_t begin = 0; begin < generator.size(); begin += chunk) {
    const std::size_t end = std::min(generator.size(), begin + chunk);
    rendered.assign(end - begin, Nodule{});
    std::atomic<std::size_t> next{begin};
    std::vector<std::exception_ptr> errors(threads);
    auto work = [&](int t) {
      try {
        for (std::size_t i = next++; i < end; i = next++) rendered[i - begin] = generator.nodule(i);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (std::thread& thread : pool) thread.join();
    for (const std::exception_ptr& e : errors)
      if (e) std::rethrow_exception(e);
    for (Nodule& nodule : rendered) writer.add(std::move(nodule));
  }
  writer.finish();
}

}  // namespace ugs::storage
