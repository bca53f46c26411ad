#include "ugs/storage/import_ugsnet_png.h"

#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <string>

#include "store_format.h"
#include "ugs/storage/png_io.h"
#include "ugs/storage/store.h"

namespace ugs::storage {

namespace fs = std::filesystem;

namespace {

// The companion masks of a nodule image, by file-name suffix.
constexpr const char* kUnionSuffix = "_union";
constexpr const char* kIntersectionSuffix = "_intersection";
constexpr const char* kDifferenceSuffix = "_dif";
constexpr double kPi = 3.14159265358979323846;

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() > suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The ids of the nodules in `dir`: every <id>.png, each checked to have its three companions, and
// every companion checked to have its image.
std::vector<std::string> nodule_ids(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw std::runtime_error(dir.string() + ": not a folder");
  std::set<std::string> images;
  std::vector<std::pair<std::string, fs::path>> companions;  // (id, file)
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".png") continue;
    const std::string stem = entry.path().stem().string();
    bool is_companion = false;
    for (const char* suffix : {kUnionSuffix, kIntersectionSuffix, kDifferenceSuffix}) {
      if (ends_with(stem, suffix)) {
        companions.emplace_back(stem.substr(0, stem.size() - std::string(suffix).size()), entry.path());
        is_companion = true;
      }
    }
    if (!is_companion) images.insert(stem);
  }
  if (images.empty()) {
    throw std::runtime_error(dir.string() + ": no nodule images (<id>.png with <id>_union.png, "
                             "<id>_intersection.png, <id>_dif.png) found");
  }
  for (const auto& [id, file] : companions) {
    if (!images.count(id)) throw std::runtime_error(file.string() + ": no image " + id + ".png beside it");
  }
  for (const std::string& id : images) {
    for (const char* suffix : {kUnionSuffix, kIntersectionSuffix, kDifferenceSuffix}) {
      const fs::path companion = dir / (id + suffix + ".png");
      if (!fs::exists(companion)) {
        throw std::runtime_error(companion.string() + ": missing (the mask of " + id + ".png)");
      }
    }
  }
  return {images.begin(), images.end()};
}

// A grayscale PNG that must have the size of the other images.
GrayImage read_png_of_size(const fs::path& file, int height, int width) {
  GrayImage png = read_png_gray8(file);
  if (png.height != height || png.width != width) {
    throw std::runtime_error(file.string() + ": " + std::to_string(png.height) + "x" + std::to_string(png.width) +
                             ", expected " + std::to_string(height) + "x" + std::to_string(width) +
                             " like the other images");
  }
  return png;
}

// A 0/255 mask as 0/1.
std::vector<std::uint8_t> read_mask(const fs::path& file, int height, int width) {
  GrayImage png = read_png_of_size(file, height, width);
  for (std::size_t p = 0; p < png.pixels.size(); ++p) {
    if (png.pixels[p] != 0 && png.pixels[p] != 255) {
      throw std::runtime_error(file.string() + ": value " + std::to_string(png.pixels[p]) + " at " +
                               detail::pixel_position(p, width) + ", expected 0 or 255");
    }
    png.pixels[p] = png.pixels[p] == 255;
  }
  return std::move(png.pixels);
}

Nodule read_nodule(const fs::path& dir, const std::string& id, double spacing_mm, int height, int width) {
  const fs::path image_file = dir / (id + ".png");
  const fs::path union_file = dir / (id + kUnionSuffix + ".png");
  const fs::path intersection_file = dir / (id + kIntersectionSuffix + ".png");
  const fs::path difference_file = dir / (id + kDifferenceSuffix + ".png");
  const std::size_t separator = id.find('_');
  if (separator == std::string::npos || separator == 0) {
    throw std::runtime_error(image_file.string() + ": cannot take a patient id from '" + id +
                             "' (expected <patient>_<nodule>_<series>)");
  }
  Nodule nodule;
  nodule.info.nodule_id = id;
  nodule.info.patient_id = id.substr(0, separator);
  nodule.info.spacing_mm = {spacing_mm, spacing_mm};
  nodule.info.annotator_count = 0;

  const GrayImage image = read_png_of_size(image_file, height, width);
  nodule.image.assign(image.pixels.begin(), image.pixels.end());
  nodule.union_mask = read_mask(union_file, height, width);
  nodule.intersection_mask = read_mask(intersection_file, height, width);
  const std::vector<std::uint8_t> difference = read_mask(difference_file, height, width);

  std::size_t area = 0;
  for (std::size_t p = 0; p < nodule.union_mask.size(); ++p) {
    const int in_union = nodule.union_mask[p], in_intersection = nodule.intersection_mask[p];
    if (in_intersection && !in_union) {
      throw std::runtime_error(intersection_file.string() + ": 255 at " + detail::pixel_position(p, width) +
                               ", outside the union (" + union_file.filename().string() + ")");
    }
    if (difference[p] != (in_union && !in_intersection)) {
      throw std::runtime_error(difference_file.string() + ": " + (difference[p] ? "255" : "0") + " at " +
                               detail::pixel_position(p, width) + " where union AND NOT intersection is " +
                               (difference[p] ? "0" : "255"));
    }
    area += in_union;
  }
  if (area == 0) throw std::runtime_error(union_file.string() + ": empty union mask (no nodule)");
  // Equivalent diameter: that of the disk with the union's area.
  nodule.info.diameter_mm = 2.0 * std::sqrt(static_cast<double>(area) / kPi) * spacing_mm;
  return nodule;
}

std::string describe_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

}  // namespace

UgsnetPngImport import_ugsnet_png(const fs::path& input_dir, const fs::path& store_dir,
                                  const UgsnetPngImportOptions& options) {
  if (!std::isfinite(options.spacing_mm) || options.spacing_mm <= 0) {
    throw std::runtime_error("spacing " + std::to_string(options.spacing_mm) + " mm is not a positive number");
  }
  const std::vector<std::string> ids = nodule_ids(input_dir);
  const GrayImage first = read_png_gray8(input_dir / (ids.front() + ".png"));

  StoreAttributes attributes;
  attributes.height = first.height;
  attributes.width = first.width;
  attributes.image_unit = ImageUnit::kWindow8;
  attributes.reader_masks = ReaderMasks::kUnionIntersectionOnly;
  attributes.source =
      "UGS-Net authors' PNG layout (qiuliwang/LIDC-IDRI-Toolbox-python) imported from " +
      fs::absolute(input_dir).lexically_normal().string() + "; spacing_mm=" + describe_number(options.spacing_mm) +
      (options.spacing_mm == 1.0 ? " assumed (pixel units: the layout keeps no spacing)" : " assumed") +
      "; LIDC-IDRI, Armato III et al., Med. Phys. 38(2), 2011, TCIA, CC BY 3.0";

  NoduleStoreWriter writer(store_dir, attributes, 512, options.overwrite);
  std::set<std::string> patients;
  for (const std::string& id : ids) {
    Nodule nodule = read_nodule(input_dir, id, options.spacing_mm, first.height, first.width);
    patients.insert(nodule.info.patient_id);
    writer.add(std::move(nodule));
  }
  writer.finish();
  return {ids.size(), patients.size(), first.height, first.width};
}

}  // namespace ugs::storage
