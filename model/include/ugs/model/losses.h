// Training losses: UGS-Net's L = a1 L_MCM + a2 Phi_a + a3 Phi_b (paper eq. 2-4) for the UGS-Net
// family, BCE (+ optional soft Dice) on the first annotation for the single-mask baselines.
//
//   AnnotationTargets targets{annotations, annotator_count};  // [B, 4, H, W] and [B]
//   auto loss = make_loss("ugsnet");                            // or "ugsnet-v1", "unet", ...
//   LossTerms terms = loss->compute(net->forward(images), targets);
//   terms.total.backward();                                     // the parts are for logging
//
// Every term is a binary cross-entropy on LOGITS (binary_cross_entropy_with_logits). The published
// code applies a sigmoid first and then calls BCEWithLogitsLoss, a double sigmoid that squashes the
// loss into (0.31, 1.31) and multiplies its gradient by sigmoid'(x) <= 1/4; that bug is not
// reproduced.
//
// Errors: std::invalid_argument (one line) for targets of the wrong shape, an annotator count
// outside 1..A (checked when the counts are on the CPU; reading them from a GPU would stall it), or
// outputs without the heads a loss needs.
// Thread safety: losses hold only options; compute is safe to call concurrently.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "ugs/model/network.h"

namespace ugs::model {

// The annotations of a batch. Nodule b has annotator_count[b] masks, in channels
// 0..annotator_count[b]-1 (channel 0 is Label_1, the one the baselines and the evaluation use); the
// remaining channels are ignored whatever they hold.
struct AnnotationTargets {
  torch::Tensor annotations;      // [B, A, H, W] float in {0, 1}, A >= 1 (4 for LIDC-IDRI)
  torch::Tensor annotator_count;  // [B] integer in 1..A

  // OR / AND over each nodule's annotators: the targets of U' and I'. [B, 1, H, W].
  torch::Tensor union_mask() const;
  torch::Tensor intersection() const;
  // Label_1: [B, 1, H, W].
  torch::Tensor first_annotation() const;
};

// A loss value and its parts (detached scalars, in a fixed order) for logging.
struct LossTerms {
  torch::Tensor total;
  std::vector<std::pair<std::string, torch::Tensor>> parts;
};

// Phi: for each nodule the mean over its annotators of BCE(logits, GT_j) (each a mean over pixels),
// then the mean over the batch, so that every nodule weighs the same whatever its annotator count.
// logits [B, 1, H, W].
torch::Tensor multiple_annotation_loss(const torch::Tensor& logits, const AnnotationTargets& targets);

class Loss {
 public:
  virtual ~Loss() = default;
  virtual LossTerms compute(const NetworkOutput& output, const AnnotationTargets& targets) const = 0;
  // The names of LossTerms::parts, in order, known before any batch (ranks log them alike).
  virtual std::vector<std::string> part_names() const = 0;
};

struct UgsLossOptions {
  double mcm_weight = 0.5;           // a1
  double annotation_weight = 0.5;    // a2
  double segmentation_weight = 1.0;  // a3
  // Multiple Annotation Fusion Loss (Phi over every annotator) on GT'_Uni / on X_S; when false the
  // head is supervised by Label_1 alone, as in the published V1.
  bool fusion_on_annotation_head = true;
  bool fusion_on_segmentation = true;
};

// L = a1 [BCE(U', U) + BCE(I', I)] + a2 Phi_a + a3 Phi_b.
// With both fusion flags off and the default weights this is the published V1 combination,
//   BCE(X_S, S) + 0.5 [BCE(I', I) + BCE(U', U) + BCE(GT'_Uni, S)],   S = Label_1.
// Parts: bce_union, bce_intersection, l_mcm, phi_a, phi_b (phi_* are BCE against Label_1 alone
// when the corresponding flag is off).
class UgsLoss : public Loss {
 public:
  explicit UgsLoss(const UgsLossOptions& options = {}) : options_(options) {}
  LossTerms compute(const NetworkOutput& output, const AnnotationTargets& targets) const override;
  std::vector<std::string> part_names() const override;
  const UgsLossOptions& options() const { return options_; }

 private:
  UgsLossOptions options_;
};

struct SegmentationLossOptions {
  double bce_weight = 1.0;
  double dice_weight = 0.0;  // 0: BCE alone
  double dice_smoothing = 1.0;
};

// bce_weight * BCE(X_S, Label_1) + dice_weight * (1 - soft Dice(sigmoid(X_S), Label_1)), the soft
// Dice taken per nodule and averaged. Parts: bce, dice (each when weighted).
class SegmentationLoss : public Loss {
 public:
  explicit SegmentationLoss(const SegmentationLossOptions& options = {}) : options_(options) {}
  LossTerms compute(const NetworkOutput& output, const AnnotationTargets& targets) const override;
  std::vector<std::string> part_names() const override;

 private:
  SegmentationLossOptions options_;
};

// The loss a network is trained with: for a ugsnet* name, UgsLoss with `ugs`'s weights and the
// fusion flags of that Table II row (ugsnet_variant(name); `ugs`'s own flags are ignored); for any
// other network, SegmentationLoss with `segmentation`.
std::unique_ptr<Loss> make_loss(const std::string& network_name, const UgsLossOptions& ugs = {},
                                const SegmentationLossOptions& segmentation = {});

}  // namespace ugs::model
