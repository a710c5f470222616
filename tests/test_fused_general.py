"""The fused SMC window of the encoder and bootstrap proposals (``fused.make_general_window``,
``csrc/smc_window_general.cpp``) against run_smc's per-step loop (the reference path).

Skips cleanly where the extension cannot be built (no compiler, SKLEARN_LRNN_NO_FUSED=1).
"""

import numpy as np
import pytest
import torch

from sklearn_lrnn._engine import fused, kernels, smc
from sklearn_lrnn._engine.encoder import ConvEncoder
from sklearn_lrnn._engine.low_rank import LowRankTransition
from sklearn_lrnn._engine.observations import build_observation


@pytest.fixture(scope="module")
def ext():
    if not kernels.available():
        pytest.skip(f"fused kernel unavailable: {kernels.unavailable_reason()}")
    return kernels.extension()


def _model(obs_name, act="relu", n_inputs=0, link="softplus", D=9, seed=1, dtype=torch.float64, rank=2):
    """A small model with every parameter moved off its initial value (so no gradient is trivially zero)."""
    g = torch.Generator().manual_seed(seed)
    tr = LowRankTransition(rank, D, n_inputs, activation=act, generator=g, noise_kind="diag")
    mask = None
    if obs_name == "multimodal":
        mask = torch.zeros(D, dtype=torch.bool)
        mask[::2] = True  # interleaved columns: the window reorders them
    obs = build_observation(obs_name, rank, D, link=link, poisson_mask=mask, generator=g)
    model = smc.StateSpaceModel(tr, obs, ConvEncoder(D, rank, kernels=(5, 1), channels=(8,))).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def _data(D, n_inputs, masked, dtype=torch.float64, B=3, T=11):
    g = torch.Generator().manual_seed(4)
    x = torch.poisson(torch.full((B, T, D), 1.5, dtype=dtype), generator=g)
    u = torch.randn(B, T, n_inputs, generator=g, dtype=dtype) if n_inputs else None
    mask = None
    if masked:
        mask = torch.ones(B, T, dtype=torch.bool)
        mask[1, 7:] = False
    return x, u, mask


def _run(model, x, *, proposal, fused_window, monkeypatch, u=None, mask=None, ess=None, K=7):
    monkeypatch.setattr(smc, "FUSED_WINDOW", fused_window)
    model.zero_grad()
    gen = torch.Generator().manual_seed(5)
    res = smc.run_smc(model, x, n_particles=K, proposal=proposal, u=u, mask=mask, ess_threshold=ess,
                      return_filter=True, return_history=True, generator=gen)
    res.log_evidence.sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return res, grads, gen.get_state()


CASES = [  # observation, activation, link, inputs, masked, ESS threshold
    ("poisson", "relu", "softplus", 0, False, None),
    ("poisson", "tanh", "exp", 2, True, 0.5),
    ("poisson_currents", "relu", "softplus", 2, False, None),
    ("poisson_currents", "clipped_relu", "exp", 0, True, 0.6),
    ("poisson_rates", "tanh", "softplus", 2, True, None),
    ("poisson_rates", "clipped_relu", "softplus", 0, False, 0.5),
    ("multimodal", "relu", "softplus", 0, False, None),
    ("multimodal", "tanh", "exp", 2, True, 0.5),
    ("gaussian", "clipped_relu", "softplus", 0, True, None),
    ("gaussian_rates", "relu", "softplus", 2, False, 0.6),
]


@pytest.mark.parametrize("proposal", ["bootstrap", "encoder"])
@pytest.mark.parametrize("obs_name,act,link,n_inputs,masked,ess", CASES)
def test_window_equals_loop_float64(ext, monkeypatch, proposal, obs_name, act, link, n_inputs, masked, ess):
    """Same bound, filter, history and gradients of every parameter, and the same random numbers used."""
    model = _model(obs_name, act, n_inputs, link)
    x, u, mask = _data(9, n_inputs, masked)
    (a, ga, sa), (b, gb, sb) = (_run(model, x, proposal=proposal, fused_window=f, monkeypatch=monkeypatch, u=u,
                                     mask=mask, ess=ess) for f in (True, False))
    assert torch.equal(sa, sb)  # the same random-number consumption
    assert torch.equal(a.ancestors, b.ancestors)
    for name in ("log_evidence", "filter_means", "particles", "log_weights"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=1e-10, atol=1e-10)
    assert ga.keys() == gb.keys() and len(ga) >= 5
    for k in ga:
        torch.testing.assert_close(ga[k], gb[k], rtol=1e-8, atol=1e-10, msg=lambda m, k=k: f"{k}: {m}")


@pytest.mark.parametrize("rank,obs_name", [(1, "multimodal"), (5, "poisson_rates"), (16, "poisson_currents")])
def test_window_equals_loop_other_ranks(ext, monkeypatch, rank, obs_name):
    """Ranks 1 and 5 (compiled for rank 1..4 and generic above) and 16, the largest the kernels take."""
    model = _model(obs_name, "tanh", 0, rank=rank)
    x, _, _ = _data(9, 0, False)
    (a, ga, _), (b, gb, _) = (_run(model, x, proposal="encoder", fused_window=f, monkeypatch=monkeypatch)
                              for f in (True, False))
    torch.testing.assert_close(a.log_evidence, b.log_evidence, rtol=1e-10, atol=1e-10)
    assert ga.keys() == gb.keys()
    for k in ga:
        torch.testing.assert_close(ga[k], gb[k], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("K", [1, 16, 21, 37])
@pytest.mark.parametrize("obs_name,link", [("poisson_currents", "softplus"), ("multimodal", "exp")])
def test_window_equals_loop_lane_chunks(ext, monkeypatch, K, obs_name, link):
    """The observation kernels hold the particles of a sequence in vector lanes (4 to 16 per chunk, by dtype and
    CPU) and skip the log term of channels without counts: particle counts below, at and across the chunk size
    with a padded last chunk, and sparse counts with a sequence that has none at some steps."""
    model = _model(obs_name, "relu", 0, link)
    g = torch.Generator().manual_seed(6)
    x = torch.poisson(torch.full((3, 11, 9), 0.2, dtype=torch.float64), generator=g)
    x[1, 3:6] = 0
    for proposal in ("bootstrap", "encoder"):
        (a, ga, _), (b, gb, _) = (_run(model, x, proposal=proposal, fused_window=f, monkeypatch=monkeypatch, K=K)
                                  for f in (True, False))
        torch.testing.assert_close(a.log_evidence, b.log_evidence, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(a.filter_means, b.filter_means, rtol=1e-10, atol=1e-10)
        assert ga.keys() == gb.keys()
        for k in ga:
            torch.testing.assert_close(ga[k], gb[k], rtol=1e-8, atol=1e-10, msg=lambda m, k=k: f"{k}: {m}")


def test_window_is_used(ext, monkeypatch):
    """The equality test above would pass trivially if the window silently fell back to the loop."""
    calls = []
    original = LowRankTransition.fused_general_window

    def spy(self):
        window = original(self)
        calls.append(window is not None)
        return window

    monkeypatch.setattr(LowRankTransition, "fused_general_window", spy)
    model = _model("poisson_currents")
    x, _, _ = _data(9, 0, False)
    smc.run_smc(model, x, n_particles=4, proposal="bootstrap")
    smc.run_smc(model, x, n_particles=4, proposal="encoder")
    assert calls == [True, True]


def _window_inputs(obs_name, link, n_inputs, seed=0, bootstrap=False):
    """Inputs of the raw window op, float64, as run_smc builds them for the encoder (or bootstrap) proposal."""
    g = torch.Generator().manual_seed(seed)
    T, B, K, R, D = 4, 2, 3, 2, 5
    model = _model(obs_name, "tanh", n_inputs, link, D=D, seed=seed)
    tr, obs = model.transition, model.observation
    with torch.no_grad():  # unit noise: finite differences of a sharply peaked Gaussian likelihood are too coarse
        for m in obs.modules():
            if hasattr(m, "log_std"):
                m.log_std.zero_()
    ro = obs.fused_readout(tr)
    x = torch.poisson(torch.full((T, B, D), 1.2, dtype=torch.float64), generator=g)
    if ro.columns is not None:
        x = x.index_select(-1, ro.columns)
    leaf = lambda t: t.detach().clone().requires_grad_()  # noqa: E731
    rnd = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    diff = dict(z0=leaf(rnd(B * K, R)), lw0=leaf(rnd(B, K)),
                mu=leaf(rnd(T - 1, B, R) * 0.3), q=leaf(torch.rand(T - 1, B, R, generator=g, dtype=torch.float64) + 0.2),
                w=leaf(torch.rand(T - 1, B, R, generator=g, dtype=torch.float64)),
                Linv=leaf(torch.eye(R, dtype=torch.float64) * 1.3 + 0.1 * rnd(R, R)))
    if bootstrap:  # z = f + L eps instead of the encoder's terms
        diff = dict(z0=diff["z0"], lw0=diff["lw0"], L=leaf(torch.eye(R, dtype=torch.float64) * 0.4 + 0.05 * rnd(R, R)))
    eps = rnd(T - 1, B * K, R)
    cur = leaf(torch.randn(T, B, D, generator=g, dtype=torch.float64) * 0.3) if n_inputs else None
    pos = (torch.arange(K, dtype=torch.float64) + torch.rand(T, B, 1, generator=g, dtype=torch.float64)) / K
    return model, ro, x, diff, eps, cur, pos


@pytest.mark.parametrize("obs_name,link,n_inputs,ess,bootstrap", [
    ("poisson", "softplus", 0, None, False), ("poisson_rates", "exp", 1, 0.8, False),
    ("multimodal", "softplus", 0, 0.8, False), ("gaussian_rates", "softplus", 1, None, False),
    ("poisson_currents", "softplus", 1, None, True), ("multimodal", "exp", 0, 0.8, True)])
def test_window_gradcheck_float64(ext, obs_name, link, n_inputs, ess, bootstrap, seed=0):
    """Finite differences through the op itself (resampling positions fixed), for every differentiable input."""
    model, ro, x, diff, eps, cur, pos = _window_inputs(obs_name, link, n_inputs, seed, bootstrap)
    tr = model.transition
    params = [p for p in (ro.WT, ro.bias, ro.gain, ro.inv_var) if p is not None]
    names = list(diff) + [f"p{i}" for i in range(len(params))] + (["cur"] if cur is not None else [])
    inputs = list(diff.values()) + [p.detach().clone().requires_grad_() for p in params] + ([cur] if cur is not None else [])
    a = tr.decay.detach()

    def f(*args):
        kw = dict(zip(names, args))
        it = iter(args[len(diff):len(diff) + len(params)])
        ro2 = type(ro)(**{**ro.__dict__, **{k: next(it) for k in ("WT", "bias", "gain", "inv_var")
                                             if getattr(ro, k) is not None}})
        window = fused.make_general_window(tr.mT.detach(), tr.n.detach(), tr.h.detach(), a, tr.activation)
        prop = {k: kw[k] for k in ("L", "mu", "q", "w", "Linv") if k in kw}
        incs, _, _, _ = window(kw["z0"], kw["lw0"], eps, x, ro2, pos, **prop, current=kw.get("cur"), ess_threshold=ess)
        return (incs * torch.linspace(0.5, 1.5, incs.numel(), dtype=incs.dtype).reshape(incs.shape)).sum()

    # nondet_tol: as in test_fused.py's window gradcheck (bit-level differences between two backward passes)
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5, nondet_tol=1e-12)


def test_window_same_on_one_and_two_threads(ext):
    """The op runs on one thread: bit-identical bound and gradients whatever torch's thread count."""
    model, ro, x, diff, eps, cur, pos = _window_inputs("poisson_currents", "softplus", 1, seed=2)
    tr = model.transition
    before = torch.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            leaves = [t.detach().clone().requires_grad_() for t in list(diff.values()) + [cur]]
            kw = dict(zip(list(diff) + ["current"], leaves))
            window = fused.make_general_window(tr.mT, tr.n, tr.h, tr.decay, tr.activation)
            incs, _, _, _ = window(kw["z0"], kw["lw0"], eps, x, ro, pos, mu=kw["mu"], q=kw["q"], w=kw["w"],
                                   Linv=kw["Linv"], current=kw["current"], ess_threshold=0.7)
            grads = torch.autograd.grad(incs.sum(), leaves + [tr.mT, tr.n, tr.h, ro.gain, ro.bias])
            out.append((incs.detach(), grads))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(out[0][0], out[1][0])
    for g1, g2 in zip(out[0][1], out[1][1]):
        assert torch.equal(g1, g2)


def test_double_backward_refused(ext, monkeypatch):
    model = _model("poisson")
    x, _, _ = _data(9, 0, False)
    monkeypatch.setattr(smc, "FUSED_WINDOW", True)
    le = smc.run_smc(model, x, n_particles=3, proposal="bootstrap").log_evidence
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(le.sum(), [model.transition.n], create_graph=True)


def test_unknown_models_keep_the_loop(ext):
    """An observation model that does not describe itself (fused_readout None) runs the per-step loop."""
    model = _model("poisson")
    model.observation.fused_readout = lambda tr: None
    x, _, _ = _data(9, 0, False)
    le = smc.run_smc(model, x, n_particles=3, proposal="bootstrap").log_evidence
    assert torch.isfinite(le).all()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_trains_on_one_thread(monkeypatch):
    """Fits train on one torch thread whatever the caller's setting, which is restored afterwards: with two,
    torch's reductions in the encoder's convolutions and matmul gradients round differently (measured 1.8e-6
    relative after 3 epochs of this fit), so the fitted model depended on the machine's core count."""
    from sklearn_lrnn import StochasticLowRankRNN, _lifecycle
    from sklearn_lrnn.datasets import make_poisson_teacher

    seen = []
    original = _lifecycle.fit_module

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(_lifecycle, "fit_module", spy)
    data = make_poisson_teacher(4, 30, n_units=8, random_state=0)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        est = StochasticLowRankRNN(rank=2, observation="poisson_currents", proposal="encoder", max_iter=2,
                                   learning_rate_schedule="constant", compute_fixed_points=False, random_state=0)
        est.fit(data.X)
        est.partial_fit(data.X)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1]
