// Which nodules of a store one training job trains on, validates on and tests on.
//
//   std::vector<storage::Fold> folds = storage::read_folds(config.data.split, store.infos());
//   JobNodules job = select_nodules(store, folds.at(config.data.fold).val, config);
//   // without a split: select_nodules(store, {}, config) trains on every nodule and tests on none
//
// - test: the held-out fold's nodules, all of them, in store order (the paper scores every nodule
//   of the fold; [data] min_annotators and limit do not touch the test set).
// - train: every other nodule with at least [data] min_annotators readers (per-reader stores; a
//   store without per-reader masks has none to count), the first [data] limit of them if limit > 0.
// - validation: [training] validation_fraction of those, carved out by patient (a patient's nodules
//   are all on one side, as the folds keep them), patients drawn with SplitMix64 from
//   [training] seed: at least fraction * N nodules, whole patients, at least one patient when the
//   fraction is positive. The paper validates on nothing (it reports the last epoch); the published
//   code picked its checkpoint by the test fold's Dice, which leaks.
// All three lists are sorted store indices.
//
// Errors: std::runtime_error (naming the store) for a test id the store lacks, or when the filters
// leave no training nodule or the carve-out would take every one.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "ugs/storage/store.h"
#include "ugs/worker/config.h"

namespace ugs::worker {

struct JobNodules {
  std::vector<std::size_t> train;
  std::vector<std::size_t> validation;
  std::vector<std::size_t> test;
};

JobNodules select_nodules(const storage::NoduleStore& store, const std::vector<std::string>& test_ids,
                          const Config& config);

}  // namespace ugs::worker
