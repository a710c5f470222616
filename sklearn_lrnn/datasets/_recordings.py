"""Loaders (``fetch_*``) for four public neural recordings, in scikit-learn's ``fetch_*`` style.

Each recording is one prepared file under ``<data_home>/<folder>/``, the layout of the project's shared data
folder (so ``data_home="../shared/data"`` reads those). A missing file is downloaded from its public source
(standard library only), checked against a pinned SHA-256, and converted to the prepared format; every file
read is checked against its SHA-256 too.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request

import numpy as np
from sklearn.utils import Bunch

from . import _converters as conv
from ._binning import running_speed
from ._descr import CITATIONS, DESCRS, EEG_CHANNELS

__all__ = ["get_data_home", "fetch_linear_track", "fetch_m1_reaching", "fetch_fmri_rois", "fetch_eeg_resting"]

_ENV = "SKLEARN_LRNN_DATA"
_NELPY = "https://raw.githubusercontent.com/nelpy/example-data/099548c0608ffaa92933c66346c0d96f05a18622/linear-track/"
_SPYKES = "https://raw.githubusercontent.com/KordingLab/spykesML/ff2b1830ae07909e5f1a0811445ca3fd5732dc6f/data/"
_NITIME = "https://raw.githubusercontent.com/nipy/nitime/7f117d6171e00755130fd2772e298477498eca87/nitime/data/"
_PHYSIONET = "https://physionet.org/files/eegmmidb/1.0.0/S001/"

# Prepared file (its published SHA-256) and the public source files it is made from (URL, SHA-256). The
# sources' sums are those of the files at the pinned commits (S001R01.edf: PhysioNet's SHA256SUMS.txt).
RECORDINGS = {
    "linear_track": dict(
        folder="hippocampus_linear_track", file="linear_track.npz",
        sha256="08fccbb9005afa81f74b06a41086ce683486cc8db028a49fc744b6a7ab0f2c92",
        sources=[("spikes.mat", _NELPY + "spikes.mat",
                  "615b05a9228a5eaea7f99d5fc5b11848a4d94fc154104612410c887875b65bc7"),
                 ("trajectory.videoPositionTracking", _NELPY + "trajectory.videoPositionTracking",
                  "10a883302c50e26d5f659ac4ee08d8901f7881c71f6800cd56d999a620b31cb5")]),
    "m1_reaching": dict(
        folder="m1_reaching", file="m1_reaching.npz",
        sha256="41095826f88495edb8b8e0cea1f8a0d5b99597eb54d87e8bbef3ee7c891ecaa9",
        sources=[("m1_stevenson_2011.mat", _SPYKES + "m1_stevenson_2011.mat",
                  "cb1af830e34f5094e5c542ad4adfaca66dea05514680940016173b35fa6aad94")]),
    "fmri": dict(
        folder="fmri", file="fmri_timeseries.csv",
        sha256="b272a7a8e1981d1b4542e739e5244be41c1bfee8a8d3cd224b87605ec72c2ffd",
        sources=[("fmri_timeseries.csv", _NITIME + "fmri_timeseries.csv",
                  "b272a7a8e1981d1b4542e739e5244be41c1bfee8a8d3cd224b87605ec72c2ffd")]),
    "eeg": dict(
        folder="eeg", file="eeg_s001r01_smoothed.npy",
        sha256="7cc56e3b648ce492e1ac3d4284c46ccd1092e4abbc4c45f020b8c4a0b2a994bf",
        sources=[("S001R01.edf", _PHYSIONET + "S001R01.edf",
                  "4743b736131a7e147c150e8b37711029b6cda5e356c4b3e8261a03cdcaaf8b0c")]),
}


def get_data_home(data_home=None) -> str:
    """The folder that holds the recordings: ``data_home``, else ``$SKLEARN_LRNN_DATA``, else ``~/sklearn_lrnn_data``.

    Its layout is the project's shared data folder: ``hippocampus_linear_track/linear_track.npz``,
    ``m1_reaching/m1_reaching.npz``, ``fmri/fmri_timeseries.csv``, ``eeg/eeg_s001r01_smoothed.npy``.
    The folder is not created here (only when a download writes into it).

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder; ``~`` is expanded.

    Returns
    -------
    data_home : str
        The folder's path.
    """
    if data_home is None:
        data_home = os.environ.get(_ENV) or os.path.join("~", "sklearn_lrnn_data")
    return os.path.expanduser(os.fspath(data_home))


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_sum(path, expected, *, what) -> None:
    """OSError naming the file when its SHA-256 is not ``expected`` (a set of accepted sums)."""
    got = _sha256(path)
    if got not in expected:
        raise OSError(f"{path} ({what}) has SHA-256 {got}, expected {' or '.join(sorted(expected))}: the file is "
                      "corrupted or a different version. Delete it to download it again (download_if_missing=True), "
                      "or replace it with the original.")


def _accepted(path, published) -> set:
    # A file this module converted itself may differ from the published bytes (the EEG's float32 rounding,
    # another zlib); the converter then records the sum of what it wrote beside it.
    sums = {published}
    side = path + ".sha256"
    if os.path.isfile(side):
        with open(side) as f:
            sums.add(f.read().split()[0])
    return sums


def _download(url, dest, sha256) -> None:
    """Fetch ``url`` into ``dest`` (through a temporary file) and check its SHA-256."""
    request = urllib.request.Request(url, headers={"User-Agent": "sklearn_lrnn (python urllib)"})
    with urllib.request.urlopen(request, timeout=60) as response:
        data = response.read()
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise OSError(f"the file downloaded from {url} has SHA-256 {got}, expected {sha256}: the source changed or "
                      "the download was altered; nothing was written.")
    conv.write_atomic(dest, data)


def _missing_message(key, home, reason) -> str:
    rec = RECORDINGS[key]
    folder = os.path.join(home, rec["folder"])
    sources = "; ".join(f"{url} -> {os.path.join(folder, 'source', name)}" for name, url, _ in rec["sources"])
    return (f"{os.path.join(folder, rec['file'])} not found and {reason}. Either put the prepared file there "
            f"(sha256 {rec['sha256']}), or download the public source file(s) yourself ({sources}) and call again, "
            f"or point data_home (or the environment variable {_ENV}) to a folder that holds "
            f"{rec['folder']}/{rec['file']}.")


def _convert(key, sources, dest) -> None:
    if key == "linear_track":
        data = conv.npz_bytes(conv.convert_linear_track(*sources))
    elif key == "m1_reaching":
        data = conv.npz_bytes(conv.convert_m1_reaching(*sources))
    elif key == "eeg":
        signals, _, rates = conv.read_edf(sources[0])
        if signals.shape[1] != 64 or not np.all(rates == 160):
            raise OSError(f"{sources[0]} has {signals.shape[1]} signals at {set(rates.tolist())} Hz; expected "
                          "eegmmidb's 64 at 160 Hz.")
        data = conv.npy_bytes(conv.preprocess_eeg(signals))
    else:  # the fMRI file is used as shipped
        with open(sources[0], "rb") as f:
            data = f.read()
    conv.write_atomic(dest, data)
    got = hashlib.sha256(data).hexdigest()
    if got != RECORDINGS[key]["sha256"]:
        conv.write_atomic(dest + ".sha256", f"{got}  converted here from the public source; the published "
                          f"file's sum is {RECORDINGS[key]['sha256']}\n".encode())


def _fetch(key, data_home, download_if_missing) -> str:
    """Path of the recording's prepared file, checked; downloaded and converted when missing."""
    rec = RECORDINGS[key]
    home = get_data_home(data_home)
    path = os.path.join(home, rec["folder"], rec["file"])
    if not os.path.isfile(path):
        if not download_if_missing:
            raise FileNotFoundError(_missing_message(key, home, "download_if_missing=False"))
        sources = []
        for name, url, sha256 in rec["sources"]:
            src = os.path.join(home, rec["folder"], "source", name)
            if os.path.isfile(src):
                _check_sum(src, {sha256}, what=f"source file from {url}")
            else:
                try:
                    _download(url, src, sha256)
                except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                    reason = getattr(exc, "reason", exc)
                    raise OSError(_missing_message(key, home, f"downloading {url} failed ({reason})")) from exc
            sources.append(src)
        _convert(key, sources, path)
    _check_sum(path, _accepted(path, rec["sha256"]), what=f"the prepared {key} recording")
    return path


def fetch_linear_track(*, data_home=None, download_if_missing=True):
    """Load the rodent hippocampal linear-track recording: spike times of 31 units and the animal's position.

    About 15 min of running laps then 15 min of rest (33 min in all, 28,829 spikes), from the nelpy
    project's example data. Bin it with :func:`bin_running_periods`. Read the DESCR for the details.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder of the recordings (see :func:`get_data_home`).
    download_if_missing : bool, default=True
        If the file is missing, download the source files (nelpy/example-data, about 1.6 MB) and convert
        them; if False, raise FileNotFoundError.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``spike_times`` list of 31 sorted float64 arrays, seconds, one per unit; ``unit_tetrode`` (31,) the
        tetrode of each unit; ``position_time`` (118965,) seconds (60 Hz video); ``position`` (118965,)
        x along the track and ``position_y`` in camera pixels (``position_unit="pixels"``; the source gives no
        pixels-per-cm scale, so no cm conversion is offered); ``speed`` (118965,) smoothed speed along the
        track in pixels/s (:func:`running_speed`, sigma 0.1 s); ``bin_size`` None (spike times, not counts);
        ``DESCR``; ``citation``.

    Raises
    ------
    FileNotFoundError
        When the file is missing and ``download_if_missing`` is False.
    OSError
        When a checksum does not match, or the download fails (the message says where to put the file).
    """
    path = _fetch("linear_track", data_home, download_if_missing)
    with np.load(path, allow_pickle=False) as d:
        times, units, tetrode = d["spike_times"], d["spike_units"], d["unit_tetrode"]
        t, x, y = d["position_time"], d["position_x"], d["position_y"]
    order = np.argsort(units, kind="stable")  # stable: each unit's times stay sorted
    split = np.searchsorted(units[order], np.arange(1, tetrode.size))
    return Bunch(spike_times=np.split(times[order], split), unit_tetrode=tetrode, position_time=t, position=x,
                 position_y=y, position_unit="pixels", speed=running_speed(t, x), bin_size=None,
                 DESCR=DESCRS["linear_track"], citation=CITATIONS["linear_track"])


def fetch_m1_reaching(*, data_home=None, download_if_missing=True, return_X_y=False):
    """Load the macaque motor-cortex reaching recording: spike counts of 171 units in 50 ms bins, hand kinematics.

    About 13 min of continuous planar reaching (Stevenson et al. 2011, as redistributed by spykesML).
    Read the DESCR for the details.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder of the recordings (see :func:`get_data_home`).
    download_if_missing : bool, default=True
        If the file is missing, download spykesML's data file (1.3 MB) and convert it; if False, raise
        FileNotFoundError.
    return_X_y : bool, default=False
        Return ``(spike_counts, hand_velocity)`` instead of the Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``spike_counts`` (15536, 171) float64 (whole counts, as :func:`~sklearn_lrnn.preprocessing.bin_spike_times`
        gives them); ``time`` (15536,) seconds; ``hand_position``, ``hand_velocity`` (15536, 2), units as in
        the source (not stated there); ``bin_size`` 0.05 s; ``DESCR``; ``citation``.
    (spike_counts, hand_velocity) : tuple
        With ``return_X_y``.

    Raises
    ------
    FileNotFoundError
        When the file is missing and ``download_if_missing`` is False.
    OSError
        When a checksum does not match, or the download fails.
    """
    path = _fetch("m1_reaching", data_home, download_if_missing)
    with np.load(path, allow_pickle=False) as d:
        counts = d["spike_counts"].astype(np.float64)
        time, pos, vel = d["time"], d["hand_position"], d["hand_velocity"]
    if return_X_y:
        return counts, vel
    return Bunch(spike_counts=counts, time=time, hand_position=pos, hand_velocity=vel, bin_size=0.05,
                 DESCR=DESCRS["m1_reaching"], citation=CITATIONS["m1_reaching"])


def fetch_fmri_rois(*, data_home=None, download_if_missing=True, return_X_y=False, as_frame=False):
    """Load nitime's resting-state fMRI example: 250 volumes of 31 named regions of interest, TR 1.89 s.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder of the recordings (see :func:`get_data_home`).
    download_if_missing : bool, default=True
        If the file is missing, download it from nitime's repository (67 kB); if False, raise
        FileNotFoundError. (``pip install nitime`` ships the same file as ``nitime/data/fmri_timeseries.csv``.)
    return_X_y : bool, default=False
        Return ``(data, None)`` instead of the Bunch (there is no target).
    as_frame : bool, default=False
        ``data`` as a pandas DataFrame with the region names as columns (also in ``frame``).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (250, 31) float64 BOLD signal (time x region, the source's units); ``feature_names`` the 31
        region names from the header (WM, Vent, Brain, LCau, ..., RPrec); ``repetition_time`` 1.89 s;
        ``frame`` (DataFrame or None); ``DESCR``; ``citation``.
    (data, None) : tuple
        With ``return_X_y``.
    """
    path = _fetch("fmri", data_home, download_if_missing)
    with open(path) as f:
        names = [s.strip().strip('"') for s in f.readline().split(",")]
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    frame = None
    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("as_frame=True needs pandas (pip install pandas).") from exc
        data = frame = pd.DataFrame(data, columns=names)
    if return_X_y:
        return data, None
    return Bunch(data=data, feature_names=names, repetition_time=1.89, frame=frame, DESCR=DESCRS["fmri"],
                 citation=CITATIONS["fmri"])


def fetch_eeg_resting(*, data_home=None, download_if_missing=True):
    """Load 60 s of 64-channel resting EEG (PhysioNet eegmmidb S001R01), z-scored and Hann(15)-smoothed.

    The recording the stochastic low-rank RNN paper (Pals et al. 2024) models. Read the DESCR for the
    preprocessing.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder of the recordings (see :func:`get_data_home`).
    download_if_missing : bool, default=True
        If the file is missing, download S001R01.edf from PhysioNet (1.3 MB; read with the built-in EDF
        reader, no extra dependency) and preprocess it; if False, raise FileNotFoundError.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (9640, 64) float32, time x channel; ``feature_names`` the 64 electrode labels of the EDF
        file; ``sampling_rate`` 160 (Hz); ``DESCR``; ``citation``.
    """
    path = _fetch("eeg", data_home, download_if_missing)
    data = np.load(path, allow_pickle=False)
    return Bunch(data=data, feature_names=list(EEG_CHANNELS), sampling_rate=160, DESCR=DESCRS["eeg"],
                 citation=CITATIONS["eeg"])
