// The two time loops of the PLRNN teacher-forced rollout (sklearn_lrnn/_engine/plrnn.py), in C++.
//
// Map (kind 0 vanilla, 1 shallow, 2 clipped shallow), for states z (B, M), W1t (H, M), W2t (M, H):
//   u   = z W2t                       (kind 0: no u, phi acts on z itself and H = M)
//   phi = relu(z) | relu(u + h2) | relu(u + h2) - relu(u)   (kind 2 as off + sgn clamp(u, lo, hi),
//         the same elementwise form as plrnn._clip_terms)
//   y_t = base_t + phi W1t + A * z_t
//   z_{t+1} = keep * y_t + P_t if forced[t] else y_t          (z_0 given)
// plrnn_forward returns Y (T, B, M) = y_t, Zin (T, B, M) = z_t and U (T, B, H) = u_t (empty for kind 0),
// exactly as plrnn._rollout_nograd.
//
// plrnn_backward is the reverse loop of plrnn._Rollout.backward: with delta = dL / dz_{t+1} (zero at
// t = T - 1), per step t = T - 1 .. 0
//   e_t   = gY_t + (keep * delta if forced[t] and t + 1 < T else delta)     (gP_t = delta there)
//   da_t  = e_t W1t^T
//   du_t  = da_t * phi'               (phi' from Zin (kind 0) or U: 1[u + h2 > 0] (- 1[u > 0]))
//   delta = A * e_t + du_t (kind 0) | A * e_t + du_t W2t^T
// returning delta (B, M) = dL / dz_0, E (T, B, M), DU (T, B, H) = du_t, gP (T, B, M) or empty, and for
// the shallow maps gh2 (H,) = sum_t da_t * 1[u + h2 > 0] and act (T, B, H) = phi(u_t) (empty for kind 0):
// everything the weight gradients need, which stay in Python as batched matmuls over all steps
// (gW1t = act^T E, gW2t = Zin^T DU). Producing DU, gh2 and act here, while the row is in cache, is
// cheaper than the (T B, H) elementwise ops that would otherwise follow the loop (which cost more than
// the loop itself at T = 200, B = 16, H = 100).
//
// Plain loops over contiguous buffers, one thread, no ATen call per step. Both weight matrices are
// used in the (M, H) layout (W1 = W1t^T and W2t), so every inner loop runs over H with unit stride.
// Exception: a vanilla map with many rows (B M^2 >= kBlasWork, e.g. the addition problem's M = 40,
// B = 128) hands each step's (B, M) x (M, M) product to BLAS (one ATen call per step) and keeps the
// elementwise rest in plain loops, in the same order of operations as the Python loops.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/zeros.h>

#include "fused_step.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

using at::Tensor;

template <typename T>
inline T relu(T x) {
  return x < T(0) ? T(0) : x;  // NaN passes through, as torch.relu
}

template <typename T>
inline T clamp(T x, T lo, T hi) {
  return std::min(std::max(x, lo), hi);  // NaN passes through, as torch.clamp
}

// eight independent partial sums, updated as one small array: breaks the add latency chain and
// vectorises without reassociation flags
template <typename T>
inline T dot(const T* a, const T* b, int64_t n) {
  T s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];
  for (int j = 0; i < n; ++i, ++j) s[j] += a[i] * b[i];
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

struct Dims {
  int64_t T, B, M, H;
};

// relu(u + c) - relu(u) = off + sgn clamp(u, lo, hi), elementwise in c (as plrnn._clip_terms)
template <typename T>
struct ClipTerms {
  std::vector<T> lo, hi, sgn, off;
  ClipTerms(const T* h2, int64_t H) : lo(H), hi(H), sgn(H), off(H) {
    for (int64_t h = 0; h < H; ++h) {
      const T c = h2[h];
      lo[h] = -relu(c), hi[h] = relu(-c), off[h] = relu(c);
      sgn[h] = c > T(0) ? T(1) : (c < T(0) ? T(-1) : T(0));
    }
  }
};

// phi(u) for one row of H hidden units (kind 1 or 2)
template <typename T>
inline void activate(int64_t kind, const T* u, const T* h2, const ClipTerms<T>* ct, T* a, int64_t H) {
  if (kind == 1) {
    for (int64_t h = 0; h < H; ++h) a[h] = relu(u[h] + h2[h]);
  } else {
    const T *lo = ct->lo.data(), *hi = ct->hi.data(), *sgn = ct->sgn.data(), *off = ct->off.data();
    for (int64_t h = 0; h < H; ++h) a[h] = off[h] + sgn[h] * clamp(u[h], lo[h], hi[h]);
  }
}

// state entering the next step: keep * y + P_t where the step is forced (pt given), else y
template <typename T>
inline void next_state(const T* y, const T* pt, const T* keep, int64_t B, int64_t M, T* zn) {
  if (!pt) {
    std::copy(y, y + B * M, zn);
    return;
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t m = 0; m < M; ++m) zn[b * M + m] = pt[b * M + m] + y[b * M + m] * keep[m];
}

template <typename T>
void forward_loop(int64_t kind, const Dims& d, const T* z0, const T* A, const T* W1, const T* W2t, const T* h2,
                  const T* base, const T* P, const T* keep, const uint8_t* forced, T* Y, T* Zin, T* U) {
  const int64_t TT = d.T, B = d.B, M = d.M, H = d.H, BM = B * M;
  std::vector<T> act(H);
  const ClipTerms<T> ct(kind == 2 ? h2 : nullptr, kind == 2 ? H : 0);
  std::copy(z0, z0 + BM, Zin);
  T* a = act.data();
  for (int64_t t = 0; t < TT; ++t) {
    const T* zt = Zin + t * BM;
    const T* bt = base + t * BM;
    T* yt = Y + t * BM;
    for (int64_t b = 0; b < B; ++b) {
      const T* z = zt + b * M;
      if (kind == 0) {
        for (int64_t h = 0; h < H; ++h) a[h] = relu(z[h]);
      } else {
        T* u = U + (t * B + b) * H;
        std::fill(u, u + H, T(0));
        for (int64_t m = 0; m < M; ++m) {
          const T zm = z[m];
          const T* w = W2t + m * H;
          for (int64_t h = 0; h < H; ++h) u[h] += zm * w[h];
        }
        activate(kind, u, h2, &ct, a, H);
      }
      T* y = yt + b * M;
      const T* bs = bt + b * M;
      for (int64_t m = 0; m < M; ++m) y[m] = (bs[m] + dot(a, W1 + m * H, H)) + A[m] * z[m];
    }
    if (t + 1 < TT) next_state(yt, forced[t] ? P + t * BM : nullptr, keep, B, M, Zin + (t + 1) * BM);
  }
}

// B * M * M from which a vanilla rollout multiplies through BLAS, once per step: below it the row loops
// win (the call costs a few microseconds), above it BLAS is several times faster
constexpr int64_t kBlasWork = 16384;

// vanilla forward (kind 0) with the product a W1t of each step in BLAS; W1t (M, M) as the Python layout
template <typename T>
void forward_vanilla_blas(const Dims& d, const T* A, const Tensor& W1t, const Tensor& base, const T* P, const T* keep,
                          const uint8_t* forced, Tensor& Y, Tensor& Zin) {
  const int64_t TT = d.T, B = d.B, M = d.M, BM = B * M;
  Tensor act = at::empty({B, M}, Y.options());
  T* a = act.mutable_data_ptr<T>();
  T* Yp = Y.mutable_data_ptr<T>();
  T* Zp = Zin.mutable_data_ptr<T>();
  for (int64_t t = 0; t < TT; ++t) {
    const T* z = Zp + t * BM;
    T* y = Yp + t * BM;
    for (int64_t i = 0; i < BM; ++i) a[i] = relu(z[i]);
    Tensor yt = Y.select(0, t);
    at::addmm_out(yt, base.select(0, t), act, W1t);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t m = 0; m < M; ++m) y[b * M + m] += A[m] * z[b * M + m];
    if (t + 1 < TT) next_state(y, forced[t] ? P + t * BM : nullptr, keep, B, M, Zp + (t + 1) * BM);
  }
}

// vanilla backward (kind 0) with e_t W1t^T of each step in BLAS; W1 = W1t^T (M, M) contiguous
template <typename T>
void backward_vanilla_blas(const Dims& d, const T* gY, const T* A, const Tensor& W1, const T* Zin, const T* keep,
                           const uint8_t* forced, T* delta, Tensor& E, Tensor& DU, T* gP) {
  const int64_t TT = d.T, B = d.B, M = d.M, BM = B * M;
  T* Ep = E.mutable_data_ptr<T>();
  T* DUp = DU.mutable_data_ptr<T>();
  std::fill(delta, delta + BM, T(0));
  for (int64_t t = TT - 1; t >= 0; --t) {
    const bool fo = t + 1 < TT && forced[t];
    const T* g = gY + t * BM;
    T* e = Ep + t * BM;
    if (fo) {
      if (gP) std::copy(delta, delta + BM, gP + t * BM);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t m = 0; m < M; ++m) e[b * M + m] = g[b * M + m] + keep[m] * delta[b * M + m];
    } else {
      for (int64_t i = 0; i < BM; ++i) e[i] = g[i] + delta[i];
    }
    Tensor dut = DU.select(0, t);
    at::mm_out(dut, E.select(0, t), W1);
    T* du = DUp + t * BM;
    const T* z = Zin + t * BM;
    for (int64_t i = 0; i < BM; ++i) du[i] = du[i] * T(z[i] > T(0));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t m = 0; m < M; ++m) delta[b * M + m] = du[b * M + m] + A[m] * e[b * M + m];
  }
}

template <typename T>
void backward_loop(int64_t kind, const Dims& d, const T* gY, const T* A, const T* W1, const T* W2t, const T* h2,
                   const T* Zin, const T* U, const T* keep, const uint8_t* forced, T* delta, T* E, T* DU, T* gP,
                   T* gh2, T* act) {
  const int64_t TT = d.T, B = d.B, M = d.M, H = d.H, BM = B * M;
  std::vector<T> das(H);
  T* da = das.data();
  const ClipTerms<T> ct(kind == 2 ? h2 : nullptr, kind == 2 ? H : 0);
  std::fill(delta, delta + BM, T(0));
  if (kind != 0) std::fill(gh2, gh2 + H, T(0));
  for (int64_t t = TT - 1; t >= 0; --t) {
    const bool fo = t + 1 < TT && forced[t];
    for (int64_t b = 0; b < B; ++b) {
      const int64_t r = t * B + b;
      const T* g = gY + r * M;
      T* e = E + r * M;
      T* dl = delta + b * M;
      if (fo) {
        if (gP) std::copy(dl, dl + M, gP + r * M);
        for (int64_t m = 0; m < M; ++m) e[m] = g[m] + keep[m] * dl[m];
      } else {
        for (int64_t m = 0; m < M; ++m) e[m] = g[m] + dl[m];
      }
      std::fill(da, da + H, T(0));
      for (int64_t m = 0; m < M; ++m) {
        const T em = e[m];
        const T* w = W1 + m * H;
        for (int64_t h = 0; h < H; ++h) da[h] += em * w[h];
      }
      T* du = DU + r * H;
      if (kind == 0) {
        const T* z = Zin + r * M;
        for (int64_t m = 0; m < M; ++m) du[m] = da[m] * T(z[m] > T(0));
        for (int64_t m = 0; m < M; ++m) dl[m] = du[m] + A[m] * e[m];
      } else {
        const T* u = U + r * H;
        for (int64_t h = 0; h < H; ++h) {
          const T on = T(u[h] + h2[h] > T(0));
          du[h] = da[h] * (kind == 2 ? on - T(u[h] > T(0)) : on);
          gh2[h] += da[h] * on;
        }
        activate(kind, u, h2, &ct, act + r * H, H);
        for (int64_t m = 0; m < M; ++m) dl[m] = A[m] * e[m] + dot(du, W2t + m * H, H);
      }
    }
  }
}

template <typename T>
const T* ptr(const Tensor& t) {
  return t.defined() ? t.const_data_ptr<T>() : nullptr;
}

struct Checked {
  Dims d;
  Tensor A, W1, W2t, h2, keep, forced;
  bool any_forced;  // some step t < T - 1 is forced
};

// validates the shared arguments; returns contiguous (M, H) weights, keep (M,) and forced as uint8
Checked check_common(const char* who, const Tensor& ref, int64_t T, int64_t B, const Tensor& A, const Tensor& W1t,
                     const std::optional<Tensor>& W2t, const std::optional<Tensor>& h2,
                     const std::optional<Tensor>& keep, const Tensor& forced, int64_t kind) {
  TORCH_CHECK(kind >= 0 && kind <= 2, who, ": kind must be 0, 1 or 2");
  TORCH_CHECK(ref.dim() == 3, who, ": expected (T, B, M) tensors");
  const auto dt = ref.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble, who, ": float32 or float64 only");
  TORCH_CHECK(ref.device().is_cpu(), who, ": CPU tensors only");
  Checked c;
  const int64_t M = ref.size(2);
  TORCH_CHECK(W1t.dim() == 2 && W1t.size(1) == M, who, ": W1t must be (H, M)");
  const int64_t H = W1t.size(0);
  c.d = Dims{T, B, M, H};
  c.A = A.expand({M}).contiguous();
  c.W1 = W1t.t().contiguous();  // (M, H)
  if (kind == 0) {
    TORCH_CHECK(H == M, who, ": vanilla needs W1t of shape (M, M)");
  } else {
    TORCH_CHECK(W2t.has_value() && W2t->defined() && h2.has_value() && h2->defined(), who,
                ": shallow maps need W2t and h2");
    TORCH_CHECK(W2t->dim() == 2 && W2t->size(0) == M && W2t->size(1) == H, who, ": W2t must be (M, H)");
    c.W2t = W2t->contiguous();
    c.h2 = h2->expand({H}).contiguous();
  }
  TORCH_CHECK(forced.dim() == 1 && forced.size(0) == T && forced.device().is_cpu(), who,
              ": forced must be a CPU tensor of length T");
  c.forced = forced.to(at::kByte).contiguous();
  const uint8_t* f = c.forced.const_data_ptr<uint8_t>();
  c.any_forced = false;
  for (int64_t t = 0; t + 1 < T; ++t) c.any_forced = c.any_forced || f[t];
  if (keep.has_value() && keep->defined()) c.keep = keep->expand({M}).contiguous();
  TORCH_CHECK(!c.any_forced || c.keep.defined(), who, ": forced steps need keep");
  for (const Tensor* x : {&c.A, &c.W1, &c.W2t, &c.h2, &c.keep})
    if (x->defined())
      TORCH_CHECK(x->scalar_type() == dt && x->device().is_cpu(), who, ": dtype/device mismatch");
  return c;
}

}  // namespace

namespace sklearn_lrnn_fused {

std::vector<at::Tensor> plrnn_forward(const at::Tensor& z0, const at::Tensor& A, const at::Tensor& W1t,
                                      const std::optional<at::Tensor>& W2t, const std::optional<at::Tensor>& h2,
                                      const at::Tensor& base, const std::optional<at::Tensor>& P,
                                      const std::optional<at::Tensor>& keep, const at::Tensor& forced, int64_t kind) {
  at::NoGradGuard no_grad;
  TORCH_CHECK(base.dim() == 3, "plrnn_forward: base must be (T, B, M)");
  const int64_t T = base.size(0), B = base.size(1), M = base.size(2);
  Checked c = check_common("plrnn_forward", base, T, B, A, W1t, W2t, h2, keep, forced, kind);
  const Tensor bs = base.contiguous();
  const Tensor z = z0.expand({B, M}).contiguous();
  const Tensor p = P.has_value() && P->defined() ? P->expand({T, B, M}).contiguous() : Tensor();
  TORCH_CHECK(!c.any_forced || p.defined(), "plrnn_forward: forced steps need P");
  for (const Tensor* x : {&z, &p})
    if (x->defined())
      TORCH_CHECK(x->scalar_type() == base.scalar_type() && x->device().is_cpu(),
                  "plrnn_forward: dtype/device mismatch");
  const auto opts = base.options();
  Tensor Y = at::empty({T, B, M}, opts), Zin = at::empty({T, B, M}, opts);
  Tensor U = at::empty({kind == 0 ? 0 : T, kind == 0 ? 0 : B, kind == 0 ? 0 : c.d.H}, opts);
  if (T == 0) return {Y, Zin, U};
  const bool blas = kind == 0 && B * M * M >= kBlasWork;
  AT_DISPATCH_FLOATING_TYPES(base.scalar_type(), "plrnn_forward", [&] {
    using T_ = scalar_t;
    if (blas) {
      std::copy(z.const_data_ptr<T_>(), z.const_data_ptr<T_>() + B * M, Zin.mutable_data_ptr<T_>());
      forward_vanilla_blas<T_>(c.d, c.A.const_data_ptr<T_>(), W1t, bs, ptr<T_>(p), ptr<T_>(c.keep),
                               c.forced.const_data_ptr<uint8_t>(), Y, Zin);
      return;
    }
    forward_loop<T_>(kind, c.d, z.const_data_ptr<T_>(), c.A.const_data_ptr<T_>(), c.W1.const_data_ptr<T_>(),
                     ptr<T_>(c.W2t), ptr<T_>(c.h2), bs.const_data_ptr<T_>(), ptr<T_>(p), ptr<T_>(c.keep),
                     c.forced.const_data_ptr<uint8_t>(),
                     Y.mutable_data_ptr<T_>(), Zin.mutable_data_ptr<T_>(),
                     kind == 0 ? nullptr : U.mutable_data_ptr<T_>());
  });
  return {Y, Zin, U};
}

std::vector<at::Tensor> plrnn_backward(const at::Tensor& gY, const at::Tensor& A, const at::Tensor& W1t,
                                       const std::optional<at::Tensor>& W2t, const std::optional<at::Tensor>& h2,
                                       const at::Tensor& Zin, const std::optional<at::Tensor>& U,
                                       const std::optional<at::Tensor>& keep, const at::Tensor& forced, int64_t kind,
                                       bool need_gP) {
  at::NoGradGuard no_grad;
  TORCH_CHECK(gY.dim() == 3, "plrnn_backward: gY must be (T, B, M)");
  const int64_t T = gY.size(0), B = gY.size(1), M = gY.size(2);
  Checked c = check_common("plrnn_backward", gY, T, B, A, W1t, W2t, h2, keep, forced, kind);
  const Tensor g = gY.contiguous(), z = Zin.contiguous();
  TORCH_CHECK(z.sizes() == g.sizes() && z.scalar_type() == g.scalar_type(), "plrnn_backward: Zin must match gY");
  Tensor u;
  if (kind != 0) {
    TORCH_CHECK(U.has_value() && U->defined(), "plrnn_backward: shallow maps need U");
    u = U->contiguous();
    TORCH_CHECK(u.dim() == 3 && u.size(0) == T && u.size(1) == B && u.size(2) == c.d.H &&
                    u.scalar_type() == g.scalar_type(),
                "plrnn_backward: U must be (T, B, H)");
  }
  const auto opts = g.options();
  const int64_t H = c.d.H, Hs = kind == 0 ? 0 : H;
  Tensor delta = at::empty({B, M}, opts), E = at::empty({T, B, M}, opts), DU = at::empty({T, B, H}, opts);
  Tensor gP = need_gP ? at::zeros({T, B, M}, opts) : at::empty({0}, opts);
  Tensor gh2 = at::empty({Hs}, opts), act = at::empty({kind == 0 ? 0 : T, kind == 0 ? 0 : B, Hs}, opts);
  const bool blas = kind == 0 && B * M * M >= kBlasWork;
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "plrnn_backward", [&] {
    using T_ = scalar_t;
    if (blas) {
      backward_vanilla_blas<T_>(c.d, g.const_data_ptr<T_>(), c.A.const_data_ptr<T_>(), c.W1, z.const_data_ptr<T_>(),
                                ptr<T_>(c.keep), c.forced.const_data_ptr<uint8_t>(), delta.mutable_data_ptr<T_>(), E,
                                DU, need_gP ? gP.mutable_data_ptr<T_>() : nullptr);
      return;
    }
    backward_loop<T_>(kind, c.d, g.const_data_ptr<T_>(), c.A.const_data_ptr<T_>(), c.W1.const_data_ptr<T_>(),
                      ptr<T_>(c.W2t), ptr<T_>(c.h2), z.const_data_ptr<T_>(), ptr<T_>(u), ptr<T_>(c.keep),
                      c.forced.const_data_ptr<uint8_t>(), delta.mutable_data_ptr<T_>(), E.mutable_data_ptr<T_>(),
                      DU.mutable_data_ptr<T_>(), need_gP ? gP.mutable_data_ptr<T_>() : nullptr,
                      kind == 0 ? nullptr : gh2.mutable_data_ptr<T_>(), kind == 0 ? nullptr : act.mutable_data_ptr<T_>());
  });
  return {delta, E, DU, gP, gh2, act};
}

}  // namespace sklearn_lrnn_fused
