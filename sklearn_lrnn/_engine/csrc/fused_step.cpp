// Fused low-rank transition f(z) = a z + phi(z mT + c; h) n^T for the SMC engine's hot loop.
//
//   z: (P, R) particles, mT: (R, N), n: (R, N), h: (N,), a: 0-dim, c: (P, N) input current or none
//   phi: 0 relu(x - h); 1 clipped relu relu(x + h) - relu(x); 2 tanh(x - h)
//
// The forward pass makes one sweep over (P, N) without materialising any (P, N) tensor: per particle
// and per chunk of 8 (float) / 4 (double) units, x = z mT + c and phi(x) stay in registers and are
// accumulated into R running dot products with n. The backward pass recomputes x and phi in a second
// sweep and produces every gradient at once: grad_z (running dot products), grad_mT, grad_n, grad_h
// (accumulated per worker, then reduced), grad_a, grad_c (written only when needed).
//
// Explicit SIMD with GCC/Clang vector extensions (the auto-vectoriser gives up on these loop nests);
// without -mavx2 the 32-byte vectors are emulated with SSE2 pairs.
// Built by sklearn_lrnn/_engine/fused.py with torch.utils.cpp_extension.load, together with
// bindings.cpp (the Python bindings: a separate translation unit, compiled in parallel).

// Lighter than <torch/extension.h> (which pulls in the whole C++ frontend).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <torch/csrc/autograd/custom_function.h>

#include "fused_step.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace {

using at::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

enum Act : int64_t { RELU = 0, CLIPPED = 1, TANH = 2 };
constexpr int64_t kMaxRank = 16;  // larger ranks: the Python side falls back to pure torch

// Below this many (particle x unit) elements per worker a step stays on one thread: the fork/join of
// a parallel region costs more than it saves (settable from Python for benchmarks).
int64_t g_min_work_per_thread = 1 << 30;

typedef float vf __attribute__((vector_size(32)));
typedef double vd __attribute__((vector_size(32)));
template <typename T> struct VecOf;
template <> struct VecOf<float> { using type = vf; };
template <> struct VecOf<double> { using type = vd; };

// S is either the scalar T or its vector; T is the element type
template <typename S> struct Elem { using type = S; };
template <> struct Elem<vf> { using type = float; };
template <> struct Elem<vd> { using type = double; };
template <typename S> constexpr bool is_vec = !std::is_same_v<S, typename Elem<S>::type>;

// broadcast (S{} + v would add 0.0 and a lane loop is assembled lane by lane: spell the lanes out)
template <typename S> inline S bc(typename Elem<S>::type v) {
  if constexpr (std::is_same_v<S, vf>) {
    return vf{v, v, v, v, v, v, v, v};
  } else if constexpr (std::is_same_v<S, vd>) {
    return vd{v, v, v, v};
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
// c: current row 0 (row stride cs0) or nullptr.
template <typename T, typename S, int RC, int ACT>
void forward_rows(int64_t p0, int64_t p1, int64_t R_, int64_t N, const T* __restrict__ z,
                  const T* __restrict__ mT, const T* __restrict__ n, const T* __restrict__ h, T a,
                  const T* __restrict__ c, int64_t cs0, T* __restrict__ out, const T* __restrict__ pad) {
  constexpr int64_t W = sizeof(S) / sizeof(T);
  constexpr int RM = RC > 0 ? RC : kMaxRank;
  const int R = RC > 0 ? RC : int(R_);
  const int64_t NV = N - N % W;
  for (int64_t p = p0; p < p1; ++p) {
    const T* zp = z + p * R;
    const T* cp = c ? c + p * cs0 : nullptr;
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
// Writes (not accumulates) gm, gn (R, N), gh (N); grad_c = dL/dx rows into gc when given.
template <typename T, typename S, int RC, int ACT>
void backward_rows(int64_t p0, int64_t p1, int64_t R_, int64_t N, const T* __restrict__ g,
                   const T* __restrict__ z, const T* __restrict__ mT, const T* __restrict__ n,
                   const T* __restrict__ h, T a, const T* __restrict__ c, int64_t cs0,
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
    for (int64_t p = p0; p < p1; ++p) {
      const T* zp = z + p * R;
      const T* gp = g + p * R;
      S* gzp = gzv + (p - p0) * R;
      S x = c ? ld<S>(c + p * cs0 + i0) : bc<S>(0), gy = bc<S>(0);
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
      if (gc) st(gc + p * N + i0, d);
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
                      const T* h, T a, const T* c, int64_t cs0, T* out, const T* pad) {
  using V = typename VecOf<T>::type;
  if (N < int64_t(sizeof(V) / sizeof(T)))
    return forward_rows<T, T, 0, ACT>(p0, p1, R, N, z, mT, n, h, a, c, cs0, out, pad);
  switch (R) {
    case 1: return forward_rows<T, V, 1, ACT>(p0, p1, R, N, z, mT, n, h, a, c, cs0, out, pad);
    case 2: return forward_rows<T, V, 2, ACT>(p0, p1, R, N, z, mT, n, h, a, c, cs0, out, pad);
    case 3: return forward_rows<T, V, 3, ACT>(p0, p1, R, N, z, mT, n, h, a, c, cs0, out, pad);
    case 4: return forward_rows<T, V, 4, ACT>(p0, p1, R, N, z, mT, n, h, a, c, cs0, out, pad);
    default: return forward_rows<T, V, 0, ACT>(p0, p1, R, N, z, mT, n, h, a, c, cs0, out, pad);
  }
}

template <typename T, int ACT>
void dispatch_backward(int64_t p0, int64_t p1, int64_t R, int64_t N, const T* g, const T* z, const T* mT,
                       const T* n, const T* h, T a, const T* c, int64_t cs0, T* gz, T* gm, T* gn, T* gh,
                       T* gc, const T* pad) {
  using V = typename VecOf<T>::type;
  if (N < int64_t(sizeof(V) / sizeof(T))) {
    std::vector<T> gzv((p1 - p0) * R, T(0));
    return backward_rows<T, T, 0, ACT>(p0, p1, R, N, g, z, mT, n, h, a, c, cs0, gz, gm, gn, gh, gc, pad,
                                       gzv.data());
  }
  std::vector<V> gzv((p1 - p0) * R, bc<V>(0));
  V* q = gzv.data();
  switch (R) {
    case 1: return backward_rows<T, V, 1, ACT>(p0, p1, R, N, g, z, mT, n, h, a, c, cs0, gz, gm, gn, gh, gc, pad, q);
    case 2: return backward_rows<T, V, 2, ACT>(p0, p1, R, N, g, z, mT, n, h, a, c, cs0, gz, gm, gn, gh, gc, pad, q);
    case 3: return backward_rows<T, V, 3, ACT>(p0, p1, R, N, g, z, mT, n, h, a, c, cs0, gz, gm, gn, gh, gc, pad, q);
    case 4: return backward_rows<T, V, 4, ACT>(p0, p1, R, N, g, z, mT, n, h, a, c, cs0, gz, gm, gn, gh, gc, pad, q);
    default: return backward_rows<T, V, 0, ACT>(p0, p1, R, N, g, z, mT, n, h, a, c, cs0, gz, gm, gn, gh, gc, pad, q);
  }
}

template <typename T>
void add_into(T* __restrict__ dst, const T* __restrict__ src, int64_t len) {
  for (int64_t i = 0; i < len; ++i) dst[i] += src[i];
}

int64_t n_workers(int64_t P, int64_t N) {
  const int64_t nt = at::get_num_threads();
  if (nt <= 1 || at::in_parallel_region()) return 1;
  const int64_t by_work = (P * N) / std::max<int64_t>(g_min_work_per_thread, 1);
  return std::max<int64_t>(1, std::min<int64_t>({nt, by_work, P}));
}

// Checks and normalises the inputs; returns the current's row stride (0 for no current).
int64_t check_inputs(const Tensor& z, const Tensor& mT, const Tensor& n, const Tensor& h, const Tensor& a,
                     const Tensor& c) {
  TORCH_CHECK(z.dim() == 2, "fused step: z must be (P, R)");
  const int64_t P = z.size(0), R = z.size(1), N = mT.size(1);
  TORCH_CHECK(R >= 1 && R <= kMaxRank, "fused step: rank must be in [1, 16]");
  TORCH_CHECK(mT.dim() == 2 && mT.size(0) == R && n.sizes() == mT.sizes(), "fused step: mT, n must be (R, N)");
  TORCH_CHECK(h.dim() == 1 && h.size(0) == N, "fused step: h must be (N,)");
  TORCH_CHECK(a.numel() == 1, "fused step: a must be a scalar");
  const auto dt = z.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble, "fused step: float32 or float64 only");
  for (const Tensor* t : {&mT, &n, &h, &a})
    TORCH_CHECK(t->scalar_type() == dt && t->device().is_cpu(), "fused step: dtype/device mismatch");
  TORCH_CHECK(z.device().is_cpu(), "fused step: CPU tensors only");
  TORCH_CHECK(mT.is_contiguous() && n.is_contiguous() && h.is_contiguous(), "fused step: mT, n, h must be contiguous");
  if (!c.defined()) return 0;
  TORCH_CHECK(c.dim() == 2 && c.size(0) == P && c.size(1) == N && c.scalar_type() == dt && c.device().is_cpu(),
              "fused step: current must be (P, N) of the same dtype");
  TORCH_CHECK(c.stride(1) == 1 || N == 1, "fused step: current must be contiguous along units");
  return P == 1 ? 0 : c.stride(0);
}

Tensor forward_impl(const Tensor& z_in, const Tensor& mT, const Tensor& n, const Tensor& h, const Tensor& a,
                    const Tensor& c, int64_t act) {
  TORCH_CHECK(act >= 0 && act <= 2, "fused step: unknown activation code");
  const Tensor z = z_in.contiguous();
  const int64_t cs0 = check_inputs(z, mT, n, h, a, c);
  const int64_t P = z.size(0), R = z.size(1), N = mT.size(1);
  Tensor out = at::empty({P, R}, z.options());
  if (P == 0) return out;
  const int64_t nw = n_workers(P, N);
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "fused_step_forward", [&] {
    using T = scalar_t;
    const T av = a.item<T>();
    const T* cp = c.defined() ? c.const_data_ptr<T>() : nullptr;
    const T *zp = z.const_data_ptr<T>(), *mp = mT.const_data_ptr<T>(), *np = n.const_data_ptr<T>(),
            *hp = h.const_data_ptr<T>();
    std::vector<T> pad;
    fill_pad<T, typename VecOf<T>::type>(pad, R, N, mp, np, hp);
    const T* pd = pad.data();
    T* op = out.mutable_data_ptr<T>();
    auto run = [&](int64_t p0, int64_t p1) {
      if (act == RELU) dispatch_forward<T, RELU>(p0, p1, R, N, zp, mp, np, hp, av, cp, cs0, op, pd);
      else if (act == CLIPPED) dispatch_forward<T, CLIPPED>(p0, p1, R, N, zp, mp, np, hp, av, cp, cs0, op, pd);
      else dispatch_forward<T, TANH>(p0, p1, R, N, zp, mp, np, hp, av, cp, cs0, op, pd);
    };
    if (nw == 1) run(0, P);
    else at::parallel_for(0, P, (P + nw - 1) / nw, run);
  });
  return out;
}

// Returns {grad_z, grad_mT, grad_n, grad_h, grad_a, grad_c}; undefined where not needed.
std::vector<Tensor> backward_impl(const Tensor& g_in, const Tensor& z_in, const Tensor& mT, const Tensor& n,
                                  const Tensor& h, const Tensor& a, const Tensor& c, int64_t act,
                                  std::array<bool, 6> need) {
  const Tensor z = z_in.contiguous();
  const Tensor g = g_in.contiguous();
  const int64_t cs0 = check_inputs(z, mT, n, h, a, c);
  const int64_t P = z.size(0), R = z.size(1), N = mT.size(1);
  TORCH_CHECK(g.sizes() == z.sizes() && g.scalar_type() == z.scalar_type(), "fused step: bad grad_output");
  const bool sweep = need[0] || need[1] || need[2] || need[3] || (need[5] && c.defined());
  Tensor gz = need[0] ? at::empty({P, R}, z.options()) : Tensor();
  Tensor gc = need[5] && c.defined() ? at::empty({P, N}, z.options()) : Tensor();
  Tensor gm, gn, gh, ga;
  if (sweep) {
    gm = at::empty({R, N}, z.options());
    gn = at::empty({R, N}, z.options());
    gh = at::empty({N}, z.options());
  }
  if (need[4]) ga = at::empty(a.sizes(), z.options());
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "fused_step_backward", [&] {
    using T = scalar_t;
    const T *gp = g.const_data_ptr<T>(), *zp = z.const_data_ptr<T>();
    if (need[4]) {  // grad_a = sum(g * z)
      T s = 0;
      for (int64_t k = 0; k < P * R; ++k) s += gp[k] * zp[k];
      *ga.mutable_data_ptr<T>() = s;
    }
    if (!sweep || P == 0) {
      if (sweep) gm.zero_(), gn.zero_(), gh.zero_();
      return;
    }
    const int64_t nw = n_workers(P, N);
    const T av = a.item<T>();
    const T* cp = c.defined() ? c.const_data_ptr<T>() : nullptr;
    const T *mp = mT.const_data_ptr<T>(), *np = n.const_data_ptr<T>(), *hp = h.const_data_ptr<T>();
    std::vector<T> pad;
    fill_pad<T, typename VecOf<T>::type>(pad, R, N, mp, np, hp);
    const T* pd = pad.data();
    T* gzp = gz.defined() ? gz.mutable_data_ptr<T>() : nullptr;
    T* gcp = gc.defined() ? gc.mutable_data_ptr<T>() : nullptr;
    const int64_t len = (2 * R + 1) * N;
    // workers > 0 write their weight gradients into their own slice of `part`, reduced below
    std::vector<T> part(nw > 1 ? (nw - 1) * len : 0);
    const int64_t chunk = (P + nw - 1) / nw;
    auto run = [&](int64_t w) {
      const int64_t p0 = w * chunk, p1 = std::min(P, p0 + chunk);
      if (p0 >= p1) return;
      T *wm, *wn, *wh;
      if (w == 0) {
        wm = gm.mutable_data_ptr<T>(), wn = gn.mutable_data_ptr<T>(), wh = gh.mutable_data_ptr<T>();
      } else {
        wm = part.data() + (w - 1) * len, wn = wm + R * N, wh = wn + R * N;
      }
      if (act == RELU)
        dispatch_backward<T, RELU>(p0, p1, R, N, gp, zp, mp, np, hp, av, cp, cs0, gzp, wm, wn, wh, gcp, pd);
      else if (act == CLIPPED)
        dispatch_backward<T, CLIPPED>(p0, p1, R, N, gp, zp, mp, np, hp, av, cp, cs0, gzp, wm, wn, wh, gcp, pd);
      else
        dispatch_backward<T, TANH>(p0, p1, R, N, gp, zp, mp, np, hp, av, cp, cs0, gzp, wm, wn, wh, gcp, pd);
    };
    if (nw == 1) {
      run(0);
    } else {
      at::parallel_for(0, nw, 1, [&](int64_t w0, int64_t w1) {
        for (int64_t w = w0; w < w1; ++w) run(w);
      });
      T *wm = gm.mutable_data_ptr<T>(), *wn = gn.mutable_data_ptr<T>(), *wh = gh.mutable_data_ptr<T>();
      for (int64_t w = 1; w < nw && (w * chunk) < P; ++w) {
        const T* src = part.data() + (w - 1) * len;
        add_into(wm, src, R * N);
        add_into(wn, src + R * N, R * N);
        add_into(wh, src + 2 * R * N, N);
      }
    }
  });
  return {gz, need[1] ? gm : Tensor(), need[2] ? gn : Tensor(), need[3] ? gh : Tensor(), ga, gc};
}

class FusedStep : public torch::autograd::Function<FusedStep> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& z, const Tensor& mT, const Tensor& n, const Tensor& h,
                        const Tensor& a, const std::optional<Tensor>& c, int64_t act) {
    const Tensor cc = c.has_value() ? *c : Tensor();
    ctx->save_for_backward({z, mT, n, h, a, cc});
    ctx->saved_data["act"] = act;
    return forward_impl(z, mT, n, h, a, cc, act);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    // the gradients come from raw loops, not differentiable ops: refuse rather than silently give a
    // graph-less result under create_graph=True
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "fused transition: double backward is not supported (set SKLEARN_LRNN_NO_FUSED=1)");
    const auto s = ctx->get_saved_variables();
    const int64_t act = ctx->saved_data["act"].toInt();
    const bool has_c = s[5].defined();
    std::array<bool, 6> need = {ctx->needs_input_grad(0), ctx->needs_input_grad(1), ctx->needs_input_grad(2),
                                ctx->needs_input_grad(3), ctx->needs_input_grad(4),
                                has_c && ctx->needs_input_grad(5)};
    Tensor g = grad_out[0];
    if (!g.defined()) g = at::zeros_like(s[0]);
    auto r = backward_impl(g, s[0], s[1], s[2], s[3], s[4], s[5], act, need);
    return {r[0], r[1], r[2], r[3], r[4], r[5], Tensor()};
  }
};

Tensor fused_step(const Tensor& z, const Tensor& mT, const Tensor& n, const Tensor& h, const Tensor& a,
                  const std::optional<Tensor>& c, int64_t act) {
  const bool any_grad = z.requires_grad() || mT.requires_grad() || n.requires_grad() || h.requires_grad() ||
                        a.requires_grad() || (c.has_value() && c->requires_grad());
  if (!at::GradMode::is_enabled() || !any_grad) {
    // eval / no_grad: forward only, no autograd node
    return forward_impl(z, mT, n, h, a, c.has_value() ? *c : Tensor(), act);
  }
  return FusedStep::apply(z, mT, n, h, a, c, act);
}

}  // namespace

namespace sklearn_lrnn_fused {
at::Tensor step(const at::Tensor& z, const at::Tensor& mT, const at::Tensor& n, const at::Tensor& h,
                const at::Tensor& a, const std::optional<at::Tensor>& c, int64_t act) {
  return fused_step(z, mT, n, h, a, c, act);
}
at::Tensor forward(const at::Tensor& z, const at::Tensor& mT, const at::Tensor& n, const at::Tensor& h,
                   const at::Tensor& a, const std::optional<at::Tensor>& c, int64_t act) {
  return forward_impl(z, mT, n, h, a, c.has_value() ? *c : at::Tensor(), act);
}
void set_min_work_per_thread(int64_t v) { g_min_work_per_thread = v; }
int64_t get_min_work_per_thread() { return g_min_work_per_thread; }
}  // namespace sklearn_lrnn_fused

