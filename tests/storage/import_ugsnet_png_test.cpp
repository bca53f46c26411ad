// Import of the UGS-Net authors' PNG layout: the 12 real LIDC-IDRI nodules, and every way a layout
// can be broken (built here with write_png_gray8).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "storage/test_support.h"
#include "ugs/storage/import_ugsnet_png.h"
#include "ugs/storage/png_io.h"
#include "ugs/storage/store.h"

namespace ugs::storage {
namespace {

namespace fs = std::filesystem;
using testing::TemporaryFolder;

TEST(ImportUgsnetPng, TwelveRealNodules) {
  const fs::path samples = testing::ugsnet_png_samples();
  ASSERT_TRUE(fs::is_directory(samples)) << testing::kMissingSamples;
  TemporaryFolder folder;
  const UgsnetPngImport done = import_ugsnet_png(samples, folder / "store", {});
  EXPECT_EQ(done.nodules, 12u);
  EXPECT_EQ(done.patients, 6u);

  const NoduleStore store = NoduleStore::open(folder / "store");
  EXPECT_EQ(store.attributes().height, 50);
  EXPECT_EQ(store.attributes().width, 50);
  EXPECT_EQ(store.attributes().image_unit, ImageUnit::kWindow8);
  EXPECT_EQ(store.attributes().reader_masks, ReaderMasks::kUnionIntersectionOnly);
  EXPECT_NE(store.attributes().source.find("spacing_mm=1 assumed"), std::string::npos);
  EXPECT_NE(store.attributes().source.find("LIDC-IDRI"), std::string::npos);
  ASSERT_EQ(store.size(), 12u);
  const std::optional<std::size_t> first = store.find("LIDC-IDRI-0002_1_3000522");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(store.info(*first).patient_id, "LIDC-IDRI-0002");

  std::set<std::string> patients;
  for (const Nodule& nodule : store.read_all()) {
    const std::string& id = nodule.info.nodule_id;
    patients.insert(nodule.info.patient_id);
    EXPECT_EQ(id.rfind(nodule.info.patient_id + "_", 0), 0u) << id;
    EXPECT_EQ(nodule.info.annotator_count, 0);
    EXPECT_TRUE(nodule.annotators.empty());
    // Against the PNG files: the image as is, masks 0/255 -> 0/1, and the difference mask is
    // exactly what the store's union and intersection imply.
    const GrayImage image = read_png_gray8(samples / (id + ".png"));
    const GrayImage union_png = read_png_gray8(samples / (id + "_union.png"));
    const GrayImage difference_png = read_png_gray8(samples / (id + "_dif.png"));
    std::size_t area = 0;
    for (std::size_t p = 0; p < 2500; ++p) {
      ASSERT_EQ(nodule.image[p], image.pixels[p]) << id;
      ASSERT_EQ(nodule.union_mask[p] * 255, union_png.pixels[p]) << id;
      ASSERT_EQ((nodule.union_mask[p] && !nodule.intersection_mask[p]) * 255, difference_png.pixels[p]) << id;
      area += nodule.union_mask[p];
    }
    EXPECT_GT(area, 0u) << id;
    EXPECT_NEAR(nodule.info.diameter_mm, 2 * std::sqrt(area / M_PI), 1e-9) << id;
    EXPECT_EQ(nodule.info.spacing_mm, (std::array<double, 2>{1.0, 1.0}));
  }
  EXPECT_EQ(patients.size(), 6u);
}

TEST(ImportUgsnetPng, SpacingScalesDiametersAndIsRecorded) {
  const fs::path samples = testing::ugsnet_png_samples();
  ASSERT_TRUE(fs::is_directory(samples)) << testing::kMissingSamples;
  TemporaryFolder folder;
  import_ugsnet_png(samples, folder / "px", {});
  import_ugsnet_png(samples, folder / "mm", {0.7, false});
  const NoduleStore px = NoduleStore::open(folder / "px");
  const NoduleStore mm = NoduleStore::open(folder / "mm");
  EXPECT_NE(mm.attributes().source.find("spacing_mm=0.7 assumed"), std::string::npos) << mm.attributes().source;
  for (std::size_t i = 0; i < px.size(); ++i) {
    EXPECT_NEAR(mm.info(i).diameter_mm, 0.7 * px.info(i).diameter_mm, 1e-9);
    EXPECT_EQ(mm.info(i).spacing_mm, (std::array<double, 2>{0.7, 0.7}));
  }
  EXPECT_THROW(import_ugsnet_png(samples, folder / "px", {}), std::runtime_error);  // exists
  EXPECT_NO_THROW(import_ugsnet_png(samples, folder / "px", {1.0, /*overwrite=*/true}));
  EXPECT_THROW(import_ugsnet_png(samples, folder / "bad", {0.0, false}), std::runtime_error);
}

TEST(ImportUgsnetPng, CommandLine) {
  const fs::path samples = testing::ugsnet_png_samples();
  ASSERT_TRUE(fs::is_directory(samples)) << testing::kMissingSamples;
  TemporaryFolder folder;
  const std::string out = (folder / "store").string();
  const auto done = testing::run_ugs("import ugsnet-png '" + samples.string() + "' '" + out + "' --spacing-mm 0.5");
  EXPECT_EQ(done.exit_code, 0) << done.output;
  EXPECT_NE(done.output.find("imported 12 nodules of 6 patients"), std::string::npos) << done.output;
  EXPECT_EQ(NoduleStore::open(out).size(), 12u);
  const auto again = testing::run_ugs("import ugsnet-png '" + samples.string() + "' '" + out + "'");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.output, "ugs: error: " + out + ": already exists; refusing to overwrite it (--force replaces it)\n");
}

// ---- broken layouts ----

class BrokenLayout : public ::testing::Test {
 protected:
  static constexpr int kSize = 8;

  // A valid nodule: a 4x4 union square with a 2x2 intersection inside.
  void SetUp() override {
    image_.assign(kSize * kSize, 0);
    union_.assign(kSize * kSize, 0);
    intersection_.assign(kSize * kSize, 0);
    for (int p = 0; p < kSize * kSize; ++p) image_[p] = static_cast<std::uint8_t>(3 * p);
    for (int y = 2; y < 6; ++y) {
      for (int x = 2; x < 6; ++x) union_[y * kSize + x] = 255;
    }
    for (int y = 3; y < 5; ++y) {
      for (int x = 3; x < 5; ++x) intersection_[y * kSize + x] = 255;
    }
    write_nodule("P-0001_1_1");
    write_nodule("P-0002_1_1");
  }

  void write_nodule(const std::string& id) {
    std::vector<std::uint8_t> difference(kSize * kSize);
    for (int p = 0; p < kSize * kSize; ++p) difference[p] = union_[p] && !intersection_[p] ? 255 : 0;
    write_png_gray8(file(id, ""), kSize, kSize, image_);
    write_png_gray8(file(id, "_union"), kSize, kSize, union_);
    write_png_gray8(file(id, "_intersection"), kSize, kSize, intersection_);
    write_png_gray8(file(id, "_dif"), kSize, kSize, difference);
  }

  fs::path file(const std::string& id, const std::string& suffix) const { return input_ / (id + suffix + ".png"); }

  void expect_refused(const fs::path& named_file, const std::string& problem) {
    testing::expect_error([&] { import_ugsnet_png(input_, store_, {}); }, named_file, problem);
    EXPECT_FALSE(fs::exists(store_));
    EXPECT_EQ(std::distance(fs::directory_iterator(folder_.path()), {}), 1) << "a temporary folder was left";
  }

  TemporaryFolder folder_;
  fs::path input_ = [this] { fs::create_directories(folder_ / "png"); return folder_ / "png"; }();
  fs::path store_ = folder_ / "store";
  std::vector<std::uint8_t> image_, union_, intersection_;
};

TEST_F(BrokenLayout, ValidLayoutImports) {
  const UgsnetPngImport done = import_ugsnet_png(input_, store_, {});
  EXPECT_EQ(done.nodules, 2u);
  EXPECT_EQ(done.patients, 2u);
  const NoduleStore store = NoduleStore::open(store_);
  EXPECT_NEAR(store.info(0).diameter_mm, 2 * std::sqrt(16 / M_PI), 1e-12);
  EXPECT_EQ(store.info(1).patient_id, "P-0002");
}

TEST_F(BrokenLayout, MissingCompanion) {
  fs::remove(file("P-0002_1_1", "_intersection"));
  expect_refused(file("P-0002_1_1", "_intersection"), "missing (the mask of P-0002_1_1.png)");
}

TEST_F(BrokenLayout, CompanionWithoutImage) {
  fs::copy_file(file("P-0001_1_1", "_dif"), file("P-0003_1_1", "_dif"));
  expect_refused(file("P-0003_1_1", "_dif"), "no image P-0003_1_1.png beside it");
}

TEST_F(BrokenLayout, MaskValueOtherThan0Or255) {
  union_[2 * kSize + 3] = 128;
  write_nodule("P-0001_1_1");
  expect_refused(file("P-0001_1_1", "_union"), "value 128 at (row 2, column 3), expected 0 or 255");
}

TEST_F(BrokenLayout, DifferenceIsNotUnionMinusIntersection) {
  std::vector<std::uint8_t> difference(kSize * kSize, 0);  // empty, but the union has a ring
  write_png_gray8(file("P-0002_1_1", "_dif"), kSize, kSize, difference);
  expect_refused(file("P-0002_1_1", "_dif"), "0 at (row 2, column 2) where union AND NOT intersection is 255");
}

TEST_F(BrokenLayout, IntersectionOutsideUnion) {
  intersection_[0] = 255;
  write_nodule("P-0001_1_1");
  expect_refused(file("P-0001_1_1", "_intersection"), "255 at (row 0, column 0), outside the union");
}

TEST_F(BrokenLayout, EmptyUnion) {
  union_.assign(kSize * kSize, 0);
  intersection_.assign(kSize * kSize, 0);
  write_nodule("P-0002_1_1");
  expect_refused(file("P-0002_1_1", "_union"), "empty union mask");
}

TEST_F(BrokenLayout, SizesDiffer) {
  write_png_gray8(file("P-0002_1_1", "_union"), kSize, kSize - 1, std::vector<std::uint8_t>(kSize * (kSize - 1), 0));
  expect_refused(file("P-0002_1_1", "_union"), "8x7, expected 8x8");
}

TEST_F(BrokenLayout, IdWithoutPatient) {
  write_nodule("nopatient");
  expect_refused(file("nopatient", ""), "cannot take a patient id from 'nopatient'");
}

TEST_F(BrokenLayout, NotAPng) {
  std::ofstream(file("P-0001_1_1", "_union")) << "not a png";
  expect_refused(file("P-0001_1_1", "_union"), "not a readable PNG");
}

TEST_F(BrokenLayout, EmptyFolder) {
  for (const auto& entry : fs::directory_iterator(input_)) fs::remove(entry.path());
  expect_refused(input_, "no nodule images");
}

}  // namespace
}  // namespace ugs::storage
