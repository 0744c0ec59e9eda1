"""Ectopic beats and the shape of the RR scatter: what tells AF from other irregular rhythms.

AF is irregular, but so is sinus rhythm with premature beats, and CinC's "other rhythm" class
and mitdb's false AF alarms are mostly that. A cardiologist separates them by two things the
features of :mod:`ecgutils.beats` and :mod:`ecgutils.atrial` do not read directly:

* **Ectopic beats look different.** A ventricular premature beat has a wide QRS of another
  shape; in AF every QRS is the patient's normal one. Each beat's QRS (±:data:`QRS_HALF_S`
  around R) is correlated with the window's median QRS; a beat is *odd* below
  :data:`ODD_CORR` or when its peak-to-peak is outside :data:`ODD_RATIO` of the median's.
  The irregularity of the normal-to-normal (NN) intervals — both beats not odd — survives in
  AF and vanishes when the irregularity came from ectopics.
* **The RR scatter has a pattern.** Premature beats and bigeminy put the successive RR
  differences in a few clusters of the Lorenz (Poincaré) plot of ``(ΔRR_i, ΔRR_i+1)``; AF
  scatters them (Sarkar, Ritscher & Mehra, IEEE TBME 55:1219, 2008, count occupied bins of
  that plot; this is the same idea, not their AF-evidence formula).

Per window :data:`FEATURES`:

* ``odd_share`` — share of the window's beats that are odd;
* ``nn_share`` — share of its kept RR intervals that are NN;
* ``cv_nn``, ``rmssd_nn_rel`` — SD / mean and RMS of successive differences / mean of the NN
  intervals;
* ``lorenz_bins`` — occupied :data:`LORENZ_BIN_S` bins (one centred on 0) of the
  ``(ΔRR_i, ΔRR_i+1)`` plot per point (near 1: scattered; small: clustered);
* ``sd1_sd2`` — Poincaré SD1 / SD2 of the RR intervals (short-term over long-term
  variability; near 1 in AF's white-noise-like RR);
* ``rr_turns`` — share of RR intervals that are a local extreme (a turning point: up then
  down by at least :data:`TURN_MIN_S`, or down then up): 2/3 for a random series, near 1
  for bigeminy, lower for slow sinus drift.

Zero where the window has fewer than :data:`ecgutils.beats.MIN_RR` kept RR intervals (or, for
the NN features, NN intervals). The thresholds were fixed before any measurement; whether the
features help is measured on CinC development records (``benchmarks/ectopy_features.py``).
"""

from __future__ import annotations

import numpy as np

from ecgutils import atrial, beats

FEATURES = ("odd_share", "nn_share", "cv_nn", "rmssd_nn_rel", "lorenz_bins", "sd1_sd2",
            "rr_turns")
QRS_HALF_S = 0.06
ODD_CORR = 0.8
ODD_RATIO = (0.6, 1.6)
LORENZ_BIN_S = 0.04
LORENZ_RANGE_S = 0.6
TURN_MIN_S = 0.01  # an RR change below this (a few samples of jitter) is no change


def window_features(signal_mv: np.ndarray, fs: float, beat_times_s: np.ndarray,
                    starts_s: np.ndarray, window_s: float, filtered: bool = False,
                    t0_s: float = 0.0) -> np.ndarray:
    """:data:`FEATURES` of windows ``[start, start + window_s)`` of one lead; the arguments
    are those of :func:`ecgutils.atrial.window_features` (``filtered``: already band-passed;
    ``t0_s``: the time of the first sample).

    Returns
    -------
    ndarray of float32, shape (n_windows, len(FEATURES))
    """
    signal_mv = atrial.checked_lead(signal_mv, fs, window_s)
    if not filtered:
        passed = atrial.bandpassed(signal_mv, fs)
        if passed is not None:  # a lead too short for the band-pass is read as it is
            signal_mv = passed
    beat_times_s = np.sort(np.asarray(beat_times_s, dtype=float))
    starts_s = np.asarray(starts_s, dtype=float)
    half = int(round(QRS_HALF_S * fs))
    peaks = np.round(beat_times_s * fs).astype(np.int64) - int(round(t0_s * fs))
    inside = (peaks - half >= 0) & (peaks + half < signal_mv.size)
    segments = np.zeros((beat_times_s.size, 2 * half + 1))
    segments[inside] = signal_mv[peaks[inside, None] + np.arange(-half, half + 1)[None, :]]
    out = np.zeros((starts_s.size, len(FEATURES)), dtype=np.float32)
    first = np.searchsorted(beat_times_s, starts_s, side="left")
    last = np.searchsorted(beat_times_s, starts_s + window_s, side="left")
    # A window reads the QRS of its beats that lie wholly in it: its features then depend on
    # its own samples only (the scanner's blocks and a live stream give the batch's numbers).
    window_lo = np.round(starts_s * fs).astype(np.int64) - int(round(t0_s * fs))
    window_hi = window_lo + int(round(window_s * fs))
    for row, (lo, hi) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        whole = inside[lo:hi] & (peaks[lo:hi] - half >= window_lo[row]) \
            & (peaks[lo:hi] + half < window_hi[row])
        odd = odd_beats(segments[lo:hi], whole)
        out[row] = _window(beat_times_s[lo:hi], odd)
    return out


def odd_beats(segments: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Per beat of one window (its QRS ``segments``, n_beats × samples; ``inside``: the QRS
    lies wholly in the signal): True where the QRS differs from the window's median QRS —
    correlation below :data:`ODD_CORR` or peak-to-peak outside :data:`ODD_RATIO` of the
    median's. Beats not ``inside`` are not odd; fewer than 3 inside: none is."""
    odd = np.zeros(len(segments), dtype=bool)
    if inside.sum() < 3:
        return odd
    mine = segments[inside]
    template = np.median(mine, axis=0)
    corr = atrial.correlations(mine, template)
    ratio = np.ptp(mine, axis=1) / max(float(np.ptp(template)), 1e-9)
    odd[inside] = (corr < ODD_CORR) | (ratio < ODD_RATIO[0]) | (ratio > ODD_RATIO[1])
    return odd


def _window(times: np.ndarray, odd: np.ndarray) -> np.ndarray:
    """The features of one window's beats ``times`` (s) and their ``odd`` flags."""
    out = np.zeros(len(FEATURES), dtype=np.float32)
    rr = np.diff(times)
    kept = (rr >= beats.RR_RANGE_S[0]) & (rr <= beats.RR_RANGE_S[1])
    if kept.sum() < beats.MIN_RR:
        return out
    normal = kept & ~odd[:-1] & ~odd[1:]
    out[0] = odd.mean()
    out[1] = normal.sum() / kept.sum()
    nn = rr[normal]
    if nn.size >= beats.MIN_RR:
        out[2] = nn.std() / nn.mean()
        out[3] = np.sqrt(np.mean(np.diff(nn) ** 2)) / nn.mean()
    rr = rr[kept]
    d = np.diff(rr)
    points = np.clip(np.column_stack([d[:-1], d[1:]]), -LORENZ_RANGE_S, LORENZ_RANGE_S)
    cells = np.round(points / LORENZ_BIN_S).astype(np.int64)  # a bin centred on 0
    # One integer per (x, y) bin: np.unique of a 1-D array is several times faster than of
    # rows (axis=0), and the count is the same.
    side = 2 * int(round(LORENZ_RANGE_S / LORENZ_BIN_S)) + 1
    out[4] = np.unique(cells[:, 0] * side + cells[:, 1]).size / len(cells)
    sd1_sq = np.var(d) / 2
    sd2_sq = max(2 * np.var(rr) - sd1_sq, 0.0)
    out[5] = np.sqrt(sd1_sq / sd2_sq) if sd2_sq > 0 else 0.0
    moves = np.where(np.abs(d) >= TURN_MIN_S, np.sign(d), 0.0)
    out[6] = np.mean(moves[:-1] * moves[1:] < 0)
    return out
