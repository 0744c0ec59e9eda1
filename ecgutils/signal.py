"""Signal conditioning and quality checks on one lead (numpy/scipy only)."""

from __future__ import annotations

import numpy as np

# A segment whose peak-to-peak amplitude is below this is flat (mV).
FLAT_PEAK_TO_PEAK_MV = 0.01


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
