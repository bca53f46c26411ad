#include "ugs/storage/predictions.h"

#include <H5Cpp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hdf5_support.h"
#include "ugs/storage/atomic_file.h"

namespace ugs::storage {

namespace fs = std::filesystem;

namespace {

constexpr const char* kIdsName = "nodule_id";
constexpr const char* kSegmentationName = "segmentation";
constexpr const char* kUnionName = "union";
constexpr const char* kIntersectionName = "intersection";
constexpr const char* kAnnotationName = "annotation";

using detail::fail;
using detail::shape_of;
using detail::shape_string;

// The optional maps with their dataset names, so that every check and I/O loop covers all of them.
template <typename P>
auto optional_maps(P& p) {
  return std::array<std::pair<const char*, decltype(&p.union_map)>, 3>{
      {{kUnionName, &p.union_map},
       {kIntersectionName, &p.intersection_map},
       {kAnnotationName, &p.annotation_map}}};
}

void check_probabilities(const fs::path& file, const Predictions& p, const char* name,
                         const std::vector<float>& maps) {
  const std::size_t pixels = p.pixels();
  if (maps.size() != p.size() * pixels) {
    fail(file, std::string("/") + name + " has " + std::to_string(maps.size()) + " values, expected " +
                   std::to_string(p.size()) + "*" + std::to_string(p.height) + "*" +
                   std::to_string(p.width));
  }
  for (std::size_t k = 0; k < maps.size(); ++k) {
    float value = maps[k];
    if (value >= 0.0f && value <= 1.0f) continue;  // false for NaN too
    std::size_t row = k / pixels, pixel = k % pixels;
    std::ostringstream what;
    what << '/' << name << " of nodule '" << p.nodule_ids[row] << "' (row " << row << ") has "
         << value << " at pixel (" << pixel / p.width << "," << pixel % p.width
         << "), outside [0,1]";
    fail(file, what.str());
  }
}

void validate(const fs::path& file, const Predictions& p) {
  if (p.nodule_ids.empty()) fail(file, "holds no nodules");
  if (p.height < 1 || p.width < 1) {
    fail(file, "map size " + std::to_string(p.height) + "x" + std::to_string(p.width) +
                   " is not positive");
  }
  std::unordered_map<std::string, std::size_t> row_of;
  for (std::size_t row = 0; row < p.nodule_ids.size(); ++row) {
    const std::string& id = p.nodule_ids[row];
    if (id.empty()) fail(file, "/nodule_id row " + std::to_string(row) + " is empty");
    auto [it, inserted] = row_of.emplace(id, row);
    if (!inserted) {
      fail(file, "/nodule_id '" + id + "' appears twice (rows " + std::to_string(it->second) +
                     " and " + std::to_string(row) + ")");
    }
  }
  check_probabilities(file, p, kSegmentationName, p.segmentation);
  for (auto [name, map] : optional_maps(p)) {
    if (*map) check_probabilities(file, p, name, **map);
  }
}

// ---- Writing ---------------------------------------------------------------------------------

void write_map(H5::H5File& f, const char* name, const Predictions& p,
               const std::vector<float>& maps) {
  detail::write_dataset(f, name, H5::PredType::IEEE_F32LE, H5::PredType::NATIVE_FLOAT,
                        {p.size(), static_cast<hsize_t>(p.height), static_cast<hsize_t>(p.width)},
                        maps.data());
}

void write_hdf5(const fs::path& file, const Predictions& p) {
  H5::H5File f(file.string(), H5F_ACC_TRUNC);
  detail::write_string_attribute(f, "schema", kPredictionsSchemaName);
  detail::write_int32_attribute(f, "version", kPredictionsSchemaVersion);

  std::vector<const char*> ids;
  for (const std::string& id : p.nodule_ids) ids.push_back(id.c_str());
  const H5::StrType id_type = detail::utf8_string_type();
  detail::write_dataset(f, kIdsName, id_type, id_type, {ids.size()}, ids.data());

  write_map(f, kSegmentationName, p, p.segmentation);
  for (auto [name, map] : optional_maps(p)) {
    if (*map) write_map(f, name, p, **map);
  }
}

// ---- Reading ---------------------------------------------------------------------------------

// Variable-length strings (h5py's default) and fixed-length ones (numpy 'S' arrays) are both read.
std::vector<std::string> read_ids(const fs::path& file, const H5::DataSet& dataset) {
  if (dataset.getTypeClass() != H5T_STRING) fail(file, "/nodule_id is not a string dataset");
  std::vector<hsize_t> dims = shape_of(dataset);
  if (dims.size() != 1) {
    fail(file, "/nodule_id has shape " + shape_string(dims) + ", expected [N]");
  }
  return detail::read_strings(dataset);
}

std::vector<float> read_map(const fs::path& file, const H5::DataSet& dataset, const char* name,
                            const std::vector<hsize_t>& expected_shape) {
  if (dataset.getTypeClass() != H5T_FLOAT) {
    fail(file, std::string("/") + name + " is not a floating-point dataset");
  }
  std::vector<hsize_t> dims = shape_of(dataset);
  if (dims != expected_shape) {
    fail(file, std::string("/") + name + " has shape " + shape_string(dims) + ", expected " +
                   shape_string(expected_shape) +
                   (std::string(name) == kSegmentationName ? "" : " like /segmentation"));
  }
  std::vector<float> values(expected_shape[0] * expected_shape[1] * expected_shape[2]);
  dataset.read(values.data(), H5::PredType::NATIVE_FLOAT);
  return values;
}

Predictions read_hdf5(const fs::path& file) {
  if (!H5::H5File::isHdf5(file.string())) fail(file, "is not an HDF5 file");
  H5::H5File f(file.string(), H5F_ACC_RDONLY);

  std::string schema = detail::read_string_attribute(file, f, "schema");
  if (schema != kPredictionsSchemaName) {
    fail(file, "schema is '" + schema + "', expected '" + kPredictionsSchemaName + "'");
  }
  std::int64_t version = detail::read_integer_attribute(file, f, "version");
  if (version != kPredictionsSchemaVersion) {
    fail(file, "version " + std::to_string(version) + " is not supported (this build reads " +
                   kPredictionsSchemaName + " version " +
                   std::to_string(kPredictionsSchemaVersion) + ")");
  }

  const std::vector<std::string> known = {kIdsName, kSegmentationName, kUnionName,
                                          kIntersectionName, kAnnotationName};
  for (hsize_t i = 0; i < f.getNumObjs(); ++i) {
    std::string name = f.getObjnameByIdx(i);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      fail(file, "unknown dataset /" + name +
                     " (expected /nodule_id, /segmentation, /union, /intersection, /annotation)");
    }
  }
  for (const char* required : {kIdsName, kSegmentationName}) {
    if (!f.nameExists(required)) fail(file, std::string("dataset /") + required + " is missing");
  }

  Predictions p;
  p.nodule_ids = read_ids(file, f.openDataSet(kIdsName));
  H5::DataSet segmentation = f.openDataSet(kSegmentationName);
  std::vector<hsize_t> shape = shape_of(segmentation);
  if (shape.size() != 3 || shape[0] != p.nodule_ids.size() || shape[1] < 1 || shape[2] < 1) {
    fail(file, "/segmentation has shape " + shape_string(shape) + ", expected [" +
                   std::to_string(p.nodule_ids.size()) + ",H,W] (one map per /nodule_id)");
  }
  p.height = static_cast<int>(shape[1]);
  p.width = static_cast<int>(shape[2]);
  p.segmentation = read_map(file, segmentation, kSegmentationName, shape);
  for (auto [name, map] : optional_maps(p)) {
    if (f.nameExists(name)) *map = read_map(file, f.openDataSet(name), name, shape);
  }
  return p;
}

}  // namespace

void write_predictions(const fs::path& file, const Predictions& predictions) {
  validate(file, predictions);
  write_file_atomically(file, [&](const fs::path& temporary) {
    detail::Hdf5Lock lock;
    try {
      write_hdf5(temporary, predictions);
    } catch (const H5::Exception& e) {
      throw detail::hdf5_error(file, "cannot write", e);
    }
  });
}

Predictions read_predictions(const fs::path& file) {
  std::error_code error;
  if (!fs::is_regular_file(file, error)) fail(file, "no such file");
  Predictions p;
  {
    detail::Hdf5Lock lock;
    try {
      p = read_hdf5(file);
    } catch (const H5::Exception& e) {
      throw detail::hdf5_error(file, "cannot read as HDF5", e);
    }
  }
  validate(file, p);
  return p;
}

}  // namespace ugs::storage
