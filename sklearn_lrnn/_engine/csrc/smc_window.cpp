// The whole time loop of run_smc for the optimal proposal as one autograd op ("SMC window").
//
// Per step t >= 1, for the P = B x K particles (sequence b owns rows b K .. b K + K - 1):
//   zr   = z_{t-1}[ancestors]                                  resampled particles
//   fz   = a zr + phi(zr mT + c_t; h) n^T                      transition (transition_kernels.h)
//   o    = data_t[b] + [eps_t L^T | 0] + fz proj               proposal mean and noise: data_t[b] =
//          [K (x_t - d) | -2 C^T S^-1/2 y_t] per sequence, eps_t (P, R) standard normal, L (R, R)
//   z_t  = o[:, :R],  oy = o[:, R:]
//   lw   = -1/2 sum_r oy_r fz_r  (x mask[b, t])                particle-dependent log weight
// at t = 0, z_0 is given and lw = 0 (the optimal proposal's first weight is particle-independent).
// Then per sequence: inc_t = logsumexp_k(lw) (every-step resampling) or, ESS-adaptive, with
// lwc = logW_{t-1} + lw: inc_t = logsumexp_k(lwc), logW_t = lwc - inc_t, resample where
// 1 / sum_k exp(2 logW_t) < threshold K (and reset logW_t to -log K there). Ancestors come from
// systematic resampling: searchsorted(cumsum(softmax(.)), pos_t), as _resample_indices does.
//
// Everything run_smc's Python loop does per step, in one call: no per-step dispatch, no autograd
// node per step. The backward pass walks the steps in reverse with hand-written gradients (softmax of
// the log-sum-exp, the proposal matmul, the transition sweep of transition_kernels.h, scatter-add
// through the ancestors) and returns grad z_0, data, L, proj, mT, n, h, a and the current.
// Runs on one thread (as the step kernel by default). Forward only, with rolling buffers, under
// no_grad.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/autograd/custom_function.h>

#include "fused_step.h"
#include "smc_common.h"
#include "transition_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

namespace {

using at::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using namespace sklearn_lrnn_kernels;

template <typename T>
struct Forward {
  // inputs
  Dims d;
  const T *z0, *data, *eps, *L, *proj, *mT, *n, *h, *cur, *pos, *mask;
  T a;
  double threshold;  // <= 0: resample at every step
  int64_t act;
  // outputs: incs (B, T), lws (T, B, K), anc (T, B, K), need (T, B); zs (T, P, R) or one rolling slot
  T *incs, *lws, *zs;
  int64_t* anc;
  uint8_t* need;
  bool keep_states;
  // scratch kept for the backward pass ((T - 1) slots) or one rolling slot
  T *zr, *fz, *oy;
  bool keep_grad;

  void run() {
    FlushDenormals ftz;
    dispatch_rank(d.R, [&](auto rc) { run_r<decltype(rc)::value>(); });
  }

  // RC > 0: the rank known at compile time (the small loops unroll, no memmove per particle)
  template <int RC>
  void run_r() {
    constexpr int RM = RC > 0 ? RC : kMaxRank;
    const int64_t TT = d.T, B = d.B, K = d.K, P = d.P, N = d.N;
    const int R = RC > 0 ? RC : int(d.R), R2 = 2 * R;
    std::vector<T> pad;
    fill_pad<T, typename VecOf<T>::type>(pad, R, N, mT, n, h);
    T Lc[RM * RM], pj[RM * 2 * RM];  // L (R, R) and proj (R, 2 R), on the stack
    std::copy(L, L + R * R, Lc);
    std::copy(proj, proj + R * R2, pj);
    Resampler<T> rs{d, mask, pos, threshold, incs, lws, anc, need};
    rs.init();
    std::vector<T> lw(P, T(0));
    std::copy(z0, z0 + P * R, zs);
    for (int64_t t = 0; t < TT; ++t) {
      T* zt = zs + (keep_states ? t : t % 2) * P * R;
      if (t > 0) {
        const T* zprev = zs + (keep_states ? t - 1 : (t - 1) % 2) * P * R;
        const int64_t* ap = anc + (t - 1) * P;
        const int64_t slot = keep_grad ? t - 1 : 0;
        T* zin = zr + slot * P * R;
        T* f = fz + slot * P * R;
        T* o = oy + slot * P * R;
        gather_ancestors<RC>(d, ap, zprev, zin);
        transition_forward<T>(act, d, zin, mT, n, h, a, cur ? cur + t * B * N : nullptr, f, pad.data());
        const T* eb = eps + (t - 1) * P * R;
        for (int64_t b = 0; b < B; ++b) {
          const T* dp = data + ((t - 1) * B + b) * R2;
          for (int64_t p = b * K; p < (b + 1) * K; ++p) {
            const T* fp = f + p * R;
            const T* ep = eb + p * R;
            T s = 0;
#pragma GCC unroll 16
            for (int j = 0; j < R; ++j) {  // z_t = data + L eps + (I - K C) f
              T acc = dp[j], acc2 = dp[R + j];
#pragma GCC unroll 16
              for (int i = 0; i < R; ++i) acc += ep[i] * Lc[j * R + i];
#pragma GCC unroll 16
              for (int r = 0; r < R; ++r) acc += fp[r] * pj[r * R2 + j], acc2 += fp[r] * pj[r * R2 + R + j];
              zt[p * R + j] = acc;
              o[p * R + j] = acc2;
              s += acc2 * fp[j];
            }
            lw[p] = T(-0.5) * s;
          }
        }
      }
      rs.step(t, lw.data());
    }
  }
};

template <typename T>
struct Backward {
  Dims d;
  const T *gincs, *eps, *proj, *mT, *n, *h, *cur, *mask, *lws, *zr, *fz, *oy;
  T a;
  const int64_t* anc;
  const uint8_t* need;
  double threshold;
  int64_t act;
  // outputs (zero-initialised by the caller except gz0, which is written)
  T *gz0, *gdata, *gL, *gproj, *gmT, *gn, *gh, *ga, *gcur;

  void run() {
    FlushDenormals ftz;
    dispatch_rank(d.R, [&](auto rc) { run_r<decltype(rc)::value>(); });
  }

  template <int RC>
  void run_r() {
    constexpr int RM = RC > 0 ? RC : kMaxRank;
    const int64_t TT = d.T, B = d.B, K = d.K, P = d.P, N = d.N;
    const int R = RC > 0 ? RC : int(d.R), R2 = 2 * R;
    std::vector<T> pad;
    fill_pad<T, typename VecOf<T>::type>(pad, R, N, mT, n, h);
    T pj[RM * 2 * RM], gpj[RM * 2 * RM] = {}, gLa[RM * RM] = {};  // proj and the gradient accumulators
    std::copy(proj, proj + R * R2, pj);
    const bool adaptive = threshold > 0;
    std::vector<T> gz(P * R, T(0)), gzr(P * R), gfz(P * R), graw(P), gW(adaptive ? P : 0, T(0));
    std::vector<T> gm_s(R * N), gn_s(R * N), gh_s(N);
    T ga_acc = 0;
    for (int64_t t = TT - 1; t >= 0; --t) {
      weight_grads(d, t, gincs, mask, lws, need, adaptive, gW.data(), graw.data());
      if (t == 0) break;
      const T* f = fz + (t - 1) * P * R;
      const T* o = oy + (t - 1) * P * R;
      const T* eb = eps + (t - 1) * P * R;
      for (int64_t b = 0; b < B; ++b) {
        T gd[2 * RM] = {};
        for (int64_t p = b * K; p < (b + 1) * K; ++p) {
          const T* fp = f + p * R;
          const T* op = o + p * R;
          const T* ep = eb + p * R;
          const T hg = T(-0.5) * graw[p];
          T go[2 * RM];  // d loss / d o = [d z_t | d oy]
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r) go[r] = gz[p * R + r], go[R + r] = hg * fp[r];
#pragma GCC unroll 32
          for (int j = 0; j < R2; ++j) gd[j] += go[j];
#pragma GCC unroll 16
          for (int j = 0; j < R; ++j)
#pragma GCC unroll 16
            for (int i = 0; i < R; ++i) gLa[j * R + i] += go[j] * ep[i];
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r) {
            T acc = hg * op[r];
#pragma GCC unroll 32
            for (int j = 0; j < R2; ++j) acc += pj[r * R2 + j] * go[j], gpj[r * R2 + j] += fp[r] * go[j];
            gfz[p * R + r] = acc;
          }
        }
        std::copy(gd, gd + R2, gdata + ((t - 1) * B + b) * R2);
      }
      const T* zin = zr + (t - 1) * P * R;
      transition_backward<T>(act, d, gfz.data(), zin, mT, n, h, a, cur ? cur + t * B * N : nullptr, gzr.data(),
                             gm_s.data(), gn_s.data(), gh_s.data(), gcur ? gcur + t * B * N : nullptr, pad.data());
      for (int64_t i = 0; i < R * N; ++i) gmT[i] += gm_s[i], gn[i] += gn_s[i];
      for (int64_t i = 0; i < N; ++i) gh[i] += gh_s[i];
      for (int64_t i = 0; i < P * R; ++i) ga_acc += gfz[i] * zin[i];
      // scatter-add through the ancestors of step t - 1
      scatter_ancestors<RC>(d, anc + (t - 1) * P, gzr.data(), gz.data());
    }
    std::copy(gz.begin(), gz.end(), gz0);
    std::copy(gpj, gpj + R * R2, gproj);
    std::copy(gLa, gLa + R * R, gL);
    *ga = ga_acc;
  }
};

struct Checked {
  Dims d;
  Tensor cur, mask;
};

Checked check(const Tensor& z0, const Tensor& data, const Tensor& eps, const Tensor& L, const Tensor& proj, const Tensor& mT, const Tensor& n,
              const Tensor& h, const Tensor& a, const std::optional<Tensor>& cur, const Tensor& pos,
              const std::optional<Tensor>& mask, int64_t act, int64_t K) {
  TORCH_CHECK(act >= 0 && act <= 2, "smc window: unknown activation code");
  TORCH_CHECK(z0.dim() == 2 && K >= 1 && z0.size(0) % K == 0, "smc window: z0 must be (B K, R)");
  Dims d;
  d.P = z0.size(0), d.R = z0.size(1), d.K = K, d.B = d.P / K, d.N = mT.size(1), d.T = pos.size(0);
  TORCH_CHECK(d.R >= 1 && d.R <= kMaxRank, "smc window: rank must be in [1, 16]");
  TORCH_CHECK(d.T >= 1, "smc window: at least one step");
  const auto dt = z0.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble, "smc window: float32 or float64 only");
  for (const Tensor* t : {&z0, &data, &eps, &L, &proj, &mT, &n, &h, &a, &pos}) {
    TORCH_CHECK(t->scalar_type() == dt && t->device().is_cpu(), "smc window: dtype/device mismatch");
    TORCH_CHECK(t->is_contiguous(), "smc window: inputs must be contiguous");
  }
  TORCH_CHECK(data.dim() == 3 && data.size(0) == d.T - 1 && data.size(1) == d.B && data.size(2) == 2 * d.R,
              "smc window: data must be (T - 1, B, 2 R)");
  TORCH_CHECK(eps.dim() == 3 && eps.size(0) == d.T - 1 && eps.size(1) == d.P && eps.size(2) == d.R,
              "smc window: eps must be (T - 1, P, R)");
  TORCH_CHECK(L.dim() == 2 && L.size(0) == d.R && L.size(1) == d.R, "smc window: L must be (R, R)");
  TORCH_CHECK(proj.dim() == 2 && proj.size(0) == d.R && proj.size(1) == 2 * d.R, "smc window: proj must be (R, 2 R)");
  TORCH_CHECK(mT.dim() == 2 && mT.size(0) == d.R && n.sizes() == mT.sizes(), "smc window: mT, n must be (R, N)");
  TORCH_CHECK(h.dim() == 1 && h.size(0) == d.N, "smc window: h must be (N,)");
  TORCH_CHECK(a.numel() == 1, "smc window: a must be a scalar");
  TORCH_CHECK(pos.dim() == 3 && pos.size(1) == d.B && pos.size(2) == K, "smc window: pos must be (T, B, K)");
  Checked c{d, Tensor(), Tensor()};
  if (cur.has_value() && cur->defined()) {
    c.cur = *cur;
    TORCH_CHECK(c.cur.dim() == 3 && c.cur.size(0) == d.T && c.cur.size(1) == d.B && c.cur.size(2) == d.N &&
                    c.cur.scalar_type() == dt && c.cur.device().is_cpu() && c.cur.is_contiguous(),
                "smc window: current must be contiguous (T, B, N)");
  }
  if (mask.has_value() && mask->defined()) {
    c.mask = *mask;
    TORCH_CHECK(c.mask.dim() == 2 && c.mask.size(0) == d.B && c.mask.size(1) == d.T && c.mask.scalar_type() == dt &&
                    c.mask.device().is_cpu() && c.mask.is_contiguous(),
                "smc window: mask must be a contiguous (B, T) tensor of the data's dtype");
  }
  return c;
}

template <typename T>
const T* ptr(const Tensor& t) {
  return t.defined() ? t.const_data_ptr<T>() : nullptr;
}

// Returns {incs, zs, lws, anc, need, zr, fz, oy}.
std::vector<Tensor> forward_impl(const Tensor& z0, const Tensor& data, const Tensor& eps, const Tensor& L,
                                 const Tensor& proj, const Tensor& mT,
                                 const Tensor& n, const Tensor& h, const Tensor& a, const std::optional<Tensor>& cur,
                                 const Tensor& pos, const std::optional<Tensor>& mask, double threshold, int64_t act,
                                 int64_t K, bool keep_states, bool keep_grad) {
  const Checked c = check(z0, data, eps, L, proj, mT, n, h, a, cur, pos, mask, act, K);
  const Dims& d = c.d;
  const auto opt = z0.options();
  const int64_t slots = keep_grad ? std::max<int64_t>(d.T - 1, 0) : 1;
  Tensor incs = at::empty({d.B, d.T}, opt);
  Tensor zs = at::empty({keep_states ? d.T : 2, d.P, d.R}, opt);
  Tensor lws = at::empty({d.T, d.B, K}, opt);
  Tensor anc = at::empty({d.T, d.B, K}, opt.dtype(at::kLong));
  Tensor need = at::zeros({d.T, d.B}, opt.dtype(at::kByte));
  Tensor zr = at::empty({slots, d.P, d.R}, opt), fz = at::empty({slots, d.P, d.R}, opt),
         oy = at::empty({slots, d.P, d.R}, opt);
  AT_DISPATCH_FLOATING_TYPES(z0.scalar_type(), "smc_window_forward", [&] {
    using T = scalar_t;
    Forward<T> f;
    f.d = d;
    f.z0 = z0.const_data_ptr<T>(), f.data = data.const_data_ptr<T>(), f.eps = eps.const_data_ptr<T>();
    f.L = L.const_data_ptr<T>(), f.proj = proj.const_data_ptr<T>();
    f.mT = mT.const_data_ptr<T>(), f.n = n.const_data_ptr<T>(), f.h = h.const_data_ptr<T>();
    f.cur = ptr<T>(c.cur), f.pos = pos.const_data_ptr<T>(), f.mask = ptr<T>(c.mask);
    f.a = a.item<T>(), f.threshold = threshold, f.act = act;
    f.incs = incs.mutable_data_ptr<T>(), f.lws = lws.mutable_data_ptr<T>(), f.zs = zs.mutable_data_ptr<T>();
    f.anc = anc.mutable_data_ptr<int64_t>(), f.need = need.mutable_data_ptr<uint8_t>();
    f.keep_states = keep_states, f.keep_grad = keep_grad;
    f.zr = zr.mutable_data_ptr<T>(), f.fz = fz.mutable_data_ptr<T>(), f.oy = oy.mutable_data_ptr<T>();
    f.run();
  });
  if (!keep_states) zs = at::empty({0, d.P, d.R}, opt);
  return {incs, zs, lws, anc, need, zr, fz, oy};
}

class SmcWindow : public torch::autograd::Function<SmcWindow> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& z0, const Tensor& data, const Tensor& eps,
                               const Tensor& L, const Tensor& proj,
                               const Tensor& mT, const Tensor& n, const Tensor& h, const Tensor& a,
                               const std::optional<Tensor>& cur, const Tensor& pos,
                               const std::optional<Tensor>& mask, double threshold, int64_t act, int64_t K,
                               bool keep_states) {
    auto r = forward_impl(z0, data, eps, L, proj, mT, n, h, a, cur, pos, mask, threshold, act, K, keep_states, true);
    const Tensor cc = cur.has_value() ? *cur : Tensor();
    const Tensor mm = mask.has_value() ? *mask : Tensor();
    // lws and anc are outputs as well as saved: keep private copies out of the caller's reach
    ctx->save_for_backward({proj, mT, n, h, a, cc, mm, r[2].clone(), r[3].clone(), r[4], r[5], r[6], r[7], eps});
    ctx->saved_data["threshold"] = threshold;
    ctx->saved_data["act"] = act;
    ctx->saved_data["K"] = K;
    ctx->mark_non_differentiable({r[1], r[2], r[3]});
    return {r[0], r[1], r[2], r[3]};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "fused SMC window: double backward is not supported (set SKLEARN_LRNN_NO_FUSED=1)");
    const auto s = ctx->get_saved_variables();
    const Tensor &proj = s[0], &mT = s[1], &n = s[2], &h = s[3], &a = s[4], &cur = s[5], &mask = s[6];
    const Tensor &lws = s[7], &anc = s[8], &need = s[9], &zr = s[10], &fz = s[11], &oy = s[12], &eps = s[13];
    const double threshold = ctx->saved_data["threshold"].toDouble();
    const int64_t act = ctx->saved_data["act"].toInt(), K = ctx->saved_data["K"].toInt();
    Dims d;
    d.T = lws.size(0), d.B = lws.size(1), d.K = K, d.P = d.B * K, d.R = mT.size(0), d.N = mT.size(1);
    const auto opt = mT.options();
    Tensor gincs = grad_out[0].defined() ? grad_out[0].contiguous() : at::zeros({d.B, d.T}, opt);
    Tensor gz0 = at::empty({d.P, d.R}, opt), gdata = at::zeros({std::max<int64_t>(d.T - 1, 0), d.B, 2 * d.R}, opt);
    Tensor gL = at::zeros({d.R, d.R}, opt);
    Tensor gproj = at::zeros({d.R, 2 * d.R}, opt), gmT = at::zeros({d.R, d.N}, opt), gn = at::zeros({d.R, d.N}, opt);
    Tensor gh = at::zeros({d.N}, opt), ga = at::empty(a.sizes(), opt);
    Tensor gcur = cur.defined() && ctx->needs_input_grad(9) ? at::zeros(cur.sizes(), opt) : Tensor();
    AT_DISPATCH_FLOATING_TYPES(mT.scalar_type(), "smc_window_backward", [&] {
      using T = scalar_t;
      Backward<T> b;
      b.d = d;
      b.gincs = gincs.const_data_ptr<T>(), b.eps = eps.const_data_ptr<T>(), b.proj = proj.const_data_ptr<T>();
      b.mT = mT.const_data_ptr<T>(), b.n = n.const_data_ptr<T>(), b.h = h.const_data_ptr<T>();
      b.cur = ptr<T>(cur), b.mask = ptr<T>(mask), b.lws = lws.const_data_ptr<T>();
      b.zr = zr.const_data_ptr<T>(), b.fz = fz.const_data_ptr<T>(), b.oy = oy.const_data_ptr<T>();
      b.a = a.item<T>(), b.anc = anc.const_data_ptr<int64_t>(), b.need = need.const_data_ptr<uint8_t>();
      b.threshold = threshold, b.act = act;
      b.gz0 = gz0.mutable_data_ptr<T>(), b.gdata = gdata.mutable_data_ptr<T>(), b.gL = gL.mutable_data_ptr<T>();
      b.gproj = gproj.mutable_data_ptr<T>();
      b.gmT = gmT.mutable_data_ptr<T>(), b.gn = gn.mutable_data_ptr<T>(), b.gh = gh.mutable_data_ptr<T>();
      b.ga = ga.mutable_data_ptr<T>(), b.gcur = gcur.defined() ? gcur.mutable_data_ptr<T>() : nullptr;
      b.run();
    });
    auto need_grad = [&](int i, const Tensor& g) { return ctx->needs_input_grad(i) ? g : Tensor(); };
    // one gradient per forward argument; eps (2), pos and mask are data
    return {need_grad(0, gz0), need_grad(1, gdata), Tensor(), need_grad(3, gL), need_grad(4, gproj),
            need_grad(5, gmT), need_grad(6, gn),    need_grad(7, gh), need_grad(8, ga), gcur,
            Tensor(),          Tensor(),            Tensor(),         Tensor(),         Tensor(),
            Tensor()};
  }
};

}  // namespace

namespace sklearn_lrnn_fused {
std::vector<at::Tensor> smc_window(const at::Tensor& z0, const at::Tensor& data, const at::Tensor& eps,
                                   const at::Tensor& L, const at::Tensor& proj,
                                   const at::Tensor& mT, const at::Tensor& n, const at::Tensor& h, const at::Tensor& a,
                                   const std::optional<at::Tensor>& cur, const at::Tensor& pos,
                                   const std::optional<at::Tensor>& mask, double ess_threshold, int64_t act, int64_t K,
                                   bool keep_states) {
  const bool any_grad = z0.requires_grad() || data.requires_grad() || L.requires_grad() || proj.requires_grad() || mT.requires_grad() ||
                        n.requires_grad() || h.requires_grad() || a.requires_grad() ||
                        (cur.has_value() && cur->defined() && cur->requires_grad());
  if (!at::GradMode::is_enabled() || !any_grad) {
    auto r = forward_impl(z0, data, eps, L, proj, mT, n, h, a, cur, pos, mask, ess_threshold, act, K, keep_states,
                          false);
    return {r[0], r[1], r[2], r[3]};
  }
  return SmcWindow::apply(z0, data, eps, L, proj, mT, n, h, a, cur, pos, mask, ess_threshold, act, K, keep_states);
}
}  // namespace sklearn_lrnn_fused
