"""Atrial activity read off the averaged beat: is there a P wave, or fibrillation? (NumPy/SciPy)

A cardiologist diagnoses AF from two things on the strip: an irregularly irregular rhythm
(:mod:`ecgutils.beats`) and no P wave — the atria fibrillate, so what precedes each QRS is
irregular f-wave activity instead of one repeatable P wave. Averaging beats aligned on their R
peaks shows that directly: a P wave, locked to the QRS, survives the median; f waves, not
locked to it, average out. Per window :data:`FEATURES`:

* ``n_beats`` — beats whose whole segment (−0.35 s … +0.45 s around R) lies in the window.
* ``p_ptp``, ``p_rms`` — peak-to-peak and RMS of the median beat in the P-wave region
  (−0.30 … −0.08 s before R), relative to the median QRS's peak-to-peak: a P wave's size.
* ``p_corr`` — median correlation of each beat's P region with the median's: a repeatable P
  wave correlates, f waves and noise do not.
* ``beat_corr``, ``beat_corr_p10`` — median and 10th percentile of each whole beat's
  correlation with the median beat: beat-to-beat consistency (low in noise, or with ectopics).
* ``p_resid`` — RMS of each beat's P region minus the median's, relative to the QRS: the
  activity that is not locked to the QRS (f waves, noise).
* ``f_band`` — median share of that residual's power in 4–10 Hz (f waves fire at 4–9 Hz)
  among 1–40 Hz.
* ``t_ptp`` — peak-to-peak of the median beat's ST-T region (+0.10 … +0.45 s), relative.
* ``qrs_ptp_mv`` — the median QRS's peak-to-peak (mV).

The lead is band-passed here (0.5-40 Hz, zero phase) unless the caller has done it
(``filtered``, the scanner).

All zero but ``n_beats`` where fewer than :data:`MIN_BEATS` beats fit in the window. Features are
relative to the QRS and correlations, so they do not depend on the lead's polarity or gain.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal as scipy_signal

FEATURES = (
    "n_beats", "p_ptp", "p_rms", "p_corr", "beat_corr", "beat_corr_p10", "p_resid", "f_band",
    "t_ptp", "qrs_ptp_mv",
)
MIN_BEATS = 4
# Segment around each R peak (s) and the regions read from it (s relative to R).
BEFORE_S, AFTER_S = 0.35, 0.45
P_REGION_S = (-0.30, -0.08)
QRS_REGION_S = (-0.05, 0.05)
T_REGION_S = (0.10, 0.45)
BASELINE_S = 0.05  # the segment's first 50 ms are its baseline
F_BAND_HZ = (4.0, 10.0)
TOTAL_BAND_HZ = (1.0, 40.0)
BANDPASS_HZ = (0.5, 40.0)
NFFT = 256  # FFT length of the P-region residual's spectrum (zero-padded)


def window_features(signal_mv: np.ndarray, fs: float, beat_times_s: np.ndarray,
                    starts_s: np.ndarray, window_s: float, filtered: bool = False,
                    t0_s: float = 0.0) -> np.ndarray:
    """:data:`FEATURES` of windows ``[start, start + window_s)`` of one lead.

    Parameters
    ----------
    signal_mv : ndarray, shape (n_samples,)
        The raw lead (mV); band-passed here (zero-phase, :data:`BANDPASS_HZ`) as a whole.
    fs : float
        Its sampling rate (Hz).
    beat_times_s : ndarray
        R-peak times (s) of the record (:func:`ecgutils.beats.detect`).
    starts_s : ndarray
        Window starts (s).
    window_s : float
        Window length (s).
    filtered : bool
        The lead is already band-passed (zero phase): read as it is, not filtered again.
    t0_s : float
        Time of ``signal_mv``'s first sample (a whole number of samples): beat times and
        window starts stay on the recording's clock, so a window's features do not depend on
        where the piece of signal handed in begins (the scanner's blocks).

    Returns
    -------
    ndarray of float32, shape (n_windows, len(FEATURES))
    """
    starts_s = np.asarray(starts_s, dtype=float)
    out = np.zeros((starts_s.size, len(FEATURES)), dtype=np.float32)
    found = window_beats(signal_mv, fs, beat_times_s, starts_s, window_s, filtered, t0_s)
    if found is None:
        return out
    lead, peaks, first, last = found
    before, after = segment_samples(fs)
    segments = lead[peaks[:, None] + np.arange(-before, after)[None, :]]
    segments -= np.median(segments[:, :max(1, int(round(BASELINE_S * fs)))], axis=1,
                          keepdims=True)
    regions = _regions(float(fs), before)
    for row, (lo, hi) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        out[row, 0] = max(hi - lo, 0)
        if hi - lo >= MIN_BEATS:
            out[row, 1:] = _template_features(segments[lo:hi], float(fs), regions)
    return out


def segment_samples(fs: float) -> tuple[int, int]:
    """Samples of a beat's segment before and after its R peak (:data:`BEFORE_S`,
    :data:`AFTER_S`)."""
    return int(round(BEFORE_S * fs)), int(round(AFTER_S * fs))


def window_beats(signal_mv: np.ndarray, fs: float, beat_times_s: np.ndarray,
                 starts_s: np.ndarray, window_s: float, filtered: bool = False,
                 t0_s: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The beats each window reads (arguments of :func:`window_features`; also those of
    :mod:`ecgutils.fwaves`): ``(lead, peaks, first, last)`` — the checked, band-passed lead,
    the R-peak samples on it whose whole segment (:func:`segment_samples`) lies in it, and per
    window the index of its first beat in ``peaks`` and one past its last (beats whose
    segment lies wholly in the window, by their times on the sample grid). None where the lead
    holds no such beat (or is too short for the band-pass)."""
    signal_mv = checked_lead(signal_mv, fs, window_s)
    before, after = segment_samples(fs)
    if not filtered:
        signal_mv = bandpassed(signal_mv, fs)
    if signal_mv is None or signal_mv.size <= before + after:
        return None
    offset = int(round(t0_s * fs))
    peaks = np.round(np.sort(np.asarray(beat_times_s, dtype=float)) * fs).astype(np.int64)
    peaks = peaks - offset
    peaks = peaks[(peaks - before >= 0) & (peaks + after < signal_mv.size)]
    if peaks.size == 0:
        return None
    beat_s = (peaks + offset) / fs
    starts_s = np.asarray(starts_s, dtype=float)
    first = np.searchsorted(beat_s, starts_s + BEFORE_S, side="left")
    last = np.searchsorted(beat_s, starts_s + window_s - AFTER_S, side="left")
    return signal_mv, peaks, first, last


def checked_lead(signal_mv: np.ndarray, fs: float, window_s: float) -> np.ndarray:
    """``signal_mv`` as a float array, or ValueError: not one-dimensional, non-finite samples,
    or a non-positive ``fs`` or ``window_s``."""
    signal_mv = np.asarray(signal_mv, dtype=float)
    if signal_mv.ndim != 1:
        raise ValueError(f"signal_mv must be one-dimensional; got shape {signal_mv.shape}")
    if fs <= 0 or window_s <= 0:
        raise ValueError(f"fs and window_s must be positive; got {fs} and {window_s}")
    if not np.isfinite(signal_mv).all():
        raise ValueError("signal_mv holds NaN or infinite samples")
    return signal_mv


def _template_features(segments: np.ndarray, fs: float,
                       regions: dict[str, slice]) -> np.ndarray:
    """The features (all but ``n_beats``) of beats ``segments`` (n_beats, n_samples)."""
    template = np.median(segments, axis=0)
    qrs_ptp = float(np.ptp(template[regions["qrs"]]))
    scale = max(qrs_ptp, 1e-6)
    p_template = template[regions["p"]]
    p_beats = segments[:, regions["p"]]
    residual = p_beats - p_template
    f_share = band_share(residual, fs)
    whole = correlations(segments, template)
    return np.array([
        np.ptp(p_template) / scale,
        np.std(p_template) / scale,
        np.median(correlations(p_beats, p_template)),
        np.median(whole),
        np.quantile(whole, 0.1),
        np.sqrt(np.mean(residual ** 2)) / scale,
        np.median(f_share),
        np.ptp(template[regions["t"]]) / scale,
        qrs_ptp,
    ], dtype=np.float32)


def band_share(rows: np.ndarray, fs: float) -> np.ndarray:
    """Per row, the share of its power in :data:`F_BAND_HZ` among :data:`TOTAL_BAND_HZ`.

    The power is ``scipy.signal.periodogram(rows, fs, axis=1, nfft=NFFT)``'s — boxcar
    window, mean removed, rows longer than :data:`NFFT` cut to it — without its density
    scale, which the share divides out (one real FFT instead of SciPy's general spectral
    helper: the scanner calls this once per window, and the helper's set-up cost was a fifth
    of the scan). tests/test_atrial.py compares the two.
    """
    rows = np.asarray(rows, dtype=float)[:, :NFFT]
    power = np.abs(np.fft.rfft(rows - rows.mean(axis=1, keepdims=True), n=NFFT, axis=1)) ** 2
    band, total = _band_masks(float(fs))
    return power[:, band].sum(axis=1) / np.maximum(power[:, total].sum(axis=1), 1e-18)


@lru_cache(maxsize=8)
def _band_masks(fs: float) -> tuple[np.ndarray, np.ndarray]:
    freqs = np.fft.rfftfreq(NFFT, 1.0 / fs)
    return ((freqs >= F_BAND_HZ[0]) & (freqs <= F_BAND_HZ[1]),
            (freqs >= TOTAL_BAND_HZ[0]) & (freqs <= TOTAL_BAND_HZ[1]))


def correlations(rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row with ``reference`` (0 where either is flat)."""
    rows = rows - rows.mean(axis=1, keepdims=True)
    reference = reference - reference.mean()
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(reference)
    return np.divide(rows @ reference, norms, out=np.zeros(len(rows)), where=norms > 0)


def bandpassed(signal_mv: np.ndarray, fs: float) -> np.ndarray | None:
    """The lead band-passed (:data:`BANDPASS_HZ`, zero phase), or None where it is too short
    for filtfilt's padding."""
    if signal_mv.size <= 3 * 2 * int(fs):
        return None
    return scipy_signal.sosfiltfilt(bandpass_sos(float(fs)), signal_mv)


@lru_cache(maxsize=8)
def bandpass_sos(fs: float) -> np.ndarray:
    return scipy_signal.butter(2, BANDPASS_HZ, btype="bandpass", output="sos", fs=fs)


def _regions(fs: float, before: int) -> dict[str, slice]:
    def region(bounds: tuple[float, float]) -> slice:
        return slice(before + int(round(bounds[0] * fs)), before + int(round(bounds[1] * fs)))
    return {"p": region(P_REGION_S), "qrs": region(QRS_REGION_S), "t": region(T_REGION_S)}
