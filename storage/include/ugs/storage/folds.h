// Cross-validation folds for a nodule store: split by patient (no patient's nodules on both sides of
// a fold), stratified by nodule size, balanced in nodule count, deterministic for a seed, and kept in
// nnU-Net's splits_final.json shape so that a split is made once, written, and reused:
//   [{"train": ["LIDC-IDRI-0002_1_3000522", ...], "val": [...]}, ...]   (ids sorted in each list)
//
//   std::vector<Fold> folds = make_folds(store.infos(), 5, /*seed=*/0);
//   write_folds("out/splits_final.json", folds);
//   std::vector<Fold> again = read_folds("out/splits_final.json", store.infos());  // validated
//
// The algorithm (why: the paper's five folds need comparable folds, and the published code's folds
// leak patients across folds; see docs/data-format.md):
//   1. Each patient's key is the mean diameter of its nodules. Patients are sorted by (key, patient id),
//      so the result does not depend on the order of the store.
//   2. Consecutive runs of `folds` patients form strata of similar size.
//   3. Within each stratum the patients are shuffled (Fisher-Yates driven by a 64-bit Mersenne Twister
//      seeded with `seed`, so every platform gives the same split), then sorted by nodule count,
//      largest first (stable, so ties keep the shuffled order); each goes to the fold, not yet given a
//      patient of this stratum, that has the fewest nodules so far (lowest index on ties).
// Every fold thus gets one patient of each stratum (the size distributions match) and fold sizes differ
// by at most the largest patient's nodule count, usually by one or two nodules.
//
// Errors: std::runtime_error, one line naming the file and the problem. read_folds checks, against the
// store: the JSON shape, unknown nodule ids, an id twice in one list, a nodule in train and val of a
// fold, a nodule in no val fold or in two, a nodule missing from a fold, a patient in two val folds.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ugs/storage/store.h"

namespace ugs::storage {

struct Fold {
  std::vector<std::string> train;  // nodule ids, sorted
  std::vector<std::string> val;    // nodule ids, sorted
};

// Needs 2 <= folds <= the number of patients.
std::vector<Fold> make_folds(const std::vector<NoduleInfo>& nodules, int folds = 5, std::uint64_t seed = 0);

// Writes the folds as splits_final.json through a temporary file and a rename.
void write_folds(const std::filesystem::path& file, const std::vector<Fold>& folds);

// Reads a splits_final.json and checks that it is a valid cross-validation split of `nodules`.
std::vector<Fold> read_folds(const std::filesystem::path& file, const std::vector<NoduleInfo>& nodules);

}  // namespace ugs::storage
