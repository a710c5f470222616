// Entry points of fused_step.cpp, smc_window.cpp and plrnn_rollout.cpp, bound to Python in bindings.cpp.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace sklearn_lrnn_fused {
// f(z) = a z + phi(z mT + c; h) n^T with autograd (a C++ node; forward only under no_grad).
// act: 0 relu(x - h), 1 relu(x + h) - relu(x), 2 tanh(x - h).
at::Tensor step(const at::Tensor& z, const at::Tensor& mT, const at::Tensor& n, const at::Tensor& h,
                const at::Tensor& a, const std::optional<at::Tensor>& c, int64_t act);
// the forward pass alone, never recorded by autograd
at::Tensor forward(const at::Tensor& z, const at::Tensor& mT, const at::Tensor& n, const at::Tensor& h,
                   const at::Tensor& a, const std::optional<at::Tensor>& c, int64_t act);
// run_smc's time loop for the optimal proposal with systematic (optionally ESS-adaptive) resampling
// (smc_window.cpp): {incs (B, T), states (T, P, R) or empty, normalised log weights (T, B, K),
// ancestors (T, B, K)}; differentiable in z0, data, L, proj, mT, n, h, a and cur through incs.
std::vector<at::Tensor> smc_window(const at::Tensor& z0, const at::Tensor& data, const at::Tensor& eps,
                                   const at::Tensor& L, const at::Tensor& proj,
                                   const at::Tensor& mT, const at::Tensor& n, const at::Tensor& h, const at::Tensor& a,
                                   const std::optional<at::Tensor>& cur, const at::Tensor& pos,
                                   const std::optional<at::Tensor>& mask, double ess_threshold, int64_t act, int64_t K,
                                   bool keep_states);
// the same for the encoder and bootstrap proposals with the observation models of observation_kernels.h
// (smc_window_general.cpp): tensors = [z0, lw0, eps, L, mu, q, w, Linv, x, WT, bias, gain, hobs, iv, mT, n, h,
// a, current, pos, mask] (None where absent: L for the bootstrap, mu, q, w, Linv for the encoder); returns {incs (B, T), states (T, P, R) or empty, normalised log
// weights (T, B, K), ancestors (T, B, K)}.
std::vector<at::Tensor> smc_window_general(const std::vector<std::optional<at::Tensor>>& tensors, double ess_threshold,
                                           int64_t act, int64_t K, int64_t Dg, int64_t link, int64_t oact,
                                           bool obs_current, bool keep_states);
// the PLRNN rollout's forward time loop (plrnn_rollout.cpp, as plrnn._rollout_nograd): {Y (T, B, M) pre-forcing
// states, Zin (T, B, M) states entering each step, U (T, B, H) hidden pre-activations (empty for kind 0)};
// kind 0 vanilla, 1 shallow, 2 clipped shallow; forced: (T,) bool/uint8. Not recorded by autograd.
std::vector<at::Tensor> plrnn_forward(const at::Tensor& z0, const at::Tensor& A, const at::Tensor& W1t,
                                      const std::optional<at::Tensor>& W2t, const std::optional<at::Tensor>& h2,
                                      const at::Tensor& base, const std::optional<at::Tensor>& P,
                                      const std::optional<at::Tensor>& keep, const at::Tensor& forced, int64_t kind);
// its reverse loop (as plrnn._Rollout.backward): {delta (B, M) = grad z0, E (T, B, M), DU (T, B, H) the masked
// hidden gradients, gP (T, B, M) or empty unless need_gP, gh2 (H,) and act (T, B, H) = phi(U) (both empty for
// kind 0)}
std::vector<at::Tensor> plrnn_backward(const at::Tensor& gY, const at::Tensor& A, const at::Tensor& W1t,
                                       const std::optional<at::Tensor>& W2t, const std::optional<at::Tensor>& h2,
                                       const at::Tensor& Zin, const std::optional<at::Tensor>& U,
                                       const std::optional<at::Tensor>& keep, const at::Tensor& forced, int64_t kind,
                                       bool need_gP);
void set_min_work_per_thread(int64_t v);
int64_t get_min_work_per_thread();
}  // namespace sklearn_lrnn_fused
