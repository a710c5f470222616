"""The fused C++ transition kernel (sklearn_lrnn/_engine/fused.py) against the pure-torch reference.

Skips cleanly where the extension cannot be built (no compiler, no ninja, SKLEARN_LRNN_NO_FUSED=1).
``make test`` builds it first (``python -m sklearn_lrnn.build_kernels``); otherwise the first run compiles it
(about a minute) and later runs load it from the install's kernel cache (``sklearn_lrnn._engine.kernels``).
"""

import math

import pytest
import torch

from sklearn_lrnn._engine import fused, kernels

ACTS = ("relu", "clipped_relu", "tanh")


@pytest.fixture(scope="module")
def ext():
    if not kernels.available():
        pytest.skip(f"fused kernel unavailable: {kernels.unavailable_reason()}")
    return fused


def _params(P, N, R, dtype, current, seed=0):
    g = torch.Generator().manual_seed(seed)
    mT = torch.randn((R, N), generator=g, dtype=dtype) / R**0.5
    n = torch.randn((R, N), generator=g, dtype=dtype) / N**0.5
    h = torch.randn((N,), generator=g, dtype=dtype) * 0.3
    theta = torch.tensor(-2.0, dtype=dtype)
    z = torch.randn((P, R), generator=g, dtype=dtype)
    c = torch.randn((P, N), generator=g, dtype=dtype) * 0.5 if current else None
    return [t.requires_grad_() if t is not None else None for t in (z, mT, n, h, theta, c)]


def _run(make, act, z, mT, n, h, theta, c):
    a = torch.exp(-torch.exp(theta))
    return make(mT, n, h, a, act)(z, c)


# N = 11: vector chunks plus the overlapping tail chunk; N = 3: the scalar path; R = 5: the generic rank
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("current", [False, True])
@pytest.mark.parametrize("P,N,R", [(4, 11, 2), (3, 3, 1), (2, 9, 5)])
def test_gradcheck_float64(ext, act, current, P, N, R):
    inputs = [t for t in _params(P, N, R, torch.float64, current, seed=P * N + R) if t is not None]

    def f(z, mT, n, h, theta, c=None):
        return _run(fused.make_step, act, z, mT, n, h, theta, c)

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("current", [False, True])
@pytest.mark.parametrize("P,N,R", [(5, 7, 3), (6, 13, 2)])
def test_matches_reference_float64(ext, act, current, P, N, R):
    ins = _params(P, N, R, torch.float64, current, seed=1)
    out = _run(fused.make_step, act, *ins)
    ref = _run(fused.reference_step, act, *ins)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("current", [False, True])
def test_matches_reference_eeg_float32(ext, act, current):
    """EEG size (10 sequences x 10 particles, 512 units, rank 3), two chained steps, all gradients."""
    ins = _params(100, 512, 3, torch.float32, current, seed=2)
    leaves = [t for t in ins if t is not None]
    results = []
    for make in (fused.make_step, fused.reference_step):
        a = torch.exp(-torch.exp(ins[4]))
        f = make(ins[1], ins[2], ins[3], a, act)
        y = f(f(ins[0], ins[5]) * 0.9, ins[5])
        w = torch.sin(torch.arange(y.numel(), dtype=y.dtype)).reshape(y.shape)
        results.append((y, *torch.autograd.grad((y * w).sum(), leaves)))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())


def test_teacher_size_float32(ext):
    ins = _params(1024, 20, 2, torch.float32, True, seed=3)
    leaves = [t for t in ins if t is not None]
    results = []
    for make in (fused.make_step, fused.reference_step):
        y = _run(make, "relu", *ins)
        results.append((y, *torch.autograd.grad(y.square().sum(), leaves)))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())


def test_no_grad_forward_only(ext):
    z, mT, n, h, theta, c = _params(8, 40, 3, torch.float32, True, seed=4)
    with torch.no_grad():
        out = _run(fused.make_step, "tanh", z, mT, n, h, theta, c)
        ref = _run(fused.reference_step, "tanh", z, mT, n, h, theta, c)
    assert out.grad_fn is None and not out.requires_grad
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    # parameters that do not require grad, z that does: only grad_z
    z2 = z.detach().requires_grad_()
    a = torch.exp(-torch.exp(theta.detach()))
    f = fused.make_step(mT.detach(), n.detach(), h.detach(), a, "relu")
    (gz,) = torch.autograd.grad(f(z2).sum(), [z2])
    (gz_ref,) = torch.autograd.grad(fused.reference_step(mT.detach(), n.detach(), h.detach(), a, "relu")(z2).sum(), [z2])
    torch.testing.assert_close(gz, gz_ref, rtol=1e-5, atol=1e-6)


def test_broadcast_current(ext):
    z, mT, n, h, theta, _ = _params(6, 17, 2, torch.float64, False, seed=5)
    c = torch.randn(17, dtype=torch.float64, requires_grad=True)
    got = _run(fused.make_step, "clipped_relu", z, mT, n, h, theta, c)
    want = _run(fused.reference_step, "clipped_relu", z, mT, n, h, theta, c)
    torch.testing.assert_close(got, want)
    (g1,) = torch.autograd.grad(got.sum(), [c])
    (g2,) = torch.autograd.grad(want.sum(), [c])
    torch.testing.assert_close(g1, g2)


def test_fallbacks(ext, monkeypatch):
    _, mT, n, h, _, _ = _params(2, 5, 2, torch.float32, False)
    assert fused.make_step(mT, n, h, 0.9, "relu") is not None  # a plain number for a
    assert fused.make_step(mT, n, h, 0.9, "softplus") is None
    assert fused.make_step(mT.half(), n.half(), h.half(), 0.9, "relu") is None
    monkeypatch.setenv("SKLEARN_LRNN_NO_FUSED", "1")
    assert not kernels.available()
    assert fused.make_step(mT, n, h, 0.9, "relu") is None


def test_double_backward_refused(ext):
    z, mT, n, h, theta, _ = _params(3, 9, 2, torch.float64, False)
    y = _run(fused.make_step, "tanh", z, mT, n, h, theta, None)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(y.sum(), [mT], create_graph=True)


# --------------------------------------------------------------------------- the fused SMC window
# (csrc/smc_window.cpp): run_smc's whole time loop for the optimal proposal as one autograd op


def _reference_window(mT, n, h, a, act, z0, data, eps, L, proj, pos, current=None, mask=None, ess_threshold=None):
    """The window's semantics in pure torch (the per-step loop of run_smc, on the op's inputs)."""
    T, B, K = pos.shape
    R = z0.shape[1]
    f = fused.reference_step(mT, n, h, a, act)
    adaptive = ess_threshold is not None
    logW = torch.full((B, K), -math.log(K), dtype=z0.dtype)
    offsets = (torch.arange(B) * K).unsqueeze(1)
    z, incs, lws, ancs = z0, [], [], []
    for t in range(T):
        if t == 0:
            lw = torch.zeros((B, K), dtype=z0.dtype)
        else:
            cur = None if current is None else current[t].repeat_interleave(K, 0)
            fz = f(z, cur)
            noise = eps[t - 1] @ L.T
            out = data[t - 1].repeat_interleave(K, 0) + torch.cat([noise, torch.zeros_like(noise)], 1) + fz @ proj
            z = out[:, :R]
            lw = -0.5 * (out[:, R:] * fz).sum(-1).reshape(B, K)
        if mask is not None:
            lw = lw * mask[:, t].unsqueeze(1)
        v = logW + lw if adaptive else lw
        inc = torch.logsumexp(v, -1)
        normed = v - inc.unsqueeze(1)
        incs.append(inc)
        lws.append(normed.detach())
        w = torch.softmax(normed.detach(), -1)
        idx = torch.searchsorted(torch.cumsum(w, -1), pos[t]).clamp_max(K - 1)
        if adaptive:
            need = (1.0 / torch.exp(2 * normed.detach()).sum(-1) < ess_threshold * K).unsqueeze(1)
            idx = torch.where(need, idx, torch.arange(K).expand(B, K))
            logW = torch.where(need, torch.full_like(normed, -math.log(K)), normed)
        ancs.append(idx)
        z = z.index_select(0, (idx + offsets).reshape(-1))
    return torch.stack(incs, 1), torch.stack(lws), torch.stack(ancs)


def _window_inputs(T, B, K, R, N, dtype, current, mask, seed=0):
    g = torch.Generator().manual_seed(seed)
    P = B * K
    mT = torch.randn((R, N), generator=g, dtype=dtype) / R**0.5
    n = torch.randn((R, N), generator=g, dtype=dtype) / N**0.5
    h = torch.randn((N,), generator=g, dtype=dtype) * 0.3
    theta = torch.tensor(-2.0, dtype=dtype)
    z0 = torch.randn((P, R), generator=g, dtype=dtype)
    data = torch.randn((T - 1, B, 2 * R), generator=g, dtype=dtype) * 0.5
    L = torch.tril(torch.randn((R, R), generator=g, dtype=dtype)) * 0.3 + torch.eye(R, dtype=dtype) * 0.5
    proj = torch.randn((R, 2 * R), generator=g, dtype=dtype) * 0.4
    cur = torch.randn((T, B, N), generator=g, dtype=dtype) * 0.5 if current else None
    diff = [t.requires_grad_() if t is not None else None for t in (z0, data, L, proj, mT, n, h, theta, cur)]
    eps = torch.randn((T - 1, P, R), generator=g, dtype=dtype)
    pos = ((torch.arange(K, dtype=dtype) + torch.rand((T, B, 1), generator=g, dtype=dtype)) / K).contiguous()
    m = None
    if mask:
        m = torch.ones((B, T), dtype=dtype)
        m[0, T - 2:] = 0
    return diff, eps, pos, m


def _window_call(make, act, z0, data, L, proj, mT, n, h, theta, cur, eps, pos, mask, ess, keep_states=False):
    a = torch.exp(-torch.exp(theta))
    if make is None:
        return _reference_window(mT, n, h, a, act, z0, data, eps, L, proj, pos, cur, mask, ess)
    window = make(mT, n, h, a, act)
    incs, states, lws, anc = window(z0, data, eps, L, proj, pos, current=cur, mask=mask, ess_threshold=ess,
                                    keep_states=keep_states)
    return incs, lws, anc


WINDOW_CASES = [  # act, current, mask, ess threshold, (T, B, K, R, N)
    ("relu", False, False, None, (5, 2, 3, 2, 11)),
    ("clipped_relu", True, True, None, (4, 2, 3, 1, 3)),
    ("tanh", True, False, 0.7, (5, 2, 4, 2, 9)),
    ("relu", False, True, 0.7, (4, 3, 3, 5, 12)),
    ("clipped_relu", False, False, 0.9, (6, 1, 5, 3, 16)),
]


@pytest.mark.parametrize("act,current,mask,ess,dims", WINDOW_CASES)
def test_window_gradcheck_float64(ext, act, current, mask, ess, dims):
    diff, eps, pos, m = _window_inputs(*dims, torch.float64, current, mask, seed=sum(dims))
    inputs = [t for t in diff if t is not None]
    wts = torch.linspace(0.5, 1.5, dims[1] * dims[0], dtype=torch.float64).reshape(dims[1], dims[0])

    def f(*args):
        args = list(args) + ([None] if not current else [])
        return (_window_call(fused.make_window, act, *args, eps, pos, m, ess)[0] * wts).sum()

    # nondet_tol: gradcheck also runs the backward pass twice and by default demands bit-equal results; once, in
    # a CI run on a busy machine, this case differed between the two (not reproduced in 700 direct repeats,
    # 15 runs of this file, under load, or under valgrind). A difference above 1e-12 still fails.
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5, nondet_tol=1e-12)


@pytest.mark.parametrize("act,current,mask,ess,dims", WINDOW_CASES)
def test_window_matches_reference_float64(ext, act, current, mask, ess, dims):
    diff, eps, pos, m = _window_inputs(*dims, torch.float64, current, mask, seed=7)
    leaves = [t for t in diff if t is not None]
    results = []
    for make in (fused.make_window, None):
        incs, lws, anc = _window_call(make, act, *diff, eps, pos, m, ess)
        w = torch.sin(torch.arange(incs.numel(), dtype=incs.dtype)).reshape(incs.shape)
        results.append((incs, lws, anc, *torch.autograd.grad((incs * w).sum(), leaves)))
    got, want = results
    assert torch.equal(got[2], want[2])  # the same ancestors
    for x, y in zip(got, want):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)


def test_window_no_grad_and_states(ext):
    diff, eps, pos, _ = _window_inputs(5, 2, 4, 3, 10, torch.float32, True, False, seed=3)
    z0, data, L, proj, mT, n, h, theta, cur = diff
    window = fused.make_window(mT, n, h, torch.exp(-torch.exp(theta)), "tanh")
    with torch.no_grad():
        incs, states, lws, anc = window(z0, data, eps, L, proj, pos, current=cur)
        _, states_kept, _, _ = window(z0, data, eps, L, proj, pos, current=cur, keep_states=True)
    assert incs.grad_fn is None and states.shape == (0, 8, 3) and states_kept.shape == (5, 8, 3)
    torch.testing.assert_close(states_kept[0], z0.detach())
    incs2, states2, lws2, anc2 = window(z0, data, eps, L, proj, pos, current=cur, keep_states=True)
    assert incs2.grad_fn is not None and not states2.requires_grad and not lws2.requires_grad
    torch.testing.assert_close(incs2, incs)
    torch.testing.assert_close(states2, states_kept)
    assert torch.equal(anc2, anc) and anc.dtype == torch.int64 and 0 <= int(anc.min()) and int(anc.max()) < 4
    torch.testing.assert_close(lws2.exp().sum(-1), torch.ones(5, 2))


def test_window_double_backward_refused(ext):
    diff, eps, pos, _ = _window_inputs(3, 1, 2, 2, 5, torch.float64, False, False)
    incs, _, _ = _window_call(fused.make_window, "relu", *diff, eps, pos, None, None)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(incs.sum(), [diff[4]], create_graph=True)


def test_window_fallbacks(ext, monkeypatch):
    (_, _, _, _, mT, n, h, _, _), _, _, _ = _window_inputs(3, 1, 2, 2, 5, torch.float32, False, False)
    assert fused.make_window(mT, n, h, 0.9, "relu") is not None
    assert fused.make_window(mT, n, h, 0.9, "softplus") is None
    assert fused.make_window(mT.half(), n.half(), h.half(), 0.9, "relu") is None
    monkeypatch.setenv("SKLEARN_LRNN_NO_FUSED", "1")
    assert fused.make_window(mT, n, h, 0.9, "relu") is None


def _smc_model(act, obs, n_inputs, dtype, seed=0):
    from sklearn_lrnn._engine.low_rank import LowRankTransition
    from sklearn_lrnn._engine.smc import StateSpaceModel

    g = torch.Generator().manual_seed(seed)
    tr = LowRankTransition(2, 13, n_inputs, activation=act, generator=g)
    return StateSpaceModel(tr, obs(2, 5 if obs.__name__ == "GaussianAffine" else 13, generator=g)).to(dtype)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("obs_name", ["GaussianAffine", "GaussianCurrents"])
@pytest.mark.parametrize("ess,masked,n_inputs", [(None, False, 0), (0.5, True, 2), (None, True, 2), (0.6, False, 0)])
def test_run_smc_window_equals_loop_float64(ext, monkeypatch, act, obs_name, ess, masked, n_inputs):
    """run_smc through the fused window and through the per-step loop: same bound, history, gradients."""
    from sklearn_lrnn._engine import observations, smc

    model = _smc_model(act, getattr(observations, obs_name), n_inputs, torch.float64)
    D = model.observation.b.shape[0]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 9, D, generator=g, dtype=torch.float64)
    u = torch.randn(3, 9, n_inputs, generator=g, dtype=torch.float64) if n_inputs else None
    mask = None
    if masked:
        mask = torch.ones(3, 9, dtype=torch.bool)
        mask[1, 6:] = False
    results = []
    for use_window in (True, False):
        monkeypatch.setattr(smc, "FUSED_WINDOW", use_window)
        res = smc.run_smc(model, x, n_particles=7, mask=mask, u=u, ess_threshold=ess, return_filter=True,
                          return_history=True, generator=torch.Generator().manual_seed(5))
        model.zero_grad()
        res.log_evidence.sum().backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        results.append((res, grads))
    (a, ga), (b, gb) = results
    assert torch.equal(a.ancestors, b.ancestors)
    for name in ("log_evidence", "filter_means", "particles", "log_weights"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=1e-10, atol=1e-10)
    assert len(ga) == len(gb)
    for x1, x2 in zip(ga, gb):
        torch.testing.assert_close(x1, x2, rtol=1e-8, atol=1e-10)


def test_run_smc_window_eeg_size_float32(ext, monkeypatch):
    """The EEG configuration in float32: the window and the loop agree to rounding."""
    from sklearn_lrnn._engine import smc
    from sklearn_lrnn._engine.low_rank import LowRankTransition
    from sklearn_lrnn._engine.observations import GaussianAffine

    g = torch.Generator().manual_seed(0)
    model = smc.StateSpaceModel(LowRankTransition(3, 512, activation="clipped_relu", generator=g),
                                GaussianAffine(3, 64, generator=g))
    x = torch.randn(10, 50, 64, generator=g)
    out = []
    for use_window in (True, False):
        monkeypatch.setattr(smc, "FUSED_WINDOW", use_window)
        le = smc.run_smc(model, x, n_particles=10, generator=torch.Generator().manual_seed(3)).log_evidence
        model.zero_grad()
        le.sum().backward()
        out.append((le.detach(), model.transition.n.grad.clone(), model.observation.B.grad.clone()))
    # float32 rounding can move a resampling decision that sits on a cdf boundary: loose tolerances
    for got, want in zip(*out):
        torch.testing.assert_close(got, want, rtol=2e-3, atol=2e-3 * want.abs().max().item())
