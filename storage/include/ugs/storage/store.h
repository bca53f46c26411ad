// The nodule store: 2D CT crops of lung nodules with every radiologist's mask, as a folder of HDF5
// shards plus a small `index.json`. The on-disk format is specified in docs/data-format.md.
//
//   NoduleStoreWriter writer("out/synthetic", attributes);     // writes into a temporary folder
//   for (const Nodule& n : nodules) writer.add(n);             // validated on the way in
//   writer.finish();                                           // shards + index renamed into place
//
//   NoduleStore store = NoduleStore::open("out/synthetic");    // metadata validated, kept in memory
//   Nodule n = store.read(17);                                 // one nodule, without reading its shard
//   std::vector<Nodule> batch = store.read({3, 900, 12});      // a batch, one HDF5 read per dataset/shard
//
// Invariants of every nodule a writer accepts and a reader returns: image has height*width finite
// values; every mask value is 0 or 1; with ReaderMasks::kPerReader, 1..kMaxAnnotators annotator masks
// whose OR is the union and whose AND is the intersection; with kUnionIntersectionOnly, no annotator
// masks and intersection ⊆ union; nodule ids unique within the store; spacing finite and positive.
//
// Errors: every malformed input throws std::runtime_error with one line that names the file and what
// is wrong ("out/x/shard-00001.h5: /union has shape [10,50,49], expected [10,50,50]"). Misuse (an index
// out of range, add() after finish()) throws std::out_of_range / std::logic_error.
// Thread safety: a NoduleStore may be read from several threads at once. All HDF5 calls in the process
// (every store and writer) are serialised by one internal mutex because the HDF5 library is not
// reentrant; checking and copying the pixels happens outside it. A NoduleStoreWriter is used from one
// thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ugs::storage {

inline constexpr const char* kSchemaName = "ugs.nodule-store";
inline constexpr int kSchemaVersion = 1;
inline constexpr int kMaxAnnotators = 4;

// What the numbers in an image mean.
enum class ImageUnit {
  kHounsfield,  // float32 Hounsfield units                                      ("HU" on disk)
  kWindow8,     // 0..255 from an 8-bit display window, for sources that kept no HU ("window8")
};

// Which masks a source provides.
enum class ReaderMasks {
  kPerReader,              // 1..4 annotator masks per nodule; union and intersection derived from them
                           //                                                       ("per-reader")
  kUnionIntersectionOnly,  // only the union and the intersection (e.g. the UGS-Net authors' PNG layout)
                           //                                          ("union-intersection-only")
};

// The names used on disk and in `ugs inspect`.
const char* to_string(ImageUnit unit);
const char* to_string(ReaderMasks masks);

// Properties shared by every nodule of a store.
struct StoreAttributes {
  int height = 50;
  int width = 50;
  ImageUnit image_unit = ImageUnit::kHounsfield;
  ReaderMasks reader_masks = ReaderMasks::kPerReader;
  std::string source;  // provenance, e.g. "ugs synth seed=7" or "LIDC-IDRI via UGS-Net PNG layout"

  std::size_t pixel_count() const { return static_cast<std::size_t>(height) * width; }
};

// Per-nodule metadata, kept in memory for every nodule of an open store.
struct NoduleInfo {
  std::string nodule_id;   // unique within a store, not empty
  std::string patient_id;  // folds group by it, not empty
  std::array<double, 2> spacing_mm{1.0, 1.0};  // (row, column) pixel spacing, finite and > 0
  double diameter_mm = 0.0;                    // finite and >= 0
  int annotator_count = 0;  // 1..kMaxAnnotators; 0 exactly when ReaderMasks::kUnionIntersectionOnly
  std::string kind;         // e.g. "solid", "ground-glass"; empty when the source does not say
};

// One nodule. Arrays are row-major, height x width.
struct Nodule {
  NoduleInfo info;
  std::vector<float> image;                // height*width
  std::vector<std::uint8_t> annotators;    // annotator_count*height*width, values 0/1, reader order
  std::vector<std::uint8_t> union_mask;    // height*width, 0/1
  std::vector<std::uint8_t> intersection_mask;  // height*width, 0/1

  // Mask of annotator j (0-based; j = 0 is Label_1, the paper's single-annotation target).
  const std::uint8_t* annotator(int j, int pixels) const { return annotators.data() + j * pixels; }
};

// Writes a new store. Nothing is visible at `dir` until finish() succeeds: shards and index are
// written into `<dir>.partial-<pid>` (each file itself through a temporary and a rename) and the folder
// is renamed into place at the end. A writer destroyed without finish() removes its temporary folder;
// a crash leaves only that folder beside `dir`, never a store that opens as valid.
class NoduleStoreWriter {
 public:
  // Refuses an existing `dir` unless `overwrite` (then the old store is replaced by finish(), not
  // before). Throws std::runtime_error on invalid attributes or when the temporary folder cannot be made.
  NoduleStoreWriter(std::filesystem::path dir, StoreAttributes attributes, int nodules_per_shard = 512,
                    bool overwrite = false);
  ~NoduleStoreWriter();
  NoduleStoreWriter(const NoduleStoreWriter&) = delete;
  NoduleStoreWriter& operator=(const NoduleStoreWriter&) = delete;

  // Validates the nodule against the attributes (shapes, 0/1 masks, finite image, unique id, union
  // and intersection consistent with the annotators) and buffers it; a full shard is written at once.
  // Throws std::runtime_error naming the nodule and the problem; the writer stays usable.
  void add(Nodule nodule);
  // Writes the remaining shard and index.json, then moves the store into place. A store needs at
  // least one nodule.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A store opened for reading: all of it, or a subset of its shards.
class NoduleStore {
 public:
  // Validates the index and every shard's structure and metadata on open; pixel content (mask values,
  // finite images, union/intersection consistency) is validated on every read, so no bad nodule ever
  // reaches a caller.
  static NoduleStore open(const std::filesystem::path& dir);
  // Only the shards at these positions of the index, in the order given (indices of the open store
  // count from the first nodule of the first shard named).
  static NoduleStore open(const std::filesystem::path& dir, const std::vector<int>& shard_numbers);

  ~NoduleStore();
  NoduleStore(NoduleStore&&) noexcept;
  NoduleStore& operator=(NoduleStore&&) noexcept;

  const std::filesystem::path& path() const;
  const StoreAttributes& attributes() const;
  std::size_t size() const;
  int shard_count() const;
  const NoduleInfo& info(std::size_t index) const;
  const std::vector<NoduleInfo>& infos() const;  // all of them, by index
  std::optional<std::size_t> find(const std::string& nodule_id) const;

  Nodule read(std::size_t index) const;
  // In the order given; an index may repeat. Reads only the bytes of the requested nodules.
  std::vector<Nodule> read(const std::vector<std::size_t>& indices) const;
  std::vector<Nodule> read_all() const;  // preload for small sets: one read per dataset and shard

 private:
  NoduleStore();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ugs::storage
