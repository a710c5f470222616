"""Piecewise-linear RNNs (PLRNN family): maps, teacher-forced rollouts, losses.

The three maps (theory page, "Piecewise-linear RNNs") and their linear baseline, written as one template so
that a single rollout serves all of them::

    z_t = A * z_{t-1} + phi(z_{t-1} W2^T) W1^T + base_t          base_t = h1 + C s_t

* vanilla:          W2 = I, phi(u) = relu(u),                   W1 = W (off-diagonal), h1 = h
* shallow:          phi(u) = relu(u + h2)
* clipped shallow:  phi(u) = relu(u + h2) - relu(u)             (bounded: |phi| <= |h2|)
* linear:           W2 = I, phi(u) = u,                         W1 = W (off-diagonal), h1 = h
                    (the baseline without nonlinearity: z_t = (diag(A) + W) z_{t-1} + h + C s_t)

Teacher forcing is one affine blend after each step (precomputed for the whole window)::

    z~_t = keep * z_t + P_t

GTF with identity readout: ``keep = [1 - alpha] * N + [1] * (M - N)``, ``P_t = alpha [x_t; 0]`` (only the
observed latents are pulled toward the data); affine readout: ``keep = 1 - alpha``,
``P_t = alpha B^+ (x_t - b)``; sparse teacher forcing is alpha = 1 on every tau-th step only.

Speed: the rollout is a custom :class:`torch.autograd.Function` with a hand-written backward pass
that builds no autograd graph; weight gradients are summed over all time steps in single batched
matmuls after the loop. On CPU (float32/float64) both time loops run in C++ in the kernels' extension
(``csrc/plrnn_rollout.cpp``, see :mod:`sklearn_lrnn._engine.kernels`): no per-step dispatch. The linear
baseline always runs the Python loops (the C++ loops know the three piecewise-linear maps). Where it is
unavailable (other devices or dtypes, no compiler, ``SKLEARN_LRNN_NO_FUSED=1``) the same loops run in
Python at ~8 small kernels per step forward and ~5 backward, still 2-4x faster than letting autograd
record the loop (see ``benchmarks/bench_plrnn_lorenz.py``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sklearn_lrnn._engine import kernels

__all__ = [
    "ARCHITECTURES",
    "INITS",
    "PLRNN",
    "rollout",
    "reference_rollout",
    "jacobians",
    "gtf_alpha_star",
    "AdaptiveAlpha",
]

ARCHITECTURES = ("vanilla", "shallow", "clipped_shallow", "linear")
_KIND = {"vanilla": 0, "shallow": 1, "clipped_shallow": 2, "linear": 3}
_VANILLA_LIKE = (0, 3)  # parameters A, W (off-diagonal), h; no hidden layer


def _normalized_positive_definite(M, gen, dtype):
    # Brenner et al. 2022 initialisation: K = R^T R / M + I scaled to spectral radius 1.
    R = torch.randn(M, M, generator=gen, dtype=dtype)
    K = R.T @ R / M + torch.eye(M, dtype=dtype)
    return K / torch.linalg.eigvalsh(K).max()


def _stable_gaussian(M, gen, dtype, radius=0.9):
    # plain random start: N(0, 1/M) entries (spectral radius ~1 by the circular law), scaled down to
    # spectral radius `radius` where larger; no built-in memory, unlike the positive-definite start
    K = torch.randn(M, M, generator=gen, dtype=dtype) / math.sqrt(M)
    rho = float(torch.linalg.eigvals(K.double()).abs().max())
    return K * min(1.0, radius / rho) if rho > 0 else K


INITS = ("positive_definite", "random")


def _uniform(shape, bound, gen, dtype):
    return (torch.rand(*shape, generator=gen, dtype=dtype) * 2 - 1) * bound


class PLRNN(nn.Module):
    """Parameters of a (vanilla / shallow / clipped shallow) PLRNN with inputs and readout.

    Parameters
    ----------
    n_latents : int
        M, the latent dimension.
    n_obs : int
        N, number of observed channels (reconstruction) or targets (supervised).
    architecture : {"vanilla", "shallow", "clipped_shallow", "linear"}
    n_hidden : int
        H, hidden width of the shallow maps (ignored for vanilla and linear).
    n_inputs : int
        K, number of external inputs (0 for none).
    readout : {"identity", "affine"}
        Identity: the first N latents are the observations (needs M >= N).
    n_mar : int
        Number of manifold-attractor-regularised units (the last ``n_mar`` latents), initialised as
        line attractors (A = 1, their W rows = 0, h = 0).
    init : {"positive_definite", "random"}
        Start of ``A`` and (vanilla) ``W``, taken from one M x M matrix: its diagonal is A, the rest W.
        ``positive_definite``: ``R^T R / M + I`` scaled to spectral radius 1 (Brenner et al. 2022),
        integrator-like from the start; ``random``: N(0, 1/M) entries scaled to spectral radius <= 0.9.
    generator : torch.Generator
        Seeds the initialisation.
    """

    def __init__(self, n_latents, n_obs, *, architecture="clipped_shallow", n_hidden=100, n_inputs=0,
                 readout="identity", n_mar=0, init="positive_definite", generator=None, dtype=torch.float32):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}; got {architecture!r}.")
        M, N = int(n_latents), int(n_obs)
        if readout == "identity" and M < N:
            raise ValueError(f"identity readout needs n_latents >= n_obs; got {M} < {N}.")
        self.architecture, self.kind = architecture, _KIND[architecture]
        self.n_latents, self.n_obs, self.n_inputs, self.readout = M, N, int(n_inputs), readout
        self.n_mar = int(n_mar)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}; got {init!r}.")
        gen = generator
        AW = (_normalized_positive_definite if init == "positive_definite" else _stable_gaussian)(M, gen, dtype)
        A = torch.diagonal(AW).clone()
        if self.kind in _VANILLA_LIKE:
            self.n_hidden = M
            W = AW * (1 - torch.eye(M, dtype=dtype))
            h = torch.zeros(M, dtype=dtype)
            self.register_buffer("offdiag", 1 - torch.eye(M, dtype=dtype))
        else:
            H = self.n_hidden = int(n_hidden)
            W1 = _uniform((M, H), 1 / math.sqrt(H), gen, dtype)
            W2 = _uniform((H, M), 1 / math.sqrt(M), gen, dtype)
            h2 = _uniform((H,), 1.0, gen, dtype)
            h = torch.zeros(M, dtype=dtype)
            W = W1
        if self.n_mar:
            reg = slice(M - self.n_mar, M)
            A[reg] = 1.0
            W[reg] = 0.0
            h[reg] = 0.0
        self.A = nn.Parameter(A)
        if self.kind in _VANILLA_LIKE:
            self.W, self.h = nn.Parameter(W), nn.Parameter(h)
        else:
            self.W1, self.W2 = nn.Parameter(W1), nn.Parameter(W2)
            self.h1, self.h2 = nn.Parameter(h), nn.Parameter(h2)
        if self.n_inputs:
            C = _uniform((M, self.n_inputs), 1 / math.sqrt(self.n_inputs), gen, dtype)
            if self.n_mar:  # empty memory: line attractors would otherwise integrate every input from the start
                C[M - self.n_mar:] = 0.0
            self.C = nn.Parameter(C)
        if readout == "affine":
            self.B = nn.Parameter(_uniform((N, M), 1 / math.sqrt(M), gen, dtype))
            self.b = nn.Parameter(torch.zeros(N, dtype=dtype))
        # initial state: learned (supervised) / unobserved latents as a learned map of x_0 (identity)
        self.z0 = nn.Parameter(torch.zeros(M, dtype=dtype))
        if readout == "identity" and M > N:
            self.L = nn.Parameter(torch.zeros(M - N, N, dtype=dtype))

    # -- the map ---------------------------------------------------------------------------------
    def map_terms(self):
        """``(A, W1t, W2t, h2, h1)`` in the template's layout (``W1t``: (H, M); ``W2t``: (M, H))."""
        if self.kind in _VANILLA_LIKE:
            return self.A, (self.W * self.offdiag).T, None, None, self.h
        return self.A, self.W1.T, self.W2.T, self.h2, self.h1

    def base(self, s=None, shape=None):
        """``h1 + C s_t`` for time-major inputs ``s`` (T, B, K), or ``h1`` broadcast to ``shape``."""
        h1 = self.map_terms()[4]
        if s is None or not self.n_inputs:
            return h1.expand(*shape, self.n_latents)
        return torch.addmm(h1, s.reshape(-1, self.n_inputs), self.C.T).reshape(*s.shape[:-1], self.n_latents)

    def step(self, z, base):
        """One step of the map for states ``z`` (..., M); ``base`` is h1 (+ C s_t)."""
        A, W1t, W2t, h2, _ = self.map_terms()
        return _step(self.kind, z, A, W1t, W2t, h2, base)

    def observe(self, z):
        """Readout: observed part of the latents."""
        if self.readout == "identity":
            return z[..., : self.n_obs]
        return z @ self.B.T + self.b

    def infer_state(self, x):
        """Data-inferred latent state z^ for observations ``x`` (..., N)."""
        if self.readout == "identity":
            if self.n_latents == self.n_obs:
                return x
            return torch.cat([x, x @ self.L.T], dim=-1)
        return (x - self.b) @ torch.linalg.pinv(self.B).T

    def forcing(self, x, alpha):
        """``(keep, P)`` for blending toward data ``x`` (T, B, N) with weight ``alpha``."""
        M, N = self.n_latents, self.n_obs
        if self.readout == "identity":
            keep = torch.ones(M, dtype=x.dtype, device=x.device)
            keep[:N] = 1 - alpha
            P = torch.zeros(*x.shape[:-1], M, dtype=x.dtype, device=x.device)
            P[..., :N] = alpha * x
            return keep, P
        keep = torch.full((M,), 1 - alpha, dtype=x.dtype, device=x.device)
        return keep, alpha * self.infer_state(x).detach()

    def regularization(self, l2=0.0, mar_weight=0.0):
        """Latent L2 on (1 - A), W's and h's, plus the manifold-attractor penalty on the MAR units."""
        vanilla_like = self.kind in _VANILLA_LIKE
        A, h1 = self.A, (self.h if vanilla_like else self.h1)
        Wrows = self.W if vanilla_like else self.W1
        loss = A.new_zeros(())
        if l2:
            terms = (1 - A).square().sum() + Wrows.square().sum() + h1.square().sum()
            if not vanilla_like:
                terms = terms + self.W2.square().sum() + self.h2.square().sum()
            loss = loss + l2 * terms
        if mar_weight and self.n_mar:
            reg = slice(self.n_latents - self.n_mar, self.n_latents)
            loss = loss + mar_weight * (
                (A[reg] - 1).square().mean() + Wrows[reg].square().mean() + h1[reg].square().mean()
            )
        return loss


def _phi(kind, u, h2):
    if kind == 3:
        return u
    if kind == 0:
        return torch.relu(u)
    if kind == 1:
        return torch.relu(u + h2)
    return torch.relu(u + h2) - torch.relu(u)


def _step(kind, z, A, W1t, W2t, h2, base):
    u = z if kind in _VANILLA_LIKE else z @ W2t
    return A * z + _phi(kind, u, h2) @ W1t + base


def _clip_terms(h2):
    # relu(u + c) - relu(u) = sgn * clamp(u, lo, hi) + off, elementwise in c: two kernels instead of four
    return -torch.relu(h2), torch.relu(-h2), torch.sign(h2), torch.relu(h2)


def _cpp_loops(*tensors):
    """The C++ extension with the rollout loops when every given tensor (None skipped) is a CPU float32 or
    float64 tensor of one dtype and the extension is available; None means: use the Python loops."""
    ts = [t for t in tensors if t is not None]
    dt = ts[0].dtype
    if dt not in (torch.float32, torch.float64) or any(t.dtype != dt or t.device.type != "cpu" for t in ts):
        return None
    return kernels.extension()


def _forward_loop(kind, z0, A, W1t, W2t, h2, base, P, keep, forced):
    """``(Y, Zin, U, ext, forced_tensor)``: the forward loop in C++ where possible (``ext`` the extension,
    ``forced_tensor`` the flags as a bool tensor), else :func:`_rollout_nograd` (``ext`` None)."""
    ext = None if kind == 3 else _cpp_loops(z0, A, W1t, W2t, h2, base, P, keep)  # C++: the 3 PLRNN maps
    if ext is None:
        return (*_rollout_nograd(kind, z0, A, W1t, W2t, h2, base, P, keep, forced), None, None)
    ft = torch.tensor(forced, dtype=torch.bool).reshape(-1)
    Y, Zin, U = ext.plrnn_forward(z0, A, W1t, W2t, h2, base, P, keep, ft, kind)
    return Y, Zin, (None if kind == 0 else U), ext, ft


def _rollout_nograd(kind, z0, A, W1t, W2t, h2, base, P, keep, forced):
    """Forward loop without autograd (the Python fallback of ``csrc/plrnn_rollout.cpp``). Returns
    pre-forcing states Y, states entering each step Zin, and the hidden pre-activations U (None for vanilla)."""
    T, Bsz, M = base.shape
    Y = base.new_empty(T, Bsz, M)
    Zin = base.new_empty(T, Bsz, M)
    U = None if kind in _VANILLA_LIKE else base.new_empty(T, Bsz, W2t.shape[1])
    Zin[0].copy_(z0)
    # views made once in C++ (indexing inside the loop costs a dispatch per access)
    Ys, Zs, Bs = Y.unbind(0), Zin.unbind(0), base.unbind(0)
    Us = None if U is None else U.unbind(0)
    Ps = None if P is None else P.unbind(0)
    if kind == 2:
        lo, hi, sgn, off = _clip_terms(h2)
    for t in range(T):
        z = Zs[t]
        if kind == 3:
            a = z
        elif kind == 0:
            a = torch.relu(z)
        else:
            u = torch.mm(z, W2t, out=Us[t])
            if kind == 1:
                a = torch.add(u, h2).relu_()
            else:
                a = torch.addcmul(off, torch.clamp(u, lo, hi), sgn)
        y = torch.addmm(Bs[t], a, W1t, out=Ys[t])
        y.addcmul_(A, z)
        if t + 1 < T:
            if forced[t]:
                torch.addcmul(Ps[t], y, keep, out=Zs[t + 1])
            else:
                Zs[t + 1].copy_(y)
    return Y, Zin, U


def _backward_loop(kind, gY, A, W1t, W2t, Zin, keep, forced, mask, need_gP):
    """The reverse time loop of :class:`_Rollout` in Python (the fallback of ``csrc/plrnn_rollout.cpp``):
    ``(delta, E, DA, gP)`` with delta = dL / dz0, E = dL / dy_t incl. the carried term, DA = E W1 before the
    mask, gP = dL / dP (None unless ``need_gP``)."""
    T, Bsz, M = gY.shape
    W1 = W1t.T
    W2 = None if kind in _VANILLA_LIKE else W2t.T
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
        if kind in _VANILLA_LIKE:
            delta = torch.addcmul(du, A, e)  # a new tensor: DA keeps E W1
        else:
            delta = torch.addmm(A * e, du, W2)
    return delta, E, DA, gP


class _Rollout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z0, A, W1t, W2t, h2, base, P, keep, forced, kind):
        with torch.no_grad():
            Y, Zin, U, ctx.ext, ctx.forced_tensor = _forward_loop(kind, z0, A, W1t, W2t, h2, base, P, keep, forced)
        ctx.save_for_backward(A, W1t, W2t, h2, Zin, U, keep)
        ctx.forced, ctx.kind = forced, kind
        ctx.has_P = P is not None
        return Y

    @staticmethod
    def backward(ctx, gY):
        A, W1t, W2t, h2, Zin, U, keep = ctx.saved_tensors
        forced, kind = ctx.forced, ctx.kind
        gY = gY.contiguous()
        M = gY.shape[-1]
        need_gP = ctx.has_P and ctx.needs_input_grad[6]
        if ctx.ext is not None and gY.dtype == Zin.dtype and gY.device.type == "cpu":
            # the loop also yields the masked hidden gradients DU, gh2 and act = phi(U)
            delta, E, DU, gP, gh2, act = ctx.ext.plrnn_backward(gY, A, W1t, W2t, h2, Zin, U, keep,
                                                                ctx.forced_tensor, kind, need_gP)
            if not need_gP:
                gP = None
        elif kind == 0:
            delta, E, _, gP = _backward_loop(kind, gY, A, W1t, W2t, Zin, keep, forced, (Zin > 0).to(gY.dtype), need_gP)
        elif kind == 3:
            delta, E, _, gP = _backward_loop(kind, gY, A, W1t, W2t, Zin, keep, forced, None, need_gP)
        else:
            m_on = (U + h2 > 0).to(gY.dtype)
            mask = m_on - (U > 0).to(gY.dtype) if kind == 2 else m_on
            delta, E, DA, gP = _backward_loop(kind, gY, A, W1t, W2t, Zin, keep, forced, mask, need_gP)
            DU, gh2, act = DA * mask, (DA * m_on).sum((0, 1)), _phi(kind, U, h2)
        # weight gradients, summed over all steps at once
        Ef, Zf = E.reshape(-1, M), Zin.reshape(-1, M)
        gA = (E * Zin).sum((0, 1)) if ctx.needs_input_grad[1] else None
        gW1t = gW2t = None
        if kind == 3:
            act, gh2 = Zf, None
        elif kind == 0:
            act, gh2 = torch.relu(Zf), None
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
    return _Rollout.apply(z0, A, W1t, W2t, h2, base.contiguous(), P, keep, tuple(forced), module.kind)


def reference_rollout(module: PLRNN, z0, base, P=None, keep=None, forced=None):
    """The same rollout recorded by autograd (slower; the fused one is tested against it)."""
    T = base.shape[0]
    if forced is None:
        forced = (False,) * T
    A, W1t, W2t, h2, _ = module.map_terms()
    z, out = z0, []
    for t in range(T):
        y = _step(module.kind, z, A, W1t, W2t, h2, base[t])
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
        Y, Zin, *_ = _forward_loop(module.kind, z0, A.detach(), W1t.detach(), None if W2t is None else W2t.detach(),
                                   None if h2 is None else h2.detach(), base.contiguous(), P, keep, tuple(forced))
    return Y, Zin


def jacobians(module: PLRNN, z):
    """Jacobians dF/dz at states ``z`` (n, M) -> (n, M, M)."""
    A, W1t, W2t, h2, _ = module.map_terms()
    if module.kind == 3:
        return (torch.diag(A) + W1t.T).expand(z.shape[0], -1, -1)
    if module.kind == 0:
        d = (z > 0).to(z.dtype)
        return torch.diag(A) + W1t.T.unsqueeze(0) * d.unsqueeze(1)
    u = z @ W2t
    d = (u + h2 > 0).to(z.dtype)
    if module.kind == 2:
        d = d - (u > 0).to(z.dtype)
    return torch.diag(A) + (W1t.T.unsqueeze(0) * d.unsqueeze(1)) @ W2t.T


def gtf_alpha_star(module: PLRNN, states, max_points=256):
    """alpha* = max(0, 1 - 1/rho), rho = geometric mean of the Jacobians' spectral norms along the
    (teacher-forced) trajectory: (1 - alpha) rho <= 1 keeps the forced Jacobian products bounded
    (Hess et al. 2023, Thm. 1)."""
    with torch.no_grad():
        z = states.reshape(-1, states.shape[-1])
        if z.shape[0] > max_points:
            z = z[torch.linspace(0, z.shape[0] - 1, max_points, device=z.device).long()]
        norms = torch.linalg.matrix_norm(jacobians(module, z), ord=2)
        rho = float(torch.exp(torch.log(norms.clamp_min(1e-12)).mean()))
    return max(0.0, 1.0 - 1.0 / rho)


class AdaptiveAlpha:
    """GTF's adaptive alpha: start at ``alpha0``; every ``interval`` updates recompute alpha*; jump
    up to it at once, otherwise decay by ``decay`` (never below alpha*)."""

    def __init__(self, alpha0=1.0, decay=0.999, interval=5):
        self.alpha, self.decay, self.interval = float(alpha0), float(decay), int(interval)
        self.history = [self.alpha]

    def update(self, alpha_star):
        if alpha_star > self.alpha:
            self.alpha = alpha_star
        else:
            self.alpha = max(alpha_star, self.alpha * self.decay)
        self.history.append(self.alpha)
        return self.alpha
