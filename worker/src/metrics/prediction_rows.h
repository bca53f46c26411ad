// Matching a predictions file's rows to a store's nodules, shared by scoring and the analyses
// (internal).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "ugs/storage/predictions.h"
#include "ugs/storage/store.h"

namespace ugs::metrics::detail {

// Nodules read from the store at a time: bounds memory on large stores, one HDF5 read per batch.
inline constexpr std::size_t kReadBatch = 512;

// The first few ids quoted for an error message: "'a', 'b', 'c', ...".
std::string first_ids(const std::vector<std::string>& ids);

// The store index of every prediction row, in row order. Throws std::runtime_error naming
// `predictions_file` when the maps are not the size of the store's crops or when predicted ids are
// not in the store.
std::vector<std::size_t> store_indices(const storage::NoduleStore& store,
                                       const storage::Predictions& predictions,
                                       const std::filesystem::path& predictions_file);

}  // namespace ugs::metrics::detail
