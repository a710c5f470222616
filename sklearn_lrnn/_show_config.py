"""``sklearn_lrnn.show_config()``: what a bug report needs to know about this install."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

from ._version import __version__

__all__ = ["show_config"]

_DEPENDENCIES = ("torch", "numpy", "scipy", "scikit-learn", "joblib")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _device_lines(torch) -> list[str]:
    if not torch.cuda.is_available():
        built = f"with CUDA {torch.version.cuda}" if torch.version.cuda else "for CPU only"
        return [f"CUDA not available (torch built {built})"]
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    # the C++ kernels are CPU code: say so, since a fit on CUDA runs at torch's per-step speed
    return [f"CUDA {torch.version.cuda}: {names}",
            "the C++ kernels are CPU code: fits with device='cuda' run the per-step torch loop"]


def show_config(file=None) -> None:
    """Print the versions, threads, device and C++ kernel status of this install.

    The counterpart of :func:`sklearn.show_versions` for bug reports and set-up checks. It builds and
    loads nothing: the kernels line says whether this install's build exists (and whether this process
    has loaded it), is still to be compiled by the first fit, or is replaced by the pure-torch fallback,
    and why (see :mod:`sklearn_lrnn._engine.kernels` and the "C++ kernels" page of the documentation).

    Parameters
    ----------
    file : file-like, default=None
        Where to print; ``sys.stdout`` by default.
    """
    import torch

    from ._engine import kernels

    st = kernels.status()
    rows = [("sklearn_lrnn", f"{__version__} ({os.path.dirname(os.path.abspath(__file__))})"),
            ("python", f"{platform.python_version()} ({sys.executable})"),
            ("platform", platform.platform())]
    rows += [(name, _version(name)) for name in _DEPENDENCIES]
    threads = (f"torch {torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op; "
               f"{os.cpu_count()} CPUs")
    rows += [("threads", threads + "".join(f"; {v}={os.environ[v]}" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
                                           if v in os.environ))]
    rows += [("device", line) for line in _device_lines(torch)]
    rows += [("compiler", f"{st.compiler or 'none working'} (CXX={os.environ.get('CXX', 'c++')})"),
             ("kernels", str(st)),
             ("kernel cache", f"{kernels.cache_dir()}"
              + (" (SKLEARN_LRNN_KERNEL_DIR)" if os.environ.get("SKLEARN_LRNN_KERNEL_DIR") else ""))]
    # one compiled library holds every kernel, so they share the state; listed for what each replaces
    runs = {"built": "C++", "not built": "C++ once built"}.get(st.state, "torch fallback")
    rows += [(f"  {name}", f"[{runs}] csrc/{source}: {what}") for name, (source, what) in kernels.KERNELS.items()]
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}", file=file or sys.stdout)
