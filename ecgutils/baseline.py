"""RR-irregularity AF detector with no learning: the coefficient of sample entropy (COSEn).

The classic comparison for the CNNs. It looks only at beat times, never at the ECG waveform.

Definition (Lake & Moorman, "Accurate estimation of entropy in very short physiological time
series: the problem of atrial fibrillation detection in implanted ventricular devices", Am J
Physiol Heart Circ Physiol 300:H319–H325, 2011)::

    COSEn = SampEn(m=1, r) + ln(2 r) − ln(mean RR)

over a short run of RR intervals ``x_0 … x_{N-1}`` (seconds), where, following Richman &
Moorman's sample entropy (Am J Physiol 278:H2039, 2000) with template length ``m = 1``:

- the ``N − 1`` templates ``(x_i)`` and ``(x_i, x_{i+1})``, ``i = 0 … N−2``, are compared in
  unordered pairs ``i < j`` (no self-matches) with the Chebyshev distance; a pair matches when
  its distance is ``≤ r``;
- ``B`` = matching pairs of length 1, ``A`` = matching pairs of length 2, ``SampEn = ln(B / A)``;
- ``ln(2 r)`` turns the match probability into a density (divides by the matching volume
  ``(2r)^m``; Lake & Moorman's "quadratic sample entropy"), and ``− ln(mean RR)`` their
  coefficient-of-variation step. ``r`` and the RR intervals are both in seconds, so the sum is
  dimensionless and does not depend on the unit (ms would give the same value).

Zero matches — the minimum numerator count. A short, irregular series may have ``A = 0`` at the
nominal tolerance, and ``SampEn`` is then infinite. Lake & Moorman let ``r`` grow until enough
matches are found for a confident estimate (the paper's abstract: "allow r to vary so that
sufficient matches are found … with conversion of the final probability to a density by dividing
by the matching region volume, 2r^m"); the minimum numerator count is ``min_matches`` (5). Here
``r`` grows from ``r_s`` in steps of ``r_step_s`` (10 ms) to the first value that gives
``A ≥ min_matches`` (``r_step_s=None``: to the exact minimum, the ``min_matches``-th smallest
length-2 pair distance), and that effective ``r`` is the one used both in ``SampEn`` and in
``ln(2r)``. Because ``B ≥ A`` (a length-2 match is a length-1 match), COSEn is always finite.
A constant RR series is the opposite edge: every pair matches, ``SampEn = 0`` and
``COSEn = ln(2 r_s / RR)``. The 10-ms step is this project's choice, not a value read in the
paper; it reproduces the project's calibration on mitdb (reference beats, EC57 gross episode
Se/+P 78/51 and duration Se/+P 83/62, against 78/51 and 83/60 expected); the exact minimum gives
73/54 and 81/63 — the step moves the scores by a few points.

Defaults: windows of 16 RR intervals (17 beats; the "N-beat" series of the literature are N
RR intervals — Lake & Moorman report accurate detection from 12), threshold −1.4 (AF when COSEn
is above it), ``r_s`` = 30 ms, minimum numerator count 5, ``r`` grown in 10-ms steps.

Beats and windows. All annotated (or detected) beats are used as they come — normal and
ectopic alike, as an implanted ventricular device sees them; no ectopic beat is removed or
corrected, and non-beat annotations (rhythm, noise, comment) are never beats. A window is
``window_rr`` consecutive RR intervals; windows start every ``step_beats`` beats (default 1:
one window per beat). Each window decides for the ``step_beats`` RR intervals at its centre
(with the default step, its central interval, RR index ``window_rr // 2``), so that decisions
tile the record without overlap; the first and last half-window of RR intervals get no decision
and count as not AF. Labelling the whole span of every flagged window instead dilates each false
alarm by a window on both sides: on mitdb's reference beats that gave about three times as many
false episodes (162 against 48, both with the exact-minimum ``r``).

Episodes. Runs of AF-flagged RR intervals form AF spans (touching intervals join); spans
separated by a gap of at most ``merge_gap_s`` are merged across it (default 0 s: only touching
spans join); then episodes shorter than ``min_episode_s`` (default 30 s) are dropped. Nothing is
done about gaps between beats: a long pause (missed beats, noise) is one long RR interval.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ecgutils import rhythm

with warnings.catch_warnings():
    # wfdb 4.3 calls pandas APIs that pandas 3 deprecates (set_index(inplace=...)); not ours.
    warnings.filterwarnings("ignore", message="The inplace keyword")
    import wfdb.processing


# COSEn's matching tolerance (s), minimum numerator count and tolerance step (s), by default.
COSEN_R_S = 0.03
COSEN_MIN_MATCHES = 5
COSEN_R_STEP_S = 0.01


@dataclass(frozen=True)
class CosenParams:
    """Parameters of the COSEn AF detector.

    Attributes
    ----------
    window_rr : int
        RR intervals per window (``window_rr + 1`` beats).
    step_beats : int
        Beats between the starts of consecutive windows, 1 … ``window_rr``; each window
        decides for this many RR intervals at its centre.
    threshold : float
        A window is AF when its COSEn is above this (dimensionless).
    r_s : float
        Nominal matching tolerance in seconds.
    min_matches : int
        Minimum numerator count: ``r`` grows until at least this many length-2 pairs match.
    r_step_s : float or None
        None: ``r`` grows to the exact smallest tolerance with ``min_matches`` matches; a value
        in seconds: ``r`` grows in steps of it from ``r_s``.
    min_episode_s : float
        Episodes shorter than this (s) are dropped.
    merge_gap_s : float
        AF spans separated by at most this gap (s) are merged into one episode.
    """

    window_rr: int = 16
    step_beats: int = 1
    threshold: float = -1.4
    r_s: float = COSEN_R_S
    min_matches: int = COSEN_MIN_MATCHES
    r_step_s: float | None = COSEN_R_STEP_S
    min_episode_s: float = 30.0
    merge_gap_s: float = 0.0

    def __post_init__(self) -> None:
        _check_int("window_rr", self.window_rr, low=4)
        _check_int("min_matches", self.min_matches, low=1)
        _check_pairs(self.window_rr, self.min_matches)
        _check_int("step_beats", self.step_beats, low=1, high=self.window_rr)
        _check_float("threshold", self.threshold)
        _check_float("r_s", self.r_s, positive=True)
        if self.r_step_s is not None:
            _check_float("r_step_s", self.r_step_s, positive=True)
        _check_float("min_episode_s", self.min_episode_s, non_negative=True)
        _check_float("merge_gap_s", self.merge_gap_s, non_negative=True)


def cosen(
    rr_s: Sequence[float] | np.ndarray,
    r_s: float = COSEN_R_S,
    min_matches: int = COSEN_MIN_MATCHES,
    r_step_s: float | None = COSEN_R_STEP_S,
) -> float:
    """COSEn of one run of RR intervals.

    Parameters
    ----------
    rr_s : array-like of float, shape (n_rr,)
        RR intervals in seconds (positive), at least 4 and enough that the ``n_rr − 1``
        templates form ``min_matches`` pairs.
    r_s : float
        Nominal tolerance in seconds; raised to the smallest value giving ``min_matches``
        length-2 matches when it gives fewer (see the module docstring).
    min_matches : int
        Minimum numerator count.
    r_step_s : float or None
        Step (s) by which ``r`` grows; None: the exact smallest sufficient ``r``.

    Returns
    -------
    float
        ``SampEn(m=1, r) + ln(2r) − ln(mean RR)`` (dimensionless); finite.
    """
    _check_float("r_s", r_s, positive=True)
    _check_int("min_matches", min_matches, low=1)
    if r_step_s is not None:
        _check_float("r_step_s", r_step_s, positive=True)
    rr = np.asarray(rr_s, dtype=float)
    if rr.ndim != 1:
        raise ValueError(f"rr_s must be one-dimensional, got shape {rr.shape}")
    _check_int("len(rr_s)", rr.size, low=4)
    _check_pairs(rr.size, min_matches)
    if not np.all(np.isfinite(rr)) or np.any(rr <= 0):
        raise ValueError("rr_s must be finite and positive (seconds)")
    return float(cosen_rows(rr[np.newaxis, :], r_s, min_matches, r_step_s)[0])


def cosen_defined(n_rr: int, min_matches: int = COSEN_MIN_MATCHES) -> bool:
    """Whether :func:`cosen` is defined for runs of ``n_rr`` RR intervals: at least 4, and
    enough templates (``n_rr − 1``) to form ``min_matches`` pairs."""
    return n_rr >= 4 and math.comb(n_rr - 1, 2) >= min_matches


def detect(
    beat_times_s: Sequence[float] | np.ndarray,
    record_end_s: float,
    params: CosenParams | None = None,
) -> list[rhythm.Interval]:
    """AF episodes from beat times.

    Parameters
    ----------
    beat_times_s : array-like of float, shape (n_beats,)
        Beat times in seconds from the record start, strictly increasing.
    record_end_s : float
        Record length in seconds; no beat may lie beyond it.
    params : CosenParams, optional
        Detector parameters (see the module docstring for the episode rules).

    Returns
    -------
    list of rhythm.Interval
        AF episodes labelled :data:`rhythm.AF`, in time order, each at least
        ``params.min_episode_s`` long and within ``[0, record_end_s]``.
    """
    params = params or CosenParams()
    beats = _check_beats(beat_times_s)
    _check_float("record_end_s", record_end_s, non_negative=True)
    if beats.size and beats[-1] > record_end_s:
        raise ValueError(f"record_end_s={record_end_s} is before the last beat at {beats[-1]} s")
    if beats.size and beats[0] < 0:
        raise ValueError(f"beat_times_s starts at {beats[0]} s, before the record start")
    starts, ends, values = _windows(beats, params)
    flagged = values > params.threshold
    episodes = rhythm.merge_spans(zip(starts[flagged], ends[flagged], strict=True),
                                  params.merge_gap_s)
    return [
        rhythm.Interval(rhythm.AF, float(start), float(min(end, record_end_s)))
        for start, end in episodes
        if end - start >= params.min_episode_s
    ]


def window_scores(
    beat_times_s: Sequence[float] | np.ndarray,
    window_starts_s: Sequence[float] | np.ndarray,
    window_s: float = 20.0,
    params: CosenParams | None = None,
    record_end_s: float | None = None,
) -> np.ndarray:
    """Per-window AF score of the detector: the fraction of each window inside a detected
    AF episode.

    The score is the detector's own decision (episodes after the minimum-duration rule) seen
    through the same windows as the CNNs, so that ``score ≥ 0.5`` is the analogue of the
    reference label "AF fraction ≥ 0.5". It is not a probability: most windows score exactly
    0 or 1, so an AUROC from it has many ties and is close to the balanced accuracy of its
    0.5 threshold.

    Parameters
    ----------
    beat_times_s : array-like of float, shape (n_beats,)
        Beat times of the whole record in seconds, strictly increasing.
    window_starts_s : array-like of float, shape (n_windows,)
        Window start times in seconds.
    window_s : float
        Window length in seconds.
    params : CosenParams, optional
        Detector parameters.
    record_end_s : float, optional
        Record length in seconds; default the later of the last beat and the last window end.

    Returns
    -------
    ndarray of float, shape (n_windows,)
        Fraction of ``[start, start + window_s)`` covered by detected AF, in [0, 1].
    """
    _check_float("window_s", window_s, positive=True)
    starts = np.asarray(window_starts_s, dtype=float)
    if starts.ndim != 1 or not np.all(np.isfinite(starts)):
        raise ValueError("window_starts_s must be a one-dimensional array of finite seconds")
    beats = _check_beats(beat_times_s)
    if record_end_s is None:
        ends = [beats[-1]] if beats.size else []
        ends += [float(starts.max()) + window_s] if starts.size else []
        record_end_s = max([0.0, *ends])
    episodes = detect(beats, record_end_s, params)
    scores = np.zeros(starts.shape)
    for episode in episodes:
        overlap = np.minimum(starts + window_s, episode.end_s) - np.maximum(starts, episode.start_s)
        scores += np.clip(overlap, 0.0, None)
    return np.clip(scores / window_s, 0.0, 1.0)


def detect_qrs(signal_mv: Sequence[float] | np.ndarray, fs: float) -> np.ndarray:
    """QRS times from one ECG lead with wfdb's XQRS detector.

    About 2.5–2.8 s for a 30-min, 360 Hz mitdb record on this project's 2-core CPU machines.
    On all 48 mitdb records (MLII, one-to-one matches within 50 ms) it finds the reference
    beats with Se 98.0 % / +P 98.1 %, against 97.3 % / 96.7 % for gqrs, which is no faster
    (2.9–3.4 s). The function is pure, so a caller that runs many records may cache its result.

    Parameters
    ----------
    signal_mv : array-like of float, shape (n_samples,)
        The lead in mV.
    fs : float
        Sampling frequency in Hz.

    Returns
    -------
    ndarray of float
        Beat times in seconds from the first sample, strictly increasing.
    """
    _check_float("fs", fs, positive=True)
    signal = np.asarray(signal_mv, dtype=float)
    if signal.ndim != 1 or not np.all(np.isfinite(signal)):
        raise ValueError("signal_mv must be a one-dimensional array of finite mV values")
    samples = wfdb.processing.xqrs_detect(sig=signal, fs=fs, verbose=False)
    return np.unique(np.asarray(samples, dtype=np.int64)) / fs


# --- helpers -------------------------------------------------------------------------------


def _windows(beats: np.ndarray, params: CosenParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end (s) of the RR span each window decides for, and its COSEn."""
    rr = np.diff(beats)
    n_windows = (rr.size - params.window_rr) // params.step_beats + 1 if rr.size else 0
    if n_windows <= 0:
        empty = np.zeros(0)
        return empty, empty.copy(), empty.copy()
    first_rr = np.arange(n_windows) * params.step_beats
    rr_windows = np.lib.stride_tricks.sliding_window_view(rr, params.window_rr)[first_rr]
    values = cosen_rows(rr_windows, params.r_s, params.min_matches, params.r_step_s)
    # RR interval k runs from beat k to beat k + 1; each window decides for step_beats
    # intervals around its central one, so that consecutive windows tile without overlap.
    decided_rr = first_rr + params.window_rr // 2 - params.step_beats // 2
    return beats[decided_rr], beats[decided_rr + params.step_beats], values


@lru_cache(maxsize=8)
def _pair_indices(n_templates: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n_templates, k=1)


def cosen_rows(
    rr: np.ndarray, r_s: float = COSEN_R_S, min_matches: int = COSEN_MIN_MATCHES,
    r_step_s: float | None = COSEN_R_STEP_S,
) -> np.ndarray:
    """:func:`cosen` of each row of ``rr`` (n_windows, n_rr), vectorised over windows.

    The rows are not checked: finite positive RR intervals (s) with
    ``cosen_defined(n_rr, min_matches)``, as :func:`cosen` checks for one run.
    """
    i, j = _pair_indices(rr.shape[1] - 1)
    distance_1 = np.abs(rr[:, i] - rr[:, j])
    distance_2 = np.maximum(distance_1, np.abs(rr[:, i + 1] - rr[:, j + 1]))
    # Minimum numerator count: the smallest tolerance with min_matches length-2 matches.
    kth_distance = np.partition(distance_2, min_matches - 1, axis=1)[:, min_matches - 1]
    r = np.maximum(r_s, kth_distance)
    if r_step_s is not None:
        # The first grid point r_s + k * r_step_s at or above the needed tolerance; the
        # 1e-9 guards against a grid point computed a rounding error below itself, and the
        # outer maximum keeps A >= min_matches whatever the rounding.
        steps = np.ceil((r - r_s) / r_step_s - 1e-9)
        r = np.maximum(r_s + steps * r_step_s, r)
    matches_2 = np.sum(distance_2 <= r[:, np.newaxis], axis=1)
    matches_1 = np.sum(distance_1 <= r[:, np.newaxis], axis=1)
    return np.log(matches_1 / matches_2) + np.log(2 * r) - np.log(rr.mean(axis=1))


def _check_beats(beat_times_s: Sequence[float] | np.ndarray) -> np.ndarray:
    beats = np.asarray(beat_times_s, dtype=float)
    if beats.ndim != 1:
        raise ValueError(f"beat_times_s must be one-dimensional, got shape {beats.shape}")
    if not np.all(np.isfinite(beats)):
        raise ValueError("beat_times_s has non-finite values")
    if np.any(np.diff(beats) <= 0):
        where = int(np.flatnonzero(np.diff(beats) <= 0)[0])
        raise ValueError(
            f"beat_times_s must be strictly increasing: beat {where + 1} at "
            f"{beats[where + 1]} s follows {beats[where]} s"
        )
    return beats


def _check_pairs(n_rr: int, min_matches: int) -> None:
    n_pairs = math.comb(n_rr - 1, 2)
    if n_pairs < min_matches:
        raise ValueError(
            f"{n_rr} RR intervals give {n_pairs} template pairs, fewer than "
            f"min_matches={min_matches}"
        )


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name}={value} must be {bound}")


def _check_float(
    name: str, value: object, positive: bool = False, non_negative: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}={value} must be finite")
    if positive and value <= 0:
        raise ValueError(f"{name}={value} must be positive")
    if non_negative and value < 0:
        raise ValueError(f"{name}={value} must not be negative")
