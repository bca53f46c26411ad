// The paper's Fig. 7 as a PNG: for each chosen nodule, its image, the network's multi-confidence
// mask (MCM) with the final segmentation, and the same picture drawn from the radiologists' masks.
//
//   storage::Predictions p = predict_nodules(net, store, indices, preprocess, device);   // inference.h
//   write_montage("runs/job/montage.png", store, p, {0, 1, 2, 3});   // rows of p, top to bottom
//
// One line per nodule, panels left to right, every crop pixel drawn as scale x scale pixels (nearest),
// each panel H*scale x W*scale, with `gap` pixels of gray (kMontageGap) around and between panels:
//   1. image       the crop in grayscale, min-max stretched per crop (a constant crop is black);
//   2. prediction  on black: red where I' >= 0.5 (the high-confidence region), blue where U' >= 0.5
//                  outside it (the low-confidence region), and the contour of X_S >= 0.5 in green;
//                  a network without U' and I' (the baselines) shows the green contour alone;
//   3. truth       (TruthPanel::kShow) the same from the annotators: red the intersection I, blue
//                  the union U outside I, green the contour of Label_1 (annotator 0; no contour for
//                  a store without per-reader masks).
// The threshold 0.5 is the one `ugs score` uses. A contour is drawn on the upscaled grid on the
// inside of the mask's border, max(1, scale / 2) output pixels wide (the mask's pixels with a pixel
// outside the mask or the panel that near, up, down, left or right), so that the regions under it
// stay visible.
// Image size: height = gap + rows * (H*scale + gap), width = gap + panels * (W*scale + gap), with
// panels 3 (kShow) or 2 (kHide).
//
// Errors: std::invalid_argument for no rows, scale < 1, gap < 0, or a nodule whose image is not
// predictions.height x predictions.width; std::out_of_range for a row past the predictions;
// std::runtime_error naming the store when it lacks a predicted nodule id; what write_png_rgb8
// throws. The PNG is written atomically (a temporary and a rename).
// Thread safety: the functions keep no state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "ugs/storage/predictions.h"
#include "ugs/storage/store.h"

namespace ugs::worker {

// Whether the montage has the third panel, drawn from the nodule's own masks. Crops without masks
// (one image given to `ugs predict`) hide it.
enum class TruthPanel { kShow, kHide };

struct MontageOptions {
  int scale = 4;  // output pixels per crop pixel, in each direction: a 50x50 crop becomes 200x200
  int gap = 4;    // gray pixels around and between panels
  TruthPanel truth = TruthPanel::kShow;
};

// The colours of the montage, R, G, B.
using Rgb = std::array<std::uint8_t, 3>;
inline constexpr Rgb kMontageGap{128, 128, 128};
inline constexpr Rgb kHighConfidence{255, 0, 0};  // I', I
inline constexpr Rgb kLowConfidence{0, 0, 255};   // U' \ I', U \ I
inline constexpr Rgb kContour{0, 255, 0};         // X_S, Label_1

// Draws the prediction rows `rows`, one line each, with the store's nodules of the same ids.
void write_montage(const std::filesystem::path& file, const storage::NoduleStore& store,
                   const storage::Predictions& predictions, const std::vector<std::size_t>& rows,
                   const MontageOptions& options = {});

// The same with the nodules at hand: nodules[k] is drawn with prediction row rows[k] (their ids must
// match; std::invalid_argument otherwise).
void write_montage(const std::filesystem::path& file, const std::vector<storage::Nodule>& nodules,
                   const storage::Predictions& predictions, const std::vector<std::size_t>& rows,
                   const MontageOptions& options = {});

}  // namespace ugs::worker
