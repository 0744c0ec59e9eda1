"""QRS detection and RR-interval features per window (numpy/scipy/NeuroKit2; no TensorFlow).

Beats are detected on the raw lead at its own sampling rate with NeuroKit2 (``ecg_clean`` +
``ecg_peaks``, method ``neurokit``): on mitdb it finds the reference beats with Se/+P ≥ 0.99 on
most records at ~10 000–30 000× real time, where wfdb's XQRS runs at ~1 000× (see
``benchmarks/bench_beats.py``). Matching against reference beats uses
``wfdb.processing.compare_annotations``.

``band_hz`` (e.g. :data:`BAND_HZ`) first band-passes the lead to the QRS band (zero-phase
order-2 Butterworth), as Pan & Tompkins (1985) did before their detector. 5–15 Hz is their
published band, taken as it is (not tuned here). Muscle noise is broadband; NeuroKit's
detector differentiates the lead, which amplifies noise above the QRS band. With the band,
beats under real NSTDB muscle noise at 6 dB are found with F1 0.956 instead of 0.914. The
measurement is on the first 5 min of the 48 mitdb records, clean F1 0.995 instead of 0.983;
see ``reports/benchmarks-beats-under-noise.md``. The R-peak times keep their place: within a
record they spread by 2.8 ms SD around the reference, against 2.4 ms without the band.

Better beats did not make a better AF detector everywhere: on CinC 2017's development records
(``benchmarks/beat_band.py``) the band's beats always lost 0.010 of clean F1. So the shipped
scanner uses ``gate`` (:data:`BAND_GATE`): each block is detected both ways, and the band's
beats are kept only where the two disagree, which is where noise has led the lead's own
detector astray. That kept clean F1 (−0.001) and raised the mean F1 under noise by 0.018
(muscle noise at 0 dB: +0.107). The study's notebooks detect beats without the band
(:func:`ecgutils.preprocess.beat_times`): the lever was measured for the shipped detector only.

Each window gets :data:`FEATURES`, computed from the RR intervals whose two beats both fall in
it. They describe what a cardiologist reads off the rhythm strip:

* ``mean_rr_s`` — mean RR (s); rate.
* ``cv_rr`` — SD / mean of RR; overall irregularity.
* ``rmssd_rel`` — RMS of successive differences / mean RR; beat-to-beat irregularity.
* ``mad_rel`` — median absolute deviation of RR / median RR (``scipy.stats``); robust to a
  few false or missed beats.
* ``pnn50`` — share of successive differences above 50 ms.
* ``cosen`` — coefficient of sample entropy (Lake & Moorman 2011; :mod:`ecgutils.baseline`).
* ``cv_rr_median3`` — CV after a 3-point median filter of the RR series: an isolated
  premature beat (a short–long pair) is removed, AF's irregularity is not.
* ``lag2_rel``, ``lag3_rel`` — median |RR[i+2] − RR[i]| and |RR[i+3] − RR[i]| / mean RR: near
  zero for bigeminy (period 2) and trigeminy (period 3), whose RR series are regularly
  irregular, large in AF, which is irregularly irregular.
* ``beats_per_s`` — beats in the window per second.
* ``rr_valid`` — 1 when the window holds at least :data:`MIN_RR` RR intervals; the other
  features are 0 when it does not (a flat or very noisy stretch).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import ndimage, stats
from scipy import signal as scipy_signal

from ecgutils import baseline, signal

FEATURES = (
    "mean_rr_s", "cv_rr", "rmssd_rel", "mad_rel", "pnn50", "cosen", "cv_rr_median3",
    "lag2_rel", "lag3_rel", "beats_per_s", "rr_valid",
)
# The QRS band of Pan & Tompkins (1985), used before detection where a caller asks for it,
# and the agreement below which the scanner keeps the band's beats (benchmarks/beat_band.py).
BAND_HZ = (5.0, 15.0)
BAND_GATE = 0.95
# Fewer RR intervals than this in a window: no rhythm features (COSEn needs 5).
MIN_RR = 5
# RR intervals outside this range (s) are detection errors (> 300 or < 20 beats/min) and are
# left out of the features.
RR_RANGE_S = (0.2, 3.0)


def detect(signal_mv: np.ndarray, fs: float,
           band_hz: Sequence[float] | None = None, gate: float | None = None) -> np.ndarray:
    """R-peak sample indices of one lead (NeuroKit2 ``neurokit`` method).

    Parameters
    ----------
    signal_mv : ndarray, shape (n_samples,)
        The raw lead (mV) at its own rate.
    fs : float
        Sampling rate (Hz).
    band_hz : (low, high) or None
        Band-pass the lead to this band (zero-phase order-2 Butterworth) before detection,
        e.g. :data:`BAND_HZ`. None detects on the lead as it is. A lead holding NaN is
        never band-passed: NeuroKit cleans it as it is.
    gate : float or None
        With ``band_hz``: detect both ways and keep the band's beats only where the two
        disagree, i.e. their agreement (:func:`agreement`) is below ``gate``; the lead's
        own beats otherwise. None keeps the band's beats always.

    Returns
    -------
    ndarray of int64
        Sorted, unique sample indices; empty when no beat is found.
    """
    signal_mv = np.asarray(signal_mv, dtype=float)
    if signal_mv.ndim != 1:
        raise ValueError(f"signal_mv must be one-dimensional; got shape {signal_mv.shape}")
    if fs <= 0:
        raise ValueError(f"fs must be positive; got {fs}")
    if band_hz is not None:
        low, high = (float(x) for x in band_hz)
        if not 0 < low < high < fs / 2:
            raise ValueError(f"band_hz must be 0 < low < high < fs/2 = {fs / 2:g} Hz; "
                             f"got {tuple(band_hz)}")
    if gate is not None and (band_hz is None or not 0 < gate <= 1):
        raise ValueError(f"gate must be in (0, 1] and needs band_hz; got gate {gate}, "
                         f"band_hz {band_hz}")
    if signal_mv.size < int(2 * fs):
        return np.zeros(0, dtype=np.int64)
    if band_hz is not None and not np.isnan(signal_mv).any():
        banded = _detect(signal.bandpass(signal_mv, fs, low, high, order=2), fs)
        if gate is None:
            return banded
        plain = _detect(signal_mv, fs)
        return banded if agreement(plain, banded, fs) < gate else plain
    return _detect(signal_mv, fs)


def agreement(first: np.ndarray, second: np.ndarray, fs: float,
              tolerance_s: float = 0.15) -> float:
    """F1 of two beat lists (samples) matched within ``tolerance_s`` (wfdb's matcher,
    :func:`beat_accuracy`): 1 where both are empty, 0 where one is."""
    if first.size == 0 or second.size == 0:
        return float(first.size == second.size)
    matched = beat_accuracy(first, second, fs, tolerance_s)["matched"]
    return 2 * matched / (first.size + second.size)


def _detect(signal_mv: np.ndarray, fs: float) -> np.ndarray:
    """:func:`detect`'s NeuroKit2 step on a checked lead of at least 2 s."""
    import neurokit2 as nk  # heavy import (~1 s): only where beats are detected

    with warnings.catch_warnings():
        # NeuroKit2 warns about too few peaks on very short or flat stretches; an empty or
        # short beat list is the honest answer there.
        warnings.simplefilter("ignore")
        cleaned = (nk.ecg_clean(signal_mv, sampling_rate=fs, method="neurokit")
                   if np.isnan(signal_mv).any() else _clean(signal_mv, float(fs)))
        # ecg_findpeaks: ecg_peaks without its DataFrame formatting (a quarter of the time).
        found = nk.ecg_findpeaks(cleaned, sampling_rate=fs, method="neurokit")
    peaks = np.asarray(found["ECG_R_Peaks"], dtype=np.int64)
    return np.unique(peaks[(peaks >= 0) & (peaks < signal_mv.size)])


def _clean(signal_mv: np.ndarray, fs: float) -> np.ndarray:
    """NeuroKit2's ``ecg_clean(method="neurokit")`` of a lead without NaN, with its filters
    designed once per rate.

    That method is two SciPy filters: a zero-phase order-5 Butterworth high-pass at 0.5 Hz
    and a zero-phase moving average over one 50-Hz period (its "powerline" filter). NeuroKit
    designs the high-pass on every call — a quarter of the scanner's beat detection, which
    calls it once per minute of ECG. The same SciPy calls on the same designs give the same
    values bit for bit (tests/test_beats.py compares them with ``nk.ecg_clean``).
    """
    highpass, width = _clean_filters(fs)
    return scipy_signal.filtfilt(np.ones(width), [width],
                                 scipy_signal.sosfiltfilt(highpass, signal_mv), method="pad")


@lru_cache(maxsize=8)
def _clean_filters(fs: float) -> tuple[np.ndarray, int]:
    highpass = scipy_signal.butter(5, 0.5, btype="highpass", output="sos", fs=fs)
    return highpass, int(fs / 50) if fs >= 100 else 2  # (callers must not change it)


def window_features(
    beat_times_s: np.ndarray, starts_s: np.ndarray, window_s: float
) -> np.ndarray:
    """RR features (:data:`FEATURES`) of windows ``[start, start + window_s)``.

    Parameters
    ----------
    beat_times_s : ndarray
        Beat times of the record (s), sorted.
    starts_s : ndarray
        Window starts (s).
    window_s : float
        Window length (s).

    Returns
    -------
    ndarray of float32, shape (n_windows, len(FEATURES))
        Finite values; all zero but ``beats_per_s`` where the window has too few RR
        intervals (``rr_valid`` = 0).
    """
    beat_times_s = np.sort(np.asarray(beat_times_s, dtype=float))
    starts_s = np.asarray(starts_s, dtype=float)
    if window_s <= 0:
        raise ValueError(f"window_s must be positive; got {window_s}")
    first = np.searchsorted(beat_times_s, starts_s, side="left")
    last = np.searchsorted(beat_times_s, starts_s + window_s, side="left")
    out = np.zeros((starts_s.size, len(FEATURES)), dtype=np.float32)
    out[:, FEATURES.index("beats_per_s")] = (last - first) / window_s
    # Windows with the same number of kept RR intervals are stacked and computed together:
    # per-window calls cost far more in overhead than in arithmetic.
    by_count: dict[int, list[tuple[int, np.ndarray]]] = {}
    for row, (lo, hi) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        rr = np.diff(beat_times_s[lo:hi])
        rr = rr[(rr >= RR_RANGE_S[0]) & (rr <= RR_RANGE_S[1])]
        if rr.size >= MIN_RR:
            by_count.setdefault(rr.size, []).append((row, rr))
    for group in by_count.values():
        rows = [row for row, _ in group]
        out[rows] = _features(np.stack([rr for _, rr in group]),
                              out[rows, FEATURES.index("beats_per_s")], window_s)
    return out


def beat_accuracy(
    reference_samples: np.ndarray, detected_samples: np.ndarray, fs: float,
    tolerance_s: float = 0.15,
) -> dict[str, float]:
    """Se and +P of detected beats against reference beats (``wfdb.processing``'s matcher).

    Returns
    -------
    dict
        ``se``, ``ppv``, ``n_reference``, ``n_detected``, ``matched``.
    """
    from wfdb import processing

    reference_samples = np.asarray(reference_samples, dtype=np.int64)
    detected_samples = np.asarray(detected_samples, dtype=np.int64)
    if reference_samples.size == 0 or detected_samples.size == 0:
        raise ValueError("beat_accuracy needs reference and detected beats")
    comparator = processing.compare_annotations(
        reference_samples, detected_samples, int(round(tolerance_s * fs)))
    return {"se": float(comparator.sensitivity), "ppv": float(comparator.positive_predictivity),
            "n_reference": int(reference_samples.size), "n_detected": int(detected_samples.size),
            "matched": int(comparator.tp)}


def accuracy_table(
    records: Sequence, tolerance_s: float = 0.15,
) -> pd.DataFrame:
    """Per record: Se, +P and speed (× real time) of :func:`detect` against the reference beats
    of ``records`` (:class:`ecgutils.records.Record` with beat annotations)."""
    rows = []
    for rec in records:
        began = time.perf_counter()
        found = detect(rec.signal, rec.fs)
        seconds = time.perf_counter() - began
        rows.append({"record": rec.name,
                     **beat_accuracy(rec.beat_samples, found, rec.fs, tolerance_s),
                     "x_real_time": rec.duration_s / max(seconds, 1e-9)})
    return pd.DataFrame(rows)


def _features(rr: np.ndarray, beats_per_s: np.ndarray, window_s: float) -> np.ndarray:
    """The features of windows with the same number of kept RR intervals.

    Parameters
    ----------
    rr : ndarray, shape (n_windows, n_rr)
        Each window's kept RR intervals (s), ``n_rr`` >= :data:`MIN_RR`.
    beats_per_s : ndarray, shape (n_windows,)
        Each window's beats per second.
    window_s : float
        Window length (s), for the record of the computation only.

    Returns
    -------
    ndarray of float32, shape (n_windows, len(FEATURES))
    """
    mean = rr.mean(axis=1)
    diffs = np.diff(rr, axis=1)
    smoothed = ndimage.median_filter(rr, size=(1, 3), mode="nearest")  # along each row
    cosen = np.zeros(len(rr))
    if baseline.cosen_defined(rr.shape[1]):
        cosen = baseline.cosen_rows(rr)
    return np.column_stack((
        mean,
        rr.std(axis=1) / mean,
        np.sqrt(np.mean(diffs ** 2, axis=1)) / mean,
        stats.median_abs_deviation(rr, axis=1) / np.median(rr, axis=1),
        np.mean(np.abs(diffs) > 0.05, axis=1),
        cosen,
        smoothed.std(axis=1) / smoothed.mean(axis=1),
        np.median(np.abs(rr[:, 2:] - rr[:, :-2]), axis=1) / mean,
        np.median(np.abs(rr[:, 3:] - rr[:, :-3]), axis=1) / mean,
        beats_per_s,
        np.ones(len(rr)),
    )).astype(np.float32)
