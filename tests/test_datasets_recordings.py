"""The ``fetch_*`` loaders of real recordings, their converters, and ``bin_running_periods``.

Tests on the real files read the shared data folder beside the clone (``../shared/data``) and skip without
it. Downloads are never attempted: the opener is replaced, either by one that fails (the offline message)
or by one that serves small synthetic files in each source's format (download, checksum, conversion).
"""

import hashlib
import io
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from scipy.io import savemat
from scipy.signal.windows import hann

from sklearn_lrnn.datasets import (bin_running_periods, fetch_eeg_resting, fetch_fmri_rois, fetch_linear_track,
                                   fetch_m1_reaching, get_data_home, running_speed)
from sklearn_lrnn.datasets import _converters as conv
from sklearn_lrnn.datasets import _recordings as rec

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FETCHERS = {"linear_track": fetch_linear_track, "m1_reaching": fetch_m1_reaching, "fmri": fetch_fmri_rois,
            "eeg": fetch_eeg_resting}


def shared_data() -> Path:
    """The shared data folder, or skip the test."""
    if not (SHARED / "hippocampus_linear_track" / "linear_track.npz").is_file():
        pytest.skip("needs ../shared/data (CI has it; a user's clone does not)")
    return SHARED


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------------------------- data home


def test_get_data_home_argument_env_default(monkeypatch, tmp_path):
    monkeypatch.delenv("SKLEARN_LRNN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == str(tmp_path / "sklearn_lrnn_data")
    monkeypatch.setenv("SKLEARN_LRNN_DATA", str(tmp_path / "env"))
    assert get_data_home() == str(tmp_path / "env")
    assert get_data_home(tmp_path / "arg") == str(tmp_path / "arg")
    assert get_data_home("~/x") == str(tmp_path / "x")
    assert not (tmp_path / "env").exists()  # nothing is created by asking


# ------------------------------------------------------------------------------------- the shared recordings


def test_shared_files_have_the_published_checksums():
    home = shared_data()
    for r in rec.RECORDINGS.values():
        assert rec._sha256(home / r["folder"] / r["file"]) == r["sha256"]


def test_fetch_linear_track_shared():
    b = fetch_linear_track(data_home=shared_data())
    assert len(b.spike_times) == 31 and b.unit_tetrode.shape == (31,)
    assert sum(len(t) for t in b.spike_times) == 28829
    assert all(t.dtype == np.float64 and np.all(np.diff(t) >= 0) for t in b.spike_times)
    assert b.position_time.shape == b.position.shape == b.position_y.shape == b.speed.shape == (118965,)
    assert b.position_unit == "pixels" and b.bin_size is None
    assert 4397 < b.spike_times[0][0] and max(t[-1] for t in b.spike_times) < 6366
    assert np.all(b.speed >= 0) and 50 < np.percentile(b.speed, 95) < 300  # pixels/s while running
    assert "nelpy" in b.citation and b.citation in b.DESCR and "pixel" in b.DESCR


def test_fetch_m1_reaching_shared():
    b = fetch_m1_reaching(data_home=shared_data())
    assert b.spike_counts.shape == (15536, 171) and b.spike_counts.dtype == np.float64
    assert np.all(b.spike_counts == np.round(b.spike_counts)) and b.spike_counts.min() >= 0
    assert b.time.shape == (15536,) and np.allclose(np.diff(b.time), 0.05, atol=1e-3)  # times rounded to ms
    assert b.hand_position.shape == b.hand_velocity.shape == (15536, 2) and b.bin_size == 0.05
    assert "Stevenson" in b.citation and b.citation in b.DESCR
    X, y = fetch_m1_reaching(data_home=shared_data(), return_X_y=True)
    assert np.array_equal(X, b.spike_counts) and np.array_equal(y, b.hand_velocity)


def test_fetch_fmri_rois_shared():
    b = fetch_fmri_rois(data_home=shared_data())
    assert b.data.shape == (250, 31) and b.data.dtype == np.float64 and b.repetition_time == 1.89
    assert b.feature_names[:4] == ["WM", "Vent", "Brain", "LCau"] and b.feature_names[-1] == "RPrec"
    assert "nitime" in b.citation.lower() and b.citation in b.DESCR and b.frame is None
    pd = pytest.importorskip("pandas")
    frame = fetch_fmri_rois(data_home=shared_data(), as_frame=True)
    assert isinstance(frame.data, pd.DataFrame) and list(frame.data.columns) == b.feature_names
    data, target = fetch_fmri_rois(data_home=shared_data(), return_X_y=True)
    assert target is None and np.array_equal(data, b.data)


def test_fetch_eeg_resting_shared():
    b = fetch_eeg_resting(data_home=shared_data())
    assert b.data.shape == (9640, 64) and b.data.dtype == np.float32 and b.sampling_rate == 160
    assert len(b.feature_names) == 64 and b.feature_names[10] == "Cz"
    assert np.allclose(b.data.std(0), 1, atol=1e-4)
    assert "Schalk" in b.citation and b.citation in b.DESCR
    assert "z-score" in b.DESCR and "Hann" in b.DESCR


def test_checksum_mismatch_names_the_file(tmp_path):
    home = shared_data()
    dest = tmp_path / "m1_reaching" / "m1_reaching.npz"
    dest.parent.mkdir()
    data = bytearray((home / "m1_reaching" / "m1_reaching.npz").read_bytes())
    data[-100] ^= 1
    dest.write_bytes(bytes(data))
    with pytest.raises(OSError, match=r"m1_reaching\.npz .*SHA-256 .*expected 41095826"):
        fetch_m1_reaching(data_home=tmp_path)


def test_checksum_mismatch_without_shared_data(tmp_path):
    (tmp_path / "fmri").mkdir()
    (tmp_path / "fmri" / "fmri_timeseries.csv").write_text('"A","B"\n1,2\n')
    with pytest.raises(OSError, match=r"fmri_timeseries\.csv .*corrupted"):
        fetch_fmri_rois(data_home=tmp_path, download_if_missing=False)


# ---------------------------------------------------------------------------------------- missing / offline


@pytest.mark.parametrize("key", sorted(FETCHERS))
def test_offline_error_says_where_to_put_the_file(key, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    r = rec.RECORDINGS[key]
    with pytest.raises(OSError) as info:
        FETCHERS[key](data_home=tmp_path)
    msg = str(info.value)
    assert str(tmp_path / r["folder"] / r["file"]) in msg and "no network" in msg
    assert r["sources"][0][1] in msg and "data_home" in msg and "SKLEARN_LRNN_DATA" in msg
    assert not (tmp_path / r["folder"] / r["file"]).exists()
    with pytest.raises(FileNotFoundError, match="download_if_missing=False"):
        FETCHERS[key](data_home=tmp_path, download_if_missing=False)


# ------------------------------------------------------------------- synthetic files in the sources' formats


def _matclust(path, units_by_tetrode):
    """A Frank-lab MatClust spikes.mat: spikes{day}{epoch}{tetrode}{unit}.time, empty cells allowed."""
    tetrodes = np.empty((1, len(units_by_tetrode)), dtype=object)
    for i, units in enumerate(units_by_tetrode):
        if units is None:
            tetrodes[0, i] = np.zeros((1, 0))
            continue
        cells = np.empty((1, len(units)), dtype=object)
        for j, times in enumerate(units):
            if times is None:
                cells[0, j] = np.zeros((0, 0))
            else:
                s = np.empty((1, 1), dtype=[("time", "O"), ("timerange", "O"), ("meanrate", "O")])
                s[0, 0] = (np.asarray(times, float).reshape(-1, 1), np.array([[0.0, 1.0]]), np.array([[1.0]]))
                cells[0, j] = s
        tetrodes[0, i] = cells
    epoch = np.empty((1, 1), dtype=object)
    epoch[0, 0] = tetrodes
    day = np.empty((1, 1), dtype=object)
    day[0, 0] = epoch
    savemat(path, {"spikes": day})


def _tracking(path, ticks, x, y, rate=30000):
    header = (b"<Start settings>\nthreshold: 199\ndark: 0\nclockrate: %d\ncamera resolution: 640x480\n"
              b"pixel scale: 0 pix/cm\nFields: <time uint32><xloc uint16><yloc uint16><xloc2 uint16>"
              b"<yloc2 uint16>\n<End settings>\n" % rate)
    rec_dtype = np.dtype([("time", "<u4"), ("xloc", "<u2"), ("yloc", "<u2"), ("xloc2", "<u2"), ("yloc2", "<u2")])
    r = np.zeros(len(ticks), rec_dtype)
    r["time"], r["xloc"], r["yloc"] = ticks, x, y
    Path(path).write_bytes(header + r.tobytes())


def _edf(path, digital, *, fs, pmin=-100.0, pmax=100.0, dmin=-2048, dmax=2047):
    """An EDF+ file: signals (n_records * fs, n_signals) of int16, plus an annotation signal."""
    n, ns = digital.shape
    n_records = n // fs
    labels = [f"S{i}." for i in range(ns)] + ["EDF Annotations"]
    n_sig = ns + 1
    per = [fs] * ns + [8]

    def col(values, width):
        return b"".join(str(v).ljust(width)[:width].encode() for v in values)

    head = (b"0".ljust(8) + b"X".ljust(80) + b"Startdate X".ljust(80) + b"01.01.01" + b"00.00.00"
            + str(256 * (n_sig + 1)).ljust(8).encode() + b"EDF+C".ljust(44) + str(n_records).ljust(8).encode()
            + b"1".ljust(8) + str(n_sig).ljust(4).encode())
    head += col(labels, 16) + col([""] * n_sig, 80) + col(["uV"] * n_sig, 8)
    head += col([pmin] * n_sig, 8) + col([pmax] * n_sig, 8) + col([dmin] * n_sig, 8) + col([dmax] * n_sig, 8)
    head += col([""] * n_sig, 80) + col(per, 8) + col([""] * n_sig, 32)
    body = b""
    for r in range(n_records):
        for i in range(ns):
            body += digital[r * fs:(r + 1) * fs, i].astype("<i2").tobytes()
        body += (b"+%d\x14\x14\x00" % r).ljust(16, b"\x00")
    Path(path).write_bytes(head + body)


def test_read_matclust_and_tracking(tmp_path):
    _matclust(tmp_path / "spikes.mat", [[[1.0, 2.5], None, [0.5]], None, [[3.0, 4.0, 5.0], []]])
    units, tetrode = conv.read_matclust_spikes(tmp_path / "spikes.mat")
    assert [list(u) for u in units] == [[1.0, 2.5], [0.5], [3.0, 4.0, 5.0]]  # empty cell and unit skipped
    assert list(tetrode) == [0, 0, 2]
    _tracking(tmp_path / "t.videoPositionTracking", [30000, 30500, 31000], [10, 20, 30], [5, 6, 7])
    t, x, y = conv.read_video_tracking(tmp_path / "t.videoPositionTracking")
    assert np.allclose(t, [1.0, 30500 / 30000, 31000 / 30000]) and list(x) == [10, 20, 30] and list(y) == [5, 6, 7]
    arrays = conv.convert_linear_track(tmp_path / "spikes.mat", tmp_path / "t.videoPositionTracking")
    assert list(arrays["spike_times"]) == [0.5, 1.0, 2.5, 3.0, 4.0, 5.0]
    assert list(arrays["spike_units"]) == [1, 0, 0, 2, 2, 2] and arrays["spike_units"].dtype == np.int32
    assert _sha(conv.npz_bytes(arrays)) == _sha(conv.npz_bytes(arrays))  # reproducible bytes


def test_read_edf_and_eeg_preprocessing(tmp_path):
    rng = np.random.default_rng(0)
    digital = rng.integers(-2048, 2048, size=(3 * 16, 2))
    _edf(tmp_path / "x.edf", digital, fs=16)
    signals, labels, rates = conv.read_edf(tmp_path / "x.edf")
    assert labels == ["S0.", "S1."] and list(rates) == [16, 16]
    assert np.allclose(signals, (digital + 2048) * 200 / 4095 - 100)
    # the preprocessing is a causal Hann(15) sum between two z-scorings
    x = rng.standard_normal((200, 3))
    out = conv.preprocess_eeg(x)
    z = (x - x.mean(0)) / x.std(0)
    w = hann(15)
    causal = np.stack([np.convolve(z[:, c], w)[:200] for c in range(3)], 1)
    assert out.dtype == np.float32
    smoothed = ndimage.convolve1d(z, w, axis=0, mode="mirror", origin=-7)
    assert np.allclose(smoothed[14:], causal[14:])  # away from the mirrored start: the causal window
    assert np.allclose(out, (smoothed - smoothed.mean(0)) / smoothed.std(0), atol=1e-5)


def test_convert_m1(tmp_path):
    rng = np.random.default_rng(1)
    spikes = rng.integers(0, 5, size=(4, 30)).astype(np.uint8)
    pos, vel = rng.standard_normal((3, 30)), rng.standard_normal((3, 30))
    pos[2] = vel[2] = 0
    savemat(tmp_path / "m1.mat", {"time": np.arange(30)[None] * 0.05, "spikes": spikes, "handPos": pos,
                                  "handVel": vel})
    a = conv.convert_m1_reaching(tmp_path / "m1.mat")
    assert np.array_equal(a["spike_counts"], spikes.T) and a["spike_counts"].dtype == np.uint8
    assert np.array_equal(a["hand_position"], pos[:2].T) and np.array_equal(a["hand_velocity"], vel[:2].T)


def _serve(monkeypatch, files):
    """Replace the opener by one serving ``files`` (name -> bytes) and pin their checksums."""
    served = []

    def opener(request, timeout=None):
        name = request.full_url.rsplit("/", 1)[1]
        served.append(name)
        return io.BytesIO(files[name])

    monkeypatch.setattr(urllib.request, "urlopen", opener)
    for key, r in rec.RECORDINGS.items():
        sources = [(n, u, _sha(files[n]) if n in files else s) for n, u, s in r["sources"]]
        monkeypatch.setitem(rec.RECORDINGS, key, dict(r, sources=sources))
    return served


def test_download_converts_synthetic_sources(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    _matclust(tmp_path / "spikes.mat", [[[1.0, 2.0], [1.5]]])
    _tracking(tmp_path / "trk", np.arange(60) * 500, np.linspace(100, 400, 60).astype(int), np.full(60, 50))
    savemat(tmp_path / "m1.mat", {"time": np.arange(10)[None] * 0.05, "spikes": np.ones((3, 10), np.uint8),
                                  "handPos": np.zeros((3, 10)), "handVel": np.zeros((3, 10))})
    _edf(tmp_path / "eeg.edf", rng.integers(-2048, 2048, size=(2 * 160, 64)), fs=160)
    files = {"spikes.mat": (tmp_path / "spikes.mat").read_bytes(),
             "trajectory.videoPositionTracking": (tmp_path / "trk").read_bytes(),
             "m1_stevenson_2011.mat": (tmp_path / "m1.mat").read_bytes(),
             "fmri_timeseries.csv": b'"A","B"\n1,2\n3,4\n',
             "S001R01.edf": (tmp_path / "eeg.edf").read_bytes()}
    served = _serve(monkeypatch, files)
    home = tmp_path / "home"
    lt = fetch_linear_track(data_home=home)
    assert [list(t) for t in lt.spike_times] == [[1.0, 2.0], [1.5]] and lt.position.shape == (60,)
    assert fetch_m1_reaching(data_home=home).spike_counts.shape == (10, 3)
    f = fetch_fmri_rois(data_home=home)
    assert f.feature_names == ["A", "B"] and f.data.shape == (2, 2)
    e = fetch_eeg_resting(data_home=home)
    assert e.data.shape == (320, 64) and e.data.dtype == np.float32
    assert len(served) == 5
    # converted files differ from the published ones: their own sum is recorded beside them and checked
    side = home / "eeg" / "eeg_s001r01_smoothed.npy.sha256"
    assert side.read_text().split()[0] == rec._sha256(home / "eeg" / "eeg_s001r01_smoothed.npy")
    fetch_eeg_resting(data_home=home)  # no second download: the file is there and checks
    assert len(served) == 5
    with open(home / "eeg" / "eeg_s001r01_smoothed.npy", "r+b") as fh:
        fh.seek(200)
        fh.write(b"\x01")
    with pytest.raises(OSError, match="eeg_s001r01_smoothed.npy"):
        fetch_eeg_resting(data_home=home)
    # a source already in <folder>/source is used, and checked, without downloading
    os.remove(home / "fmri" / "fmri_timeseries.csv")
    (home / "fmri" / "fmri_timeseries.csv.sha256").unlink()
    fetch_fmri_rois(data_home=home)
    assert len(served) == 5


def test_download_with_wrong_checksum_writes_nothing(tmp_path, monkeypatch):
    _serve(monkeypatch, {"fmri_timeseries.csv": b'"A"\n1\n'})
    monkeypatch.setitem(rec.RECORDINGS, "fmri", dict(rec.RECORDINGS["fmri"], sources=[
        ("fmri_timeseries.csv", "https://example.org/fmri_timeseries.csv", "0" * 64)]))
    with pytest.raises(OSError, match="https://example.org/fmri_timeseries.csv has SHA-256 .* expected 0000"):
        fetch_fmri_rois(data_home=tmp_path)
    assert not (tmp_path / "fmri" / "fmri_timeseries.csv").exists()
    assert not (tmp_path / "fmri" / "source" / "fmri_timeseries.csv").exists()


# -------------------------------------------------------------------------------------- bin_running_periods


def _synthetic_laps(n_laps=6, speed=50.0, length=100.0, pause=1.0, fs=60.0, seed=0):
    """Laps 0 -> length -> 0 ... at constant speed with pauses at the ends; a place cell at length / 2."""
    t, x, t0, crossings = [], [], 0.0, []
    run = length / speed
    for k in range(n_laps):
        seg = np.arange(0, run + pause, 1 / fs)
        pos = np.clip(seg * speed, 0, length)
        pos = pos if k % 2 == 0 else length - pos
        t.append(t0 + seg)
        x.append(pos)
        crossings.append(t0 + run / 2)  # mid-track
        t0 += run + pause
    t, x = np.concatenate(t), np.concatenate(x)
    rng = np.random.default_rng(seed)
    place = np.array(crossings)  # one spike as the animal crosses the middle
    noise = np.sort(rng.uniform(0, t[-1], 40))
    return [place, noise, np.array([])], t, x


def test_bin_running_periods_synthetic_laps():
    spikes, t, x = _synthetic_laps()
    b = bin_running_periods(spikes, t, x, bin_size=0.1, speed_threshold=10.0, min_duration=0.5)
    assert len(b.X) == 6 and b.n_laps == 6
    assert list(b.direction) == [1, -1, 1, -1, 1, -1] and list(b.lap_index) == list(range(6))
    assert all(X.shape[1] == 3 and X.dtype == np.float64 for X in b.X)
    assert sum(X[:, 0].sum() for X in b.X) == 6  # each lap's place-cell spike, once
    for X, pos, times, spd, d in zip(b.X, b.position, b.times, b.speed, b.direction):
        assert len(pos) == len(times) == len(spd) == len(X)
        assert np.all(np.diff(pos) * d > 0) and np.allclose(np.diff(times), 0.1)
        assert np.all(spd > 10) and np.median(spd) == pytest.approx(50, rel=0.05)
    assert np.all(b.t_stop > b.t_start) and b.track_ends[1] - b.track_ends[0] > 90
    # runs: the same periods here; flat (times, unit ids) input gives the same counts
    r = bin_running_periods(spikes, t, x, split="run", min_duration=0.5)
    assert len(r.X) == 6 and list(r.direction) == list(b.direction)
    flat = np.concatenate(spikes[:2])
    ids = np.r_[np.zeros(6, int), np.ones(40, int)]
    order = np.argsort(flat, kind="stable")
    f = bin_running_periods(flat[order], t, x, spike_units=ids[order], n_units=3, min_duration=0.5)
    assert all(np.array_equal(a, c) for a, c in zip(f.X, b.X))


def test_bin_running_periods_shared_recording():
    rec_ = fetch_linear_track(data_home=shared_data())
    b = bin_running_periods(rec_.spike_times, rec_.position_time, rec_.position)
    lengths = np.array([len(X) for X in b.X])
    counts = np.concatenate(b.X)
    assert 40 <= len(b.X) <= 60 and b.n_laps >= len(b.X)  # 48 laps, 48 trials at the defaults
    assert counts.shape[1] == 31 and 1000 <= lengths.sum() <= 2000  # 1,272 bins of 100 ms
    assert (counts.sum(1) == 0).mean() < 0.15  # 6.4% of bins without a spike
    assert set(np.unique(b.direction)) == {-1, 1} and abs(int(b.direction.sum())) <= 2
    assert all(t[0] >= 4397 and t[-1] <= 6380 for t in b.times)


def test_running_speed_ignores_a_repeated_frame():
    t = np.r_[np.arange(0, 1, 0.01), 0.99, np.arange(1.0, 2, 0.01)]
    t.sort()
    speed = running_speed(t, 20 * t)
    assert np.allclose(speed[60:-60], 20, rtol=1e-6)  # away from the ends; the repeat is at 100


_S, _T, _X = _synthetic_laps()


@pytest.mark.parametrize("kwargs, match", [
    (dict(spike_times=[np.array([2.0, 1.0])]), r"spike_times\[0\] is not sorted"),
    (dict(spike_times=[np.array([1.0, np.nan])]), r"spike_times\[0\] holds a non-finite"),
    (dict(spike_times=np.array([1.0, 2.0]), spike_units=np.array([0, 3]), n_units=2),
     r"spike_units\[1\] = 3 is out of range"),
    (dict(spike_times=np.array([1.0, 2.0]), spike_units=np.array([0, -1])), r"out of range"),
    (dict(spike_times=np.array([1.0, 2.0]), spike_units=np.array([0])), r"same length"),
    (dict(position=_X[:-1]), r"position has \d+ samples but position_time has \d+"),
    (dict(position_time=_T[::-1].copy()), r"position_time must be increasing"),
    (dict(position=np.r_[np.nan, _X[1:]]), r"position holds a non-finite"),
    (dict(bin_size=1e4), r"bin_size=10000.0 s is longer than the recording"),
    (dict(bin_size=0.0), r"bin_size must be a finite number > 0"),
    (dict(speed_threshold=-1.0), r"speed_threshold must be a finite number >= 0"),
    (dict(speed_threshold=1e6), r"no running period found"),
    (dict(min_duration=1e3), r"no running period found"),
    (dict(split="trial"), r"split must be one of \('lap', 'run'\)"),
    (dict(end_zone=0.5), r"end_zone must be a fraction"),
])
def test_bin_running_periods_bad_inputs(kwargs, match):
    args = dict(spike_times=_S, position_time=_T, position=_X)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        bin_running_periods(args.pop("spike_times"), args.pop("position_time"), args.pop("position"), **args)

