// The numbers the UGS-Net paper publishes in its Tables I, II and III, keyed by ugs network names,
// for `ugs report` to set beside a run's own (docs/report.md).
//
//   if (const paper::SegmentationRow* row = paper::find_segmentation_row("I", "unet")) {
//     std::printf("%s: DSC %.2f +- %.2f\n", row->paper_name, row->dsc.mean, row->dsc.std);
//   }   // U-Net [25]: DSC 86.26 +- 0.74
//
// Source: H. Yang, Q. Wang, Y. Zhang, Z. An, L. Chen, X. Zhang, S. K. Zhou, "Lung Nodule
// Segmentation and Low-Confidence Region Prediction with an Uncertainty-Aware Attention Mechanism"
// (the journal version of UGS-Net), Tables I, II and III, copied by hand from the text of the paper
// (../shared/reference/paper-ugsnet.txt), every number as printed, in percent. Their data: LIDC-IDRI
// (Armato III et al., Med. Phys. 38(2), 2011; TCIA, CC BY 3.0), 1,860 nodules, five folds of the
// authors' own split (by nodule, not by patient), so only the averages compare with a ugs run, not
// the folds one by one.
//
// As printed, hence not always consistent (docs/report.md lists it):
//   - Table I's "Average" is the mean +- the population standard deviation of the five fold values
//     (e.g. U-Net DSC: 86.26 +- 0.74; the sample deviation would be 0.82). In the text five NSD
//     deviations kept one decimal: R2AU-Net 1.2, Attention U-Net 0.9, Nested U-Net 0.9, Channel
//     U-Net 1.0, UGS-Net-V1 0.9 (their folds give 1.29, 0.94, 0.99, 1.00, 0.90);
//   - Table II publishes means and deviations only; its rows for Attention U-Net, V1 and UGS-Net
//     repeat Table I's (with the NSD deviations 0.94 and 0.90 in full). Its check marks are garbled
//     in the text; the row order is the one its Section IV-D describes: backbone, V1, V1 + Phi_a,
//     V1 + Phi_b, V1 + Phi_a + Phi_b, V1 + IUCM, UGS-Net;
//   - Table III's averages and improvements do not all follow from its folds (U-Net IoU at 60%:
//     32.36 printed, 32.54 from the folds; the IoU gain at 70%: 11.20 printed, 55.88 - 43.68 =
//     12.20; UGS-Net DSC at 80%: 77.08 printed, 77.11 from the folds).
//
// Thread safety: constant tables, built once on first use; safe from any thread.
#pragma once

#include <array>
#include <string_view>
#include <vector>

namespace ugs::orchestrator::paper {

// A published "mean +- std" over the five folds, in percent, printed with two decimals except the
// deviations the text shows with one (std_decimals = 1; see above).
struct MeanStd {
  double mean = 0;
  double std = 0;
  int std_decimals = 2;
};

// DSC, IoU and NSD of one fold, in percent.
struct FoldScores {
  double dsc = 0;
  double iou = 0;
  double nsd = 0;
};

// A row of Table I or II: Label_1 DSC, IoU and NSD.
struct SegmentationRow {
  const char* network;     // the ugs name (model::network_names())
  const char* paper_name;  // the row as the paper names it
  MeanStd dsc, iou, nsd;   // the "Average" column
  std::vector<FoldScores> folds;  // Fold1..Fold5; empty in Table II, which publishes none
};

// DSC and IoU over one group of complex nodules, in percent.
struct OverlapScores {
  double dsc = 0;
  double iou = 0;
};

// A network's row in one group of Table III.
struct ComplexNodulesRow {
  const char* network;  // "unet" or "ugsnet"
  std::array<OverlapScores, 5> folds;
  OverlapScores average;
  // The printed improvement ("up-arrow") over U-Net's average; printed for UGS-Net only.
  bool has_gain = false;
  OverlapScores gain;
};

// One group of Table III: the nodules whose U-Net DSC is <= threshold.
struct ComplexNodulesGroup {
  double threshold;  // 0.6, 0.7, 0.8
  std::vector<ComplexNodulesRow> rows;
};

// "I" or "II": the rows in the paper's order; any other name: none.
const std::vector<SegmentationRow>& segmentation_table(std::string_view paper_table);

// The row of `network` in Table `paper_table` ("I", "II"); nullptr when the table has none.
const SegmentationRow* find_segmentation_row(std::string_view paper_table, std::string_view network);

// Table III, its three groups in the paper's order (60%, 70%, 80%).
const std::vector<ComplexNodulesGroup>& complex_nodules_table();

// The group of Table III at `threshold` (within 1e-9) and its row of `network`; nullptr if none.
const ComplexNodulesRow* find_complex_nodules_row(double threshold, std::string_view network);

}  // namespace ugs::orchestrator::paper
