#include "ugs/model/blocks.h"

namespace ugs::model {

namespace nn = torch::nn;

ConvBlockImpl::ConvBlockImpl(int64_t in_channels, int64_t out_channels)
    : conv(nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, 3).padding(1)),
           nn::BatchNorm2d(out_channels), nn::ReLU(nn::ReLUOptions().inplace(true)),
           nn::Conv2d(nn::Conv2dOptions(out_channels, out_channels, 3).padding(1)),
           nn::BatchNorm2d(out_channels), nn::ReLU(nn::ReLUOptions().inplace(true))) {
  register_module("conv", conv);
}

torch::Tensor ConvBlockImpl::forward(const torch::Tensor& x) { return conv->forward(x); }

nn::ConvTranspose2d up_convolution(int64_t in_channels, int64_t out_channels) {
  return nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in_channels, out_channels, 2).stride(2));
}

UpConvImpl::UpConvImpl(int64_t in_channels, int64_t out_channels)
    : up(nn::Upsample(nn::UpsampleOptions().scale_factor(std::vector<double>{2.0, 2.0})
                          .mode(torch::kNearest)),
         nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, 3).padding(1)),
         nn::BatchNorm2d(out_channels), nn::ReLU(nn::ReLUOptions().inplace(true))) {
  register_module("up", up);
}

torch::Tensor UpConvImpl::forward(const torch::Tensor& x) { return up->forward(x); }

AttentionBlockImpl::AttentionBlockImpl(int64_t gate_channels, int64_t skip_channels,
                                       int64_t inner_channels)
    : W_g(nn::Conv2d(nn::Conv2dOptions(gate_channels, inner_channels, 1)),
          nn::BatchNorm2d(inner_channels)),
      W_x(nn::Conv2d(nn::Conv2dOptions(skip_channels, inner_channels, 1)),
          nn::BatchNorm2d(inner_channels)),
      psi(nn::Conv2d(nn::Conv2dOptions(inner_channels, 1, 1)), nn::BatchNorm2d(1), nn::Sigmoid()),
      relu(nn::ReLUOptions().inplace(true)) {
  register_module("W_g", W_g);
  register_module("W_x", W_x);
  register_module("psi", psi);
  register_module("relu", relu);
}

torch::Tensor AttentionBlockImpl::forward(const torch::Tensor& g, const torch::Tensor& x) {
  auto gate = relu->forward(W_g->forward(g) + W_x->forward(x));
  return x * psi->forward(gate);
}

}  // namespace ugs::model
