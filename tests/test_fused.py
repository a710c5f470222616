"""The fused C++ transition kernel (sklearn_lrnn/_engine/fused.py) against the pure-torch reference.

Skips cleanly where the extension cannot be built (no compiler, no ninja, SKLEARN_LRNN_NO_FUSED=1).
The first run compiles it (about a minute), later runs load it from torch's extension cache.
"""

import pytest
import torch

from sklearn_lrnn._engine import fused

ACTS = ("relu", "clipped_relu", "tanh")


@pytest.fixture(scope="module")
def ext():
    if not fused.fused_available():
        pytest.skip(f"fused kernel unavailable: {fused.fused_unavailable_reason()}")
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
    assert not fused.fused_available()
    assert fused.make_step(mT, n, h, 0.9, "relu") is None


def test_double_backward_refused(ext):
    z, mT, n, h, theta, _ = _params(3, 9, 2, torch.float64, False)
    y = _run(fused.make_step, "tanh", z, mT, n, h, theta, None)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(y.sum(), [mT], create_graph=True)
