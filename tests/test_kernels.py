"""The kernels' public face (sklearn_lrnn/_engine/kernels.py): status report, fallback warning, cache key, lock.

Nothing here compiles: builds are either impossible (``CXX=/bin/false``) or replaced by a fake
``cpp_extension.load``, always into a temporary cache folder, so the suite never builds the kernels twice.
"""

import io
import os
import shutil
import subprocess
import sys
import textwrap
import types
import warnings

import numpy as np
import pytest
from torch.utils import cpp_extension

import sklearn_lrnn
from sklearn_lrnn import build_kernels
from sklearn_lrnn._engine import kernels


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process state that has not tried the kernels yet, with an empty cache folder (restored afterwards)."""
    monkeypatch.setattr(kernels, "_state", kernels._State())
    monkeypatch.setenv("SKLEARN_LRNN_KERNEL_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SKLEARN_LRNN_NO_FUSED", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def compiler(monkeypatch):
    """A working compiler and ninja (their presence only; the build itself is faked by the tests)."""
    monkeypatch.delenv("CXX", raising=False)
    if kernels._compiler("c++")[0] is None:
        pytest.skip("no C++ compiler")
    monkeypatch.setattr(cpp_extension, "is_ninja_available", lambda: True)


def test_status_and_show_config():
    st = kernels.status()
    assert st.state in ("built", "not built", "fallback", "disabled")
    assert str(st)
    out = io.StringIO()
    sklearn_lrnn.show_config(file=out)
    text = out.getvalue()
    for word in ("sklearn_lrnn", "python", "torch", "numpy", "scipy", "scikit-learn", "threads", "device",
                 "compiler", "kernel cache", *kernels.KERNELS):
        assert word in text
    # the status line, as str(status()) gives it
    assert any(line.startswith("kernels ") and line.endswith(str(st)) for line in text.splitlines())


def test_cache_key_follows_its_inputs(tmp_path, monkeypatch):
    key = kernels.cache_key()
    assert key == kernels.cache_key() and key.startswith("sklearn_lrnn_kernels_")
    for change in ({"sources": b"int main() {}"}, {"torch": "0.0.1"}, {"python": "cpython-99"}, {"flags": "-O0"},
                   {"cpu": "default" if kernels._flags()[0] != "default" else "avx2"}):
        assert kernels.cache_key(**change) != key, change
    # the compiler has its own digest: the inputs' part stays, so a build remains findable without it
    other = kernels.cache_key(compiler="clang version 99")
    assert other != key and other.rsplit("_", 1)[0] == key.rsplit("_", 1)[0]
    with pytest.raises(TypeError):
        kernels.cache_key(colour="blue")
    # the same sources elsewhere (another clone) give the same key; an edited source a new one
    copy = tmp_path / "csrc"
    shutil.copytree(kernels.CSRC, copy)
    monkeypatch.setattr(kernels, "CSRC", copy)
    assert kernels.cache_key() == key
    with open(copy / "fused_step.h", "a") as fh:
        fh.write("// edited\n")
    assert kernels.cache_key() != key


def test_cache_dir(fresh, monkeypatch):
    assert kernels.cache_dir() == fresh
    monkeypatch.delenv("SKLEARN_LRNN_KERNEL_DIR")
    # the installed copy's own folder, or the user cache where the package folder is read-only
    default = kernels.cache_dir()
    assert default == kernels.CSRC.parent / "_build" or default.parts[-2:] == ("sklearn_lrnn", "kernels")


def test_no_compiler_warns_once_and_fits(fresh, monkeypatch):
    monkeypatch.setenv("CXX", "/bin/false")
    with pytest.warns(kernels.KernelFallbackWarning, match=r"no working C\+\+ compiler.*To fix: install") as rec:
        assert kernels.extension() is None
        assert kernels.extension() is None
    assert len(rec) == 1
    st = kernels.status()
    assert st.state == "fallback" and str(st).startswith("fallback: no working C++ compiler")
    out = io.StringIO()
    sklearn_lrnn.show_config(file=out)
    assert "fallback: no working C++ compiler" in out.getvalue()
    x = np.random.default_rng(0).normal(size=(4, 12, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs do not converge
        warnings.simplefilter("error", kernels.KernelFallbackWarning)  # warned already: not again
        model = sklearn_lrnn.StochasticLowRankRNN(rank=1, max_iter=2, n_particles=4, random_state=0).fit(x)
    assert np.isfinite(model.score(x))
    assert not list(fresh.glob("*/*.so"))
    assert build_kernels.main(["--status"]) == 1


def test_build_without_compiler_finds_another_compilers_build(fresh, monkeypatch):
    monkeypatch.setenv("CXX", "/bin/false")
    earlier = fresh / (kernels.cache_key().rsplit("_", 1)[0] + "_abcdef")
    earlier.mkdir(parents=True)
    (earlier / kernels._BUILT).write_text("{}")
    st = kernels.status()
    assert st.state == "built" and st.directory == earlier and not st.loaded


def test_failed_build_announced_recorded_and_retried(fresh, compiler, monkeypatch, capsys):
    def failing(**kwargs):
        raise RuntimeError("Error building extension 'x':\n[1/4] c++ -c fused_step.cpp\n"
                           "fused_step.cpp:3:1: error: boom\nninja: build stopped: subcommand failed.")

    monkeypatch.setattr(cpp_extension, "load", failing)
    with pytest.warns(kernels.KernelFallbackWarning, match="build failed: fused_step.cpp:3:1: error: boom"):
        assert kernels.extension() is None
    assert "building the fused SMC kernels, one time, about a minute" in capsys.readouterr().err
    directory = kernels.status().directory
    assert (directory / kernels._FAILED).exists() and "error: boom" in (directory / kernels._LOG).read_text()

    # a later process falls back at once instead of failing the same build again
    def must_not_build(**kwargs):
        raise AssertionError("rebuilt a recorded failure")

    monkeypatch.setattr(cpp_extension, "load", must_not_build)
    monkeypatch.setattr(kernels, "_state", kernels._State())
    assert kernels.status().state == "fallback"
    earlier = "build failed in an earlier run: fused_step.cpp:3:1: error: boom"
    with pytest.warns(kernels.KernelFallbackWarning, match=earlier):
        assert kernels.extension() is None

    # ... and the ahead-of-time build retries it
    fake = types.SimpleNamespace(set_min_work_per_thread=lambda n: None)
    monkeypatch.setattr(cpp_extension, "load", lambda **kwargs: fake)
    st = kernels.build()
    assert st.state == "built" and st.built_here and kernels.extension() is fake
    assert (directory / kernels._BUILT).exists() and not (directory / kernels._FAILED).exists()
    assert sorted(p.name for p in (directory / "src").iterdir()) == sorted(p.name for p in kernels.CSRC.iterdir())


def test_no_fused_switch(monkeypatch):
    monkeypatch.setenv("SKLEARN_LRNN_NO_FUSED", "1")
    assert kernels.extension() is None and kernels.status().state == "disabled"
    assert kernels.unavailable_reason() == "disabled by SKLEARN_LRNN_NO_FUSED"


_WORKER = textwrap.dedent("""
    import importlib.util, sys, time
    from torch.utils import cpp_extension

    # the module alone (it needs only torch): a worker does not pay for importing the estimators
    spec = importlib.util.spec_from_file_location("kernels", sys.argv[2])
    kernels = sys.modules["kernels"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernels)

    def fake_build(**kwargs):  # stands in for the minute-long compile: counts the builds
        with open(sys.argv[1], "a") as fh:
            fh.write("built\\n")
        time.sleep(2)
        return "module"

    cpp_extension.load = fake_build
    cpp_extension.is_ninja_available = lambda: True
    kernels._import = lambda directory: "module"
    assert kernels.extension() == "module"
""")


def test_concurrent_first_use_builds_once(fresh, compiler, tmp_path):
    """Three processes start on an empty cache at once (as joblib workers do): one builds, two wait and load."""
    env = {**os.environ, "SKLEARN_LRNN_KERNEL_DIR": str(fresh)}
    count = tmp_path / "builds.txt"
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(count), kernels.__file__], env=env,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errs
    assert count.read_text().splitlines() == ["built"]
    assert sum("building the fused SMC kernels" in e for e in errs) == 1
