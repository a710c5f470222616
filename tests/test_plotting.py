"""Tests of sklearn_lrnn.plotting: what is drawn, not only that drawing works."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from sklearn_lrnn import PLRNNRegressor, StochasticLowRankRNN  # noqa: E402
from sklearn_lrnn.datasets import make_lorenz63, make_low_rank_teacher  # noqa: E402
from sklearn_lrnn.metrics import power_spectra, power_spectrum_distance  # noqa: E402
from sklearn_lrnn.plotting import (  # noqa: E402
    plot_latents,
    plot_loss_curve,
    plot_phase_portrait,
    plot_power_spectra,
    plot_traces,
)

FP_LABELS = {"stable fixed point": "stable", "unstable fixed point": "unstable",
             "saddle fixed point (unstable)": "saddle"}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def teacher():
    return make_low_rank_teacher(n_trials=8, n_timesteps=40, n_units=10, random_state=0)


def _low_rank(X, rank, **kw):
    kw = {"random_state": 0, **kw}
    return StochasticLowRankRNN(rank=rank, n_units=10, max_iter=2, n_particles=4, device="cpu", **kw).fit(X)


@pytest.fixture(scope="module")
def low_rank(teacher):
    return _low_rank(teacher.X, 2)


@pytest.fixture(scope="module")
def low_rank3(teacher):
    return _low_rank(teacher.X, 3, random_state=11)  # a seed whose 2-epoch fit has stable and saddle points


@pytest.fixture(scope="module")
def lorenz():
    return make_lorenz63(400, random_state=0)


@pytest.fixture(scope="module")
def plrnn(lorenz):
    return PLRNNRegressor(n_hidden=10, sequence_length=30, batch_size=4, batches_per_epoch=3, max_iter=3,
                          device="cpu", random_state=0).fit(lorenz)


def _fixed_point_lines(ax):
    return [line for line in ax.lines if line.get_label() in FP_LABELS]


def _check_fixed_points(ax, points, stability, dims):
    """One marker per fixed point at its (projected) position; stable filled black, the rest open."""
    lines = _fixed_point_lines(ax)
    drawn = [(x, y, FP_LABELS[line.get_label()], line.get_markerfacecolor())
             for line in lines for x, y in zip(line.get_xdata(), line.get_ydata())]
    assert len(drawn) == len(points)
    for point, kind in zip(points, stability):
        matches = [d for d in drawn if np.allclose(d[:2], point[list(dims)]) and d[2] == kind]
        assert len(matches) == 1
        assert matplotlib.colors.same_color(matches[0][3], "black" if kind == "stable" else "white")


# ------------------------------------------------------------------------------------- phase portrait
def test_phase_portrait_low_rank(low_rank, teacher):
    Z = low_rank.transform(teacher.X[:3])
    ax = plot_phase_portrait(low_rank, trajectories=Z, n_grid=15)
    assert ax.get_title() == "Latent flow and fixed points"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("latent dim 0", "latent dim 1")
    assert any(isinstance(c, LineCollection) for c in ax.collections)  # the streamplot
    assert len(ax.figure.axes) == 2  # axes and the step-size colour bar
    _check_fixed_points(ax, low_rank.fixed_points_.points, low_rank.fixed_points_.stability, (0, 1))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "trajectory" in legend
    traj = [line for line in ax.lines if line.get_color() == "tab:red"]
    assert len(traj) == 3
    np.testing.assert_allclose(traj[1].get_xydata(), Z[1][:, :2])
    # default limits contain every fixed point and trajectory
    for lo_hi, values in zip((ax.get_xlim(), ax.get_ylim()), (Z[..., 0], Z[..., 1])):
        assert lo_hi[0] < values.min() and values.max() < lo_hi[1]


def test_phase_portrait_rank3_slices_plane_and_both_fill_styles(low_rank3):
    stab = low_rank3.fixed_points_.stability
    assert {"stable"} < set(stab)  # this fit has a stable and a non-stable fixed point: both styles drawn
    ax = plot_phase_portrait(low_rank3, dims=(0, 2), limits=[(-3, 3), (-2, 2)])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("latent dim 0", "latent dim 2")
    assert ax.get_xlim() == (-3, 3) and ax.get_ylim() == (-2, 2)
    assert "fixed points' mean" in ax.get_title()
    _check_fixed_points(ax, low_rank3.fixed_points_.points, stab, (0, 2))
    ax = plot_phase_portrait(low_rank3, fixed_points=False)
    assert _fixed_point_lines(ax) == []


def test_phase_portrait_rank1_draws_the_map(teacher):
    model = _low_rank(teacher.X, 1)
    ax = plot_phase_portrait(model, limits=(-2, 2))
    (curve,) = [line for line in ax.lines if line.get_label() == "F(z) - z"]
    z = curve.get_xdata()
    m, n, h, a = model.left_vectors_, model.right_vectors_, model.bias_, model.decay_
    expected = a * z + np.maximum(z[:, None] @ m.T - h, 0) @ n.T[:, 0] - z
    np.testing.assert_allclose(curve.get_ydata(), expected, atol=1e-10)
    assert ax.get_ylabel() == "one-step change F(z) - z"
    points = model.fixed_points_.points
    _check_fixed_points(ax, np.column_stack([points[:, 0], np.zeros(len(points))]), model.fixed_points_.stability,
                        (0, 1))


def test_phase_portrait_plrnn(plrnn, lorenz):
    Z = plrnn.transform(lorenz[:100])
    ax = plot_phase_portrait(plrnn, dims=(1, 2), trajectories=Z, n_grid=10)
    fps = plrnn.fixed_points_
    _check_fixed_points(ax, fps.points, fps.stability, (1, 2))
    (traj,) = [line for line in ax.lines if line.get_label() == "trajectory"]
    np.testing.assert_allclose(traj.get_xydata(), Z[:, 1:3])
    assert any(isinstance(c, LineCollection) for c in ax.collections)


def test_phase_portrait_bad_input(low_rank, teacher):
    with pytest.raises(NotFittedError):
        plot_phase_portrait(StochasticLowRankRNN())
    with pytest.raises(ValueError, match="dims"):
        plot_phase_portrait(low_rank, dims=(0, 0))
    with pytest.raises(ValueError, match="dims"):
        plot_phase_portrait(low_rank, dims=(0, 2))
    with pytest.raises(ValueError, match="trajectories has 3 features"):
        plot_phase_portrait(low_rank, trajectories=np.zeros((2, 10, 3)))
    with pytest.raises(ValueError, match="limits"):
        plot_phase_portrait(low_rank, limits=[(1, 0), (0, 1)])
    with pytest.raises(ValueError, match="without inputs"):
        plot_phase_portrait(low_rank, u=[1.0])
    with pytest.raises(ValueError, match="n_grid"):
        plot_phase_portrait(low_rank, n_grid=1)


# ------------------------------------------------------------------------------------- traces
def test_traces_small_multiples(teacher):
    X, X_gen = teacher.X, teacher.X[::-1]
    axes = plot_traces(X, X_gen, channels=[0, 4], n_timesteps=25, trial=1, dt=0.01)
    assert len(axes) == 2
    for ax, c in zip(axes, [0, 4]):
        data, gen = ax.lines
        np.testing.assert_allclose(data.get_ydata(), X[1, :25, c])
        np.testing.assert_allclose(gen.get_ydata(), X_gen[1, :25, c])
        np.testing.assert_allclose(data.get_xdata(), np.arange(25) * 0.01)
        assert ax.get_ylabel() == f"channel {c}"
    assert axes[-1].get_xlabel() == "time (s)"
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["data", "generated"]
    assert "trial 1" in axes[0].get_title()


def test_traces_default_channels_list_input_and_stacked_axes(teacher):
    axes = plot_traces(list(teacher.X))
    assert len(axes) == 3 and all(len(ax.lines) == 1 for ax in axes)
    assert axes[-1].get_xlabel() == "time (steps)"
    _, ax = plt.subplots()
    assert plot_traces(teacher.X[0], teacher.X[1], ax=ax, channels=[0, 1, 2, 3]) is ax
    assert len(ax.lines) == 8
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"channel {c}" for c in range(4)]


def test_traces_bad_input(teacher):
    with pytest.raises(ValueError, match="X_gen has 3 channels but X_true has 10"):
        plot_traces(teacher.X, teacher.X[..., :3])
    with pytest.raises(ValueError, match="channels"):
        plot_traces(teacher.X, channels=[10])
    with pytest.raises(ValueError, match="trial"):
        plot_traces(teacher.X, teacher.X[:2], trial=5)
    with pytest.raises(ValueError, match="1-D"):
        plot_traces(np.zeros(10))


# ------------------------------------------------------------------------------------- spectra
def test_power_spectra_match_metrics(teacher):
    X, X_gen = teacher.X, teacher.X[:, ::-1]
    ax = plot_power_spectra(X, X_gen, channels=[1, 2], fs=50.0, smoothing_sigma=2)
    data, gen = ax.lines
    np.testing.assert_allclose(data.get_ydata(), power_spectra(X[..., [1, 2]], smoothing_sigma=2).mean(1))
    np.testing.assert_allclose(gen.get_ydata(), power_spectra(X_gen[..., [1, 2]], smoothing_sigma=2).mean(1))
    np.testing.assert_allclose(data.get_xdata(), np.fft.rfftfreq(40, d=1 / 50.0))
    d_h = power_spectrum_distance(X[..., [1, 2]], X_gen[..., [1, 2]], smoothing_sigma=2)
    assert f"D_H = {d_h:.3f}" in ax.get_title()
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "frequency (Hz)"


def test_power_spectra_single_set_and_bad_input(lorenz, teacher):
    ax = plot_power_spectra(lorenz)
    (line,) = ax.lines
    np.testing.assert_allclose(line.get_ydata(), power_spectra(lorenz).mean(1))
    assert "D_H" not in ax.get_title() and ax.get_xlabel() == "frequency (cycles / time step)"
    with pytest.raises(ValueError, match="channels"):
        plot_power_spectra(lorenz, lorenz[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        plot_power_spectra(np.full((50, 2), np.nan))


# ------------------------------------------------------------------------------------- loss curve
def test_loss_curves(low_rank, plrnn, teacher):
    ax = plot_loss_curve(low_rank)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), low_rank.loss_curve_)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), np.arange(1, len(low_rank.loss_curve_) + 1))
    assert "negative ELBO per time bin" in ax.get_ylabel() and ax.get_xlabel() == "epoch"
    assert len(ax.lines) == 1  # no validation curve without early stopping
    ax = plot_loss_curve(plrnn)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), plrnn.loss_curve_)
    assert "MSE" in ax.get_ylabel()
    early = _low_rank(teacher.X, 2, early_stopping=True, validation_fraction=0.25)
    ax = plot_loss_curve(early)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), early.validation_loss_curve_)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training", "validation"]
    with pytest.raises(NotFittedError):
        plot_loss_curve(PLRNNRegressor())


# ------------------------------------------------------------------------------------- latents
def test_latents_categorical_and_continuous(teacher):
    Z = teacher.Z
    conditions = np.array(["a", "b", "c", "a", "b", "c", "a", "b"])
    ax = plot_latents(Z, conditions)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    collections = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert [len(c.get_segments()) for c in collections] == [3, 3, 2]
    starts = np.concatenate([c.get_offsets() for c in ax.collections if not isinstance(c, LineCollection)])
    np.testing.assert_allclose(np.sort(starts, axis=0), np.sort(Z[:, 0, :], axis=0))
    ax = plot_latents(list(Z), np.linspace(0, 1, len(Z)), dims=(1, 0))
    assert len(ax.figure.axes) == 2  # colour bar for a continuous condition
    assert ax.get_legend() is None and ax.get_xlabel() == "latent dim 1"
    np.testing.assert_allclose(ax.collections[0].get_segments()[2], Z[2][:, [1, 0]])


def test_latents_one_dim_and_bad_input(teacher):
    ax = plot_latents(teacher.Z[..., :1])
    assert ax.get_xlabel() == "time step"
    np.testing.assert_allclose(ax.collections[0].get_segments()[0][:, 1], teacher.Z[0, :, 0])
    with pytest.raises(ValueError, match="one condition per trial"):
        plot_latents(teacher.Z, labels=[0, 1])
    with pytest.raises(ValueError, match="dims"):
        plot_latents(teacher.Z, dims=(0, 2))
    with pytest.raises(ValueError, match="1-D"):
        plot_latents(np.zeros(5))


# ------------------------------------------------------------------------------ the package itself
def test_import_needs_no_matplotlib_and_a_call_says_how_to_get_it(monkeypatch):
    import subprocess
    import sys

    import sklearn_lrnn.plotting as plotting

    code = "import sys, sklearn_lrnn.plotting; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)  # matplotlib is imported only when drawing
    assert sorted(plotting.__all__) == sorted(n for n in dir(plotting) if n.startswith("plot_"))
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # as if matplotlib were not installed
    with pytest.raises(ImportError, match=r"needs matplotlib: pip install 'sklearn_lrnn\[plots\]'"):
        plot_traces(np.zeros((20, 2)))
