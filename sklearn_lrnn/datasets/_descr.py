"""Descriptions and citations of the recordings that :mod:`sklearn_lrnn.datasets` fetches."""

__all__ = []

EEG_CHANNELS = (
    "Fc5", "Fc3", "Fc1", "Fcz", "Fc2", "Fc4", "Fc6", "C5", "C3", "C1", "Cz", "C2", "C4", "C6", "Cp5", "Cp3",
    "Cp1", "Cpz", "Cp2", "Cp4", "Cp6", "Fp1", "Fpz", "Fp2", "Af7", "Af3", "Afz", "Af4", "Af8", "F7", "F5", "F3",
    "F1", "Fz", "F2", "F4", "F6", "F8", "Ft7", "Ft8", "T7", "T8", "T9", "T10", "Tp7", "Tp8", "P7", "P5", "P3",
    "P1", "Pz", "P2", "P4", "P6", "P8", "Po7", "Po3", "Poz", "Po4", "Po8", "O1", "Oz", "O2", "Iz",
)  # the EDF file's labels, trailing dots removed

CITATIONS = {
    "linear_track": (
        "nelpy example data, folder linear-track (Frank-lab MatClust format), "
        "https://github.com/nelpy/example-data (commit 099548c), MIT licence; "
        "nelpy: https://github.com/nelpy/nelpy."),
    "m1_reaching": (
        "Stevenson, I. H., et al. (2011). Statistical assessment of the stability of neural movement "
        "representations. Journal of Neurophysiology, 106(2), 764-774. Data from CRCNS (DREAM), as "
        "redistributed by Benjamin, A. S., et al. (2018). Modern machine learning as a benchmark for fitting "
        "neural responses. Frontiers in Computational Neuroscience, 12, 56 "
        "(https://github.com/KordingLab/spykesML, MIT licence)."),
    "fmri": (
        "Rokem, A., Trumpis, M., & Perez, F. (2009). Nitime: time-series analysis for neuroimaging data. "
        "Proceedings of the 8th Python in Science Conference (SciPy 2009). Data file: "
        "nitime/data/fmri_timeseries.csv, https://github.com/nipy/nitime (BSD licence)."),
    "eeg": (
        "Schalk, G., McFarland, D. J., Hinterberger, T., Birbaumer, N., & Wolpaw, J. R. (2004). BCI2000: a "
        "general-purpose brain-computer interface (BCI) system. IEEE Transactions on Biomedical Engineering, "
        "51(6), 1034-1043. Goldberger, A. L., et al. (2000). PhysioBank, PhysioToolkit, and PhysioNet. "
        "Circulation, 101(23), e215-e220. Dataset: EEG Motor Movement/Imagery Dataset 1.0.0, "
        "https://doi.org/10.13026/C28G6P (Open Data Commons Attribution licence 1.0)."),
}

DESCRS = {
    "linear_track": f"""\
Hippocampal tetrode recording on a linear track
-----------------------------------------------

A rodent runs laps on a linear track for about 15 min, then rests for about 15 min (33 min in all).
31 units sorted from tetrodes (MatClust), 28,829 spikes between 4397.0 and 6365.1 s; position from one
LED tracked by a 640 x 480 camera at 60 Hz (118,965 frames, 4397.0-6379.5 s). The track runs along x
(about 139 to 475 pixels while running; at rest the LED sits at x = 522). Species and brain area are not
stated by the source. No LFP is included.

Fields: spike_times (one sorted array per unit, s), unit_tetrode, position_time (s), position (x, pixels),
position_y (pixels), speed (smoothed speed along x, pixels/s). The source header gives "pixel scale:
0 pix/cm", i.e. no scale: positions stay in pixels. One frame time repeats (a camera-clock glitch);
the speed ignores the repeat.

Typical use: bin the running laps with bin_running_periods (defaults: 100 ms bins, speed above
10 pixels/s, one trial per lap: 48 laps, 1,272 bins, 6.4% of bins without a spike) and fit a
Poisson model of place-cell dynamics.

Source: nelpy/example-data, linear-track (spikes.mat, trajectory.videoPositionTracking), converted to
linear_track.npz. Licence: MIT. Cite: {CITATIONS["linear_track"]}
""",
    "m1_reaching": f"""\
Macaque primary motor cortex during planar reaching
---------------------------------------------------

171 units, spike counts in 15,536 bins of 50 ms (12.6-789.3 s, about 13 min, continuous), with hand
position and velocity (x, y) per bin. Reach targets are not labelled: derive movement epochs and
directions from the kinematics. Kinematic units are those of the source (not stated there).

Fields: spike_counts (15536, 171), time (s), hand_position, hand_velocity (15536, 2), bin_size (0.05 s).

Source: CRCNS DREAM (Stevenson et al. 2011), as redistributed in KordingLab/spykesML
(data/m1_stevenson_2011.mat), converted to m1_reaching.npz. Licence of the redistribution: MIT; CRCNS
asks that uses cite the original paper. Cite: {CITATIONS["m1_reaching"]}
""",
    "fmri": f"""\
Resting-state fMRI region-of-interest time series (nitime example)
------------------------------------------------------------------

250 time points x 31 named regions of interest (WM, Vent, Brain, LCau, ..., RPrec), BOLD signal in the
source's units (not z-scored). nitime's examples describe it as resting-state data with a repetition
time of 1.89 s.

Fields: data (250, 31), feature_names, repetition_time (1.89 s).

Source: nitime, nitime/data/fmri_timeseries.csv (also shipped by pip install nitime). Licence: BSD.
Cite: {CITATIONS["fmri"]}
""",
    "eeg": f"""\
Resting human scalp EEG, 64 channels (PhysioNet eegmmidb, S001R01)
------------------------------------------------------------------

Eyes-open resting baseline of subject S001, run R01, 64 electrodes (10-10 system), 160 Hz. The first
9,640 samples (60.25 s) of the 9,760 in the file.

Preprocessing: each channel z-scored, then smoothed in time with a 15-sample Hann window
(scipy.signal.windows.hann(15)), causally: each sample is the Hann-weighted sum of itself and the 14
samples before it (a delay of 7 samples, 44 ms), the start mirrored; then z-scored again. About 98.7% of
the power lies below 10 Hz; lag-1 autocorrelation about 0.995. This is the recording (and the
preprocessing) of the stochastic low-rank RNN paper (Pals et al., NeurIPS 2024);
sklearn_lrnn.preprocessing.undo_smoothing approximately undoes the smoothing.

Fields: data (9640, 64) float32, time x channel; feature_names (electrode labels); sampling_rate (160).

Source: https://physionet.org/files/eegmmidb/1.0.0/S001/S001R01.edf. Licence: Open Data Commons
Attribution 1.0: cite the dataset. Cite: {CITATIONS["eeg"]}
""",
}
