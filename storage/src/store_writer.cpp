// NoduleStoreWriter: buffers validated nodules, writes a shard file each `nodules_per_shard`, and
// moves the finished folder into place.
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <system_error>
#include <unordered_set>

#include "hdf5_support.h"
#include "store_format.h"
#include "ugs/storage/atomic_file.h"
#include "ugs/storage/files.h"
#include "ugs/storage/store.h"

namespace ugs::storage {

namespace fs = std::filesystem;
using detail::Hdf5Lock;
using detail::write_dataset;
using detail::write_string_attribute;

namespace {

// Shard content laid out as the datasets want it, built before the HDF5 lock is taken.
struct ShardBuffers {
  std::vector<float> image;
  std::vector<std::uint8_t> annotators;  // kMaxAnnotators slots per nodule, unused ones zero
  std::vector<std::uint8_t> annotator_count;
  std::vector<std::uint8_t> union_mask;
  std::vector<std::uint8_t> intersection_mask;
  std::vector<const char*> nodule_id, patient_id, kind;  // point into the nodules
  std::vector<double> spacing_mm;
  std::vector<double> diameter_mm;
};

ShardBuffers lay_out(const std::vector<Nodule>& nodules, std::size_t pixels) {
  ShardBuffers b;
  const std::size_t n = nodules.size();
  b.image.reserve(n * pixels);
  b.annotators.assign(n * kMaxAnnotators * pixels, 0);
  b.union_mask.reserve(n * pixels);
  b.intersection_mask.reserve(n * pixels);
  for (std::size_t i = 0; i < n; ++i) {
    const Nodule& nodule = nodules[i];
    b.image.insert(b.image.end(), nodule.image.begin(), nodule.image.end());
    std::copy(nodule.annotators.begin(), nodule.annotators.end(),
              b.annotators.begin() + i * kMaxAnnotators * pixels);
    b.annotator_count.push_back(static_cast<std::uint8_t>(nodule.info.annotator_count));
    b.union_mask.insert(b.union_mask.end(), nodule.union_mask.begin(), nodule.union_mask.end());
    b.intersection_mask.insert(b.intersection_mask.end(), nodule.intersection_mask.begin(),
                               nodule.intersection_mask.end());
    b.nodule_id.push_back(nodule.info.nodule_id.c_str());
    b.patient_id.push_back(nodule.info.patient_id.c_str());
    b.kind.push_back(nodule.info.kind.c_str());
    b.spacing_mm.insert(b.spacing_mm.end(), nodule.info.spacing_mm.begin(), nodule.info.spacing_mm.end());
    b.diameter_mm.push_back(nodule.info.diameter_mm);
  }
  return b;
}

void write_shard(const fs::path& path, const std::vector<Nodule>& nodules,
                 const StoreAttributes& attributes) {
  const ShardBuffers b = lay_out(nodules, attributes.pixel_count());
  const hsize_t n = nodules.size();
  const hsize_t h = attributes.height;
  const hsize_t w = attributes.width;
  Hdf5Lock lock;
  try {
    H5::H5File file(path.string(), H5F_ACC_TRUNC);
    write_string_attribute(file, detail::kSchemaAttribute, kSchemaName);
    detail::write_int32_attribute(file, detail::kVersionAttribute, kSchemaVersion);
    write_string_attribute(file, detail::kImageUnitAttribute, to_string(attributes.image_unit));
    write_string_attribute(file, detail::kReaderMasksAttribute, to_string(attributes.reader_masks));
    write_string_attribute(file, detail::kSourceAttribute, attributes.source);

    const H5::PredType& u8 = H5::PredType::STD_U8LE;
    const H5::PredType& native_u8 = H5::PredType::NATIVE_UINT8;
    write_dataset(file, detail::kImageDataset, H5::PredType::IEEE_F32LE, H5::PredType::NATIVE_FLOAT,
                  {n, h, w}, b.image.data());
    write_dataset(file, detail::kAnnotatorsDataset, u8, native_u8, {n, hsize_t(kMaxAnnotators), h, w},
                  b.annotators.data());
    write_dataset(file, detail::kAnnotatorCountDataset, u8, native_u8, {n}, b.annotator_count.data());
    write_dataset(file, detail::kUnionDataset, u8, native_u8, {n, h, w}, b.union_mask.data());
    write_dataset(file, detail::kIntersectionDataset, u8, native_u8, {n, h, w},
                  b.intersection_mask.data());
    const H5::StrType string_type = detail::utf8_string_type();
    write_dataset(file, detail::kNoduleIdDataset, string_type, string_type, {n}, b.nodule_id.data());
    write_dataset(file, detail::kPatientIdDataset, string_type, string_type, {n}, b.patient_id.data());
    write_dataset(file, detail::kKindDataset, string_type, string_type, {n}, b.kind.data());
    write_dataset(file, detail::kSpacingDataset, H5::PredType::IEEE_F64LE, H5::PredType::NATIVE_DOUBLE,
                  {n, 2}, b.spacing_mm.data());
    write_dataset(file, detail::kDiameterDataset, H5::PredType::IEEE_F64LE, H5::PredType::NATIVE_DOUBLE,
                  {n}, b.diameter_mm.data());
  } catch (const H5::Exception& e) {
    throw detail::hdf5_error(path, "cannot write shard", e);
  }
}

// The folder a writer fills before it is renamed to `dir`; unique per process.
fs::path partial_folder(const fs::path& dir) {
  return fs::path(dir.string() + ".partial-" + std::to_string(::getpid()));
}

// Renames `from` to `to`, replacing an existing store at `to`. A directory cannot be renamed over a
// non-empty one, so the old store is first moved aside, then deleted; if the new one cannot be moved
// in, the old one is moved back, so a failure never leaves `to` without a store.
void move_into_place(const fs::path& from, const fs::path& to) {
  const fs::path aside(to.string() + ".old-" + std::to_string(::getpid()));
  const bool replacing = fs::exists(to);
  if (replacing) fs::rename(to, aside);
  try {
    fs::rename(from, to);
  } catch (const fs::filesystem_error&) {
    std::error_code ignored;
    if (replacing) fs::rename(aside, to, ignored);
    throw;
  }
  if (replacing) remove_tree(aside);
}

}  // namespace

struct NoduleStoreWriter::Impl {
  fs::path dir;
  fs::path partial;
  StoreAttributes attributes;
  std::size_t nodules_per_shard = 0;
  bool overwrite = false;
  bool finished = false;
  std::vector<Nodule> pending;
  std::vector<std::size_t> shard_sizes;
  std::unordered_set<std::string> nodule_ids;

  void write_pending_shard() {
    const int number = static_cast<int>(shard_sizes.size());
    write_file_atomically(partial / detail::shard_file_name(number),
                          [&](const fs::path& temporary) { write_shard(temporary, pending, attributes); });
    shard_sizes.push_back(pending.size());
    pending.clear();
  }

  void write_index() {
    nlohmann::json shards = nlohmann::json::array();
    std::size_t total = 0;
    for (std::size_t i = 0; i < shard_sizes.size(); ++i) {
      shards.push_back({{"file", detail::shard_file_name(static_cast<int>(i))}, {"nodules", shard_sizes[i]}});
      total += shard_sizes[i];
    }
    nlohmann::json index = {
        {detail::kSchemaAttribute, kSchemaName},
        {detail::kVersionAttribute, kSchemaVersion},
        {"attributes",
         {{"height", attributes.height},
          {"width", attributes.width},
          {detail::kImageUnitAttribute, to_string(attributes.image_unit)},
          {detail::kReaderMasksAttribute, to_string(attributes.reader_masks)},
          {detail::kSourceAttribute, attributes.source}}},
        {"nodule_count", total},
        {"shards", shards},
    };
    write_file_atomically(partial / detail::kIndexFileName, index.dump(2) + "\n");
  }
};

NoduleStoreWriter::NoduleStoreWriter(fs::path dir, StoreAttributes attributes, int nodules_per_shard,
                                     bool overwrite)
    : impl_(std::make_unique<Impl>()) {
  if (auto problem = detail::find_attributes_problem(attributes)) detail::fail(dir, *problem);
  if (nodules_per_shard < 1) {
    detail::fail(dir, "nodules_per_shard " + std::to_string(nodules_per_shard) + " must be at least 1");
  }
  if (fs::exists(dir)) {
    if (!overwrite) {
      detail::fail(dir, "already exists; refusing to overwrite it (--force replaces it)");
    }
    // Overwriting deletes the folder: only ever a store (or nothing), never a mistyped home folder.
    if (!fs::is_directory(dir) || !(fs::exists(dir / detail::kIndexFileName) || fs::is_empty(dir))) {
      detail::fail(dir, "exists and is not a nodule store; refusing to replace it");
    }
  }
  impl_->dir = dir;
  impl_->partial = partial_folder(dir);
  impl_->attributes = std::move(attributes);
  impl_->nodules_per_shard = static_cast<std::size_t>(nodules_per_shard);
  impl_->overwrite = overwrite;
  std::error_code error;
  remove_tree(impl_->partial, error);  // left by an earlier process with our pid
  fs::create_directories(impl_->partial, error);
  if (error) detail::fail(impl_->partial, "cannot create the temporary folder: " + error.message());
}

NoduleStoreWriter::~NoduleStoreWriter() {
  if (!impl_->finished) {
    std::error_code ignored;
    remove_tree(impl_->partial, ignored);
  }
}

void NoduleStoreWriter::add(Nodule nodule) {
  if (impl_->finished) throw std::logic_error(impl_->dir.string() + ": add() after finish()");
  auto problem = detail::find_info_problem(nodule.info, impl_->attributes);
  if (!problem) problem = detail::find_pixel_problem(nodule, impl_->attributes);
  if (!problem && impl_->nodule_ids.count(nodule.info.nodule_id)) {
    problem = "nodule '" + nodule.info.nodule_id + "': id already added";
  }
  if (problem) detail::fail(impl_->dir, *problem);
  impl_->nodule_ids.insert(nodule.info.nodule_id);
  impl_->pending.push_back(std::move(nodule));
  if (impl_->pending.size() == impl_->nodules_per_shard) impl_->write_pending_shard();
}

void NoduleStoreWriter::finish() {
  if (impl_->finished) throw std::logic_error(impl_->dir.string() + ": finish() called twice");
  if (!impl_->pending.empty()) impl_->write_pending_shard();
  if (impl_->shard_sizes.empty()) {
    detail::fail(impl_->dir, "no nodules were added; a store needs at least one");
  }
  impl_->write_index();
  if (!impl_->overwrite && fs::exists(impl_->dir)) {
    detail::fail(impl_->dir, "appeared while the store was being written");
  }
  try {
    move_into_place(impl_->partial, impl_->dir);
  } catch (const fs::filesystem_error& e) {
    detail::fail(impl_->dir, "cannot move the finished store into place: " + e.code().message());
  }
  impl_->finished = true;
}

}  // namespace ugs::storage
