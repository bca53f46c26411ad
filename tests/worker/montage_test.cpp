// The Fig. 7 montage: size, and each colour where its mask is, read back from the PNG.
#include "ugs/worker/montage.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "ugs/storage/png_io.h"
#include "worker/job_test_data.h"

namespace ugs::worker {
namespace {

using storage::Nodule;
using storage::Predictions;

constexpr int kSize = 6;  // 6x6 crops
constexpr std::size_t kPixels = kSize * kSize;
constexpr Rgb kBlack{0, 0, 0};

// 0/1 (or the two values given) on the rectangle rows [r0, r1] x columns [c0, c1] of a 6x6 crop.
template <class T>
std::vector<T> rectangle(int r0, int r1, int c0, int c1, T in = 1, T out = 0) {
  std::vector<T> values(kPixels, out);
  for (int r = r0; r <= r1; ++r) {
    for (int c = c0; c <= c1; ++c) values[r * kSize + c] = in;
  }
  return values;
}

// Two readers: Label_1 is rows 1-4 x columns 1-4, reader 2 rows 2-3 x columns 2-5, so
// I = rows 2-3 x columns 2-4 and U adds column 5 of rows 2-3. The image is a ramp 0..35.
Nodule two_reader_nodule(const std::string& id) {
  Nodule nodule;
  nodule.info.nodule_id = id;
  nodule.info.patient_id = "p";
  nodule.info.annotator_count = 2;
  const auto label_1 = rectangle<std::uint8_t>(1, 4, 1, 4), reader_2 = rectangle<std::uint8_t>(2, 3, 2, 5);
  nodule.annotators = label_1;
  nodule.annotators.insert(nodule.annotators.end(), reader_2.begin(), reader_2.end());
  nodule.union_mask.resize(kPixels);
  nodule.intersection_mask.resize(kPixels);
  for (std::size_t p = 0; p < kPixels; ++p) {
    nodule.union_mask[p] = label_1[p] | reader_2[p];
    nodule.intersection_mask[p] = label_1[p] & reader_2[p];
  }
  for (std::size_t p = 0; p < kPixels; ++p) nodule.image.push_back(static_cast<float>(p) - 1000.0f);
  return nodule;
}

void append(std::vector<float>& maps, const std::vector<float>& map) {
  maps.insert(maps.end(), map.begin(), map.end());
}

// Row 0 ("other"): nothing anywhere. Row 1 ("n"): X_S rows 1-4 x columns 1-3, U' rows 0-5 x columns
// 0-4, I' rows 2-3 x columns 2-3; probabilities 0.1 outside, 0.5..0.9 inside (0.5 counts as inside).
Predictions predictions_with_heads() {
  Predictions p;
  p.height = p.width = kSize;
  p.nodule_ids = {"other", "n"};
  const std::vector<float> nothing(kPixels, 0.1f);
  p.segmentation = nothing;
  append(p.segmentation, rectangle<float>(1, 4, 1, 3, 0.9f, 0.1f));
  p.union_map = nothing;
  append(*p.union_map, rectangle<float>(0, 5, 0, 4, 0.5f, 0.1f));
  p.intersection_map = nothing;
  append(*p.intersection_map, rectangle<float>(2, 3, 2, 3, 0.7f, 0.49f));
  return p;
}

// The montage read back, with the colour of output pixel (dy, dx) of crop pixel (r, c) in a panel.
class Montage {
 public:
  Montage(const std::filesystem::path& file, const MontageOptions& options)
      : image_(storage::read_png_rgb8(file)), options_(options) {}
  const storage::RgbImage& image() const { return image_; }

  Rgb at(int y, int x) const {
    const std::uint8_t* p = image_.pixels.data() + (static_cast<std::size_t>(y) * image_.width + x) * 3;
    return {p[0], p[1], p[2]};
  }
  // The centre of crop pixel (r, c), or another of its output pixels (dy, dx), in panel `column` of
  // montage line `line`.
  Rgb at(int line, int column, int r, int c, int dy = -1, int dx = -1) const {
    const int s = options_.scale, side = kSize * s + options_.gap;
    return at(options_.gap + line * side + r * s + (dy < 0 ? s / 2 : dy),
              options_.gap + column * side + c * s + (dx < 0 ? s / 2 : dx));
  }

 private:
  storage::RgbImage image_;
  MontageOptions options_;
};

constexpr int kImage = 0, kPrediction = 1, kTruth = 2;

class WriteMontage : public ::testing::Test {
 protected:
  WriteMontage() { options_.scale = 4, options_.gap = 2; }
  testing::TemporaryFolder folder_;
  MontageOptions options_;
};

TEST_F(WriteMontage, DrawsTheImageTheMcmAndTheTruthWhereTheirMasksAre) {
  const Predictions p = predictions_with_heads();
  write_montage(folder_ / "m.png", {two_reader_nodule("n")}, p, {1}, options_);
  const Montage m(folder_ / "m.png", options_);
  EXPECT_EQ(m.image().height, 2 + 1 * (kSize * 4 + 2));
  EXPECT_EQ(m.image().width, 2 + 3 * (kSize * 4 + 2));
  EXPECT_EQ(m.at(0, 0), kMontageGap);
  EXPECT_EQ(m.at(1 + kSize * 4, 1 + kSize * 4 + 2), kMontageGap);  // between the first two panels

  // The image, min-max stretched: -1000 is black, -965 white, -999 is 1/35 of the way.
  EXPECT_EQ(m.at(0, kImage, 0, 0), kBlack);
  EXPECT_EQ(m.at(0, kImage, 5, 5), (Rgb{255, 255, 255}));
  EXPECT_EQ(m.at(0, kImage, 0, 1), (Rgb{7, 7, 7}));

  // The prediction: I' red, U' \ I' blue, X_S's contour green on the inside of its border.
  EXPECT_EQ(m.at(0, kPrediction, 2, 2), kHighConfidence);
  EXPECT_EQ(m.at(0, kPrediction, 3, 3, 0, 0), kHighConfidence);
  EXPECT_EQ(m.at(0, kPrediction, 0, 0), kLowConfidence);
  EXPECT_EQ(m.at(0, kPrediction, 1, 1), kLowConfidence);   // inside X_S, off its contour
  EXPECT_EQ(m.at(0, kPrediction, 2, 4), kLowConfidence);   // I' is below 0.5 there
  EXPECT_EQ(m.at(0, kPrediction, 5, 5), kBlack);
  // X_S's contour, scale / 2 = 2 output pixels wide: the top edge (row 1) ...
  EXPECT_EQ(m.at(0, kPrediction, 1, 1, 0, 2), kContour);
  EXPECT_EQ(m.at(0, kPrediction, 1, 1, 1, 2), kContour);
  EXPECT_EQ(m.at(0, kPrediction, 1, 1, 2, 2), kLowConfidence);
  // ... and the right edge (column 3), over I'.
  EXPECT_EQ(m.at(0, kPrediction, 3, 3, 2, 1), kHighConfidence);
  EXPECT_EQ(m.at(0, kPrediction, 3, 3, 2, 2), kContour);
  EXPECT_EQ(m.at(0, kPrediction, 3, 3, 2, 3), kContour);
  EXPECT_EQ(m.at(0, kPrediction, 2, 2, 0, 0), kHighConfidence);  // I''s border is not X_S's
  EXPECT_EQ(m.at(0, kPrediction, 3, 4, 2, 0), kLowConfidence);   // just right of X_S: no contour

  // The truth: I red, U \ I blue, Label_1's contour green; reader 2's extra column is blue only.
  EXPECT_EQ(m.at(0, kTruth, 2, 2), kHighConfidence);
  EXPECT_EQ(m.at(0, kTruth, 3, 4, 0, 0), kHighConfidence);
  EXPECT_EQ(m.at(0, kTruth, 1, 1), kLowConfidence);
  EXPECT_EQ(m.at(0, kTruth, 2, 5), kLowConfidence);
  EXPECT_EQ(m.at(0, kTruth, 2, 5, 2, 3), kLowConfidence);
  EXPECT_EQ(m.at(0, kTruth, 0, 0), kBlack);
  EXPECT_EQ(m.at(0, kTruth, 4, 4, 3, 2), kContour);  // Label_1's bottom edge
  EXPECT_EQ(m.at(0, kTruth, 2, 4, 2, 3), kContour);  // Label_1's right edge runs through I
}

TEST_F(WriteMontage, RowsFromTheStoreInTheOrderGivenAndNoTruthPanelOnRequest) {
  const storage::StoreAttributes attributes = testing::square_attributes(kSize);
  Nodule other = two_reader_nodule("other");
  storage::testing::write_store(folder_ / "store", attributes, {other, two_reader_nodule("n")});
  const storage::NoduleStore store = storage::NoduleStore::open(folder_ / "store");

  Predictions p = predictions_with_heads();
  write_montage(folder_ / "store.png", store, p, {1, 0}, options_);
  const Montage m(folder_ / "store.png", options_);
  EXPECT_EQ(m.image().height, 2 + 2 * (kSize * 4 + 2));
  EXPECT_EQ(m.at(0, kPrediction, 2, 2), kHighConfidence);  // "n" first
  EXPECT_EQ(m.at(1, kPrediction, 2, 2), kBlack);           // then "other": no predicted region
  EXPECT_EQ(m.at(1, kTruth, 2, 2), kHighConfidence);       // but its own truth

  // A baseline (X_S only), without the truth panel: the contour on black.
  p.union_map.reset();
  p.intersection_map.reset();
  options_.truth = TruthPanel::kHide;
  write_montage(folder_ / "baseline.png", store, p, {1}, options_);
  const Montage b(folder_ / "baseline.png", options_);
  EXPECT_EQ(b.image().width, 2 + 2 * (kSize * 4 + 2));
  EXPECT_EQ(b.at(0, kPrediction, 2, 2), kBlack);
  EXPECT_EQ(b.at(0, kPrediction, 1, 1, 0, 2), kContour);
}

TEST_F(WriteMontage, RefusesRowsItCannotDraw) {
  const Predictions p = predictions_with_heads();
  const std::vector<Nodule> nodule = {two_reader_nodule("n")};
  EXPECT_THROW(write_montage(folder_ / "m.png", nodule, p, {}, options_), std::invalid_argument);
  EXPECT_THROW(write_montage(folder_ / "m.png", nodule, p, {2}, options_), std::out_of_range);
  EXPECT_THROW(write_montage(folder_ / "m.png", nodule, p, {0}, options_), std::invalid_argument);  // ids differ
  options_.scale = 0;
  EXPECT_THROW(write_montage(folder_ / "m.png", nodule, p, {1}, options_), std::invalid_argument);

  const storage::StoreAttributes attributes = testing::square_attributes(kSize);
  storage::testing::write_store(folder_ / "store", attributes, {two_reader_nodule("n")});
  const storage::NoduleStore store = storage::NoduleStore::open(folder_ / "store");
  options_.scale = 4;
  EXPECT_THROW(write_montage(folder_ / "m.png", store, p, {0}, options_), std::runtime_error);  // no "other"
  EXPECT_FALSE(std::filesystem::exists(folder_ / "m.png"));
}

}  // namespace
}  // namespace ugs::worker
