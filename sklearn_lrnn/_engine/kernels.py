"""The C++ kernels: which exist, where their build lives, and whether this process uses them.

One compiled extension (``csrc/``) holds the kernels listed in :data:`KERNELS`. They are CPU code for
float32 / float64 tensors; on other devices or dtypes, where no compiler is available, or with
``SKLEARN_LRNN_NO_FUSED=1``, the same computations run as plain torch (the reference path, several
times slower on CPU; on CUDA it is the only path).

Build and load. :func:`extension` is the one way in: it imports the compiled library when this install
has built it (milliseconds), and otherwise builds it once, saying so on stderr first ("building the fused
SMC kernels, one time, about a minute"). ``python -m sklearn_lrnn.build_kernels`` (``make kernels``) does
that build ahead of time, so that no fit pays it. When the build cannot happen (no compiler, no ninja, a
compile error) the first caller gets one :class:`KernelFallbackWarning` naming the reason and the fix, and
every caller gets None: the torch path. :func:`status` reports all this without building anything.

Cache. Each build lives in ``cache_dir() / cache_key()``: the key hashes the kernel sources, the build
flags, the torch version, the Python ABI and the compiler's version, so two environments or two checkouts
never overwrite each other's build, and an edit of the sources gets a fresh one. ``cache_dir()`` is
``$SKLEARN_LRNN_KERNEL_DIR`` if set, else ``_build/`` next to this file (the installed copy's own), else
the user cache where the package folder is read-only. The sources are copied into the build folder, so
identical sources compile from identical paths and a shared cache folder is never rebuilt by path changes.
Processes starting together (joblib / dask workers) build once: an OS file lock (released even if its
holder is killed, unlike torch's lock file) makes the others wait and then load the result. A failed
compile is recorded in its build folder so that later processes fall back at once instead of failing the
same minute-long build again; ``python -m sklearn_lrnn.build_kernels`` retries it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

__all__ = ["KERNELS", "FIX", "KernelFallbackWarning", "KernelStatus", "available", "build", "cache_dir",
           "cache_key", "extension", "status", "unavailable_reason"]

#: name -> (source file in ``csrc/``, what it computes and who calls it)
KERNELS = {
    "transition_step": ("fused_step.cpp", "low-rank transition a z + phi(z mT + c; h) n^T, forward and backward "
                                          "(SMC per-step loop: fused.make_step)"),
    "smc_window": ("smc_window.cpp", "the whole SMC time loop of the optimal proposal as one autograd op "
                                     "(fused.make_window)"),
    "smc_window_general": ("smc_window_general.cpp", "the whole SMC time loop of the encoder and bootstrap proposals "
                                                     "with the observation likelihood (Poisson, Gaussian, both) "
                                                     "inside, as one autograd op (fused.make_general_window)"),
    "plrnn_rollout": ("plrnn_rollout.cpp", "PLRNN teacher-forced rollout, forward and backward time loops "
                                           "(plrnn.rollout)"),
}
CSRC = Path(__file__).resolve().parent / "csrc"
_SOURCES = ("fused_step.cpp", "smc_window.cpp", "smc_window_general.cpp", "plrnn_rollout.cpp", "bindings.cpp")
_PREFIX = "sklearn_lrnn_kernels"
_BUILT, _FAILED, _LOG = "BUILT.json", "FAILED.txt", "build.log"
FIX = ("install a C++ compiler and ninja (e.g. `apt install g++ ninja-build`, or `pip install ninja`) or point CXX at "
       "one, then run `python -m sklearn_lrnn.build_kernels`; SKLEARN_LRNN_NO_FUSED=1 selects the torch path "
       "without this warning")


class KernelFallbackWarning(UserWarning):
    """The C++ kernels cannot be used in this process: fits run the slower pure-torch path."""


class _Unavailable(RuntimeError):
    """Why the kernels cannot be loaded or built (the message is the reason shown to users)."""


@dataclass
class _State:  # this process's attempt; tests swap in a fresh one
    module: object = None
    failure: str | None = None
    directory: Path | None = None
    seconds: float | None = None  # build time when built here, else load time
    built_here: bool = False
    warned: bool = False
    ahead: bool = False  # build() runs: the build is the point, no advice to build ahead


_state = _State()
_lock = threading.Lock()


@dataclass(frozen=True)
class KernelStatus:
    """Where the kernels stand: returned by :func:`status` and printed by :func:`sklearn_lrnn.show_config`.

    Parameters
    ----------
    state : {"built", "not built", "fallback", "disabled"}
        "built": this install's build exists (``loaded`` says whether this process uses it); "not built":
        the first use compiles it; "fallback": it cannot be used, see ``reason``; "disabled":
        ``SKLEARN_LRNN_NO_FUSED`` is set.
    loaded : bool
        Whether this process has imported the compiled library.
    reason : str or None
        Why the torch fallback is used (state "fallback").
    directory : pathlib.Path or None
        The build folder (``cache_dir() / cache_key()``).
    compiler : str or None
        First line of ``$CXX --version`` (None where that fails).
    seconds : float or None
        Build time when this process built the kernels, else the load time.
    built_here : bool
        Whether this process compiled them.
    """

    state: str
    loaded: bool = False
    reason: str | None = None
    directory: Path | None = None
    compiler: str | None = None
    seconds: float | None = None
    built_here: bool = False

    def __str__(self):
        if self.state == "built":
            how = (f"built by this process in {self.seconds:.0f} s" if self.built_here
                   else "loaded" if self.loaded else "not loaded by this process yet")
            return f"built, {how} ({self.directory})"
        if self.state == "fallback":
            return f"fallback: {self.reason}"
        if self.state == "disabled":
            return "disabled by SKLEARN_LRNN_NO_FUSED: the pure-torch path runs"
        return (f"not built: the first fit compiles them (about a minute) into {self.directory}; "
                "`python -m sklearn_lrnn.build_kernels` builds them now")


def _disabled() -> bool:
    return os.environ.get("SKLEARN_LRNN_NO_FUSED", "").strip().lower() not in ("", "0", "false", "no")


@lru_cache(maxsize=None)
def _compiler(cxx: str) -> tuple[str | None, str]:
    """``(first line of "cxx --version", "")``, or ``(None, why)`` where the compiler does not run."""
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"no working C++ compiler (`{cxx} --version`: {exc})"
    if out.returncode != 0 or not out.stdout.strip():
        return None, f"no working C++ compiler (`{cxx} --version` exited with status {out.returncode})"
    return out.stdout.strip().splitlines()[0], ""


def _flags() -> tuple[str, list[str], list[str]]:
    cap = "default"
    try:
        cap = torch.backends.cpu.get_cpu_capability().lower()
    except Exception:  # pragma: no cover - very old torch
        pass
    cflags = ["-O3", "-fopenmp", "-ffp-contract=fast"]
    if cap in ("avx2", "avx512"):
        # the capability torch detected on this machine; it is part of the key, so a cache shared by machines
        # of different capability keeps their builds apart
        cflags += ["-mavx2", "-mfma"]
    if cap == "avx512":
        # the observation kernels then hold 16 float32 particles per vector (csrc/observation_kernels.h; the
        # other kernels keep 256-bit vectors but gain AVX-512's mask registers, blends and 32 vector
        # registers); torch's "avx512" level means these four extensions
        cflags += ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw"]
    return cap, cflags, ["-fopenmp"]


def cache_key(**overrides) -> str:
    """The name of this install's build: ``sklearn_lrnn_kernels_<inputs>_<compiler>`` (two hex digests).

    Parameters
    ----------
    **overrides
        Replace one of the hashed inputs (``sources``: the bytes of every ``csrc`` file; ``torch``: its
        version; ``python``: the ABI tag; ``cpu``: torch's CPU capability; ``flags``; ``compiler``: the
        first line of ``$CXX --version``), to see how the key reacts; by default all describe this process.

    Returns
    -------
    str
        The folder and module name. The compiler has its own digest so that a build stays findable when
        the compiler is later removed.
    """
    cap, cflags, ldflags = _flags()
    parts = {
        "sources": b"".join(f.name.encode() + b"\0" + f.read_bytes() for f in sorted(CSRC.iterdir()) if f.is_file()),
        "torch": torch.__version__,
        "python": f"{sys.implementation.cache_tag}-{sysconfig.get_config_var('SOABI')}",
        "cpu": cap,
        "flags": " ".join(cflags + ldflags),
        "compiler": _compiler(os.environ.get("CXX", "c++"))[0],
    }
    unknown = set(overrides) - set(parts)
    if unknown:
        raise TypeError(f"unknown key inputs {sorted(unknown)}")
    parts.update(overrides)
    compiler = parts.pop("compiler")
    digest = hashlib.sha256(repr(sorted(parts.items())).encode()).hexdigest()[:12]
    return f"{_PREFIX}_{digest}_{hashlib.sha256(repr(compiler).encode()).hexdigest()[:6]}"


def cache_dir() -> Path:
    """The folder holding the builds of this install.

    Returns
    -------
    pathlib.Path
        ``$SKLEARN_LRNN_KERNEL_DIR`` when set, else ``_build`` next to this module (the installed copy's
        own), else ``$XDG_CACHE_HOME/sklearn_lrnn/kernels`` (default ``~/.cache``) where the package
        folder is not writable.
    """
    env = os.environ.get("SKLEARN_LRNN_KERNEL_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    own = Path(__file__).resolve().parent / "_build"
    if os.access(own if own.exists() else own.parent, os.W_OK):
        return own
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sklearn_lrnn" / "kernels"


def _locate() -> tuple[Path, str | None, str]:
    """``(build folder, compiler version or None, why no compiler)``; without a working compiler, the
    folder of a build of the same inputs made earlier by another one, if any."""
    version, why = _compiler(os.environ.get("CXX", "c++"))
    directory = cache_dir() / cache_key(compiler=version)
    if version is None:
        # e.g. the toolchain was removed after the build: any compiler's build of the same inputs loads
        prefix = directory.name.rsplit("_", 1)[0]
        built = sorted(directory.parent.glob(f"{prefix}_*/{_BUILT}"), key=lambda p: p.stat().st_mtime)
        if built:
            directory = built[-1].parent
    return directory, version, why


def _import(directory: Path):
    name = directory.name
    path = directory / f"{name}{'.pyd' if os.name == 'nt' else '.so'}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _exclusive(path: Path, on_wait):
    """Hold an OS lock on ``path`` (released by the OS if the holder dies); ``on_wait()`` runs if it is taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: torch's lock file in the build folder still serialises builds
        yield
        return
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _say(message: str):
    # stderr rather than a warning: it is news, not a problem, and must not turn into an error under -W error
    print(f"sklearn_lrnn: {message}", file=sys.stderr, flush=True)


def _summary(exc: Exception) -> str:
    """The line of a failed build that says why: the compiler's first error, else the first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first_error = next((line for line in lines if "error" in line.lower() and "Error building" not in line), None)
    return (first_error or (lines[0] if lines else type(exc).__name__))[:300]


def _compile(directory: Path, compiler: str):
    """Compile into ``directory`` (the caller holds the lock) and return the loaded module."""
    from torch.utils import cpp_extension

    if not cpp_extension.is_ninja_available():
        raise _Unavailable("ninja not found (torch builds extensions with it: `pip install ninja`)")
    _say(f"building the fused SMC kernels, one time, about a minute (more on busy cores), into {directory}."
         + ("" if _state.ahead else " `python -m sklearn_lrnn.build_kernels` after installing builds them ahead."))
    src = directory / "src"
    src.mkdir(parents=True, exist_ok=True)
    for f in CSRC.iterdir():
        if f.is_file():
            shutil.copyfile(f, src / f.name)
    for stale in ("lock", _FAILED):  # torch's lock file of a killed build: this process holds the real lock
        (directory / stale).unlink(missing_ok=True)
    cap, cflags, ldflags = _flags()
    t0 = time.perf_counter()
    try:
        module = cpp_extension.load(name=directory.name, sources=[str(src / s) for s in _SOURCES],
                                    extra_include_paths=[str(src)], extra_cflags=cflags, extra_ldflags=ldflags,
                                    build_directory=str(directory),
                                    verbose=os.environ.get("SKLEARN_LRNN_FUSED_VERBOSE", "") not in ("", "0"))
    except Exception as exc:
        why = _summary(exc)
        (directory / _LOG).write_text(f"{type(exc).__name__}: {exc}\n")
        (directory / _FAILED).write_text(why)
        raise _Unavailable(f"build failed: {why} (full log: {directory / _LOG})") from exc
    seconds = time.perf_counter() - t0
    (directory / _BUILT).write_text(json.dumps({"seconds": round(seconds, 1), "torch": torch.__version__,
                                                "compiler": compiler, "date": time.strftime("%Y-%m-%d %H:%M:%S")}))
    return module


def _failed_before(directory: Path) -> str:
    return (f"build failed in an earlier run: {(directory / _FAILED).read_text().strip()} (log: {directory / _LOG}); "
            "`python -m sklearn_lrnn.build_kernels` retries")


def _ensure(force: bool = False):
    """Load this install's build into ``_state``, compiling it first if needed (no warning here)."""
    st = _state
    with _lock:
        if force:
            st.module = st.failure = None
        if st.module is not None or st.failure is not None:
            return
        try:
            directory, compiler, why = _locate()
            st.directory = directory
            t0 = time.perf_counter()
            if not force and (directory / _BUILT).exists():
                st.module = _import(directory)
            elif compiler is None:
                raise _Unavailable(why)
            else:
                wait = lambda: _say("waiting for another process that is building the kernels (one time, about a "
                                    f"minute) into {directory}")
                with _exclusive(directory.parent / f"{directory.name}.lock", wait):
                    if force:
                        shutil.rmtree(directory, ignore_errors=True)
                    if (directory / _BUILT).exists():  # another process built it while this one waited
                        st.module = _import(directory)
                    elif (directory / _FAILED).exists():
                        raise _Unavailable(_failed_before(directory))
                    else:
                        st.module, st.built_here = _compile(directory, compiler), True
            st.seconds = time.perf_counter() - t0
        except _Unavailable as exc:
            st.failure = str(exc)
        except Exception as exc:  # an import error of a corrupt build, a full disk...: fall back all the same
            st.failure = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        if st.module is not None:
            # opt-in thread splitting of the transition step (off: on 2 busy cores a fork/join per step costs more)
            min_work = os.environ.get("SKLEARN_LRNN_FUSED_MIN_WORK", "").strip()
            if min_work.isdigit():
                st.module.set_min_work_per_thread(int(min_work))


def extension():
    """The compiled kernels, built first if this install has not (announced on stderr).

    Warns once per process with :class:`KernelFallbackWarning` when they cannot be used, and builds
    nothing while ``SKLEARN_LRNN_NO_FUSED`` is set.

    Returns
    -------
    module or None
        The extension module (``step``, ``smc_window``, ``plrnn_forward``, ``plrnn_backward``), or None
        where the torch fallback must run.
    """
    if _disabled():
        return None
    st = _state
    if st.module is None and st.failure is None:
        _ensure()
    if st.failure is not None and not st.warned:
        st.warned = True
        warnings.warn(f"sklearn_lrnn: the fused C++ kernels are not used ({st.failure}); fits run the pure-torch "
                      f"path, several times slower. To fix: {FIX}.", KernelFallbackWarning, stacklevel=2)
    return st.module


def available() -> bool:
    """Whether the kernels can be used (builds them on first use, see :func:`extension`)."""
    return extension() is not None


def unavailable_reason() -> str | None:
    """Why the torch fallback runs instead of the kernels, or None when they are used."""
    if _disabled():
        return "disabled by SKLEARN_LRNN_NO_FUSED"
    return None if available() else _state.failure


def build(force: bool = False) -> KernelStatus:
    """Build the kernels of this install now unless built (``python -m sklearn_lrnn.build_kernels``).

    Parameters
    ----------
    force : bool, default=False
        Rebuild from scratch even where a build exists. A recorded failed build is retried either way.

    Returns
    -------
    KernelStatus
        The status afterwards (state "fallback" with the reason when the build failed). Issues no warning
        and ignores ``SKLEARN_LRNN_NO_FUSED``, which only decides what fits use.
    """
    failed = (_locate()[0] / _FAILED).exists()
    _state.warned = _state.ahead = True  # the caller reports the returned status itself
    _ensure(force=force or failed)
    return status()


def status() -> KernelStatus:
    """Where the kernels stand for this process, without building or loading anything.

    Returns
    -------
    KernelStatus
        Its ``str`` is the line :func:`sklearn_lrnn.show_config` prints.
    """
    st = _state
    compiler = _compiler(os.environ.get("CXX", "c++"))[0]
    if _disabled():
        return KernelStatus("disabled", loaded=st.module is not None, directory=st.directory, compiler=compiler)
    if st.module is not None:
        return KernelStatus("built", True, None, st.directory, compiler, st.seconds, st.built_here)
    if st.failure is not None:
        return KernelStatus("fallback", reason=st.failure, directory=st.directory, compiler=compiler)
    directory, _, why = _locate()
    if (directory / _BUILT).exists():
        return KernelStatus("built", directory=directory, compiler=compiler)
    if compiler is None or (directory / _FAILED).exists():
        return KernelStatus("fallback", reason=why or _failed_before(directory), directory=directory,
                            compiler=compiler)
    return KernelStatus("not built", directory=directory, compiler=compiler)
