"""From per-window AF probabilities along a long record to AF episodes.

Windows of ``window_s`` seconds start every ``step_s`` seconds (``step_s`` divides
``window_s``). The record is cut into slots of ``step_s``; a slot's probability is the mean of
the windows that cover it (the smoothing: with 20-s windows every 5 s, four windows vote on
each 5-s slot). A hysteresis turns the slot series into AF runs — AF begins where the
probability reaches ``on`` and lasts until it falls below ``off`` (``off ≤ on``), so a
probability wavering around one threshold does not chop an episode into pieces. Runs closer
than ``merge_gap_s`` are joined and runs shorter than ``min_episode_s`` dropped.

Times are seconds from the record start; an episode is a :class:`ecgutils.rhythm.Interval`
labelled ``AFIB`` (EC57's AF episode, scored by :mod:`ecgutils.ec57`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgutils import rhythm


@dataclass(frozen=True)
class EpisodeParams:
    """How slot probabilities become episodes.

    Attributes
    ----------
    on_threshold : float or None
        Probability at which AF begins; None = the threshold passed to :func:`detect` (the
        fold's validation-chosen window threshold).
    hysteresis : float
        AF ends when the probability falls below ``on − hysteresis`` (0 = one threshold).
    min_episode_s : float
        Shorter runs are dropped (s), after merging.
    merge_gap_s : float
        Runs separated by a gap shorter than this are joined (s).
    """

    on_threshold: float | None = None
    hysteresis: float = 0.1
    min_episode_s: float = 30.0
    merge_gap_s: float = 0.0

    def __post_init__(self) -> None:
        if self.on_threshold is not None and not 0 < self.on_threshold < 1:
            raise ValueError(f"on_threshold must be in (0, 1); got {self.on_threshold}")
        if not 0 <= self.hysteresis < 1:
            raise ValueError(f"hysteresis must be in [0, 1); got {self.hysteresis}")
        if self.min_episode_s < 0 or self.merge_gap_s < 0:
            raise ValueError(f"min_episode_s and merge_gap_s must be ≥ 0; got "
                             f"{self.min_episode_s}, {self.merge_gap_s}")


def slot_probabilities(
    starts_s: np.ndarray,
    prob: np.ndarray,
    window_s: float,
    step_s: float,
    record_end_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean probability of the windows covering each ``step_s`` slot of the record.

    Parameters
    ----------
    starts_s : ndarray
        Window starts (s), multiples of ``step_s`` (any order).
    prob : ndarray
        AF probability of each window, in [0, 1].
    window_s, step_s : float
        Window length and slot length (s); ``window_s`` must be a multiple of ``step_s``.
    record_end_s : float
        Record duration (s); slots run up to it.

    Returns
    -------
    (slot_starts_s, slot_prob)
        Slot ``k`` covers ``[k step_s, (k+1) step_s)`` clipped to the record; a slot no window
        covers (a tail shorter than a step) has probability ``nan``.
    """
    starts_s = np.asarray(starts_s, dtype=float)
    prob = np.asarray(prob, dtype=float)
    if starts_s.shape != prob.shape or starts_s.ndim != 1:
        raise ValueError(f"starts_s and prob must be 1-D and alike; got {starts_s.shape}, "
                         f"{prob.shape}")
    if step_s <= 0 or window_s <= 0:
        raise ValueError(f"window_s and step_s must be positive; got {window_s}, {step_s}")
    per_window = window_s / step_s
    if abs(per_window - round(per_window)) > 1e-9:
        raise ValueError(f"window_s={window_s} must be a multiple of step_s={step_s}")
    if prob.size and (not np.all(np.isfinite(prob)) or prob.min() < 0 or prob.max() > 1):
        raise ValueError("prob must hold finite probabilities in [0, 1]")
    first_slot = starts_s / step_s
    if prob.size and np.abs(first_slot - np.round(first_slot)).max() > 1e-6:
        raise ValueError(f"window starts must be multiples of step_s={step_s}")
    n_slots = int(np.ceil(record_end_s / step_s - 1e-9))
    if n_slots <= 0:
        raise ValueError(f"record_end_s must be positive; got {record_end_s}")
    total = np.zeros(n_slots)
    count = np.zeros(n_slots)
    first = np.round(first_slot).astype(int)
    for offset in range(int(round(per_window))):
        slots = first + offset
        inside = (slots >= 0) & (slots < n_slots)
        np.add.at(total, slots[inside], prob[inside])
        np.add.at(count, slots[inside], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.arange(n_slots) * step_s, np.where(count > 0, total / count, np.nan)


def hysteresis_mask(values: np.ndarray, on: float, off: float,
                    start_active: bool = False) -> np.ndarray:
    """True from where ``values`` reaches ``on`` until it falls below ``off``; ``nan`` is off.

    Parameters
    ----------
    values : ndarray
    on, off : float
        ``off ≤ on``.
    start_active : bool
        The state before the first value (a live stream continues from its last mask value).

    Returns
    -------
    ndarray of bool
    """
    if off > on:
        raise ValueError(f"off={off} must not exceed on={on}")
    values = np.asarray(values, dtype=float)
    mask = np.zeros(values.size, dtype=bool)
    active = bool(start_active)
    for index, value in enumerate(values):
        if not np.isfinite(value):
            active = False
        elif active:
            active = value >= off
        else:
            active = value >= on
        mask[index] = active
    return mask


def runs_to_intervals(
    mask: np.ndarray,
    step_s: float,
    record_end_s: float,
    min_episode_s: float = 0.0,
    merge_gap_s: float = 0.0,
) -> list[rhythm.Interval]:
    """AF intervals from a slot mask: runs of True, gaps under ``merge_gap_s`` joined, runs
    under ``min_episode_s`` dropped; the last slot ends at ``record_end_s``."""
    mask = np.asarray(mask, dtype=bool)
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1) * step_s
    ends = np.minimum(np.flatnonzero(edges == -1) * step_s, float(record_end_s))
    runs = rhythm.merge_spans(zip(starts.tolist(), ends.tolist(), strict=True), merge_gap_s,
                              strict=True)
    return [rhythm.Interval(rhythm.AF, start, end) for start, end in runs
            if end - start >= min_episode_s]


def detect(
    starts_s: np.ndarray,
    prob: np.ndarray,
    threshold: float,
    window_s: float,
    step_s: float,
    record_end_s: float,
    params: EpisodeParams | None = None,
) -> list[rhythm.Interval]:
    """AF episodes of one record from its windows' probabilities.

    Parameters
    ----------
    starts_s, prob, window_s, step_s, record_end_s
        As for :func:`slot_probabilities`.
    threshold : float
        The window decision threshold (used as ``on`` unless ``params.on_threshold`` is set).
    params : EpisodeParams, optional
        Default :class:`EpisodeParams()`.

    Returns
    -------
    list of rhythm.Interval
        Labelled ``AFIB``, in time order, non-overlapping.
    """
    params = params or EpisodeParams()
    on = params.on_threshold if params.on_threshold is not None else float(threshold)
    if not 0 < on < 1:
        raise ValueError(f"threshold must be in (0, 1); got {on}")
    _, slot_prob = slot_probabilities(starts_s, prob, window_s, step_s, record_end_s)
    mask = hysteresis_mask(slot_prob, on, max(0.0, on - params.hysteresis))
    return runs_to_intervals(mask, step_s, record_end_s, params.min_episode_s,
                             params.merge_gap_s)
