// The parts of the fused SMC windows (smc_window.cpp for the optimal proposal, smc_window_general.cpp for
// the encoder and bootstrap proposals) that do not depend on the proposal: the per-sequence
// log-sum-exp of the weights, the ESS test, systematic resampling, and their backward pass.
//
// Forward, per step t and sequence b, from the particle-dependent log weights lw (P,): every-step
// resampling: inc_t = logsumexp_k(lw); ESS-adaptive: with lwc = logW_{t-1} + lw, inc_t = logsumexp_k(lwc),
// logW_t = lwc - inc_t, resample where 1 / sum_k exp(2 logW_t) < threshold K (and reset logW_t to -log K
// there). Ancestors come from systematic resampling, searchsorted(cumsum(softmax(.)), pos_t), exactly as
// smc._resample_indices does (the cumulative sum in double, as torch.cumsum on the CPU).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "transition_kernels.h"

#if defined(__x86_64__) || defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace sklearn_lrnn_kernels {

// Flush denormal numbers to zero while a window runs (restored on exit). The backward pass multiplies by
// the normalised weights of particles far from the data (e^-100 and below: subnormal in float32), and
// arithmetic on subnormals takes a slow microcode path on x86: measured 2-4x slower whole backward passes
// for bootstrap proposals. Values below 1e-38 (float) / 1e-308 (double) next to O(1) sums change nothing.
struct FlushDenormals {
#if defined(__x86_64__) || defined(__SSE__)
  unsigned csr;
  FlushDenormals() : csr(_mm_getcsr()) { _mm_setcsr(csr | 0x8040); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(csr); }
#endif
};

struct Dims {
  int64_t T, B, K, P, R, N;
};

// torch.logsumexp's shift: the max, or 0 where it is infinite (NaN propagates)
template <typename T>
inline T lse_shift(const T* v, int64_t K) {
  T m = v[0];
  for (int64_t k = 1; k < K; ++k) m = std::max(m, v[k]);
  return std::isinf(m) ? T(0) : m;
}

// calls fn(std::integral_constant<int, R>) for R in 1..4, else with 0 (rank known only at run time)
template <typename F>
void dispatch_rank(int64_t R, F&& fn) {
  switch (R) {
    case 1: return fn(std::integral_constant<int, 1>());
    case 2: return fn(std::integral_constant<int, 2>());
    case 3: return fn(std::integral_constant<int, 3>());
    case 4: return fn(std::integral_constant<int, 4>());
    default: return fn(std::integral_constant<int, 0>());
  }
}

// the transition f(z) = a z + phi(z mT + c; h) n^T of all P particles, one current row per sequence
template <typename T>
void transition_forward(int64_t act, const Dims& d, const T* z, const T* mT, const T* n, const T* h, T a,
                        const T* c, T* out, const T* pad) {
  if (act == RELU) dispatch_forward<T, RELU>(0, d.P, d.R, d.N, z, mT, n, h, a, c, d.N, d.K, out, pad);
  else if (act == CLIPPED) dispatch_forward<T, CLIPPED>(0, d.P, d.R, d.N, z, mT, n, h, a, c, d.N, d.K, out, pad);
  else dispatch_forward<T, TANH>(0, d.P, d.R, d.N, z, mT, n, h, a, c, d.N, d.K, out, pad);
}

template <typename T>
void transition_backward(int64_t act, const Dims& d, const T* g, const T* z, const T* mT, const T* n, const T* h,
                         T a, const T* c, T* gz, T* gm, T* gn, T* gh, T* gc, const T* pad) {
  const int64_t P = d.P, R = d.R, N = d.N, K = d.K;
  if (act == RELU) dispatch_backward<T, RELU>(0, P, R, N, g, z, mT, n, h, a, c, N, K, gz, gm, gn, gh, gc, pad);
  else if (act == CLIPPED) dispatch_backward<T, CLIPPED>(0, P, R, N, g, z, mT, n, h, a, c, N, K, gz, gm, gn, gh, gc, pad);
  else dispatch_backward<T, TANH>(0, P, R, N, g, z, mT, n, h, a, c, N, K, gz, gm, gn, gh, gc, pad);
}

// One step's weighting and resampling for all sequences (see the header comment).
template <typename T>
struct Resampler {
  Dims d;
  const T *mask, *pos;  // mask (B, T) or null; pos (T, B, K)
  double threshold;     // <= 0: resample at every step
  T *incs, *lws;        // (B, T), (T, B, K)
  int64_t* anc;         // (T, B, K)
  uint8_t* need;        // (T, B)
  std::vector<T> logW, v, e, cdf;
  T logk;

  void init() {
    logk = T(std::log(double(d.K)));
    logW.assign(threshold > 0 ? d.P : 0, -logk);
    v.resize(d.K), e.resize(d.K), cdf.resize(d.K);
  }

  void step(int64_t t, const T* lw) {
    const int64_t TT = d.T, B = d.B, K = d.K;
    const bool adaptive = threshold > 0;
    for (int64_t b = 0; b < B; ++b) {
      const T mk = mask ? mask[b * TT + t] : T(1);
      for (int64_t k = 0; k < K; ++k) {
        const T x = mask ? lw[b * K + k] * mk : lw[b * K + k];
        v[k] = adaptive ? logW[b * K + k] + x : x;
      }
      const T m = lse_shift(v.data(), K);
      T s = 0;
      for (int64_t k = 0; k < K; ++k) e[k] = std::exp(v[k] - m), s += e[k];
      const T inc = std::log(s) + m;
      incs[b * TT + t] = inc;
      T* lwn = lws + (t * B + b) * K;
      for (int64_t k = 0; k < K; ++k) lwn[k] = v[k] - inc;
      int64_t* ab = anc + (t * B + b) * K;
      if (adaptive) {
        T q = 0;
        for (int64_t k = 0; k < K; ++k) q += std::exp(2 * lwn[k]);
        const bool resample = T(1) / q < T(threshold * double(K));
        need[t * B + b] = resample;
        if (!resample) {
          for (int64_t k = 0; k < K; ++k) ab[k] = k, logW[b * K + k] = lwn[k];
          continue;
        }
        for (int64_t k = 0; k < K; ++k) logW[b * K + k] = -logk;
      }
      // systematic resampling: walk cdf and positions together (positions are ascending; a descending
      // one restarts the walk, so any order gives the searchsorted answer)
      const T inv = T(1) / s;
      double c = 0;
      for (int64_t k = 0; k < K; ++k) c += double(e[k] * inv), cdf[k] = T(c);
      const T* pb = pos + (t * B + b) * K;
      int64_t i = 0;
      for (int64_t k = 0; k < K; ++k) {
        if (k > 0 && pb[k] < pb[k - 1]) i = 0;
        while (i < K && cdf[i] < pb[k]) ++i;
        ab[k] = std::min<int64_t>(i, K - 1);
      }
    }
  }
};

// Backward of Resampler::step: graw (P,) = d loss / d lw_t (before the mask) from d loss / d incs.
// gW (P,) carries d loss / d logW_t between steps of the ESS-adaptive scheme (zero-initialised, walked
// from t = T - 1 down); a resampled sequence's logW_t was reset to a constant, so nothing flows through it.
template <typename T>
void weight_grads(const Dims& d, int64_t t, const T* gincs, const T* mask, const T* lws, const uint8_t* need,
                  bool adaptive, T* gW, T* graw) {
  const int64_t TT = d.T, B = d.B, K = d.K;
  for (int64_t b = 0; b < B; ++b) {
    const T gi = gincs[b * TT + t];
    const T mk = mask ? mask[b * TT + t] : T(1);
    const T* lwn = lws + (t * B + b) * K;
    if (adaptive) {
      T* gw = gW + b * K;
      const bool cut = t == TT - 1 || need[t * B + b];
      T sg = 0;
      if (cut) std::fill(gw, gw + K, T(0));
      else for (int64_t k = 0; k < K; ++k) sg += gw[k];
      for (int64_t k = 0; k < K; ++k) gw[k] += std::exp(lwn[k]) * (gi - sg);  // = d loss / d lwc_t
      for (int64_t k = 0; k < K; ++k) graw[b * K + k] = mask ? gw[k] * mk : gw[k];
    } else {
      for (int64_t k = 0; k < K; ++k) {
        const T g = gi * std::exp(lwn[k]);
        graw[b * K + k] = mask ? g * mk : g;
      }
    }
  }
}

// (RC > 0: the rank known at compile time)
// gz (P, R) = scatter-add of gzr (P, R) through the ancestors ap (B, K) of one step
template <int RC, typename T>
void scatter_ancestors(const Dims& d, const int64_t* ap, const T* gzr, T* gz) {
  const int64_t B = d.B, K = d.K;
  const int R = RC > 0 ? RC : int(d.R);
  std::fill(gz, gz + d.P * R, T(0));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k) {
      T* dst = gz + (b * K + ap[b * K + k]) * R;
      const T* src = gzr + (b * K + k) * R;
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) dst[r] += src[r];
    }
}

// zr (P, R) = zprev[ancestors] per sequence
template <int RC, typename T>
void gather_ancestors(const Dims& d, const int64_t* ap, const T* zprev, T* zr) {
  const int64_t B = d.B, K = d.K;
  const int R = RC > 0 ? RC : int(d.R);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k) {
      const T* src = zprev + (b * K + ap[b * K + k]) * R;
      T* dst = zr + (b * K + k) * R;
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) dst[r] = src[r];
    }
}

}  // namespace sklearn_lrnn_kernels
