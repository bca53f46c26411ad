#include "ugs/model/attention.h"

#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

// The CPU kernel is vectorised by the compiler: plain loops, `#pragma omp simd` reductions
// (-fopenmp-simd, see model/CMakeLists.txt) and GCC vector types where loops hold conditionals. The
// same source is compiled twice, for AVX2+FMA and for the baseline ISA, and picked at run time.
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define UGS_ATTENTION_HAS_AVX2_CLONE 1
#define UGS_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define UGS_ATTENTION_HAS_AVX2_CLONE 0
#define UGS_ALWAYS_INLINE inline
#endif

namespace ugs::model {

namespace {

// Queries handled together: their scores (kQueryBlock x N floats, 256 KiB at N = 4096) stay in L2
// while every key/value row is read once per block instead of once per query.
constexpr int64_t kQueryBlock = 16;
// Keys handled together: a block's tiles of P and dS are then 16 KiB each and stay in L1.
constexpr int64_t kKeyTile = 256;

// Scratch rows are padded by one cache line: with N = 4096 an unpadded row stride of 16 KiB would
// map the same column of every row to the same L1 set and evict the block's rows from each other.
constexpr int64_t row_stride(int64_t pixels) { return pixels + 16; }

struct AttentionShape {
  int64_t key_channels;    // d
  int64_t value_channels;  // C
  int64_t pixels;          // N
};

// Eight floats handled as one value: GCC's vector extension, lowered to one AVX register in the
// AVX2 build and to two SSE registers in the baseline one. Used where the compiler does not
// vectorise plain loops by itself (conditionals, the exponential).
typedef float Vec8 __attribute__((vector_size(32)));
typedef int32_t Vec8i __attribute__((vector_size(32)));
constexpr int64_t kLanes = 8;

UGS_ALWAYS_INLINE Vec8 load8(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

UGS_ALWAYS_INLINE void store8(float* p, Vec8 v) { std::memcpy(p, &v, sizeof(v)); }

UGS_ALWAYS_INLINE Vec8 splat8(float x) { return Vec8{} + x; }

UGS_ALWAYS_INLINE float sum8(Vec8 v) {
  float total = 0.0f;
  for (int lane = 0; lane < kLanes; ++lane) total += v[lane];
  return total;
}

UGS_ALWAYS_INLINE float max8(Vec8 v) {
  float best = v[0];
  for (int lane = 1; lane < kLanes; ++lane) best = std::max(best, v[lane]);
  return best;
}

// exp(x) to about 2 ulp: Cody-Waite range reduction x = n*ln2 + r, a degree-6 polynomial for
// exp(r), and 2^n assembled in the exponent bits. Inputs here are softmax scores shifted to <= 0;
// below -87 the result is clamped to about 1e-38 (a probability of 0 for all purposes).
UGS_ALWAYS_INLINE Vec8 exp8(Vec8 x) {
  const Vec8 low = splat8(-87.0f), high = splat8(88.0f);
  x = x < low ? low : x;
  x = x > high ? high : x;
  const float kRoundingShift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const Vec8 n = (x * 1.44269504088896341f + kRoundingShift) - kRoundingShift;
  const Vec8 r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  Vec8 p = splat8(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const Vec8i bits = (__builtin_convertvector(n, Vec8i) + 127) << 23;
  Vec8 scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// p[j] = exp(p[j] - shift) for j < n; returns the sum of the results.
UGS_ALWAYS_INLINE float exp_shifted_in_place(float* p, int64_t n, float shift) {
  Vec8 total = Vec8{};
  const Vec8 offset = splat8(shift);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const Vec8 e = exp8(load8(p + j) - offset);
    store8(p + j, e);
    total += e;
  }
  float sum = sum8(total);
  for (; j < n; ++j) {
    p[j] = exp8(splat8(p[j] - shift))[0];
    sum += p[j];
  }
  return sum;
}

UGS_ALWAYS_INLINE float max_of(const float* p, int64_t n) {
  Vec8 best = splat8(-std::numeric_limits<float>::infinity());
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const Vec8 x = load8(p + j);
    best = x > best ? x : best;
  }
  float result = max8(best);
  for (; j < n; ++j) result = std::max(result, p[j]);
  return result;
}

// scores[j] = sum_e q[e, i] * k[e, j] for one query i.
UGS_ALWAYS_INLINE void query_scores(const float* q, const float* k, AttentionShape shape, int64_t i,
                                    float* scores) {
  const int64_t n = shape.pixels;
  const float q0 = q[i];
  for (int64_t j = 0; j < n; ++j) scores[j] = q0 * k[j];
  for (int64_t e = 1; e < shape.key_channels; ++e) {
    const float qe = q[e * n + i];
    const float* ke = k + e * n;
    for (int64_t j = 0; j < n; ++j) scores[j] += qe * ke[j];
  }
}

// Forward of queries [first, first + rows) of one sample. Pointers are that sample's [channels, N]
// planes; `probabilities` is rows x row_stride(N) scratch. Writes out[:, i] and log_sum_exp[i].
UGS_ALWAYS_INLINE void forward_block_body(const float* q, const float* k, const float* v, float* out,
                                          float* log_sum_exp, AttentionShape shape, int64_t first,
                                          int64_t rows, float* probabilities) {
  const int64_t n = shape.pixels;
  const int64_t stride = row_stride(n);
  float inverse_sum[kQueryBlock];
  for (int64_t r = 0; r < rows; ++r) {
    float* p = probabilities + r * stride;
    query_scores(q, k, shape, first + r, p);
    const float max_score = max_of(p, n);
    const float sum = exp_shifted_in_place(p, n, max_score);
    log_sum_exp[first + r] = max_score + std::log(sum);
    inverse_sum[r] = 1.0f / sum;
  }
  // out[c, i] = <p_i, v_c> / sum_i, key tile by key tile so that the block's tile of P stays in L1
  // across all channels; four queries at a time, so that four independent accumulator chains hide
  // the FMA latency and each value load serves four products.
  for (int64_t c = 0; c < shape.value_channels; ++c) {
    for (int64_t r = 0; r < rows; ++r) out[c * n + first + r] = 0.0f;
  }
  for (int64_t tile = 0; tile < n; tile += kKeyTile) {
    const int64_t width = std::min(kKeyTile, n - tile);
    for (int64_t c = 0; c < shape.value_channels; ++c) {
      const float* vc = v + c * n + tile;
      float* out_c = out + c * n + first;
      int64_t r = 0;
      for (; r + 4 <= rows; r += 4) {
        const float* p0 = probabilities + r * stride + tile;
        const float* p1 = p0 + stride;
        const float* p2 = p1 + stride;
        const float* p3 = p2 + stride;
        float acc0 = 0.0f, acc1 = 0.0f, acc2 = 0.0f, acc3 = 0.0f;
#pragma omp simd reduction(+ : acc0, acc1, acc2, acc3)
        for (int64_t j = 0; j < width; ++j) {
          acc0 += p0[j] * vc[j];
          acc1 += p1[j] * vc[j];
          acc2 += p2[j] * vc[j];
          acc3 += p3[j] * vc[j];
        }
        out_c[r] += acc0;
        out_c[r + 1] += acc1;
        out_c[r + 2] += acc2;
        out_c[r + 3] += acc3;
      }
      for (; r < rows; ++r) {
        const float* p = probabilities + r * stride + tile;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < width; ++j) acc += p[j] * vc[j];
        out_c[r] += acc;
      }
    }
  }
  for (int64_t c = 0; c < shape.value_channels; ++c) {
    for (int64_t r = 0; r < rows; ++r) out[c * n + first + r] *= inverse_sum[r];
  }
}

// Backward of queries [first, first + rows) of one sample: writes dq[:, i] for those queries and
// adds their share of dk and dv into the caller's accumulators. Scratch: two rows x row_stride(N)
// buffers. After P is rebuilt for the block, the work runs tile by tile along the keys, so that
// the block's slices of P, dP and dS (rows x kKeyTile floats each) are reused from L1 by the
// channel loops instead of being streamed from L2 once per channel.
UGS_ALWAYS_INLINE void backward_block_body(const float* q, const float* k, const float* v,
                                           const float* out, const float* log_sum_exp,
                                           const float* dout, float* dq, float* dk_sum,
                                           float* dv_sum, AttentionShape shape, int64_t first,
                                           int64_t rows, float* probabilities,
                                           float* score_grads) {
  const int64_t n = shape.pixels;
  const int64_t stride = row_stride(n);
  const int64_t d = shape.key_channels;
  const int64_t channels = shape.value_channels;
  float delta[kQueryBlock];  // <dout_i, out_i> = sum_j P_ij dP_ij, the softmax backward's row term
  for (int64_t r = 0; r < rows; ++r) {
    float* p = probabilities + r * stride;
    query_scores(q, k, shape, first + r, p);
    exp_shifted_in_place(p, n, log_sum_exp[first + r]);
    delta[r] = 0.0f;
    for (int64_t c = 0; c < channels; ++c) delta[r] += dout[c * n + first + r] * out[c * n + first + r];
  }
  for (int64_t e = 0; e < d; ++e) {
    for (int64_t r = 0; r < rows; ++r) dq[e * n + first + r] = 0.0f;
  }
  for (int64_t tile = 0; tile < n; tile += kKeyTile) {
    const int64_t width = std::min(kKeyTile, n - tile);
    // dP[r, j] = sum_c dout[c, i] * v[c, j], four channels per pass over the tile (a load and a
    // store of dP then serve four FMAs).
    for (int64_t r = 0; r < rows; ++r) std::fill_n(score_grads + r * stride + tile, width, 0.0f);
    int64_t c = 0;
    for (; c + 4 <= channels; c += 4) {
      const float* v0 = v + c * n + tile;
      const float* v1 = v0 + n;
      const float* v2 = v1 + n;
      const float* v3 = v2 + n;
      for (int64_t r = 0; r < rows; ++r) {
        const float* g = dout + c * n + first + r;
        const float g0 = g[0], g1 = g[n], g2 = g[2 * n], g3 = g[3 * n];
        float* dp = score_grads + r * stride + tile;
        for (int64_t j = 0; j < width; ++j) dp[j] += g0 * v0[j] + g1 * v1[j] + g2 * v2[j] + g3 * v3[j];
      }
    }
    for (; c < channels; ++c) {
      const float* vc = v + c * n + tile;
      for (int64_t r = 0; r < rows; ++r) {
        const float g = dout[c * n + first + r];
        float* dp = score_grads + r * stride + tile;
        for (int64_t j = 0; j < width; ++j) dp[j] += g * vc[j];
      }
    }
    // dS = P * (dP - delta), in place of dP.
    for (int64_t r = 0; r < rows; ++r) {
      const float* p = probabilities + r * stride + tile;
      float* ds = score_grads + r * stride + tile;
      for (int64_t j = 0; j < width; ++j) ds[j] = p[j] * (ds[j] - delta[r]);
    }
    // dV[c, j] += sum_r dout[c, i] * P[r, j], four rows per pass.
    for (int64_t ch = 0; ch < channels; ++ch) {
      float* dvc = dv_sum + ch * n + tile;
      const float* g = dout + ch * n + first;
      int64_t r = 0;
      for (; r + 4 <= rows; r += 4) {
        const float* p0 = probabilities + r * stride + tile;
        const float* p1 = p0 + stride;
        const float* p2 = p1 + stride;
        const float* p3 = p2 + stride;
        const float g0 = g[r], g1 = g[r + 1], g2 = g[r + 2], g3 = g[r + 3];
        for (int64_t j = 0; j < width; ++j) dvc[j] += g0 * p0[j] + g1 * p1[j] + g2 * p2[j] + g3 * p3[j];
      }
      for (; r < rows; ++r) {
        const float* p = probabilities + r * stride + tile;
        for (int64_t j = 0; j < width; ++j) dvc[j] += g[r] * p[j];
      }
    }
    // dK[e, j] += sum_r q[e, i] * dS[r, j];  dQ[e, i] += sum_j dS[r, j] * k[e, j]
    for (int64_t e = 0; e < d; ++e) {
      float* dke = dk_sum + e * n + tile;
      const float* ke = k + e * n + tile;
      for (int64_t r = 0; r < rows; ++r) {
        const float qe = q[e * n + first + r];
        const float* ds = score_grads + r * stride + tile;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < width; ++j) {
          dke[j] += qe * ds[j];
          acc += ds[j] * ke[j];
        }
        dq[e * n + first + r] += acc;
      }
    }
  }
}

void forward_block_generic(const float* q, const float* k, const float* v, float* out,
                           float* log_sum_exp, AttentionShape shape, int64_t first, int64_t rows,
                           float* probabilities) {
  forward_block_body(q, k, v, out, log_sum_exp, shape, first, rows, probabilities);
}

void backward_block_generic(const float* q, const float* k, const float* v, const float* out,
                            const float* log_sum_exp, const float* dout, float* dq, float* dk_sum,
                            float* dv_sum, AttentionShape shape, int64_t first, int64_t rows,
                            float* probabilities, float* score_grads) {
  backward_block_body(q, k, v, out, log_sum_exp, dout, dq, dk_sum, dv_sum, shape, first, rows,
                      probabilities, score_grads);
}

#if UGS_ATTENTION_HAS_AVX2_CLONE
__attribute__((target("avx2,fma"))) void forward_block_avx2(const float* q, const float* k,
                                                            const float* v, float* out,
                                                            float* log_sum_exp,
                                                            AttentionShape shape, int64_t first,
                                                            int64_t rows, float* probabilities) {
  forward_block_body(q, k, v, out, log_sum_exp, shape, first, rows, probabilities);
}

__attribute__((target("avx2,fma"))) void backward_block_avx2(
    const float* q, const float* k, const float* v, const float* out, const float* log_sum_exp,
    const float* dout, float* dq, float* dk_sum, float* dv_sum, AttentionShape shape,
    int64_t first, int64_t rows, float* probabilities, float* score_grads) {
  backward_block_body(q, k, v, out, log_sum_exp, dout, dq, dk_sum, dv_sum, shape, first, rows,
                      probabilities, score_grads);
}

bool cpu_has_avx2_fma() {
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported;
}
#endif

using ForwardBlock = void (*)(const float*, const float*, const float*, float*, float*,
                              AttentionShape, int64_t, int64_t, float*);
using BackwardBlock = void (*)(const float*, const float*, const float*, const float*,
                               const float*, const float*, float*, float*, float*, AttentionShape,
                               int64_t, int64_t, float*, float*);

ForwardBlock forward_block() {
#if UGS_ATTENTION_HAS_AVX2_CLONE
  if (cpu_has_avx2_fma()) return forward_block_avx2;
#endif
  return forward_block_generic;
}

BackwardBlock backward_block() {
#if UGS_ATTENTION_HAS_AVX2_CLONE
  if (cpu_has_avx2_fma()) return backward_block_avx2;
#endif
  return backward_block_generic;
}

void check_attention_inputs(const char* who, const torch::Tensor& q, const torch::Tensor& k,
                            const torch::Tensor& v) {
  const bool consistent = q.dim() == 3 && k.dim() == 3 && v.dim() == 3 && q.sizes() == k.sizes() &&
                          v.size(0) == q.size(0) && v.size(2) == q.size(2) && q.size(2) > 0;
  if (!consistent) {
    throw std::invalid_argument(std::string(who) + ": expected q, k [B, d, N] and v [B, C, N], got q " +
                                c10::str(q.sizes()) + ", k " + c10::str(k.sizes()) + ", v " +
                                c10::str(v.sizes()));
  }
}

struct SampleView {
  AttentionShape shape;
  int64_t blocks;
  int64_t q_stride, v_stride;
};

SampleView sample_view(const torch::Tensor& q, const torch::Tensor& v) {
  const AttentionShape shape{q.size(1), v.size(1), q.size(2)};
  return {shape, (shape.pixels + kQueryBlock - 1) / kQueryBlock, q.size(1) * q.size(2),
          v.size(1) * v.size(2)};
}

// Forward over all samples and query blocks in parallel; returns (out [B, C, N], lse [B, N]).
std::pair<torch::Tensor, torch::Tensor> fused_forward(const torch::Tensor& q, const torch::Tensor& k,
                                                      const torch::Tensor& v) {
  const SampleView view = sample_view(q, v);
  const int64_t batch = q.size(0);
  const int64_t n = view.shape.pixels;
  auto out = torch::empty_like(v);
  auto log_sum_exp = torch::empty({batch, n}, q.options());
  const float* q_data = q.data_ptr<float>();
  const float* k_data = k.data_ptr<float>();
  const float* v_data = v.data_ptr<float>();
  float* out_data = out.data_ptr<float>();
  float* lse_data = log_sum_exp.data_ptr<float>();
  const ForwardBlock run_block = forward_block();
  at::parallel_for(0, batch * view.blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> probabilities(static_cast<size_t>(kQueryBlock * row_stride(n)));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / view.blocks;
      const int64_t first = (item % view.blocks) * kQueryBlock;
      run_block(q_data + b * view.q_stride, k_data + b * view.q_stride, v_data + b * view.v_stride,
                out_data + b * view.v_stride, lse_data + b * n, view.shape, first,
                std::min(kQueryBlock, n - first), probabilities.data());
    }
  });
  return {out, log_sum_exp};
}

// Backward, one sample at a time: the query blocks of a sample are split into one contiguous range
// per task, and each task adds its dk/dv into its own accumulator (no races, no atomics); the
// accumulators are summed at the end. Extra memory: tasks * (d + C) * N floats.
std::vector<torch::Tensor> fused_backward(const torch::Tensor& q, const torch::Tensor& k,
                                          const torch::Tensor& v, const torch::Tensor& out,
                                          const torch::Tensor& log_sum_exp,
                                          const torch::Tensor& dout) {
  const SampleView view = sample_view(q, v);
  const int64_t batch = q.size(0);
  const int64_t n = view.shape.pixels;
  const int64_t d = view.shape.key_channels;
  const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), view.blocks));
  auto dq = torch::empty_like(q);
  auto dk = torch::empty_like(k);
  auto dv = torch::empty_like(v);
  auto sums = torch::empty({tasks, d + view.shape.value_channels, n}, q.options());
  const BackwardBlock run_block = backward_block();
  for (int64_t b = 0; b < batch; ++b) {
    sums.zero_();
    const float* q_b = q.data_ptr<float>() + b * view.q_stride;
    const float* k_b = k.data_ptr<float>() + b * view.q_stride;
    const float* v_b = v.data_ptr<float>() + b * view.v_stride;
    const float* out_b = out.data_ptr<float>() + b * view.v_stride;
    const float* dout_b = dout.data_ptr<float>() + b * view.v_stride;
    const float* lse_b = log_sum_exp.data_ptr<float>() + b * n;
    float* dq_b = dq.data_ptr<float>() + b * view.q_stride;
    at::parallel_for(0, tasks, 1, [&](int64_t task_begin, int64_t task_end) {
      std::vector<float> probabilities(static_cast<size_t>(kQueryBlock * row_stride(n)));
      std::vector<float> score_grads(static_cast<size_t>(kQueryBlock * row_stride(n)));
      for (int64_t task = task_begin; task < task_end; ++task) {
        float* dk_sum = sums.data_ptr<float>() + task * sums.size(1) * n;
        float* dv_sum = dk_sum + d * n;
        const int64_t first_block = task * view.blocks / tasks;
        const int64_t end_block = (task + 1) * view.blocks / tasks;
        for (int64_t block = first_block; block < end_block; ++block) {
          const int64_t first = block * kQueryBlock;
          run_block(q_b, k_b, v_b, out_b, lse_b, dout_b, dq_b, dk_sum, dv_sum, view.shape, first,
                    std::min(kQueryBlock, n - first), probabilities.data(), score_grads.data());
        }
      }
    });
    auto total = sums.sum(0);
    dk[b].copy_(total.narrow(0, 0, d));
    dv[b].copy_(total.narrow(0, d, view.shape.value_channels));
  }
  return {dq, dk, dv};
}

class FusedCpuAttention : public torch::autograd::Function<FusedCpuAttention> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q,
                               const torch::Tensor& k, const torch::Tensor& v) {
    auto q_c = q.contiguous();
    auto k_c = k.contiguous();
    auto v_c = v.contiguous();
    auto [out, log_sum_exp] = fused_forward(q_c, k_c, v_c);
    ctx->save_for_backward({q_c, k_c, v_c, out, log_sum_exp});
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    if (!grad_outputs[0].defined()) return {torch::Tensor(), torch::Tensor(), torch::Tensor()};
    return fused_backward(saved[0], saved[1], saved[2], saved[3], saved[4],
                          grad_outputs[0].contiguous());
  }
};

#if TORCH_VERSION_MAJOR >= 2
// [B, d, N] -> [B, 1, N, width], contiguous, zero-padded along the head dimension.
torch::Tensor as_heads(const torch::Tensor& x, int64_t width) {
  auto heads = x.transpose(1, 2).unsqueeze(1);
  if (width > x.size(1)) return at::constant_pad_nd(heads, {0, width - x.size(1)});
  return heads.contiguous();
}

torch::Tensor sdpa_pixel_attention(const torch::Tensor& q, const torch::Tensor& k,
                                   const torch::Tensor& v) {
  // The CPU flash kernel wants one head size for q, k and v; the CUDA memory-efficient kernel wants
  // q and k aligned to 8 elements (v may differ). Zero columns add nothing to any dot product.
  const int64_t key_width = q.is_cpu() ? std::max(v.size(1), q.size(1)) : (q.size(1) + 7) / 8 * 8;
  auto out = at::scaled_dot_product_attention(as_heads(q, key_width), as_heads(k, key_width),
                                              as_heads(v, v.size(1)), {}, 0.0, false,
                                              /*scale=*/1.0);
  return out.squeeze(1).transpose(1, 2);
}
#endif

}  // namespace

torch::Tensor pixel_attention_fused_cpu(const torch::Tensor& q, const torch::Tensor& k,
                                        const torch::Tensor& v) {
  check_attention_inputs("pixel_attention_fused_cpu", q, k, v);
  if (!q.is_cpu() || !k.is_cpu() || !v.is_cpu() || q.scalar_type() != torch::kFloat ||
      k.scalar_type() != torch::kFloat || v.scalar_type() != torch::kFloat) {
    throw std::invalid_argument("pixel_attention_fused_cpu: needs float32 CPU tensors, got " +
                                std::string(c10::toString(q.scalar_type())) + " on " +
                                q.device().str());
  }
  return FusedCpuAttention::apply(q, k, v);
}

torch::Tensor pixel_attention(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v) {
  check_attention_inputs("pixel_attention", q, k, v);
#if TORCH_VERSION_MAJOR >= 2
  return sdpa_pixel_attention(q, k, v);
#else
  if (!q.is_cpu()) {
    throw std::invalid_argument("pixel_attention: LibTorch " TORCH_VERSION
                                " has no fused attention for " + q.device().str() +
                                " tensors; build against LibTorch 2.x to train on it");
  }
  return pixel_attention_fused_cpu(q, k, v);
#endif
}

}  // namespace ugs::model
