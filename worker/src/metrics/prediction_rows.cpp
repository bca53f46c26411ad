#include "prediction_rows.h"

#include <stdexcept>

namespace ugs::metrics::detail {

namespace {

// Ids named in an error message before "...".
constexpr std::size_t kIdsInMessages = 3;

}  // namespace

std::string first_ids(const std::vector<std::string>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size() && i < kIdsInMessages; ++i) {
    out += (i ? ", '" : "'") + ids[i] + "'";
  }
  return out + (ids.size() > kIdsInMessages ? ", ..." : "");
}

std::vector<std::size_t> store_indices(const storage::NoduleStore& store,
                                       const storage::Predictions& p,
                                       const std::filesystem::path& predictions_file) {
  const storage::StoreAttributes& attributes = store.attributes();
  if (p.height != attributes.height || p.width != attributes.width) {
    throw std::runtime_error(predictions_file.string() + ": maps are " + std::to_string(p.height) +
                             "x" + std::to_string(p.width) + ", the crops of store " +
                             store.path().string() + " are " + std::to_string(attributes.height) +
                             "x" + std::to_string(attributes.width));
  }
  std::vector<std::size_t> indices;
  std::vector<std::string> unknown;
  for (const std::string& id : p.nodule_ids) {
    if (auto index = store.find(id)) {
      indices.push_back(*index);
    } else {
      unknown.push_back(id);
    }
  }
  if (!unknown.empty()) {
    throw std::runtime_error(predictions_file.string() + ": " + std::to_string(unknown.size()) +
                             " predicted nodule ids are not in store " + store.path().string() +
                             " (" + first_ids(unknown) + ")");
  }
  return indices;
}

}  // namespace ugs::metrics::detail
