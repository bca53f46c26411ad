// Import of the UGS-Net authors' preprocessing layout (qiuliwang/LIDC-IDRI-Toolbox-python) into a
// nodule store. The layout is a flat folder with four 8-bit grayscale PNGs per nodule:
//   <id>.png               the CT crop through the nodule's centre, after an 8-bit display window
//   <id>_union.png         union of the radiologists' masks, 0/255
//   <id>_intersection.png  intersection of the masks, 0/255
//   <id>_dif.png           union minus intersection, 0/255 (checked, not stored: it is derived)
// with <id> = <patient>_<nodule>_<series>, e.g. LIDC-IDRI-0002_1_3000522 (patient LIDC-IDRI-0002).
// The per-reader masks are not in the layout, so the store has ReaderMasks::kUnionIntersectionOnly and
// ImageUnit::kWindow8. The layout keeps no pixel spacing either: `spacing_mm` (default 1, meaning
// diameters in pixels) is assumed for every nodule and recorded in the store's `source`.
//
//   UgsnetPngImport summary = import_ugsnet_png("data/ugsnet-png", "out/lidc-png", {});
//
// Data: LIDC-IDRI, Armato III et al., Med. Phys. 38(2), 2011; The Cancer Imaging Archive, CC BY 3.0.
// Errors: std::runtime_error with one line naming the offending file: a companion PNG missing or
// without its image, sizes that differ, mask values other than 0/255, an empty union, an intersection
// outside the union, a difference mask that is not union AND NOT intersection, an id without a patient
// prefix. Nothing is written unless every nodule is valid (the store writer's atomicity).
#pragma once

#include <cstddef>
#include <filesystem>

namespace ugs::storage {

struct UgsnetPngImportOptions {
  double spacing_mm = 1.0;  // assumed pixel spacing (row and column); 1 = diameters in pixels
  bool overwrite = false;   // replace an existing store at the output folder
};

struct UgsnetPngImport {
  std::size_t nodules = 0;
  std::size_t patients = 0;
  int height = 0;
  int width = 0;
};

UgsnetPngImport import_ugsnet_png(const std::filesystem::path& input_dir,
                                  const std::filesystem::path& store_dir,
                                  const UgsnetPngImportOptions& options);

}  // namespace ugs::storage
