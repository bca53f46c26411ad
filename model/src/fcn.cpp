#include "ugs/model/fcn.h"

#include <array>
#include <string>

#include "network_checks.h"

namespace ugs::model {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {

constexpr const char* kName = "fcn32s";
// VGG16 configuration "D": the number of 3x3 convs and the reference width of each stage.
constexpr std::array<int, 5> kStageDepths{2, 2, 3, 3, 3};
constexpr std::array<int64_t, 5> kStageWidths{64, 128, 256, 512, 512};
// Reference width of fc6 and fc7, VGG16's fully connected layers recast as convs.
constexpr int64_t kFullyConnectedWidth = 4096;
// fc6 is VGG16's first fully connected layer over a 7x7 map, recast as a 7x7 conv.
constexpr int64_t kFc6Kernel = 7;
// The five max-pools: the total downsampling of the network.
constexpr int64_t kSizeMultiple = 32;
// Padding of conv1_1, from the reference: large enough that fc6's 7x7 window fits small inputs.
constexpr int64_t kFirstPadding = 100;
// Where the input starts in the upsampled map, given the padding above (the reference's crop).
constexpr int64_t kCropOffset = 19;
// The upsampling: one transposed conv of kernel 64 and stride 32.
constexpr int64_t kUpscoreKernel = 64;
constexpr int64_t kUpscoreStride = 32;
constexpr double kDropout = 0.5;

// The FCN paper's bilinear interpolation kernel for a single channel (the reference's
// get_upsampling_weight, from the authors' surgery.py), shaped [1, 1, k, k].
torch::Tensor bilinear_kernel(int64_t kernel_size) {
  const int64_t factor = (kernel_size + 1) / 2;
  const double center = kernel_size % 2 == 1 ? factor - 1 : factor - 0.5;
  auto ramp = 1 - (torch::arange(kernel_size, torch::kDouble) - center).abs() / factor;
  return torch::outer(ramp, ramp).to(torch::kFloat).view({1, 1, kernel_size, kernel_size});
}

}  // namespace

FCN32sImpl::FCN32sImpl(const ModelConfig& config) : in_channels_(config.in_channels) {
  int64_t channels = config.in_channels;
  for (size_t stage = 0; stage < kStageDepths.size(); ++stage) {
    const int64_t width = detail::scaled_width(kStageWidths[stage], config, kName);
    std::vector<nn::Conv2d> convs;
    for (int layer = 0; layer < kStageDepths[stage]; ++layer) {
      const int64_t padding = stage == 0 && layer == 0 ? kFirstPadding : 1;
      convs.push_back(
          register_module("conv" + std::to_string(stage + 1) + "_" + std::to_string(layer + 1),
                          nn::Conv2d(nn::Conv2dOptions(channels, width, 3).padding(padding))));
      channels = width;
    }
    stages_.push_back(std::move(convs));
  }
  const int64_t fc_width = detail::scaled_width(kFullyConnectedWidth, config, kName);
  fc6 = register_module("fc6", nn::Conv2d(nn::Conv2dOptions(channels, fc_width, kFc6Kernel)));
  fc7 = register_module("fc7", nn::Conv2d(nn::Conv2dOptions(fc_width, fc_width, 1)));
  score_fr = register_module("score_fr", nn::Conv2d(nn::Conv2dOptions(fc_width, 1, 1)));
  upscore = register_module(
      "upscore",
      nn::ConvTranspose2d(
          nn::ConvTranspose2dOptions(1, 1, kUpscoreKernel).stride(kUpscoreStride).bias(false)));
  torch::NoGradGuard no_grad;
  upscore->weight.copy_(bilinear_kernel(kUpscoreKernel));
}

NetworkOutput FCN32sImpl::forward(const torch::Tensor& images) {
  detail::require_images(images, in_channels_, kSizeMultiple, kName);
  auto h = images;
  for (auto& stage : stages_) {
    for (auto& conv : stage) h = torch::relu(conv->forward(h));
    h = F::max_pool2d(h, F::MaxPool2dFuncOptions(2).stride(2).ceil_mode(true));
  }
  const auto dropout = F::Dropout2dFuncOptions().p(kDropout).training(is_training());
  h = F::dropout2d(torch::relu(fc6->forward(h)), dropout);
  h = F::dropout2d(torch::relu(fc7->forward(h)), dropout);
  h = upscore->forward(score_fr->forward(h));
  NetworkOutput out;
  out.segmentation = h.slice(2, kCropOffset, kCropOffset + images.size(2))
                         .slice(3, kCropOffset, kCropOffset + images.size(3))
                         .contiguous();
  return out;
}

}  // namespace ugs::model
