"""The PLRNN latent maps, one class each, filed by name in :data:`ARCHITECTURES` (the registry).

Every map is one template (theory page, "Piecewise-linear RNNs")::

    z_t = A * z_{t-1} + phi(u_{t-1}) W1^T + base_t,    u = z W2^T (shallow maps) or z (no hidden layer)

An architecture says what ``phi`` is, whether the map has a hidden layer (``W1``, ``W2``, ``h1``, ``h2``) or
not (``A``, off-diagonal ``W``, ``h``), its derivative (for the hand-written backward pass and the
Jacobians) and the number the C++ loops of ``csrc/plrnn_rollout.cpp`` know it by (None: the Python loops
only). A new architecture is a subclass filed with ``@register_architecture("name")``, plus its NumPy map
in ``dynamics/_maps.py`` (see doc/architecture.rst).
"""

from __future__ import annotations

import torch

__all__ = ["ARCHITECTURES", "Architecture", "register_architecture", "get_architecture"]

ARCHITECTURES: dict[str, "Architecture"] = {}


def register_architecture(name):
    """Class decorator: file an :class:`Architecture` subclass (one instance) under ``name``."""

    def deco(cls):
        cls.name = name
        ARCHITECTURES[name] = cls()
        return cls

    return deco


def get_architecture(name) -> "Architecture":
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"architecture must be one of {tuple(ARCHITECTURES)}; got {name!r}.") from None


class Architecture:
    """One latent map of the template (a stateless object; the parameters live in the torch module)."""

    name = "?"
    hidden = False  # a hidden layer W2 (H units): False means parameters A, W (off-diagonal), h with H = M
    kernel_code: int | None = None  # the map's number in the C++ loops; None: Python loops only

    def phi(self, u, h2):
        """The nonlinearity applied to ``u`` (``z`` itself without a hidden layer)."""
        raise NotImplementedError

    def step(self, z, A, W1t, W2t, h2, base):
        """One step of the map for states ``z`` (..., M)."""
        u = z @ W2t if self.hidden else z
        return A * z + self.phi(u, h2) @ W1t + base

    # -- the Python time loops (fallback of the C++ ones) ---------------------------------------
    def loop_terms(self, h2):
        """Per-rollout constants of :meth:`activation` (computed once before the time loop)."""
        return None

    def activation(self, z, W2t, h2, u_out, terms):
        """``phi(u_t)`` inside the forward loop; writes ``u_t`` into ``u_out`` where the map has a hidden layer."""
        raise NotImplementedError

    def derivative(self, Zin, U, h2, dtype):
        """``(mask, on)``: ``phi'`` along the rollout (None: 1 everywhere) and, for hidden layers, the mask of
        ``h2``'s gradient (``1[u + h2 > 0]``)."""
        raise NotImplementedError

    def jacobians(self, z, A, W1t, W2t, h2):
        """Jacobians dF/dz at states ``z`` (n, M) -> (n, M, M)."""
        raise NotImplementedError


class _NoHiddenLayer(Architecture):
    def jacobians(self, z, A, W1t, W2t, h2):
        d = self._slope(z)
        return torch.diag(A) + W1t.T.unsqueeze(0) * d.unsqueeze(1)


@register_architecture("vanilla")
class Vanilla(_NoHiddenLayer):
    """``z_t = A z + W relu(z) + h + C s_t``."""

    kernel_code = 0

    def phi(self, u, h2):
        return torch.relu(u)

    def activation(self, z, W2t, h2, u_out, terms):
        return torch.relu(z)

    def derivative(self, Zin, U, h2, dtype):
        return (Zin > 0).to(dtype), None

    def _slope(self, z):
        return (z > 0).to(z.dtype)


@register_architecture("shallow")
class Shallow(Architecture):
    """``z_t = A z + W1 relu(W2 z + h2) + h1 + C s_t``."""

    hidden = True
    kernel_code = 1

    def phi(self, u, h2):
        return torch.relu(u + h2)

    def activation(self, z, W2t, h2, u_out, terms):
        u = torch.mm(z, W2t, out=u_out)
        return torch.add(u, h2).relu_()

    def derivative(self, Zin, U, h2, dtype):
        on = (U + h2 > 0).to(dtype)
        return on, on

    def _slope(self, u, h2):
        return (u + h2 > 0).to(u.dtype)

    def jacobians(self, z, A, W1t, W2t, h2):
        d = self._slope(z @ W2t, h2)
        return torch.diag(A) + (W1t.T.unsqueeze(0) * d.unsqueeze(1)) @ W2t.T


@register_architecture("clipped_shallow")
class ClippedShallow(Shallow):
    """``z_t = A z + W1 [relu(W2 z + h2) - relu(W2 z)] + h1 + C s_t`` (bounded: ``|phi| <= |h2|``)."""

    kernel_code = 2

    def phi(self, u, h2):
        return torch.relu(u + h2) - torch.relu(u)

    def loop_terms(self, h2):
        # relu(u + c) - relu(u) = sgn * clamp(u, lo, hi) + off, elementwise in c: two kernels instead of four
        return -torch.relu(h2), torch.relu(-h2), torch.sign(h2), torch.relu(h2)

    def activation(self, z, W2t, h2, u_out, terms):
        lo, hi, sgn, off = terms
        u = torch.mm(z, W2t, out=u_out)
        return torch.addcmul(off, torch.clamp(u, lo, hi), sgn)

    def derivative(self, Zin, U, h2, dtype):
        on = (U + h2 > 0).to(dtype)
        return on - (U > 0).to(dtype), on

    def _slope(self, u, h2):
        return (u + h2 > 0).to(u.dtype) - (u > 0).to(u.dtype)


@register_architecture("linear")
class Linear(_NoHiddenLayer):
    """``z_t = (diag(A) + W) z + h + C s_t``: the baseline without nonlinearity (the C++ loops skip it)."""

    def phi(self, u, h2):
        return u

    def activation(self, z, W2t, h2, u_out, terms):
        return z

    def derivative(self, Zin, U, h2, dtype):
        return None, None

    def jacobians(self, z, A, W1t, W2t, h2):
        return (torch.diag(A) + W1t.T).expand(z.shape[0], -1, -1)
