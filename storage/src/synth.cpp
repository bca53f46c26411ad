// Synthetic nodules: options, the per-nodule plans (patients, kinds, sizes, readers) and the
// generator. Rendering is in synth_render.cpp, writing a store in synth_store.cpp.
#include "ugs/storage/synth.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "synth_math.h"
#include "synth_render.h"

namespace ugs::storage {
namespace {

// Bumped whenever a change makes a seed give different nodules; it is part of the store's source.
constexpr int kGeneratorVersion = 1;

constexpr std::array<const char*, kNoduleKindCount> kKindNames = {
    "solid", "part-solid", "ground-glass", "spiculated", "cavitary", "juxta-pleural"};

// How readily a kind is made hard, relative. Low-density (ground-glass, part-solid) nodules are the
// paper's hardest (Sec. IV-E, Fig. 10); then pleural contact, cavities and spicules; a solid nodule
// only when tiny or touching a vessel.
constexpr std::array<double, kNoduleKindCount> kHardAffinity = {0.5, 3.0, 4.0, 2.0, 2.0, 2.5};

// Below these diameters a kind's feature (core in a halo, spicules, cavity) has no room to show.
constexpr std::array<double, kNoduleKindCount> kKindMinDiameterMm = {0.0, 6.0, 0.0, 6.0, 8.0, 0.0};

// Diameters are log-normal around this median (mm), truncated to the allowed range: most nodules
// are a few millimetres, a long tail reaches 30 mm (docs/synthetic-data.md).
constexpr double kMedianDiameterMm = 6.5;
constexpr double kLogDiameterSd = 0.55;
// A nodule's diameter is kept within this fraction of the crop, so its outline is never cut.
constexpr double kMaxDiameterOfCrop = 0.8;

template <std::size_t N>
int pick(synth::Rng& rng, const std::array<double, N>& weights) {
  double total = 0.0;
  for (double w : weights) total += w;
  const double u = rng.uniform() * total;
  double cumulative = 0.0;
  for (std::size_t i = 0; i < N; ++i) {
    cumulative += weights[i];
    if (u < cumulative && weights[i] > 0.0) return static_cast<int>(i);
  }
  for (std::size_t i = N; i-- > 0;)
    if (weights[i] > 0.0) return static_cast<int>(i);
  return 0;
}

// P(hard | kind) = min(1, lambda * affinity), lambda chosen so that the overall fraction is `hard`.
std::array<double, kNoduleKindCount> hard_probabilities(const SynthOptions& options) {
  double total = 0.0;
  for (double w : options.kind_weights) total += w;
  auto overall = [&](double lambda) {
    double sum = 0.0;
    for (int k = 0; k < kNoduleKindCount; ++k)
      sum += options.kind_weights[k] / total * std::min(1.0, lambda * kHardAffinity[k]);
    return sum;
  };
  double lo = 0.0, hi = 1.0 / *std::min_element(kHardAffinity.begin(), kHardAffinity.end());  // all 1 at hi
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (overall(mid) < options.hard_fraction ? lo : hi) = mid;
  }
  std::array<double, kNoduleKindCount> p{};
  for (int k = 0; k < kNoduleKindCount; ++k) p[k] = std::min(1.0, hi * kHardAffinity[k]);
  if (options.hard_fraction <= 0.0) p.fill(0.0);
  return p;
}

double draw_diameter(synth::Rng& rng, NoduleKind kind, bool hard, double spacing_mm, const SynthOptions& options) {
  const double hi = std::min(options.max_diameter_mm,
                             kMaxDiameterOfCrop * std::min(options.height, options.width) * spacing_mm);
  const double lo = std::min(hi, std::max(options.min_diameter_mm, kKindMinDiameterMm[static_cast<int>(kind)]));
  if (hard && kind == NoduleKind::kSolid && rng.chance(0.5)) return rng.uniform(lo, std::min(hi, lo + 1.5));
  for (int attempt = 0; attempt < 100; ++attempt) {
    const double d = kMedianDiameterMm * synth::exp_portable(kLogDiameterSd * rng.normal());
    if (d >= lo && d <= hi) return d;
  }
  return rng.uniform(lo, hi);
}

template <std::size_t N>
void check_weights(const std::array<double, N>& weights, const char* name) {
  double total = 0.0;
  for (double w : weights) {
    if (!std::isfinite(w) || w < 0.0)
      throw std::invalid_argument(std::string("synth: ") + name + " has a negative or non-finite weight");
    total += w;
  }
  if (total <= 0.0) throw std::invalid_argument(std::string("synth: ") + name + " weights are all zero");
}

// "key:weight,key:weight" -> weights[index_of(key)]; `what` names the option in messages.
template <std::size_t N, typename IndexOf>
std::array<double, N> parse_weights(const std::string& text, const char* what, IndexOf index_of) {
  std::array<double, N> weights{};
  std::array<bool, N> seen{};
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    const std::size_t colon = item.find(':');
    if (colon == std::string::npos)
      throw std::invalid_argument(std::string(what) + ": '" + item + "' is not KEY:WEIGHT (in '" + text + "')");
    const std::string key = item.substr(0, colon);
    const std::string value = item.substr(colon + 1);
    const std::size_t index = index_of(key);
    if (seen[index]) throw std::invalid_argument(std::string(what) + ": '" + key + "' is given twice");
    seen[index] = true;
    char* end = nullptr;
    const double w = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !std::isfinite(w) || w < 0.0)
      throw std::invalid_argument(std::string(what) + ": weight '" + value + "' of '" + key +
                                  "' is not a non-negative number");
    weights[index] = w;
    start = comma + 1;
  }
  check_weights(weights, what);
  return weights;
}

}  // namespace

const char* nodule_kind_name(NoduleKind kind) { return kKindNames.at(static_cast<std::size_t>(kind)); }

NoduleKind nodule_kind_from_name(const std::string& name) {
  for (int k = 0; k < kNoduleKindCount; ++k)
    if (name == kKindNames[k]) return static_cast<NoduleKind>(k);
  throw std::invalid_argument("unknown nodule kind '" + name +
                              "' (expected solid, part-solid, ground-glass, spiculated, cavitary or juxta-pleural)");
}

std::array<double, 3> parse_annotator_weights(const std::string& text) {
  return parse_weights<3>(text, "annotator distribution", [](const std::string& key) -> std::size_t {
    if (key == "2" || key == "3" || key == "4") return static_cast<std::size_t>(key[0] - '2');
    throw std::invalid_argument("annotator distribution: '" + key + "' is not a reader count of 2, 3 or 4");
  });
}

std::array<double, kNoduleKindCount> parse_kind_weights(const std::string& text) {
  return parse_weights<kNoduleKindCount>(text, "kind distribution", [](const std::string& key) {
    return static_cast<std::size_t>(nodule_kind_from_name(key));
  });
}

void validate(const SynthOptions& o) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("synth: " + what); };
  if (o.nodule_count < 1) fail("nodule count must be at least 1");
  if (o.height < 16 || o.width < 16 || o.height > 1024 || o.width > 1024)
    fail("crop size " + std::to_string(o.height) + "x" + std::to_string(o.width) + " is outside 16..1024");
  check_weights(o.annotator_weights, "annotator distribution");
  check_weights(o.kind_weights, "kind distribution");
  check_weights(o.nodules_per_patient_weights, "nodules-per-patient distribution");
  if (!(o.hard_fraction >= 0.0 && o.hard_fraction <= 1.0)) fail("hard fraction must be in [0, 1]");
  if (!(o.min_spacing_mm > 0.0 && o.min_spacing_mm <= o.max_spacing_mm && std::isfinite(o.max_spacing_mm)))
    fail("pixel spacing range must satisfy 0 < min <= max");
  if (!(o.min_diameter_mm > 0.0 && o.min_diameter_mm <= o.max_diameter_mm && std::isfinite(o.max_diameter_mm)))
    fail("diameter range must satisfy 0 < min <= max");
  if (o.min_diameter_mm > kMaxDiameterOfCrop * std::min(o.height, o.width) * o.min_spacing_mm)
    fail("a nodule of the minimum diameter does not fit the crop at the minimum pixel spacing");
}

SynthGenerator::SynthGenerator(SynthOptions options) : options_(options) {
  validate(options_);
  const std::array<double, kNoduleKindCount> p_hard = hard_probabilities(options_);
  synth::Rng patients(options_.seed, synth::Stream::kPatients);
  plans_.reserve(options_.nodule_count);
  while (plans_.size() < options_.nodule_count) {
    const int patient = patient_count_++;
    const int wanted = 1 + pick(patients, options_.nodules_per_patient_weights);
    const double spacing = synth::draw_scan(options_.seed, patient, options_).spacing_mm;
    for (int k = 1; k <= wanted && plans_.size() < options_.nodule_count; ++k) {
      SynthNodulePlan plan;
      plan.index = plans_.size();
      synth::Rng rng(options_.seed, synth::Stream::kPlan, plan.index);
      plan.patient = patient;
      plan.nodule_in_patient = k;
      plan.kind = static_cast<NoduleKind>(pick(rng, options_.kind_weights));
      plan.hard = rng.chance(p_hard[static_cast<int>(plan.kind)]);
      plan.spacing_mm = spacing;
      plan.diameter_mm = draw_diameter(rng, plan.kind, plan.hard, spacing, options_);
      plan.annotator_count = 2 + pick(rng, options_.annotator_weights);
      plans_.push_back(plan);
    }
  }
}

Nodule SynthGenerator::nodule(std::size_t index) const {
  const SynthNodulePlan& plan = plans_.at(index);
  Nodule nodule;
  char id[64];
  std::snprintf(id, sizeof id, "SYN-%04d", plan.patient + 1);
  nodule.info.patient_id = id;
  std::snprintf(id, sizeof id, "SYN-%04d_%d", plan.patient + 1, plan.nodule_in_patient);
  nodule.info.nodule_id = id;
  nodule.info.spacing_mm = {plan.spacing_mm, plan.spacing_mm};
  nodule.info.diameter_mm = plan.diameter_mm;
  nodule.info.annotator_count = plan.annotator_count;
  nodule.info.kind = nodule_kind_name(plan.kind);
  const synth::ScanParams scan = synth::draw_scan(options_.seed, plan.patient, options_);
  synth::Rng rng(options_.seed, synth::Stream::kRender, index);
  synth::render_nodule(plan, scan, options_.height, options_.width, rng, nodule);
  return nodule;
}

StoreAttributes SynthGenerator::attributes() const {
  StoreAttributes a;
  a.height = options_.height;
  a.width = options_.width;
  a.image_unit = ImageUnit::kHounsfield;
  a.reader_masks = ReaderMasks::kPerReader;
  a.source = "ugs synth v" + std::to_string(kGeneratorVersion) + " seed=" + std::to_string(options_.seed);
  return a;
}

SynthSummary summarize(const SynthGenerator& generator) {
  SynthSummary s;
  s.nodules = generator.size();
  s.patients = generator.patient_count();
  int patient = -1, in_patient = 0;
  for (std::size_t i = 0; i < generator.size(); ++i) {
    const SynthNodulePlan& p = generator.plan(i);
    const auto kind = static_cast<std::size_t>(p.kind);
    ++s.per_kind[kind];
    if (p.hard) ++s.hard_per_kind[kind];
    ++s.per_annotator_count[p.annotator_count];
    if (p.patient != patient) {
      if (patient >= 0) ++s.patients_per_size[in_patient];
      patient = p.patient;
      in_patient = 0;
    }
    ++in_patient;
  }
  if (patient >= 0) ++s.patients_per_size[in_patient];
  return s;
}

}  // namespace ugs::storage
