// Test data for the training-job tests: nodules whose content makes mistakes visible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/test_support.h"
#include "ugs/storage/store.h"

namespace ugs::worker::testing {

using storage::testing::TemporaryFolder;

// A valid nodule whose masks are random pixels (no symmetry, so that every flip or rotation changes
// them) and whose image is -1000 HU outside the union and 800 HU inside it: windowed with the
// default [-1000, 800] window it is exactly the union.
inline storage::Nodule patterned_nodule(const storage::StoreAttributes& attributes, int index, int readers,
                                        unsigned seed) {
  std::mt19937 rng(seed);
  const std::size_t pixels = attributes.pixel_count();
  storage::Nodule nodule;
  nodule.info.nodule_id = "n" + std::to_string(index);
  nodule.info.patient_id = "p" + std::to_string(index / 3);
  nodule.info.annotator_count = readers;
  const int planes = readers == 0 ? 2 : readers;
  std::vector<std::uint8_t> masks(planes * pixels);
  for (auto& m : masks) m = static_cast<std::uint8_t>(rng() % 3 != 0);  // mostly foreground: I is not empty
  nodule.union_mask.assign(pixels, 0);
  nodule.intersection_mask.assign(pixels, 1);
  for (int j = 0; j < planes; ++j) {
    for (std::size_t p = 0; p < pixels; ++p) {
      nodule.union_mask[p] |= masks[j * pixels + p];
      nodule.intersection_mask[p] &= masks[j * pixels + p];
    }
  }
  if (readers > 0) nodule.annotators = std::move(masks);
  nodule.image.resize(pixels);
  for (std::size_t p = 0; p < pixels; ++p) nodule.image[p] = nodule.union_mask[p] ? 800.0f : -1000.0f;
  return nodule;
}

// `count` patterned nodules with 1..4 readers in turn (0 for union-intersection-only attributes).
inline std::vector<storage::Nodule> patterned_nodules(const storage::StoreAttributes& attributes, int count) {
  std::vector<storage::Nodule> nodules;
  for (int i = 0; i < count; ++i) {
    const int readers = attributes.reader_masks == storage::ReaderMasks::kPerReader ? 1 + i % 4 : 0;
    nodules.push_back(patterned_nodule(attributes, i, readers, 1000u + static_cast<unsigned>(i)));
  }
  return nodules;
}

inline storage::StoreAttributes square_attributes(int size, storage::ReaderMasks masks = storage::ReaderMasks::kPerReader) {
  storage::StoreAttributes attributes;
  attributes.height = attributes.width = size;
  attributes.reader_masks = masks;
  attributes.source = "ugs worker tests";
  return attributes;
}

}  // namespace ugs::worker::testing
