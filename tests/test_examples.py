"""The gallery examples (examples/plot_*.py) run to the end without error, on the Agg backend.

They are the scripts that the Sphinx build executes; running them here catches API drift without a
docs build. ``examples/demo.py`` (``make demo``) is not a gallery script and is not run here. The six take
about 2 minutes on one free core (more on a loaded machine), so they are part of the default suite.
"""

import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("plot_*.py"))
# examples that need an optional extra beyond the test extra: skipped where it is not installed
OPTIONAL = {"plot_nwb_spikes": ("pynwb",)}  # extra "nwb"
# examples on real recordings: they read the shared data folder beside the clone (CI has it), else they would
# download the recording, which a test must not do: skipped where the folder is missing
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NEEDS_RECORDING = {"plot_reaching": "m1_reaching", "plot_hippocampus": "hippocampus_linear_track"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, monkeypatch, tmp_path):
    for module in OPTIONAL.get(path.stem, ()):
        pytest.importorskip(module, reason=f"{path.name} needs {module} (pip install sklearn_lrnn[nwb])")
    folder = NEEDS_RECORDING.get(path.stem)
    if folder and not (SHARED_DATA / folder).is_dir():
        pytest.skip(f"{path.name} needs the recording in {SHARED_DATA / folder} (only CI and developer machines "
                    "have the shared folder; users' runs download it)")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)  # anything an example writes stays out of the repository
    try:
        runpy.run_path(str(path), run_name="__main__")
        assert plt.get_fignums(), f"{path.name} made no figure"
    finally:
        plt.close("all")


def test_examples_are_found():
    assert len(EXAMPLES) >= 6, [p.name for p in EXAMPLES]
