#include "ugs/storage/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

namespace ugs::storage {

namespace fs = std::filesystem;

namespace {

// fsync so that after a crash the renamed file has its content, not zero bytes.
void sync_to_disk(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw std::runtime_error(path.string() + ": cannot open to sync: " + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw std::runtime_error(path.string() + ": fsync failed: " + std::strerror(errno));
}

}  // namespace

void write_file_atomically(const fs::path& target,
                           const std::function<void(const fs::path& temporary)>& write) {
  fs::path directory = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  fs::path temporary =
      directory / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()));
  try {
    write(temporary);
    sync_to_disk(temporary, O_RDONLY);
    fs::rename(temporary, target);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
  sync_to_disk(directory, O_RDONLY | O_DIRECTORY);
}

void write_file_atomically(const fs::path& target, std::string_view content) {
  write_file_atomically(target, [&](const fs::path& temporary) {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (!out) throw std::runtime_error(target.string() + ": write failed: " + std::strerror(errno));
  });
}

}  // namespace ugs::storage
