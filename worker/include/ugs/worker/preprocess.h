// From store nodules to the tensors a network trains on. Every nodule of a job is preprocessed once
// and kept in memory (1,860 nodules at 64x64 are about 30 MB per channel plus 55 MB of masks); the
// loader (loader.h) only gathers and augments.
//
//   NoduleTensors data = preprocess_store(store, job.train, config.preprocess, config.data.single_target);
//   data.images   // [N, C, 64, 64] float32 in [0, 1]
//   data.masks    // [N, kMaskPlanes, 64, 64] uint8 0/1
//
// Images, per nodule, at the store's resolution first, then resized:
//   Hounsfield stores: one channel per [preprocess] window, clip(v, lo, hi) mapped linearly to [0, 1]
//     ((v - lo) / (hi - lo)): a fixed window, so that the same HU gives the same input in every crop.
//   8-bit stores (ImageUnit::kWindow8): v / 255, one channel. Their HU are lost: in the UGS-Net PNG
//     layout every crop was min-max stretched to 0..255 on its own (the toolbox saves float HU
//     through imageio; each of the 12 shared samples spans exactly 0..255), so no HU window can be
//     applied and a second channel cannot be made: more than one window is refused.
//   Resizing: bilinear, exactly PyTorch's F.interpolate(mode="bilinear", align_corners=False), which
//     samples at the same positions as the published code's cv2.resize(INTER_LINEAR) when enlarging.
// Masks: each resized the same way as a float 0/1 map, then foreground where >= mask_threshold (0.5;
//   the published code's normalisation before its 0.5 threshold made it an effective 0.65).
//   Per-reader stores: the annotators are resized; the union and intersection are the OR and AND of
//   the resized annotators, so I ⊆ GT_j ⊆ U still holds pixel by pixel at the new size.
//   Union-intersection-only stores: union and intersection are resized themselves (bilinear is
//   monotone, so I ⊆ U holds); there are no annotator planes (annotator_count 0).
//   The target plane is the single-mask target: annotator 0 (the paper's Label_1), or the union or
//   the intersection ([data] single_target).
//
// Errors: std::invalid_argument / std::runtime_error (naming the store) for a Label_1 target on a
// store without per-reader masks, several windows on an 8-bit store, or nodules that do not match the
// attributes. Thread safety: the functions keep no state; a NoduleTensors is read-only once made and
// may be shared between threads.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ugs/storage/store.h"
#include "ugs/worker/config.h"

namespace ugs::worker {

// The planes of NoduleTensors::masks, in this order.
enum MaskPlane : int {
  kTargetPlane = 0,        // the single-mask target ([data] single_target; Label_1 by default)
  kUnionPlane = 1,         // U
  kIntersectionPlane = 2,  // I
  kFirstAnnotatorPlane = 3,  // annotators 0..3 in reader order; planes >= annotator_count are zero
};
inline constexpr int kMaskPlanes = kFirstAnnotatorPlane + storage::kMaxAnnotators;

// Preprocessed nodules, position n everywhere.
struct NoduleTensors {
  torch::Tensor images;           // [N, C, S, S] float32 in [0, 1], C = number of windows
  torch::Tensor masks;            // [N, kMaskPlanes, S, S] uint8 0/1
  torch::Tensor annotator_count;  // [N] int64: 1..4, or 0 for a store without per-reader masks
  std::vector<std::size_t> store_indices;  // where nodule n came from in the store

  std::size_t size() const { return store_indices.size(); }
};

// PyTorch's F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False) of a float
// [N, C, H, W] tensor: how crops are brought to the network's size, and its maps back (inference.h).
torch::Tensor resize_bilinear(const torch::Tensor& x, int height, int width);

// Checks that a store can give these inputs and targets; throws std::runtime_error naming `store_name`.
void check_preprocessable(const storage::StoreAttributes& attributes, const PreprocessConfig& config,
                          SingleTarget target, const std::string& store_name);

// Preprocesses nodules of a store with these attributes; store_indices are their positions 0..n-1.
NoduleTensors preprocess(const std::vector<storage::Nodule>& nodules, const storage::StoreAttributes& attributes,
                         const PreprocessConfig& config, SingleTarget target);

// Reads the nodules at `indices` from the store (in chunks, so that the raw crops of a large set are
// never all in memory) and preprocesses them, in the order given. `indices` must not be empty.
NoduleTensors preprocess_store(const storage::NoduleStore& store, const std::vector<std::size_t>& indices,
                               const PreprocessConfig& config, SingleTarget target);

}  // namespace ugs::worker
