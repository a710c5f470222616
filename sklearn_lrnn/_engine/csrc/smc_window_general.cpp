// The time loop of run_smc for the encoder and bootstrap proposals as one autograd op: the counterpart of
// smc_window.cpp (optimal proposal) for observation models that are not linear-Gaussian (Poisson counts,
// Gaussian + Poisson columns, one-to-one readouts of the units).
//
// Per step t >= 1, for the P = B x K particles (sequence b owns rows b K .. b K + K - 1):
//   zr  = z_{t-1}[ancestors]                              resampled particles
//   fz  = a zr + phi(zr mT + c_t; h) n^T                  transition (transition_kernels.h)
//   z_t = fz + L eps_t                                    bootstrap (L: Cholesky factor of the noise)
//   z_t = mu_t[b] + q_t[b] * eps_t + w_t[b] * fz          encoder: the precision-weighted product of the
//                                                         prior and the encoder's Gaussian, mu = (1 - w) mu_e,
//                                                         q its standard deviation, per sequence and latent
//   lw  = obs(x_t[b] | z_t)                               bootstrap
//   lw  = obs(x_t[b] | z_t) + |eps_t|^2 / 2               encoder: log p(z | fz) - log q(z) without the
//         - |Linv (z_t - fz)|^2 / 2                       particle-independent terms
//   (x mask[b, t])
// obs is the observation log-likelihood of observation_kernels.h without its particle-independent part.
// At t = 0 the particles z_0 and their weights lw_0 (B, K) are given (computed by run_smc with torch ops:
// one step, and it differs between proposals). Weighting and resampling as smc_common.h.
//
// All random numbers are drawn by run_smc beforehand (eps and pos), so the op consumes
// exactly the random numbers of the per-step loop, and it runs on one thread: the result does not
// depend on the number of torch threads. The backward pass walks the steps in reverse with hand-written
// gradients (observation_kernels.h, the transition sweep of transition_kernels.h, scatter-add through
// the ancestors) and returns the gradients of z_0, lw_0, L, mu, q, w, Linv, the readout (WT, bias, gain,
// hobs, iv), the transition (mT, n, h, a) and the current.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/autograd/custom_function.h>

#include "fused_step.h"
#include "observation_kernels.h"
#include "smc_common.h"
#include "transition_kernels.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

using at::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using namespace sklearn_lrnn_kernels;

template <typename T>
const T* ptr(const Tensor& t) {
  return t.defined() ? t.const_data_ptr<T>() : nullptr;
}
template <typename T>
T* mptr(Tensor& t) {
  return t.defined() ? t.mutable_data_ptr<T>() : nullptr;
}

// the integer settings of one call
struct Settings {
  double threshold;  // ESS threshold; <= 0: resample at every step
  int64_t act, K, Dg, link, oact;
  bool obs_current;  // the readout adds the transition's input current (D == N)
};

template <typename T>
struct Inputs {
  Dims d;
  int64_t D;
  const T *z0, *lw0, *eps, *Lz, *mu, *qs, *wf, *Linv, *x, *mT, *n, *h, *cur, *pos, *mask;  // mu set: encoder
  T a;
  ObsView<T> o;
};

template <typename T>
struct Forward {
  Inputs<T> in;
  Settings s;
  T *incs, *lws, *zs, *zr, *fz;  // zs (T, P, R) or two rolling slots; zr, fz (T - 1, P, R) or one slot
  int64_t* anc;
  uint8_t* need;
  bool keep_all;

  void run() {
    FlushDenormals ftz;
    dispatch_rank(in.d.R, [&](auto rc) { run_r<decltype(rc)::value>(); });
  }

  template <int RC>
  void run_r() {
    constexpr int RM = RC > 0 ? RC : kMaxRank;
    const Dims& d = in.d;
    const int64_t TT = d.T, B = d.B, K = d.K, P = d.P, N = d.N, D = in.D;
    const int R = RC > 0 ? RC : int(d.R);
    std::vector<T> pad;
    fill_pad<T, typename VecOf<T>::type>(pad, R, N, in.mT, in.n, in.h);
    T Li[RM * RM] = {}, Lc[RM * RM] = {};
    if (in.Linv) std::copy(in.Linv, in.Linv + R * R, Li);
    if (in.Lz) std::copy(in.Lz, in.Lz + R * R, Lc);
    const bool encoder = in.mu != nullptr;
    Resampler<T> rs{d, in.mask, in.pos, s.threshold, incs, lws, anc, need};
    rs.init();
    ObsLanes<T> lanes(B, K, D, in.o.Dg, R);
    std::vector<T> lw(P);
    std::copy(in.z0, in.z0 + P * R, zs);
    std::copy(in.lw0, in.lw0 + P, lw.begin());
    for (int64_t t = 0; t < TT; ++t) {
      T* zt = zs + (keep_all ? t : t % 2) * P * R;
      if (t > 0) {
        const T* zprev = zs + (keep_all ? t - 1 : (t - 1) % 2) * P * R;
        const int64_t slot = keep_all ? t - 1 : 0;
        T* zin = zr + slot * P * R;
        T* f = fz + slot * P * R;
        gather_ancestors<RC>(d, anc + (t - 1) * P, zprev, zin);
        const T* ct = in.cur ? in.cur + t * B * N : nullptr;
        transition_forward<T>(s.act, d, zin, in.mT, in.n, in.h, in.a, ct, f, pad.data());
        const T* eb = in.eps + (t - 1) * P * R;
        for (int64_t p = 0; p < P; ++p) {
          const T* fp = f + p * R;
          const T* ep = eb + p * R;
          T* zp = zt + p * R;
          T l = 0;  // the particle-dependent part of the proposal's weight (the bootstrap's is 0)
          if (encoder) {
            const int64_t o = ((t - 1) * B + p / K) * R;
            const T *mp = in.mu + o, *qp = in.qs + o, *wp = in.wf + o;
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) zp[r] = mp[r] + qp[r] * ep[r] + wp[r] * fp[r], l += T(0.5) * ep[r] * ep[r];
            T q = 0;  // |Linv (z_t - fz)|^2
#pragma GCC unroll 16
            for (int i = 0; i < R; ++i) {
              T di = 0;
#pragma GCC unroll 16
              for (int j = 0; j < R; ++j) di += Li[i * R + j] * (zp[j] - fp[j]);
              q += di * di;
            }
            l -= T(0.5) * q;
          } else {
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
              T acc = fp[r];
#pragma GCC unroll 16
              for (int i = 0; i < R; ++i) acc += Lc[r * R + i] * ep[i];
              zp[r] = acc;
            }
          }
          lw[p] = l;
        }
        obs_dispatch<T, false>(in.o, R, lanes, R, zt, in.x + t * B * D,
                               s.obs_current ? ct : static_cast<const T*>(nullptr), lw.data());
      }
      rs.step(t, lw.data());
    }
  }
};

template <typename T>
struct Backward {
  Inputs<T> in;
  Settings s;
  const T *gincs, *lws, *zs, *zr, *fz;
  const int64_t* anc;
  const uint8_t* need;
  // outputs, zero-initialised by the caller (null: not needed)
  T *gz0, *glw0, *gLz, *gmu, *gqs, *gwf, *gLinv, *gWT, *gbias, *ggain, *ghobs, *giv, *gmT, *gn, *gh, *ga, *gcur;

  void run() {
    FlushDenormals ftz;
    dispatch_rank(in.d.R, [&](auto rc) { run_r<decltype(rc)::value>(); });
  }

  template <int RC>
  void run_r() {
    constexpr int RM = RC > 0 ? RC : kMaxRank;
    const Dims& d = in.d;
    const int64_t TT = d.T, B = d.B, K = d.K, P = d.P, N = d.N, D = in.D;
    const int R = RC > 0 ? RC : int(d.R);
    std::vector<T> pad;
    fill_pad<T, typename VecOf<T>::type>(pad, R, N, in.mT, in.n, in.h);
    T Li[RM * RM] = {}, gLi[RM * RM] = {}, gLc[RM * RM] = {};
    if (in.Linv) std::copy(in.Linv, in.Linv + R * R, Li);
    const bool encoder = in.mu != nullptr;
    const bool adaptive = s.threshold > 0;
    std::vector<T> gz(P * R, T(0)), gzr(P * R), gfz(P * R), graw(P), gW(adaptive ? P : 0, T(0));
    std::vector<T> gm_s(R * N), gn_s(R * N), gh_s(N);
    ObsLanes<T> lanes(B, K, D, in.o.Dg, R);
    lanes.start_backward();
    T ga_acc = 0;
    for (int64_t t = TT - 1; t >= 0; --t) {
      weight_grads(d, t, gincs, in.mask, lws, need, adaptive, gW.data(), graw.data());
      if (t == 0) {
        std::copy(graw.begin(), graw.end(), glw0);
        break;
      }
      const T* zt = zs + t * P * R;
      const T* f = fz + (t - 1) * P * R;
      const T* zin = zr + (t - 1) * P * R;
      const T* ct = in.cur ? in.cur + t * B * N : nullptr;
      T* gct = gcur ? gcur + t * B * N : nullptr;
      // the observation term: into gz (d z_t) and the readout's gradients
      const T* ot = s.obs_current ? ct : static_cast<const T*>(nullptr);
      obs_dispatch<T, true>(in.o, R, lanes, R, zt, in.x + t * B * D, ot, static_cast<const T*>(graw.data()),
                            gz.data(), gWT != nullptr, gbias != nullptr, ggain != nullptr, ghobs != nullptr,
                            giv != nullptr, s.obs_current ? gct : static_cast<T*>(nullptr));
      for (int64_t p = 0; p < P; ++p) {
        const T* fp = f + p * R;
        const T* zp = zt + p * R;
        T* gzp = gz.data() + p * R;
        T* gfp = gfz.data() + p * R;
        const int64_t b = p / K;
        // the encoder's transition density -|Linv e|^2 / 2, e = z_t - fz
        T gtr[RM] = {};
        if (encoder && graw[p] != T(0)) {
          T e[RM], di[RM];
#pragma GCC unroll 16
          for (int j = 0; j < R; ++j) e[j] = zp[j] - fp[j];
#pragma GCC unroll 16
          for (int i = 0; i < R; ++i) {
            T acc = 0;
#pragma GCC unroll 16
            for (int j = 0; j < R; ++j) acc += Li[i * R + j] * e[j];
            di[i] = acc;
          }
#pragma GCC unroll 16
          for (int i = 0; i < R; ++i)
#pragma GCC unroll 16
            for (int j = 0; j < R; ++j) {
              gLi[i * R + j] -= graw[p] * di[i] * e[j];
              gtr[j] += graw[p] * Li[i * R + j] * di[i];  // d lw / d fz; d lw / d z_t is its negative
            }
        }
        const T* ep = in.eps + ((t - 1) * P + p) * R;
        if (encoder) {
          const int64_t o = ((t - 1) * B + b) * R;
          const T* wp = in.wf + o;
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r) {
            const T gzt = gzp[r] - gtr[r];  // d loss / d z_t in full
            if (gmu) gmu[o + r] += gzt;
            if (gqs) gqs[o + r] += gzt * ep[r];
            if (gwf) gwf[o + r] += gzt * fp[r];
            gfp[r] = wp[r] * gzt + gtr[r];
          }
        } else {
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r) {
            const T gzt = gzp[r];
#pragma GCC unroll 16
            for (int i = 0; i < R; ++i) gLc[r * R + i] += gzt * ep[i];
            gfp[r] = gzt;
          }
        }
      }
      transition_backward<T>(s.act, d, gfz.data(), zin, in.mT, in.n, in.h, in.a, ct, gzr.data(), gm_s.data(),
                             gn_s.data(), gh_s.data(), gct, pad.data());
      for (int64_t i = 0; i < R * N; ++i) gmT[i] += gm_s[i], gn[i] += gn_s[i];
      for (int64_t i = 0; i < N; ++i) gh[i] += gh_s[i];
      for (int64_t i = 0; i < P * R; ++i) ga_acc += gfz[i] * zin[i];
      scatter_ancestors<RC>(d, anc + (t - 1) * P, gzr.data(), gz.data());
    }
    lanes.finish(gWT, gbias, ggain, ghobs, giv);
    if (gz0) std::copy(gz.begin(), gz.end(), gz0);
    if (gLinv) std::copy(gLi, gLi + R * R, gLinv);
    if (gLz) std::copy(gLc, gLc + R * R, gLz);
    *ga = ga_acc;
  }
};

// argument positions (for needs_input_grad and the returned gradients)
enum Arg : int {
  Z0 = 0, LW0, EPS, LZ, MU, QS, WF, LINV, X, WT, BIAS, GAIN, HOBS, IV, MT, NN, H, A, CUR, POS, MASK, NARGS
};

struct Checked {
  Dims d;
  int64_t D;
};

Checked check(const std::vector<Tensor>& v, const Settings& s) {
  const Tensor &z0 = v[Z0], &x = v[X], &mT = v[MT], &pos = v[POS];
  TORCH_CHECK(s.act >= 0 && s.act <= 2, "smc window: unknown activation code");
  TORCH_CHECK(z0.dim() == 2 && s.K >= 1 && z0.size(0) % s.K == 0, "smc window: z0 must be (B K, R)");
  Dims d;
  d.P = z0.size(0), d.R = z0.size(1), d.K = s.K, d.B = d.P / s.K, d.N = mT.size(1), d.T = pos.size(0);
  TORCH_CHECK(d.R >= 1 && d.R <= kMaxRank, "smc window: rank must be in [1, 16]");
  TORCH_CHECK(d.T >= 1, "smc window: at least one step");
  TORCH_CHECK(x.dim() == 3 && x.size(0) == d.T && x.size(1) == d.B, "smc window: x must be (T, B, D)");
  const int64_t D = x.size(2);
  const auto dt = z0.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble, "smc window: float32 or float64 only");
  for (const Tensor& t : v)
    if (t.defined()) {
      TORCH_CHECK(t.scalar_type() == dt && t.device().is_cpu(), "smc window: dtype/device mismatch");
      TORCH_CHECK(t.is_contiguous(), "smc window: inputs must be contiguous");
    }
  auto shape = [](const Tensor& t, std::initializer_list<int64_t> sz, const char* what) {
    TORCH_CHECK(t.sizes().vec() == std::vector<int64_t>(sz), "smc window: ", what, " has the wrong shape");
  };
  const int64_t T1 = std::max<int64_t>(d.T - 1, 0);
  shape(v[LW0], {d.B, d.K}, "lw0 (B, K)");
  shape(v[EPS], {T1, d.P, d.R}, "eps (T - 1, P, R)");
  if (v[MU].defined()) {  // encoder
    for (int i : {QS, WF}) {
      TORCH_CHECK(v[i].defined(), "smc window: the encoder proposal needs mu, q and w");
      shape(v[i], {T1, d.B, d.R}, "q / w (T - 1, B, R)");
    }
    shape(v[MU], {T1, d.B, d.R}, "mu (T - 1, B, R)");
    TORCH_CHECK(v[LINV].defined(), "smc window: the encoder proposal needs Linv");
    shape(v[LINV], {d.R, d.R}, "Linv (R, R)");
  } else {  // bootstrap
    TORCH_CHECK(v[LZ].defined(), "smc window: the bootstrap proposal needs L");
    shape(v[LZ], {d.R, d.R}, "L (R, R)");
  }
  shape(v[WT], {d.R, D}, "WT (R, D)");
  shape(v[BIAS], {D}, "bias (D,)");
  if (v[GAIN].defined()) shape(v[GAIN], {D}, "gain (D,)");
  TORCH_CHECK(s.oact == NO_PHI || (v[HOBS].defined() && v[HOBS].sizes() == at::IntArrayRef({D})),
              "smc window: a readout activation needs hobs (D,)");
  TORCH_CHECK(s.Dg >= 0 && s.Dg <= D, "smc window: Dg out of range");
  if (s.Dg > 0) {
    TORCH_CHECK(v[IV].defined(), "smc window: Gaussian channels need iv");
    shape(v[IV], {s.Dg}, "iv (Dg,)");
  }
  TORCH_CHECK(s.link == SOFTPLUS || s.link == EXPLINK, "smc window: unknown link");
  shape(mT, {d.R, d.N}, "mT (R, N)");
  shape(v[NN], {d.R, d.N}, "n (R, N)");
  shape(v[H], {d.N}, "h (N,)");
  TORCH_CHECK(v[A].numel() == 1, "smc window: a must be a scalar");
  shape(pos, {d.T, d.B, d.K}, "pos (T, B, K)");
  if (v[CUR].defined()) shape(v[CUR], {d.T, d.B, d.N}, "current (T, B, N)");
  TORCH_CHECK(!s.obs_current || !v[CUR].defined() || D == d.N, "smc window: a readout of the current needs D == N");
  if (v[MASK].defined()) shape(v[MASK], {d.B, d.T}, "mask (B, T)");
  return {d, D};
}

template <typename T>
Inputs<T> inputs(const std::vector<Tensor>& v, const Settings& s, const Checked& c) {
  Inputs<T> in;
  in.d = c.d, in.D = c.D;
  in.z0 = ptr<T>(v[Z0]), in.lw0 = ptr<T>(v[LW0]), in.eps = ptr<T>(v[EPS]), in.Lz = ptr<T>(v[LZ]);
  in.mu = ptr<T>(v[MU]), in.qs = ptr<T>(v[QS]), in.wf = ptr<T>(v[WF]);
  in.Linv = ptr<T>(v[LINV]), in.x = ptr<T>(v[X]);
  in.mT = ptr<T>(v[MT]), in.n = ptr<T>(v[NN]), in.h = ptr<T>(v[H]), in.cur = ptr<T>(v[CUR]);
  in.pos = ptr<T>(v[POS]), in.mask = ptr<T>(v[MASK]);
  in.a = v[A].item<T>();
  in.o.D = c.D, in.o.Dg = s.Dg, in.o.link = int(s.link), in.o.oact = int(s.oact);
  in.o.WT = ptr<T>(v[WT]), in.o.bias = ptr<T>(v[BIAS]), in.o.gain = ptr<T>(v[GAIN]);
  in.o.hobs = ptr<T>(v[HOBS]), in.o.iv = ptr<T>(v[IV]);
  return in;
}

// {incs, zs, lws, anc, need, zr, fz}
std::vector<Tensor> forward_impl(const std::vector<Tensor>& v, const Settings& s, bool keep_states, bool keep_grad) {
  const Checked c = check(v, s);
  const Dims& d = c.d;
  const auto opt = v[Z0].options();
  const bool keep_all = keep_states || keep_grad;
  const int64_t slots = keep_all ? std::max<int64_t>(d.T - 1, 0) : 1;
  Tensor incs = at::empty({d.B, d.T}, opt);
  Tensor zs = at::empty({keep_all ? d.T : 2, d.P, d.R}, opt);
  Tensor lws = at::empty({d.T, d.B, d.K}, opt);
  Tensor anc = at::empty({d.T, d.B, d.K}, opt.dtype(at::kLong));
  Tensor need = at::zeros({d.T, d.B}, opt.dtype(at::kByte));
  Tensor zr = at::empty({slots, d.P, d.R}, opt), fz = at::empty({slots, d.P, d.R}, opt);
  AT_DISPATCH_FLOATING_TYPES(v[Z0].scalar_type(), "smc_window_general_forward", [&] {
    using T = scalar_t;
    Forward<T> f;
    f.in = inputs<T>(v, s, c), f.s = s;
    f.incs = incs.mutable_data_ptr<T>(), f.lws = lws.mutable_data_ptr<T>(), f.zs = zs.mutable_data_ptr<T>();
    f.zr = zr.mutable_data_ptr<T>(), f.fz = fz.mutable_data_ptr<T>();
    f.anc = anc.mutable_data_ptr<int64_t>(), f.need = need.mutable_data_ptr<uint8_t>();
    f.keep_all = keep_all;
    f.run();
  });
  return {incs, zs, lws, anc, need, zr, fz};
}

Settings settings_of(AutogradContext* ctx) {
  Settings s;
  s.threshold = ctx->saved_data["threshold"].toDouble();
  s.act = ctx->saved_data["act"].toInt(), s.K = ctx->saved_data["K"].toInt(), s.Dg = ctx->saved_data["Dg"].toInt();
  s.link = ctx->saved_data["link"].toInt(), s.oact = ctx->saved_data["oact"].toInt();
  s.obs_current = ctx->saved_data["obs_current"].toBool();
  return s;
}

// optional tensors: torch's custom functions take an absent input only as an empty optional
using OT = std::optional<Tensor>;

class SmcWindowGeneral : public torch::autograd::Function<SmcWindowGeneral> {
 public:
  // the 21 tensors in Arg order (undefined where absent), then the settings
  static variable_list forward(AutogradContext* ctx, const OT& z0, const OT& lw0, const OT& eps, const OT& Lz,
                               const OT& mu, const OT& qs, const OT& wf, const OT& Linv, const OT& x,
                               const OT& WT, const OT& bias,
                               const OT& gain, const OT& hobs, const OT& iv, const OT& mT, const OT& n, const OT& h,
                               const OT& a, const OT& cur, const OT& pos, const OT& mask, double threshold, int64_t act,
                               int64_t K, int64_t Dg, int64_t link, int64_t oact, bool obs_current, bool keep_states) {
    const Settings s{threshold, act, K, Dg, link, oact, obs_current};
    std::vector<Tensor> v;
    for (const OT* t : {&z0, &lw0, &eps, &Lz, &mu, &qs, &wf, &Linv, &x, &WT, &bias, &gain, &hobs, &iv, &mT, &n, &h, &a, &cur,
                        &pos, &mask})
      v.push_back(t->has_value() ? **t : Tensor());
    auto r = forward_impl(v, s, keep_states, true);
    std::vector<Tensor> saved(v.begin(), v.end());
    // states, lws and anc are outputs as well as saved: keep private copies out of the caller's reach
    saved.insert(saved.end(), {keep_states ? r[1].clone() : r[1], r[2].clone(), r[3].clone(), r[4], r[5], r[6]});
    ctx->save_for_backward(saved);
    ctx->saved_data["threshold"] = threshold;
    ctx->saved_data["act"] = act;
    ctx->saved_data["K"] = K;
    ctx->saved_data["Dg"] = Dg;
    ctx->saved_data["link"] = link;
    ctx->saved_data["oact"] = oact;
    ctx->saved_data["obs_current"] = obs_current;
    Tensor states = keep_states ? r[1] : at::empty({0, r[1].size(1), r[1].size(2)}, r[1].options());
    ctx->mark_non_differentiable({states, r[2], r[3]});
    return {r[0], states, r[2], r[3]};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "fused SMC window: double backward is not supported (set SKLEARN_LRNN_NO_FUSED=1)");
    const auto sv = ctx->get_saved_variables();
    std::vector<Tensor> v(sv.begin(), sv.begin() + NARGS);
    const Tensor &zs = sv[NARGS], &lws = sv[NARGS + 1], &anc = sv[NARGS + 2], &need = sv[NARGS + 3];
    const Tensor &zr = sv[NARGS + 4], &fz = sv[NARGS + 5];
    const Settings s = settings_of(ctx);
    const Checked c = check(v, s);
    const auto opt = v[MT].options();
    // needs_input_grad counts only the tensors that were given (absent optionals have no edge)
    std::vector<bool> wanted(NARGS, false);
    for (int i = 0, edge = 0; i < NARGS; ++i)
      if (v[i].defined()) wanted[i] = ctx->needs_input_grad(edge++);
    auto grad_for = [&](int i) { return wanted[i] ? at::zeros(v[i].sizes(), opt) : Tensor(); };
    std::vector<Tensor> g(NARGS);
    for (int i : {Z0, LW0, LZ, MU, QS, WF, LINV, WT, BIAS, GAIN, HOBS, IV, CUR}) g[i] = grad_for(i);
    // the transition's gradients are always computed (cheap next to the sweep that produces them)
    g[MT] = at::zeros(v[MT].sizes(), opt), g[NN] = at::zeros(v[NN].sizes(), opt), g[H] = at::zeros(v[H].sizes(), opt);
    g[A] = at::zeros(v[A].sizes(), opt);
    // the backward sweeps need the per-particle buffers; write into scratch where a gradient is not wanted
    if (!g[Z0].defined()) g[Z0] = at::zeros(v[Z0].sizes(), opt);
    if (!g[LW0].defined()) g[LW0] = at::zeros(v[LW0].sizes(), opt);
    Tensor gincs = grad_out[0].defined() ? grad_out[0].contiguous() : at::zeros({c.d.B, c.d.T}, opt);
    AT_DISPATCH_FLOATING_TYPES(v[MT].scalar_type(), "smc_window_general_backward", [&] {
      using T = scalar_t;
      Backward<T> b;
      b.in = inputs<T>(v, s, c), b.s = s;
      b.gincs = gincs.const_data_ptr<T>(), b.lws = lws.const_data_ptr<T>(), b.zs = zs.const_data_ptr<T>();
      b.zr = zr.const_data_ptr<T>(), b.fz = fz.const_data_ptr<T>();
      b.anc = anc.const_data_ptr<int64_t>(), b.need = need.const_data_ptr<uint8_t>();
      b.gz0 = mptr<T>(g[Z0]), b.glw0 = mptr<T>(g[LW0]), b.gLz = mptr<T>(g[LZ]), b.gmu = mptr<T>(g[MU]);
      b.gqs = mptr<T>(g[QS]), b.gwf = mptr<T>(g[WF]);
      b.gLinv = mptr<T>(g[LINV]), b.gWT = mptr<T>(g[WT]), b.gbias = mptr<T>(g[BIAS]), b.ggain = mptr<T>(g[GAIN]);
      b.ghobs = mptr<T>(g[HOBS]), b.giv = mptr<T>(g[IV]), b.gmT = mptr<T>(g[MT]), b.gn = mptr<T>(g[NN]);
      b.gh = mptr<T>(g[H]), b.ga = mptr<T>(g[A]), b.gcur = mptr<T>(g[CUR]);
      b.run();
    });
    variable_list out(NARGS + 8);  // one per forward argument: 21 tensors, 8 settings
    for (int i = 0; i < NARGS; ++i)
      if (i != EPS && i != X && i != POS && i != MASK && wanted[i]) out[i] = g[i];
    return out;
  }
};

}  // namespace

namespace sklearn_lrnn_fused {

std::vector<at::Tensor> smc_window_general(const std::vector<std::optional<at::Tensor>>& tensors, double ess_threshold,
                                           int64_t act, int64_t K, int64_t Dg, int64_t link, int64_t oact,
                                           bool obs_current, bool keep_states) {
  TORCH_CHECK(tensors.size() == NARGS, "smc window: expected ", int(NARGS), " tensors");
  std::vector<Tensor> v(NARGS);
  for (int i = 0; i < NARGS; ++i)
    if (tensors[i].has_value()) v[i] = *tensors[i];
  const Settings s{ess_threshold, act, K, Dg, link, oact, obs_current};
  bool any_grad = false;
  for (int i = 0; i < NARGS; ++i) any_grad = any_grad || (v[i].defined() && v[i].requires_grad());
  if (!at::GradMode::is_enabled() || !any_grad) {
    auto r = forward_impl(v, s, keep_states, false);
    Tensor states = keep_states ? r[1] : at::empty({0, r[1].size(1), r[1].size(2)}, r[1].options());
    return {r[0], states, r[2], r[3]};
  }
  std::vector<OT> o(NARGS);
  for (int i = 0; i < NARGS; ++i)
    if (v[i].defined()) o[i] = v[i];
  return SmcWindowGeneral::apply(o[Z0], o[LW0], o[EPS], o[LZ], o[MU], o[QS], o[WF], o[LINV], o[X], o[WT], o[BIAS], o[GAIN],
                                 o[HOBS], o[IV], o[MT], o[NN], o[H], o[A], o[CUR], o[POS], o[MASK], ess_threshold, act,
                                 K, Dg, link, oact, obs_current, keep_states);
}
}  // namespace sklearn_lrnn_fused
