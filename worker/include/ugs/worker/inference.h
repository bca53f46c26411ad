// Inference: a network's probability maps for nodules, at the store's resolution, ready for
// storage::write_predictions, `ugs score` and the montage (montage.h).
//
//   LoadedModel model = load_model("runs/job/checkpoint_final.pt", device);   // checkpoint.h
//   storage::Predictions p = predict_nodules(*model.network, store, job.test,
//                                            model.config.preprocess, device);
//   storage::write_predictions("runs/job/predictions.h5", p);
//
// What happens, per batch of `batch_size` nodules (so that memory stays bounded on any set size):
//   - the crops are preprocessed exactly as for training (preprocess.h: windows, bilinear resize to
//     preprocess.size); their masks are not used;
//   - the network runs in eval() mode under torch::NoGradGuard on `device` (BatchNorm uses its running
//     statistics, so a nodule's maps do not depend on the other nodules of its batch);
//   - every head's logits go through the sigmoid and are resized back to the crop's H x W with the
//     same bilinear interpolation (PyTorch's align_corners=false), then clamped to [0, 1] (bilinear
//     interpolation of values in [0, 1] stays in it; the clamp only removes round-off).
// The result: nodule_ids are the store's ids in the order of `indices`; segmentation (X_S) always;
// union_map (U'), intersection_map (I') and annotation_map (GT'_Uni) exactly when the network has
// that head (the UGS-Net family), absent for the baselines.
//
// Errors: std::invalid_argument for empty or repeated indices (a predictions file has unique ids),
// batch_size < 1, or a network whose parameters are not on `device`; std::out_of_range for an index
// past the store; what preprocess_store throws for a store the preprocessing cannot take (several
// windows on an 8-bit store); LibTorch's exception (c10::Error, a std::exception) when the network
// cannot take the images (e.g. preprocess windows != the network's in_channels).
// Thread safety: one call at a time per network (it switches the network to eval mode and runs it);
// the store may be shared (NoduleStore is thread-safe).
#pragma once

#include <cstddef>
#include <vector>

#include <torch/torch.h>

#include "ugs/model/network.h"
#include "ugs/storage/predictions.h"
#include "ugs/storage/store.h"
#include "ugs/worker/config.h"

namespace ugs::worker {

// Predicts the nodules of `store` at `indices`, in that order. `net` must already be on `device`.
storage::Predictions predict_nodules(model::Network& net, const storage::NoduleStore& store,
                                     const std::vector<std::size_t>& indices, const PreprocessConfig& preprocess,
                                     const torch::Device& device, int batch_size = 32);

// The same for nodules held in memory (e.g. one crop read from a PNG), described by `attributes`;
// their masks must be valid for the attributes but are not used.
storage::Predictions predict_nodules(model::Network& net, const std::vector<storage::Nodule>& nodules,
                                     const storage::StoreAttributes& attributes,
                                     const PreprocessConfig& preprocess, const torch::Device& device,
                                     int batch_size = 32);

}  // namespace ugs::worker
