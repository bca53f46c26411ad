// The nodule store: round trips through the writer and the reader, and the writer's atomicity.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "storage/test_nodules.h"
#include "ugs/storage/store.h"

namespace ugs::storage {
namespace {

namespace fs = std::filesystem;
using testing::TemporaryFolder;

StoreAttributes per_reader_attributes() {
  StoreAttributes attributes;
  attributes.height = 12;
  attributes.width = 10;
  attributes.source = "store_test";
  return attributes;
}

TEST(NoduleStore, RoundTripRandomAccessBatchAndReadAll) {
  TemporaryFolder folder;
  const StoreAttributes attributes = per_reader_attributes();
  const std::vector<Nodule> nodules = testing::random_nodules(attributes, 23);
  testing::write_store(folder / "s", attributes, nodules, /*nodules_per_shard=*/5);

  NoduleStore store = NoduleStore::open(folder / "s");
  EXPECT_EQ(store.size(), nodules.size());
  EXPECT_EQ(store.shard_count(), 5);  // 5+5+5+5+3
  EXPECT_EQ(store.attributes().height, 12);
  EXPECT_EQ(store.attributes().width, 10);
  EXPECT_EQ(store.attributes().image_unit, ImageUnit::kHounsfield);
  EXPECT_EQ(store.attributes().reader_masks, ReaderMasks::kPerReader);
  EXPECT_EQ(store.attributes().source, "store_test");
  for (std::size_t i = 0; i < nodules.size(); ++i) {
    EXPECT_EQ(store.info(i).nodule_id, nodules[i].info.nodule_id);
    EXPECT_EQ(store.find(nodules[i].info.nodule_id), i);
  }
  EXPECT_FALSE(store.find("absent").has_value());

  testing::expect_same_nodule(nodules[17], store.read(17));
  testing::expect_same_nodule(nodules[0], store.read(0));

  // Across shards, unsorted, with a run of neighbours and a repeat: returned in the caller's order.
  const std::vector<std::size_t> batch = {22, 3, 4, 5, 11, 0, 3, 19};
  const std::vector<Nodule> read = store.read(batch);
  ASSERT_EQ(read.size(), batch.size());
  for (std::size_t k = 0; k < batch.size(); ++k) testing::expect_same_nodule(nodules[batch[k]], read[k]);

  const std::vector<Nodule> all = store.read_all();
  ASSERT_EQ(all.size(), nodules.size());
  for (std::size_t i = 0; i < nodules.size(); ++i) testing::expect_same_nodule(nodules[i], all[i]);

  EXPECT_THROW(store.read(23), std::out_of_range);
  EXPECT_THROW(store.read(std::vector<std::size_t>{1, 99}), std::out_of_range);
}

TEST(NoduleStore, RoundTripUnionIntersectionOnlyWindow8) {
  TemporaryFolder folder;
  StoreAttributes attributes = per_reader_attributes();
  attributes.image_unit = ImageUnit::kWindow8;
  attributes.reader_masks = ReaderMasks::kUnionIntersectionOnly;
  const std::vector<Nodule> nodules = testing::random_nodules(attributes, 6);
  testing::write_store(folder / "s", attributes, nodules);
  NoduleStore store = NoduleStore::open(folder / "s");
  EXPECT_EQ(store.attributes().image_unit, ImageUnit::kWindow8);
  EXPECT_EQ(store.attributes().reader_masks, ReaderMasks::kUnionIntersectionOnly);
  const std::vector<Nodule> all = store.read_all();
  ASSERT_EQ(all.size(), nodules.size());
  for (std::size_t i = 0; i < nodules.size(); ++i) {
    testing::expect_same_nodule(nodules[i], all[i]);
    EXPECT_TRUE(all[i].annotators.empty());
  }
}

TEST(NoduleStore, OpensASubsetOfShards) {
  TemporaryFolder folder;
  const StoreAttributes attributes = per_reader_attributes();
  const std::vector<Nodule> nodules = testing::random_nodules(attributes, 10);
  testing::write_store(folder / "s", attributes, nodules, 4);  // shards of 4, 4, 2
  NoduleStore store = NoduleStore::open(folder / "s", {2, 0});
  ASSERT_EQ(store.size(), 6u);
  EXPECT_EQ(store.shard_count(), 2);
  testing::expect_same_nodule(nodules[8], store.read(0));
  testing::expect_same_nodule(nodules[9], store.read(1));
  testing::expect_same_nodule(nodules[0], store.read(2));
  EXPECT_FALSE(store.find("n4").has_value());
  EXPECT_THROW(NoduleStore::open(folder / "s", {3}), std::out_of_range);
  EXPECT_THROW(NoduleStore::open(folder / "s", {1, 1}), std::invalid_argument);
}

TEST(NoduleStore, ConcurrentReadersGetTheirOwnNodules) {
  TemporaryFolder folder;
  const StoreAttributes attributes = per_reader_attributes();
  const std::vector<Nodule> nodules = testing::random_nodules(attributes, 40);
  testing::write_store(folder / "s", attributes, nodules, 16);
  const NoduleStore store = NoduleStore::open(folder / "s");
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        const std::vector<std::size_t> batch = {std::size_t((t * 7 + round) % 40), std::size_t((round * 13) % 40)};
        const std::vector<Nodule> read = store.read(batch);
        for (std::size_t k = 0; k < batch.size(); ++k) {
          mismatches[t] += read[k].image != nodules[batch[k]].image;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// ---- the writer ----

TEST(NoduleStoreWriter, NothingAtTheTargetUntilFinish) {
  TemporaryFolder folder;
  const StoreAttributes attributes = per_reader_attributes();
  const std::vector<Nodule> nodules = testing::random_nodules(attributes, 7);
  const fs::path dir = folder / "s";
  {
    NoduleStoreWriter writer(dir, attributes, 3);
    for (const Nodule& nodule : nodules) writer.add(nodule);  // two full shards are on disk by now
    EXPECT_FALSE(fs::exists(dir));
    writer.finish();
    EXPECT_TRUE(fs::exists(dir / "index.json"));
  }
  // Only the store remains: no temporary folder or file beside it or in it.
  std::vector<std::string> beside, inside;
  for (const auto& entry : fs::directory_iterator(folder.path())) beside.push_back(entry.path().filename());
  for (const auto& entry : fs::directory_iterator(dir)) inside.push_back(entry.path().filename());
  std::sort(inside.begin(), inside.end());
  EXPECT_EQ(beside, std::vector<std::string>{"s"});
  EXPECT_EQ(inside, (std::vector<std::string>{"index.json", "shard-00000.h5", "shard-00001.h5", "shard-00002.h5"}));
}

TEST(NoduleStoreWriter, DestroyedWithoutFinishLeavesNothing) {
  TemporaryFolder folder;
  const StoreAttributes attributes = per_reader_attributes();
  {
    NoduleStoreWriter writer(folder / "s", attributes, 2);
    for (const Nodule& nodule : testing::random_nodules(attributes, 5)) writer.add(nodule);
  }
  EXPECT_TRUE(fs::is_empty(folder.path()));
}

TEST(NoduleStoreWriter, RefusesAnExistingStoreUnlessOverwrite) {
  TemporaryFolder folder;
  const StoreAttributes attributes = per_reader_attributes();
  const fs::path dir = folder / "s";
  testing::write_store(dir, attributes, testing::random_nodules(attributes, 3, 1));
  EXPECT_THROW(NoduleStoreWriter(dir, attributes), std::runtime_error);

  const std::vector<Nodule> replacement = testing::random_nodules(attributes, 4, 2);
  {
    NoduleStoreWriter writer(dir, attributes, 512, /*overwrite=*/true);
    for (const Nodule& nodule : replacement) writer.add(nodule);
    EXPECT_EQ(NoduleStore::open(dir).size(), 3u);  // the old store stays valid until finish()
    writer.finish();
  }
  NoduleStore store = NoduleStore::open(dir);
  ASSERT_EQ(store.size(), 4u);
  testing::expect_same_nodule(replacement[3], store.read(3));
  std::vector<std::string> beside;
  for (const auto& entry : fs::directory_iterator(folder.path())) beside.push_back(entry.path().filename());
  EXPECT_EQ(beside, std::vector<std::string>{"s"});
}

TEST(NoduleStoreWriter, RefusesAnEmptyStoreAndMisuse) {
  TemporaryFolder folder;
  const StoreAttributes attributes = per_reader_attributes();
  NoduleStoreWriter empty(folder / "empty", attributes);
  EXPECT_THROW(empty.finish(), std::runtime_error);
  EXPECT_FALSE(fs::exists(folder / "empty"));

  NoduleStoreWriter writer(folder / "s", attributes);
  writer.add(testing::random_nodules(attributes, 1)[0]);
  writer.finish();
  EXPECT_THROW(writer.add(testing::random_nodules(attributes, 1)[0]), std::logic_error);
  EXPECT_THROW(writer.finish(), std::logic_error);

  StoreAttributes no_pixels = attributes;
  no_pixels.width = 0;
  EXPECT_THROW(NoduleStoreWriter(folder / "x", no_pixels), std::runtime_error);
  EXPECT_THROW(NoduleStoreWriter(folder / "x", attributes, 0), std::runtime_error);
}

// Each invalid nodule is refused by add() with a message naming the problem; the writer stays usable.
TEST(NoduleStoreWriter, ValidatesEachNodule) {
  TemporaryFolder folder;
  const StoreAttributes attributes = per_reader_attributes();
  const Nodule good = testing::random_nodules(attributes, 1)[0];  // 1 reader
  const Nodule good3 = testing::random_nodule(attributes, "three", "p", 3, 5);
  NoduleStoreWriter writer(folder / "s", attributes);
  writer.add(good);

  auto expect_refused = [&](Nodule nodule, const std::string& expected_text) {
    try {
      writer.add(std::move(nodule));
      ADD_FAILURE() << "accepted a nodule that should fail with '" << expected_text << "'";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(expected_text), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  };
  Nodule n = good;
  expect_refused(n, "id already added");
  n.info.nodule_id = "";
  expect_refused(n, "empty nodule id");
  n = good3;
  n.info.patient_id = "";
  expect_refused(n, "empty patient id");
  n = good3;
  n.info.spacing_mm[1] = std::nan("");
  expect_refused(n, "spacing_mm");
  n = good3;
  n.info.diameter_mm = -1;
  expect_refused(n, "diameter_mm");
  n = good3;
  n.info.annotator_count = 0;
  expect_refused(n, "annotator_count 0, expected 1..4");
  n = good3;
  n.image.pop_back();
  expect_refused(n, "image has 119 values, expected 120");
  n = good3;
  n.image[13] = std::numeric_limits<float>::infinity();
  expect_refused(n, "image is inf at (row 1, column 3)");
  n = good3;
  n.annotators[120 + 5] = 2;
  expect_refused(n, "annotator 1 is 2 at (row 0, column 5), expected 0 or 1");
  n = good3;
  n.union_mask[0] = 1 - n.union_mask[0];
  expect_refused(n, "union is");
  n = good3;
  const auto centre = static_cast<std::size_t>(6 * 10 + 5);
  n.intersection_mask[centre] = 0;
  expect_refused(n, "intersection is 0 at (row 6, column 5) where the AND of the annotators is 1");

  writer.add(good3);
  writer.finish();
  EXPECT_EQ(NoduleStore::open(folder / "s").size(), 2u);
}

TEST(NoduleStoreWriter, UnionIntersectionOnlyStoresTakeNoAnnotators) {
  TemporaryFolder folder;
  StoreAttributes attributes = per_reader_attributes();
  attributes.reader_masks = ReaderMasks::kUnionIntersectionOnly;
  NoduleStoreWriter writer(folder / "s", attributes);
  EXPECT_THROW(writer.add(testing::random_nodule(attributes, "a", "p", 2, 1)), std::runtime_error);
  Nodule outside = testing::random_nodule(attributes, "b", "p", 0, 1);
  const auto background = std::find(outside.union_mask.begin(), outside.union_mask.end(), 0);
  ASSERT_NE(background, outside.union_mask.end());
  outside.intersection_mask[background - outside.union_mask.begin()] = 1;
  try {
    writer.add(outside);
    ADD_FAILURE() << "accepted an intersection outside the union";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("intersection is 1 outside the union"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace ugs::storage
