"""Python faces of the fused CPU kernels of the low-rank transition f(z) = a z + phi(z mT + c; h) n^T.

The SMC engine calls the transition once per time step on (P, R) particles; in pure torch every
(P, N) intermediate is a separate kernel launch (x, x - h, phi, the matmuls, and as many again in the
backward pass). The C++ kernel in ``csrc/fused_step.cpp`` does the forward in one sweep over (P, N)
without materialising (P, N) tensors, and the backward (a C++ autograd node, so no Python runs during
``loss.backward()``) recomputes x and phi in a second sweep and produces every gradient at once.

``make_window`` goes one level up: run_smc's whole time loop for the optimal proposal (transition,
proposal mean, incremental weights, log-sum-exp, systematic / ESS-adaptive resampling) as one C++
autograd op (``csrc/smc_window.cpp``, sharing the SIMD sweeps of ``csrc/transition_kernels.h``), with a
hand-written backward pass that walks the steps in reverse: no per-step dispatch or autograd nodes.
``make_general_window`` does the same for the encoder and bootstrap proposals, with the observation
likelihood (Gaussian, Poisson with softplus or exp link, both in one model, affine or one-to-one readouts)
inside the loop (``csrc/smc_window_general.cpp``, ``csrc/observation_kernels.h``); the observation model
describes itself to it by ``fused_readout()`` (``observations.FusedReadout``).

Building, loading, the cache and the torch fallback are :mod:`sklearn_lrnn._engine.kernels`' business:
these closures ask it for the compiled module and return None where it is unavailable. The step runs on
one thread unless ``SKLEARN_LRNN_FUSED_MIN_WORK=<particles x units per thread>`` lets it split particles
over torch's intra-op threads (off by default: slower on 2 busy cores, see
benchmarks/bench_transition_kernel.py); the SMC window always runs on one thread.
"""

from __future__ import annotations

import torch

from . import kernels

__all__ = ["make_general_window", "make_step", "make_window", "reference_step"]

ACTIVATION_CODES = {"relu": 0, "clipped_relu": 1, "tanh": 2}


def _prepared(mT, n, h, a, activation):
    """``(ext, code, mT, n, h, a)`` ready for the C++ kernels, or None where they cannot take these inputs
    (unavailable, non-CPU tensors, dtype other than float32/float64, unknown activation, rank above 16)."""
    code = ACTIVATION_CODES.get(activation)
    if code is None or not all(torch.is_tensor(t) for t in (mT, n, h)):
        return None
    dt = mT.dtype
    if dt not in (torch.float32, torch.float64):
        return None
    if not torch.is_tensor(a):
        a = torch.tensor(float(a), dtype=dt)
    if a.numel() != 1 or mT.dim() != 2 or not 1 <= mT.shape[0] <= 16 or n.shape != mT.shape or h.shape != (mT.shape[1],):
        return None
    if any(t.device.type != "cpu" or t.dtype != dt for t in (mT, n, h, a)):
        return None
    ext = kernels.extension()  # checked last: a CUDA or float16 model never triggers a build
    if ext is None:
        return None
    return ext, code, mT.contiguous(), n.contiguous(), h.contiguous(), a.reshape(())


def make_step(mT, n, h, a, activation: str):
    """Fused closure f(z, current=None) = a z + phi(z mT + current; h) n^T for z of shape (P, R).

    mT, n: (R, N); h: (N,); a: scalar tensor (or number); current: (P, N) or broadcastable to it.
    Differentiable in z, mT, n, h, a and current. Returns None when the fused kernel cannot be used
    (unavailable, non-CPU tensors, dtype other than float32/float64, unknown activation): the caller
    then falls back to pure torch.
    """
    prepared = _prepared(mT, n, h, a, activation)
    if prepared is None:
        return None
    ext, code, mT, n, h, a = prepared
    step, N = ext.step, mT.shape[1]

    def f(z, current=None):
        if current is not None:
            if current.dim() != 2 or current.shape[0] != z.shape[0] or current.shape[1] != N:
                current = current.expand(z.shape[0], N)  # autograd sums the gradient back
            if current.stride(1) != 1:
                current = current.contiguous()
        return step(z, mT, n, h, a, current, code)

    return f


def make_window(mT, n, h, a, activation: str):
    """The SMC time loop of ``run_smc`` for the optimal proposal as one C++ autograd op (``csrc/smc_window.cpp``).

    Returns ``window(z0, data, eps, L, proj, pos, *, current=None, mask=None, ess_threshold=None,
    keep_states=False)`` -> ``(incs, states, log_weights, ancestors)``, or None when the kernel cannot be
    used (same conditions as :func:`make_step`). z0: (B K, R) particles at t = 0; data: (T - 1, B, 2 R) the
    per-sequence terms [K (x_t - d) | -2 C^T S^-1/2 y_t] of steps 1 .. T - 1; eps: (T - 1, B K, R) the
    proposal's standard-normal draws and L (R, R) its Cholesky factor (noise eps L^T); proj: (R, 2 R)
    [(I - K C)^T | C^T S^-1 C]; pos: (T, B, K) systematic resampling positions; current: (T, B, N);
    mask: (B, T) of the data's dtype.
    incs (B, T) is log sum_k w_t^k (differentiable); states (T, B K, R) before resampling (empty unless
    ``keep_states``), log_weights (T, B, K) normalised and ancestors (T, B, K) are not differentiable.
    """
    prepared = _prepared(mT, n, h, a, activation)
    if prepared is None:
        return None
    ext, code, mT, n, h, a = prepared
    run = ext.smc_window

    def window(z0, data, eps, L, proj, pos, *, current=None, mask=None, ess_threshold=None, keep_states=False):
        K = pos.shape[-1]
        thr = 0.0 if ess_threshold is None else float(ess_threshold)
        return run(z0.contiguous(), data.contiguous(), eps.contiguous(), L.contiguous(), proj.contiguous(), mT, n, h, a,
                   None if current is None else current.contiguous(), pos.contiguous(),
                   None if mask is None else mask.contiguous(), thr, code, K, keep_states)

    return window


LINK_CODES = {"softplus": 1, "exp": 2}
_NO_PHI = 3  # observation_kernels.h: a readout without activation


def make_general_window(mT, n, h, a, activation: str):
    """The SMC time loop of ``run_smc`` for the encoder and bootstrap proposals as one C++ autograd op.

    Returns ``window(z0, lw0, eps, x, readout, pos, *, L=None, mu=None, q=None, w=None, Linv=None, current=None,
    mask=None, ess_threshold=None, keep_states=False)`` -> ``(incs, states, log_weights, ancestors)``, or None
    when the kernel cannot be used (same conditions as :func:`make_step`). z0: (B K, R) particles at t = 0 and
    lw0 (B, K) their particle-dependent log weights; eps: (T - 1, B K, R) the proposal's standard-normal draws
    of steps 1 .. T - 1. Bootstrap proposal: L (R, R), the transition noise's Cholesky factor, z_t = f + L eps.
    Encoder proposal: mu, q, w (T - 1, B, R) per sequence, z_t = mu + q eps + w f, and Linv (R, R), the inverse
    Cholesky factor of the transition noise, for the weight |eps|^2 / 2 - |Linv (z_t - f)|^2 / 2. x: (T, B, D)
    observations in the readout's column order; readout: an ``observations.FusedReadout``; pos (T, B, K),
    current (T, B, N), mask (B, T) as for :func:`make_window`. Differentiable in z0, lw0, L, mu, q, w, Linv,
    the readout's tensors, the transition and the current, through incs (B, T) = log sum_k w_t^k.
    """
    prepared = _prepared(mT, n, h, a, activation)
    if prepared is None:
        return None
    ext, code, mT, n, h, a = prepared
    run = ext.smc_window_general
    dt = mT.dtype

    def c(t):
        return None if t is None else t.to(dt).contiguous()

    def window(z0, lw0, eps, x, readout, pos, *, L=None, mu=None, q=None, w=None, Linv=None, current=None,
               mask=None, ess_threshold=None, keep_states=False):
        K = pos.shape[-1]
        thr = 0.0 if ess_threshold is None else float(ess_threshold)
        tensors = [c(z0), c(lw0), c(eps), c(L), c(mu), c(q), c(w), c(Linv), c(x), c(readout.WT), c(readout.bias),
                   c(readout.gain), c(h) if readout.phi else None, c(readout.inv_var), mT, n, h, a, c(current),
                   c(pos), c(mask)]
        oact = code if readout.phi else _NO_PHI
        return run(tensors, thr, code, K, int(readout.n_gauss), LINK_CODES[readout.link], oact,
                   bool(readout.uses_current and current is not None), keep_states)

    return window


def reference_step(mT, n, h, a, activation: str):
    """The pure-torch transition closure: ``LowRankTransition.fast_step``'s fallback where the C++
    kernel is unavailable, and the reference the fused kernels are tested against.

    The linear activation (phi(x; h) = x - h, no C++ kernel) is contracted once per pass to
    f(z) = z (a I + mT n^T) + (current - h) n^T: R x R work per particle instead of N x R."""
    nT = n.T
    if activation == "linear":
        J = mT @ nT + a * torch.eye(mT.shape[0], dtype=mT.dtype, device=mT.device)  # (a I + n m)^T
        offset = -(h @ nT)

        def f_linear(z, current=None):
            out = torch.addmm(offset, z, J)
            return out if current is None else out + current @ nT

        return f_linear

    def f(z, current=None):
        x = z @ mT
        if current is not None:
            x = x + current
        if activation == "clipped_relu":
            phi = torch.relu(x + h) - torch.relu(x)
        elif activation == "relu":
            phi = torch.relu(x - h)
        elif activation == "tanh":
            phi = torch.tanh(x - h)
        else:
            raise ValueError(f"unknown activation {activation!r}")
        return torch.addmm(a * z, phi, nT)

    return f
