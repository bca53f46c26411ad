// Internal: the process-wide lock around the HDF5 library, HDF5 errors as one-line messages, and the
// small HDF5 reads and writes that the nodule store and the predictions file share.
#pragma once

#include <H5Cpp.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

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

// Throws std::runtime_error("<file>: <what>"): the one-line form of every error about a file.
[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what);

// "<file>: <doing>: <HDF5's own description of the innermost error>", e.g.
// "out/s/shard-00000.h5: cannot open: truncated file: eof = 2048, ..., stored_eof = 40960".
std::runtime_error hdf5_error(const std::filesystem::path& file, const std::string& doing,
                              const H5::Exception& e);

// Everything below calls HDF5: call it with an Hdf5Lock held. `file` only names the file in messages.

// "[3,64,64]": how messages write a dataset's shape.
std::string shape_string(const std::vector<hsize_t>& shape);
std::vector<hsize_t> shape_of(const H5::DataSet& dataset);

// A scalar string attribute, variable- or fixed-length (as numpy/h5py write np.bytes_), without its
// padding. Fails ("attribute 'x' is missing" / "is not a string") naming `file`.
std::string read_string_attribute(const std::filesystem::path& file, const H5::H5Object& object,
                                  const char* name);
// A scalar integer attribute of any integer type. Fails ("is missing" / "is not an integer").
std::int64_t read_integer_attribute(const std::filesystem::path& file, const H5::H5Object& object,
                                    const char* name);
// A one-dimensional string dataset, variable-length (h5py's default) or fixed-length (numpy 'S'
// arrays), without padding; a null variable-length string reads as "". The caller checks the class.
std::vector<std::string> read_strings(const H5::DataSet& dataset);

// Variable-length UTF-8 strings: the type of every string this library writes.
H5::StrType utf8_string_type();
void write_string_attribute(H5::H5Object& object, const char* name, const std::string& value);
void write_int32_attribute(H5::H5Object& object, const char* name, int value);
// Creates /name of `file_type` and `shape` and writes `data`, laid out as `memory_type` says.
void write_dataset(H5::H5File& file, const char* name, const H5::DataType& file_type,
                   const H5::DataType& memory_type, const std::vector<hsize_t>& shape, const void* data);

}  // namespace ugs::storage::detail
