// Self-attention over the pixels of a feature map, as UGS-Net's Feature-Aware Attention Blocks use it
// (SAGAN, Zhang et al. 2019; the published UGS-Net code):
//
//   out[b, c, i] = sum_j softmax_j( sum_e q[b, e, i] * k[b, e, j] ) * v[b, c, j]
//
// with q, k: [B, d, N], v: [B, C, N], N = H*W pixels, and NO 1/sqrt(d) scaling (the published
// choice, kept so that weights trained by it behave the same here).
//
// Evaluated naively, the N x N softmax weights are stored for backward: 64 MiB per sample and block
// at 64x64 (three blocks per UGS-Net). These functions never store them:
// - with LibTorch >= 2.0, pixel_attention calls at::scaled_dot_product_attention (scale = 1), which
//   picks a fused kernel (flash / memory-efficient on CUDA, flash on CPU). q and k are zero-padded
//   to the head size the kernels accept, which leaves every dot product unchanged;
// - with LibTorch 1.x (no fused attention), on the CPU it runs pixel_attention_fused_cpu below.
//
//   auto out = ugs::model::pixel_attention(q, k, v);   // [B, C, N], differentiable in q, k, v
//
// Errors: std::invalid_argument for inconsistent shapes, and on LibTorch 1.x for a non-CPU tensor.
// Thread safety: pure functions; safe to call concurrently on different tensors.
#pragma once

#include <torch/torch.h>

namespace ugs::model {

// The attention above, on whichever implementation the LibTorch in use makes memory-lean.
torch::Tensor pixel_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

// The fused CPU kernel (float32): each block of queries computes its scores, softmax and output
// while they sit in cache; only the log-sum-exp per query is kept, and backward recomputes the
// scores block by block (the flash-attention scheme). Extra memory: O(threads * N) floats instead of
// O(B * N^2). Compiled on every LibTorch so that the tests check it everywhere.
torch::Tensor pixel_attention_fused_cpu(const torch::Tensor& q, const torch::Tensor& k,
                                        const torch::Tensor& v);

}  // namespace ugs::model
