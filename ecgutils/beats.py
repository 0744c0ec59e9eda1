"""QRS detection and RR-interval features per window (numpy/scipy/NeuroKit2; no TensorFlow).

Beats are detected on the raw lead at its own sampling rate with NeuroKit2 (``ecg_clean`` +
``ecg_peaks``, method ``neurokit``): on mitdb it finds the reference beats with Se/+P ≥ 0.99 on
most records at ~10 000–30 000× real time, where wfdb's XQRS runs at ~1 000× (see
``benchmarks/bench_beats.py``). Matching against reference beats uses
``wfdb.processing.compare_annotations``.

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

import inspect
import math
import time
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import ndimage, stats
from scipy import signal as scipy_signal

from ecgutils import baseline, blockdsp

try:  # SciPy's compiled core of find_peaks / peak_prominences, without their checks
    from scipy.signal import _peak_finding_utils
except ImportError:  # pragma: no cover - a SciPy that moved it: the public functions
    _peak_finding_utils = None

FEATURES = (
    "mean_rr_s", "cv_rr", "rmssd_rel", "mad_rel", "pnn50", "cosen", "cv_rr_median3",
    "lag2_rel", "lag3_rel", "beats_per_s", "rr_valid",
)
# Fewer RR intervals than this in a window: no rhythm features (COSEn needs 5).
MIN_RR = 5
# RR intervals outside this range (s) are detection errors (> 300 or < 20 beats/min) and are
# left out of the features.
RR_RANGE_S = (0.2, 3.0)


def detect(signal_mv: np.ndarray, fs: float) -> np.ndarray:
    """R-peak sample indices of one lead (NeuroKit2 ``neurokit`` method).

    Parameters
    ----------
    signal_mv : ndarray, shape (n_samples,)
        The raw lead (mV) at its own rate.
    fs : float
        Sampling rate (Hz).

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
    if signal_mv.size < int(2 * fs):
        return np.zeros(0, dtype=np.int64)
    if np.isnan(signal_mv).any():  # NeuroKit fills the gaps first; rare, so its own code
        return _detect_neurokit(signal_mv, fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mean QRS length of no QRS at all
        peaks = _neurokit_r_peaks(_neurokit_cleaner(float(fs))(signal_mv), fs)
    return np.unique(peaks[(peaks >= 0) & (peaks < signal_mv.size)])


def _detect_neurokit(signal_mv: np.ndarray, fs: float) -> np.ndarray:
    """:func:`detect` through NeuroKit2 itself (``ecg_clean`` + ``ecg_findpeaks``)."""
    import neurokit2 as nk  # heavy import (~1 s): only where it is needed

    with warnings.catch_warnings():
        # NeuroKit2 warns about too few peaks on very short or flat stretches; an empty or
        # short beat list is the honest answer there.
        warnings.simplefilter("ignore")
        cleaned = nk.ecg_clean(signal_mv, sampling_rate=fs, method="neurokit")
        # ecg_findpeaks: ecg_peaks without its DataFrame formatting (a quarter of the time).
        found = nk.ecg_findpeaks(cleaned, sampling_rate=fs, method="neurokit")
    peaks = np.asarray(found["ECG_R_Peaks"], dtype=np.int64)
    return np.unique(peaks[(peaks >= 0) & (peaks < signal_mv.size)])


@lru_cache(maxsize=8)
def _neurokit_cleaner(fs: float) -> Callable[[np.ndarray], np.ndarray]:
    """NeuroKit2's ``ecg_clean(method="neurokit")`` at ``fs`` with its filters designed once:
    a 0.5-Hz order-5 Butterworth high-pass (zero phase), then a zero-phase moving average
    over one 50-Hz period; bit-identical (tests/test_beats.py)."""
    highpass = blockdsp.SosFiltFilt(
        scipy_signal.butter(5, 0.5, btype="highpass", output="sos", fs=fs))
    width = int(fs / 50) if fs >= 100 else 2
    powerline = blockdsp.FiltFilt(np.ones(width), [width])
    return lambda x: powerline(highpass(x))


def _neurokit_r_peaks(cleaned: np.ndarray, fs: float) -> np.ndarray:
    """NeuroKit2's ``ecg_findpeaks(method="neurokit")`` (its default parameters): QRS
    complexes where the smoothed absolute gradient exceeds 1.5 × its 0.75-s average, the R
    peak the most prominent maximum of each complex long enough and 0.3 s after the last.

    The same steps as NeuroKit2's code, with SciPy's compiled peak and prominence search in
    place of one ``scipy.signal.find_peaks`` per complex (whose checks took most of the
    time); bit-identical (tests/test_beats.py).
    """
    cleaned = np.ascontiguousarray(cleaned)  # the compiled search takes contiguous arrays
    absgrad = np.abs(np.gradient(cleaned))
    smoothgrad = ndimage.uniform_filter1d(absgrad, int(np.rint(0.1 * fs)), mode="nearest")
    avggrad = ndimage.uniform_filter1d(smoothgrad, int(np.rint(0.75 * fs)), mode="nearest")
    qrs = smoothgrad > 1.5 * avggrad
    beg_qrs = np.where(np.logical_and(np.logical_not(qrs[0:-1]), qrs[1:]))[0]
    end_qrs = np.where(np.logical_and(qrs[0:-1], np.logical_not(qrs[1:])))[0]
    if len(beg_qrs) == 0:
        return np.zeros(0, dtype=np.int64)
    end_qrs = end_qrs[end_qrs > beg_qrs[0]]
    num_qrs = min(beg_qrs.size, end_qrs.size)
    min_len = np.mean(end_qrs[:num_qrs] - beg_qrs[:num_qrs]) * 0.4
    mindelay = int(np.rint(fs * 0.3))
    peaks = [0]
    for beg, end in zip(beg_qrs[:num_qrs].tolist(), end_qrs[:num_qrs].tolist(), strict=True):
        if end - beg < min_len:
            continue
        data = cleaned[beg:end]
        locmax = _local_maxima(data)
        if locmax.size > 0:
            peak = beg + int(locmax[np.argmax(_prominences(data, locmax))])
            if peak - peaks[-1] > mindelay:
                peaks.append(peak)
    return np.asarray(peaks[1:], dtype=np.int64)


def _local_maxima(x: np.ndarray) -> np.ndarray:
    """``scipy.signal.find_peaks(x)[0]``: local maxima (a plateau's middle)."""
    if _peak_finding_utils is None:
        return scipy_signal.find_peaks(x)[0]
    return _peak_finding_utils._local_maxima_1d(x)[0]


def _prominences(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """``scipy.signal.peak_prominences(x, peaks)[0]`` (no window)."""
    if _peak_finding_utils is None:
        return scipy_signal.peak_prominences(x, peaks)[0]
    return _peak_finding_utils._peak_prominences(x, peaks, -1)[0]


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
    kept: dict[int, np.ndarray] = {}
    for row, (lo, hi) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        rr = np.diff(beat_times_s[lo:hi])
        rr = rr[(rr >= RR_RANGE_S[0]) & (rr <= RR_RANGE_S[1])]
        if rr.size >= MIN_RR:
            out[row] = _features(rr, hi - lo, window_s)
            kept[row] = rr
    if kept:
        rows = list(kept)
        out[rows, FEATURES.index("cosen")] = _cosen(list(kept.values()))
        # The MAD of every window in one SciPy call (per window, its overhead dominated).
        padded = np.full((len(kept), max(rr.size for rr in kept.values())), np.nan)
        for index, rr in enumerate(kept.values()):
            padded[index, :rr.size] = rr
        mad = stats.median_abs_deviation(padded, axis=1, nan_policy="omit")
        out[rows, FEATURES.index("mad_rel")] = mad / np.nanmedian(padded, axis=1)
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


def _features(rr: np.ndarray, n_beats: int, window_s: float) -> np.ndarray:
    """One window's features from its kept RR intervals (at least :data:`MIN_RR`), but
    ``mad_rel`` and ``cosen`` (0: :func:`window_features` fills them in for all windows at
    once)."""
    mean = rr.mean()
    diffs = np.diff(rr)
    smoothed = _median3(rr)
    return np.array((
        mean,
        rr.std() / mean,
        np.sqrt(np.mean(diffs ** 2)) / mean,
        0.0,  # mad_rel
        np.mean(np.abs(diffs) > 0.05),
        0.0,  # cosen
        smoothed.std() / smoothed.mean(),
        _median(np.abs(rr[2:] - rr[:-2])) / mean,
        _median(np.abs(rr[3:] - rr[:-3])) / mean,
        n_beats / window_s,
        1.0,
    ), dtype=np.float32)


def _median3(x: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.median_filter(x, size=3, mode="nearest")``: the middle of each three
    neighbours (ends repeated) picked by min and max, exactly the same values without the
    filter's per-call set-up."""
    padded = np.concatenate((x[:1], x, x[-1:]))
    a, b, c = padded[:-2], padded[1:-1], padded[2:]
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def _median(x: np.ndarray) -> float:
    """``numpy.median`` of a non-empty 1-D array without NaN: the middle value, or the mean
    of the two middle values (the same sum and halving as NumPy's)."""
    ordered = np.sort(x)
    half = ordered.size // 2
    if ordered.size % 2:
        return float(ordered[half])
    return float((ordered[half - 1] + ordered[half]) / 2)


def _cosen(rr_runs: list[np.ndarray]) -> np.ndarray:
    """:func:`ecgutils.baseline.cosen` (its default settings) of each run of RR intervals,
    0 where it has too few templates; the runs of one length in one vectorised call."""
    values = np.zeros(len(rr_runs))
    by_length: dict[int, list[int]] = {}
    for index, rr in enumerate(rr_runs):
        by_length.setdefault(rr.size, []).append(index)
    for size, indices in by_length.items():
        if size < 4 or math.comb(size - 1, 2) < _COSEN["min_matches"]:
            continue  # baseline.cosen refuses it: too few templates
        # baseline.cosen checks one run and computes it as one row of this function; the
        # runs here are finite and in RR_RANGE_S, so only the row computation is left.
        values[indices] = baseline._cosen_rows(np.stack([rr_runs[i] for i in indices]),
                                               **_COSEN)
    return values


# baseline.cosen's defaults (r_s, min_matches, r_step_s), read from its signature.
_COSEN = {name: p.default for name, p in inspect.signature(baseline.cosen).parameters.items()
          if name != "rr_s"}
