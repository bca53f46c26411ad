// Helpers of the analysis tests: the header of a PNG that gnuplot drew; perfect predictions.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ugs/storage/predictions.h"
#include "ugs/storage/store.h"

namespace ugs::testing {

struct PngSize {
  bool valid = false;  // the PNG signature followed by an IHDR chunk
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

inline PngSize png_size(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  static const std::array<unsigned char, 8> kSignature = {0x89, 'P',  'N',  'G',
                                                          '\r', '\n', 0x1a, '\n'};
  PngSize size;
  if (bytes.size() < 24 || !std::equal(kSignature.begin(), kSignature.end(), bytes.begin()) ||
      std::string(bytes.begin() + 12, bytes.begin() + 16) != "IHDR") {
    return size;
  }
  auto big_endian = [&](std::size_t at) {
    return std::uint32_t(bytes[at]) << 24 | std::uint32_t(bytes[at + 1]) << 16 |
           std::uint32_t(bytes[at + 2]) << 8 | std::uint32_t(bytes[at + 3]);
  };
  size.valid = true;
  size.width = big_endian(16);
  size.height = big_endian(20);
  return size;
}

// Predictions of the store's nodules at `indices` whose uncertainty heads are exactly right:
// U' = union, I' = intersection (and X_S = union).
inline storage::Predictions perfect_predictions(const storage::NoduleStore& store,
                                                const std::vector<std::size_t>& indices) {
  storage::Predictions p;
  p.height = store.attributes().height;
  p.width = store.attributes().width;
  p.union_map.emplace();
  p.intersection_map.emplace();
  for (const storage::Nodule& n : store.read(indices)) {
    p.nodule_ids.push_back(n.info.nodule_id);
    p.segmentation.insert(p.segmentation.end(), n.union_mask.begin(), n.union_mask.end());
    p.union_map->insert(p.union_map->end(), n.union_mask.begin(), n.union_mask.end());
    p.intersection_map->insert(p.intersection_map->end(), n.intersection_mask.begin(),
                               n.intersection_mask.end());
  }
  return p;
}

}  // namespace ugs::testing
