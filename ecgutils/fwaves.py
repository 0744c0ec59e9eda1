"""Atrial activity over the whole window: the signal left after cancelling each QRS-T (NumPy/SciPy).

:mod:`ecgutils.atrial` reads the P region of each beat (a fifth of a second: too short for a
spectrum). Here the ventricular activity of a window is cancelled instead (QRST cancellation by
average-beat subtraction, the classic way to extract atrial activity from a surface ECG): the
window's median QRS-T (−60 ms … +0.45 s around R) is subtracted at every beat, so what is
locked to the R peak from the QRS to the end of the T wave goes, whatever the RR interval. In
sinus rhythm that leaves the P waves (at the heart rate) and noise; in AF, the f waves, a
quasi-periodic 4–9 Hz oscillation through the whole cycle. Its spectrum (Welch, 2-s segments)
gives per window :data:`FEATURES`:

* ``aa_rms`` — RMS of the residual relative to the median QRS's peak-to-peak;
* ``aa_band_share`` — its power in 4–10 Hz among 1–40 Hz;
* ``aa_peak_hz`` — the frequency of its largest peak in 3–12 Hz (the dominant atrial
  frequency in AF);
* ``aa_peak_share`` — the power within 1 Hz of that peak among 3–12 Hz: f waves are organised
  around one frequency, noise is spread.

The QRS itself (±60 ms), where a one-sample misalignment leaves large spikes, is set to zero.
The residual runs from the first beat's −0.35 s to the last one's +0.45 s over the beats whose
whole segment lies in the window (those :mod:`ecgutils.atrial` reads), so a window's features
depend on its own samples. All zero below :data:`ecgutils.atrial.MIN_BEATS` beats.

Measured on CinC development records by ``benchmarks/fwave_features.py`` and adopted there by
the rule fixed beforehand (a weak pass: clean F1 −0.005, mean noisy F1 +0.011).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal as scipy_signal

from ecgutils import atrial

FEATURES = ("aa_rms", "aa_band_share", "aa_peak_hz", "aa_peak_share")
QRS_HALF_S = 0.06
PEAK_BAND_HZ = (3.0, 12.0)
PEAK_HALF_WIDTH_HZ = 1.0
WELCH_SEGMENT_S = 2.0


def window_features(signal_mv: np.ndarray, fs: float, beat_times_s: np.ndarray,
                    starts_s: np.ndarray, window_s: float, filtered: bool = False,
                    t0_s: float = 0.0) -> np.ndarray:
    """:data:`FEATURES` of windows ``[start, start + window_s)`` of one lead; the arguments
    are those of :func:`ecgutils.atrial.window_features` (``filtered``: already band-passed;
    ``t0_s``: the time of the first sample, s).

    Returns
    -------
    ndarray of float32, shape (n_windows, len(FEATURES))
    """
    starts_s = np.asarray(starts_s, dtype=float)
    out = np.zeros((starts_s.size, len(FEATURES)), dtype=np.float32)
    found = atrial.window_beats(signal_mv, fs, beat_times_s, starts_s, window_s, filtered, t0_s)
    if found is None:
        return out
    lead, peaks, first, last = found
    before, after = atrial.segment_samples(fs)
    for row, (lo, hi) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        if hi - lo >= atrial.MIN_BEATS:
            out[row] = _residual_features(lead, float(fs), peaks[lo:hi], before, after)
    return out


def residual(signal_mv: np.ndarray, fs: float, peaks: np.ndarray, before: int, after: int
             ) -> tuple[np.ndarray, float]:
    """The lead from the first beat's segment start to the last one's end with every beat's
    QRS-T cancelled (module docstring), and the median QRS's peak-to-peak (mV).

    ``peaks``: sorted R-peak samples whose segments ``[peak - before, peak + after)`` lie in
    ``signal_mv``."""
    half = int(round(QRS_HALF_S * fs))
    offsets = np.arange(-half, after)
    template = np.median(signal_mv[peaks[:, None] + offsets[None, :]], axis=0)
    qrs_ptp = float(np.ptp(template[:2 * half + 1]))
    start = peaks[0] - before
    out = signal_mv[start:peaks[-1] + after].copy()
    cancelled = (peaks - start)[:, None] + offsets[None, :]
    # bincount sums where the QRS-Ts of close beats overlap (ufunc.at does too, ten times slower)
    out -= np.bincount(cancelled.ravel(), weights=np.tile(template, peaks.size),
                       minlength=out.size)
    out[((peaks - start)[:, None] + np.arange(-half, half + 1)[None, :]).ravel()] = 0.0
    return out, qrs_ptp


def _residual_features(signal_mv: np.ndarray, fs: float, peaks: np.ndarray, before: int,
                       after: int) -> np.ndarray:
    left, qrs_ptp = residual(signal_mv, fs, peaks, before, after)
    freqs, power = welch(left, fs, min(left.size, int(round(WELCH_SEGMENT_S * fs))))
    band = (freqs >= atrial.F_BAND_HZ[0]) & (freqs <= atrial.F_BAND_HZ[1])
    total = (freqs >= atrial.TOTAL_BAND_HZ[0]) & (freqs <= atrial.TOTAL_BAND_HZ[1])
    peak_band = (freqs >= PEAK_BAND_HZ[0]) & (freqs <= PEAK_BAND_HZ[1])
    if not peak_band.any():
        return np.zeros(len(FEATURES), dtype=np.float32)
    in_peak_band = power[peak_band]
    peak_hz = float(freqs[peak_band][np.argmax(in_peak_band)])
    near = peak_band & (np.abs(freqs - peak_hz) <= PEAK_HALF_WIDTH_HZ)
    return np.array([
        np.sqrt(np.mean(left ** 2)) / max(qrs_ptp, 1e-6),
        power[band].sum() / max(power[total].sum(), 1e-18),
        peak_hz,
        power[near].sum() / max(in_peak_band.sum(), 1e-18),
    ], dtype=np.float32)


def welch(x: np.ndarray, fs: float, nperseg: int) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.welch(x, fs, nperseg=nperseg)`` (Hann window, half overlap, constant
    detrend, one-sided density, mean over segments) with every segment in one array
    operation: SciPy's loops over the segments in Python, and that loop was three quarters of
    these features' cost in the scanner. tests/test_fwaves.py compares the two."""
    window = _hann(nperseg)
    segments = np.lib.stride_tricks.sliding_window_view(x, nperseg)[::nperseg - nperseg // 2]
    segments = segments - segments.mean(axis=1, keepdims=True)
    power = np.abs(np.fft.rfft(segments * window, axis=1)) ** 2 / (fs * (window ** 2).sum())
    power[:, 1:(None if nperseg % 2 else -1)] *= 2
    return np.fft.rfftfreq(nperseg, 1.0 / fs), power.mean(axis=0)


@lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    return scipy_signal.get_window("hann", n)
