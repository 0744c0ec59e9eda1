"""Signal conditioning and quality checks on one lead (numpy/scipy only)."""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy import signal as scipy_signal
from scipy import stats

from ecgutils.errors import UnknownNameError

# A segment whose peak-to-peak amplitude is below this is flat (mV).
FLAT_PEAK_TO_PEAK_MV = 0.01

# Every dataset is resampled to this rate so that a 20-s window is 5000 samples everywhere.
TARGET_FS = 250.0

NORMALISATIONS = ("zscore", "robust", "none")


def quality_summary(
    signal_mv: np.ndarray,
    fs: float,
    clip_limits_mv: tuple[float, float] = (-np.inf, np.inf),
    segment_s: float = 2.0,
) -> dict[str, float]:
    """Simple quality figures of one lead.

    Parameters
    ----------
    signal_mv : ndarray
        The lead in mV.
    fs : float
        Sampling frequency in Hz.
    clip_limits_mv : (low, high)
        The ADC's lowest and highest storable value in mV; samples at them are clipped.
    segment_s : float
        Segment length (s) for the flat check.

    Returns
    -------
    dict
        ``nan_samples``; ``clipped_fraction`` (of samples at an ADC limit);
        ``flat_fraction`` (of ``segment_s`` segments with peak-to-peak < 0.01 mV).
    """
    signal_mv = np.asarray(signal_mv, dtype=float)
    segment = max(1, int(round(segment_s * fs)))
    n_segments = signal_mv.size // segment
    if n_segments:
        blocks = signal_mv[: n_segments * segment].reshape(n_segments, segment)
        flat_fraction = float(np.mean(np.ptp(blocks, axis=1) < FLAT_PEAK_TO_PEAK_MV))
    else:
        flat_fraction = float(np.ptp(signal_mv) < FLAT_PEAK_TO_PEAK_MV) if signal_mv.size else 1.0
    low, high = clip_limits_mv
    # Half a microvolt of slack: physical values are digital codes divided by the gain.
    clipped = (signal_mv <= low + 5e-4) | (signal_mv >= high - 5e-4)
    return {
        "nan_samples": int(np.isnan(signal_mv).sum()),
        "clipped_fraction": float(np.mean(clipped)) if signal_mv.size else 0.0,
        "flat_fraction": flat_fraction,
    }


def bandpass(
    signal_mv: np.ndarray,
    fs: float,
    low_hz: float = 0.5,
    high_hz: float = 40.0,
    order: int = 4,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass of a whole record (``scipy.signal.sosfiltfilt``).

    Filtering the whole record before windowing avoids edge transients inside windows and
    the forward-backward pass keeps the QRS in place (no phase delay).

    Parameters
    ----------
    signal_mv : ndarray, shape (n_samples,)
        One lead in mV.
    fs : float
        Sampling frequency in Hz.
    low_hz, high_hz : float
        Pass band edges in Hz (``0 < low_hz < high_hz < fs / 2``).
    order : int
        Butterworth order of each section pass (the effective order doubles).

    Returns
    -------
    ndarray of float64, same shape
    """
    signal_mv = np.asarray(signal_mv, dtype=float)
    if not 0 < low_hz < high_hz < fs / 2:
        raise ValueError(
            f"band-pass edges must satisfy 0 < low_hz < high_hz < fs/2; got low_hz={low_hz}, "
            f"high_hz={high_hz}, fs={fs}"
        )
    if signal_mv.ndim != 1:
        raise ValueError(f"expected one lead (1-D array), got shape {signal_mv.shape}")
    sos = _butter_bandpass(float(fs), float(low_hz), float(high_hz), int(order))
    # sosfiltfilt needs more than 3 × (2 × sections) samples of padding; short CinC records
    # (9 s at 300 Hz = 2700 samples) are far above that.
    return scipy_signal.sosfiltfilt(sos, signal_mv)


def resample(signal: np.ndarray, fs_in: float, fs_out: float = TARGET_FS) -> np.ndarray:
    """Polyphase resampling (``scipy.signal.resample_poly``) from ``fs_in`` to ``fs_out`` Hz.

    The duration is kept: ``n_out = ceil(n_in * fs_out / fs_in)``.
    """
    signal = np.asarray(signal, dtype=float)
    if fs_in <= 0 or fs_out <= 0:
        raise ValueError(f"sampling rates must be positive; got fs_in={fs_in}, fs_out={fs_out}")
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    if abs(float(ratio) - fs_out / fs_in) > 1e-9:
        raise ValueError(f"no small rational ratio between fs_in={fs_in} and fs_out={fs_out}")
    if ratio == 1:
        return signal.copy()
    up, down = ratio.numerator, ratio.denominator
    return scipy_signal.resample_poly(signal, up, down, window=_resample_taps(up, down))


@lru_cache(maxsize=16)
def _resample_taps(up: int, down: int) -> np.ndarray:
    """The low-pass ``resample_poly`` designs for ``window=("kaiser", 5.0)``, designed once per
    ratio: given as an array it is used as is, and the scanner resamples one block a minute."""
    max_rate = max(up, down)
    taps = scipy_signal.firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    taps.setflags(write=False)  # shared between calls
    return taps


def normalise(windows: np.ndarray, method: str = "zscore") -> np.ndarray:
    """Per-window normalisation along the last axis.

    Parameters
    ----------
    windows : ndarray, shape (..., n_samples)
    method : {"zscore", "robust", "none"}
        ``zscore``: subtract the mean, divide by the standard deviation; ``robust``: subtract
        the median, divide by 1.4826 × the median absolute deviation; ``none``: unchanged (mV).
        A window with zero spread is only centred (quality checks drop flat windows earlier).

    Returns
    -------
    ndarray of float32, same shape
    """
    if method not in NORMALISATIONS:
        raise UnknownNameError(
            f"unknown normalisation {method!r}; choose one of {', '.join(NORMALISATIONS)}"
        )
    windows = np.asarray(windows, dtype=np.float64)
    if method == "none":
        return windows.astype(np.float32)
    if method == "zscore":
        centre = windows.mean(axis=-1, keepdims=True)
        spread = windows.std(axis=-1, keepdims=True)
    else:
        centre = np.median(windows, axis=-1, keepdims=True)
        # The documented 1.4826, not scale="normal" (1/Φ⁻¹(0.75) = 1.482602…), which would
        # change cached windows in their last float32 bits.
        spread = 1.4826 * stats.median_abs_deviation(windows, axis=-1)[..., np.newaxis]
    spread = np.where(spread > 0, spread, 1.0)
    return ((windows - centre) / spread).astype(np.float32)


def window_quality(
    windows_mv: np.ndarray,
    clip_limits_mv: tuple[float, float] = (-np.inf, np.inf),
    flat_segment_samples: int = 500,
) -> dict[str, np.ndarray]:
    """Per-window quality figures of raw (unfiltered) windows in mV.

    Parameters
    ----------
    windows_mv : ndarray, shape (n_windows, n_samples)
        Raw lead in mV, cut at the same places as the processed windows.
    clip_limits_mv : (low, high)
        ADC limits; samples at them are clipped.
    flat_segment_samples : int
        Segment length (samples) for the flat check.

    Returns
    -------
    dict of ndarray, one value per window
        ``nan_fraction``, ``clipped_fraction``, ``flat_fraction`` (fraction of segments
        with peak-to-peak below 0.01 mV).
    """
    windows_mv = np.atleast_2d(np.asarray(windows_mv, dtype=float))
    n_windows, n_samples = windows_mv.shape
    segment = max(1, min(int(flat_segment_samples), n_samples))
    n_segments = n_samples // segment
    blocks = windows_mv[:, : n_segments * segment].reshape(n_windows, n_segments, segment)
    with np.errstate(invalid="ignore"):
        flat = np.ptp(blocks, axis=2) < FLAT_PEAK_TO_PEAK_MV
    low, high = clip_limits_mv
    clipped = (windows_mv <= low + 5e-4) | (windows_mv >= high - 5e-4)
    return {
        "nan_fraction": np.isnan(windows_mv).mean(axis=1),
        "clipped_fraction": clipped.mean(axis=1),
        "flat_fraction": flat.mean(axis=1),
    }


@lru_cache(maxsize=32)
def _butter_bandpass(fs: float, low_hz: float, high_hz: float, order: int) -> np.ndarray:
    return scipy_signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=fs, output="sos")
