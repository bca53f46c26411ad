// The published numbers of the UGS-Net paper, as printed (the header says where from and what is odd).
#include "ugs/orchestrator/paper_results.h"

#include <cmath>

namespace ugs::orchestrator::paper {

namespace {

// Table I: Fold1..Fold5 {DSC, IoU, NSD}, then the Average column's DSC, IoU, NSD (mean, std, and 1
// where the text prints the deviation with one decimal).
std::vector<SegmentationRow> make_table1() {
  return {
      {"fcn32s", "FCN32s", {84.87, 0.64}, {74.77, 0.78}, {94.02, 0.82},
       {{83.92, 73.51, 92.63}, {84.80, 74.75, 93.64}, {85.37, 75.35, 94.81}, {84.54, 74.44, 94.21},
        {85.74, 75.78, 94.80}}},
      {"unet", "U-Net", {86.26, 0.74}, {76.79, 0.97}, {94.46, 0.91},
       {{84.98, 75.18, 93.12}, {86.34, 76.89, 93.67}, {87.26, 78.21, 95.50}, {86.20, 76.67, 94.83},
        {86.52, 77.02, 95.17}}},
      {"r2unet", "R2U-Net", {85.17, 1.05}, {75.29, 1.37}, {94.03, 1.19},
       {{83.33, 72.92, 92.10}, {85.66, 76.02, 94.17}, {86.44, 77.01, 95.23}, {84.83, 74.86, 93.38},
        {85.61, 75.66, 95.26}}},
      {"r2aunet", "R2AU-Net", {84.69, 1.13}, {74.61, 1.50}, {93.65, 1.2, 1},
       {{82.99, 72.36, 91.50}, {83.84, 73.43, 92.92}, {86.13, 76.50, 94.58}, {85.10, 75.24, 94.24},
        {85.41, 75.53, 95.03}}},
      {"attunet", "Attention U-Net", {86.67, 0.65}, {77.33, 0.88}, {94.94, 0.9, 1},
       {{85.99, 76.44, 93.98}, {86.11, 76.58, 93.68}, {87.76, 78.89, 96.07}, {86.50, 77.13, 95.42},
        {86.99, 77.61, 95.56}}},
      {"nested-unet", "Nested U-Net", {85.60, 0.55}, {75.76, 0.68}, {94.83, 0.9, 1},
       {{84.72, 74.70, 93.12}, {85.40, 75.61, 94.39}, {86.06, 76.35, 95.57}, {85.50, 75.54, 95.16},
        {86.31, 76.62, 95.90}}},
      {"channel-unet", "Channel U-Net", {86.21, 0.56}, {76.69, 0.71}, {94.82, 1.0, 1},
       {{85.28, 75.44, 94.15}, {86.02, 76.58, 93.22}, {86.93, 77.62, 95.94}, {86.25, 76.82, 95.36},
        {86.56, 76.99, 95.46}}},
      {"ugsnet-v1", "UGS-Net-V1", {87.16, 0.69}, {78.04, 1.00}, {95.28, 0.9, 1},
       {{86.47, 77.07, 93.58}, {87.21, 78.17, 95.26}, {88.39, 79.86, 96.20}, {86.56, 77.17, 95.56},
        {87.19, 77.94, 95.78}}},
      {"ugsnet", "UGS-Net", {87.65, 0.57}, {78.78, 0.83}, {95.62, 0.59},
       {{87.49, 78.43, 94.67}, {87.72, 78.86, 95.43}, {88.66, 80.31, 96.50}, {86.93, 77.86, 95.64},
        {87.44, 78.44, 95.84}}},
  };
}

// Table II: DSC, IoU, NSD (mean, std) only.
std::vector<SegmentationRow> make_table2() {
  return {
      {"attunet", "Attention U-Net (backbone)", {86.67, 0.65}, {77.33, 0.88}, {94.94, 0.94}, {}},
      {"ugsnet-v1", "V1", {87.16, 0.69}, {78.04, 1.00}, {95.28, 0.90}, {}},
      {"ugsnet-v1-phi-a", "V1 + Phi_a", {87.42, 0.59}, {78.42, 0.87}, {95.56, 0.73}, {}},
      {"ugsnet-v1-phi-b", "V1 + Phi_b", {87.33, 0.48}, {78.34, 0.70}, {95.44, 0.53}, {}},
      {"ugsnet-v1-phi-ab", "V1 + Phi_a + Phi_b", {87.62, 0.54}, {78.75, 0.82}, {95.84, 0.61}, {}},
      {"ugsnet-v1-iucm", "V1 + IUCM", {87.09, 0.59}, {77.97, 0.93}, {95.34, 0.69}, {}},
      {"ugsnet", "UGS-Net (V1 + Phi_a + Phi_b + IUCM)", {87.65, 0.57}, {78.78, 0.83}, {95.62, 0.59}, {}},
  };
}

// Table III: per group, U-Net then UGS-Net: Fold1..Fold5 {DSC, IoU}, Average {DSC, IoU}, and the
// printed gain of UGS-Net.
std::vector<ComplexNodulesGroup> make_table3() {
  return {
      {0.6,
       {{"unet", {{{46.24, 30.55}, {51.51, 35.00}, {52.18, 35.35}, {46.11, 30.84}, {46.6, 30.96}}},
         {48.53, 32.36}, false, {}},
        {"ugsnet", {{{70.42, 55.5}, {56.95, 41.57}, {63.17, 47.68}, {46.64, 32.52}, {60.59, 44.94}}},
         {59.55, 44.44}, true, {11.03, 11.88}}}},
      {0.7,
       {{"unet", {{{56.88, 40.78}, {61.37, 44.79}, {61.54, 44.83}, {61.08, 44.78}, {59.53, 43.24}}},
         {60.08, 43.68}, false, {}},
        {"ugsnet", {{{74.09, 60.02}, {69.32, 54.74}, {72.02, 57.62}, {65.90, 50.99}, {70.60, 56.05}}},
         {70.39, 55.88}, true, {10.31, 11.20}}}},
      {0.8,
       {{"unet", {{{70.04, 55.00}, {72.58, 57.52}, {72.60, 57.50}, {70.71, 55.46}, {71.42, 56.30}}},
         {71.47, 56.36}, false, {}},
        {"ugsnet", {{{79.11, 66.21}, {77.16, 63.63}, {77.27, 63.70}, {74.49, 60.64}, {77.53, 64.00}}},
         {77.08, 63.64}, true, {5.61, 7.28}}}},
  };
}

}  // namespace

const std::vector<SegmentationRow>& segmentation_table(std::string_view paper_table) {
  static const std::vector<SegmentationRow> kTable1 = make_table1();
  static const std::vector<SegmentationRow> kTable2 = make_table2();
  static const std::vector<SegmentationRow> kNone;
  if (paper_table == "I") return kTable1;
  if (paper_table == "II") return kTable2;
  return kNone;
}

const SegmentationRow* find_segmentation_row(std::string_view paper_table, std::string_view network) {
  for (const SegmentationRow& row : segmentation_table(paper_table)) {
    if (network == row.network) return &row;
  }
  return nullptr;
}

const std::vector<ComplexNodulesGroup>& complex_nodules_table() {
  static const std::vector<ComplexNodulesGroup> kTable3 = make_table3();
  return kTable3;
}

const ComplexNodulesRow* find_complex_nodules_row(double threshold, std::string_view network) {
  for (const ComplexNodulesGroup& group : complex_nodules_table()) {
    if (std::abs(group.threshold - threshold) > 1e-9) continue;
    for (const ComplexNodulesRow& row : group.rows) {
      if (network == row.network) return &row;
    }
  }
  return nullptr;
}

}  // namespace ugs::orchestrator::paper
