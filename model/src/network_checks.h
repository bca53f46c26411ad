// Checks every network makes on its configuration and its input, so that a bad width or a wrongly
// shaped batch fails with one line naming the network and the problem instead of a deep LibTorch
// shape error.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "ugs/model/network.h"

namespace ugs::model::detail {

// The width a reference layer of `reference_width` channels gets under `config.base_width`. Every
// network scales its reference widths by base_width / 64, 64 being the first-level width of the
// U-Net family. Throws std::invalid_argument if the configuration is invalid (in_channels or
// base_width below 1) or the scaled width is not a whole number of channels.
int64_t scaled_width(int64_t reference_width, const ModelConfig& config, const char* network);

// Throws std::invalid_argument unless `images` is [B, in_channels, H, W] with B >= 1 and H, W
// positive multiples of `size_multiple` (the network's total downsampling factor).
void require_images(const torch::Tensor& images, int64_t in_channels, int64_t size_multiple,
                    const char* network);

}  // namespace ugs::model::detail
