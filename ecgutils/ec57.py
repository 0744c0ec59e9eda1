"""AF episode and duration scoring, compatible with WFDB's ``epicmp`` (ANSI/AAMI EC38/EC57).

An AF episode begins at a rhythm annotation ``(AFIB`` and ends at the next rhythm annotation of
another rhythm or at the end of the record; consecutive ``(AFIB`` annotations make one episode.
Comparison runs over a window, by default from 5 minutes into the record to its end (epicmp
``-f``/``-t``); episodes are clipped to it. A test episode is a true positive when it overlaps a
reference episode by any amount, and a reference episode is detected when a test episode
overlaps it.

Two variants, named by :func:`variant` and carried by every :class:`RecordScore`:

* the default, :data:`VARIANT_EC57` — epicmp's own default, "no exclusions (EC38:2007, EC57)":
  reference AFL is plain non-AF;
* ``exclude_reference_afl=True``, :data:`VARIANT_AFL_EXCLUDED` — epicmp ``-x``, as EC38:1998
  scored: reference atrial flutter ``(AFL`` is neither rewarded nor penalised; a test episode
  lying wholly inside one reference AFL episode is dropped, and test AF time inside reference
  AFL leaves the test AF time (the denominator of duration +P).

Semantics established with the WFDB 10.7.0 binaries as an oracle (see ``tests/test_ec57.py``),
including two behaviours of epicmp that contradict the rules above. They are reproduced only
with ``epicmp_quirks=True``:

* an episode that ends exactly at the window start counts as an episode of zero length
  (a reference episode so placed is a miss that no detector can find);
* with ``-x`` only, a test episode that begins inside a reference AFL episode (at or after its
  start, after clipping) and ends after it gets the AFL overlap *added* to its duration
  instead of removed.

Durations are kept in seconds; from WFDB files they are sample-exact (sample / fs), and epicmp
prints them rounded to the millisecond. All rates here are fractions (0–1), NaN when their
denominator is 0.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    # wfdb 4.3 calls pandas APIs that pandas 3 deprecates (set_index(inplace=...)); not ours.
    warnings.filterwarnings("ignore", message="The inplace keyword")
    import wfdb

from ecgutils import rhythm
from ecgutils.errors import RecordFormatError
from ecgutils.rhythm import AF, AFL, Interval

DEFAULT_START_S = 300.0  # epicmp compares from 5 minutes into the record by default
# The two scoring variants, as tables and captions name them (see :func:`variant`).
VARIANT_EC57 = "EC57 (EC38:2007), no exclusions"
VARIANT_AFL_EXCLUDED = "EC38:1998, reference AFL excluded (-x)"
RATES = ("episode_se", "episode_ppv", "duration_se", "duration_ppv")
COUNTS = ("ref_episodes", "ref_episodes_detected", "test_episodes", "test_episodes_true")
DURATIONS = ("ref_af_s", "test_af_s", "overlap_s")

# epicmp's reading of a "+" annotation: aux beginning "(AFIB" is AF, "(AFL" is flutter, any
# other aux ends the current rhythm.
_AF_NOTE = "(AFIB"
_AFL_NOTE = "(AFL"
_OTHER_NOTE = "(OTHER"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class RecordScore:
    """Episode and duration agreement of one record, over the comparison window.

    Attributes
    ----------
    record : str
    ref_episodes, ref_episodes_detected : int
        Reference AF episodes, and those overlapped by a test episode (epicmp TPs + FN, TPs).
    test_episodes, test_episodes_true : int
        Test AF episodes, and those overlapping a reference episode (epicmp TPp + FP, TPp);
        test episodes dropped as wholly inside reference AFL are not counted.
    ref_af_s, test_af_s : float
        Reference and test AF time in s; ``test_af_s`` is net of reference AFL when excluded.
    overlap_s : float
        Seconds of test AF inside reference AF.
    test_episodes_in_ref_afl : int
        Test episodes dropped because they lie wholly inside a reference AFL episode.
    test_af_in_ref_afl_s : float
        Seconds of counted test AF inside reference AFL (0 without AFL exclusion).
    exclude_reference_afl : bool
        Whether reference AFL was excluded (epicmp ``-x``); see :attr:`variant`.
    """

    record: str
    ref_episodes: int
    ref_episodes_detected: int
    test_episodes: int
    test_episodes_true: int
    ref_af_s: float
    test_af_s: float
    overlap_s: float
    test_episodes_in_ref_afl: int = 0
    test_af_in_ref_afl_s: float = 0.0
    exclude_reference_afl: bool = False

    @property
    def variant(self) -> str:
        """The scoring variant, as :func:`variant` names it."""
        return variant(self.exclude_reference_afl)

    @property
    def episode_se(self) -> float:
        """Reference episodes detected / reference episodes."""
        return _ratio(self.ref_episodes_detected, self.ref_episodes)

    @property
    def episode_ppv(self) -> float:
        """True test episodes / test episodes (episode +P)."""
        return _ratio(self.test_episodes_true, self.test_episodes)

    @property
    def duration_se(self) -> float:
        """Overlap time / reference AF time."""
        return _ratio(self.overlap_s, self.ref_af_s)

    @property
    def duration_ppv(self) -> float:
        """Overlap time / test AF time (duration +P)."""
        return _ratio(self.overlap_s, self.test_af_s)


def variant(exclude_reference_afl: bool = False) -> str:
    """The name of a scoring variant, for table labels and captions.

    Parameters
    ----------
    exclude_reference_afl : bool
        The option of :func:`compare` (epicmp ``-x``).

    Returns
    -------
    str
        :data:`VARIANT_EC57` (default: no exclusions, today's standard) or
        :data:`VARIANT_AFL_EXCLUDED`.
    """
    _check_flags(exclude_reference_afl=exclude_reference_afl)
    return VARIANT_AFL_EXCLUDED if exclude_reference_afl else VARIANT_EC57


def variant_of(scores: Iterable[RecordScore]) -> str:
    """The one variant shared by ``scores``; ValueError when they mix variants or are empty."""
    return _checked_scores(scores)[0].variant


def compare(
    reference: Sequence[Interval],
    test: Sequence[Interval],
    record_end_s: float,
    *,
    start_s: float = DEFAULT_START_S,
    end_s: float | None = None,
    exclude_reference_afl: bool = False,
    epicmp_quirks: bool = False,
    record: str = "",
) -> RecordScore:
    """Score test AF intervals against reference rhythm intervals of one record.

    Parameters
    ----------
    reference : sequence of Interval
        Reference rhythm intervals (s); ``AFIB`` intervals are AF, ``AFL`` flutter.
    test : sequence of Interval
        Test rhythm intervals (s); only ``AFIB`` intervals count, every other label is non-AF.
    record_end_s : float
        Record length in s (n_samples / fs); no interval may end after it.
    start_s : float
        Start of the comparison window in s (epicmp ``-f``; default 300 s).
    end_s : float, optional
        End of the comparison window in s (epicmp ``-t``); default the record end.
    exclude_reference_afl : bool
        Exclude reference AFL from AF +P as epicmp ``-x`` (EC38:1998) does. Default False:
        no exclusions, epicmp's default and the current standard (EC38:2007, EC57).
    epicmp_quirks : bool
        Reproduce epicmp's two boundary behaviours (module docstring) for bit-exact agreement.
    record : str
        Record name carried into the score.

    Returns
    -------
    RecordScore

    Raises
    ------
    ValueError
        Overlapping or reversed intervals, intervals past the record end, a window outside
        the record, or a non-boolean option.
    """
    ref_af, ref_afl, test_af, counted = _episodes(
        reference, test, record_end_s, start_s, end_s, exclude_reference_afl, epicmp_quirks)
    test_af_s = sum(end - start for start, end in counted)
    in_afl_s = 0.0
    for episode in counted:
        for flutter in ref_afl:
            shared = _overlap(episode, flutter)
            in_afl_s += shared
            # epicmp adds rather than removes AFL time when the episode begins inside the AFL.
            test_af_s += shared if epicmp_quirks and episode[0] >= flutter[0] else -shared

    return RecordScore(
        record=str(record),
        ref_episodes=len(ref_af),
        ref_episodes_detected=sum(
            any(_overlap(episode, other) > 0 for other in counted) for episode in ref_af
        ),
        test_episodes=len(counted),
        test_episodes_true=sum(
            any(_overlap(episode, other) > 0 for other in ref_af) for episode in counted
        ),
        ref_af_s=float(sum(end - start for start, end in ref_af)),
        test_af_s=float(test_af_s),
        overlap_s=float(sum(_overlap(a, b) for a in ref_af for b in counted)),
        test_episodes_in_ref_afl=len(test_af) - len(counted),
        test_af_in_ref_afl_s=float(in_afl_s),
        exclude_reference_afl=bool(exclude_reference_afl),
    )


def reference_episodes(
    reference: Sequence[Interval],
    test: Sequence[Interval],
    record_end_s: float,
    *,
    start_s: float = DEFAULT_START_S,
    end_s: float | None = None,
    exclude_reference_afl: bool = False,
    epicmp_quirks: bool = False,
    record: str = "",
) -> pd.DataFrame:
    """Each reference AF episode of one record, as :func:`compare` scores it: one row per
    episode (``record, start_s, end_s, duration_s, detected``), clipped to the comparison
    window; ``detected`` sums to :attr:`RecordScore.ref_episodes_detected`. Arguments and
    errors as for :func:`compare`."""
    ref_af, _, _, counted = _episodes(
        reference, test, record_end_s, start_s, end_s, exclude_reference_afl, epicmp_quirks)
    return pd.DataFrame({
        "record": pd.Series([str(record)] * len(ref_af), dtype=str),
        "start_s": pd.Series([start for start, _ in ref_af], dtype=float),
        "end_s": pd.Series([end for _, end in ref_af], dtype=float),
        "duration_s": pd.Series([end - start for start, end in ref_af], dtype=float),
        "detected": pd.Series([any(_overlap(episode, other) > 0 for other in counted)
                               for episode in ref_af], dtype=bool),
    })


def detected_by_duration(episodes: pd.DataFrame,
                         edges_s: Sequence[float] = (0.0, 10.0, 20.0, 60.0, math.inf)
                         ) -> pd.DataFrame:
    """Episode sensitivity by reference episode length: :func:`reference_episodes` rows
    (of any number of records) binned by ``duration_s`` into ``[edges_s[i], edges_s[i+1])``,
    with a last row over all episodes. Shows whether the episodes missed are the short ones
    a windowed detector cannot resolve."""
    edges = [float(edge) for edge in edges_s]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"edges_s must rise and hold at least two edges; got {edges_s}")
    rows = []
    for low, high in zip(edges, edges[1:], strict=False):
        inside = episodes[(episodes["duration_s"] >= low) & (episodes["duration_s"] < high)]
        label = f"{low:g}–{high:g} s" if math.isfinite(high) else f"≥ {low:g} s"
        rows.append(_detected_row(label, inside))
    rows.append(_detected_row("all", episodes))
    return pd.DataFrame(rows)


def _detected_row(label: str, episodes: pd.DataFrame) -> dict[str, object]:
    return {"reference episode length": label, "episodes": len(episodes),
            "detected": int(episodes["detected"].sum()),
            "episode_se": _ratio(episodes["detected"].sum(), len(episodes)),
            "records": ", ".join(sorted(set(episodes["record"]))[:8])}


def _episodes(reference: Sequence[Interval], test: Sequence[Interval], record_end_s: float,
              start_s: float, end_s: float | None, exclude_reference_afl: bool,
              epicmp_quirks: bool) -> tuple[list[tuple[float, float]], ...]:
    """The checked, clipped AF runs of one record: reference AF, reference AFL (when
    excluded), test AF, and the test AF episodes counted (not wholly inside reference AFL)."""
    _check_flags(exclude_reference_afl=exclude_reference_afl, epicmp_quirks=epicmp_quirks)
    window = _window(record_end_s, start_s, end_s)
    reference = _checked_intervals(reference, "reference", record_end_s)
    test = _checked_intervals(test, "test", record_end_s)
    ref_af = _clip(_runs(reference, AF), window, epicmp_quirks)
    ref_afl = _clip(_runs(reference, AFL), window, epicmp_quirks) if exclude_reference_afl else []
    test_af = _clip(_runs(test, AF), window, epicmp_quirks)
    counted = [
        episode
        for episode in test_af
        if not any(flutter[0] <= episode[0] and episode[1] <= flutter[1] for flutter in ref_afl)
    ]
    return ref_af, ref_afl, test_af, counted


def compare_files(
    record: str,
    reference_extension: str,
    test_extension: str,
    directory: str | os.PathLike,
    *,
    reference_directory: str | os.PathLike | None = None,
    record_directory: str | os.PathLike | None = None,
    start_s: float = DEFAULT_START_S,
    end_s: float | None = None,
    exclude_reference_afl: bool = False,
    epicmp_quirks: bool = False,
) -> RecordScore:
    """Score two WFDB rhythm annotation files of one record, read as by :func:`read_rhythm`.

    Parameters
    ----------
    record : str
        Record name (``'201'``).
    reference_extension, test_extension : str
        Annotator names (``'atr'``, ``'af'``).
    directory : path
        Folder of the test annotation file (and, by default, of the reference and header).
    reference_directory, record_directory : path, optional
        Folders of the reference annotation file and of the ``.hea`` header, when elsewhere.
    start_s, end_s, exclude_reference_afl, epicmp_quirks
        As in :func:`compare` (s); by default no exclusions (EC57), ``-x`` with
        ``exclude_reference_afl=True``.

    Returns
    -------
    RecordScore

    Raises
    ------
    RecordFormatError
        A missing or unreadable header or annotation file.
    """
    reference, record_end_s = read_rhythm(
        record, reference_extension, reference_directory or directory,
        record_directory=record_directory or directory,
    )
    test, _ = read_rhythm(record, test_extension, directory,
                          record_directory=record_directory or directory)
    return compare(
        reference, test, record_end_s,
        start_s=start_s, end_s=end_s, exclude_reference_afl=exclude_reference_afl,
        epicmp_quirks=epicmp_quirks, record=record,
    )


def read_rhythm(
    record: str,
    extension: str,
    directory: str | os.PathLike,
    *,
    record_directory: str | os.PathLike | None = None,
) -> tuple[list[Interval], float]:
    """Rhythm intervals of a WFDB annotation file as ``epicmp`` reads them.

    A ``+`` annotation whose aux note begins ``(AFIB`` starts AF (label ``AFIB``), one
    beginning ``(AFL`` starts flutter (``AFL``), and any other ``+`` starts a rhythm labelled
    ``OTHER``; other annotation codes and annotations at or after the record end are ignored.

    Parameters
    ----------
    record : str
        Record name (``'201'``).
    extension : str
        Annotator name (``'atr'``).
    directory : path
        Folder of the annotation file (and, by default, of the ``.hea`` header).
    record_directory : path, optional
        Folder of the header, when elsewhere.

    Returns
    -------
    intervals : list of Interval
        In s, time-ordered; the last rhythm runs to the record end.
    record_end_s : float
        Record length in s (samples / fs, from the header).

    Raises
    ------
    RecordFormatError
        A missing or unreadable header or annotation file.
    """
    header_path = Path(record_directory or directory) / record
    if not Path(f"{header_path}.hea").is_file():
        raise RecordFormatError(f"{header_path}.hea is missing")
    try:
        header = wfdb.rdheader(str(header_path))
    except Exception as exc:  # wfdb raises assorted errors on malformed headers
        raise RecordFormatError(f"{header_path}.hea is not a valid WFDB header: {exc}") from exc
    if not header.fs or not header.sig_len:
        raise RecordFormatError(f"{header_path}.hea gives no sampling frequency or length")
    fs, n_samples = float(header.fs), int(header.sig_len)
    return _read_rhythm(Path(directory) / record, extension, fs, n_samples), n_samples / fs


def write_annotations(
    directory: str | os.PathLike,
    record: str,
    intervals: Sequence[Interval],
    fs: float,
    n_samples: int,
    extension: str,
) -> Path:
    """Write the AF intervals of a record as a WFDB rhythm annotation file for ``epicmp``.

    Each AF episode becomes a ``+`` annotation with aux ``(AFIB`` at its onset and ``(N`` at
    its end (none when it runs to the record end); a record without AF gets a lone ``(N`` at
    sample 0, since epicmp needs a test file for every record. Touching AF intervals are one
    episode; labels other than ``AFIB`` are not written. Times are rounded to the nearest
    sample, and an episode shorter than that vanishes. The file is written to a temporary
    folder beside the target and renamed into place.

    Parameters
    ----------
    directory : path
        Output folder (created if missing).
    record : str
        Record name; the file is ``directory/record.extension``.
    intervals : sequence of Interval
        Rhythm intervals in s, not overlapping, within ``[0, n_samples / fs]``.
    fs : float
        Sampling frequency in Hz.
    n_samples : int
        Record length in samples.
    extension : str
        Annotator name (letters, digits, underscore).

    Returns
    -------
    Path
        The annotation file written.

    Raises
    ------
    ValueError
        A bad record name, extension, sampling frequency, length or interval list.
    """
    if not isinstance(record, str) or not _NAME.match(record):
        raise ValueError(f"record name {record!r} must be letters, digits, '_', '.' or '-'")
    if not isinstance(extension, str) or not re.fullmatch(r"[A-Za-z0-9_]+", extension):
        raise ValueError(f"annotation extension {extension!r} must be letters, digits or '_'")
    if isinstance(fs, bool) or not isinstance(fs, int | float) or not math.isfinite(fs) or fs <= 0:
        raise ValueError(f"fs must be a positive number of Hz, got {fs!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) or n_samples <= 0:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    n_samples = int(n_samples)
    intervals = _checked_intervals(intervals, "intervals", n_samples / fs)

    in_samples = [(round(start * fs), min(round(end * fs), n_samples))
                  for start, end in _runs(intervals, AF)]
    # Rounding can make two episodes touch: they become one.
    onsets_ends = rhythm.merge_spans((onset, stop) for onset, stop in in_samples if stop > onset)
    samples, notes = [], []
    for onset, stop in onsets_ends:
        samples.append(onset)
        notes.append(_AF_NOTE)
        if stop < n_samples:
            samples.append(stop)
            notes.append("(N")
    if not samples:
        samples, notes = [0], ["(N"]

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{record}.{extension}"
    staging = Path(tempfile.mkdtemp(prefix=f".{record}.{extension}.", dir=directory))
    try:
        wfdb.wrann(
            record, extension, np.asarray(samples, dtype=np.int64),
            symbol=["+"] * len(samples), aux_note=notes, fs=fs, write_dir=str(staging),
        )
        os.replace(staging / target.name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def gross(scores: Iterable[RecordScore], *, sumstats_rounding: bool = False) -> dict[str, float]:
    """Gross statistics: counts and durations summed over records, then divided.

    Parameters
    ----------
    scores : iterable of RecordScore
    sumstats_rounding : bool
        Reproduce WFDB ``sumstats`` exactly: it reads epicmp's printed line, so it sums
        durations rounded to ms and rebuilds each record's overlap from a whole percentage
        (duration Se × reference time when the reference time is longer, else duration +P ×
        test time). Default False: exact overlaps.

    Returns
    -------
    dict
        ``episode_se``, ``episode_ppv``, ``duration_se``, ``duration_ppv`` as fractions.
    """
    scores = _checked_scores(scores)
    ref_s = test_s = overlap_s = 0.0
    for score in scores:
        if sumstats_rounding:
            ref_ms, test_ms, dse, dppv = _printed(score)
            ref_s += ref_ms / 1000
            test_s += test_ms / 1000
            if ref_ms > test_ms:
                overlap_s += dse * ref_ms / 1000 / 100
            elif test_ms > 0:
                overlap_s += dppv * test_ms / 1000 / 100
        else:
            ref_s += score.ref_af_s
            test_s += score.test_af_s
            overlap_s += score.overlap_s
    return {
        "episode_se": _ratio(sum(s.ref_episodes_detected for s in scores),
                             sum(s.ref_episodes for s in scores)),
        "episode_ppv": _ratio(sum(s.test_episodes_true for s in scores),
                              sum(s.test_episodes for s in scores)),
        "duration_se": _ratio(overlap_s, ref_s),
        "duration_ppv": _ratio(overlap_s, test_s),
    }


def average(scores: Iterable[RecordScore], *, sumstats_rounding: bool = False) -> dict[str, float]:
    """Average statistics: the mean of each per-record rate over the records where it is defined.

    Parameters
    ----------
    scores : iterable of RecordScore
    sumstats_rounding : bool
        Reproduce WFDB ``sumstats`` exactly: the duration rates are averaged as the whole
        percentages epicmp prints (the episode rates are recomputed from counts, so exact).

    Returns
    -------
    dict
        ``episode_se``, ``episode_ppv``, ``duration_se``, ``duration_ppv`` as fractions (NaN
        when no record defines the rate).
    """
    scores = _checked_scores(scores)
    result = {}
    for rate in RATES:
        if sumstats_rounding and rate.startswith("duration"):
            values = [_percent(getattr(score, rate)) / 100 for score in scores]
        else:
            values = [getattr(score, rate) for score in scores]
        defined = [value for value in values if not math.isnan(value)]
        result[rate] = float(np.mean(defined)) if defined else math.nan
    return result


def score_table(scores: Iterable[RecordScore]) -> pd.DataFrame:
    """One row per record plus ``Gross`` and ``Average`` rows (rates as fractions 0–1).

    The ``Gross`` row holds summed counts and durations (s) with the gross rates; the
    ``Average`` row holds the averaged rates and NaN counts and durations. The table's
    ``attrs["variant"]`` names the scoring variant (:func:`variant`).
    """
    scores = _checked_scores(scores)
    columns = [*COUNTS, *DURATIONS, *RATES]
    rows = [{column: getattr(score, column) for column in columns} for score in scores]
    totals = {column: sum(getattr(score, column) for score in scores)
              for column in (*COUNTS, *DURATIONS)}
    rows.append({**totals, **gross(scores)})
    rows.append({**dict.fromkeys((*COUNTS, *DURATIONS), math.nan), **average(scores)})
    index = pd.Index([score.record for score in scores] + ["Gross", "Average"], name="record")
    table = pd.DataFrame(rows, index=index, columns=columns)
    table.attrs["variant"] = scores[0].variant
    return table


# --- helpers -------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / denominator if denominator > 0 else math.nan


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def _check_flags(**flags: object) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool | np.bool_):
            raise ValueError(f"{name} must be True or False, got {value!r}")


def _finite_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _window(record_end_s: float, start_s: float, end_s: float | None) -> tuple[float, float]:
    record_end_s = _finite_number(record_end_s, "record_end_s")
    start_s = _finite_number(start_s, "start_s")
    if record_end_s <= 0:
        raise ValueError(f"record_end_s must be positive, got {record_end_s}")
    if not 0 <= start_s < record_end_s:
        raise ValueError(
            f"start_s={start_s} s is outside the record (0 ≤ start_s < {record_end_s} s)"
        )
    if end_s is None:
        return start_s, record_end_s
    end_s = _finite_number(end_s, "end_s")
    if not start_s < end_s <= record_end_s:
        raise ValueError(
            f"end_s={end_s} s must lie after start_s={start_s} s and within the record "
            f"(≤ {record_end_s} s)"
        )
    return start_s, end_s


def _checked_intervals(
    intervals: Iterable[Interval], what: str, record_end_s: float
) -> list[Interval]:
    checked = []
    for interval in intervals:
        if not isinstance(interval, Interval):
            raise ValueError(f"{what} must hold rhythm.Interval objects, got {interval!r}")
        start = _finite_number(interval.start_s, f"{what} start_s")
        end = _finite_number(interval.end_s, f"{what} end_s")
        if start < 0 or end < start:
            raise ValueError(f"{what} interval {interval} ends before it starts or starts < 0")
        if end > record_end_s:
            raise ValueError(
                f"{what} interval {interval} ends after the record end ({record_end_s} s)"
            )
        checked.append(interval)
    checked.sort(key=lambda interval: (interval.start_s, interval.end_s))
    for previous, current in zip(checked, checked[1:], strict=False):
        if current.start_s < previous.end_s:
            raise ValueError(f"{what} intervals overlap: {previous} and {current}")
    return checked


def _runs(intervals: Sequence[Interval], label: str) -> list[tuple[float, float]]:
    """Maximal spans of ``label`` in time-sorted, non-overlapping intervals: touching intervals
    join."""
    return rhythm.merge_spans(
        (interval.start_s, interval.end_s) for interval in intervals
        if interval.label == label and interval.end_s > interval.start_s
    )


def _clip(
    runs: list[tuple[float, float]], window: tuple[float, float], keep_zero_at_start: bool
) -> list[tuple[float, float]]:
    first, last = window
    clipped = []
    for start, end in runs:
        if start >= last or end < first or (end == first and not keep_zero_at_start):
            continue
        clipped.append((max(start, first), min(end, last)))
    return clipped


def _read_rhythm(path: Path, extension: str, fs: float, n_samples: int) -> list[Interval]:
    if not Path(f"{path}.{extension}").is_file():
        raise RecordFormatError(f"{path}.{extension} is missing")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The inplace keyword")
            annotation = wfdb.rdann(str(path), extension)
    except Exception as exc:
        raise RecordFormatError(
            f"{path}.{extension} is not a valid annotation file: {exc}"
        ) from exc
    samples, symbols, notes = [], [], []
    for sample, symbol, aux in zip(
        annotation.sample, annotation.symbol, annotation.aux_note, strict=True
    ):
        if symbol != "+" or sample >= n_samples:
            continue
        aux = (aux or "").replace("\x00", "")
        # epicmp matches on these prefixes: "(AFIBX" is AF, "(AFLX" flutter.
        note = (_AF_NOTE if aux.startswith(_AF_NOTE)
                else _AFL_NOTE if aux.startswith(_AFL_NOTE) else _OTHER_NOTE)
        samples.append(int(sample))
        symbols.append(symbol)
        notes.append(note)
    return rhythm.intervals_from_annotations(samples, symbols, notes, fs, n_samples)


def _checked_scores(scores: Iterable[RecordScore]) -> list[RecordScore]:
    scores = list(scores)
    if not scores:
        raise ValueError("no record scores to summarise")
    for score in scores:
        if not isinstance(score, RecordScore):
            raise ValueError(f"expected RecordScore objects, got {score!r}")
    variants = {score.variant for score in scores}
    if len(variants) > 1:
        # Summing records scored with and without -x would give a number of neither variant.
        raise ValueError(
            f"record scores mix variants ({' and '.join(sorted(variants))}); score every "
            "record with the same exclude_reference_afl"
        )
    return scores


def _percent(fraction: float) -> float:
    """A rate as epicmp prints it: whole percent, halves rounded up (NaN stays NaN)."""
    if math.isnan(fraction):
        return math.nan
    return float(math.floor(round(100 * fraction, 9) + 0.5))


def _printed(score: RecordScore) -> tuple[int, int, float, float]:
    """Reference and test ms, duration Se and +P in whole percent, as epicmp's line shows."""
    return (
        math.floor(score.ref_af_s * 1000 + 0.5),
        math.floor(score.test_af_s * 1000 + 0.5),
        _percent(score.duration_se),
        _percent(score.duration_ppv),
    )
