"""Rhythm annotations → intervals, AF episodes, the AF fraction of a span, RR intervals.

WFDB marks a rhythm change with a ``+`` annotation whose ``aux_note`` names the new rhythm,
e.g. ``(AFIB``, ``(AFL``, ``(N``, ``(J`` (PhysioNet's files often end the note with a NUL byte,
which is stripped). A rhythm runs from its annotation to the next rhythm annotation or the end
of the record — the convention of WFDB's ``epicmp`` (ANSI/AAMI EC57).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

AF = "AFIB"
AFL = "AFL"

# WFDB beat annotation codes (QRS complexes); everything else (+ ~ | x [ ] ! ...) is not a beat.
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")


@dataclass(frozen=True)
class Interval:
    """A span of one rhythm, in seconds from the record start (``end_s`` exclusive)."""

    label: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def rhythm_label(aux_note: str) -> str | None:
    """``'(AFIB\\x00'`` → ``'AFIB'``; None when the note is not a rhythm label."""
    note = aux_note.replace("\x00", "").strip()
    if not note.startswith("(") or len(note) < 2:
        return None
    return note[1:]


def intervals_from_annotations(
    samples: Sequence[int],
    symbols: Sequence[str],
    aux_notes: Sequence[str],
    fs: float,
    n_samples: int,
) -> list[Interval]:
    """Rhythm intervals from WFDB annotations.

    Parameters
    ----------
    samples, symbols, aux_notes
        The annotation arrays of ``wfdb.rdann`` (sample index, code, aux note).
    fs : float
        Sampling frequency in Hz.
    n_samples : int
        Record length in samples; the last rhythm runs to it.

    Returns
    -------
    list of Interval
        In time order; the span before the first rhythm annotation is not covered.
    """
    changes = [
        (int(sample), label)
        for sample, symbol, aux in zip(samples, symbols, aux_notes, strict=True)
        if symbol == "+" and (label := rhythm_label(aux or "")) is not None
    ]
    changes.sort(key=lambda change: change[0])
    intervals = []
    for index, (sample, label) in enumerate(changes):
        end = changes[index + 1][0] if index + 1 < len(changes) else n_samples
        if end > sample:
            intervals.append(Interval(label, sample / fs, end / fs))
    return intervals


def episodes(intervals: Iterable[Interval], label: str = AF) -> list[Interval]:
    """The intervals of one rhythm: each annotated onset of ``label`` starts an episode."""
    return [interval for interval in intervals if interval.label == label]


def merge_spans(
    spans: Iterable[tuple[float, float]], max_gap: float = 0.0, *, strict: bool = False
) -> list[tuple[float, float]]:
    """Time-ordered ``(start, end)`` spans joined across gaps of at most ``max_gap``.

    The one episode-merging rule of the package (detector runs, EC57 episodes, annotation
    files), in any unit (s or samples).

    Parameters
    ----------
    spans : iterable of (start, end)
        Sorted by start.
    max_gap : float
        A span starting at most this long after the end of the span before it extends that
        span; 0 joins only touching (or overlapping) spans.
    strict : bool
        Join only gaps shorter than ``max_gap`` (``max_gap=0`` then joins nothing but
        overlapping spans).

    Returns
    -------
    list of (start, end)
        In time order; a joined span ends at the later of the two ends.
    """
    merged: list[list[float]] = []
    for start, end in spans:
        if merged:
            gap = start - merged[-1][1]
            if gap < max_gap or (gap == max_gap and not strict):
                merged[-1][1] = max(merged[-1][1], end)
                continue
        merged.append([start, end])
    return [(start, end) for start, end in merged]


def total_duration_s(intervals: Iterable[Interval], label: str = AF) -> float:
    """Seconds spent in ``label``."""
    return float(sum(interval.duration_s for interval in episodes(intervals, label)))


def label_fraction(
    intervals: Iterable[Interval], start_s: float, end_s: float, label: str = AF
) -> float:
    """Fraction of ``[start_s, end_s)`` covered by ``label`` (0 … 1)."""
    return float(label_fractions(intervals, np.array([start_s]), np.array([end_s]), label)[0])


def label_fractions(
    intervals: Iterable[Interval], starts_s: np.ndarray, ends_s: np.ndarray, label: str = AF
) -> np.ndarray:
    """Fraction of each span ``[starts_s[i], ends_s[i])`` covered by ``label`` (0 … 1).

    Vectorised over spans: covered time is the difference of the label's cumulative covered
    time at the span's ends (linear in spans + intervals, not their product).

    Parameters
    ----------
    intervals : iterable of Interval
        A record's rhythm intervals (non-overlapping, as a rhythm annotation makes them).
    starts_s, ends_s : ndarray
        Span bounds (s), each end after its start.
    label : str
        The rhythm, e.g. ``rhythm.AF``.

    Returns
    -------
    ndarray of float
    """
    starts_s, ends_s = np.asarray(starts_s, dtype=float), np.asarray(ends_s, dtype=float)
    empty = ends_s <= starts_s
    if empty.any():
        index = int(np.argmax(empty))
        raise ValueError(f"empty span: start_s={starts_s[index]} end_s={ends_s[index]}")
    spans = sorted((interval.start_s, interval.end_s) for interval in episodes(intervals, label))
    if not spans:
        return np.zeros(starts_s.shape)
    bounds = np.array(spans, dtype=float)
    # Knots of the cumulative covered time C(t): 0 before the first episode, rising with slope
    # 1 inside episodes and flat between them; covered time of a span = C(end) - C(start).
    knots = bounds.ravel()
    lengths = np.diff(bounds, axis=1).ravel()
    covered_at_knots = np.repeat(np.concatenate([[0.0], np.cumsum(lengths)]), 2)[1:-1]
    def cumulative(t: np.ndarray) -> np.ndarray:
        return np.interp(t, knots, covered_at_knots)
    # Rounding of the cumulative sums can put a span inside one episode a few ulps above 1.
    return np.clip((cumulative(ends_s) - cumulative(starts_s)) / (ends_s - starts_s), 0.0, 1.0)


def labels_at(intervals: Sequence[Interval], times_s: np.ndarray, outside: str = "") -> np.ndarray:
    """The rhythm label at each time (``outside`` before the first annotation)."""
    times_s = np.asarray(times_s, dtype=float)
    labels = np.full(times_s.shape, outside, dtype=object)
    for interval in intervals:
        labels[(times_s >= interval.start_s) & (times_s < interval.end_s)] = interval.label
    return labels


def rr_intervals(beat_times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RR intervals from beat times.

    Returns
    -------
    times_s : ndarray
        Time of the second beat of each pair (s).
    rr_s : ndarray
        RR interval (s).
    """
    beat_times_s = np.asarray(beat_times_s, dtype=float)
    return beat_times_s[1:], np.diff(beat_times_s)


def rr_irregularity(rr_s: np.ndarray) -> np.ndarray:
    """Absolute successive RR difference relative to the local mean RR (dimensionless).

    ``|RR[i] - RR[i-1]| / ((RR[i] + RR[i-1]) / 2)``, one value per RR pair; near 0 for a
    regular rhythm, typically 0.1–0.3 in AF.
    """
    rr_s = np.asarray(rr_s, dtype=float)
    return np.abs(np.diff(rr_s)) / ((rr_s[1:] + rr_s[:-1]) / 2)
