// `ugs inspect STORE`: what a nodule store holds, as a table or JSON; reads (so validates) every nodule.
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "ugs/storage/store.h"
#include "ugs/storage/summary.h"

namespace ugs::cli {

namespace {

using nlohmann::json;

json to_json(const storage::ValueStats& s) {
  return {{"count", s.count}, {"mean", s.mean}, {"std", s.std},       {"min", s.min},
          {"q1", s.q1},       {"median", s.median}, {"q3", s.q3}, {"max", s.max}};
}

template <typename Map>
json counts_to_json(const Map& counts) {
  json object = json::object();
  for (const auto& [key, count] : counts) {
    if constexpr (std::is_same_v<typename Map::key_type, std::string>) {
      object[key] = count;
    } else {
      object[std::to_string(key)] = count;
    }
  }
  return object;
}

json to_json(const std::string& path, const storage::StoreSummary& s) {
  json histogram = json::array();
  for (const storage::HistogramBin& bin : s.diameter_histogram) {
    histogram.push_back({{"lower_mm", bin.lower},
                         {"upper_mm", std::isinf(bin.upper) ? json(nullptr) : json(bin.upper)},
                         {"nodules", bin.count}});
  }
  return {
      {"path", path},
      {"attributes",
       {{"height", s.attributes.height},
        {"width", s.attributes.width},
        {"image_unit", storage::to_string(s.attributes.image_unit)},
        {"reader_masks", storage::to_string(s.attributes.reader_masks)},
        {"source", s.attributes.source}}},
      {"nodules", s.nodules},
      {"patients", s.patients},
      {"shards", s.shards},
      {"nodules_by_annotator_count", counts_to_json(s.nodules_by_annotator_count)},
      {"nodules_by_kind", counts_to_json(s.nodules_by_kind)},
      {"patients_by_nodule_count", counts_to_json(s.patients_by_nodule_count)},
      {"nodules_per_patient", to_json(s.nodules_per_patient)},
      {"diameter_mm", to_json(s.diameter_mm)},
      {"diameter_histogram", histogram},
      {"image_values",
       {{"unit", storage::to_string(s.attributes.image_unit)},
        {"hc_intersection", to_json(s.hc)},
        {"lc_union_minus_intersection", to_json(s.lc)},
        {"background", to_json(s.background)}}},
      {"nodules_with_lc_and_hc", s.nodules_with_lc_and_hc},
      {"nodules_lc_mean_below_hc_mean", s.nodules_lc_below_hc},
  };
}

void print_region(const char* name, const storage::ValueStats& s) {
  std::printf("  %-31s %9zu %8.1f %7.1f %8.1f %8.1f %8.1f\n", name, s.count, s.mean, s.std, s.q1, s.median, s.q3);
}

void print_table(const std::string& path, const storage::StoreSummary& s) {
  std::printf("store       %s\n", path.c_str());
  std::printf("source      %s\n", s.attributes.source.c_str());
  std::printf("format      %s v%d, %dx%d pixels, image unit %s, masks %s\n", storage::kSchemaName,
              storage::kSchemaVersion, s.attributes.height, s.attributes.width,
              storage::to_string(s.attributes.image_unit), storage::to_string(s.attributes.reader_masks));
  std::printf("nodules     %zu of %zu patients, in %d shard%s\n\n", s.nodules, s.patients, s.shards,
              s.shards == 1 ? "" : "s");

  std::printf("annotators per nodule\n");
  for (const auto& [annotators, nodules] : s.nodules_by_annotator_count) {
    std::printf("  %d%-10s %6zu nodules\n", annotators, annotators == 0 ? " (u+i)" : "", nodules);
  }
  if (!s.nodules_by_kind.empty()) {
    std::printf("kinds\n");
    for (const auto& [kind, nodules] : s.nodules_by_kind) std::printf("  %-12s %5zu nodules\n", kind.c_str(), nodules);
  }
  std::printf("nodules per patient (median %.1f, max %.0f)\n", s.nodules_per_patient.median, s.nodules_per_patient.max);
  for (const auto& [nodules, patients] : s.patients_by_nodule_count) {
    std::printf("  %-11zu %6zu patients\n", nodules, patients);
  }
  std::printf("diameter (mm): min %.1f, median %.1f, max %.1f\n", s.diameter_mm.min, s.diameter_mm.median,
              s.diameter_mm.max);
  for (const storage::HistogramBin& bin : s.diameter_histogram) {
    char range[32];
    if (std::isinf(bin.upper)) {
      std::snprintf(range, sizeof range, ">= %g", bin.lower);
    } else {
      std::snprintf(range, sizeof range, "[%g, %g)", bin.lower, bin.upper);
    }
    std::printf("  %-11s %6zu nodules\n", range, bin.count);
  }
  std::printf("\nimage values (%s)                   pixels     mean     std       q1   median       q3\n",
              storage::to_string(s.attributes.image_unit));
  print_region("HC: intersection", s.hc);
  print_region("LC: union minus intersection", s.lc);
  print_region("background: outside the union", s.background);
  std::printf("LC mean below HC mean in %zu of %zu nodules that have both regions\n", s.nodules_lc_below_hc,
              s.nodules_with_lc_and_hc);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  struct Options {
    std::string store;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = add_command(
      app, "inspect", "Describe a nodule store and validate all of its content",
      "Prints the store's attributes; counts of nodules, patients and shards; nodules by number of\n"
      "annotators and by kind (when the source names kinds); nodules per patient; nodule diameters\n"
      "(min/median/max and a histogram); and the image values (HU or 8-bit window, as the store says)\n"
      "of three regions over all nodules: HC = the intersection of the readers' masks, LC = union minus\n"
      "intersection, background = outside the union (count, mean, population std, quartiles). The paper\n"
      "(Fig. 1B) rests on LC being less dense than HC; the last line counts the nodules where it holds.\n"
      "Every nodule is read, so every pixel is validated: a malformed store fails with the file named.\n"
      "Format of the store: docs/data-format.md.");
  command->add_option("STORE", options->store, "Folder of the nodule store")->required();
  command->add_flag("--json", options->json, "Print the same numbers as one JSON object (NaN as null)");
  command->callback([options] {
    const storage::StoreSummary summary = storage::summarize(storage::NoduleStore::open(options->store));
    if (options->json) {
      std::printf("%s\n", to_json(options->store, summary).dump(2).c_str());
    } else {
      print_table(options->store, summary);
    }
  });
}

}  // namespace ugs::cli
