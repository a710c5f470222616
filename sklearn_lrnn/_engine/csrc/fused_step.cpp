// Fused low-rank transition f(z) = a z + phi(z mT + c; h) n^T as one autograd op (one step).
//
//   z: (P, R) particles, mT: (R, N), n: (R, N), h: (N,), a: 0-dim, c: (P, N) input current or none
//
// The SIMD sweeps over (P, N) live in transition_kernels.h (shared with smc_window.cpp); this file
// checks the inputs, splits particles over workers (grad_mT, grad_n, grad_h accumulated per worker,
// then reduced), computes grad_a and wraps it all in a C++ autograd node.
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
#include "transition_kernels.h"

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

using namespace sklearn_lrnn_kernels;

// Below this many (particle x unit) elements per worker a step stays on one thread: the fork/join of
// a parallel region costs more than it saves (settable from Python for benchmarks).
int64_t g_min_work_per_thread = 1 << 30;

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
      if (act == RELU) dispatch_forward<T, RELU>(p0, p1, R, N, zp, mp, np, hp, av, cp, cs0, 1, op, pd);
      else if (act == CLIPPED) dispatch_forward<T, CLIPPED>(p0, p1, R, N, zp, mp, np, hp, av, cp, cs0, 1, op, pd);
      else dispatch_forward<T, TANH>(p0, p1, R, N, zp, mp, np, hp, av, cp, cs0, 1, op, pd);
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
        dispatch_backward<T, RELU>(p0, p1, R, N, gp, zp, mp, np, hp, av, cp, cs0, 1, gzp, wm, wn, wh, gcp, pd);
      else if (act == CLIPPED)
        dispatch_backward<T, CLIPPED>(p0, p1, R, N, gp, zp, mp, np, hp, av, cp, cs0, 1, gzp, wm, wn, wh, gcp, pd);
      else
        dispatch_backward<T, TANH>(p0, p1, R, N, gp, zp, mp, np, hp, av, cp, cs0, 1, gzp, wm, wn, wh, gcp, pd);
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

