import os
from pathlib import Path

import pytest
import torch

# Tiny tensors: one intra-op thread is faster and keeps CI runs deterministic.
torch.set_num_threads(int(os.environ.get("SKLEARN_LRNN_TEST_THREADS", "1")))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def shared_dir():
    """The project's shared data folder (../shared); skips where a clone does not have it."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"shared data folder not found at {SHARED} (only CI and developer machines have it)")
    return SHARED
