#include "ugs/worker/dataset.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>

#include "random.h"

namespace ugs::worker {

JobNodules select_nodules(const storage::NoduleStore& store, const std::vector<std::string>& test_ids,
                          const Config& config) {
  const std::string where = store.path().string();
  JobNodules job;
  std::vector<bool> tested(store.size(), false);
  for (const std::string& id : test_ids) {
    const auto index = store.find(id);
    if (!index) throw std::runtime_error(where + ": the split's test nodule '" + id + "' is not in the store");
    tested[*index] = true;
  }

  const bool count_readers = store.attributes().reader_masks == storage::ReaderMasks::kPerReader;
  std::vector<std::size_t> train;
  for (std::size_t i = 0; i < store.size(); ++i) {
    if (tested[i]) {
      job.test.push_back(i);
    } else if (!count_readers || store.info(i).annotator_count >= config.data.min_annotators) {
      train.push_back(i);
    }
  }
  if (config.data.limit > 0 && train.size() > static_cast<std::size_t>(config.data.limit)) {
    train.resize(static_cast<std::size_t>(config.data.limit));
  }
  if (train.empty()) {
    throw std::runtime_error(where + ": no training nodules left (" + std::to_string(job.test.size()) +
                             " held out for testing, [data] min_annotators = " +
                             std::to_string(config.data.min_annotators) + ")");
  }

  const double fraction = config.training.validation_fraction;
  if (fraction > 0) {
    // Patients in a seeded order that does not depend on the order of the store.
    std::map<std::string, std::vector<std::size_t>> by_patient;
    for (std::size_t i : train) by_patient[store.info(i).patient_id].push_back(i);
    std::vector<const std::vector<std::size_t>*> patients;
    for (const auto& [patient, nodules] : by_patient) patients.push_back(&nodules);
    SplitMix64::stream(config.training.seed, kValidationStream, {}).shuffle(patients);

    const auto wanted = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(train.size())));
    std::vector<bool> validating(store.size(), false);
    std::size_t taken = 0;
    for (const auto* nodules : patients) {
      if (taken >= wanted) break;
      for (std::size_t i : *nodules) validating[i] = true;
      taken += nodules->size();
    }
    if (taken == train.size()) {
      throw std::runtime_error(where + ": [training] validation_fraction = " + std::to_string(fraction) +
                               " leaves no training nodules (" + std::to_string(by_patient.size()) +
                               " patients to share)");
    }
    std::vector<std::size_t> kept;
    for (std::size_t i : train) (validating[i] ? job.validation : kept).push_back(i);
    train = std::move(kept);
  }
  job.train = std::move(train);
  return job;
}

}  // namespace ugs::worker
