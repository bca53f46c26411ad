// The nodule store refuses every kind of malformed input with one line naming the file and the
// problem: structure and metadata on open, pixel content on every read.
#include <gtest/gtest.h>

#include <H5Cpp.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "storage/test_support.h"
#include "ugs/storage/files.h"
#include "ugs/storage/store.h"

namespace ugs::storage {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kHeight = 6;
constexpr int kWidth = 5;
constexpr int kNodulesPerShard = 4;

// A valid store of 10 nodules in shards of 4, 4, 2, then broken by each test in one way.
class BrokenStore : public ::testing::Test {
 protected:
  void SetUp() override { write(ReaderMasks::kPerReader); }

  void write(ReaderMasks masks) {
    remove_tree(dir_);
    attributes_.height = kHeight;
    attributes_.width = kWidth;
    attributes_.reader_masks = masks;
    attributes_.source = "validation test";
    nodules_ = testing::random_nodules(attributes_, 10);
    testing::write_store(dir_, attributes_, nodules_, kNodulesPerShard);
  }

  fs::path shard(int number) const {
    char name[32];
    std::snprintf(name, sizeof name, "shard-%05d.h5", number);
    return dir_ / name;
  }

  // Runs `edit` on shard `number` opened for writing.
  void edit_shard(int number, const std::function<void(H5::H5File&)>& edit) const {
    H5::H5File file(shard(number).string(), H5F_ACC_RDWR);
    edit(file);
  }

  // Replaces dataset `name` of shard `number` by an unwritten one of another type or shape.
  void replace_dataset(int number, const char* name, const H5::DataType& type, std::vector<hsize_t> shape) const {
    edit_shard(number, [&](H5::H5File& file) {
      file.unlink(name);
      file.createDataSet(name, type, H5::DataSpace(static_cast<int>(shape.size()), shape.data()));
    });
  }

  void rewrite_strings(int number, const char* name, const std::vector<std::string>& values) const {
    edit_shard(number, [&](H5::H5File& file) {
      file.unlink(name);
      std::vector<const char*> raw;
      for (const std::string& v : values) raw.push_back(v.c_str());
      H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
      const hsize_t n = values.size();
      file.createDataSet(name, type, H5::DataSpace(1, &n)).write(raw.data(), type);
    });
  }

  // Writes one element of a dataset in place.
  template <typename T>
  void poke(int number, const char* name, std::vector<hsize_t> at, T value, const H5::PredType& type) const {
    edit_shard(number, [&](H5::H5File& file) {
      H5::DataSet dataset = file.openDataSet(name);
      H5::DataSpace space = dataset.getSpace();
      std::vector<hsize_t> one(at.size(), 1);
      space.selectHyperslab(H5S_SELECT_SET, one.data(), at.data());
      const hsize_t single = 1;
      dataset.write(&value, type, H5::DataSpace(1, &single), space);
    });
  }

  void set_attribute(int number, const char* name, const std::string& value) const {
    edit_shard(number, [&](H5::H5File& file) {
      file.removeAttr(name);
      H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
      file.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, value);
    });
  }

  void set_version_attribute(int number, int version) const {
    edit_shard(number, [&](H5::H5File& file) {
      file.removeAttr("version");
      file.createAttribute("version", H5::PredType::STD_I32LE, H5::DataSpace(H5S_SCALAR))
          .write(H5::PredType::NATIVE_INT, &version);
    });
  }

  void edit_index(const std::function<void(json&)>& edit) const {
    json index;
    std::ifstream(dir_ / "index.json") >> index;
    edit(index);
    std::ofstream(dir_ / "index.json") << index.dump(2);
  }

  void write_file(const fs::path& path, const std::string& bytes) const {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }

  void expect_open_error(const fs::path& file, const std::string& problem) const {
    testing::expect_error([&] { NoduleStore::open(dir_); }, file, problem);
  }

  // Opens fine, but reading nodule `index` (alone, in a batch, or all) fails.
  void expect_read_error(std::size_t index, const fs::path& file, const std::string& problem) const {
    const NoduleStore store = NoduleStore::open(dir_);
    testing::expect_error([&] { store.read(index); }, file, problem);
    testing::expect_error([&] { store.read(std::vector<std::size_t>{0, index}); }, file, problem);
    testing::expect_error([&] { store.read_all(); }, file, problem);
    const std::size_t neighbour = index % kNodulesPerShard == 0 ? index + 1 : index - 1;
    EXPECT_NO_THROW(store.read(neighbour));  // the rest of the shard stays readable
  }

  testing::TemporaryFolder folder_;
  fs::path dir_ = folder_ / "store";
  StoreAttributes attributes_;
  std::vector<Nodule> nodules_;
};

// ---- index.json ----

TEST_F(BrokenStore, MissingIndex) {
  fs::remove(dir_ / "index.json");
  expect_open_error(dir_ / "index.json", "missing");
}

TEST_F(BrokenStore, NotAFolder) {
  testing::expect_error([&] { NoduleStore::open(dir_ / "index.json"); }, dir_ / "index.json", "not a folder");
}

TEST_F(BrokenStore, MalformedIndexJson) {
  std::string text;
  {
    std::ifstream in(dir_ / "index.json");
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_file(dir_ / "index.json", text.substr(0, text.size() / 2));
  expect_open_error(dir_ / "index.json", "malformed JSON");
}

TEST_F(BrokenStore, IndexMissingKeyOrWrongType) {
  edit_index([](json& index) { index["attributes"].erase("width"); });
  expect_open_error(dir_ / "index.json", "'attributes.width' is missing");
  edit_index([](json& index) { index["attributes"]["width"] = "5"; });
  expect_open_error(dir_ / "index.json", "'attributes.width' is not an integer");
  edit_index([](json& index) {
    index["attributes"]["width"] = kWidth;
    index["attributes"]["image_unit"] = "kelvin";
  });
  expect_open_error(dir_ / "index.json", "image_unit 'kelvin'");
}

TEST_F(BrokenStore, IndexWrongSchema) {
  edit_index([](json& index) { index["schema"] = "something.else"; });
  expect_open_error(dir_ / "index.json", "schema is 'something.else', expected 'ugs.nodule-store'");
}

TEST_F(BrokenStore, IndexVersionFromTheFuture) {
  edit_index([](json& index) { index["version"] = kSchemaVersion + 1; });
  expect_open_error(dir_ / "index.json", "format version 2 is newer than this ugs reads");
}

TEST_F(BrokenStore, IndexNoduleCountDisagreesWithShards) {
  edit_index([](json& index) { index["nodule_count"] = 11; });
  expect_open_error(dir_ / "index.json", "'nodule_count' is 11 but the shards hold 10");
}

TEST_F(BrokenStore, IndexShardCountDisagreesWithTheShardFile) {
  edit_index([](json& index) {
    index["shards"][1]["nodules"] = 5;
    index["nodule_count"] = 11;
  });
  expect_open_error(shard(1), "holds 4 nodules but index.json says 5");
}

TEST_F(BrokenStore, ShardFileNotListedInIndex) {
  fs::copy_file(shard(2), shard(3));
  expect_open_error(dir_ / "index.json", "the folder holds shard 'shard-00003.h5' that the index does not list");
}

TEST_F(BrokenStore, IndexListsAShardPath) {
  edit_index([](json& index) { index["shards"][0]["file"] = "../elsewhere.h5"; });
  expect_open_error(dir_ / "index.json", "is not a plain file name");
}

// ---- shard files ----

TEST_F(BrokenStore, MissingShard) {
  fs::remove(shard(1));
  expect_open_error(shard(1), "missing (listed in index.json)");
}

TEST_F(BrokenStore, NotAnHdf5File) {
  write_file(shard(0), "this is not HDF5, just some text long enough to look like a file\n");
  expect_open_error(shard(0), "not an HDF5 file");
}

TEST_F(BrokenStore, TruncatedShard) {
  fs::resize_file(shard(2), fs::file_size(shard(2)) / 2);
  expect_open_error(shard(2), "cannot open: truncated file");
}

TEST_F(BrokenStore, ShardWrongSchemaAttribute) {
  set_attribute(1, "schema", "other");
  expect_open_error(shard(1), "schema is 'other', expected 'ugs.nodule-store'");
}

TEST_F(BrokenStore, ShardVersionFromTheFuture) {
  set_version_attribute(0, kSchemaVersion + 1);
  expect_open_error(shard(0), "format version 2 is newer than this ugs reads");
}

TEST_F(BrokenStore, ShardMissingAttribute) {
  edit_shard(2, [](H5::H5File& file) { file.removeAttr("source"); });
  expect_open_error(shard(2), "attribute 'source' is missing");
}

TEST_F(BrokenStore, ShardAttributeDisagreesWithIndex) {
  set_attribute(1, "image_unit", "window8");
  expect_open_error(shard(1), "attribute 'image_unit' is 'window8' but index.json says 'HU'");
}

// A fixed-length, space-padded string attribute (as h5py or Fortran may write it) is read without
// its padding, so it equals the index's value.
TEST_F(BrokenStore, FixedLengthStringAttributeIsReadWithoutPadding) {
  edit_shard(1, [](H5::H5File& file) {
    file.removeAttr("source");
    std::string padded = "validation test";
    padded.resize(32, ' ');
    H5::StrType type(H5::PredType::C_S1, padded.size());
    type.setStrpad(H5T_STR_SPACEPAD);
    file.createAttribute("source", type, H5::DataSpace(H5S_SCALAR)).write(type, padded.data());
  });
  EXPECT_EQ(NoduleStore::open(dir_).attributes().source, "validation test");
}

TEST_F(BrokenStore, MissingDataset) {
  edit_shard(1, [](H5::H5File& file) { file.unlink("union"); });
  expect_open_error(shard(1), "dataset /union is missing");
  write(ReaderMasks::kPerReader);
  edit_shard(0, [](H5::H5File& file) { file.unlink("patient_id"); });
  expect_open_error(shard(0), "dataset /patient_id is missing");
}

TEST_F(BrokenStore, WrongRank) {
  replace_dataset(0, "image", H5::PredType::IEEE_F32LE, {4, kHeight * kWidth});
  expect_open_error(shard(0), "/image has shape [4,30], expected [4,6,5]");
}

TEST_F(BrokenStore, WrongShape) {
  replace_dataset(2, "intersection", H5::PredType::STD_U8LE, {2, kHeight, kWidth - 1});
  expect_open_error(shard(2), "/intersection has shape [2,6,4], expected [2,6,5]");
  write(ReaderMasks::kPerReader);
  replace_dataset(1, "annotators", H5::PredType::STD_U8LE, {4, 3, kHeight, kWidth});
  expect_open_error(shard(1), "/annotators has shape [4,3,6,5], expected [4,4,6,5]");
  write(ReaderMasks::kPerReader);
  replace_dataset(1, "spacing_mm", H5::PredType::IEEE_F64LE, {4});
  expect_open_error(shard(1), "/spacing_mm has shape [4], expected [4,2]");
}

TEST_F(BrokenStore, WrongDtype) {
  replace_dataset(0, "image", H5::PredType::IEEE_F64LE, {4, kHeight, kWidth});
  expect_open_error(shard(0), "/image has type float64, expected float32");
  write(ReaderMasks::kPerReader);
  replace_dataset(1, "union", H5::PredType::STD_I16LE, {4, kHeight, kWidth});
  expect_open_error(shard(1), "/union has type int16, expected uint8");
  write(ReaderMasks::kPerReader);
  replace_dataset(1, "annotator_count", H5::PredType::STD_I8LE, {4});
  expect_open_error(shard(1), "/annotator_count has type int8, expected uint8");
  write(ReaderMasks::kPerReader);
  replace_dataset(0, "nodule_id", H5::StrType(H5::PredType::C_S1, 8), {4});
  expect_open_error(shard(0), "/nodule_id has type fixed-length string, expected string");
}

TEST_F(BrokenStore, AnnotatorCountOutOfRange) {
  poke<std::uint8_t>(1, "annotator_count", {2}, 5, H5::PredType::NATIVE_UINT8);
  expect_open_error(shard(1), "annotator_count 5, expected 1..4 in a per-reader store");
  write(ReaderMasks::kPerReader);
  poke<std::uint8_t>(0, "annotator_count", {0}, 0, H5::PredType::NATIVE_UINT8);
  expect_open_error(shard(0), "annotator_count 0, expected 1..4");
  write(ReaderMasks::kUnionIntersectionOnly);
  poke<std::uint8_t>(2, "annotator_count", {1}, 2, H5::PredType::NATIVE_UINT8);
  expect_open_error(shard(2), "annotator_count 2, expected 0 in a union-intersection-only store");
}

TEST_F(BrokenStore, DuplicateNoduleIdWithinAShard) {
  rewrite_strings(1, "nodule_id", {"n4", "n5", "n4", "n7"});
  expect_open_error(shard(1), "nodule id 'n4' appears twice (also in shard-00001.h5)");
}

TEST_F(BrokenStore, DuplicateNoduleIdAcrossShards) {
  rewrite_strings(2, "nodule_id", {"n8", "n1"});
  expect_open_error(shard(2), "nodule id 'n1' appears twice (also in shard-00000.h5)");
}

TEST_F(BrokenStore, EmptyIds) {
  rewrite_strings(0, "patient_id", {"p0", "", "p1", "p1"});
  expect_open_error(shard(0), "nodule 1: nodule 'n1': empty patient id");
}

TEST_F(BrokenStore, BadSpacingOrDiameter) {
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), 0.0, -0.5}) {
    write(ReaderMasks::kPerReader);
    poke<double>(1, "spacing_mm", {3, 1}, bad, H5::PredType::NATIVE_DOUBLE);
    expect_open_error(shard(1), "nodule 'n7': spacing_mm");
  }
  write(ReaderMasks::kPerReader);
  poke<double>(0, "diameter_mm", {2}, std::nan(""), H5::PredType::NATIVE_DOUBLE);
  expect_open_error(shard(0), "nodule 'n2': diameter_mm");
}

// ---- pixel content: found on read ----

TEST_F(BrokenStore, MaskValueOtherThanZeroOrOne) {
  poke<std::uint8_t>(1, "union", {1, 2, 3}, 255, H5::PredType::NATIVE_UINT8);
  expect_read_error(5, shard(1), "nodule 'n5': union is 255 at (row 2, column 3), expected 0 or 1");
}

TEST_F(BrokenStore, AnnotatorMaskValueOtherThanZeroOrOne) {
  poke<std::uint8_t>(0, "annotators", {3, 2, 0, 1}, 7, H5::PredType::NATIVE_UINT8);  // n3 has 4 readers
  expect_read_error(3, shard(0), "nodule 'n3': annotator 2 is 7 at (row 0, column 1)");
}

TEST_F(BrokenStore, NonFiniteImage) {
  poke<float>(2, "image", {1, 5, 4}, std::nanf(""), H5::PredType::NATIVE_FLOAT);
  expect_read_error(9, shard(2), "nodule 'n9': image is nan at (row 5, column 4)");
}

TEST_F(BrokenStore, UnionInconsistentWithAnnotators) {
  const Nodule& n6 = nodules_[6];
  const std::size_t pixel = std::find(n6.union_mask.begin(), n6.union_mask.end(), 1) - n6.union_mask.begin();
  ASSERT_LT(pixel, n6.union_mask.size());
  poke<std::uint8_t>(1, "union", {2, pixel / kWidth, pixel % kWidth}, 0, H5::PredType::NATIVE_UINT8);
  expect_read_error(6, shard(1), "nodule 'n6': union is 0");
}

TEST_F(BrokenStore, IntersectionInconsistentWithAnnotators) {
  const Nodule& n2 = nodules_[2];  // 3 readers
  const std::size_t pixel =
      std::find(n2.intersection_mask.begin(), n2.intersection_mask.end(), 1) - n2.intersection_mask.begin();
  ASSERT_LT(pixel, n2.intersection_mask.size());
  poke<std::uint8_t>(0, "annotators", {2, 1, pixel / kWidth, pixel % kWidth}, 0, H5::PredType::NATIVE_UINT8);
  expect_read_error(2, shard(0), "nodule 'n2': intersection is 1");
}

TEST_F(BrokenStore, IntersectionOutsideUnion) {
  write(ReaderMasks::kUnionIntersectionOnly);
  const Nodule& n1 = nodules_[1];
  const std::size_t pixel = std::find(n1.union_mask.begin(), n1.union_mask.end(), 0) - n1.union_mask.begin();
  ASSERT_LT(pixel, n1.union_mask.size());
  poke<std::uint8_t>(0, "intersection", {1, pixel / kWidth, pixel % kWidth}, 1, H5::PredType::NATIVE_UINT8);
  expect_read_error(1, shard(0), "nodule 'n1': intersection is 1 outside the union");
}

TEST_F(BrokenStore, AnnotatorSlotBeyondCountNotZero) {
  poke<std::uint8_t>(2, "annotators", {0, 3, 0, 0}, 1, H5::PredType::NATIVE_UINT8);  // n8 has 1 reader
  expect_read_error(8, shard(2), "nodule 'n8': an annotator slot beyond its 1 annotators is not zero");
}

}  // namespace
}  // namespace ugs::storage
