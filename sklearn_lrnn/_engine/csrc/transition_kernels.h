// Transition kernels shared by the fused step (fused_step.cpp) and the fused SMC window (smc_window.cpp):
// f(z) = a z + phi(z mT + c; h) n^T over particle rows, forward and backward, explicit SIMD.
//
//   z: (P, R) particles, mT: (R, N), n: (R, N), h: (N,), a: scalar, c: input current rows or none
//   phi: 0 relu(x - h); 1 clipped relu relu(x + h) - relu(x); 2 tanh(x - h)
//
// The forward pass makes one sweep over (P, N) without materialising any (P, N) tensor: per particle
// and per chunk of 8 (float) / 4 (double) units, x = z mT + c and phi(x) stay in registers and are
// accumulated into R running dot products with n. The backward pass recomputes x and phi in a second
// sweep and produces every gradient at once: grad_z (running dot products), grad_mT, grad_n, grad_h
// (written, not accumulated), grad_c (written only when asked for).
//
// Particle p reads the current row p / cdiv (row stride cs0): cdiv = 1 gives one row per particle,
// cdiv = K one row per sequence of K particles (the SMC window). With cdiv > 1 grad_c is accumulated
// into the zero-initialised (P / cdiv, N) buffer, with cdiv = 1 it is written.
//
// Explicit SIMD with GCC/Clang vector extensions (the auto-vectoriser gives up on these loop nests);
// without -mavx2 the 32-byte vectors are emulated with SSE2 pairs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace sklearn_lrnn_kernels {
enum Act : int64_t { RELU = 0, CLIPPED = 1, TANH = 2 };
constexpr int64_t kMaxRank = 16;  // larger ranks: the Python side falls back to pure torch

typedef float vf __attribute__((vector_size(32)));
typedef double vd __attribute__((vector_size(32)));
template <typename T> struct VecOf;
template <> struct VecOf<float> { using type = vf; };
template <> struct VecOf<double> { using type = vd; };
// 64-byte vectors (16 floats / 8 doubles): the observation kernels' particle lanes where the CPU has AVX-512
typedef float vf16 __attribute__((vector_size(64)));
typedef double vd8 __attribute__((vector_size(64)));
template <typename T> struct WideVecOf;
template <> struct WideVecOf<float> { using type = vf16; };
template <> struct WideVecOf<double> { using type = vd8; };

// S is either the scalar T or its vector; T is the element type
template <typename S> struct Elem { using type = S; };
template <> struct Elem<vf> { using type = float; };
template <> struct Elem<vd> { using type = double; };
template <> struct Elem<vf16> { using type = float; };
template <> struct Elem<vd8> { using type = double; };
template <typename S> constexpr bool is_vec = !std::is_same_v<S, typename Elem<S>::type>;

// broadcast (S{} + v would add 0.0 and a lane loop is assembled lane by lane: spell the lanes out)
template <typename S> inline S bc(typename Elem<S>::type v) {
  if constexpr (std::is_same_v<S, vf>) {
    return vf{v, v, v, v, v, v, v, v};
  } else if constexpr (std::is_same_v<S, vd>) {
    return vd{v, v, v, v};
  } else if constexpr (std::is_same_v<S, vf16>) {
    return vf16{v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v};
  } else if constexpr (std::is_same_v<S, vd8>) {
    return vd8{v, v, v, v, v, v, v, v};
  } else {
    return v;
  }
}
template <typename S> inline S ld(const typename Elem<S>::type* p) {
  S v;
  std::memcpy(&v, p, sizeof(S));
  return v;
}
template <typename S> inline void st(typename Elem<S>::type* p, S v) { std::memcpy(p, &v, sizeof(S)); }
template <typename S> inline typename Elem<S>::type hsum(S v) {
  if constexpr (is_vec<S>) {
    typename Elem<S>::type s = 0;
    for (size_t k = 0; k < sizeof(S) / sizeof(s); ++k) s += v[k];
    return s;
  } else {
    return v;
  }
}
// elementwise select: m ? a : b (m from a comparison)
#define SEL(m, a, b) ((m) ? (a) : (b))

// tanh. float: the rational minimax approximation of Eigen's generic_fast_tanh_float (only
// mul/add/div/select, so it vectorises; max abs error ~2e-7 vs the correctly rounded value).
// double: std::tanh lane by lane.
template <typename S>
inline S tanh_s(S x) {
  using T = typename Elem<S>::type;
  if constexpr (std::is_same_v<T, double>) {
    if constexpr (is_vec<S>) {
      S r;
      for (size_t k = 0; k < sizeof(S) / sizeof(T); ++k) r[k] = std::tanh(x[k]);
      return r;
    } else {
      return std::tanh(x);
    }
  } else {
    const S lim = bc<S>(7.90531110763549805f), nlim = bc<S>(-7.90531110763549805f);
    S xc = SEL(x > lim, lim, x);
    xc = SEL(xc < nlim, nlim, xc);  // NaN passes both and propagates
    const S x2 = xc * xc;
    S p = x2 * bc<S>(-2.76076847742355e-16f) + bc<S>(2.00018790482477e-13f);
    p = x2 * p + bc<S>(-8.60467152213735e-11f);
    p = x2 * p + bc<S>(5.12229709037114e-08f);
    p = x2 * p + bc<S>(1.48572235717979e-05f);
    p = x2 * p + bc<S>(6.37261928875436e-04f);
    p = x2 * p + bc<S>(4.89352455891786e-03f);
    p = xc * p;
    S q = x2 * bc<S>(1.19825839466702e-06f) + bc<S>(1.18534705686654e-04f);
    q = x2 * q + bc<S>(2.26843463243900e-03f);
    q = x2 * q + bc<S>(4.89352518554385e-03f);
    const S ax = SEL(x < bc<S>(0.f), -x, x);
    return SEL(ax < bc<S>(0.0004f), x, p / q);
  }
}

// phi(x; h); the backward variant also gives d = gy * dphi/dx and dh = gy * dphi/dh, with torch's
// subgradient conventions (relu passes the gradient where its output is > 0; tanh uses 1 - y^2).
template <int ACT, typename S>
inline S phi_f(S x, S h) {
  const S zero = bc<S>(0);
  if constexpr (ACT == RELU) {
    const S t = x - h;
    return SEL(t > zero, t, zero);
  } else if constexpr (ACT == CLIPPED) {
    const S u = x + h;
    return SEL(u > zero, u, zero) - SEL(x > zero, x, zero);
  } else {
    return tanh_s(x - h);
  }
}

template <int ACT, typename S>
inline S phi_b(S x, S h, S gy, S& d, S& dh) {
  const S zero = bc<S>(0);
  if constexpr (ACT == RELU) {
    const S t = x - h;
    const auto on = t > zero;
    d = SEL(on, gy, zero);
    dh = -d;
    return SEL(on, t, zero);
  } else if constexpr (ACT == CLIPPED) {
    const S u = x + h;
    const auto up = u > zero;
    const auto xp = x > zero;
    dh = SEL(up, gy, zero);
    d = dh - SEL(xp, gy, zero);
    return SEL(up, u, zero) - SEL(xp, x, zero);
  } else {
    const S y = tanh_s(x - h);
    d = gy * (bc<S>(1) - y * y);
    dh = -d;
    return y;
  }
}

// The unit axis is walked in chunks of W lanes (S = vector of W elements, or S = T with W = 1 when
// N < W). When W does not divide N, the last chunk is the overlapping one at N - W: it reads the
// weights from `pad` ((2R + 1) x W: mT rows, n rows, h), whose lanes already covered by the
// previous chunk are zero, so they contribute nothing (n = 0 gives y n = 0 and dL/dphi = 0).
template <typename T, typename S>
void fill_pad(std::vector<T>& pad, int64_t R, int64_t N, const T* mT, const T* n, const T* h) {
  constexpr int64_t W = sizeof(S) / sizeof(T);
  if (W == 1 || N % W == 0) return;
  pad.assign((2 * R + 1) * W, T(0));
  const int64_t keep = N % W, start = N - W;  // lanes [W - keep, W) are new
  for (int64_t k = W - keep; k < W; ++k) {
    for (int64_t r = 0; r < R; ++r) {
      pad[r * W + k] = mT[r * N + start + k];
      pad[(R + r) * W + k] = n[r * N + start + k];
    }
    pad[2 * R * W + k] = h[start + k];
  }
}

// Forward for particle rows [p0, p1). RC > 0: rank known at compile time, else R (<= kMaxRank).
// c: current row 0 (row stride cs0, particle p reads row p / cdiv) or nullptr.
template <typename T, typename S, int RC, int ACT>
void forward_rows(int64_t p0, int64_t p1, int64_t R_, int64_t N, const T* __restrict__ z,
                  const T* __restrict__ mT, const T* __restrict__ n, const T* __restrict__ h, T a,
                  const T* __restrict__ c, int64_t cs0, int64_t cdiv, T* __restrict__ out,
                  const T* __restrict__ pad) {
  constexpr int64_t W = sizeof(S) / sizeof(T);
  constexpr int RM = RC > 0 ? RC : kMaxRank;
  const int R = RC > 0 ? RC : int(R_);
  const int64_t NV = N - N % W;
  for (int64_t p = p0; p < p1; ++p) {
    const T* zp = z + p * R;
    const T* cp = c ? c + (p / cdiv) * cs0 : nullptr;
    S zv[RM], acc[RM];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) zv[r] = bc<S>(zp[r]), acc[r] = bc<S>(0);
    auto chunk = [&](int64_t i0, const T* m, const T* nn, int64_t rs, const T* hh) __attribute__((always_inline)) {
      S x = cp ? ld<S>(cp + i0) : bc<S>(0);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) x += zv[r] * ld<S>(m + r * rs);
      const S y = phi_f<ACT>(x, ld<S>(hh));
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r] += y * ld<S>(nn + r * rs);
    };
    for (int64_t i0 = 0; i0 < NV; i0 += W) chunk(i0, mT + i0, n + i0, N, h + i0);
    if (NV < N) chunk(N - W, pad, pad + R * W, W, pad + 2 * R * W);
    for (int r = 0; r < R; ++r) out[p * R + r] = a * zp[r] + hsum(acc[r]);
  }
}

// Backward for particle rows [p0, p1), unit chunk by unit chunk: the chunk's weights and its grad_mT,
// grad_n, grad_h accumulators stay in registers while the particles stream by; grad_z is accumulated
// per (particle, rank) as W-lane partial sums in gzv ((p1 - p0) x R vectors, zeroed by the caller).
// Writes (not accumulates) gm, gn (R, N), gh (N); grad_c = dL/dx rows into gc when given (written with
// cdiv = 1, else summed over the cdiv particles that share a current row into a zeroed buffer).
template <typename T, typename S, int RC, int ACT>
void backward_rows(int64_t p0, int64_t p1, int64_t R_, int64_t N, const T* __restrict__ g,
                   const T* __restrict__ z, const T* __restrict__ mT, const T* __restrict__ n,
                   const T* __restrict__ h, T a, const T* __restrict__ c, int64_t cs0, int64_t cdiv,
                   T* __restrict__ gz, T* __restrict__ gm, T* __restrict__ gn, T* __restrict__ gh,
                   T* __restrict__ gc, const T* __restrict__ pad, S* __restrict__ gzv) {
  constexpr int64_t W = sizeof(S) / sizeof(T);
  constexpr int RM = RC > 0 ? RC : kMaxRank;
  const int R = RC > 0 ? RC : int(R_);
  const int64_t NV = N - N % W;
  auto chunk = [&](int64_t i0, const T* m, const T* nn, int64_t rs, const T* hh) __attribute__((always_inline)) {
    S mv[RM], nv[RM], an[RM], am[RM];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) mv[r] = ld<S>(m + r * rs), nv[r] = ld<S>(nn + r * rs), an[r] = am[r] = bc<S>(0);
    const S hv = ld<S>(hh);
    S ah = bc<S>(0);
    // b = p / cdiv (the current row), kept by counting
    for (int64_t p = p0, b = p0 / cdiv, k = p0 % cdiv; p < p1; ++p) {
      const T* zp = z + p * R;
      const T* gp = g + p * R;
      S* gzp = gzv + (p - p0) * R;
      S x = c ? ld<S>(c + b * cs0 + i0) : bc<S>(0), gy = bc<S>(0);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        x += bc<S>(zp[r]) * mv[r];
        gy += bc<S>(gp[r]) * nv[r];
      }
      S d, dh;
      const S y = phi_b<ACT>(x, hv, gy, d, dh);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        an[r] += bc<S>(gp[r]) * y;
        am[r] += bc<S>(zp[r]) * d;
        gzp[r] += d * mv[r];
      }
      ah += dh;
      if (gc) {
        if (cdiv == 1) {
          st(gc + p * N + i0, d);
        } else {  // lanes the overlapping tail chunk shares with the previous chunk have d = 0 (n = 0)
          T* q = gc + b * N + i0;
          st(q, ld<S>(q) + d);
        }
      }
      if (++k == cdiv) k = 0, ++b;
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) st(gm + r * N + i0, am[r]), st(gn + r * N + i0, an[r]);
    st(gh + i0, ah);
  };
  // the overlapping last chunk first: the regular chunk after it overwrites the shared lanes
  if (NV < N) chunk(N - W, pad, pad + R * W, W, pad + 2 * R * W);
  for (int64_t i0 = 0; i0 < NV; i0 += W) chunk(i0, mT + i0, n + i0, N, h + i0);
  if (gz)
    for (int64_t p = p0; p < p1; ++p)
      for (int r = 0; r < R; ++r) gz[p * R + r] = a * g[p * R + r] + hsum(gzv[(p - p0) * R + r]);
}

template <typename T, int ACT>
void dispatch_forward(int64_t p0, int64_t p1, int64_t R, int64_t N, const T* z, const T* mT, const T* n,
                      const T* h, T a, const T* c, int64_t cs0, int64_t cdiv, T* out, const T* pad) {
  using V = typename VecOf<T>::type;
  if (N < int64_t(sizeof(V) / sizeof(T)))
    return forward_rows<T, T, 0, ACT>(p0, p1, R, N, z, mT, n, h, a, c, cs0, cdiv, out, pad);
  switch (R) {
    case 1: return forward_rows<T, V, 1, ACT>(p0, p1, R, N, z, mT, n, h, a, c, cs0, cdiv, out, pad);
    case 2: return forward_rows<T, V, 2, ACT>(p0, p1, R, N, z, mT, n, h, a, c, cs0, cdiv, out, pad);
    case 3: return forward_rows<T, V, 3, ACT>(p0, p1, R, N, z, mT, n, h, a, c, cs0, cdiv, out, pad);
    case 4: return forward_rows<T, V, 4, ACT>(p0, p1, R, N, z, mT, n, h, a, c, cs0, cdiv, out, pad);
    default: return forward_rows<T, V, 0, ACT>(p0, p1, R, N, z, mT, n, h, a, c, cs0, cdiv, out, pad);
  }
}

template <typename T, int ACT>
void dispatch_backward(int64_t p0, int64_t p1, int64_t R, int64_t N, const T* g, const T* z, const T* mT,
                       const T* n, const T* h, T a, const T* c, int64_t cs0, int64_t cdiv, T* gz, T* gm, T* gn, T* gh,
                       T* gc, const T* pad) {
  using V = typename VecOf<T>::type;
  if (N < int64_t(sizeof(V) / sizeof(T))) {
    std::vector<T> gzv((p1 - p0) * R, T(0));
    return backward_rows<T, T, 0, ACT>(p0, p1, R, N, g, z, mT, n, h, a, c, cs0, cdiv, gz, gm, gn, gh, gc, pad,
                                       gzv.data());
  }
  std::vector<V> gzv((p1 - p0) * R, bc<V>(0));
  V* q = gzv.data();
  switch (R) {
    case 1: return backward_rows<T, V, 1, ACT>(p0, p1, R, N, g, z, mT, n, h, a, c, cs0, cdiv, gz, gm, gn, gh, gc, pad, q);
    case 2: return backward_rows<T, V, 2, ACT>(p0, p1, R, N, g, z, mT, n, h, a, c, cs0, cdiv, gz, gm, gn, gh, gc, pad, q);
    case 3: return backward_rows<T, V, 3, ACT>(p0, p1, R, N, g, z, mT, n, h, a, c, cs0, cdiv, gz, gm, gn, gh, gc, pad, q);
    case 4: return backward_rows<T, V, 4, ACT>(p0, p1, R, N, g, z, mT, n, h, a, c, cs0, cdiv, gz, gm, gn, gh, gc, pad, q);
    default: return backward_rows<T, V, 0, ACT>(p0, p1, R, N, g, z, mT, n, h, a, c, cs0, cdiv, gz, gm, gn, gh, gc, pad, q);
  }
}

}  // namespace sklearn_lrnn_kernels
