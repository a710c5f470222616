// Observation log-likelihoods of the SMC window for the encoder and bootstrap proposals
// (smc_window_general.cpp), forward and backward, vectorised over channels.
//
// Every observation model the window takes is one readout followed by one likelihood per channel:
//   u_d   = sum_r z_r WT[r, d] + c_d            (c: the input current of one-to-one readouts, or none)
//   s_d   = phi(u_d; hobs_d) or u_d             (rates readouts use the transition's activation)
//   pre_d = gain_d s_d + bias_d                 (gain: one-to-one readouts, or none = 1)
//   channels [0, Dg):  Gaussian   -1/2 (x_d - pre_d)^2 iv_d            (iv = 1 / variance)
//   channels [Dg, D):  Poisson    x_d log(g(pre_d) + 1e-8) - g(pre_d)   (g = softplus), or
//                                 x_d p - e^p with p = min(pre_d, 20)   (g = exp)
// without the particle-independent terms (-log x!, the Gaussian normaliser), which run_smc adds once.
// These are, channel for channel, the formulas of observations.py (softplus with torch's threshold 20;
// gradients with torch's conventions at the kinks), so float64 results agree with the per-step loop to
// rounding. The sweep over channels runs in chunks of W lanes (vec_math.h gives exp / log per vector);
// the last D mod W channels of the Poisson block run as one zero-padded chunk whose padding lanes are
// dropped, those of the Gaussian block (no transcendental functions) as scalars.
#pragma once

#include <algorithm>
#include <cstdint>

#include "transition_kernels.h"
#include "vec_math.h"

namespace sklearn_lrnn_kernels {

enum Lik : int { GAUSS = 0, SOFTPLUS = 1, EXPLINK = 2 };
constexpr int NO_PHI = 3;  // readout activation code: identity

template <typename T>
struct ObsView {
  int64_t D = 0, Dg = 0;       // channels, of which the first Dg are Gaussian
  int link = SOFTPLUS;         // likelihood of channels [Dg, D)
  int oact = NO_PHI;           // readout activation (RELU, CLIPPED, TANH) or NO_PHI
  const T* WT = nullptr;       // (R, D)
  const T* bias = nullptr;     // (D,)
  const T* gain = nullptr;     // (D,) or null
  const T* hobs = nullptr;     // (D,) thresholds of phi, or null
  const T* iv = nullptr;       // (Dg,) inverse variances
};

// Gaussian channel: log-likelihood without the normaliser (iv = 1 / variance), and its gradients in pre and iv.
// The Poisson terms live in PoissonBatch::flush below (batched for speed).
template <typename S>
inline S gauss_ll(S pre, S x, S iv) {
  using T = typename Elem<S>::type;
  const S r = x - pre;
  return bc<S>(T(-0.5)) * r * r * iv;
}

template <typename S>
inline S gauss_grad(S pre, S x, S iv, S& giv) {
  using T = typename Elem<S>::type;
  const S r = x - pre;
  giv = bc<S>(T(-0.5)) * r * r;
  return r * iv;
}

// pre_d of one chunk (V = vector or scalar lane) at channel j for a particle with latents zz
template <int OACT, typename V, typename T>
inline __attribute__((always_inline)) V readout_pre(const ObsView<T>& o, int R, int64_t j, const V* zz, const T* cb) {
  V u = cb ? ld<V>(cb + j) : bc<V>(0);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) u += zz[r] * ld<V>(o.WT + r * o.D + j);
  if constexpr (OACT != NO_PHI) u = phi_f<OACT>(u, ld<V>(o.hobs + j));
  if (o.gain) u = u * ld<V>(o.gain + j);
  return u + ld<V>(o.bias + j);
}

// Poisson chunks are evaluated in batches of NB: exp, then log1p, then log over the whole batch. One chunk's
// chain (exp -> log1p -> log, ~100 dependent operations) is too long for the CPU to overlap two of them;
// a batch of independent ones runs at the throughput of the arithmetic units (measured 2x faster).
constexpr int NB = 8;

template <typename T, typename S>
struct PoissonBatch {
  static constexpr int W = sizeof(S) / sizeof(T);
  S pre[NB], x[NB];
  int64_t row[NB], col[NB];  // particle, channel - Dg
  int valid[NB];             // lanes that hold channels (fewer than W in a block's last, padded chunk)
  int n = 0;

  // adds a chunk; where valid < W the lanes from valid on are padding (x = 0, pre = 0)
  bool push(S pre_, S x_, int64_t row_, int64_t col_, int valid_ = W) {
    pre[n] = pre_, x[n] = x_, row[n] = row_, col[n] = col_, valid[n] = valid_;
    return ++n == NB;
  }

  static S keep_lanes(S v, int valid) {
    if (valid == W) return v;
    T lanes[W];
    st(lanes, v);
    for (int k = valid; k < W; ++k) lanes[k] = T(0);
    return ld<S>(lanes);
  }

  void store(T* dst, S v, int valid) {
    if (valid == W) return st(dst, v);
    T lanes[W];
    st(lanes, v);
    std::copy(lanes, lanes + valid, dst);
  }

  // adds the log-likelihood of each chunk to ll[row] and, where d is given, writes dll/dpre to d[row * Dp + col]
  template <int L>
  void flush(T* ll, T* d, int64_t Dp) {
    S e[NB], rate[NB];
    const S zero = bc<S>(0), one = bc<S>(1), lim = bc<S>(T(20));
    if constexpr (L == SOFTPLUS) {
      for (int j = 0; j < n; ++j) e[j] = exp_s(SEL(pre[j] > zero, -pre[j], pre[j]));  // e^-|pre|
      for (int j = 0; j < n; ++j)
        rate[j] = SEL(pre[j] > lim, pre[j], SEL(pre[j] > zero, pre[j], zero) + log1p_unit(e[j]));
      for (int j = 0; j < n; ++j) {
        const S rp = rate[j] + bc<S>(T(1e-8));
        ll[row[j]] += hsum(keep_lanes(x[j] * log_s(rp) - rate[j], valid[j]));
        if (d) {  // (x / rp - 1) sigmoid(pre), sigmoid = (pre > 0 ? 1 : e) / (1 + e); one division for both
          const S u = one + e[j];
          const S inv = one / (rp * u);
          const S sig = SEL(pre[j] > lim, one, SEL(pre[j] > zero, one, e[j]) * rp * inv);
          store(d + row[j] * Dp + col[j], (x[j] * u * inv - one) * sig, valid[j]);
        }
      }
    } else {
      for (int j = 0; j < n; ++j) e[j] = exp_s(SEL(pre[j] > lim, lim, pre[j]));
      for (int j = 0; j < n; ++j) {
        const S p = SEL(pre[j] > lim, lim, pre[j]);
        ll[row[j]] += hsum(keep_lanes(x[j] * p - e[j], valid[j]));
        if (d) store(d + row[j] * Dp + col[j], SEL(pre[j] > lim, zero, x[j] - e[j]), valid[j]);
      }
    }
    n = 0;
  }
};

// Adds sum_d ll_d (the particle-dependent part) of every particle to ll[p]. z (P, R); x: (B, D) this
// step's data; c: (B, D) or null; particle p belongs to sequence p / K. Where d is given, also writes
// dll/dpre of the Poisson channels to d (P, D - Dg) for the backward pass.
template <typename T, typename S, int RC, int OACT>
void obs_forward_rows(const ObsView<T>& o, int64_t P, int64_t K, int R_, const T* __restrict__ z,
                      const T* __restrict__ x, const T* __restrict__ c, T* __restrict__ ll, T* __restrict__ d) {
  constexpr int64_t W = sizeof(S) / sizeof(T);
  static_assert(W > 1, "the observation kernels take vectors (scalar lanes are handled inside)");
  constexpr int RM = RC > 0 ? RC : kMaxRank;
  const int R = RC > 0 ? RC : R_;
  const int64_t D = o.D, Dg = o.Dg, Dp = D - Dg;
  const int64_t Dgv = Dg - Dg % W, Dv = D - Dp % W;  // ends of the whole vector chunks of both blocks
  PoissonBatch<T, S> batch;
  auto flush = [&]() {
    if (o.link == EXPLINK) batch.template flush<EXPLINK>(ll, d, Dp);
    else batch.template flush<SOFTPLUS>(ll, d, Dp);
  };
  for (int64_t p = 0; p < P; ++p) {
    const int64_t b = p / K;
    const T* xb = x + b * D;
    const T* cb = c ? c + b * D : nullptr;
    const T* zp = z + p * R;
    S zv[RM];
    T zs[RM];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) zv[r] = bc<S>(zp[r]), zs[r] = zp[r];
    // Gaussian channels: cheap, directly
    S accv = bc<S>(0);
    T accs = 0;
    for (int64_t i = 0; i < Dgv; i += W)
      accv += gauss_ll(readout_pre<OACT>(o, R, i, zv, cb), ld<S>(xb + i), ld<S>(o.iv + i));
    for (int64_t i = Dgv; i < Dg; ++i) accs += gauss_ll(readout_pre<OACT>(o, R, i, zs, cb), xb[i], o.iv[i]);
    // Poisson channels: vector chunks through the batch; the last Dp mod W channels as one padded chunk
    // (as scalars they would cost ten times as much per channel: std::exp / std::log one at a time)
    for (int64_t i = Dg; i < Dv; i += W)
      if (batch.push(readout_pre<OACT>(o, R, i, zv, cb), ld<S>(xb + i), p, i - Dg)) flush();
    if (Dv < D) {
      T pre_t[W] = {}, x_t[W] = {};
      for (int64_t i = Dv; i < D; ++i) pre_t[i - Dv] = readout_pre<OACT>(o, R, i, zs, cb), x_t[i - Dv] = xb[i];
      if (batch.push(ld<S>(pre_t), ld<S>(x_t), p, Dv - Dg, int(D - Dv))) flush();
    }
    ll[p] += hsum(accv) + accs;
  }
  if (batch.n) flush();
}

// One chunk (V = vector or scalar lane) of the backward pass for one particle at channel j, given
// gpre = graw dll/dpre: adds into gzz (R lanes of partial sums) and the parameter gradients.
template <int OACT, typename V, typename T>
inline __attribute__((always_inline)) void readout_backward(const ObsView<T>& o, int R, int64_t j, const V* zz,
                                                            V* gzz, V gpre, const T* cb, T* gWT, T* gbias,
                                                            T* ggain, T* ghobs, T* gcb) {
  const int64_t D = o.D;
  V u = cb ? ld<V>(cb + j) : bc<V>(0);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) u += zz[r] * ld<V>(o.WT + r * D + j);
  V s = u, dsdu = bc<V>(1), dsdh = bc<V>(0);
  if constexpr (OACT != NO_PHI) s = phi_b<OACT>(u, ld<V>(o.hobs + j), bc<V>(1), dsdu, dsdh);
  if (gbias) st(gbias + j, ld<V>(gbias + j) + gpre);
  V gs = gpre;
  if (o.gain) {
    if (ggain) st(ggain + j, ld<V>(ggain + j) + gpre * s);
    gs = gpre * ld<V>(o.gain + j);
  }
  V gu = gs;
  if constexpr (OACT != NO_PHI) {
    if (ghobs) st(ghobs + j, ld<V>(ghobs + j) + gs * dsdh);
    gu = gs * dsdu;
  }
  if (gcb) st(gcb + j, ld<V>(gcb + j) + gu);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    gzz[r] += gu * ld<V>(o.WT + r * D + j);
    if (gWT) st(gWT + r * D + j, ld<V>(gWT + r * D + j) + gu * zz[r]);
  }
}

// Gradients of sum_p graw[p] sum_d ll_d(z_p): adds into gz (P, R), gWT (R, D), gbias, ggain, ghobs (D),
// giv (Dg) and gc (B, D) (each when non-null). d (P, D - Dg): dll/dpre of the Poisson channels, from
// obs_forward_rows. Particles with graw = 0 are skipped.
template <typename T, typename S, int RC, int OACT>
void obs_backward_rows(const ObsView<T>& o, int64_t P, int64_t K, int R_, const T* __restrict__ z,
                       const T* __restrict__ x, const T* __restrict__ c, const T* __restrict__ d,
                       const T* __restrict__ graw, T* __restrict__ gz, T* __restrict__ gWT, T* __restrict__ gbias,
                       T* __restrict__ ggain, T* __restrict__ ghobs, T* __restrict__ giv, T* __restrict__ gc) {
  constexpr int64_t W = sizeof(S) / sizeof(T);
  static_assert(W > 1, "the observation kernels take vectors (scalar lanes are handled inside)");
  constexpr int RM = RC > 0 ? RC : kMaxRank;
  const int R = RC > 0 ? RC : R_;
  const int64_t D = o.D, Dg = o.Dg, Dp = D - Dg;
  const int64_t Dgv = Dg - Dg % W, Dv = D - Dp % W;  // ends of the whole vector chunks of both blocks
  for (int64_t p = 0; p < P; ++p) {
    const T gr = graw[p];
    if (gr == T(0)) continue;
    const int64_t b = p / K;
    const T* xb = x + b * D;
    const T* cb = c ? c + b * D : nullptr;
    T* gcb = gc ? gc + b * D : nullptr;
    const T* zp = z + p * R;
    const T* dp = d + p * Dp - Dg;  // dp[i] for channel i >= Dg
    S zv[RM], gzv[RM];
    T zs[RM], gzs[RM];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) zv[r] = bc<S>(zp[r]), zs[r] = zp[r], gzv[r] = bc<S>(0), gzs[r] = 0;
#define SK_OBS_ARGS cb, gWT, gbias, ggain, ghobs, gcb
    auto gauss = [&](auto one, int64_t i, auto* zz, auto* gzz) __attribute__((always_inline)) {
      using V = decltype(one);
      V giv_l;
      const V gpre = bc<V>(gr) * gauss_grad(readout_pre<OACT>(o, R, i, zz, cb), ld<V>(xb + i), ld<V>(o.iv + i), giv_l);
      if (giv) st(giv + i, ld<V>(giv + i) + bc<V>(gr) * giv_l);
      readout_backward<OACT>(o, R, i, zz, gzz, gpre, SK_OBS_ARGS);
    };
    for (int64_t i = 0; i < Dgv; i += W) gauss(S{}, i, zv, gzv);
    for (int64_t i = Dgv; i < Dg; ++i) gauss(T{}, i, zs, gzs);
    for (int64_t i = Dg; i < Dv; i += W) readout_backward<OACT>(o, R, i, zv, gzv, bc<S>(gr) * ld<S>(dp + i), SK_OBS_ARGS);
    for (int64_t i = Dv; i < D; ++i) readout_backward<OACT>(o, R, i, zs, gzs, gr * dp[i], SK_OBS_ARGS);
#undef SK_OBS_ARGS
    for (int r = 0; r < R; ++r) gz[p * R + r] += hsum(gzv[r]) + gzs[r];
  }
}

// dispatch on the rank (1..4 unrolled) and the readout activation
template <typename T, bool BACKWARD, typename... A>
void obs_dispatch(const ObsView<T>& o, int R, A... args) {
  using V = typename VecOf<T>::type;
  auto go = [&](auto rc, auto oa) {
    constexpr int RC = decltype(rc)::value, OA = decltype(oa)::value;
    if constexpr (BACKWARD) obs_backward_rows<T, V, RC, OA>(o, args...);
    else obs_forward_rows<T, V, RC, OA>(o, args...);
  };
  auto with_act = [&](auto rc) {
    switch (o.oact) {
      case RELU: return go(rc, std::integral_constant<int, RELU>());
      case CLIPPED: return go(rc, std::integral_constant<int, CLIPPED>());
      case TANH: return go(rc, std::integral_constant<int, TANH>());
      default: return go(rc, std::integral_constant<int, NO_PHI>());
    }
  };
  switch (R) {
    case 1: return with_act(std::integral_constant<int, 1>());
    case 2: return with_act(std::integral_constant<int, 2>());
    case 3: return with_act(std::integral_constant<int, 3>());
    case 4: return with_act(std::integral_constant<int, 4>());
    default: return with_act(std::integral_constant<int, 0>());
  }
}

}  // namespace sklearn_lrnn_kernels
