#include "hdf5_support.h"

namespace ugs::storage::detail {

namespace {

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

// The description of the most recent failure on this thread; HDF5 clears its error stack at the next
// API call (closing a handle while unwinding is one), so it is copied out when the failure happens.
thread_local std::string innermost_error;

herr_t record_innermost(unsigned position, const H5E_error2_t* error, void*) {
  if (position == 0) innermost_error = error->desc != nullptr ? error->desc : "";
  return 0;
}

herr_t record_error_stack(hid_t stack, void*) {
  innermost_error.clear();
  H5Ewalk2(stack, H5E_WALK_UPWARD, record_innermost, nullptr);
  return 0;
}

}  // namespace

Hdf5Lock::Hdf5Lock() : guard_(hdf5_mutex()) {
  H5Eset_auto2(H5E_DEFAULT, record_error_stack, nullptr);
  innermost_error.clear();
}

std::runtime_error hdf5_error(const std::filesystem::path& file, const std::string& doing,
                              const H5::Exception& e) {
  const std::string& detail = innermost_error.empty() ? e.getDetailMsg() : innermost_error;
  return std::runtime_error(file.string() + ": " + doing + ": " + detail);
}

}  // namespace ugs::storage::detail
