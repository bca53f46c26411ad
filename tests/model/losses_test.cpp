// UGS-Net's loss L = a1 L_MCM + a2 Phi_a + a3 Phi_b, the published V1 combination, the baselines' loss.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "test_device.h"
#include "ugs/model/losses.h"

namespace ugs::model {
namespace {

using testing::test_device;

// BCE of one logit against one 0/1 label, by hand.
double bce(double logit, double label) {
  const double p = 1.0 / (1.0 + std::exp(-logit));
  return -(label * std::log(p) + (1.0 - label) * std::log(1.0 - p));
}

// Two nodules of 1x2 pixels. Nodule 0 has `count` annotators, nodule 1 has 4; channels past the
// count hold junk that must be ignored.
struct Case {
  torch::Tensor logits;       // [2, 1, 1, 2]
  AnnotationTargets targets;  // [2, 4, 1, 2]
};

Case make_case(int64_t count) {
  Case c;
  c.logits = torch::tensor({0.3, -1.2, 2.0, 0.1}, torch::kDouble).view({2, 1, 1, 2});
  c.targets.annotations = torch::tensor({1., 0., 1., 1., 0., 0., 1., 0.,   // nodule 0
                                         1., 1., 0., 1., 1., 0., 0., 0.},  // nodule 1
                                        torch::kDouble)
                              .view({2, 4, 1, 2});
  c.targets.annotator_count = torch::tensor({count, int64_t{4}});
  return c;
}

double hand_phi(const Case& c, int64_t count) {
  const auto logits = c.logits.flatten();
  const auto masks = c.targets.annotations;
  double per_nodule[2];
  const int64_t counts[2] = {count, 4};
  for (int64_t b = 0; b < 2; ++b) {
    double sum = 0.0;
    for (int64_t j = 0; j < counts[b]; ++j) {
      for (int64_t p = 0; p < 2; ++p) {
        sum += bce(logits[b * 2 + p].item<double>(), masks[b][j][0][p].item<double>()) / 2.0;
      }
    }
    per_nodule[b] = sum / static_cast<double>(counts[b]);
  }
  return (per_nodule[0] + per_nodule[1]) / 2.0;
}

TEST(MultipleAnnotationLoss, EqualsTheHandComputedMeanForTwoThreeFourAnnotators) {
  for (int64_t count : {2, 3, 4}) {
    const Case c = make_case(count);
    EXPECT_NEAR(multiple_annotation_loss(c.logits, c.targets).item<double>(), hand_phi(c, count), 1e-12)
        << count << " annotators";
  }
}

TEST(AnnotationTargets, UnionAndIntersectionUseOnlyEachNodulesAnnotators) {
  const Case c = make_case(2);  // nodule 0: masks (1,0) and (1,1)
  auto u = c.targets.union_mask().flatten();
  auto i = c.targets.intersection().flatten();
  EXPECT_TRUE(torch::equal(u, torch::tensor({1., 1., 1., 1.}, torch::kDouble)));
  EXPECT_TRUE(torch::equal(i, torch::tensor({1., 0., 0., 0.}, torch::kDouble)));
  EXPECT_TRUE(torch::equal(c.targets.first_annotation().flatten(), torch::tensor({1., 0., 1., 1.}, torch::kDouble)));
}

NetworkOutput outputs(const Case& c) {
  NetworkOutput out;
  out.segmentation = c.logits;
  out.union_mask = c.logits * 0.5 + 0.2;
  out.intersection = c.logits * -0.7;
  out.annotation = c.logits + 1.0;
  return out;
}

double hand_mean_bce(const torch::Tensor& logits, const torch::Tensor& labels) {
  double sum = 0.0;
  const auto l = logits.flatten(), y = labels.flatten();
  for (int64_t k = 0; k < l.numel(); ++k) sum += bce(l[k].item<double>(), y[k].item<double>());
  return sum / static_cast<double>(l.numel());
}

TEST(UgsLoss, IsTheWeightedSumOfItsPartsAsInEquationFour) {
  const Case c = make_case(3);
  const auto out = outputs(c);
  UgsLoss loss;  // a = (0.5, 0.5, 1), fusion on both heads
  const auto terms = loss.compute(out, c.targets);
  const double l_mcm = hand_mean_bce(out.union_mask, c.targets.union_mask()) +
                       hand_mean_bce(out.intersection, c.targets.intersection());
  Case for_annotation = c;
  for_annotation.logits = out.annotation;
  const double expected = 0.5 * l_mcm + 0.5 * hand_phi(for_annotation, 3) + 1.0 * hand_phi(c, 3);
  EXPECT_NEAR(terms.total.item<double>(), expected, 1e-12);
  std::vector<std::string> names;
  for (const auto& part : terms.parts) names.push_back(part.first);
  EXPECT_EQ(names, (std::vector<std::string>{"bce_union", "bce_intersection", "l_mcm", "phi_a", "phi_b"}));
  EXPECT_NEAR(terms.parts[2].second.item<double>(), l_mcm, 1e-12);
}

TEST(UgsLoss, WithoutFusionIsThePublishedV1Combination) {
  const Case c = make_case(4);
  const auto out = outputs(c);
  const auto loss = make_loss("ugsnet-v1");
  const auto s = c.targets.first_annotation();
  // loss = L(X_S, S) + 0.5 * (L(I', I) + L(U', U) + L(GT'_Uni, S)), L = BCE on logits.
  const double published = hand_mean_bce(out.segmentation, s) +
                           0.5 * (hand_mean_bce(out.intersection, c.targets.intersection()) +
                                  hand_mean_bce(out.union_mask, c.targets.union_mask()) +
                                  hand_mean_bce(out.annotation, s));
  EXPECT_NEAR(loss->compute(out, c.targets).total.item<double>(), published, 1e-12);
}

TEST(UgsLoss, TableTwoRowsChooseWhichHeadsSeeEveryAnnotator) {
  const Case c = make_case(4);
  const auto out = outputs(c);
  auto phi = [&](const std::string& name, size_t part) {
    return make_loss(name)->compute(out, c.targets).parts[part].second.item<double>();
  };
  Case annotation_case = c;
  annotation_case.logits = out.annotation;
  const double phi_a_all = hand_phi(annotation_case, 4), phi_b_all = hand_phi(c, 4);
  const double phi_a_first = hand_mean_bce(out.annotation, c.targets.first_annotation());
  const double phi_b_first = hand_mean_bce(out.segmentation, c.targets.first_annotation());
  EXPECT_NEAR(phi("ugsnet-v1-phi-a", 3), phi_a_all, 1e-12);
  EXPECT_NEAR(phi("ugsnet-v1-phi-a", 4), phi_b_first, 1e-12);
  EXPECT_NEAR(phi("ugsnet-v1-phi-b", 3), phi_a_first, 1e-12);
  EXPECT_NEAR(phi("ugsnet-v1-phi-b", 4), phi_b_all, 1e-12);
  EXPECT_NEAR(phi("ugsnet-v1-phi-ab", 3), phi_a_all, 1e-12);
  EXPECT_NEAR(phi("ugsnet-v1-iucm", 4), phi_b_first, 1e-12);
  EXPECT_NEAR(phi("ugsnet", 4), phi_b_all, 1e-12);
}

TEST(SegmentationLoss, IsBceOnLabelOnePlusOptionalSoftDice) {
  const Case c = make_case(4);
  const auto out = outputs(c);
  const auto label = c.targets.first_annotation();
  const double bce_value = hand_mean_bce(out.segmentation, label);
  EXPECT_NEAR(make_loss("unet")->compute(out, c.targets).total.item<double>(), bce_value, 1e-12);
  SegmentationLossOptions with_dice;
  with_dice.dice_weight = 2.0;
  const auto terms = SegmentationLoss(with_dice).compute(out, c.targets);
  const auto p = torch::sigmoid(out.segmentation);
  double dice_sum = 0.0;
  for (int64_t b = 0; b < 2; ++b) {
    const double overlap = (p[b] * label[b]).sum().item<double>();
    const double sizes = p[b].sum().item<double>() + label[b].sum().item<double>();
    dice_sum += 1.0 - (2.0 * overlap + 1.0) / (sizes + 1.0);
  }
  EXPECT_NEAR(terms.total.item<double>(), bce_value + 2.0 * dice_sum / 2.0, 1e-12);
  EXPECT_EQ(terms.parts.size(), 2u);
}

TEST(SegmentationLoss, DiceAloneWhenBceWeighsNothing) {
  const Case c = make_case(4);
  const auto out = outputs(c);
  SegmentationLossOptions dice_only;
  dice_only.bce_weight = 0.0;
  dice_only.dice_weight = 1.0;
  const auto terms = SegmentationLoss(dice_only).compute(out, c.targets);
  ASSERT_EQ(terms.parts.size(), 1u);
  EXPECT_EQ(terms.parts[0].first, "dice");
  EXPECT_NEAR(terms.total.item<double>(), terms.parts[0].second.item<double>(), 1e-12);
  SegmentationLossOptions nothing;
  nothing.bce_weight = 0.0;
  EXPECT_THROW(SegmentationLoss(nothing).compute(out, c.targets), std::invalid_argument);
}

TEST(Losses, PartNamesAreThoseComputeReturns) {
  const Case c = make_case(3);
  const auto out = outputs(c);
  SegmentationLossOptions with_dice;
  with_dice.dice_weight = 1.0;
  const std::vector<std::unique_ptr<Loss>> losses = [&] {
    std::vector<std::unique_ptr<Loss>> list;
    list.push_back(make_loss("ugsnet"));
    list.push_back(make_loss("unet"));
    list.push_back(std::make_unique<SegmentationLoss>(with_dice));
    return list;
  }();
  for (const auto& loss : losses) {
    std::vector<std::string> computed;
    for (const auto& [name, value] : loss->compute(out, c.targets).parts) computed.push_back(name);
    EXPECT_EQ(computed, loss->part_names());
  }
}

TEST(Losses, GradientsFlowToEveryHead) {
  const Case c = make_case(3);
  auto out = outputs(c);
  for (auto* head : {&out.segmentation, &out.union_mask, &out.intersection, &out.annotation}) {
    *head = head->detach().to(test_device()).requires_grad_();
  }
  AnnotationTargets targets{c.targets.annotations.to(test_device()), c.targets.annotator_count.to(test_device())};
  UgsLoss().compute(out, targets).total.backward();
  for (auto* head : {&out.segmentation, &out.union_mask, &out.intersection, &out.annotation}) {
    EXPECT_GT(head->grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(Losses, RejectBadTargetsWithOneLine) {
  const Case c = make_case(2);
  const auto out = outputs(c);
  AnnotationTargets too_many{c.targets.annotations, torch::tensor({int64_t{5}, int64_t{1}})};
  EXPECT_THROW(UgsLoss().compute(out, too_many), std::invalid_argument);
  AnnotationTargets none{c.targets.annotations, torch::tensor({int64_t{0}, int64_t{1}})};
  EXPECT_THROW(multiple_annotation_loss(c.logits, none), std::invalid_argument);
  AnnotationTargets flat{c.targets.annotations.flatten(), c.targets.annotator_count};
  EXPECT_THROW(SegmentationLoss().compute(out, flat), std::invalid_argument);
  NetworkOutput baseline_only;
  baseline_only.segmentation = c.logits;
  EXPECT_THROW(UgsLoss().compute(baseline_only, c.targets), std::invalid_argument);
  try {
    UgsLoss().compute(out, too_many);
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(std::string(error.what()).find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace ugs::model
