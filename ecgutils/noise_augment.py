"""Noise augmentation of the detector's training windows with real NSTDB noise (off by default).

A share of the training records get a noisy copy that replaces their window in training:
noise from the *training* segment of an NSTDB noise record (``bw`` baseline wander or ``ma``
muscle artefact, :attr:`ecgutils.noise_study.NoiseRecord.train`, never the test segment that
notebook 08 adds to mitdb) is mixed into the **raw** lead at an SNR drawn per record, with
the SNR of WFDB's ``nst`` (:func:`ecgutils.noise.mix`). The noisy lead then goes through the
detector's own preprocessing — band-pass, resampling, the window, its normalisation — and
its beats are detected again, so that the RR features see the noise as the scanner would.

The signal power S of a CinC record comes from its detected beats (the clean lead's NeuroKit2
beats of :func:`ecgutils.preprocess.beat_times`, all counted as normal): CinC 2017 has no beat
annotations, which is what ``nst`` reads on mitdb. Everything is drawn from one seeded
generator (:func:`plan`), so the copies are the same in every run with the same seed; they
are cached (:mod:`ecgutils.cache`).
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ecgutils import beats, cache, config, noise, preprocess, records, signal, streams
from ecgutils import windows as windows_mod
from ecgutils.progress import progress
from ecgutils.train import WindowSet

if TYPE_CHECKING:  # noise_study imports the scanner, which imports detector_study, which
    from ecgutils import noise_study  # imports this module: only its types here

PathLike = preprocess.PathLike
PLAN_COLUMNS = ["record", "noisy", "noise", "snr_db", "where"]


class NoSignalPowerError(ValueError):
    """A record without a detected beat to measure S on: no SNR can be set, so it gets no
    noise (its window stays clean)."""


@dataclass(frozen=True)
class NoiseAugmentation:
    """Which training windows get noise, and how much.

    Attributes
    ----------
    fraction : float
        Share of the records whose training window is replaced by a noisy copy (drawn per
        record, so each fold's training part holds about this share).
    snr_low_db, snr_high_db : float
        The SNR (``nst``'s definition) of a copy is uniform in this range.
    noises : tuple of str
        NSTDB noise records to draw from, equally often.
    seed : int
        Seed of every draw (which records, noise, SNR, where in the training segment).
    split_seed : int
        Seed that cuts each noise record into its training and test segments
        (:func:`ecgutils.noise_study.noise_records`). It must be the one notebook 08 cuts them
        with — its profile's seed, :data:`ecgutils.config.DEFAULT_SEED` in every profile —
        or the "training" segment could be 08's test segment.
    """

    fraction: float = 0.5
    snr_low_db: float = -6.0
    snr_high_db: float = 24.0
    noises: tuple[str, ...] = ("bw", "ma")
    seed: int = config.DEFAULT_SEED
    split_seed: int = config.DEFAULT_SEED

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        if not (math.isfinite(self.snr_low_db) and math.isfinite(self.snr_high_db)
                and self.snr_low_db <= self.snr_high_db):
            raise ValueError(f"need finite snr_low_db <= snr_high_db, got {self.snr_low_db}, "
                             f"{self.snr_high_db}")
        if not self.noises or isinstance(self.noises, str):
            raise ValueError(f"noises must name one or more noise records, got {self.noises!r}")


@dataclass
class NoisyWindows:
    """Noisy copies of some rows of a window entry.

    Attributes
    ----------
    rows : ndarray of int, sorted
        Entry rows that have a copy (drawn as noisy, less those without a beat to measure S
        on: they stay clean).
    X, R : ndarray of float32
        The copies' normalised windows and RR features, one per row of ``rows``.
    table : DataFrame
        One row per copy: ``row, record, noise, snr_db, offset_s`` (start in the training
        segment), ``noise_start_s, noise_end_s`` (the noise used, in the noise record's time).
    """

    rows: np.ndarray
    X: np.ndarray
    R: np.ndarray
    table: pd.DataFrame

    def __len__(self) -> int:
        return int(self.rows.size)


def plan(record_names: Sequence[str], noise_names: Sequence[str], fraction: float,
         snr_low_db: float, snr_high_db: float, seed: int) -> pd.DataFrame:
    """The seeded draws, one row per record: ``noisy`` (fraction), ``noise``, ``snr_db``
    (uniform) and ``where`` (uniform in [0, 1): the offset in the training segment, as a share
    of the room left once the record fits). Every draw is made for every record, so a
    record's draws do not depend on ``fraction``."""
    rng = np.random.default_rng(seed)
    n = len(record_names)
    noisy = rng.random(n) < fraction
    which = rng.integers(len(noise_names), size=n)
    snr = rng.uniform(snr_low_db, snr_high_db, n)
    where = rng.random(n)
    return pd.DataFrame({"record": [str(name) for name in record_names], "noisy": noisy,
                         "noise": np.asarray(noise_names, dtype=object)[which],
                         "snr_db": snr, "where": where})


def augmentation_plan(record_names: Sequence[str], aug: NoiseAugmentation) -> pd.DataFrame:
    """:func:`plan` with a :class:`NoiseAugmentation`'s settings."""
    return plan(record_names, aug.noises, aug.fraction, aug.snr_low_db, aug.snr_high_db,
                aug.seed)


def noisy_lead(signal_mv: np.ndarray, fs: float, beat_times_s: np.ndarray,
               noise_record: noise_study.NoiseRecord, snr_db: float, where: float
               ) -> tuple[np.ndarray, float]:
    """The lead with training noise mixed in at ``snr_db`` (nst's SNR, S from the beats).

    Returns
    -------
    (noisy, offset_s)
        The noisy lead (mV) and where its noise starts in the training segment (s).

    Raises
    ------
    NoSignalPowerError
        No detected beat to measure S on (the SNR is undefined).
    ValueError
        The record is longer than the training segment.
    AssertionError
        The noise would come from outside the training segment (it never does).
    """
    train = noise_record.train
    if train is None:
        raise ValueError(f"noise record {noise_record.name!r} has no training segment")
    duration_s = signal_mv.size / fs
    # Samples the resampler reads: the record's span at the noise rate, plus one for rounding.
    needed = math.ceil(duration_s * noise_record.fs) + 2
    room = train.size - needed
    if room < 0:
        raise ValueError(f"a {duration_s:.1f}-s record is longer than the "
                         f"{train.size / noise_record.fs:.1f}-s training noise segment")
    offset_s = int(where * room) / noise_record.fs
    _assert_training_noise(noise_record, offset_s, needed / noise_record.fs)
    samples = np.round(np.asarray(beat_times_s) * fs).astype(np.int64)
    try:
        power = noise.signal_power(signal_mv, fs, samples, np.full(samples.size, "N"))
    except ValueError as exc:  # no detected beat with a full window around it
        raise NoSignalPowerError(str(exc)) from None
    # Only the training segment goes in: the resampler's mirror padding stays inside it too.
    noisy = noise.mix(signal_mv, fs, train, noise_record.fs, snr_db, power,
                      noise_record.power_mv2, offset_s)
    return noisy, offset_s


def window_of(signal_mv: np.ndarray, fs: float, start_s: float,
              params: preprocess.PreprocessParams) -> tuple[np.ndarray, np.ndarray]:
    """The window at ``start_s`` and its RR features, as :func:`ecgutils.preprocess.build`
    makes them from a raw lead: band-pass on the whole lead, resampling, the window (a short
    record wrapped or padded), its normalisation, beats detected on the raw lead.

    Returns
    -------
    (x, r) : float32 arrays of shapes (window samples,) and (len(beats.FEATURES),)
    """
    conditioned = preprocess.condition(signal_mv, fs, params)
    step = None if params.step_s is None else int(round(params.step_s * params.fs))
    starts, padding = windows_mod.plan_windows(conditioned.size, params.window_samples, step,
                                               params.short_policy)
    start = int(round(start_s * params.fs))
    if not padding and start not in set(starts.tolist()):
        raise ValueError(f"no window starts at {start_s:g} s on this record's grid")
    x = preprocess.normalised_windows(conditioned, np.array([start]), padding, params)[0]
    found = beats.detect(signal_mv, fs) / fs
    r = beats.window_features(found, np.array([start_s]), params.window_s)[0]
    return x.astype(np.float32), r.astype(np.float32)


def noisy_windows(entry: cache.Entry, params: preprocess.PreprocessParams, rows: np.ndarray,
                  draws: pd.DataFrame, noises: Mapping[str, noise_study.NoiseRecord],
                  data_dir: PathLike = None, what: str = "noisy copies") -> NoisyWindows:
    """Noisy copies of the entry ``rows`` whose record ``draws`` marks ``noisy`` (cached).

    Parameters
    ----------
    entry : cache.Entry
        The windows (:func:`ecgutils.preprocess.build` of ``params``).
    rows : ndarray of int
        Candidate entry rows (one per record, e.g. the centre rows).
    draws : DataFrame
        :func:`plan` rows, indexed by nothing in particular; matched on ``record``.
    noises : mapping
        :func:`ecgutils.noise_study.noise_records`, with their training segments.
    """
    manifest = entry.tables["manifest"]
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    chosen = draws.set_index("record")
    names = manifest["record"].astype(str).to_numpy()[rows]
    missing = sorted(set(names) - set(chosen.index))
    if missing:
        raise ValueError(f"draws lack {len(missing)} record(s), e.g. {missing[:3]}")
    picked = rows[chosen.loc[names, "noisy"].to_numpy(dtype=bool)]
    key = {"params": asdict(params), "rows_sha256": _sha(manifest.iloc[picked][
        ["record", "start_s"]].to_csv(index=False)),
        "draws_sha256": _sha(chosen.loc[names[np.isin(rows, picked)], PLAN_COLUMNS[1:]]
                             .to_csv()),
        "noise": {name: [nr.fs, nr.power_mv2, *nr.segment_s("train"), _sha(nr.train)]
                  for name, nr in sorted(noises.items())}}
    found = cache.load_or_build(
        f"{params.dataset}-noisy", key,
        lambda: _build(entry, params, picked, chosen, noises, data_dir, what),
        code_version=cache.code_version(beats, noise, records, signal, windows_mod,
                                        sys.modules[__name__]))
    table = found.tables["copies"]
    made = table["noise"].notna().to_numpy()
    return NoisyWindows(picked[made], np.asarray(found.arrays["X"])[made],
                        np.asarray(found.arrays["R"])[made],
                        table[made].reset_index(drop=True))


def training_copies(entry: cache.Entry, params: preprocess.PreprocessParams, rows: np.ndarray,
                    aug: NoiseAugmentation, data_dir: PathLike = None) -> NoisyWindows:
    """The training augmentation's copies of ``rows`` (one window per record)."""
    from ecgutils import noise_study

    noises = noise_study.noise_records(data_dir, seed=aug.split_seed)
    unknown = sorted(set(aug.noises) - set(noises))
    if unknown:
        raise ValueError(f"noise record(s) {unknown} are not here (found {sorted(noises)})")
    records_all = np.unique(entry.tables["manifest"]["record"].astype(str).to_numpy())
    return noisy_windows(entry, params, rows, augmentation_plan(records_all, aug), noises,
                         data_dir, "noise augmentation")


def with_noisy(windows: WindowSet, rows: np.ndarray, noisy: NoisyWindows | None) -> WindowSet:
    """``windows.take(rows)`` with every row that has a noisy copy replaced by the copy;
    ``noisy`` None: exactly ``windows.take(rows)``."""
    taken = windows.take(rows)
    if noisy is None or len(noisy) == 0:
        return taken
    rows = np.asarray(rows)
    at = np.minimum(np.searchsorted(noisy.rows, rows), len(noisy) - 1)
    hit = noisy.rows[at] == rows
    pick = np.arange(len(taken))  # each row from the clean windows or from its noisy copy
    pick[hit] = len(taken) + at[hit]
    taken.X = streams.Rows.concat([taken.X, noisy.X]).take(pick)
    taken.R[hit] = noisy.R[at[hit]]
    return taken


def n_noisy(rows: np.ndarray, noisy: NoisyWindows | None) -> int:
    """How many of ``rows`` have a noisy copy."""
    return 0 if noisy is None else int(np.isin(rows, noisy.rows).sum())


def _build(entry: cache.Entry, params: preprocess.PreprocessParams, picked: np.ndarray,
           chosen: pd.DataFrame, noises: Mapping[str, noise_study.NoiseRecord],
           data_dir: PathLike, what: str):
    manifest = entry.tables["manifest"]
    beat_map = preprocess.beat_times(params, data_dir)
    X = np.zeros((picked.size, params.window_samples), dtype=np.float32)
    R = np.zeros((picked.size, len(beats.FEATURES)), dtype=np.float32)
    rows_out: list[dict[str, Any]] = []
    for k, row in enumerate(progress(picked.tolist(), what)):
        name = str(manifest["record"].iloc[row])
        start_s = float(manifest["start_s"].iloc[row])
        draw = chosen.loc[name]
        nr = noises[draw["noise"]]
        rec = records.read(params.dataset, name, data_dir, params.lead, params.cinc_label_set)
        try:
            lead, offset_s = noisy_lead(rec.signal, rec.fs, beat_map[name], nr,
                                        float(draw["snr_db"]), float(draw["where"]))
        except NoSignalPowerError:
            rows_out.append({"row": row, "record": name, "noise": None})
            continue
        X[k], R[k] = window_of(lead, rec.fs, start_s, params)
        begin = nr.segment_s("train")[0] + offset_s
        rows_out.append({"row": row, "record": name, "noise": nr.name,
                         "snr_db": float(draw["snr_db"]), "offset_s": offset_s,
                         "noise_start_s": begin, "noise_end_s": begin + rec.duration_s})
    table = pd.DataFrame(rows_out, columns=["row", "record", "noise", "snr_db", "offset_s",
                                            "noise_start_s", "noise_end_s"])
    return {"X": X, "R": R}, {"copies": table}, {"n_copies": int(picked.size)}


def _assert_training_noise(nr: noise_study.NoiseRecord, offset_s: float, span_s: float) -> None:
    """The noise span read for one copy lies in the training segment, off the test one."""
    train_start, train_end = nr.segment_s("train")
    test_start, test_end = nr.segment_s("test")
    begin, end = train_start + offset_s, train_start + offset_s + span_s
    assert train_start <= begin and end <= train_end + 1e-9, (
        f"noise {nr.name} [{begin:.2f}, {end:.2f}) s leaves the training segment "
        f"[{train_start:.2f}, {train_end:.2f})")
    assert end <= test_start or begin >= test_end, (
        f"noise {nr.name} [{begin:.2f}, {end:.2f}) s touches the test segment "
        f"[{test_start:.2f}, {test_end:.2f})")


def _sha(value: Any) -> str:
    data = value.tobytes() if isinstance(value, np.ndarray) else str(value).encode()
    return hashlib.sha256(data).hexdigest()
