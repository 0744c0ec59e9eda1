"""Scan any WFDB recording for AF with a model bundle — all at once (:func:`scan`) or live
(:class:`Stream`) — and write the AF episodes as a WFDB rhythm annotation file.

How a recording is read (the bundle's :class:`ecgutils.bundle.Settings`):

1. One lead, at the recording's own rate, is cut into blocks of ``block_s`` (60 s). Each block
   is band-passed (zero phase) and resampled to the model's rate with ``margin_s`` (5 s) of
   the neighbouring blocks as context, and its beats are detected (NeuroKit2) on the same
   stretch of raw signal; only the block's own part is kept. A live stream computes the very
   same blocks as soon as a block and its right margin have arrived, so the batch scan and the
   stream see identical inputs and take identical decisions; the stream is later by at most
   one block and a margin.
2. Windows of ``window_s`` every ``step_s``, each normalised on its own; RR features of the
   beats inside each window; the models' mean AF probability per window.
3. The recording's AF probability is the mean over its windows; AF episodes come from the
   windows by :func:`ecgutils.episodes.detect` (slot means, hysteresis, merging, minimum
   length) with the bundle's threshold and episode settings.

The command line is ``ecg-af scan`` (``python -m ecgutils.detect``); see :func:`main`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgutils import beats, ec57, episodes, features, records, rhythm, signal, windows
from ecgutils.bundle import Bundle, BundleError, Settings, load
from ecgutils.config import PACKAGE_DIR
from ecgutils.errors import ECGDataError, RecordFormatError
from ecgutils.progress import progress

PACKAGED_BUNDLE = PACKAGE_DIR / "release" / "detector"
DEFAULT_EXTENSION = "afx"
_LOADED: dict[str, Bundle] = {}


def packaged_bundle() -> Bundle:
    """The release bundle that ships with the package (loaded once per process)."""
    return bundle_at(PACKAGED_BUNDLE)


def bundle_at(path: str | Path | None) -> Bundle:
    """The bundle at ``path`` (None: the packaged one), loaded once per process."""
    path = Path(path or PACKAGED_BUNDLE).expanduser().resolve()
    if str(path) not in _LOADED:
        _LOADED[str(path)] = load(path)
    return _LOADED[str(path)]


# --- one recording --------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """A live AF decision: ``onset`` or ``offset`` of the episode boundary at ``time_s``,
    emitted once ``emitted_at_s`` seconds of signal had arrived."""

    kind: str
    time_s: float
    emitted_at_s: float


@dataclass
class ScanResult:
    """One recording, scanned."""

    record: str
    fs: float
    lead: str
    n_samples: int
    starts_s: np.ndarray
    prob: np.ndarray
    threshold: float
    episodes: list[rhythm.Interval]
    seconds: float
    window_s: float = 20.0
    events: list[Event] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    @property
    def record_prob(self) -> float:
        return float(np.mean(self.prob))

    @property
    def af_burden(self) -> float:
        return sum(e.duration_s for e in self.episodes) / self.duration_s

    @property
    def realtime_factor(self) -> float:
        return self.duration_s / self.seconds if self.seconds > 0 else math.inf

    def row(self) -> dict[str, Any]:
        return {"record": self.record, "lead": self.lead, "fs": self.fs,
                "duration_s": round(self.duration_s, 3), "n_windows": int(self.prob.size),
                "record_prob": round(self.record_prob, 4),
                "af": bool(self.record_prob >= self.threshold),
                "af_burden": round(self.af_burden, 4), "n_episodes": len(self.episodes),
                "episodes": [(round(e.start_s, 3), round(e.end_s, 3)) for e in self.episodes],
                "seconds": round(self.seconds, 3),
                "realtime_factor": round(self.realtime_factor, 1)}


class _Pipeline:
    """Blocks → conditioned signal and beats → windows → probabilities, incrementally.

    :meth:`advance` takes the raw samples that have arrived so far and computes every block
    and window they allow; with ``final`` it finishes the recording. The batch scan calls it
    once with everything, a stream once per chunk: the blocks, and so the windows, are the
    same.
    """

    def __init__(self, fs: float, bundle: Bundle, what: str, show_progress: bool = False,
                 collect: bool = False):
        s = bundle.settings
        if fs <= 0:
            raise RecordFormatError(f"{what}: sampling rate must be positive, got {fs}")
        top_hz = max(s.high_hz, *(s.beat_band_hz or [0.0]))
        if fs <= 2 * top_hz:
            raise RecordFormatError(
                f"{what}: sampling rate {fs:g} Hz is too low for this model, whose filters "
                f"reach {top_hz:g} Hz: it needs a recording sampled above {2 * top_hz:g} Hz")
        self.fs, self.bundle, self.s, self.what = float(fs), bundle, s, what
        ratio = Fraction(s.fs / self.fs).limit_denominator(1000)
        self.up, self.down = ratio.numerator, ratio.denominator
        self.block = max(1, round(s.block_s * self.fs / self.down)) * self.down
        self.margin = math.ceil(s.margin_s * self.fs / self.down) * self.down
        self.window = s.window_samples
        self.step = int(round(s.step_s * s.fs))
        self.show_progress = show_progress
        self.raw = np.zeros(0)        # raw samples from raw_offset on
        self.raw_offset = 0
        self.n_raw = 0                # samples received
        self.next_block = 0
        self.cond = np.zeros(0)       # conditioned samples from cond_offset on
        self.cond_parts: list[np.ndarray] = []  # blocks conditioned since the last join
        self.cond_offset = 0
        self.n_cond = 0
        self.beat_s: list[np.ndarray] = []
        self.next_window = 0
        self.starts_s: list[float] = []
        self.prob: list[float] = []
        # With ``collect``: each window's model input (features) instead of a prediction.
        self.collect: list[np.ndarray] | None = [] if collect else None

    def push(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=float).ravel()
        if np.isnan(samples).any():
            first = self.n_raw + int(np.argmax(np.isnan(samples)))
            raise ECGDataError(f"{self.what}: NaN sample at {first / self.fs:.2f} s")
        self.raw = np.concatenate([self.raw, samples])
        self.n_raw += samples.size

    def advance(self, final: bool) -> int:
        """Compute what the samples so far allow; returns how many windows are new."""
        if final and self.n_raw / self.fs < self.s.min_record_s:
            raise RecordFormatError(
                f"{self.what} lasts {self.n_raw / self.fs:.1f} s, shorter than the "
                f"{self.s.min_record_s:g} s this model needs (window {self.s.window_s:g} s; "
                f"shorter recordings down to {self.s.min_record_s:g} s are repeated to one "
                f"window, as in training)")
        n_blocks = math.ceil(self.n_raw / self.block) if final else \
            max(0, (self.n_raw - self.margin) // self.block)
        todo = range(self.next_block, n_blocks)
        if self.show_progress and len(todo) > 30:
            todo = progress(todo, f"scan {self.what}")
        for k in todo:
            self._block(k, final)
        self.next_block = max(self.next_block, n_blocks)
        keep_from = max(0, self.next_block * self.block - self.margin)
        self.raw = self.raw[keep_from - self.raw_offset:]
        self.raw_offset = keep_from
        return self._windows(final)

    def _block(self, k: int, final: bool) -> None:
        core_start = k * self.block
        core_end = min(core_start + self.block, self.n_raw)
        chunk_start = max(0, core_start - self.margin)
        chunk_end = min(core_end + self.margin, self.n_raw)
        chunk = self.raw[chunk_start - self.raw_offset:chunk_end - self.raw_offset]
        s = self.s
        conditioned = signal.resample(
            signal.bandpass(chunk, self.fs, s.low_hz, s.high_hz, s.filter_order), self.fs, s.fs)
        first = (core_start - chunk_start) * self.up // self.down
        length = -(-core_end * self.up // self.down) - core_start * self.up // self.down
        self.cond_parts.append(conditioned[first:first + length])  # joined once per advance
        self.n_cond += length
        peaks = beats.detect(chunk, self.fs, s.beat_band_hz, s.beat_band_gate) + chunk_start
        peaks = peaks[(peaks >= core_start) & (peaks < core_end)]
        self.beat_s.append(peaks / self.fs)

    def _windows(self, final: bool) -> int:
        s = self.s
        if self.cond_parts:
            self.cond = np.concatenate([self.cond, *self.cond_parts])
            self.cond_parts = []
        beat_s = np.concatenate(self.beat_s) if self.beat_s else np.zeros(0)
        waveform = s.kind == "cnn"  # a features_gb bundle reads features only
        X = None
        if final and self.n_cond < self.window and not self.starts_s:
            if s.short_policy == "error":
                raise RecordFormatError(f"{self.what} is shorter than one {s.window_s:g}-s "
                                        f"window")
            if waveform:
                X = windows.wrap_to(signal.normalise(self.cond[None, :], s.normalisation),
                                    self.window)
            starts = np.zeros(1, dtype=np.int64)
        else:
            last = (self.n_cond - self.window) // self.step  # index of the last full window
            starts = np.arange(self.next_window, last + 1, dtype=np.int64) * self.step
            if not starts.size:
                return 0
            if waveform:
                X = signal.normalise(windows.cut(self.cond, starts - self.cond_offset,
                                                 self.window), s.normalisation)
        starts_s = starts / s.fs
        if waveform:
            R = beats.window_features(beat_s, starts_s, s.window_s)
        else:  # on the conditioned (band-passed) signal held from cond_offset on
            R = features.segment_features(self.cond, s.fs, beat_s, starts_s, s.window_s,
                                          filtered=True, t0_s=self.cond_offset / s.fs,
                                          columns=tuple(s.rr_features))
        if self.collect is not None:
            self.collect.append(R)
            self.prob.extend([np.nan] * len(R))
        else:
            self.prob.extend(self.bundle.predict(X, R).tolist())
        self.starts_s.extend(starts_s.tolist())
        self.next_window = int(starts[-1] // self.step) + 1
        keep_from = self.next_window * self.step
        self.cond = self.cond[max(0, keep_from - self.cond_offset):]
        self.cond_offset = max(self.cond_offset, keep_from)
        return int(starts.size)


class _EpisodeTracker:
    """:func:`ecgutils.episodes.detect`, one finished slot at a time: the same slot means,
    hysteresis, merging and minimum length, with onset and offset events as soon as they are
    certain."""

    def __init__(self, s: Settings):
        self.s = s
        self.params = s.episode_params()
        self.on = self.params.on_threshold or s.threshold
        self.off = max(0.0, self.on - self.params.hysteresis)
        self.per_window = int(round(s.window_s / s.step_s))
        self.next_slot = 0
        self.active = False
        self.run: list[float] | None = None
        self.onset_sent = False
        self.episodes: list[rhythm.Interval] = []

    def update(self, starts_s: list[float], prob: list[float], final: bool, end_s: float,
               now_s: float) -> list[Event]:
        step = self.s.step_s
        if final:
            n_slots = int(np.ceil(end_s / step - 1e-9))
        else:  # slot k is finished once the window starting at it has been scored
            n_slots = int(round(starts_s[-1] / step)) + 1 if starts_s else 0
        if n_slots <= self.next_slot:
            return self._close(end_s, now_s) if final else []
        first = self.next_slot - self.per_window + 1
        lo = max(0, first)
        # Window k starts at slot k (both grids begin at 0 with the same step).
        chosen_starts = np.asarray(starts_s[lo:n_slots])
        chosen_prob = np.asarray(prob[lo:n_slots])
        limit = end_s if final else n_slots * step
        _, slot_prob = episodes.slot_probabilities(chosen_starts, chosen_prob, self.s.window_s,
                                                   step, limit)
        values = slot_prob[self.next_slot:n_slots]
        mask = episodes.hysteresis_mask(values, self.on, self.off, start_active=self.active)
        if mask.size:
            self.active = bool(mask[-1])
        events = []
        for offset, on in enumerate(mask):
            k = self.next_slot + offset
            start, end = k * step, min((k + 1) * step, limit)
            if on:
                if self.run is not None and (start == self.run[1]
                                             or start - self.run[1] < self.params.merge_gap_s):
                    self.run[1] = end
                else:
                    self.run, self.onset_sent = [start, end], False
                if not self.onset_sent and self.run[1] - self.run[0] >= self.params.min_episode_s:
                    events.append(Event("onset", self.run[0], now_s))
                    self.onset_sent = True
            elif self.run is not None and end - self.run[1] >= self.params.merge_gap_s:
                events.extend(self._finish(now_s))
        self.next_slot = n_slots
        if final:
            events.extend(self._close(end_s, now_s))
        return events

    def _close(self, end_s: float, now_s: float) -> list[Event]:
        if self.run is None:
            return []
        self.run[1] = min(self.run[1], end_s)
        return self._finish(now_s)

    def _finish(self, now_s: float) -> list[Event]:
        start, end = self.run
        self.run = None
        if end - start < self.params.min_episode_s:
            return []
        self.episodes.append(rhythm.Interval(rhythm.AF, start, end))
        events = [] if self.onset_sent else [Event("onset", start, now_s)]
        return events + [Event("offset", end, now_s)]


def analyse(rec: records.Record, bundle: Bundle | None = None,
            show_progress: bool = False) -> ScanResult:
    """Scan one recording already read (:func:`ecgutils.records.read_path`)."""
    bundle = bundle or packaged_bundle()
    began = time.perf_counter()
    pipe = _Pipeline(rec.fs, bundle, f"record {rec.name}", show_progress)
    pipe.push(rec.signal)
    pipe.advance(final=True)
    starts, prob = np.asarray(pipe.starts_s), np.asarray(pipe.prob)
    s = bundle.settings
    found = episodes.detect(starts, prob, s.threshold, s.window_s, s.step_s, rec.duration_s,
                            s.episode_params())
    return ScanResult(rec.name, rec.fs, rec.lead, rec.n_samples, starts, prob, s.threshold,
                      found, time.perf_counter() - began, s.window_s)


def window_inputs(rec: records.Record, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """What a bundle with ``settings`` would read from ``rec``, without a model: the window
    starts (s) and each window's features (the ``rr`` input), computed by the scanner itself
    — a model trained on them sees in use exactly what it saw in training."""
    pipe = _Pipeline(rec.fs, Bundle([], settings), f"record {rec.name}", collect=True)
    pipe.push(rec.signal)
    pipe.advance(final=True)
    return np.asarray(pipe.starts_s), np.vstack(pipe.collect)


class Stream:
    """Live AF detection: push samples as they arrive (any chunk size), get onset and offset
    events; :meth:`close` at the end of the recording.

    Parameters
    ----------
    fs : float
        Sampling rate of the samples pushed (Hz).
    bundle : Bundle, optional
        Default the packaged bundle.
    name : str
        Shown in errors.

    The events describe exactly the episodes :func:`scan` finds on the whole recording; each
    comes once the blocks, windows and slots that decide it are complete (``emitted_at_s``).
    """

    def __init__(self, fs: float, bundle: Bundle | None = None, name: str = "stream"):
        self.bundle = bundle or packaged_bundle()
        self.fs = float(fs)
        self._pipe = _Pipeline(self.fs, self.bundle, name)
        self._tracker = _EpisodeTracker(self.bundle.settings)
        self.events: list[Event] = []
        self.closed = False
        self.seconds = 0.0

    def push(self, samples: np.ndarray) -> list[Event]:
        """Add samples (mV); returns the events they complete."""
        if self.closed:
            raise ValueError("the stream is closed")
        return self._step(samples, final=False)

    def close(self) -> list[Event]:
        """End of the recording: finish the last blocks and episodes."""
        if self.closed:
            return []
        events = self._step(np.zeros(0), final=True)
        self.closed = True
        return events

    @property
    def episodes(self) -> list[rhythm.Interval]:
        return list(self._tracker.episodes)

    @property
    def starts_s(self) -> np.ndarray:
        return np.asarray(self._pipe.starts_s)

    @property
    def prob(self) -> np.ndarray:
        return np.asarray(self._pipe.prob)

    def _step(self, samples: np.ndarray, final: bool) -> list[Event]:
        began = time.perf_counter()
        self._pipe.push(samples)
        self._pipe.advance(final)
        now_s = self._pipe.n_raw / self.fs
        events = self._tracker.update(self._pipe.starts_s, self._pipe.prob, final, now_s, now_s)
        self.events.extend(events)
        self.seconds += time.perf_counter() - began
        return events


def stream_record(rec: records.Record, bundle: Bundle | None = None,
                  chunk_s: float = 1.0) -> tuple[ScanResult, Stream]:
    """Replay a recording through a :class:`Stream` in chunks of ``chunk_s`` seconds."""
    live = Stream(rec.fs, bundle, f"record {rec.name}")
    chunk = max(1, int(round(chunk_s * rec.fs)))
    for lo in range(0, rec.n_samples, chunk):
        live.push(rec.signal[lo:lo + chunk])
    live.close()
    result = ScanResult(rec.name, rec.fs, rec.lead, rec.n_samples, live.starts_s, live.prob,
                        live.bundle.settings.threshold, live.episodes, live.seconds,
                        live.bundle.settings.window_s, list(live.events))
    return result, live


def onset_delays(reference: list[rhythm.Interval], events: list[Event],
                 detected: list[rhythm.Interval]) -> list[float]:
    """Seconds from each reference AF onset to the onset event of the first detected episode
    that overlaps that reference episode. Zero or negative where that event came before the
    reference onset: the monitor was already calling AF (an episode that began early, or
    one still running from earlier AF). Reference episodes never detected are left out."""
    onsets = {e.time_s: e.emitted_at_s for e in events if e.kind == "onset"}
    delays = []
    for ref in rhythm.episodes(reference, rhythm.AF):
        hits = [d for d in detected if d.start_s < ref.end_s and ref.start_s < d.end_s]
        if hits:
            delays.append(onsets[hits[0].start_s] - ref.start_s)
    return delays


# --- many recordings, files ----------------------------------------------------------------


def scan(
    paths: list[str | Path] | str | Path,
    model: str | Path | None = None,
    lead: str | int | None = None,
    extension: str | None = DEFAULT_EXTENSION,
    out_dir: str | Path | None = None,
    reference: str | None = None,
    plot_dir: str | Path | None = None,
    stream: bool = False,
    chunk_s: float = 1.0,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Scan WFDB recordings and return one row per recording.

    Parameters
    ----------
    paths : path or list of paths
        Records without extension (``data/raw/mitdb/203``; ``.hea``/``.dat``/``.mat`` is
        dropped).
    model : path, optional
        A bundle folder; default the packaged release bundle.
    lead : str or int, optional
        Lead name or index (default MLII, II, ECG … else signal 0).
    extension : str or None
        Annotation file written for each record (``<record>.<extension>``, ``(AFIB`` / ``(N``
        rhythm annotations); None writes none.
    out_dir : path, optional
        Where annotation files go; default beside each record.
    reference : str, optional
        Reference annotator (``atr``): score the episodes with the EC57 scorer
        (:func:`ecgutils.ec57.compare`, epicmp's defaults: from 5 min in, no exclusions).
    plot_dir : path, optional
        Save ``<record>_scan.png`` (probability over time, episodes, reference) there.
    stream : bool
        Replay each record live (:class:`Stream`) in ``chunk_s`` chunks instead of at once.

    Returns
    -------
    pandas.DataFrame
        ``record, lead, fs, duration_s, n_windows, record_prob, af, af_burden, n_episodes,
        episodes, seconds, realtime_factor, annotation`` (+ EC57 columns with ``reference``,
        ``onset_delays_s`` with ``stream``).
    """
    bundle = bundle_at(model)
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    # Output folders are checked before any scan: a bad one fails at once, not after an hour.
    targets = ([Path(out_dir)] if out_dir is not None else
               [Path(p).expanduser().parent for p in paths]) if extension else []
    for folder in targets + ([Path(plot_dir)] if plot_dir is not None else []):
        ensure_writable(folder)
    rows = []
    for path in paths:
        rec = records.read_path(path, lead, preferred=bundle.settings.leads)
        truth = []
        if reference:  # read as epicmp reads it, so that both score the same
            truth, _ = ec57.read_rhythm(rec.name, reference, Path(path).expanduser().parent)
        if stream:
            result, _ = stream_record(rec, bundle, chunk_s)
        else:
            result = analyse(rec, bundle, show_progress)
        row = result.row()
        row["path"] = str(path)
        folder = Path(out_dir) if out_dir is not None else Path(path).expanduser().parent
        if extension:
            try:
                written = ec57.write_annotations(folder, rec.name, result.episodes, rec.fs,
                                                 rec.n_samples, extension)
            except OSError as exc:
                raise ECGDataError(f"cannot write the annotation file "
                                   f"{folder / f'{rec.name}.{extension}'}: {exc}") from exc
            row["annotation"] = str(written)
        if reference:
            score = ec57.compare(truth, result.episodes, rec.duration_s, record=rec.name)
            row.update({name: getattr(score, name) for name in (*ec57.COUNTS, *ec57.DURATIONS)})
            row.update(ec57.gross([score]))
            row["ec57_variant"] = score.variant
        if stream:
            row["onset_delays_s"] = [round(d, 1) for d in
                                     onset_delays(truth, result.events, result.episodes)]
        if plot_dir is not None:
            from ecgutils import plots

            row["plot"] = str(plots.scan_timeline(result, truth,
                                                  Path(plot_dir) / f"{rec.name}_scan.png"))
        rows.append(row)
    return pd.DataFrame(rows)


def ensure_writable(folder: Path) -> None:
    """Create ``folder`` if needed; ECGDataError when it cannot be made or written to."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ECGDataError(f"cannot create the output folder {folder}: {exc}") from exc
    if not os.access(folder, os.W_OK):
        raise ECGDataError(f"the output folder {folder} is not writable")


def main(argv: list[str] | None = None) -> int:
    """``ecg-af scan RECORD [RECORD ...]``: print the AF burden, the episodes and the speed of
    each recording, write ``<record>.<ext>``; exit 2 with one line on bad input."""
    args = _parse_args(argv)
    options = dict(model=args.model, lead=args.lead,
                   extension=None if args.no_annotations else args.ext, out_dir=args.out_dir,
                   reference=args.reference, plot_dir=args.plot, stream=args.stream,
                   chunk_s=args.chunk_s)
    failures = None
    try:
        if args.scheduler or args.workers:
            from ecgutils import archive  # Dask: only where a cluster is asked for

            table, failures = archive.scan_archive(args.records, scheduler=args.scheduler,
                                                   n_workers=args.workers, **options)
        else:
            table = scan(args.records, **options,
                         show_progress=sys.stderr.isatty() and not (args.json or args.csv))
    except (ECGDataError, BundleError, ValueError, OSError) as exc:
        print(f"ecg-af scan: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(table.to_json(orient="records", indent=2))
    elif args.csv:
        print(table.to_csv(index=False), end="")
    else:
        for row in table.to_dict("records"):
            print(_describe(row))
    if failures is not None and len(failures):
        for failure in failures.to_dict("records"):
            print(f"ecg-af scan: error: {failure['path']}: {failure['message']}", file=sys.stderr)
        return 1  # the other records were scanned and written
    return 0


def _describe(row: dict[str, Any]) -> str:
    lines = [f"{row['record']}: {row['duration_s'] / 60:.1f} min, lead {row['lead']} at "
             f"{row['fs']:g} Hz; AF probability {row['record_prob']:.3f} "
             f"({'AF' if row['af'] else 'no AF'}); AF burden {100 * row['af_burden']:.1f} %; "
             f"{row['n_episodes']} episode(s); {row['realtime_factor']:,.0f}x real time"]
    for start, end in row["episodes"]:
        lines.append(f"  AF {_clock(start)} - {_clock(end)} ({(end - start) / 60:.1f} min)")
    if "annotation" in row:
        lines.append(f"  annotations: {row['annotation']}")
    if "episode_se" in row:
        lines.append(f"  EC57 vs reference ({row['ec57_variant']}): episode Se "
                     f"{_pct(row['episode_se'])} +P {_pct(row['episode_ppv'])}, duration Se "
                     f"{_pct(row['duration_se'])} +P {_pct(row['duration_ppv'])}")
    if "onset_delays_s" in row:
        lines.append(f"  live onset delays (s; <= 0: AF already being called): "
                     f"{row['onset_delays_s']}")
    if "plot" in row:
        lines.append(f"  figure: {row['plot']}")
    return "\n".join(lines)


def _pct(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:.0f}"


def _clock(seconds: float) -> str:
    h, rest = divmod(int(round(seconds)), 3600)
    return f"{h:d}:{rest // 60:02d}:{rest % 60:02d}"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw and raw[0] == "scan":  # `ecg-af scan ...` and `python -m ecgutils.detect ...`
        raw = raw[1:]
    parser = argparse.ArgumentParser(
        prog="ecg-af scan", description="Scan WFDB recordings for atrial fibrillation with the "
        "packaged model (research use, not a medical device).")
    parser.add_argument("records", nargs="+", help="record paths without extension, e.g. "
                        "data/raw/mitdb/203 or training/A00001")
    parser.add_argument("--model", help="model bundle folder (default: the packaged one)")
    parser.add_argument("--lead", help="lead name or 0-based index (default MLII, II, ECG ... "
                        "else signal 0)")
    parser.add_argument("--ext", default=DEFAULT_EXTENSION,
                        help=f"annotation file extension (default {DEFAULT_EXTENSION})")
    parser.add_argument("--out-dir", help="folder for the annotation files (default: beside "
                        "each record)")
    parser.add_argument("--no-annotations", action="store_true", help="write no annotation file")
    parser.add_argument("--reference", metavar="ANNOTATOR",
                        help="score against the record's own rhythm annotations, e.g. atr "
                        "(EC57 scorer, epicmp defaults)")
    parser.add_argument("--plot", metavar="DIR", help="save an episode timeline figure per "
                        "record in DIR")
    parser.add_argument("--stream", action="store_true", help="replay each record chunk by "
                        "chunk as if live; prints the onset delays with --reference")
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", metavar="ADDRESS", help="scan on a running Dask "
                         "cluster, one task per record (e.g. tcp://host:8786; the records and "
                         "--out-dir must be visible to the workers under the same paths)")
    cluster.add_argument("--workers", type=int, metavar="N", help="scan on a local Dask "
                         "cluster of N single-threaded worker processes, one task per record")
    parser.add_argument("--chunk-s", type=float, default=1.0,
                        help="chunk length of --stream (s, default 1)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON")
    output.add_argument("--csv", action="store_true", help="print CSV")
    args = parser.parse_args(raw)
    if args.lead is not None and args.lead.isdigit():
        args.lead = int(args.lead)
    if args.chunk_s <= 0:
        parser.error("--chunk-s must be positive")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(main())
