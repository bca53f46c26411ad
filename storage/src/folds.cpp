#include "ugs/storage/folds.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "ugs/storage/atomic_file.h"

namespace ugs::storage {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Patient {
  std::string id;
  std::vector<std::string> nodule_ids;
  double mean_diameter_mm = 0;
};

// Uniform in [0, bound) from raw 64-bit draws by rejection, so the split is the same on every standard
// library (std::uniform_int_distribution and std::shuffle are implementation-defined).
std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t bound) {
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() -
                              std::numeric_limits<std::uint64_t>::max() % bound;
  std::uint64_t draw;
  do draw = rng(); while (draw >= limit);
  return draw % bound;
}

template <typename T>
void shuffle(std::vector<T>& items, std::mt19937_64& rng) {
  for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[uniform_below(rng, i)]);
}

// Checks `folds` as a cross-validation split of `nodules`; `where` prefixes every message.
void check_folds(const std::vector<Fold>& folds, const std::vector<NoduleInfo>& nodules, const std::string& where) {
  auto fail = [&](const std::string& problem) { throw std::runtime_error(where + ": " + problem); };
  std::unordered_map<std::string, const NoduleInfo*> by_id;
  for (const NoduleInfo& info : nodules) by_id.emplace(info.nodule_id, &info);
  if (folds.size() < 2) fail(std::to_string(folds.size()) + " folds, expected at least 2");
  std::unordered_map<std::string, std::size_t> val_fold_of_nodule;
  std::unordered_map<std::string, std::size_t> val_fold_of_patient;
  for (std::size_t k = 0; k < folds.size(); ++k) {
    const std::string fold = "fold " + std::to_string(k) + ": ";
    std::set<std::string> train, val;
    for (const std::string& id : folds[k].train) {
      if (!by_id.count(id)) fail(fold + "nodule '" + id + "' is not in the store");
      if (!train.insert(id).second) fail(fold + "nodule '" + id + "' is listed twice in train");
    }
    for (const std::string& id : folds[k].val) {
      auto info = by_id.find(id);
      if (info == by_id.end()) fail(fold + "nodule '" + id + "' is not in the store");
      if (train.count(id)) fail(fold + "nodule '" + id + "' is in both train and val");
      if (!val.insert(id).second) fail(fold + "nodule '" + id + "' is listed twice in val");
      auto [other, first] = val_fold_of_nodule.emplace(id, k);
      if (!first) fail(fold + "nodule '" + id + "' is also in the val set of fold " + std::to_string(other->second));
      const std::string& patient = info->second->patient_id;
      auto [patient_fold, patient_first] = val_fold_of_patient.emplace(patient, k);
      if (!patient_first && patient_fold->second != k) {
        fail(fold + "patient '" + patient + "' (nodule '" + id + "') also has nodules in the val set of fold " +
             std::to_string(patient_fold->second) + ": patients must not cross folds");
      }
    }
    if (train.size() + val.size() != nodules.size()) {
      for (const NoduleInfo& info : nodules) {
        if (!train.count(info.nodule_id) && !val.count(info.nodule_id)) {
          fail(fold + "nodule '" + info.nodule_id + "' is in neither train nor val");
        }
      }
    }
  }
  for (const NoduleInfo& info : nodules) {
    if (!val_fold_of_nodule.count(info.nodule_id)) fail("nodule '" + info.nodule_id + "' is in no val set");
  }
}

}  // namespace

std::vector<Fold> make_folds(const std::vector<NoduleInfo>& nodules, int folds, std::uint64_t seed) {
  std::map<std::string, Patient> by_id;
  for (const NoduleInfo& info : nodules) {
    Patient& patient = by_id[info.patient_id];
    patient.id = info.patient_id;
    patient.nodule_ids.push_back(info.nodule_id);
    patient.mean_diameter_mm += info.diameter_mm;
  }
  if (folds < 2 || static_cast<std::size_t>(folds) > by_id.size()) {
    throw std::runtime_error("cannot make " + std::to_string(folds) + " folds of " + std::to_string(by_id.size()) +
                             " patients (need 2 <= folds <= patients)");
  }
  std::vector<Patient> patients;
  for (auto& [id, patient] : by_id) {
    patient.mean_diameter_mm /= static_cast<double>(patient.nodule_ids.size());
    patients.push_back(std::move(patient));
  }
  std::stable_sort(patients.begin(), patients.end(), [](const Patient& a, const Patient& b) {
    return a.mean_diameter_mm < b.mean_diameter_mm;  // ties stay in patient-id order
  });

  std::mt19937_64 rng(seed);
  std::vector<std::vector<const Patient*>> members(folds);
  std::vector<std::size_t> nodule_count(folds, 0);
  for (std::size_t begin = 0; begin < patients.size(); begin += folds) {
    std::vector<const Patient*> stratum;
    for (std::size_t i = begin; i < std::min(patients.size(), begin + folds); ++i) stratum.push_back(&patients[i]);
    shuffle(stratum, rng);
    std::stable_sort(stratum.begin(), stratum.end(), [](const Patient* a, const Patient* b) {
      return a->nodule_ids.size() > b->nodule_ids.size();
    });
    std::vector<bool> taken(folds, false);
    for (const Patient* patient : stratum) {
      int smallest = -1;
      for (int k = 0; k < folds; ++k) {
        if (!taken[k] && (smallest < 0 || nodule_count[k] < nodule_count[smallest])) smallest = k;
      }
      taken[smallest] = true;
      members[smallest].push_back(patient);
      nodule_count[smallest] += patient->nodule_ids.size();
    }
  }

  std::vector<Fold> result(folds);
  for (int k = 0; k < folds; ++k) {
    for (int other = 0; other < folds; ++other) {
      std::vector<std::string>& list = other == k ? result[k].val : result[k].train;
      for (const Patient* patient : members[other]) {
        list.insert(list.end(), patient->nodule_ids.begin(), patient->nodule_ids.end());
      }
    }
    std::sort(result[k].train.begin(), result[k].train.end());
    std::sort(result[k].val.begin(), result[k].val.end());
  }
  check_folds(result, nodules, "make_folds");  // the invariants read_folds enforces hold by construction
  return result;
}

void write_folds(const fs::path& file, const std::vector<Fold>& folds) {
  json splits = json::array();
  for (const Fold& fold : folds) splits.push_back({{"train", fold.train}, {"val", fold.val}});
  write_file_atomically(file, splits.dump(2) + "\n");
}

std::vector<Fold> read_folds(const fs::path& file, const std::vector<NoduleInfo>& nodules) {
  auto fail = [&](const std::string& problem) { throw std::runtime_error(file.string() + ": " + problem); };
  std::ifstream in(file);
  if (!in) fail("missing or unreadable");
  json splits;
  try {
    splits = json::parse(in);
  } catch (const json::exception& e) {
    fail(std::string("malformed JSON: ") + e.what());
  }
  if (!splits.is_array()) fail("expected a list of {\"train\": [...], \"val\": [...]} folds");
  std::vector<Fold> folds;
  for (std::size_t k = 0; k < splits.size(); ++k) {
    const json& entry = splits[k];
    Fold fold;
    for (const char* key : {"train", "val"}) {
      const std::string where = "fold " + std::to_string(k) + ": '" + key + "'";
      if (!entry.is_object() || !entry.contains(key)) fail(where + " is missing");
      const json& list = entry.at(key);
      if (!list.is_array()) fail(where + " is not a list");
      for (const json& id : list) {
        if (!id.is_string()) fail(where + " holds " + id.dump() + ", expected nodule id strings");
        (std::string(key) == "train" ? fold.train : fold.val).push_back(id.get<std::string>());
      }
    }
    folds.push_back(std::move(fold));
  }
  check_folds(folds, nodules, file.string());
  return folds;
}

}  // namespace ugs::storage
