// Internal: the process-wide lock around the HDF5 library, and HDF5 errors as one-line messages.
#pragma once

#include <H5Cpp.h>

#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>

namespace ugs::storage::detail {

// Held around every HDF5 call of the process, including the destruction of H5:: objects (which closes
// HDF5 handles): HDF5 is not reentrant unless built thread-safe, and the GPU machines' build is not.
// Taking it also replaces HDF5's printing of its error stack on stderr, for the calling thread, by a
// recorder of the innermost error, which hdf5_error() puts into the exception's message.
class Hdf5Lock {
 public:
  Hdf5Lock();

 private:
  std::lock_guard<std::mutex> guard_;
};

// "<file>: <doing>: <HDF5's own description of the innermost error>", e.g.
// "out/s/shard-00000.h5: cannot open: truncated file: eof = 2048, ..., stored_eof = 40960".
std::runtime_error hdf5_error(const std::filesystem::path& file, const std::string& doing,
                              const H5::Exception& e);

}  // namespace ugs::storage::detail
