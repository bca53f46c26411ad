#include "ugs/model/losses.h"

#include <stdexcept>
#include <string>

#include "ugs/model/ugsnet.h"

namespace ugs::model {

namespace {

void check_targets(const AnnotationTargets& targets) {
  const auto& masks = targets.annotations;
  const auto& count = targets.annotator_count;
  if (!masks.defined() || masks.dim() != 4 || masks.size(1) < 1 || !count.defined() ||
      count.dim() != 1 || count.size(0) != masks.size(0)) {
    throw std::invalid_argument(
        "AnnotationTargets: expected annotations [B, A, H, W] and annotator_count [B], got " +
        (masks.defined() ? c10::str(masks.sizes()) : std::string("none")) + " and " +
        (count.defined() ? c10::str(count.sizes()) : std::string("none")));
  }
  // The range check reads the counts: free on the CPU, a stream stall on a GPU, where it is skipped.
  if (masks.size(0) > 0 && count.is_cpu()) {
    const int64_t low = count.min().item<int64_t>();
    const int64_t high = count.max().item<int64_t>();
    if (low < 1 || high > masks.size(1)) {
      throw std::invalid_argument("AnnotationTargets: annotator counts must lie in 1.." +
                                  std::to_string(masks.size(1)) + ", got " + std::to_string(low) +
                                  ".." + std::to_string(high));
    }
  }
}

// [B, A, 1, 1] true for the channels that hold an annotation.
torch::Tensor valid_annotators(const AnnotationTargets& targets) {
  const auto& masks = targets.annotations;
  auto channel = torch::arange(masks.size(1), targets.annotator_count.options().dtype(torch::kLong));
  return (channel.unsqueeze(0) < targets.annotator_count.to(torch::kLong).unsqueeze(1))
      .view({masks.size(0), masks.size(1), 1, 1});
}

void check_logits(const char* head, const torch::Tensor& logits, const AnnotationTargets& targets) {
  const auto& masks = targets.annotations;
  if (!logits.defined()) throw std::invalid_argument(std::string("loss: the network output has no ") + head);
  if (logits.dim() != 4 || logits.size(0) != masks.size(0) || logits.size(1) != 1 ||
      logits.size(2) != masks.size(2) || logits.size(3) != masks.size(3)) {
    throw std::invalid_argument(std::string("loss: ") + head + " logits " + c10::str(logits.sizes()) +
                                " do not match the annotations " + c10::str(masks.sizes()));
  }
}

torch::Tensor bce(const torch::Tensor& logits, const torch::Tensor& target) {
  return torch::binary_cross_entropy_with_logits(logits, target.to(logits.scalar_type()));
}

}  // namespace

torch::Tensor AnnotationTargets::union_mask() const {
  check_targets(*this);
  return torch::where(valid_annotators(*this), annotations, torch::zeros_like(annotations))
      .amax(1, /*keepdim=*/true);
}

torch::Tensor AnnotationTargets::intersection() const {
  check_targets(*this);
  return torch::where(valid_annotators(*this), annotations, torch::ones_like(annotations))
      .amin(1, /*keepdim=*/true);
}

torch::Tensor AnnotationTargets::first_annotation() const {
  check_targets(*this);
  return annotations.narrow(1, 0, 1);
}

torch::Tensor multiple_annotation_loss(const torch::Tensor& logits, const AnnotationTargets& targets) {
  check_targets(targets);
  check_logits("Phi", logits, targets);
  const auto& masks = targets.annotations;
  auto per_annotator = torch::binary_cross_entropy_with_logits(
                           logits.expand_as(masks), masks.to(logits.scalar_type()), {}, {},
                           at::Reduction::None)
                           .mean({2, 3});  // [B, A]
  auto valid = valid_annotators(targets).view({masks.size(0), masks.size(1)}).to(per_annotator.scalar_type());
  auto per_nodule = (per_annotator * valid).sum(1) / valid.sum(1);
  return per_nodule.mean();
}

LossTerms UgsLoss::compute(const NetworkOutput& output, const AnnotationTargets& targets) const {
  check_targets(targets);
  check_logits("union head U'", output.union_mask, targets);
  check_logits("intersection head I'", output.intersection, targets);
  check_logits("annotation head GT'_Uni", output.annotation, targets);
  check_logits("segmentation X_S", output.segmentation, targets);
  // Label_1 alone is Phi over a one-annotator set.
  AnnotationTargets first_only{targets.first_annotation(),
                               torch::ones_like(targets.annotator_count)};
  auto bce_union = bce(output.union_mask, targets.union_mask());
  auto bce_intersection = bce(output.intersection, targets.intersection());
  auto l_mcm = bce_union + bce_intersection;
  auto phi_a = multiple_annotation_loss(
      output.annotation, options_.fusion_on_annotation_head ? targets : first_only);
  auto phi_b = multiple_annotation_loss(
      output.segmentation, options_.fusion_on_segmentation ? targets : first_only);
  LossTerms terms;
  terms.total = options_.mcm_weight * l_mcm + options_.annotation_weight * phi_a +
                options_.segmentation_weight * phi_b;
  terms.parts = {{"bce_union", bce_union.detach()},   {"bce_intersection", bce_intersection.detach()},
                 {"l_mcm", l_mcm.detach()},           {"phi_a", phi_a.detach()},
                 {"phi_b", phi_b.detach()}};
  return terms;
}

std::vector<std::string> UgsLoss::part_names() const {
  return {"bce_union", "bce_intersection", "l_mcm", "phi_a", "phi_b"};
}

std::vector<std::string> SegmentationLoss::part_names() const {
  std::vector<std::string> names;
  if (options_.bce_weight != 0.0) names.push_back("bce");
  if (options_.dice_weight != 0.0) names.push_back("dice");
  return names;
}

LossTerms SegmentationLoss::compute(const NetworkOutput& output, const AnnotationTargets& targets) const {
  check_targets(targets);
  check_logits("segmentation", output.segmentation, targets);
  if (options_.bce_weight == 0.0 && options_.dice_weight == 0.0) {
    throw std::invalid_argument("SegmentationLoss: both the BCE and the Dice weight are 0");
  }
  auto label = targets.first_annotation().to(output.segmentation.scalar_type());
  LossTerms terms;
  terms.total = torch::zeros({}, output.segmentation.options());
  if (options_.bce_weight != 0.0) {
    auto bce_term = bce(output.segmentation, label);
    terms.total = terms.total + options_.bce_weight * bce_term;
    terms.parts.emplace_back("bce", bce_term.detach());
  }
  if (options_.dice_weight != 0.0) {
    auto probability = torch::sigmoid(output.segmentation);
    const double smooth = options_.dice_smoothing;
    auto overlap = (probability * label).sum({1, 2, 3});
    auto sizes = probability.sum({1, 2, 3}) + label.sum({1, 2, 3});
    auto dice_loss = (1.0 - (2.0 * overlap + smooth) / (sizes + smooth)).mean();
    terms.total = terms.total + options_.dice_weight * dice_loss;
    terms.parts.emplace_back("dice", dice_loss.detach());
  }
  return terms;
}

std::unique_ptr<Loss> make_loss(const std::string& network_name, const UgsLossOptions& ugs,
                                const SegmentationLossOptions& segmentation) {
  for (const auto& variant : ugsnet_variants()) {
    if (variant.name != network_name) continue;
    UgsLossOptions options = ugs;
    options.fusion_on_annotation_head = variant.fusion_loss_on_annotation_head;
    options.fusion_on_segmentation = variant.fusion_loss_on_segmentation;
    return std::make_unique<UgsLoss>(options);
  }
  return std::make_unique<SegmentationLoss>(segmentation);
}

}  // namespace ugs::model
