"""The fused teacher-forced rollout of a PLRNN: forward and backward time loops, C++ or Python.

Teacher forcing is one affine blend after each step (precomputed for the whole window)::

    z~_t = keep * z_t + P_t

GTF with identity readout: ``keep = [1 - alpha] * N + [1] * (M - N)``, ``P_t = alpha [x_t; 0]`` (only the
observed latents are pulled toward the data); affine readout: ``keep = 1 - alpha``,
``P_t = alpha B^+ (x_t - b)``; sparse teacher forcing is alpha = 1 on every tau-th step only.

Speed: the rollout is a custom :class:`torch.autograd.Function` with a hand-written backward pass
that builds no autograd graph; weight gradients are summed over all time steps in single batched
matmuls after the loop. On CPU (float32/float64) both time loops run in C++ in the kernels' extension
(``csrc/plrnn_rollout.cpp``, see :mod:`sklearn_lrnn._engine.kernels`): no per-step dispatch. The linear
baseline always runs the Python loops (the C++ loops know the three piecewise-linear maps, by their
``kernel_code``). Where it is unavailable (other devices or dtypes, no compiler, ``SKLEARN_LRNN_NO_FUSED=1``)
the same loops run in Python at ~8 small kernels per step forward and ~5 backward, still 2-4x faster than
letting autograd record the loop (see ``benchmarks/bench_plrnn_lorenz.py``).
"""

from __future__ import annotations

import torch

from .. import kernels
from .model import PLRNN

__all__ = ["rollout", "reference_rollout", "rollout_states"]


def _cpp_loops(*tensors):
    """The C++ extension with the rollout loops when every given tensor (None skipped) is a CPU float32 or
    float64 tensor of one dtype and the extension is available; None means: use the Python loops."""
    ts = [t for t in tensors if t is not None]
    dt = ts[0].dtype
    if dt not in (torch.float32, torch.float64) or any(t.dtype != dt or t.device.type != "cpu" for t in ts):
        return None
    return kernels.extension()


def _forward_loop(arch, z0, A, W1t, W2t, h2, base, P, keep, forced):
    """``(Y, Zin, U, ext, forced_tensor)``: the forward loop in C++ where possible (``ext`` the extension,
    ``forced_tensor`` the flags as a bool tensor), else :func:`_rollout_nograd` (``ext`` None)."""
    code = arch.kernel_code
    ext = None if code is None else _cpp_loops(z0, A, W1t, W2t, h2, base, P, keep)
    if ext is None:
        return (*_rollout_nograd(arch, z0, A, W1t, W2t, h2, base, P, keep, forced), None, None)
    ft = torch.tensor(forced, dtype=torch.bool).reshape(-1)
    Y, Zin, U = ext.plrnn_forward(z0, A, W1t, W2t, h2, base, P, keep, ft, code)
    return Y, Zin, (U if arch.hidden else None), ext, ft


def _rollout_nograd(arch, z0, A, W1t, W2t, h2, base, P, keep, forced):
    """Forward loop without autograd (the Python fallback of ``csrc/plrnn_rollout.cpp``). Returns
    pre-forcing states Y, states entering each step Zin, and the hidden pre-activations U (None without a
    hidden layer)."""
    T, Bsz, M = base.shape
    Y = base.new_empty(T, Bsz, M)
    Zin = base.new_empty(T, Bsz, M)
    U = base.new_empty(T, Bsz, W2t.shape[1]) if arch.hidden else None
    Zin[0].copy_(z0)
    # views made once in C++ (indexing inside the loop costs a dispatch per access)
    Ys, Zs, Bs = Y.unbind(0), Zin.unbind(0), base.unbind(0)
    Us = None if U is None else U.unbind(0)
    Ps = None if P is None else P.unbind(0)
    terms = arch.loop_terms(h2)
    for t in range(T):
        z = Zs[t]
        a = arch.activation(z, W2t, h2, None if Us is None else Us[t], terms)
        y = torch.addmm(Bs[t], a, W1t, out=Ys[t])
        y.addcmul_(A, z)
        if t + 1 < T:
            if forced[t]:
                torch.addcmul(Ps[t], y, keep, out=Zs[t + 1])
            else:
                Zs[t + 1].copy_(y)
    return Y, Zin, U


def _backward_loop(arch, gY, A, W1t, W2t, Zin, keep, forced, mask, need_gP):
    """The reverse time loop of :class:`_Rollout` in Python (the fallback of ``csrc/plrnn_rollout.cpp``):
    ``(delta, E, DA, gP)`` with delta = dL / dz0, E = dL / dy_t incl. the carried term, DA = E W1 before the
    mask, gP = dL / dP (None unless ``need_gP``)."""
    T, Bsz, M = gY.shape
    W1 = W1t.T
    W2 = W2t.T if arch.hidden else None
    E = torch.empty_like(gY)
    DA = gY.new_empty(T, Bsz, W1t.shape[0])
    gP = torch.zeros_like(gY) if need_gP else None
    delta = gY.new_zeros(Bsz, M)  # dL / d(state entering step t + 1)
    gYs, Es, DAs = gY.unbind(0), E.unbind(0), DA.unbind(0)
    masks = None if mask is None else mask.unbind(0)  # None: the linear map (every unit "on")
    gPs = None if gP is None else gP.unbind(0)
    for t in range(T - 1, -1, -1):
        if t + 1 < T and forced[t]:
            if gPs is not None:
                gPs[t].copy_(delta)
            e = torch.addcmul(gYs[t], keep, delta, out=Es[t])
        else:
            e = torch.add(gYs[t], delta, out=Es[t])
        du = torch.mm(e, W1, out=DAs[t])
        if masks is not None:
            du = du * masks[t]
        if W2 is None:
            delta = torch.addcmul(du, A, e)  # a new tensor: DA keeps E W1
        else:
            delta = torch.addmm(A * e, du, W2)
    return delta, E, DA, gP


class _Rollout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z0, A, W1t, W2t, h2, base, P, keep, forced, arch):
        with torch.no_grad():
            Y, Zin, U, ctx.ext, ctx.forced_tensor = _forward_loop(arch, z0, A, W1t, W2t, h2, base, P, keep, forced)
        ctx.save_for_backward(A, W1t, W2t, h2, Zin, U, keep)
        ctx.forced, ctx.arch = forced, arch
        ctx.has_P = P is not None
        return Y

    @staticmethod
    def backward(ctx, gY):
        A, W1t, W2t, h2, Zin, U, keep = ctx.saved_tensors
        forced, arch = ctx.forced, ctx.arch
        gY = gY.contiguous()
        M = gY.shape[-1]
        need_gP = ctx.has_P and ctx.needs_input_grad[6]
        if ctx.ext is not None and gY.dtype == Zin.dtype and gY.device.type == "cpu":
            # the loop also yields the masked hidden gradients DU, gh2 and act = phi(U)
            delta, E, DU, gP, gh2, act = ctx.ext.plrnn_backward(gY, A, W1t, W2t, h2, Zin, U, keep,
                                                                ctx.forced_tensor, arch.kernel_code, need_gP)
            if not need_gP:
                gP = None
        else:
            mask, m_on = arch.derivative(Zin, U, h2, gY.dtype)
            delta, E, DA, gP = _backward_loop(arch, gY, A, W1t, W2t, Zin, keep, forced, mask, need_gP)
            if arch.hidden:
                DU, gh2, act = DA * mask, (DA * m_on).sum((0, 1)), arch.phi(U, h2)
        # weight gradients, summed over all steps at once
        Ef, Zf = E.reshape(-1, M), Zin.reshape(-1, M)
        gA = (E * Zin).sum((0, 1)) if ctx.needs_input_grad[1] else None
        gW1t = gW2t = None
        if not arch.hidden:
            act, gh2 = arch.phi(Zf, None), None
        else:
            act = act.reshape(-1, U.shape[-1])
            gW2t = Zf.T @ DU.reshape(-1, U.shape[-1])
        if ctx.needs_input_grad[2]:
            gW1t = (Ef.T @ act).T  # ~3x faster than act.T @ Ef for these skinny shapes
        return delta, gA, gW1t, gW2t, gh2, E, gP, None, None, None


def rollout(module: PLRNN, z0, base, P=None, keep=None, forced=None):
    """Fused teacher-forced rollout. ``base``: (T, B, M) = h1 + C s_t; ``forced[t]`` says whether the
    state after step t is blended as ``keep * z + P[t]``. Returns pre-forcing states (T, B, M)."""
    T = base.shape[0]
    if forced is None:
        forced = (False,) * T
    A, W1t, W2t, h2, _ = module.map_terms()
    return _Rollout.apply(z0, A, W1t, W2t, h2, base.contiguous(), P, keep, tuple(forced), module.arch)


def reference_rollout(module: PLRNN, z0, base, P=None, keep=None, forced=None):
    """The same rollout recorded by autograd (slower; the fused one is tested against it)."""
    T = base.shape[0]
    if forced is None:
        forced = (False,) * T
    A, W1t, W2t, h2, _ = module.map_terms()
    z, out = z0, []
    for t in range(T):
        y = module.arch.step(z, A, W1t, W2t, h2, base[t])
        out.append(y)
        z = keep * y + P[t] if forced[t] else y
    return torch.stack(out)


def rollout_states(module: PLRNN, z0, base, P=None, keep=None, forced=None):
    """No-grad rollout returning ``(Y, Zin)``: pre-forcing states and the (forced) states entering each step."""
    T = base.shape[0]
    if forced is None:
        forced = (False,) * T
    A, W1t, W2t, h2, _ = module.map_terms()
    with torch.no_grad():
        Y, Zin, *_ = _forward_loop(module.arch, z0, A.detach(), W1t.detach(), None if W2t is None else W2t.detach(),
                                   None if h2 is None else h2.detach(), base.contiguous(), P, keep, tuple(forced))
    return Y, Zin


