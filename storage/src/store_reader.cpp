// NoduleStore: validates the index and every shard on open, keeps the metadata in memory and the
// shard files open, and reads pixel data with one hyperslab-union read per dataset and shard.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <type_traits>
#include <unordered_map>

#include "hdf5_support.h"
#include "store_format.h"
#include "ugs/storage/store.h"

namespace ugs::storage {

namespace fs = std::filesystem;
using detail::Hdf5Lock;
using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------------
// index.json

struct ShardEntry {
  std::string file;
  std::size_t nodules = 0;
};

struct Index {
  StoreAttributes attributes;
  std::vector<ShardEntry> shards;
};

// Required members of index.json, each with a message naming the file and the key.
class IndexFields {
 public:
  explicit IndexFields(fs::path file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& problem) const { detail::fail(file_, problem); }
  // `where` is the path of `object` with a trailing dot ("attributes."), empty for the top level.
  const json& member(const json& object, const std::string& key, const std::string& where) const {
    if (!object.is_object()) {
      fail(where.empty() ? "the top level is not an object"
                         : "'" + where.substr(0, where.size() - 1) + "' is not an object");
    }
    auto found = object.find(key);
    if (found == object.end()) fail("'" + where + key + "' is missing");
    return *found;
  }
  std::string text(const json& object, const std::string& key, const std::string& where = "") const {
    const json& value = member(object, key, where);
    if (!value.is_string()) fail("'" + where + key + "' is not a string");
    return value.get<std::string>();
  }
  std::int64_t integer(const json& object, const std::string& key, const std::string& where = "") const {
    const json& value = member(object, key, where);
    if (!value.is_number_integer()) fail("'" + where + key + "' is not an integer");
    return value.get<std::int64_t>();
  }

 private:
  fs::path file_;
};

void check_schema_and_version(const std::string& schema, std::int64_t version,
                              const std::function<void(const std::string&)>& fail) {
  if (schema != kSchemaName) fail("schema is '" + schema + "', expected '" + kSchemaName + "'");
  if (version > kSchemaVersion) {
    fail("format version " + std::to_string(version) + " is newer than this ugs reads (up to " +
         std::to_string(kSchemaVersion) + "); update ugs");
  }
  if (version < 1) fail("format version " + std::to_string(version) + " is not valid");
}

Index read_index(const fs::path& dir) {
  const fs::path file = dir / detail::kIndexFileName;
  if (!fs::is_directory(dir)) detail::fail(dir, "not a folder (expected a nodule store)");
  std::ifstream in(file);
  if (!in) detail::fail(file, "missing or unreadable (is this a nodule store?)");
  const IndexFields fields(file);
  json root;
  try {
    root = json::parse(in);
  } catch (const json::exception& e) {
    fields.fail(std::string("malformed JSON: ") + e.what());
  }
  check_schema_and_version(fields.text(root, detail::kSchemaAttribute),
                           fields.integer(root, detail::kVersionAttribute),
                           [&](const std::string& problem) { fields.fail(problem); });
  Index index;
  const json& attributes = fields.member(root, "attributes", "");
  const std::string where = "attributes.";
  StoreAttributes& a = index.attributes;
  const std::int64_t height = fields.integer(attributes, "height", where);
  const std::int64_t width = fields.integer(attributes, "width", where);
  if (height <= 0 || width <= 0 || height > 1 << 16 || width > 1 << 16) {
    fields.fail("image size " + std::to_string(height) + "x" + std::to_string(width) + " is out of range");
  }
  a.height = static_cast<int>(height);
  a.width = static_cast<int>(width);
  const std::string unit = fields.text(attributes, detail::kImageUnitAttribute, where);
  const std::string masks = fields.text(attributes, detail::kReaderMasksAttribute, where);
  if (auto parsed = detail::parse_image_unit(unit)) {
    a.image_unit = *parsed;
  } else {
    fields.fail("image_unit '" + unit + "' is neither 'HU' nor 'window8'");
  }
  if (auto parsed = detail::parse_reader_masks(masks)) {
    a.reader_masks = *parsed;
  } else {
    fields.fail("reader_masks '" + masks + "' is neither 'per-reader' nor 'union-intersection-only'");
  }
  a.source = fields.text(attributes, detail::kSourceAttribute, where);

  const json& shards = fields.member(root, "shards", "");
  if (!shards.is_array() || shards.empty()) fields.fail("'shards' is not a non-empty list");
  std::size_t total = 0;
  std::set<std::string> names;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string at = "shards[" + std::to_string(i) + "].";
    ShardEntry entry;
    entry.file = fields.text(shards[i], "file", at);
    const std::int64_t nodules = fields.integer(shards[i], "nodules", at);
    if (entry.file.empty() || fs::path(entry.file).filename() != entry.file || entry.file[0] == '.') {
      fields.fail("'" + at + "file' = '" + entry.file + "' is not a plain file name");
    }
    if (!names.insert(entry.file).second) fields.fail("shard '" + entry.file + "' is listed twice");
    if (nodules < 1) fields.fail("'" + at + "nodules' = " + std::to_string(nodules) + " is not positive");
    entry.nodules = static_cast<std::size_t>(nodules);
    total += entry.nodules;
    index.shards.push_back(entry);
  }
  const std::int64_t count = fields.integer(root, "nodule_count");
  if (count < 0 || static_cast<std::size_t>(count) != total) {
    fields.fail("'nodule_count' is " + std::to_string(count) + " but the shards hold " +
                std::to_string(total));
  }
  // A shard file the index does not list means the index and the folder disagree on the store's content.
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".h5" && name[0] != '.' && !names.count(name)) {
      fields.fail("the folder holds shard '" + name + "' that the index does not list (" +
                  std::to_string(index.shards.size()) + " shards listed)");
    }
  }
  return index;
}

// ---------------------------------------------------------------------------------------------------
// Shard structure

std::string describe_type(const H5::DataType& type) {
  switch (type.getClass()) {
    case H5T_FLOAT: return "float" + std::to_string(8 * type.getSize());
    case H5T_INTEGER: {
      const bool is_signed = H5Tget_sign(type.getId()) == H5T_SGN_2;
      return (is_signed ? "int" : "uint") + std::to_string(8 * type.getSize());
    }
    case H5T_STRING: return H5Tis_variable_str(type.getId()) > 0 ? "string" : "fixed-length string";
    default: return "a non-numeric type";
  }
}

struct Shard {
  fs::path file;
  std::size_t first = 0;  // index in the open store of its first nodule
  std::size_t count = 0;
  H5::H5File h5;
  H5::DataSet image, annotators, union_mask, intersection_mask;
};

class ShardChecker {
 public:
  ShardChecker(Shard& shard, const StoreAttributes& attributes)
      : shard_(shard), attributes_(attributes) {}

  [[noreturn]] void fail(const std::string& problem) const { detail::fail(shard_.file, problem); }

  std::string string_attribute(const char* name) const {
    return detail::read_string_attribute(shard_.file, shard_.h5, name);
  }

  void check_attributes() const {
    check_schema_and_version(string_attribute(detail::kSchemaAttribute),
                             detail::read_integer_attribute(shard_.file, shard_.h5, detail::kVersionAttribute),
                             [&](const std::string& problem) { fail(problem); });
    auto expect = [&](const char* name, const std::string& expected) {
      const std::string value = string_attribute(name);
      if (value != expected) {
        fail(std::string("attribute '") + name + "' is '" + value + "' but index.json says '" + expected + "'");
      }
    };
    expect(detail::kImageUnitAttribute, to_string(attributes_.image_unit));
    expect(detail::kReaderMasksAttribute, to_string(attributes_.reader_masks));
    expect(detail::kSourceAttribute, attributes_.source);
  }

  // Opens /name and checks its type (class and byte size; `is_signed` for integers) and shape.
  H5::DataSet dataset(const char* name, H5T_class_t type_class, std::size_t bytes, const char* type_name,
                      const std::vector<hsize_t>& shape) const {
    if (!shard_.h5.nameExists(name)) fail(std::string("dataset /") + name + " is missing");
    H5::DataSet dataset = shard_.h5.openDataSet(name);
    const H5::DataType type = dataset.getDataType();
    bool type_ok = type.getClass() == type_class;
    if (type_ok && type_class == H5T_STRING) {
      type_ok = H5Tis_variable_str(type.getId()) > 0;
    } else if (type_ok) {
      type_ok = type.getSize() == bytes &&
                (type_class != H5T_INTEGER || H5Tget_sign(type.getId()) == H5T_SGN_NONE);
    }
    if (!type_ok) {
      fail(std::string("/") + name + " has type " + describe_type(type) + ", expected " + type_name);
    }
    const std::vector<hsize_t> actual = detail::shape_of(dataset);
    if (actual.size() == shape.size() && actual[0] != shape[0] &&
        std::equal(actual.begin() + 1, actual.end(), shape.begin() + 1)) {
      fail(std::string("/") + name + " holds " + std::to_string(actual[0]) + " nodules but index.json says " +
           std::to_string(shape[0]));
    }
    if (actual != shape) {
      fail(std::string("/") + name + " has shape " + detail::shape_string(actual) + ", expected " +
           detail::shape_string(shape));
    }
    return dataset;
  }

  std::vector<std::string> strings(const char* name) const {
    return detail::read_strings(dataset(name, H5T_STRING, 0, "string", {shard_.count}));
  }

  template <typename T>
  std::vector<T> numbers(const char* name, H5T_class_t type_class, const char* type_name,
                         const std::vector<hsize_t>& shape, const H5::PredType& memory_type) const {
    H5::DataSet ds = dataset(name, type_class, sizeof(T), type_name, shape);
    std::vector<T> values(shard_.count * (shape.size() > 1 ? shape[1] : 1));
    ds.read(values.data(), memory_type);
    return values;
  }

  // Reads the metadata of every nodule and checks it, appending to `infos`.
  void read_infos(std::vector<NoduleInfo>& infos) const {
    const hsize_t n = shard_.count;
    const std::vector<std::string> nodule_ids = strings(detail::kNoduleIdDataset);
    const std::vector<std::string> patient_ids = strings(detail::kPatientIdDataset);
    const std::vector<std::string> kinds = strings(detail::kKindDataset);
    const auto counts = numbers<std::uint8_t>(detail::kAnnotatorCountDataset, H5T_INTEGER, "uint8", {n},
                                              H5::PredType::NATIVE_UINT8);
    const auto spacing = numbers<double>(detail::kSpacingDataset, H5T_FLOAT, "float64", {n, 2},
                                         H5::PredType::NATIVE_DOUBLE);
    const auto diameters = numbers<double>(detail::kDiameterDataset, H5T_FLOAT, "float64", {n},
                                           H5::PredType::NATIVE_DOUBLE);
    for (std::size_t i = 0; i < n; ++i) {
      NoduleInfo info;
      info.nodule_id = nodule_ids[i];
      info.patient_id = patient_ids[i];
      info.kind = kinds[i];
      info.annotator_count = counts[i];
      info.spacing_mm = {spacing[2 * i], spacing[2 * i + 1]};
      info.diameter_mm = diameters[i];
      if (auto problem = detail::find_info_problem(info, attributes_)) {
        fail("nodule " + std::to_string(i) + ": " + *problem);
      }
      infos.push_back(std::move(info));
    }
  }

  void open_pixel_datasets() const {
    const hsize_t n = shard_.count, h = attributes_.height, w = attributes_.width;
    shard_.image = dataset(detail::kImageDataset, H5T_FLOAT, 4, "float32", {n, h, w});
    shard_.annotators = dataset(detail::kAnnotatorsDataset, H5T_INTEGER, 1, "uint8",
                                {n, hsize_t(kMaxAnnotators), h, w});
    shard_.union_mask = dataset(detail::kUnionDataset, H5T_INTEGER, 1, "uint8", {n, h, w});
    shard_.intersection_mask = dataset(detail::kIntersectionDataset, H5T_INTEGER, 1, "uint8", {n, h, w});
  }

 private:
  Shard& shard_;
  const StoreAttributes& attributes_;
};

// Opens and checks one shard; its nodules' metadata is appended to `infos`. Call with the HDF5 lock held.
void open_shard(Shard& shard, const StoreAttributes& attributes, std::vector<NoduleInfo>& infos) {
  if (!fs::exists(shard.file)) {
    detail::fail(shard.file, "missing (listed in index.json)");
  }
  if (H5Fis_hdf5(shard.file.c_str()) <= 0) {
    detail::fail(shard.file, "not an HDF5 file");
  }
  try {
    // No sieve buffer: the datasets are contiguous and a nodule's block is read with exactly one
    // pread; sieving would read 64 KiB around each block of a random batch.
    H5::FileAccPropList access;
    access.setSieveBufSize(0);
    shard.h5 = H5::H5File(shard.file.string(), H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, access);
  } catch (const H5::Exception& e) {
    throw detail::hdf5_error(shard.file, "cannot open", e);
  }
  try {
    ShardChecker checker(shard, attributes);
    checker.check_attributes();
    checker.read_infos(infos);
    checker.open_pixel_datasets();
  } catch (const H5::Exception& e) {
    throw detail::hdf5_error(shard.file, "cannot read", e);
  }
}

// Indices of one shard's nodules, ascending and distinct, as a selection of consecutive runs.
H5::DataSpace select_nodules(const H5::DataSet& dataset, const std::size_t* local, std::size_t count) {
  H5::DataSpace space = dataset.getSpace();
  const int rank = space.getSimpleExtentNdims();
  std::vector<hsize_t> start(rank, 0), block(rank);
  space.getSimpleExtentDims(block.data());
  space.selectNone();
  for (std::size_t i = 0; i < count;) {
    std::size_t end = i + 1;
    while (end < count && local[end] == local[end - 1] + 1) ++end;
    start[0] = local[i];
    block[0] = end - i;
    space.selectHyperslab(H5S_SELECT_OR, block.data(), start.data());
    i = end;
  }
  return space;
}

}  // namespace

// -----------------------------------------------------------------------------------------------------

struct NoduleStore::Impl {
  fs::path dir;
  StoreAttributes attributes;
  std::vector<NoduleInfo> infos;
  std::vector<Shard> shards;
  std::unordered_map<std::string, std::size_t> index_of;

  ~Impl() {
    Hdf5Lock lock;  // closing the files and datasets calls into HDF5
    shards.clear();
  }

  const Shard& shard_of(std::size_t index) const {
    auto after = std::upper_bound(shards.begin(), shards.end(), index,
                                  [](std::size_t i, const Shard& s) { return i < s.first; });
    return *(after - 1);
  }

  void check_index(std::size_t index) const {
    if (index >= infos.size()) {
      throw std::out_of_range(dir.string() + ": nodule index " + std::to_string(index) +
                              " out of range (the store holds " + std::to_string(infos.size()) + ")");
    }
  }

  // Reads the nodules `indices` (ascending, distinct, all in `shard`) into `out`, checks their pixels.
  void read_from_shard(const Shard& shard, const std::size_t* indices, std::size_t count, Nodule* out) const {
    const std::size_t pixels = attributes.pixel_count();
    std::vector<std::size_t> local(indices, indices + count);
    for (std::size_t& i : local) i -= shard.first;
    std::vector<float> image(count * pixels);
    std::vector<std::uint8_t> annotators(count * kMaxAnnotators * pixels);
    std::vector<std::uint8_t> union_mask(count * pixels), intersection_mask(count * pixels);
    {
      Hdf5Lock lock;
      try {
        const H5::DataSpace planes = select_nodules(shard.image, local.data(), count);
        const H5::DataSpace stacks = select_nodules(shard.annotators, local.data(), count);
        const hsize_t plane_values = count * pixels;
        const hsize_t stack_values = count * kMaxAnnotators * pixels;
        const H5::DataSpace plane_memory(1, &plane_values), stack_memory(1, &stack_values);
        shard.image.read(image.data(), H5::PredType::NATIVE_FLOAT, plane_memory, planes);
        shard.annotators.read(annotators.data(), H5::PredType::NATIVE_UINT8, stack_memory, stacks);
        shard.union_mask.read(union_mask.data(), H5::PredType::NATIVE_UINT8, plane_memory, planes);
        shard.intersection_mask.read(intersection_mask.data(), H5::PredType::NATIVE_UINT8, plane_memory,
                                     planes);
      } catch (const H5::Exception& e) {
        throw detail::hdf5_error(shard.file, "cannot read nodules", e);
      }
    }
    for (std::size_t k = 0; k < count; ++k) {
      Nodule& nodule = out[k];
      nodule.info = infos[indices[k]];
      const std::size_t readers = static_cast<std::size_t>(nodule.info.annotator_count);
      const auto plane = [&](const auto& values) {
        return std::vector<typename std::decay_t<decltype(values)>::value_type>(
            values.begin() + k * pixels, values.begin() + (k + 1) * pixels);
      };
      nodule.image = plane(image);
      nodule.union_mask = plane(union_mask);
      nodule.intersection_mask = plane(intersection_mask);
      const auto stack = annotators.begin() + k * kMaxAnnotators * pixels;
      nodule.annotators.assign(stack, stack + readers * pixels);
      auto problem = detail::find_pixel_problem(nodule, attributes);
      if (!problem && std::any_of(stack + readers * pixels, stack + kMaxAnnotators * pixels,
                                  [](std::uint8_t v) { return v != 0; })) {
        problem = "nodule '" + nodule.info.nodule_id + "': an annotator slot beyond its " +
                  std::to_string(readers) + " annotators is not zero";
      }
      if (problem) detail::fail(shard.file, *problem);
    }
  }

  // `sorted`: ascending, distinct indices; one read per dataset for each shard they touch.
  std::vector<Nodule> read_sorted(const std::vector<std::size_t>& sorted) const {
    std::vector<Nodule> nodules(sorted.size());
    for (std::size_t begin = 0; begin < sorted.size();) {
      const Shard& shard = shard_of(sorted[begin]);
      std::size_t end = begin;
      while (end < sorted.size() && sorted[end] < shard.first + shard.count) ++end;
      read_from_shard(shard, sorted.data() + begin, end - begin, nodules.data() + begin);
      begin = end;
    }
    return nodules;
  }

  // Opens and checks the shards `shard_numbers` of `index` in that order, with their metadata.
  void open_shards(const fs::path& store_dir, const Index& index, const std::vector<int>& shard_numbers) {
    dir = store_dir;
    attributes = index.attributes;
    std::set<int> seen;
    for (int number : shard_numbers) {
      if (number < 0 || static_cast<std::size_t>(number) >= index.shards.size()) {
        throw std::out_of_range(dir.string() + ": shard " + std::to_string(number) + " does not exist (" +
                                std::to_string(index.shards.size()) + " shards)");
      }
      if (!seen.insert(number).second) {
        throw std::invalid_argument(dir.string() + ": shard " + std::to_string(number) + " asked for twice");
      }
    }
    shards.reserve(shard_numbers.size());
    Hdf5Lock lock;  // released before a failed store is destroyed, which takes it again
    for (int number : shard_numbers) {
      const ShardEntry& entry = index.shards[number];
      Shard& shard = shards.emplace_back();
      shard.file = dir / entry.file;
      shard.first = infos.size();
      shard.count = entry.nodules;
      open_shard(shard, attributes, infos);
      for (std::size_t i = shard.first; i < infos.size(); ++i) {
        const std::string& id = infos[i].nodule_id;
        auto [existing, inserted] = index_of.emplace(id, i);
        if (!inserted) {
          detail::fail(shard.file, "nodule id '" + id + "' appears twice (also in " +
                                       shard_of(existing->second).file.filename().string() + ")");
        }
      }
    }
  }
};

NoduleStore::NoduleStore() : impl_(std::make_unique<Impl>()) {}
NoduleStore::~NoduleStore() = default;
NoduleStore::NoduleStore(NoduleStore&&) noexcept = default;
NoduleStore& NoduleStore::operator=(NoduleStore&&) noexcept = default;

NoduleStore NoduleStore::open(const fs::path& dir) {
  const Index index = read_index(dir);
  std::vector<int> all(index.shards.size());
  std::iota(all.begin(), all.end(), 0);
  NoduleStore store;
  store.impl_->open_shards(dir, index, all);
  return store;
}

NoduleStore NoduleStore::open(const fs::path& dir, const std::vector<int>& shard_numbers) {
  const Index index = read_index(dir);
  NoduleStore store;
  store.impl_->open_shards(dir, index, shard_numbers);
  return store;
}

const fs::path& NoduleStore::path() const { return impl_->dir; }
const StoreAttributes& NoduleStore::attributes() const { return impl_->attributes; }
std::size_t NoduleStore::size() const { return impl_->infos.size(); }
int NoduleStore::shard_count() const { return static_cast<int>(impl_->shards.size()); }
const std::vector<NoduleInfo>& NoduleStore::infos() const { return impl_->infos; }

const NoduleInfo& NoduleStore::info(std::size_t index) const {
  impl_->check_index(index);
  return impl_->infos[index];
}

std::optional<std::size_t> NoduleStore::find(const std::string& nodule_id) const {
  auto found = impl_->index_of.find(nodule_id);
  if (found == impl_->index_of.end()) return std::nullopt;
  return found->second;
}

Nodule NoduleStore::read(std::size_t index) const {
  impl_->check_index(index);
  return std::move(impl_->read_sorted({index}).front());
}

std::vector<Nodule> NoduleStore::read(const std::vector<std::size_t>& indices) const {
  for (std::size_t index : indices) impl_->check_index(index);
  std::vector<std::size_t> sorted = indices;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<Nodule> nodules = impl_->read_sorted(sorted);
  const bool repeats = sorted.size() != indices.size();
  std::vector<Nodule> in_caller_order;
  in_caller_order.reserve(indices.size());
  for (std::size_t index : indices) {
    Nodule& nodule = nodules[std::lower_bound(sorted.begin(), sorted.end(), index) - sorted.begin()];
    in_caller_order.push_back(repeats ? nodule : std::move(nodule));
  }
  return in_caller_order;
}

std::vector<Nodule> NoduleStore::read_all() const {
  std::vector<std::size_t> all(size());
  std::iota(all.begin(), all.end(), 0);
  return impl_->read_sorted(all);
}

}  // namespace ugs::storage
