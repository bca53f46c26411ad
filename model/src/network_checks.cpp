#include "network_checks.h"

#include <sstream>
#include <stdexcept>

namespace ugs::model::detail {

namespace {

// The first-level width of the U-Net family's reference implementations: base_width's unit.
constexpr int64_t kReferenceBaseWidth = 64;

}  // namespace

int64_t scaled_width(int64_t reference_width, const ModelConfig& config, const char* network) {
  if (config.in_channels < 1) {
    throw std::invalid_argument(std::string(network) + ": in_channels must be at least 1, got " +
                                std::to_string(config.in_channels));
  }
  if (config.base_width < 1) {
    throw std::invalid_argument(std::string(network) + ": base_width must be at least 1, got " +
                                std::to_string(config.base_width));
  }
  const int64_t scaled = reference_width * config.base_width;
  if (scaled % kReferenceBaseWidth != 0) {
    throw std::invalid_argument(
        std::string(network) + ": base_width " + std::to_string(config.base_width) +
        " scales the reference width " + std::to_string(reference_width) +
        " to a fractional number of channels (widths scale by base_width/64)");
  }
  return scaled / kReferenceBaseWidth;
}

void require_images(const torch::Tensor& images, int64_t in_channels, int64_t size_multiple,
                    const char* network) {
  const bool well_formed = images.defined() && images.dim() == 4 && images.size(0) >= 1 &&
                           images.size(1) == in_channels && images.size(2) > 0 &&
                           images.size(3) > 0 && images.size(2) % size_multiple == 0 &&
                           images.size(3) % size_multiple == 0;
  if (well_formed) return;
  std::ostringstream message;
  message << network << ": expected images [B, " << in_channels
          << ", H, W] with H and W positive multiples of " << size_multiple << ", got ";
  if (images.defined()) {
    message << images.sizes();
  } else {
    message << "an undefined tensor";
  }
  throw std::invalid_argument(message.str());
}

}  // namespace ugs::model::detail
