"""The 38 window features of the feature detector: rhythm, atrial activity, ectopy, f waves.

What a cardiologist reads off a strip, as numbers, per window ``[start, start + window_s)``:

* :data:`ecgutils.beats.FEATURES` (11) — the RR irregularity of the window's beats;
* :data:`RR_EXTRA` (6) — a few more RR statistics (:func:`rr_extra`);
* :data:`ecgutils.atrial.FEATURES` (10) — the P wave, or its absence, in the median beat;
* :data:`ecgutils.ectopy.FEATURES` (7) — ectopic beats (odd QRS shapes) and the irregularity
  that is left without them, and the pattern of the RR scatter. Adopted on CinC development
  records by a rule fixed beforehand (``benchmarks/ectopy_features.py``: clean F1 +0.010,
  mean noisy F1 +0.025, every condition up); :data:`BEFORE_ECTOPY` is the set before.
* :data:`ecgutils.fwaves.FEATURES` (4) — the atrial activity left over the whole window once
  every QRS-T is cancelled: its size, 4–10 Hz share, dominant frequency and how concentrated
  its power is. Adopted by the same rule (``benchmarks/fwave_features.py``: clean F1 −0.005,
  AUROC −0.000, mean noisy F1 +0.011 — a weak pass, carried by muscle noise at 0 dB, +0.057);
  :data:`BEFORE_FWAVES` is the set before.

One pure function (:func:`segment_features`) serves the study (notebook 03c, on the raw lead)
and the scanner (:mod:`ecgutils.detect`, on its band-passed signal), so a model trained on the
scanner's rows sees in use exactly what it saw in training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ecgutils import atrial, beats, ectopy, fwaves
from ecgutils.windows import CLASS_INDEX

AF_CLASS = CLASS_INDEX["A"]  # a four-class model's AF class
RR_EXTRA = ("rr_n", "rr_min_rel", "rr_max_rel", "drr_rel10", "drr_rel20", "rr_iqr_rel")
BEFORE_ECTOPY = beats.FEATURES + RR_EXTRA + atrial.FEATURES
BEFORE_FWAVES = BEFORE_ECTOPY + ectopy.FEATURES
FEATURES = BEFORE_FWAVES + fwaves.FEATURES
RHYTHM_ONLY = beats.FEATURES + RR_EXTRA
# Every feature this code computes; a bundle names the ones its model reads (in any order).
KNOWN = FEATURES


def segment_features(signal_mv: np.ndarray, fs: float, beat_times_s: np.ndarray,
                     starts_s: np.ndarray, window_s: float,
                     filtered: bool = False, t0_s: float = 0.0,
                     columns: tuple[str, ...] | list[str] = FEATURES) -> np.ndarray:
    """The features ``columns`` (default :data:`FEATURES`; any of :data:`KNOWN`, in any
    order) of windows ``[start, start + window_s)`` of one lead.

    ``filtered``: the lead is already band-passed (zero phase, e.g. the scanner's 0.5-40 Hz),
    so :func:`ecgutils.atrial.window_features` reads it as it is — each window's features
    then depend on that window's samples only. ``t0_s``: the time of ``signal_mv``'s first
    sample (beat times and starts are on the recording's clock).

    Returns
    -------
    ndarray of float32, shape (n_windows, len(columns))
    """
    columns = tuple(columns)
    unknown = sorted(set(columns) - set(KNOWN))
    if unknown or len(set(columns)) != len(columns):
        raise ValueError(f"features {list(columns)}: unknown {unknown} or repeated "
                         f"(known: {list(KNOWN)})")
    starts_s = np.asarray(starts_s, dtype=float)
    if not filtered:
        # Band-passed once here for every family (each would otherwise do it itself); a lead
        # too short for filtfilt's padding goes on as it is, as each family treats it.
        passed = atrial.bandpassed(atrial.checked_lead(signal_mv, fs, window_s), fs)
        if passed is not None:
            signal_mv, filtered = passed, True
    parts = [beats.window_features(beat_times_s, starts_s, window_s),
             rr_extra(beat_times_s, starts_s, window_s),
             atrial.window_features(signal_mv, fs, beat_times_s, starts_s, window_s,
                                    filtered=filtered, t0_s=t0_s)]
    names = list(BEFORE_ECTOPY)
    for module in (ectopy, fwaves):
        if set(columns) & set(module.FEATURES):
            parts.append(module.window_features(signal_mv, fs, beat_times_s, starts_s,
                                                window_s, filtered=filtered, t0_s=t0_s))
            names += module.FEATURES
    computed = np.hstack(parts)
    if columns == tuple(names):
        return computed
    return computed[:, [names.index(c) for c in columns]]


def af_prob(model: Any, X: np.ndarray) -> np.ndarray:
    """P(AF) of rows ``X`` from a scikit-learn classifier of the classes
    :data:`ecgutils.windows.CLASS_INDEX` (the study's and the shipped bundle's models)."""
    return model.predict_proba(np.asarray(X, dtype=float))[
        :, list(model.classes_).index(AF_CLASS)]


def record_scores(records: np.ndarray, af: np.ndarray, prob: np.ndarray) -> pd.DataFrame:
    """One row per record (sorted): ``record``, ``y`` (AF in any of its rows), ``prob`` (the
    mean of its windows' probabilities, as the scanner scores a recording) and
    ``n_windows``."""
    table = pd.DataFrame({"record": np.asarray(records).astype(str), "y": af, "prob": prob})
    return table.groupby("record", sort=True).agg(
        y=("y", "max"), prob=("prob", "mean"), n_windows=("prob", "size")).reset_index()


def rr_extra(beat_times_s: np.ndarray, starts_s: np.ndarray, window_s: float) -> np.ndarray:
    """:data:`RR_EXTRA` per window: the count of kept RR intervals, the shortest and longest
    relative to the median, the shares of successive differences above 10 % and 20 % of the
    RR, and the interquartile range relative to the median (zero below
    :data:`ecgutils.beats.MIN_RR` intervals)."""
    beat_times_s = np.sort(np.asarray(beat_times_s, dtype=float))
    starts_s = np.asarray(starts_s, dtype=float)
    out = np.zeros((starts_s.size, len(RR_EXTRA)), dtype=np.float32)
    first = np.searchsorted(beat_times_s, starts_s, side="left")
    last = np.searchsorted(beat_times_s, starts_s + window_s, side="left")
    for row, (lo, hi) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        rr = np.diff(beat_times_s[lo:hi])
        rr = rr[(rr >= beats.RR_RANGE_S[0]) & (rr <= beats.RR_RANGE_S[1])]
        if rr.size < beats.MIN_RR:
            continue
        median = np.median(rr)
        relative_change = np.abs(np.diff(rr)) / rr[1:]
        q75, q25 = np.percentile(rr, [75, 25])
        out[row] = (rr.size, rr.min() / median, rr.max() / median,
                    np.mean(relative_change > 0.1), np.mean(relative_change > 0.2),
                    (q75 - q25) / median)
    return out
