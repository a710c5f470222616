// Observation log-likelihoods of the SMC window for the encoder and bootstrap proposals
// (smc_window_general.cpp), forward and backward, vectorised over particles.
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
// rounding.
//
// Layout: the W lanes of a vector (vec_math.h, transition_kernels.h) hold W particles of one sequence
// (each sequence's K particles in ceil(K / W) chunks, the last one padded with zero particles whose
// results are dropped), and the loop runs over channels. Then a channel's data x_d, readout weights and
// bias are single numbers for the whole vector, and:
//   * spike counts are mostly zero (77% of the bins of the benchmark's teacher), and where x_d = 0 the
//     Poisson term is -g(pre) alone: the logarithm and x's part of the gradient run only over the
//     channels with counts, listed once per sequence and step (a second pass over the chunk);
//   * the log-likelihood of each lane is a plain vector sum over channels (no horizontal sums), and in
//     the backward pass so are d/dz; the parameter gradients are summed into per-lane partial sums over
//     all particles and steps, reduced once at the end of the window (ObsLanes::finish).
// The Poisson chunks of a pass are evaluated NB channels at a time: exp then log1p over the group, so
// that independent chains overlap (one chain, ~60 dependent operations, is too long for the CPU to
// overlap several on its own).
//
// The backward pass computes dll/dpre of the Poisson channels itself instead of keeping them from the
// forward pass: where a channel has no count it is -sigmoid(pre) (softplus) or -e^pre (exp), one exp and
// one division, cheaper than the forward term; keeping them cost a (steps x particles x channels) buffer
// per pass, whose fresh pages (20-50 MB at 40-100 neurons) took longer to fault in than the arithmetic
// (measured: 100 neurons, bootstrap step 56 ms keeping them, 38 ms recomputing). Memory stays flat.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

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

constexpr int NB = 8;  // Poisson channels evaluated together (see the header comment)

// The particle layout of one window (B sequences of K particles, D channels) and its scratch space:
// per chunk the Poisson rates (or pre-activations), per sequence the channels with counts, and the
// backward pass's per-lane partial sums of the readout's gradients.
template <typename T>
struct ObsLanes {
#ifdef __AVX512F__
  using S = typename WideVecOf<T>::type;
#else
  using S = typename VecOf<T>::type;
#endif
  static constexpr int W = sizeof(S) / sizeof(T);
  int64_t B = 0, K = 0, Kc = 0, D = 0, Dg = 0, Dp = 0, R = 0;
  // (Dp, W) each, for the current chunk: rp the forward's rate + 1e-8 (softplus) or min(pre, 20) (exp)
  // and the backward's pre; ep the backward's e^-|pre| (softplus); dd the backward's dll/dpre
  std::vector<T> rp, ep, dd;
  std::vector<int64_t> nz;    // Poisson channels (from 0) with x != 0 for the current sequence
  std::vector<T> gW, gbias, ggain, ghobs, giv, gc;  // (R D | D | D | D | Dg | D) x W partial sums

  ObsLanes(int64_t B_, int64_t K_, int64_t D_, int64_t Dg_, int64_t R_)
      : B(B_), K(K_), Kc((K_ + W - 1) / W), D(D_), Dg(Dg_), Dp(D_ - Dg_), R(R_), rp(Dp * W), ep(Dp * W),
        dd(Dp * W), nz(Dp) {}

  // lists the Poisson channels of xp (Dp,) with counts into nz; returns how many
  int64_t list_counts(const T* xp) {
    int64_t m = 0;
    for (int64_t i = 0; i < Dp; ++i)
      if (xp[i] != T(0)) nz[m++] = i;
    return m;
  }
  void start_backward() {
    gW.assign(R * D * W, T(0)), gbias.assign(D * W, T(0)), ggain.assign(D * W, T(0));
    ghobs.assign(D * W, T(0)), giv.assign(Dg * W, T(0)), gc.assign(D * W, T(0));
  }
  // adds the partial sums to the outputs (each when non-null)
  void finish(T* oW, T* obias, T* ogain, T* ohobs, T* oiv) const {
    auto reduce = [&](const std::vector<T>& acc, T* out, int64_t n) {
      if (out)
        for (int64_t j = 0; j < n; ++j) out[j] += hsum(ld<S>(acc.data() + j * W));
    };
    reduce(gW, oW, R * D), reduce(gbias, obias, D), reduce(ggain, ogain, D), reduce(ghobs, ohobs, D);
    reduce(giv, oiv, Dg);
  }
};

// the latents of lanes [0, valid) from the row-major (particle, R) array zp; padding lanes hold 0
template <typename S, int RM, typename T>
inline void load_lanes(const T* zp, int R, int valid, S* zv) {
  constexpr int W = sizeof(S) / sizeof(T);
  T lanes[RM][W] = {};
  for (int l = 0; l < valid; ++l)
    for (int r = 0; r < R; ++r) lanes[r][l] = zp[l * R + r];
  for (int r = 0; r < R; ++r) zv[r] = ld<S>(lanes[r]);
}

// u and pre of channel j for the lanes' latents zv (c: the sequence's current row or null)
template <int OACT, typename S, typename T>
inline __attribute__((always_inline)) S lane_pre(const ObsView<T>& o, int R, int64_t j, const S* zv, const T* c) {
  S u = bc<S>(c ? c[j] : T(0));
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) u += zv[r] * bc<S>(o.WT[r * o.D + j]);
  if constexpr (OACT != NO_PHI) u = phi_f<OACT>(u, bc<S>(o.hobs[j]));
  if (o.gain) u = u * bc<S>(o.gain[j]);
  return u + bc<S>(o.bias[j]);
}

// Walks the Poisson channels of the lanes zv in groups of n <= NB: for each, pre and, for the softplus
// link e^-|pre|, for the exp link e^min(pre, 20) (exp over the whole group at once, see NB), then
// fn(i0, n, pre, e) with i0 the group's first channel within the block.
template <int OACT, int LINK, typename S, typename T, typename F>
inline __attribute__((always_inline)) void poisson_groups(const ObsView<T>& o, int R, const S* zv, const T* cb,
                                                          F&& fn) {
  const S zero = bc<S>(0), lim = bc<S>(T(20));
  const int64_t Dp = o.D - o.Dg;
  for (int64_t i0 = 0; i0 < Dp; i0 += NB) {
    const int n = int(std::min<int64_t>(NB, Dp - i0));
    S pre[NB], e[NB];
    for (int j = 0; j < n; ++j) pre[j] = lane_pre<OACT>(o, R, o.Dg + i0 + j, zv, cb);
    if constexpr (LINK == SOFTPLUS) {
      for (int j = 0; j < n; ++j) e[j] = exp_s(SEL(pre[j] > zero, -pre[j], pre[j]));
    } else {
      for (int j = 0; j < n; ++j) e[j] = exp_s(SEL(pre[j] > lim, lim, pre[j]));
    }
    fn(i0, n, pre, e);
  }
}

// softplus(pre) from e = e^-|pre|, with torch's threshold 20
template <typename S>
inline S softplus_rate(S pre, S e) {
  using T = typename Elem<S>::type;
  const S zero = bc<S>(0);
  return SEL(pre > bc<S>(T(20)), pre, SEL(pre > zero, pre, zero) + log1p_unit(e));
}

// Adds sum_d ll_d (the particle-dependent part) of every particle to ll[p] (P = B K particles; particle
// p belongs to sequence p / K). z (P, R); x: (B, D) this step's data; c: (B, D) or null.
template <typename T, typename S, int RC, int OACT, int LINK>
void obs_forward_lanes(const ObsView<T>& o, ObsLanes<T>& sc, int R_, const T* __restrict__ z,
                       const T* __restrict__ x, const T* __restrict__ c, T* __restrict__ ll) {
  constexpr int W = ObsLanes<T>::W;
  constexpr int RM = RC > 0 ? RC : kMaxRank;
  const int R = RC > 0 ? RC : R_;
  const int64_t D = o.D, Dg = o.Dg, K = sc.K, Kc = sc.Kc;
  const S zero = bc<S>(0), lim = bc<S>(T(20));
  T* rp = sc.rp.data();
  const int64_t* nz = sc.nz.data();
  for (int64_t b = 0; b < sc.B; ++b) {
    const T* xb = x + b * D;
    const T* xp = xb + Dg;  // the Poisson block
    const T* cb = c ? c + b * D : nullptr;
    const int64_t m = sc.list_counts(xp);
    for (int64_t kc = 0; kc < Kc; ++kc) {
      const int64_t p0 = b * K + kc * W;
      const int valid = int(std::min<int64_t>(W, K - kc * W));
      S zv[RM];
      load_lanes<S, RM>(z + p0 * R, R, valid, zv);
      S acc = zero;
      for (int64_t j = 0; j < Dg; ++j) {
        const S res = bc<S>(xb[j]) - lane_pre<OACT>(o, R, j, zv, cb);
        acc += bc<S>(T(-0.5)) * res * res * bc<S>(o.iv[j]);
      }
      // pass 1, every Poisson channel: -g(pre)
      poisson_groups<OACT, LINK>(o, R, zv, cb, [&](int64_t i0, int n, const S* pre, const S* e)
                                                   __attribute__((always_inline)) {
        for (int j = 0; j < n; ++j) {
          const S g = LINK == SOFTPLUS ? softplus_rate(pre[j], e[j]) : e[j];
          acc -= g;
          // what pass 2 needs: the rate + 1e-8 (its log), or min(pre, 20)
          st(rp + (i0 + j) * W, LINK == SOFTPLUS ? g + bc<S>(T(1e-8)) : SEL(pre[j] > lim, lim, pre[j]));
        }
      });
      // pass 2, the channels with counts: + x log(g + 1e-8) (softplus) or + x min(pre, 20) (exp)
      for (int64_t q = 0; q < m; ++q) {
        const int64_t i = nz[q];
        const S r = ld<S>(rp + i * W);
        if constexpr (LINK == SOFTPLUS) acc += bc<S>(xp[i]) * log_s(r);
        else acc += bc<S>(xp[i]) * r;
      }
      T lanes[W];
      st(lanes, acc);
      for (int l = 0; l < valid; ++l) ll[p0 + l] += lanes[l];
    }
  }
}

// dll/dpre of every Poisson channel of one chunk (lanes zv of sequence with data xp, current cb) into
// sc.dd (Dp, W), the same two passes as the forward: as if x were 0 (-sigmoid(pre), or -e^p), then the
// count's part for the m channels with counts: (x / (g + 1e-8) - 1) sigmoid(pre), or x - e^p (0 where pre
// > 20 for the exp link, torch's clamp convention).
template <typename T, typename S, int OACT, int LINK>
inline void poisson_dll(const ObsView<T>& o, ObsLanes<T>& sc, int R, const S* zv, const T* cb, const T* xp,
                        int64_t m) {
  constexpr int W = ObsLanes<T>::W;
  const S zero = bc<S>(0), one = bc<S>(1), lim = bc<S>(T(20));
  T *pr = sc.rp.data(), *ep = sc.ep.data(), *dd = sc.dd.data();
  poisson_groups<OACT, LINK>(o, R, zv, cb, [&](int64_t i0, int n, const S* pre, const S* e)
                                               __attribute__((always_inline)) {
    for (int j = 0; j < n; ++j) {
      st(pr + (i0 + j) * W, pre[j]), st(ep + (i0 + j) * W, e[j]);
      // softplus: -sigmoid(pre), sigmoid = (pre > 0 ? 1 : e) / (1 + e), 1 past torch's threshold; exp: -e^pre
      if constexpr (LINK == SOFTPLUS)
        st(dd + (i0 + j) * W, SEL(pre[j] > lim, -one, -SEL(pre[j] > zero, one, e[j]) / (one + e[j])));
      else
        st(dd + (i0 + j) * W, SEL(pre[j] > lim, zero, -e[j]));
    }
  });
  const int64_t* nz = sc.nz.data();
  for (int64_t q = 0; q < m; ++q) {
    const int64_t i = nz[q];
    const S xv = bc<S>(xp[i]), pre = ld<S>(pr + i * W), d0 = ld<S>(dd + i * W);
    if constexpr (LINK == SOFTPLUS) {
      const S rate = softplus_rate(pre, ld<S>(ep + i * W));
      st(dd + i * W, d0 * (one - xv / (rate + bc<S>(T(1e-8)))));
    } else {
      st(dd + i * W, SEL(pre > lim, zero, d0 + xv));
    }
  }
}

// Gradients of sum_p graw[p] sum_d ll_d(z_p): adds into gz (P, R) and gc (B, D) (when non-null), and the
// readout's gradients into sc's partial sums (ObsLanes::finish reduces them; which are wanted: the want_
// flags). Chunks whose graw are all zero are skipped.
template <typename T, typename S, int RC, int OACT, int LINK>
void obs_backward_lanes(const ObsView<T>& o, ObsLanes<T>& sc, int R_, const T* __restrict__ z,
                        const T* __restrict__ x, const T* __restrict__ c, const T* __restrict__ graw,
                        T* __restrict__ gz, bool want_W, bool want_bias, bool want_gain, bool want_hobs, bool want_iv,
                        T* __restrict__ gc) {
  constexpr int W = ObsLanes<T>::W;
  constexpr int RM = RC > 0 ? RC : kMaxRank;
  const int R = RC > 0 ? RC : R_;
  const int64_t D = o.D, Dg = o.Dg, Dp = D - Dg, K = sc.K, Kc = sc.Kc;
  T *aW = sc.gW.data(), *abias = sc.gbias.data(), *again = sc.ggain.data(), *ahobs = sc.ghobs.data();
  T *aiv = sc.giv.data(), *ac = sc.gc.data();
  auto add = [](T* p, S v) __attribute__((always_inline)) { st(p, ld<S>(p) + v); };
  for (int64_t b = 0; b < sc.B; ++b) {
    const T* xb = x + b * D;
    const T* cb = c ? c + b * D : nullptr;
    const int64_t m = sc.list_counts(xb + Dg);
    if (gc) std::fill(ac, ac + D * W, T(0));
    bool any_b = false;
    for (int64_t kc = 0; kc < Kc; ++kc) {
      const int64_t p0 = b * K + kc * W;
      const int valid = int(std::min<int64_t>(W, K - kc * W));
      T grl[W] = {};
      bool any = false;
      for (int l = 0; l < valid; ++l) grl[l] = graw[p0 + l], any = any || grl[l] != T(0);
      if (!any) continue;
      any_b = true;
      const S gr = ld<S>(grl);
      S zv[RM], gzv[RM];
      load_lanes<S, RM>(z + p0 * R, R, valid, zv);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) gzv[r] = bc<S>(0);
      if (Dp > 0) poisson_dll<T, S, OACT, LINK>(o, sc, R, zv, cb, xb + Dg, m);
      const T* dc = sc.dd.data() - Dg * W;  // dc[j W]: dll/dpre of channel j >= Dg
      for (int64_t j = 0; j < D; ++j) {
        S u = bc<S>(cb ? cb[j] : T(0));
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) u += zv[r] * bc<S>(o.WT[r * D + j]);
        S s = u, dsdu = bc<S>(1), dsdh = bc<S>(0);
        if constexpr (OACT != NO_PHI) s = phi_b<OACT>(u, bc<S>(o.hobs[j]), bc<S>(1), dsdu, dsdh);
        S gpre;
        if (j < Dg) {
          const S res = bc<S>(xb[j]) - (o.gain ? s * bc<S>(o.gain[j]) : s) - bc<S>(o.bias[j]);
          if (want_iv) add(aiv + j * W, gr * bc<S>(T(-0.5)) * res * res);
          gpre = gr * res * bc<S>(o.iv[j]);
        } else {
          gpre = gr * ld<S>(dc + j * W);
        }
        if (want_bias) add(abias + j * W, gpre);
        S gs = gpre;
        if (o.gain) {
          if (want_gain) add(again + j * W, gpre * s);
          gs = gpre * bc<S>(o.gain[j]);
        }
        S gu = gs;
        if constexpr (OACT != NO_PHI) {
          if (want_hobs) add(ahobs + j * W, gs * dsdh);
          gu = gs * dsdu;
        }
        if (gc) add(ac + j * W, gu);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          gzv[r] += gu * bc<S>(o.WT[r * D + j]);
          if (want_W) add(aW + (r * D + j) * W, gu * zv[r]);
        }
      }
      T lanes[RM][W];
      for (int r = 0; r < R; ++r) st(lanes[r], gzv[r]);
      for (int l = 0; l < valid; ++l)
        for (int r = 0; r < R; ++r) gz[(p0 + l) * R + r] += lanes[r][l];
    }
    if (gc && any_b)
      for (int64_t j = 0; j < D; ++j) gc[b * D + j] += hsum(ld<S>(ac + j * W));
  }
}

// dispatch on the rank (1..4 unrolled), the readout activation and the link
template <typename T, bool BACKWARD, typename... A>
void obs_dispatch(const ObsView<T>& o, int R, ObsLanes<T>& lanes, A... args) {
  using V = typename ObsLanes<T>::S;
  auto go = [&](auto rc, auto oa) {
    constexpr int RC = decltype(rc)::value, OA = decltype(oa)::value;
    if constexpr (BACKWARD) {
      if (o.link == EXPLINK) obs_backward_lanes<T, V, RC, OA, EXPLINK>(o, lanes, args...);
      else obs_backward_lanes<T, V, RC, OA, SOFTPLUS>(o, lanes, args...);
    } else {
      if (o.link == EXPLINK) obs_forward_lanes<T, V, RC, OA, EXPLINK>(o, lanes, args...);
      else obs_forward_lanes<T, V, RC, OA, SOFTPLUS>(o, lanes, args...);
    }
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
