// Internal: the names of the on-disk format (docs/data-format.md) and the checks of one nodule that
// the writer (on add) and the reader (on open and on every read) share.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ugs/storage/store.h"

namespace ugs::storage::detail {

inline constexpr const char* kIndexFileName = "index.json";

// Datasets of a shard, N nodules of H x W pixels.
inline constexpr const char* kImageDataset = "image";                    // float32 [N,H,W]
inline constexpr const char* kAnnotatorsDataset = "annotators";          // uint8 [N,4,H,W]
inline constexpr const char* kAnnotatorCountDataset = "annotator_count"; // uint8 [N]
inline constexpr const char* kUnionDataset = "union";                    // uint8 [N,H,W]
inline constexpr const char* kIntersectionDataset = "intersection";      // uint8 [N,H,W]
inline constexpr const char* kNoduleIdDataset = "nodule_id";             // string [N]
inline constexpr const char* kPatientIdDataset = "patient_id";           // string [N]
inline constexpr const char* kKindDataset = "kind";                      // string [N]
inline constexpr const char* kSpacingDataset = "spacing_mm";             // float64 [N,2]
inline constexpr const char* kDiameterDataset = "diameter_mm";           // float64 [N]

// Attributes of a shard's root group (and keys of index.json).
inline constexpr const char* kSchemaAttribute = "schema";
inline constexpr const char* kVersionAttribute = "version";
inline constexpr const char* kImageUnitAttribute = "image_unit";
inline constexpr const char* kReaderMasksAttribute = "reader_masks";
inline constexpr const char* kSourceAttribute = "source";

// "shard-00000.h5" for number 0.
std::string shard_file_name(int number);

std::optional<ImageUnit> parse_image_unit(std::string_view text);
std::optional<ReaderMasks> parse_reader_masks(std::string_view text);

// The first problem of the attributes themselves (non-positive size), or nothing.
std::optional<std::string> find_attributes_problem(const StoreAttributes& attributes);
// The first problem of a nodule's metadata (empty id, spacing, diameter, annotator count for the
// store's ReaderMasks), or nothing.
std::optional<std::string> find_info_problem(const NoduleInfo& info, const StoreAttributes& attributes);
// The first problem of a nodule's pixels: array sizes, non-finite image values, mask values other than
// 0/1, union/intersection inconsistent with the annotators (or intersection outside the union).
std::optional<std::string> find_pixel_problem(const Nodule& nodule, const StoreAttributes& attributes);

}  // namespace ugs::storage::detail
