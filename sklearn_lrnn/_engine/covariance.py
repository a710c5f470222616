"""Covariance parameterisations: full (Cholesky with exp diagonal), diagonal (log variance), scalar."""

from __future__ import annotations

import math

import torch
from torch import nn

KINDS = ("full", "diag", "scalar")
# variances are clamped to [1e-8, 1e2], i.e. std in [1e-4, 10] (theory page, "Stochastic low-rank RNN")
_MIN_LOG_STD, _MAX_LOG_STD = math.log(1e-4), math.log(10.0)


class Covariance(nn.Module):
    """A trainable (or fixed) covariance matrix of size ``dim``.

    ``cholesky()`` returns the lower Cholesky factor, ``variance()`` the diagonal; both are cheap and
    are meant to be called once per forward pass, not per time step.
    """

    def __init__(self, dim: int, kind: str = "full", init_std=0.1, trainable: bool = True):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"covariance kind must be one of {KINDS}; got {kind!r}.")
        self.dim, self.kind = dim, kind
        init = torch.as_tensor(init_std, dtype=torch.float32).clamp(1e-4, 10.0)
        if init.ndim == 0:
            init = init.expand(dim).clone()
        log_std = init.log()
        if kind == "scalar":
            log_std = log_std.mean().reshape(1)
        log_std = nn.Parameter(log_std, requires_grad=trainable)
        self.log_std = log_std
        if kind == "full":
            # strictly lower-triangular part; the diagonal lives in log_std
            # strictly lower-triangular entries only, so the parameter count is the true one
            self.off_diag = nn.Parameter(torch.zeros(dim * (dim - 1) // 2), requires_grad=trainable)
            rows, cols = torch.tril_indices(dim, dim, -1)
            self.register_buffer("_rows", rows, persistent=False)
            self.register_buffer("_cols", cols, persistent=False)

    def std(self) -> torch.Tensor:
        s = self.log_std.clamp(_MIN_LOG_STD, _MAX_LOG_STD).exp()
        return s.expand(self.dim) if self.kind == "scalar" else s

    def variance(self) -> torch.Tensor:
        """Diagonal of the covariance."""
        if self.kind == "full":
            L = self.cholesky()
            return (L * L).sum(-1)
        return self.std() ** 2

    def cholesky(self) -> torch.Tensor:
        if self.kind == "full":
            return torch.diag(self.std()).index_put((self._rows, self._cols), self.off_diag)
        return torch.diag(self.std())

    def matrix(self) -> torch.Tensor:
        L = self.cholesky()
        return L @ L.T

    @property
    def is_diagonal(self) -> bool:
        return self.kind != "full"
