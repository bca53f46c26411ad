// The predictions file: a network's probability maps for a set of nodules, one HDF5 file, written by
// training jobs (or any tool, e.g. Python with h5py) and read by `ugs score`. The format is specified
// in docs/predictions-format.md:
//
//   /              attributes schema = "ugs.predictions", version = 1
//   /nodule_id     [N] strings, unique, the store's nodule ids
//   /segmentation  [N,H,W] float32 in [0,1]: X_S, the final segmentation        (required)
//   /union         [N,H,W] float32 in [0,1]: U', the predicted union            (optional)
//   /intersection  [N,H,W] float32 in [0,1]: I', the predicted intersection     (optional)
//   /annotation    [N,H,W] float32 in [0,1]: GT'_Uni, the single-annotation map (optional)
//
//   Predictions p;
//   p.height = 50; p.width = 50;
//   p.nodule_ids = {"LIDC-IDRI-0001/1"};
//   p.segmentation = probabilities;                    // N*H*W floats
//   write_predictions("out/fold_0/predictions.h5", p);  // validated, then written atomically
//   Predictions q = read_predictions("out/fold_0/predictions.h5");
//
// Errors: an invalid Predictions or file throws std::runtime_error with one line naming the file and
// what is wrong ("p.h5: /union has shape [12,50,49], expected [12,50,50] like /segmentation";
// "p.h5: /segmentation of nodule 'x' (row 3) has 1.5 at pixel (10,4), outside [0,1]").
// Thread safety: safe to call from several threads; the HDF5 calls take the storage library's
// process-wide HDF5 lock (the one NoduleStore uses), as the HDF5 library is not reentrant.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ugs::storage {

inline constexpr const char* kPredictionsSchemaName = "ugs.predictions";
inline constexpr int kPredictionsSchemaVersion = 1;

// Probability maps for N nodules, each row-major [N, height, width].
struct Predictions {
  int height = 0;
  int width = 0;
  std::vector<std::string> nodule_ids;                   // N, non-empty and unique
  std::vector<float> segmentation;                       // X_S, N*height*width (required)
  std::optional<std::vector<float>> union_map;           // U'
  std::optional<std::vector<float>> intersection_map;    // I'
  std::optional<std::vector<float>> annotation_map;      // GT'_Uni

  std::size_t size() const { return nodule_ids.size(); }
  std::size_t pixels() const { return static_cast<std::size_t>(height) * width; }
  // The map of nodule `row` inside one of the arrays above.
  const float* of(const std::vector<float>& maps, std::size_t row) const {
    return maps.data() + row * pixels();
  }
};

// Validates `predictions` (at least one nodule, shapes, ids, every value in [0,1]) and writes it to
// `file` atomically: a crash leaves the old file or none, never a partial one.
void write_predictions(const std::filesystem::path& file, const Predictions& predictions);

// Reads and validates a predictions file (schema and version, datasets and shapes, ids, values).
// Unknown datasets are refused, so a misspelt "/unoin" is an error rather than a silently absent map.
Predictions read_predictions(const std::filesystem::path& file);

}  // namespace ugs::storage
