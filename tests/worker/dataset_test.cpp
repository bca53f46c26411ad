// Which nodules a job uses: the held-out fold, the training filters, and the validation carve-out
// by patient.
#include "ugs/worker/dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "worker/job_test_data.h"

namespace ugs::worker {
namespace {

// 30 nodules "n<i>" of patients "p<i/3>" with 1 + i % 4 readers.
class SelectNodules : public ::testing::Test {
 protected:
  SelectNodules() {
    const storage::StoreAttributes attributes = testing::square_attributes(8);
    storage::testing::write_store(folder_ / "store", attributes, testing::patterned_nodules(attributes, 30));
    store_ = std::make_unique<storage::NoduleStore>(storage::NoduleStore::open(folder_ / "store"));
  }
  const storage::NoduleStore& store() const { return *store_; }

  testing::TemporaryFolder folder_;
  std::unique_ptr<storage::NoduleStore> store_;
};

std::vector<std::size_t> range(std::size_t begin, std::size_t end) {
  std::vector<std::size_t> r;
  for (std::size_t i = begin; i < end; ++i) r.push_back(i);
  return r;
}

TEST_F(SelectNodules, WithoutASplitEverythingTrains) {
  const JobNodules job = select_nodules(store(), {}, Config{});
  EXPECT_EQ(job.train, range(0, 30));
  EXPECT_TRUE(job.validation.empty());
  EXPECT_TRUE(job.test.empty());
}

TEST_F(SelectNodules, FiltersApplyToTrainingOnly) {
  Config config;
  config.data.min_annotators = 2;
  const JobNodules job = select_nodules(store(), {"n4", "n0", "n5"}, config);
  EXPECT_EQ(job.test, (std::vector<std::size_t>{0, 4, 5}));  // n0 and n4 have one reader: still tested
  for (std::size_t i : job.train) {
    EXPECT_GE(store().info(i).annotator_count, 2);
    EXPECT_EQ(std::count(job.test.begin(), job.test.end(), i), 0);
  }
  EXPECT_EQ(job.train.size(), 30u - 3u - 6u);  // 8 one-reader nodules, 2 of them tested

  config.data.limit = 4;
  EXPECT_EQ(select_nodules(store(), {"n4", "n0", "n5"}, config).train, (std::vector<std::size_t>{1, 2, 3, 6}));
}

TEST_F(SelectNodules, ValidationIsCarvedOutByPatient) {
  Config config;
  config.training.validation_fraction = 0.2;
  config.training.seed = 3;
  const JobNodules job = select_nodules(store(), {"n0", "n1", "n2"}, config);
  EXPECT_GE(job.validation.size(), 6u);  // ceil(0.2 * 27) nodules, whole patients of 3
  EXPECT_EQ(job.validation.size() % 3, 0u);
  std::set<std::size_t> all(job.train.begin(), job.train.end());
  for (std::size_t i : job.validation) EXPECT_TRUE(all.insert(i).second) << "in train and validation: " << i;
  const std::vector<std::size_t> candidates = range(3, 30);
  EXPECT_EQ(all, std::set<std::size_t>(candidates.begin(), candidates.end()));
  std::set<std::string> validation_patients;
  for (std::size_t i : job.validation) validation_patients.insert(store().info(i).patient_id);
  for (std::size_t i : job.train) EXPECT_EQ(validation_patients.count(store().info(i).patient_id), 0u);
  EXPECT_TRUE(std::is_sorted(job.validation.begin(), job.validation.end()));

  EXPECT_EQ(select_nodules(store(), {"n0", "n1", "n2"}, config).validation, job.validation);  // deterministic
  std::set<std::vector<std::size_t>> carve_outs;
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    config.training.seed = seed;
    carve_outs.insert(select_nodules(store(), {"n0", "n1", "n2"}, config).validation);
  }
  EXPECT_GT(carve_outs.size(), 1u) << "the seed does not change the validation patients";
}

TEST_F(SelectNodules, RefusesWhatLeavesNothingToTrainOn) {
  Config config;
  const std::string where = store().path().string();
  try {
    select_nodules(store(), {"n0", "x9"}, config);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(e.what(), where + ": the split's test nodule 'x9' is not in the store");
  }
  config.data.limit = 3;
  config.training.validation_fraction = 0.5;  // the first 3 nodules are one patient
  EXPECT_THROW(select_nodules(store(), {}, config), std::runtime_error);
  config.data.limit = 0;
  config.training.validation_fraction = 0;
  config.data.min_annotators = 4;
  std::vector<std::string> four_readers;
  for (int i = 3; i < 30; i += 4) four_readers.push_back("n" + std::to_string(i));
  EXPECT_THROW(select_nodules(store(), four_readers, config), std::runtime_error);
}

}  // namespace
}  // namespace ugs::worker
