// Synthetic LIDC-IDRI-like lung nodules, each with 2 to 4 readers' masks that disagree the way
// radiologists do: mostly on low-density margins, ground glass and spicules, rarely on the solid
// core. Tests, benchmarks and the quick start run on them because no LIDC-IDRI CT volume is at hand.
// The model (parenchyma, vessels, chest wall, six nodule kinds, the reader model), its sources and
// what it leaves out are in docs/synthetic-data.md.
//
//   SynthOptions options;                       // 1,860 nodules, seed 0, LIDC-like proportions
//   options.seed = 7;
//   SynthGenerator generator(options);          // validates, draws every nodule's plan (cheap)
//   Nodule n = generator.nodule(17);            // renders nodule 17 alone: HU image + reader masks
//   write_synthetic_store(generator, "out/synthetic", {});   // all of them, on every core
//
// Determinism: a (options, index) pair gives a bit-identical Nodule on every machine and compiler
// (own PRNG, normal deviates and exp/log; no <random> distribution, no libm transcendental). Each
// nodule draws from its own stream keyed by (seed, index), so order and threads do not matter.
// Nodules of one patient share the scan: pixel spacing, lung density, noise level and texture.
//
// Errors: invalid options throw std::invalid_argument with one line naming the option; an index
// >= size() throws std::out_of_range; writing a store throws what NoduleStoreWriter throws.
// Thread safety: a SynthGenerator is immutable after construction; nodule() may be called from
// any number of threads at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ugs/storage/store.h"

namespace ugs::storage {

// The kinds of nodule the generator draws; NoduleInfo::kind holds nodule_kind_name(kind).
enum class NoduleKind {
  kSolid,         // round or lobulated soft tissue, sharp margin; some calcified
  kPartSolid,     // a solid core inside a ground-glass halo
  kGroundGlass,   // hazy opacity (about -750 to -450 HU) with fuzzy margin, vessels visible through it
  kSpiculated,    // solid body with thin radiating spicules
  kCavitary,      // solid wall around an air-filled cavity
  kJuxtaPleural,  // solid nodule attached to the chest wall (pleura)
};
inline constexpr int kNoduleKindCount = 6;

// "solid", "part-solid", "ground-glass", "spiculated", "cavitary", "juxta-pleural".
const char* nodule_kind_name(NoduleKind kind);
// The inverse; throws std::invalid_argument for an unknown name.
NoduleKind nodule_kind_from_name(const std::string& name);

// Everything that shapes a synthetic set. Weights are relative (normalised on use, >= 0, not all 0).
struct SynthOptions {
  std::uint64_t seed = 0;
  std::size_t nodule_count = 1860;  // the paper's count of LIDC-IDRI nodules with >= 2 readers
  int height = 50;                  // crop size in pixels (the UGS-Net layout's 50x50)
  int width = 50;
  // Relative frequency of 2, 3 and 4 readers. Default: LIDC-IDRI nodules >= 3 mm marked by two,
  // three and four radiologists (488, 481, 911; Wang et al., Acad Radiol 22(4), 2015).
  std::array<double, 3> annotator_weights{488, 481, 911};
  // Relative frequency of each NoduleKind, in enum order (docs/synthetic-data.md says why).
  std::array<double, kNoduleKindCount> kind_weights{0.55, 0.10, 0.08, 0.10, 0.02, 0.15};
  // Fraction of nodules made hard to segment (faint ground glass, broad pleural contact, very small,
  // vessel contact, strong reader disagreement), spread over kinds by how hard each kind can be.
  double hard_fraction = 0.15;
  // Relative frequency of patients with 1..6 nodules.
  std::array<double, 6> nodules_per_patient_weights{0.42, 0.24, 0.14, 0.10, 0.06, 0.04};
  double min_spacing_mm = 0.5;  // pixel spacing, one value per patient (scan)
  double max_spacing_mm = 0.9;
  double min_diameter_mm = 3.0;  // LIDC-IDRI "nodule >= 3 mm"; the paper keeps 3-30 mm
  double max_diameter_mm = 30.0;
};

// Throws std::invalid_argument naming the first bad option.
void validate(const SynthOptions& options);

// Parses "2:0.3,3:0.3,4:0.4" into annotator_weights (counts not named get 0). Throws
// std::invalid_argument on anything else: a count outside 2..4, a repeated count, a negative or
// non-numeric weight, all weights 0.
std::array<double, 3> parse_annotator_weights(const std::string& text);
// Parses "solid:0.55,part-solid:0.1,..." into kind_weights (kinds not named get 0); same errors.
std::array<double, kNoduleKindCount> parse_kind_weights(const std::string& text);

// What was drawn for one nodule before it is rendered.
struct SynthNodulePlan {
  std::size_t index = 0;
  int patient = 0;            // 0-based patient number; patient_id "SYN-%04d" (1-based)
  int nodule_in_patient = 0;  // 1-based; nodule_id "SYN-%04d_%d"
  NoduleKind kind = NoduleKind::kSolid;
  bool hard = false;
  double diameter_mm = 0.0;   // of the drawn shape (readers' masks differ from it)
  double spacing_mm = 0.0;    // isotropic in-plane pixel spacing of the patient's scan
  int annotator_count = 0;    // 2..4
};

class SynthGenerator {
 public:
  // Validates the options and draws every nodule's plan (patients, kinds, sizes, readers).
  explicit SynthGenerator(SynthOptions options);

  const SynthOptions& options() const { return options_; }
  std::size_t size() const { return plans_.size(); }
  int patient_count() const { return patient_count_; }
  const SynthNodulePlan& plan(std::size_t index) const { return plans_.at(index); }

  // Renders nodule `index` (< size()): HU image, reader masks, union and intersection, info.
  Nodule nodule(std::size_t index) const;

  // The store attributes of a synthetic set: HU images, per-reader masks, source naming the seed.
  StoreAttributes attributes() const;

 private:
  SynthOptions options_;
  std::vector<SynthNodulePlan> plans_;
  int patient_count_ = 0;
};

// What a generated set holds, from the plans (no rendering).
struct SynthSummary {
  std::size_t nodules = 0;
  int patients = 0;
  std::array<std::size_t, kNoduleKindCount> per_kind{};
  std::array<std::size_t, kNoduleKindCount> hard_per_kind{};
  std::array<std::size_t, 5> per_annotator_count{};  // index = number of readers (2..4 used)
  std::array<std::size_t, 7> patients_per_size{};    // index = nodules of the patient (1..6 used)
};
SynthSummary summarize(const SynthGenerator& generator);

// Renders every nodule (on `threads` threads; 0 = all cores) and writes them, in index order, to a
// new nodule store at `dir` (refused if it exists unless `overwrite`). Nothing appears at `dir`
// unless the whole store is written.
struct SynthWriteOptions {
  int nodules_per_shard = 512;
  bool overwrite = false;
  int threads = 0;
};
void write_synthetic_store(const SynthGenerator& generator, const std::filesystem::path& dir,
                           const SynthWriteOptions& write_options);

}  // namespace ugs::storage
