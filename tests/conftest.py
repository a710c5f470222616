import importlib.util
import os
from pathlib import Path

import pytest
import torch

# Tiny tensors: one intra-op thread is faster and keeps CI runs deterministic.
torch.set_num_threads(int(os.environ.get("SKLEARN_LRNN_TEST_THREADS", "1")))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def shared_dir():
    """The data folder beside the clone (``SHARED``; not part of the repository); skips where it is missing."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"shared data folder not found at {SHARED} (only CI and developer machines have it)")
    return SHARED


def _benchmark_script(name):
    """``benchmarks/<name>.py`` loaded as a module."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def eeg_script():
    """``benchmarks/eeg_reproduction.py`` (its helpers are what the EEG tests check)."""
    return _benchmark_script("eeg_reproduction")


@pytest.fixture(scope="module")
def defaults_script():
    """``benchmarks/defaults.py``: the default-suite recovery tests are small rows of it."""
    return _benchmark_script("defaults")
