#include "ugs/storage/summary.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace ugs::storage {

namespace {

constexpr std::size_t kNodulesPerBatch = 256;  // bounds the pixels held in memory at once
constexpr double kDiameterBinEdges[] = {0, 3, 5, 10, 20, 30};

// Linear interpolation between the order statistics of sorted values (numpy's "linear" method).
template <typename T>
double quantile(const std::vector<T>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const std::size_t below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  const double low = sorted[below], high = sorted[above];
  return low + (position - static_cast<double>(below)) * (high - low);
}

}  // namespace

template <typename T>
ValueStats describe(std::vector<T> values) {
  ValueStats stats;
  stats.count = values.size();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (values.empty()) {
    stats.mean = stats.std = stats.min = stats.q1 = stats.median = stats.q3 = stats.max = nan;
    return stats;
  }
  std::sort(values.begin(), values.end());
  const double n = static_cast<double>(values.size());
  stats.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double squares = 0;
  for (double v : values) squares += (v - stats.mean) * (v - stats.mean);
  stats.std = std::sqrt(squares / n);
  stats.min = values.front();
  stats.max = values.back();
  stats.q1 = quantile(values, 0.25);
  stats.median = quantile(values, 0.5);
  stats.q3 = quantile(values, 0.75);
  return stats;
}

template ValueStats describe(std::vector<float> values);
template ValueStats describe(std::vector<double> values);

StoreSummary summarize(const NoduleStore& store) {
  StoreSummary summary;
  summary.attributes = store.attributes();
  summary.nodules = store.size();
  summary.shards = store.shard_count();

  std::map<std::string, std::size_t> nodules_of_patient;
  std::vector<double> diameters;
  for (const NoduleInfo& info : store.infos()) {
    ++summary.nodules_by_annotator_count[info.annotator_count];
    if (!info.kind.empty()) ++summary.nodules_by_kind[info.kind];
    ++nodules_of_patient[info.patient_id];
    diameters.push_back(info.diameter_mm);
  }
  summary.patients = nodules_of_patient.size();
  std::vector<double> per_patient;
  for (const auto& [patient, count] : nodules_of_patient) {
    ++summary.patients_by_nodule_count[count];
    per_patient.push_back(static_cast<double>(count));
  }
  summary.nodules_per_patient = describe(per_patient);

  const std::size_t bins = std::size(kDiameterBinEdges);
  for (std::size_t b = 0; b < bins; ++b) {
    const double upper = b + 1 < bins ? kDiameterBinEdges[b + 1] : std::numeric_limits<double>::infinity();
    summary.diameter_histogram.push_back({kDiameterBinEdges[b], upper, 0});
  }
  for (double d : diameters) {
    auto bin = std::find_if(summary.diameter_histogram.rbegin(), summary.diameter_histogram.rend(),
                            [d](const HistogramBin& b) { return d >= b.lower; });
    ++bin->count;
  }
  summary.diameter_mm = describe(std::move(diameters));

  std::vector<float> hc, lc, background;
  const std::size_t pixels = store.attributes().pixel_count();
  for (std::size_t begin = 0; begin < store.size(); begin += kNodulesPerBatch) {
    std::vector<std::size_t> batch(std::min(kNodulesPerBatch, store.size() - begin));
    std::iota(batch.begin(), batch.end(), begin);
    for (const Nodule& nodule : store.read(batch)) {
      double hc_sum = 0, lc_sum = 0;
      std::size_t hc_count = 0, lc_count = 0;
      for (std::size_t p = 0; p < pixels; ++p) {
        const float value = nodule.image[p];
        if (nodule.intersection_mask[p]) {
          hc.push_back(value);
          hc_sum += value;
          ++hc_count;
        } else if (nodule.union_mask[p]) {
          lc.push_back(value);
          lc_sum += value;
          ++lc_count;
        } else {
          background.push_back(value);
        }
      }
      if (hc_count > 0 && lc_count > 0) {
        ++summary.nodules_with_lc_and_hc;
        summary.nodules_lc_below_hc += lc_sum / lc_count < hc_sum / hc_count;
      }
    }
  }
  summary.hc = describe(std::move(hc));
  summary.lc = describe(std::move(lc));
  summary.background = describe(std::move(background));
  return summary;
}

}  // namespace ugs::storage
