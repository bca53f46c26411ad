// Cross-validation folds: grouped by patient, stratified by size, balanced, deterministic, and read
// back only when they form a valid split of the store.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "storage/test_support.h"
#include "ugs/storage/folds.h"
#include "ugs/storage/store.h"

namespace ugs::storage {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TemporaryFolder;

// 83 patients with 1..6 nodules (skewed towards 1, like LIDC-IDRI), diameters 3..30 mm.
std::vector<NoduleInfo> cohort(unsigned seed = 3) {
  std::mt19937 rng(seed);
  std::vector<NoduleInfo> nodules;
  for (int p = 0; p < 83; ++p) {
    const int count = 1 + static_cast<int>(rng() % 12 < 7 ? 0 : rng() % 6);
    const double size = 3 + (rng() % 2700) / 100.0;
    for (int n = 0; n < count; ++n) {
      NoduleInfo info;
      info.patient_id = "LIDC-IDRI-" + std::to_string(1000 + p);
      info.nodule_id = info.patient_id + "_" + std::to_string(n);
      info.diameter_mm = size * (0.8 + 0.1 * n);
      info.annotator_count = 1;
      nodules.push_back(info);
    }
  }
  return nodules;
}

std::map<std::string, const NoduleInfo*> by_id(const std::vector<NoduleInfo>& nodules) {
  std::map<std::string, const NoduleInfo*> map;
  for (const NoduleInfo& info : nodules) map[info.nodule_id] = &info;
  return map;
}

TEST(Folds, EveryNoduleValidatedOnceAndNoPatientCrossesFolds) {
  const std::vector<NoduleInfo> nodules = cohort();
  const auto info = by_id(nodules);
  const std::vector<Fold> folds = make_folds(nodules, 5, 0);
  ASSERT_EQ(folds.size(), 5u);
  std::map<std::string, int> val_count;
  std::map<std::string, std::set<std::size_t>> folds_of_patient;
  for (std::size_t k = 0; k < folds.size(); ++k) {
    EXPECT_TRUE(std::is_sorted(folds[k].train.begin(), folds[k].train.end()));
    EXPECT_TRUE(std::is_sorted(folds[k].val.begin(), folds[k].val.end()));
    EXPECT_EQ(folds[k].train.size() + folds[k].val.size(), nodules.size());
    std::set<std::string> train(folds[k].train.begin(), folds[k].train.end());
    std::set<std::string> train_patients;
    for (const std::string& id : folds[k].train) train_patients.insert(info.at(id)->patient_id);
    for (const std::string& id : folds[k].val) {
      ++val_count[id];
      EXPECT_FALSE(train.count(id)) << id;
      EXPECT_FALSE(train_patients.count(info.at(id)->patient_id)) << id;  // no patient on both sides
      folds_of_patient[info.at(id)->patient_id].insert(k);
    }
  }
  EXPECT_EQ(val_count.size(), nodules.size());
  for (const auto& [id, count] : val_count) EXPECT_EQ(count, 1) << id;
  for (const auto& [patient, in_folds] : folds_of_patient) EXPECT_EQ(in_folds.size(), 1u) << patient;
}

// Sorted by mean diameter, every run of `folds` patients is spread over `folds` different folds.
TEST(Folds, StratifiedByMeanDiameter) {
  const std::vector<NoduleInfo> nodules = cohort();
  const auto info = by_id(nodules);
  for (int k : {3, 5}) {
    const std::vector<Fold> folds = make_folds(nodules, k, 11);
    std::map<std::string, std::pair<double, int>> patient_sizes;  // sum, count
    std::map<std::string, int> fold_of_patient;
    for (std::size_t f = 0; f < folds.size(); ++f) {
      for (const std::string& id : folds[f].val) fold_of_patient[info.at(id)->patient_id] = static_cast<int>(f);
    }
    for (const NoduleInfo& n : nodules) {
      patient_sizes[n.patient_id].first += n.diameter_mm;
      patient_sizes[n.patient_id].second += 1;
    }
    std::vector<std::pair<double, std::string>> order;
    for (const auto& [patient, size] : patient_sizes) order.emplace_back(size.first / size.second, patient);
    std::sort(order.begin(), order.end());
    for (std::size_t begin = 0; begin < order.size(); begin += k) {
      std::set<int> used;
      for (std::size_t i = begin; i < std::min(order.size(), begin + k); ++i) {
        EXPECT_TRUE(used.insert(fold_of_patient.at(order[i].second)).second)
            << "two patients of stratum " << begin / k << " in one fold";
      }
    }
    // Consequence: the folds' mean diameters are close to the overall mean.
    double overall = 0;
    for (const NoduleInfo& n : nodules) overall += n.diameter_mm;
    overall /= static_cast<double>(nodules.size());
    for (const Fold& fold : folds) {
      double mean = 0;
      for (const std::string& id : fold.val) mean += info.at(id)->diameter_mm;
      mean /= static_cast<double>(fold.val.size());
      EXPECT_NEAR(mean, overall, 0.12 * overall);
    }
  }
}

TEST(Folds, BalancedNoduleCounts) {
  const std::vector<NoduleInfo> nodules = cohort();
  std::map<std::string, std::size_t> per_patient;
  for (const NoduleInfo& n : nodules) ++per_patient[n.patient_id];
  std::size_t largest_patient = 0;
  for (const auto& [patient, count] : per_patient) largest_patient = std::max(largest_patient, count);
  for (std::uint64_t seed : {0, 1, 2, 3}) {
    const std::vector<Fold> folds = make_folds(nodules, 5, seed);
    std::size_t smallest = nodules.size(), biggest = 0;
    for (const Fold& fold : folds) {
      smallest = std::min(smallest, fold.val.size());
      biggest = std::max(biggest, fold.val.size());
    }
    EXPECT_LE(biggest - smallest, largest_patient) << "seed " << seed;
  }
}

TEST(Folds, DeterministicForASeedWhateverTheStoreOrder) {
  std::vector<NoduleInfo> nodules = cohort();
  const std::vector<Fold> first = make_folds(nodules, 5, 7);
  std::shuffle(nodules.begin(), nodules.end(), std::mt19937(99));
  const std::vector<Fold> again = make_folds(nodules, 5, 7);
  const std::vector<Fold> other_seed = make_folds(nodules, 5, 8);
  bool same_as_other_seed = true;
  for (std::size_t k = 0; k < first.size(); ++k) {
    EXPECT_EQ(first[k].val, again[k].val);
    EXPECT_EQ(first[k].train, again[k].train);
    same_as_other_seed = same_as_other_seed && first[k].val == other_seed[k].val;
  }
  EXPECT_FALSE(same_as_other_seed);
}

TEST(Folds, TooFewPatients) {
  std::vector<NoduleInfo> nodules = cohort();
  nodules.resize(3);  // at most 3 patients
  EXPECT_THROW(make_folds(nodules, 5, 0), std::runtime_error);
  EXPECT_THROW(make_folds(cohort(), 1, 0), std::runtime_error);
}

TEST(Folds, WriteReadRoundTripInSplitsFinalShape) {
  TemporaryFolder folder;
  const std::vector<NoduleInfo> nodules = cohort();
  const std::vector<Fold> folds = make_folds(nodules, 5, 0);
  write_folds(folder / "splits_final.json", folds);
  json splits;
  std::ifstream(folder / "splits_final.json") >> splits;
  ASSERT_TRUE(splits.is_array());
  ASSERT_EQ(splits.size(), 5u);
  EXPECT_EQ(splits[2]["val"].get<std::vector<std::string>>(), folds[2].val);
  EXPECT_EQ(splits[2].size(), 2u);  // just "train" and "val"
  const std::vector<Fold> read = read_folds(folder / "splits_final.json", nodules);
  ASSERT_EQ(read.size(), folds.size());
  for (std::size_t k = 0; k < folds.size(); ++k) {
    EXPECT_EQ(read[k].train, folds[k].train);
    EXPECT_EQ(read[k].val, folds[k].val);
  }
}

// ---- corrupt split files ----

class CorruptSplit : public ::testing::Test {
 protected:
  void SetUp() override {
    write_folds(file_, make_folds(nodules_, 3, 0));
    std::ifstream(file_) >> splits_;
  }

  // The id of a nodule in val of fold `k`, and its patient's other nodule if `with_sibling`.
  std::string val_id(std::size_t k, bool with_sibling = false) const {
    std::map<std::string, int> count;
    for (const NoduleInfo& n : nodules_) ++count[n.patient_id];
    for (const json& id : splits_[k]["val"]) {
      const std::string patient = by_id(nodules_).at(id.get<std::string>())->patient_id;
      if (!with_sibling || count[patient] > 1) return id.get<std::string>();
    }
    return "";
  }

  void expect_refused(const std::function<void(json&)>& edit, const std::string& problem) {
    json broken = splits_;
    edit(broken);
    std::ofstream(file_) << broken.dump();
    testing::expect_error([&] { read_folds(file_, nodules_); }, file_, problem);
  }

  TemporaryFolder folder_;
  fs::path file_ = folder_ / "splits_final.json";
  std::vector<NoduleInfo> nodules_ = cohort();
  json splits_;
};

TEST_F(CorruptSplit, UnknownNodule) {
  expect_refused([](json& s) { s[1]["train"].push_back("LIDC-IDRI-9999_1"); },
                 "fold 1: nodule 'LIDC-IDRI-9999_1' is not in the store");
}

TEST_F(CorruptSplit, TrainValOverlap) {
  const std::string id = val_id(0);
  expect_refused([&](json& s) { s[0]["train"].push_back(id); }, "fold 0: nodule '" + id + "' is in both train and val");
}

TEST_F(CorruptSplit, NoduleInTwoValFolds) {
  const std::string id = val_id(0);
  expect_refused(
      [&](json& s) {
        s[2]["val"].push_back(id);
        auto& train = s[2]["train"];
        train.erase(std::find(train.begin(), train.end(), json(id)));
      },
      "fold 2: nodule '" + id + "' is also in the val set of fold 0");
}

TEST_F(CorruptSplit, PatientAcrossFolds) {
  const std::string id = val_id(1, /*with_sibling=*/true);
  ASSERT_FALSE(id.empty());
  // Move one of the patient's nodules to fold 2's val set (and out of fold 1's).
  expect_refused(
      [&](json& s) {
        auto& val1 = s[1]["val"];
        val1.erase(std::find(val1.begin(), val1.end(), json(id)));
        s[1]["train"].push_back(id);
        s[2]["val"].push_back(id);
        auto& train2 = s[2]["train"];
        train2.erase(std::find(train2.begin(), train2.end(), json(id)));
      },
      "also has nodules in the val set of fold 1: patients must not cross folds");
}

TEST_F(CorruptSplit, NoduleMissingFromAFoldOrFromEveryValSet) {
  const std::string id = val_id(2);
  expect_refused([&](json& s) { s[0]["train"].erase(std::find(s[0]["train"].begin(), s[0]["train"].end(), json(id))); },
                 "fold 0: nodule '" + id + "' is in neither train nor val");
  expect_refused(
      [&](json& s) {
        auto& val = s[2]["val"];
        val.erase(std::find(val.begin(), val.end(), json(id)));
        s[2]["train"].push_back(id);
      },
      "nodule '" + id + "' is in no val set");
}

TEST_F(CorruptSplit, MalformedFile) {
  expect_refused([](json& s) { s = json::object(); }, "expected a list of");
  expect_refused([](json& s) { s[0].erase("val"); }, "fold 0: 'val' is missing");
  expect_refused([](json& s) { s[1]["train"].push_back(3); }, "fold 1: 'train' holds 3, expected nodule id strings");
  expect_refused([](json& s) { s.erase(1); s.erase(1); }, "1 folds, expected at least 2");
  std::ofstream(file_) << "[{\"train\": [";
  EXPECT_THROW(read_folds(file_, nodules_), std::runtime_error);
  fs::remove(file_);
  EXPECT_THROW(read_folds(file_, nodules_), std::runtime_error);
}

TEST(SplitCommand, WritesAValidatedSplitOfTheStore) {
  TemporaryFolder folder;
  StoreAttributes attributes;
  attributes.height = attributes.width = 8;
  attributes.source = "split test";
  testing::write_store(folder / "store", attributes, testing::random_nodules(attributes, 24));  // 12 patients
  const std::string out = (folder / "splits.json").string();
  const auto done = testing::run_ugs("split '" + (folder / "store").string() + "' --folds 4 --seed 3 --out '" + out + "'");
  ASSERT_EQ(done.exit_code, 0) << done.output;
  EXPECT_NE(done.output.find("24 nodules of 12 patients in 4 folds (seed 3)"), std::string::npos) << done.output;
  const NoduleStore store = NoduleStore::open(folder / "store");
  const std::vector<Fold> folds = read_folds(out, store.infos());
  const std::vector<Fold> expected = make_folds(store.infos(), 4, 3);
  ASSERT_EQ(folds.size(), 4u);
  for (std::size_t k = 0; k < 4; ++k) EXPECT_EQ(folds[k].val, expected[k].val);
}

}  // namespace
}  // namespace ugs::storage
