#include "ugs/worker/montage.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>

#include "ugs/storage/png_io.h"

namespace ugs::worker {
namespace {

using storage::Nodule;
using storage::Predictions;

constexpr Rgb kBlack{0, 0, 0};
// A pixel belongs to a predicted region when its probability is at least this (as `ugs score`).
constexpr float kForeground = 0.5f;

// An RGB picture being drawn.
class Canvas {
 public:
  Canvas(int height, int width, Rgb fill) : height_(height), width_(width) {
    pixels_.reserve(static_cast<std::size_t>(height) * width * 3);
    for (int i = 0; i < height * width; ++i) pixels_.insert(pixels_.end(), fill.begin(), fill.end());
  }
  void set(int y, int x, Rgb colour) {
    std::copy(colour.begin(), colour.end(), pixels_.begin() + (static_cast<std::size_t>(y) * width_ + x) * 3);
  }
  void write(const std::filesystem::path& file) const { storage::write_png_rgb8(file, height_, width_, pixels_); }

 private:
  int height_;
  int width_;
  std::vector<std::uint8_t> pixels_;
};

// Where one crop is drawn: its top-left output pixel, its size in crop pixels, and the scale.
struct Panel {
  int top;
  int left;
  int height;
  int width;
  int scale;
};

// Fills the panel with colour_of(crop pixel index), each crop pixel a scale x scale square.
template <class ColourOf>
void fill(Canvas& canvas, const Panel& panel, ColourOf colour_of) {
  for (int y = 0; y < panel.height * panel.scale; ++y) {
    for (int x = 0; x < panel.width * panel.scale; ++x) {
      canvas.set(panel.top + y, panel.left + x, colour_of((y / panel.scale) * panel.width + x / panel.scale));
    }
  }
}

// Draws the inner border of `mask` (0/1 per crop pixel) on the upscaled grid, max(1, scale / 2)
// output pixels wide: the output pixels of the mask with a pixel outside it or outside the panel
// within that distance up, down, left or right.
void draw_contour(Canvas& canvas, const Panel& panel, const std::vector<std::uint8_t>& mask) {
  const int height = panel.height * panel.scale, width = panel.width * panel.scale;
  const int thickness = std::max(1, panel.scale / 2);
  auto inside = [&](int y, int x) {
    return y >= 0 && x >= 0 && y < height && x < width &&
           mask[static_cast<std::size_t>(y / panel.scale) * panel.width + x / panel.scale] != 0;
  };
  auto near_border = [&](int y, int x) {
    for (int d = 1; d <= thickness; ++d) {
      if (!inside(y - d, x) || !inside(y + d, x) || !inside(y, x - d) || !inside(y, x + d)) return true;
    }
    return false;
  };
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      if (inside(y, x) && near_border(y, x)) canvas.set(panel.top + y, panel.left + x, kContour);
    }
  }
}

void draw_image(Canvas& canvas, const Panel& panel, const std::vector<float>& image) {
  const auto [lo, hi] = std::minmax_element(image.begin(), image.end());
  const float range = *hi - *lo;
  fill(canvas, panel, [&](std::size_t p) {
    const auto gray = static_cast<std::uint8_t>(range > 0 ? std::lround((image[p] - *lo) / range * 255.0f) : 0);
    return Rgb{gray, gray, gray};
  });
}

// Red where `high`, else blue where `low`, else black; either may be absent (nullptr).
void draw_regions(Canvas& canvas, const Panel& panel, const std::uint8_t* high, const std::uint8_t* low) {
  fill(canvas, panel, [&](std::size_t p) {
    if (high != nullptr && high[p]) return kHighConfidence;
    if (low != nullptr && low[p]) return kLowConfidence;
    return kBlack;
  });
}

std::vector<std::uint8_t> threshold(const Predictions& predictions, const std::vector<float>& maps,
                                    std::size_t row) {
  const float* map = predictions.of(maps, row);
  std::vector<std::uint8_t> mask(predictions.pixels());
  for (std::size_t p = 0; p < mask.size(); ++p) mask[p] = map[p] >= kForeground;
  return mask;
}

void check_rows(const Predictions& predictions, const std::vector<std::size_t>& rows, const MontageOptions& options) {
  if (rows.empty()) throw std::invalid_argument("montage: no nodules to draw");
  if (options.scale < 1 || options.gap < 0) {
    throw std::invalid_argument("montage: scale must be >= 1 and gap >= 0, got scale " +
                                std::to_string(options.scale) + " and gap " + std::to_string(options.gap));
  }
  for (std::size_t row : rows) {
    if (row >= predictions.size()) {
      throw std::out_of_range("montage: prediction row " + std::to_string(row) + " out of range (there are " +
                              std::to_string(predictions.size()) + ")");
    }
  }
}

}  // namespace

void write_montage(const std::filesystem::path& file, const storage::NoduleStore& store,
                   const Predictions& predictions, const std::vector<std::size_t>& rows,
                   const MontageOptions& options) {
  check_rows(predictions, rows, options);
  std::vector<std::size_t> indices;
  for (std::size_t row : rows) {
    const std::string& id = predictions.nodule_ids[row];
    const std::optional<std::size_t> index = store.find(id);
    if (!index) {
      throw std::runtime_error(store.path().string() + ": has no nodule '" + id + "' (prediction row " +
                               std::to_string(row) + ")");
    }
    indices.push_back(*index);
  }
  write_montage(file, store.read(indices), predictions, rows, options);
}

void write_montage(const std::filesystem::path& file, const std::vector<Nodule>& nodules,
                   const Predictions& predictions, const std::vector<std::size_t>& rows,
                   const MontageOptions& options) {
  check_rows(predictions, rows, options);
  if (nodules.size() != rows.size()) {
    throw std::invalid_argument("montage: " + std::to_string(nodules.size()) + " nodules for " +
                                std::to_string(rows.size()) + " prediction rows");
  }
  const std::size_t pixels = predictions.pixels();
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const Nodule& nodule = nodules[k];
    if (nodule.info.nodule_id != predictions.nodule_ids[rows[k]]) {
      throw std::invalid_argument("montage: nodule '" + nodule.info.nodule_id + "' drawn with the prediction of '" +
                                  predictions.nodule_ids[rows[k]] + "'");
    }
    if (nodule.image.size() != pixels || nodule.union_mask.size() != pixels ||
        nodule.intersection_mask.size() != pixels ||
        nodule.annotators.size() != static_cast<std::size_t>(nodule.info.annotator_count) * pixels) {
      throw std::invalid_argument("montage: nodule '" + nodule.info.nodule_id + "' is not " +
                                  std::to_string(predictions.height) + "x" + std::to_string(predictions.width) +
                                  " like its predictions");
    }
  }

  const int panels = options.truth == TruthPanel::kShow ? 3 : 2;
  const int panel_height = predictions.height * options.scale, panel_width = predictions.width * options.scale;
  const int row_count = static_cast<int>(rows.size());
  Canvas canvas(options.gap + row_count * (panel_height + options.gap),
                options.gap + panels * (panel_width + options.gap), kMontageGap);
  for (int k = 0; k < row_count; ++k) {
    const Nodule& nodule = nodules[k];
    const std::size_t row = rows[k];
    auto panel = [&](int column) {
      return Panel{options.gap + k * (panel_height + options.gap), options.gap + column * (panel_width + options.gap),
                   predictions.height, predictions.width, options.scale};
    };
    draw_image(canvas, panel(0), nodule.image);

    std::vector<std::uint8_t> high, low;
    if (predictions.intersection_map) high = threshold(predictions, *predictions.intersection_map, row);
    if (predictions.union_map) low = threshold(predictions, *predictions.union_map, row);
    draw_regions(canvas, panel(1), high.empty() ? nullptr : high.data(), low.empty() ? nullptr : low.data());
    draw_contour(canvas, panel(1), threshold(predictions, predictions.segmentation, row));

    if (options.truth == TruthPanel::kShow) {
      draw_regions(canvas, panel(2), nodule.intersection_mask.data(), nodule.union_mask.data());
      if (nodule.info.annotator_count > 0) {
        const auto* label_1 = nodule.annotator(0, static_cast<int>(pixels));
        draw_contour(canvas, panel(2), std::vector<std::uint8_t>(label_1, label_1 + pixels));
      }
    }
  }
  canvas.write(file);
}

}  // namespace ugs::worker
