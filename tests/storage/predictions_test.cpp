#include "ugs/storage/predictions.h"

#include <H5Cpp.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.h"

namespace ugs::storage {
namespace {

namespace fs = std::filesystem;

constexpr int kHeight = 6;
constexpr int kWidth = 5;

class PredictionsFile : public ::testing::Test {
 protected:
  // Three nodules with distinct, recognisable values in every map.
  static Predictions sample(bool with_optional_maps) {
    Predictions p;
    p.height = kHeight;
    p.width = kWidth;
    p.nodule_ids = {"LIDC-IDRI-0001/1", "LIDC-IDRI-0002/1", "synthetic/17"};
    auto ramp = [&](float offset) {
      std::vector<float> maps(p.size() * p.pixels());
      for (std::size_t k = 0; k < maps.size(); ++k) maps[k] = std::fmod(offset + 0.01f * k, 1.0f);
      return maps;
    };
    p.segmentation = ramp(0.0f);
    if (with_optional_maps) {
      p.union_map = ramp(0.25f);
      p.intersection_map = ramp(0.5f);
      p.annotation_map = ramp(0.75f);
    }
    return p;
  }

  // Writes a valid file, then lets `corrupt` change it with the raw HDF5 API.
  void write_then(const std::function<void(H5::H5File&)>& corrupt) {
    write_predictions(file_, sample(true));
    H5::H5File f(file_.string(), H5F_ACC_RDWR);
    corrupt(f);
  }

  // Reading must fail with one line that names the file and contains `phrase`.
  void expect_read_error(const std::string& phrase) {
    testing::expect_error([&] { read_predictions(file_); }, file_, phrase);
  }

  testing::TemporaryFolder folder_;
  fs::path file_ = folder_ / "predictions.h5";
};

TEST_F(PredictionsFile, RoundTripWithEveryMap) {
  Predictions written = sample(true);
  write_predictions(file_, written);
  Predictions read = read_predictions(file_);
  EXPECT_EQ(read.height, kHeight);
  EXPECT_EQ(read.width, kWidth);
  EXPECT_EQ(read.nodule_ids, written.nodule_ids);
  EXPECT_EQ(read.segmentation, written.segmentation);
  ASSERT_TRUE(read.union_map && read.intersection_map && read.annotation_map);
  EXPECT_EQ(*read.union_map, *written.union_map);
  EXPECT_EQ(*read.intersection_map, *written.intersection_map);
  EXPECT_EQ(*read.annotation_map, *written.annotation_map);
  EXPECT_EQ(read.of(read.segmentation, 2)[0], written.segmentation[2 * kHeight * kWidth]);
}

TEST_F(PredictionsFile, OptionalMapsStayAbsent) {
  write_predictions(file_, sample(false));
  Predictions read = read_predictions(file_);
  EXPECT_FALSE(read.union_map || read.intersection_map || read.annotation_map);
  EXPECT_EQ(read.segmentation, sample(false).segmentation);
}

TEST_F(PredictionsFile, WriterRefusesInvalidPredictionsAndLeavesNoFile) {
  auto expect_refused = [&](const std::function<void(Predictions&)>& spoil, const std::string& phrase) {
    Predictions p = sample(true);
    spoil(p);
    try {
      write_predictions(file_, p);
      FAIL() << "write_predictions accepted predictions that should fail with '" << phrase << "'";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(file_));
  };
  expect_refused([](Predictions& p) { p.nodule_ids[2] = p.nodule_ids[0]; },
                 "appears twice (rows 0 and 2)");
  expect_refused([](Predictions& p) { (*p.union_map)[kWidth + 3] = 1.5f; },
                 "/union of nodule 'LIDC-IDRI-0001/1' (row 0) has 1.5 at pixel (1,3), outside [0,1]");
  expect_refused(
      [](Predictions& p) {
        p.segmentation[kHeight * kWidth] = std::numeric_limits<float>::quiet_NaN();
      },
      "/segmentation of nodule 'LIDC-IDRI-0002/1' (row 1) has nan");
  expect_refused([](Predictions& p) { p.intersection_map->pop_back(); },
                 "/intersection has 89 values, expected 3*6*5");
  expect_refused([](Predictions& p) { p.nodule_ids.clear(); }, "holds no nodules");
  expect_refused([](Predictions& p) { p.nodule_ids[1].clear(); }, "/nodule_id row 1 is empty");
}

TEST_F(PredictionsFile, MissingFileNotHdf5AndTruncated) {
  expect_read_error("no such file");
  std::ofstream(file_) << "nodule_id,segmentation\n";
  expect_read_error("is not an HDF5 file");
  write_predictions(file_, sample(true));
  fs::resize_file(file_, fs::file_size(file_) / 2);
  expect_read_error("cannot read as HDF5: truncated file");
}

TEST_F(PredictionsFile, SchemaAndVersion) {
  write_then([](H5::H5File& f) {
    f.removeAttr("schema");
    H5::StrType type(H5::PredType::C_S1, 16);
    f.createAttribute("schema", type, H5::DataSpace(H5S_SCALAR)).write(type, std::string("ugs.nodule-store"));
  });
  expect_read_error("schema is 'ugs.nodule-store', expected 'ugs.predictions'");
  write_then([](H5::H5File& f) { f.removeAttr("schema"); });
  expect_read_error("attribute 'schema' is missing");
  write_then([](H5::H5File& f) {
    f.removeAttr("schema");
    const hsize_t two = 2;
    H5::StrType type(H5::PredType::C_S1, 16);
    f.createAttribute("schema", type, H5::DataSpace(1, &two)).write(type, "ugs.predictions\0ugs.predictions");
  });
  expect_read_error("attribute 'schema' is not a string");
  write_then([](H5::H5File& f) {
    int version = 2;
    f.openAttribute("version").write(H5::PredType::NATIVE_INT, &version);
  });
  expect_read_error("version 2 is not supported");
}

TEST_F(PredictionsFile, MissingAndUnknownDatasets) {
  write_then([](H5::H5File& f) { f.unlink("segmentation"); });
  expect_read_error("dataset /segmentation is missing");
  write_then([](H5::H5File& f) { f.unlink("nodule_id"); });
  expect_read_error("dataset /nodule_id is missing");
  write_then([](H5::H5File& f) {
    hsize_t dims[3] = {3, kHeight, kWidth};
    f.createDataSet("unoin", H5::PredType::IEEE_F32LE, H5::DataSpace(3, dims));
  });
  expect_read_error("unknown dataset /unoin");
}

TEST_F(PredictionsFile, WrongShapes) {
  write_then([](H5::H5File& f) {
    f.unlink("union");
    hsize_t dims[3] = {3, kHeight, kWidth - 1};
    f.createDataSet("union", H5::PredType::IEEE_F32LE, H5::DataSpace(3, dims));
  });
  expect_read_error("/union has shape [3,6,4], expected [3,6,5] like /segmentation");
  write_then([](H5::H5File& f) {
    f.unlink("segmentation");
    hsize_t dims[3] = {2, kHeight, kWidth};
    f.createDataSet("segmentation", H5::PredType::IEEE_F32LE, H5::DataSpace(3, dims));
  });
  expect_read_error("/segmentation has shape [2,6,5], expected [3,H,W] (one map per /nodule_id)");
  write_then([](H5::H5File& f) {
    f.unlink("annotation");
    hsize_t dims[3] = {3, kHeight, kWidth};
    f.createDataSet("annotation", H5::PredType::STD_U8LE, H5::DataSpace(3, dims));
  });
  expect_read_error("/annotation is not a floating-point dataset");
}

TEST_F(PredictionsFile, ValuesOutsideTheUnitIntervalOrNaN) {
  for (float bad : {1.5f, -0.25f, std::numeric_limits<float>::quiet_NaN()}) {
    write_then([&](H5::H5File& f) {
      std::vector<float> values = *sample(true).intersection_map;
      values[2 * kHeight * kWidth + kWidth * 4 + 1] = bad;
      f.openDataSet("intersection").write(values.data(), H5::PredType::NATIVE_FLOAT);
    });
    expect_read_error("/intersection of nodule 'synthetic/17' (row 2) has");
    expect_read_error("at pixel (4,1), outside [0,1]");
  }
}

TEST_F(PredictionsFile, DuplicateIdsInTheFile) {
  write_then([](H5::H5File& f) {
    f.unlink("nodule_id");
    H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
    const char* ids[3] = {"a", "b", "a"};
    hsize_t count = 3;
    f.createDataSet("nodule_id", type, H5::DataSpace(1, &count)).write(ids, type);
  });
  expect_read_error("/nodule_id 'a' appears twice (rows 0 and 2)");
}

// What numpy and h5py write without being told otherwise: fixed-length byte strings and float64.
TEST_F(PredictionsFile, AcceptsFixedLengthIdsAndDoublePrecisionMaps) {
  write_then([](H5::H5File& f) {
    f.unlink("nodule_id");
    H5::StrType type(H5::PredType::C_S1, 16);
    std::vector<char> ids(3 * 16, '\0');  // the first id fills all 16 bytes, without a terminator
    std::string("LIDC-IDRI-0001/1").copy(ids.data(), 16);
    std::string("short").copy(ids.data() + 16, 16);
    std::string("synthetic/17").copy(ids.data() + 32, 16);
    hsize_t count = 3;
    f.createDataSet("nodule_id", type, H5::DataSpace(1, &count)).write(ids.data(), type);
    f.unlink("segmentation");
    hsize_t dims[3] = {3, kHeight, kWidth};
    std::vector<double> values(3 * kHeight * kWidth, 0.125);
    f.createDataSet("segmentation", H5::PredType::IEEE_F64LE, H5::DataSpace(3, dims))
        .write(values.data(), H5::PredType::NATIVE_DOUBLE);
  });
  Predictions read = read_predictions(file_);
  EXPECT_EQ(read.nodule_ids, (std::vector<std::string>{"LIDC-IDRI-0001/1", "short", "synthetic/17"}));
  EXPECT_EQ(read.segmentation, std::vector<float>(3 * kHeight * kWidth, 0.125f));
}

}  // namespace
}  // namespace ugs::storage
