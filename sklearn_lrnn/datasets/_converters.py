"""Readers for the public recordings' own formats, and their conversion to the prepared files.

Each converter was checked against the prepared files in the shared data folder: the linear-track and M1
conversions reproduce those ``.npz`` files byte for byte (same arrays, same deterministic zip), the EEG
conversion reproduces the prepared array to float32 rounding (largest difference about 1e-5).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import zipfile

import numpy as np

__all__ = []

# The prepared .npz files are zips with fixed entry dates and permissions (like np.savez, but reproducible),
# so that a fresh conversion gives the published checksum.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder (no half-written files)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def npz_bytes(arrays: dict) -> bytes:
    """An ``.npz`` archive of ``arrays`` (deflated, zip64 entries as numpy writes them), reproducibly."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            info.create_system = 3
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
            with zf.open(info, "w", force_zip64=True) as fh:
                fh.write(buf.getvalue())
    return out.getvalue()


def npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------- linear track


def read_matclust_spikes(path):
    """Spike times per unit and the tetrode of each unit from a Frank-lab MatClust ``spikes.mat``.

    Layout (nelpy/example-data, linear-track/README.md): ``spikes{day}{epoch}{tetrode}{unit}.time``;
    unsorted tetrodes are empty arrays and units without spikes are skipped, as nelpy's own parser does.
    """
    from scipy.io import loadmat

    mat = loadmat(path)
    if "spikes" not in mat:
        raise ValueError(f"{path} is not a MatClust spikes file: it has no 'spikes' variable.")
    tetrodes = mat["spikes"]
    while tetrodes.dtype == object and tetrodes.size == 1:  # day, then epoch: one each here
        tetrodes = tetrodes.ravel()[0]
    units, unit_tetrode = [], []
    for i, tetrode in enumerate(tetrodes.ravel()):
        cells = tetrode.ravel() if tetrode.dtype == object else [tetrode] if tetrode.size else []
        for cell in cells:
            if cell.size == 0 or cell.dtype.names is None or "time" not in cell.dtype.names:
                continue
            times = np.asarray(cell["time"].ravel()[0], dtype=np.float64).ravel()
            if times.size:
                units.append(times)
                unit_tetrode.append(i)
    return units, np.asarray(unit_tetrode, dtype=np.int32)


def read_video_tracking(path):
    """Frame times (seconds) and LED x, y (pixels) from a Frank-lab ``.videoPositionTracking`` file.

    A text header between ``<Start settings>`` and ``<End settings>`` names the clock rate and the record
    fields; the records follow as little-endian binary.
    """
    with open(path, "rb") as f:
        raw = f.read()
    end_tag = b"<End settings>\n"
    if not raw.startswith(b"<Start settings>") or end_tag not in raw:
        raise ValueError(f"{path} is not a videoPositionTracking file: no <Start settings> ... <End settings> header.")
    end = raw.index(end_tag) + len(end_tag)
    header = raw[:end].decode("ascii", errors="replace")
    rate = re.search(r"clockrate:\s*(\d+)", header)
    fields = re.findall(r"<(\w+) (u?int\d+)>", header)
    if rate is None or not fields:
        raise ValueError(f"{path}: the header names no clockrate or no fields.")
    kinds = {"uint8": "u1", "uint16": "<u2", "uint32": "<u4", "int8": "i1", "int16": "<i2", "int32": "<i4"}
    if any(kind not in kinds for _, kind in fields) or not {"time", "xloc", "yloc"} <= {n for n, _ in fields}:
        raise ValueError(f"{path}: unexpected record fields {fields}; need time, xloc and yloc as integers.")
    dtype = np.dtype([(name, kinds[kind]) for name, kind in fields])
    n = (len(raw) - end) // dtype.itemsize
    rec = np.frombuffer(raw, dtype=dtype, count=n, offset=end)
    time = rec["time"].astype(np.float64) / float(rate.group(1))
    return time, rec["xloc"].astype(np.float64), rec["yloc"].astype(np.float64)


def convert_linear_track(spikes_path, tracking_path) -> dict:
    """The arrays of the prepared ``linear_track.npz`` from the two nelpy example-data files."""
    units, unit_tetrode = read_matclust_spikes(spikes_path)
    t, x, y = read_video_tracking(tracking_path)
    times = np.concatenate(units)
    ids = np.concatenate([np.full(u.size, i, dtype=np.int32) for i, u in enumerate(units)])
    order = np.argsort(times, kind="stable")
    return dict(spike_times=times[order], spike_units=ids[order], unit_tetrode=unit_tetrode,
                position_time=t, position_x=x, position_y=y)


# ------------------------------------------------------------------------------------------------------ M1


def convert_m1_reaching(path) -> dict:
    """The arrays of the prepared ``m1_reaching.npz`` from spykesML's ``m1_stevenson_2011.mat``.

    The file holds ``spikes`` (units x bins), ``time``, ``handPos`` and ``handVel`` (3 x bins, the third
    row all zeros: planar reaching), so the third row is dropped.
    """
    from scipy.io import loadmat

    mat = loadmat(path)
    missing = {"spikes", "time", "handPos", "handVel"} - set(mat)
    if missing:
        raise ValueError(f"{path} is not spykesML's M1 file: it lacks {sorted(missing)}.")
    return dict(spike_counts=np.ascontiguousarray(mat["spikes"].T), time=mat["time"].ravel().astype(np.float64),
                hand_position=np.ascontiguousarray(mat["handPos"][:2].T),
                hand_velocity=np.ascontiguousarray(mat["handVel"][:2].T))


# ----------------------------------------------------------------------------------------------------- EEG


def read_edf(path):
    """Signals of an EDF / EDF+ file in physical units: (samples x signals, labels, sampling rates).

    Annotation signals (EDF+ "EDF Annotations") are left out. Every data signal must have the same number of
    samples per record (true of eegmmidb).
    """
    with open(path, "rb") as f:
        raw = f.read()
    try:
        header_bytes = int(raw[184:192])
        n_records = int(raw[236:244])
        record_seconds = float(raw[244:252])
        ns = int(raw[252:256])
    except ValueError:
        raise ValueError(f"{path} is not an EDF file: its 256-byte header does not parse.") from None
    pos = 256

    def field(width):
        nonlocal pos
        out = [raw[pos + i * width:pos + (i + 1) * width].decode("latin-1").strip() for i in range(ns)]
        pos += ns * width
        return out

    labels = field(16)
    field(80), field(8)  # transducer, physical dimension
    pmin, pmax, dmin, dmax = (np.array(field(8), dtype=np.float64) for _ in range(4))
    field(80)  # prefiltering
    n_samples = np.array(field(8), dtype=np.int64)
    record_len = int(n_samples.sum())
    if n_records < 0:  # -1: unknown in the header, from the file size
        n_records = (len(raw) - header_bytes) // (2 * record_len)
    data = np.frombuffer(raw, dtype="<i2", count=n_records * record_len, offset=header_bytes)
    data = data.reshape(n_records, record_len)
    keep = [i for i, lab in enumerate(labels) if lab != "EDF Annotations"]
    if len(set(n_samples[keep])) != 1:
        raise ValueError(f"{path}: the signals have different sampling rates; this reader needs one rate.")
    starts = np.r_[0, np.cumsum(n_samples)]
    gain = (pmax - pmin) / (dmax - dmin)
    columns = [(data[:, starts[i]:starts[i + 1]].ravel() - dmin[i]) * gain[i] + pmin[i] for i in keep]
    return np.stack(columns, axis=1), [labels[i] for i in keep], n_samples[keep] / record_seconds


# The prepared EEG: the first 60.25 s of S001R01 (9,640 of its 9,760 samples), as in the stochastic
# low-rank RNN paper's data (mackelab/smc_rnns, data/eeg/EEG_data_smoothed.npy, which is the shared file).
EEG_SAMPLES = 9640
EEG_WINDOW = 15


def preprocess_eeg(signals):
    """z-score each channel, smooth with a causal 15-sample Hann window, z-score again; float32.

    The smoothing is ``scipy.ndimage.convolve1d(x, hann(15), mode="mirror", origin=-7)``: each sample is
    the Hann-weighted sum of itself and the 14 samples before it (a delay of 7 samples), the start mirrored.
    That is the filter that reproduces the published array (fitted to it; a centred window does not).
    """
    from scipy import ndimage
    from scipy.signal.windows import hann

    x = np.asarray(signals, dtype=np.float64)[:EEG_SAMPLES]
    x = (x - x.mean(0)) / x.std(0)
    s = ndimage.convolve1d(x, hann(EEG_WINDOW), axis=0, mode="mirror", origin=-(EEG_WINDOW // 2))
    return ((s - s.mean(0)) / s.std(0)).astype(np.float32)
