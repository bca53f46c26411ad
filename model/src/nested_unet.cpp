#include "ugs/model/nested_unet.h"

#include "network_checks.h"

namespace ugs::model {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {

constexpr const char* kName = "nested-unet";
// Four 2x2 max-pools.
constexpr int64_t kSizeMultiple = 16;

nn::Conv2d conv3x3(int64_t in_channels, int64_t out_channels) {
  return nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, 3).padding(1));
}

}  // namespace

VGGBlockImpl::VGGBlockImpl(int64_t in_channels, int64_t middle_channels, int64_t out_channels)
    : conv1(conv3x3(in_channels, middle_channels)),
      conv2(conv3x3(middle_channels, out_channels)),
      bn1(middle_channels),
      bn2(out_channels) {
  // Registered in the reference's order.
  register_module("conv1", conv1);
  register_module("bn1", bn1);
  register_module("conv2", conv2);
  register_module("bn2", bn2);
}

torch::Tensor VGGBlockImpl::forward(const torch::Tensor& x) {
  auto out = torch::relu(bn1->forward(conv1->forward(x)));
  return torch::relu(bn2->forward(conv2->forward(out)));
}

NestedUNetImpl::NestedUNetImpl(const ModelConfig& config) : in_channels_(config.in_channels) {
  // The reference's nb_filter = [32, 64, 128, 256, 512].
  const int64_t f0 = detail::scaled_width(32, config, kName);
  const int64_t f1 = 2 * f0, f2 = 4 * f0, f3 = 8 * f0, f4 = 16 * f0;
  // Node X(i,j) sees its j predecessors on level i and the upsampled X(i+1,j-1).
  const auto node = [](int64_t same_level, int predecessors, int64_t below) {
    return VGGBlock(predecessors * same_level + below, same_level, same_level);
  };
  conv0_0 = register_module("conv0_0", VGGBlock(config.in_channels, f0, f0));
  conv1_0 = register_module("conv1_0", VGGBlock(f0, f1, f1));
  conv2_0 = register_module("conv2_0", VGGBlock(f1, f2, f2));
  conv3_0 = register_module("conv3_0", VGGBlock(f2, f3, f3));
  conv4_0 = register_module("conv4_0", VGGBlock(f3, f4, f4));
  conv0_1 = register_module("conv0_1", node(f0, 1, f1));
  conv1_1 = register_module("conv1_1", node(f1, 1, f2));
  conv2_1 = register_module("conv2_1", node(f2, 1, f3));
  conv3_1 = register_module("conv3_1", node(f3, 1, f4));
  conv0_2 = register_module("conv0_2", node(f0, 2, f1));
  conv1_2 = register_module("conv1_2", node(f1, 2, f2));
  conv2_2 = register_module("conv2_2", node(f2, 2, f3));
  conv0_3 = register_module("conv0_3", node(f0, 3, f1));
  conv1_3 = register_module("conv1_3", node(f1, 3, f2));
  conv0_4 = register_module("conv0_4", node(f0, 4, f1));
  final_conv = register_module("final", nn::Conv2d(nn::Conv2dOptions(f0, 1, 1)));
}

NetworkOutput NestedUNetImpl::forward(const torch::Tensor& images) {
  detail::require_images(images, in_channels_, kSizeMultiple, kName);
  const auto pool = [](const torch::Tensor& x) { return torch::max_pool2d(x, 2); };
  const auto up = [](const torch::Tensor& x) {
    return F::interpolate(x, F::InterpolateFuncOptions()
                                 .scale_factor(std::vector<double>{2.0, 2.0})
                                 .mode(torch::kBilinear)
                                 .align_corners(true));
  };
  auto x0_0 = conv0_0->forward(images);
  auto x1_0 = conv1_0->forward(pool(x0_0));
  auto x0_1 = conv0_1->forward(torch::cat({x0_0, up(x1_0)}, 1));

  auto x2_0 = conv2_0->forward(pool(x1_0));
  auto x1_1 = conv1_1->forward(torch::cat({x1_0, up(x2_0)}, 1));
  auto x0_2 = conv0_2->forward(torch::cat({x0_0, x0_1, up(x1_1)}, 1));

  auto x3_0 = conv3_0->forward(pool(x2_0));
  auto x2_1 = conv2_1->forward(torch::cat({x2_0, up(x3_0)}, 1));
  auto x1_2 = conv1_2->forward(torch::cat({x1_0, x1_1, up(x2_1)}, 1));
  auto x0_3 = conv0_3->forward(torch::cat({x0_0, x0_1, x0_2, up(x1_2)}, 1));

  auto x4_0 = conv4_0->forward(pool(x3_0));
  auto x3_1 = conv3_1->forward(torch::cat({x3_0, up(x4_0)}, 1));
  auto x2_2 = conv2_2->forward(torch::cat({x2_0, x2_1, up(x3_1)}, 1));
  auto x1_3 = conv1_3->forward(torch::cat({x1_0, x1_1, x1_2, up(x2_2)}, 1));
  auto x0_4 = conv0_4->forward(torch::cat({x0_0, x0_1, x0_2, x0_3, up(x1_3)}, 1));

  NetworkOutput out;
  out.segmentation = final_conv->forward(x0_4);
  return out;
}

}  // namespace ugs::model
