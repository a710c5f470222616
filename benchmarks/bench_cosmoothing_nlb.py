"""Check :func:`sklearn_lrnn.metrics.bits_per_spike` against the Neural Latents Benchmark's reference.

The reference is ``nlb_tools.evaluation.bits_per_spike`` (PyPI ``nlb-tools`` 0.0.4, Pei et al., 2021).
It is not a dependency of this package, not even of the ``test`` extra: nlb-tools 0.0.4 pins
``pandas<=1.3.4`` (no wheel for Python >= 3.11, and the source build fails) and pulls in pynwb. Its
``bits_per_spike`` needs only numpy, scipy and h5py (imported at the top of ``nlb_tools.evaluation``),
so install it beside the package without its pins::

    python -m pip install --no-deps --target /tmp/nlb_site nlb-tools==0.0.4 h5py
    PYTHONPATH=/tmp/nlb_site python benchmarks/bench_cosmoothing_nlb.py

Cases: random rates and counts (3-D and 2-D), rates with exact zeros (nlb_tools puts 1e-9 in their
place), a held-out neuron that never fires (null rate 0 -> 1e-9), NaN counts (bins left out, rates
there ignored, also when NaN), good rates (the teacher's) and rates from a fitted co-smoothing model
(PCA latents). Prints both values and their difference, and the time of each implementation; exits 1
if any relative difference exceeds 1e-10.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.decomposition import PCA

from sklearn_lrnn.datasets import make_poisson_teacher
from sklearn_lrnn.metrics import CoSmoothing, bits_per_spike
from sklearn_lrnn.preprocessing import PerTimeBin

TOLERANCE = 1e-10


def _cases(rng):
    shape = (50, 40, 12)
    counts = rng.poisson(1.5, size=shape).astype(float)
    yield "random rates, 3-D", rng.gamma(2.0, 0.8, size=shape), counts
    yield "random rates, 2-D", rng.gamma(2.0, 0.8, size=shape[1:]), counts[0]
    rates = rng.gamma(2.0, 0.8, size=shape)
    rates[rng.random(shape) < 0.05] = 0.0
    yield "5% zero rates (some on bins with spikes)", rates, counts
    silent = counts.copy()
    silent[..., 3] = 0.0
    yield "a neuron that never fires", rng.gamma(2.0, 0.8, size=shape), silent
    missing = counts.copy()
    mask = rng.random(shape) < 0.1
    missing[mask] = np.nan
    rates = rng.gamma(2.0, 0.8, size=shape)
    rates[mask & (rng.random(shape) < 0.5)] = np.nan
    yield "10% NaN counts (NaN rates on half of them)", rates, missing
    data = make_poisson_teacher(n_trials=60, n_timesteps=80, n_units=30, offset_spread=0.5, random_state=1)
    held = slice(24, 30)
    yield "teacher's true rates", data.rates[40:, :, held], data.X[40:, :, held]
    model = CoSmoothing(PerTimeBin(PCA(3)), heldout_columns=range(24, 30)).fit(data.X[:40])
    yield "co-smoothing prediction (PCA latents)", model.predict(data.X[40:]), data.X[40:, :, held]


def main():
    try:
        from nlb_tools.evaluation import bits_per_spike as nlb_bits_per_spike
    except ImportError as exc:
        print(f"nlb_tools is not importable ({exc}); install it as the docstring of this script says.")
        return 2
    rng = np.random.default_rng(0)
    worst = 0.0
    print(f"{'case':45s} {'sklearn_lrnn':>16s} {'nlb_tools':>16s} {'|difference|':>13s} {'ours ms':>8s} {'nlb ms':>8s}")
    for name, rates, counts in _cases(rng):
        t0 = time.perf_counter()
        ours = bits_per_spike(rates, counts)
        t1 = time.perf_counter()
        theirs = float(nlb_bits_per_spike(rates.copy(), counts.copy()))  # nlb_tools writes 1e-9 into its rates
        t2 = time.perf_counter()
        diff = abs(ours - theirs)
        worst = max(worst, diff / max(1.0, abs(theirs)))
        print(f"{name:45s} {ours:16.12f} {theirs:16.12f} {diff:13.2e} {1e3 * (t1 - t0):8.2f} {1e3 * (t2 - t1):8.2f}")
    print(f"largest relative difference {worst:.2e} (tolerance {TOLERANCE:g})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
