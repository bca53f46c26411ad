// The memory-lean pixel attention against the formula it replaces: softmax(Q^T K) V, unscaled.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test_device.h"
#include "ugs/model/attention.h"

namespace ugs::model {
namespace {

// The published code's evaluation, in double: energy = Q^T K, attention = softmax over keys,
// out = V attention^T. Materialises [B, N, N].
torch::Tensor naive_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  auto attention = torch::softmax(torch::bmm(q.transpose(1, 2), k), -1);
  return torch::bmm(v, attention.transpose(1, 2));
}

struct Inputs {
  torch::Tensor q, k, v, upstream;
};

// Scores of a few units, like trained features: enough spread that softmax is far from uniform.
Inputs random_inputs(int64_t batch, int64_t key_channels, int64_t value_channels, int64_t pixels) {
  torch::manual_seed(7);
  return {torch::randn({batch, key_channels, pixels}) * 1.5, torch::randn({batch, key_channels, pixels}) * 1.5,
          torch::randn({batch, value_channels, pixels}), torch::randn({batch, value_channels, pixels})};
}

// Output and the gradients of <out, upstream> with respect to q, k, v.
std::vector<torch::Tensor> value_and_grads(
    const std::function<torch::Tensor(torch::Tensor, torch::Tensor, torch::Tensor)>& attention,
    const Inputs& in, torch::Dtype dtype) {
  auto q = in.q.to(dtype).requires_grad_();
  auto k = in.k.to(dtype).requires_grad_();
  auto v = in.v.to(dtype).requires_grad_();
  auto out = attention(q, k, v);
  (out * in.upstream.to(dtype)).sum().backward();
  return {out.detach().to(torch::kDouble), q.grad().to(torch::kDouble), k.grad().to(torch::kDouble),
          v.grad().to(torch::kDouble)};
}

// Float sums over N keys against double: the tolerance grows with N (about 1e-4 at N = 4096). On a
// GPU the fused kernels may multiply float32 on TF32 tensor cores (10-bit mantissa): 2e-3.
void expect_matches_naive(
    const std::function<torch::Tensor(torch::Tensor, torch::Tensor, torch::Tensor)>& attention,
    const Inputs& in) {
  const double tolerance =
      in.q.is_cuda() ? 2e-3 : 1e-5 + 2.5e-8 * static_cast<double>(in.q.size(2));
  const auto expected = value_and_grads(naive_attention, in, torch::kDouble);
  const auto actual = value_and_grads(attention, in, torch::kFloat);
  const char* names[] = {"out", "dq", "dk", "dv"};
  for (size_t t = 0; t < expected.size(); ++t) {
    const double scale = expected[t].abs().max().item<double>();
    const double error = (actual[t] - expected[t]).abs().max().item<double>();
    EXPECT_LT(error, tolerance * std::max(1.0, scale)) << names[t] << ": max |error| " << error
                                                   << " for max |value| " << scale;
  }
}

TEST(PixelAttention, FusedCpuKernelEqualsNaiveFormulaWithGradients) {
  // 331 pixels: not a multiple of the kernel's query block, to cover the ragged last block.
  expect_matches_naive(pixel_attention_fused_cpu, random_inputs(3, 4, 32, 331));
}

TEST(PixelAttention, FusedCpuKernelHandlesOneKeyChannelAndOneThread) {
  const int previous = torch::get_num_threads();
  torch::set_num_threads(1);
  expect_matches_naive(pixel_attention_fused_cpu, random_inputs(2, 1, 4, 64));
  torch::set_num_threads(previous);
}

TEST(PixelAttention, DispatchEqualsNaiveFormula) {
  auto in = random_inputs(1, 4, 32, 40 * 40);
  const auto device = testing::test_device();
  expect_matches_naive(pixel_attention, {in.q.to(device), in.k.to(device), in.v.to(device), in.upstream.to(device)});
}

TEST(PixelAttention, RejectsInconsistentShapes) {
  auto q = torch::randn({2, 4, 16});
  EXPECT_THROW(pixel_attention(q, torch::randn({2, 4, 15}), torch::randn({2, 8, 16})),
               std::invalid_argument);
  EXPECT_THROW(pixel_attention(q, q, torch::randn({1, 8, 16})), std::invalid_argument);
  EXPECT_THROW(pixel_attention_fused_cpu(q.to(torch::kDouble), q.to(torch::kDouble),
                                         torch::randn({2, 8, 16}, torch::kDouble)),
               std::invalid_argument);
}

}  // namespace
}  // namespace ugs::model
