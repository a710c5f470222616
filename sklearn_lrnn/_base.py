"""Shared estimator plumbing: device choice, seeding, progress reporting, NumPy state."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["resolve_device", "torch_generator", "ProgressReporter", "to_numpy_state"]


def resolve_device(device) -> torch.device:
    """``"auto"`` picks CUDA when present, else the CPU; anything else is passed to ``torch.device``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device; use 'auto', 'cpu' or 'cuda'.") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; use device='auto' or 'cpu'.")
    return dev


def torch_generator(random_state, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator seeded from a scikit-learn style ``random_state`` (None, int or RandomState)."""
    if random_state is None:
        seed = int(np.random.default_rng().integers(2**62))
    elif isinstance(random_state, (int, np.integer)):
        seed = int(random_state)
    elif isinstance(random_state, np.random.RandomState):
        seed = int(random_state.randint(2**31 - 1))
    elif isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(2**62))
    else:
        raise ValueError(f"random_state must be None, an int or a numpy RandomState; got {random_state!r}.")
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


class ProgressReporter:
    """``verbose=0`` silent, 1 a tqdm bar with the current loss (plain lines without tqdm), 2 a line per epoch."""

    def __init__(self, verbose: int, n_epochs: int, name: str):
        self.verbose = int(verbose or 0)
        self.bar = None
        self.name = name
        if self.verbose == 1:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=n_epochs, desc=name, unit="epoch", leave=False)
            except ImportError:  # progress extra not installed: fall back to lines
                self.verbose = 2

    def __call__(self, epoch: int, loss: float, val: float | None) -> None:
        if self.bar is not None:
            post = {"loss": f"{loss:.4g}"}
            if val is not None:
                post["val"] = f"{val:.4g}"
            self.bar.set_postfix(post, refresh=False)
            self.bar.update(1)
        elif self.verbose >= 2:
            extra = "" if val is None else f"  validation loss {val:.5g}"
            print(f"[{self.name}] epoch {epoch + 1}: loss {loss:.5g}{extra}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def to_numpy_state(module: torch.nn.Module) -> dict:
    """A module's state as NumPy arrays on the CPU: pickles anywhere, GPU or not."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
