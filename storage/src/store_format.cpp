#include "store_format.h"

#include <cmath>
#include <cstdio>
#include <cstdint>

namespace ugs::storage {

const char* to_string(ImageUnit unit) {
  switch (unit) {
    case ImageUnit::kHounsfield: return "HU";
    case ImageUnit::kWindow8: return "window8";
  }
  return "?";
}

const char* to_string(ReaderMasks masks) {
  switch (masks) {
    case ReaderMasks::kPerReader: return "per-reader";
    case ReaderMasks::kUnionIntersectionOnly: return "union-intersection-only";
  }
  return "?";
}

namespace detail {

namespace {

std::string pixel_position(std::size_t pixel, int width) {
  return "(row " + std::to_string(pixel / width) + ", column " + std::to_string(pixel % width) + ")";
}

std::optional<std::string> find_non_binary(const std::uint8_t* mask, std::size_t pixels, int width,
                                           const std::string& name) {
  for (std::size_t p = 0; p < pixels; ++p) {
    if (mask[p] > 1) {
      return name + " is " + std::to_string(mask[p]) + " at " + pixel_position(p, width) +
             ", expected 0 or 1";
    }
  }
  return std::nullopt;
}

}  // namespace

std::string shard_file_name(int number) {
  char name[32];
  std::snprintf(name, sizeof name, "shard-%05d.h5", number);
  return name;
}

std::optional<ImageUnit> parse_image_unit(std::string_view text) {
  for (ImageUnit unit : {ImageUnit::kHounsfield, ImageUnit::kWindow8}) {
    if (text == to_string(unit)) return unit;
  }
  return std::nullopt;
}

std::optional<ReaderMasks> parse_reader_masks(std::string_view text) {
  for (ReaderMasks masks : {ReaderMasks::kPerReader, ReaderMasks::kUnionIntersectionOnly}) {
    if (text == to_string(masks)) return masks;
  }
  return std::nullopt;
}

std::optional<std::string> find_attributes_problem(const StoreAttributes& attributes) {
  if (attributes.height <= 0 || attributes.width <= 0) {
    return "image size " + std::to_string(attributes.height) + "x" + std::to_string(attributes.width) +
           " is not positive";
  }
  return std::nullopt;
}

std::optional<std::string> find_info_problem(const NoduleInfo& info, const StoreAttributes& attributes) {
  if (info.nodule_id.empty()) return std::string("empty nodule id");
  const std::string nodule = "nodule '" + info.nodule_id + "': ";
  if (info.patient_id.empty()) return nodule + "empty patient id";
  for (double spacing : info.spacing_mm) {
    if (!std::isfinite(spacing) || spacing <= 0) {
      return nodule + "spacing_mm " + std::to_string(spacing) + " is not a finite positive number";
    }
  }
  if (!std::isfinite(info.diameter_mm) || info.diameter_mm < 0) {
    return nodule + "diameter_mm " + std::to_string(info.diameter_mm) +
           " is not a finite non-negative number";
  }
  if (attributes.reader_masks == ReaderMasks::kPerReader) {
    if (info.annotator_count < 1 || info.annotator_count > kMaxAnnotators) {
      return nodule + "annotator_count " + std::to_string(info.annotator_count) + ", expected 1.." +
             std::to_string(kMaxAnnotators) + " in a per-reader store";
    }
  } else if (info.annotator_count != 0) {
    return nodule + "annotator_count " + std::to_string(info.annotator_count) +
           ", expected 0 in a union-intersection-only store";
  }
  return std::nullopt;
}

std::optional<std::string> find_pixel_problem(const Nodule& nodule, const StoreAttributes& attributes) {
  const std::string name = "nodule '" + nodule.info.nodule_id + "': ";
  const std::size_t pixels = attributes.pixel_count();
  const int width = attributes.width;
  const int readers = nodule.info.annotator_count;
  auto wrong_size = [&](const char* what, std::size_t size, std::size_t expected) {
    return name + what + " has " + std::to_string(size) + " values, expected " + std::to_string(expected);
  };
  if (nodule.image.size() != pixels) return wrong_size("image", nodule.image.size(), pixels);
  if (nodule.annotators.size() != readers * pixels) {
    return wrong_size("annotators", nodule.annotators.size(), readers * pixels);
  }
  if (nodule.union_mask.size() != pixels) return wrong_size("union", nodule.union_mask.size(), pixels);
  if (nodule.intersection_mask.size() != pixels) {
    return wrong_size("intersection", nodule.intersection_mask.size(), pixels);
  }
  for (std::size_t p = 0; p < pixels; ++p) {
    if (!std::isfinite(nodule.image[p])) {
      return name + "image is " + std::to_string(nodule.image[p]) + " at " + pixel_position(p, width);
    }
  }
  for (int j = 0; j < readers; ++j) {
    auto problem = find_non_binary(nodule.annotators.data() + j * pixels, pixels, width,
                                   "annotator " + std::to_string(j));
    if (problem) return name + *problem;
  }
  if (auto problem = find_non_binary(nodule.union_mask.data(), pixels, width, "union")) {
    return name + *problem;
  }
  if (auto problem = find_non_binary(nodule.intersection_mask.data(), pixels, width, "intersection")) {
    return name + *problem;
  }
  for (std::size_t p = 0; p < pixels; ++p) {
    const int in_union = nodule.union_mask[p];
    const int in_intersection = nodule.intersection_mask[p];
    if (readers == 0) {
      if (in_intersection > in_union) {
        return name + "intersection is 1 outside the union at " + pixel_position(p, width);
      }
      continue;
    }
    int any = 0, all = 1;
    for (int j = 0; j < readers; ++j) {
      any |= nodule.annotators[j * pixels + p];
      all &= nodule.annotators[j * pixels + p];
    }
    if (in_union != any) {
      return name + "union is " + std::to_string(in_union) + " at " + pixel_position(p, width) +
             " where the OR of the annotators is " + std::to_string(any);
    }
    if (in_intersection != all) {
      return name + "intersection is " + std::to_string(in_intersection) + " at " +
             pixel_position(p, width) + " where the AND of the annotators is " + std::to_string(all);
    }
  }
  return std::nullopt;
}

}  // namespace detail
}  // namespace ugs::storage
