// What a nodule store holds, as numbers: counts, annotators, kinds, diameters, and the image values of
// the high-confidence region (HC, the intersection), the low-confidence region (LC, union minus
// intersection) and the background. The paper's premise (Fig. 1B) is that LC is less dense than HC;
// summarize() gives the numbers to check it on any store. Used by `ugs inspect`.
//
//   StoreSummary s = summarize(NoduleStore::open("out/lidc"));
//   std::printf("HC median %.0f, LC median %.0f\n", s.hc.median, s.lc.median);
//
// summarize() reads every nodule, in batches, keeping each pixel value once (4 bytes a pixel: 26 MB for
// LIDC-IDRI's 2,614 nodules of 50x50) for exact quantiles. Reading every nodule validates the whole store's pixel content: a bad nodule throws like NoduleStore::read.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "ugs/storage/store.h"

namespace ugs::storage {

// Distribution of a set of values. Quantiles interpolate linearly between order statistics (numpy's
// default); std is the population standard deviation. All NaN when count is 0.
struct ValueStats {
  std::size_t count = 0;
  double mean, std, min, q1, median, q3, max;
};

// For T = float (image values, stored as float32) and double.
template <typename T>
ValueStats describe(std::vector<T> values);

struct HistogramBin {
  double lower;  // inclusive
  double upper;  // exclusive; infinity for the last bin
  std::size_t count;
};

struct StoreSummary {
  StoreAttributes attributes;
  std::size_t nodules = 0;
  std::size_t patients = 0;
  int shards = 0;
  std::map<int, std::size_t> nodules_by_annotator_count;  // annotators -> nodules
  std::map<std::string, std::size_t> nodules_by_kind;     // only kinds that are named
  std::map<std::size_t, std::size_t> patients_by_nodule_count;  // nodules -> patients with that many
  ValueStats nodules_per_patient;
  ValueStats diameter_mm;
  std::vector<HistogramBin> diameter_histogram;  // bins [0,3) [3,5) [5,10) [10,20) [20,30) [30,inf) mm
  // Image values (in attributes.image_unit) of every pixel of every nodule, by region.
  ValueStats hc;          // intersection
  ValueStats lc;          // union AND NOT intersection
  ValueStats background;  // NOT union
  // Per nodule: of those with both an LC and an HC pixel, how many have a lower mean value in LC.
  std::size_t nodules_with_lc_and_hc = 0;
  std::size_t nodules_lc_below_hc = 0;
};

StoreSummary summarize(const NoduleStore& store);

}  // namespace ugs::storage
