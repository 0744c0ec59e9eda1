"""Fixed-length windows of a lead and their rhythm labels (numpy only).

A window is ``window_samples`` consecutive samples (5000 = 20 s at 250 Hz). Its AF fraction is
the share of the window's *recorded* span annotated AF; the label policy turns that into
``AF`` / ``non-AF`` / ``AFL``. Atrial flutter is its own class and is left out of AF-vs-non-AF
training and scoring, as EC57 leaves reference flutter out of AF scoring, unless the policy
folds it into AF.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecgutils import rhythm
from ecgutils.errors import RecordFormatError, UnknownNameError

AF_LABEL = "AF"
NON_AF_LABEL = "non-AF"
AFL_LABEL = "AFL"

# Binary target: 1 = AF, 0 = non-AF, -1 = left out (AFL under the default policy).
TARGET = {AF_LABEL: 1, NON_AF_LABEL: 0, AFL_LABEL: -1}

SHORT_POLICIES = ("error", "pad", "drop", "wrap")

# Four rhythm classes (CinC 2017's): sinus, AF, other rhythm, too noisy. A long record's window
# is A when it is AF by the label policy, N when at least half of it is annotated normal sinus
# rhythm, O otherwise. AF is read out as AF-vs-rest from the A column of a four-class model.
CLASSES = ("N", "A", "O", "~")
CLASS_INDEX = {name: index for index, name in enumerate(CLASSES)}


@dataclass(frozen=True)
class LabelPolicy:
    """How a window's rhythm content becomes its label.

    Attributes
    ----------
    af_threshold : float
        A window is AF when its AF fraction is at least this (0 < threshold ≤ 1).
    fold_afl : bool
        Count atrial flutter as AF. When False (default), a window that is not AF but whose
        AF + AFL fraction reaches the threshold is labelled ``AFL`` and left out.
    """

    af_threshold: float = 0.5
    fold_afl: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.af_threshold <= 1:
            raise ValueError(f"af_threshold must be in (0, 1]; got {self.af_threshold}")


def window_starts(n_samples: int, window_samples: int, step_samples: int) -> np.ndarray:
    """Start indices (samples) of every full window stepped by ``step_samples``."""
    if window_samples <= 0 or step_samples <= 0:
        raise ValueError(
            f"window and step must be positive; got window_samples={window_samples}, "
            f"step_samples={step_samples}"
        )
    if n_samples < window_samples:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_samples - window_samples + 1, step_samples, dtype=np.int64)


def centre_start(n_samples: int, window_samples: int) -> np.ndarray:
    """The start index of the one window centred in the record (empty if it does not fit)."""
    if n_samples < window_samples:
        return np.zeros(0, dtype=np.int64)
    return np.array([(n_samples - window_samples) // 2], dtype=np.int64)


def cut(signal: np.ndarray, starts: np.ndarray, window_samples: int) -> np.ndarray:
    """The windows ``signal[start : start + window_samples]`` as an array (n_windows, window)."""
    signal = np.asarray(signal)
    starts = np.asarray(starts, dtype=np.int64)
    if starts.size and (starts.min() < 0 or starts.max() + window_samples > signal.shape[-1]):
        raise ValueError(
            f"windows of {window_samples} samples at starts {starts.min()}…{starts.max()} "
            f"do not fit a signal of {signal.shape[-1]} samples"
        )
    view = np.lib.stride_tricks.sliding_window_view(signal, window_samples)
    return np.ascontiguousarray(view[starts])


def pad_to(signal: np.ndarray, n_samples: int) -> np.ndarray:
    """``signal`` followed by zeros up to ``n_samples`` (after normalisation, zero = mean)."""
    signal = np.asarray(signal)
    if signal.shape[-1] >= n_samples:
        return signal[..., :n_samples]
    padding = [(0, 0)] * (signal.ndim - 1) + [(0, n_samples - signal.shape[-1])]
    return np.pad(signal, padding)


def wrap_to(signal: np.ndarray, n_samples: int) -> np.ndarray:
    """``signal`` repeated end to end up to ``n_samples`` (periodic extension).

    Unlike zero padding, it leaves no flat tail whose length a network could read: records
    shorter than a window are more often AF in CinC 2017, so a visible padding length would
    carry the label (``tests/test_windows.py`` checks that it does not).
    """
    signal = np.asarray(signal)
    if signal.shape[-1] >= n_samples:
        return signal[..., :n_samples]
    repeats = -(-n_samples // signal.shape[-1])
    return np.tile(signal, [1] * (signal.ndim - 1) + [repeats])[..., :n_samples]


def rhythm_classes(
    intervals: Sequence[rhythm.Interval],
    starts_s: np.ndarray,
    window_s: float,
    record_duration_s: float,
    labels: Sequence[str],
) -> np.ndarray:
    """Four-class rhythm label (:data:`CLASSES`) of long-record windows: ``A`` where the label
    (:func:`label_windows`) is AF, ``N`` where at least half the window is normal sinus rhythm
    (``(N``), else ``O``. AFL windows are ``O`` (they are left out of AF training anyway)."""
    starts_s = np.asarray(starts_s, dtype=float)
    out = np.empty(starts_s.size, dtype=object)
    for index, start in enumerate(starts_s):
        end = min(start + window_s, record_duration_s)
        if labels[index] == AF_LABEL:
            out[index] = "A"
        elif rhythm.label_fraction(intervals, start, end, "N") >= 0.5 - 1e-9:
            out[index] = "N"
        else:
            out[index] = "O"
    return out


def label_windows(
    intervals: Sequence[rhythm.Interval],
    starts_s: np.ndarray,
    window_s: float,
    record_duration_s: float,
    policy: LabelPolicy = LabelPolicy(),
) -> pd.DataFrame:
    """AF/AFL fractions and labels of windows.

    Parameters
    ----------
    intervals : sequence of rhythm.Interval
        The record's reference rhythm intervals (seconds).
    starts_s : ndarray
        Window starts (s).
    window_s : float
        Window length (s).
    record_duration_s : float
        Record length (s). A window running past the end (a padded short record) is labelled
        by its recorded part only.
    policy : LabelPolicy

    Returns
    -------
    DataFrame
        Columns ``af_fraction``, ``afl_fraction``, ``label`` and ``y`` (1 AF, 0 non-AF,
        -1 left out), one row per window.
    """
    starts_s = np.asarray(starts_s, dtype=float)
    ends_s = np.minimum(starts_s + window_s, record_duration_s)
    late = ends_s <= starts_s
    if late.any():
        raise ValueError(f"window at {starts_s[np.argmax(late)]:.3f} s starts after the record "
                         "ends")
    af = rhythm.label_fractions(intervals, starts_s, ends_s, rhythm.AF)
    afl = rhythm.label_fractions(intervals, starts_s, ends_s, rhythm.AFL)
    threshold = policy.af_threshold - 1e-9
    if policy.fold_afl:
        labels = np.where(af + afl >= threshold, AF_LABEL, NON_AF_LABEL)
    else:
        labels = np.where(
            af >= threshold,
            AF_LABEL,
            np.where(af + afl >= threshold, AFL_LABEL, NON_AF_LABEL),
        )
    return pd.DataFrame(
        {
            "af_fraction": af,
            "afl_fraction": afl,
            "label": labels,
            "y": np.array([TARGET[label] for label in labels], dtype=np.int8),
        }
    )


def plan_windows(
    n_samples: int,
    window_samples: int,
    step_samples: int | None,
    short_policy: str = "error",
    what: str = "record",
) -> tuple[np.ndarray, int]:
    """Where to cut a record: window starts and how many samples of padding a short one gets.

    Parameters
    ----------
    n_samples : int
        Record length in samples (after resampling).
    window_samples : int
        Window length in samples.
    step_samples : int or None
        Step between windows; None means one window centred in the record.
    short_policy : {"error", "pad", "drop", "wrap"}
        A record shorter than one window raises ``RecordFormatError`` (``error``), becomes one
        window zero-padded at the end (``pad``) or repeated end to end (``wrap``), or yields
        no window (``drop``).
    what : str
        Name of the record for the error message.

    Returns
    -------
    starts : ndarray of int
    padding : int
        Samples of padding appended (0 unless a short record is padded or wrapped).
    """
    if short_policy not in SHORT_POLICIES:
        raise UnknownNameError(
            f"unknown short-record policy {short_policy!r}; choose one of "
            f"{', '.join(SHORT_POLICIES)}"
        )
    if n_samples < window_samples:
        if short_policy == "error":
            raise RecordFormatError(
                f"{what} has {n_samples} samples, shorter than one window of {window_samples}"
            )
        if short_policy == "drop":
            return np.zeros(0, dtype=np.int64), 0
        return np.zeros(1, dtype=np.int64), window_samples - n_samples
    if step_samples is None:
        return centre_start(n_samples, window_samples), 0
    return window_starts(n_samples, window_samples, step_samples), 0
