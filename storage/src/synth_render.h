// Rendering of one synthetic nodule (HU image and reader masks) from its plan; used by synth.cpp.
#pragma once

#include <cstdint>

#include "synth_math.h"
#include "ugs/storage/store.h"
#include "ugs/storage/synth.h"

namespace ugs::storage::synth {

// What the nodules of one patient share: they come from the same CT scan.
struct ScanParams {
  double spacing_mm = 0.7;
  double lung_hu = -850.0;      // mean parenchyma density (inspiration level, emphysema)
  double noise_hu = 30.0;       // standard deviation of the image noise
  double noise_grain_px = 0.8;  // its correlation length (reconstruction kernel, dose)
  double texture_hu = 15.0;     // amplitude of the slowly varying parenchymal density
};

ScanParams draw_scan(std::uint64_t seed, int patient, const SynthOptions& options);

// Fills `out.image`, `out.annotators`, `out.union_mask`, `out.intersection_mask` for a crop of
// height x width pixels; draws from `rng` only.
void render_nodule(const SynthNodulePlan& plan, const ScanParams& scan, int height, int width, Rng& rng,
                   Nodule& out);

}  // namespace ugs::storage::synth
