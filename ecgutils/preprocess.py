"""From raw records to cached, labelled, normalised windows and their spectrograms.

Per record: read one lead (mV) → zero-phase band-pass on the whole record → resample to
250 Hz (125 Hz for the detector) → cut 20-s windows → per-window normalisation → quality flags
from the raw lead at the same spans → labels from the reference rhythm (AF vs not, and four
rhythm classes) → beats detected on the raw lead and RR features per window
(:mod:`ecgutils.beats`). Then an STFT of every kept window. The result is cached
(:mod:`ecgutils.cache`) under a key made of every parameter, the exact record list and the
code that builds it, so a rerun reuses it and any change rebuilds it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ecgutils import (
    baseline,
    beats,
    cache,
    config,
    datasets,
    records,
    rhythm,
    signal,
    spectrogram,
    streams,
    windows,
)
from ecgutils.errors import SignalQualityError, UnknownNameError
from ecgutils.progress import progress

PathLike = str | os.PathLike | None

MANIFEST_COLUMNS = [
    "dataset", "record", "patient_id", "start_s", "padded_s", "af_fraction", "afl_fraction",
    "label", "y", "cinc_class", "rhythm_class", "ambiguous", "clipped_fraction",
    "flat_fraction",
]
# The modules whose code shapes an entry: a change to any of them builds new entries.
_BUILDERS = (baseline, beats, records, rhythm, signal, spectrogram, windows)


@dataclass(frozen=True)
class PreprocessParams:
    """Everything that shapes the processed windows (all of it goes into the cache key).

    Attributes
    ----------
    dataset : str
        ``mitdb``, ``afdb`` or ``cinc2017``.
    records : tuple of str or None
        Records to process; None = every record of the dataset present.
    max_records : int or None
        Keep only the first N records (sorted by name) — the smoke profile's CinC subset.
    cinc_label_set : str
        CinC 2017 label file (``v3`` default).
    lead : str or None
        Lead to read; None = the registry's preferred lead (MLII for mitdb).
    low_hz, high_hz, filter_order
        Zero-phase Butterworth band-pass (Hz), applied to the whole record.
    fs : float
        Target sampling rate (Hz).
    window_s : float
        Window length (s); 20 s at 250 Hz = 5000 samples.
    step_s : float or None
        Step between windows (s); None = one window centred in each record (CinC default).
    short_policy : {"error", "pad", "drop", "wrap"}
        Records shorter than one window: error, zero-pad at the end, repeat end to end, or
        drop.
    normalisation : {"zscore", "robust", "none"}
        Per-window normalisation.
    af_threshold, fold_afl
        The label policy (:class:`ecgutils.windows.LabelPolicy`).
    max_clipped_fraction : float
        Drop a window when more than this fraction of its raw samples sit at an ADC limit.
    max_flat_fraction : float
        Drop a window when more than this fraction of its 2-s segments is flat (< 0.01 mV).
    stft_nperseg, stft_noverlap, stft_fmax_hz
        Spectrogram settings (:class:`ecgutils.spectrogram.StftParams`).
    """

    dataset: str
    records: tuple[str, ...] | None = None
    max_records: int | None = None
    cinc_label_set: str = "v3"
    lead: str | None = None
    low_hz: float = 0.5
    high_hz: float = 40.0
    filter_order: int = 4
    fs: float = signal.TARGET_FS
    window_s: float = 20.0
    step_s: float | None = 20.0
    short_policy: str = "error"
    normalisation: str = "zscore"
    af_threshold: float = 0.5
    fold_afl: bool = False
    max_clipped_fraction: float = 0.05
    max_flat_fraction: float = 0.5
    stft_nperseg: int = 128
    stft_noverlap: int = 64
    stft_fmax_hz: float = 40.0

    def __post_init__(self) -> None:
        datasets.get(self.dataset)  # unknown dataset → UnknownNameError
        if self.dataset == "nstdb":
            raise UnknownNameError("nstdb holds noise recordings, not rhythms: nothing to label")
        if self.normalisation not in signal.NORMALISATIONS:
            raise UnknownNameError(
                f"unknown normalisation {self.normalisation!r}; choose one of "
                f"{', '.join(signal.NORMALISATIONS)}"
            )
        if self.short_policy not in windows.SHORT_POLICIES:
            raise UnknownNameError(
                f"unknown short-record policy {self.short_policy!r}; choose one of "
                f"{', '.join(windows.SHORT_POLICIES)}"
            )
        if self.window_s <= 0 or (self.step_s is not None and self.step_s <= 0):
            raise ValueError(f"window_s and step_s must be positive; got {self.window_s}, "
                             f"{self.step_s}")
        self.label_policy()  # validates af_threshold
        self.stft_params()

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.fs))

    def label_policy(self) -> windows.LabelPolicy:
        return windows.LabelPolicy(self.af_threshold, self.fold_afl)

    def stft_params(self) -> spectrogram.StftParams:
        return spectrogram.StftParams(self.stft_nperseg, self.stft_noverlap, self.stft_fmax_hz)


def default_params(dataset: str, **overrides: Any) -> PreprocessParams:
    """The study's defaults for a dataset: long records are cut into consecutive windows and
    must hold at least one; CinC 2017 records give one centred window and the 558 records
    shorter than 20 s are repeated end to end to fill it (AF is over-represented among them,
    so dropping them would bias the class balance, and zero padding would show the network a
    flat tail whose length predicts the label)."""
    if dataset == "cinc2017":
        base: dict[str, Any] = {"step_s": None, "short_policy": "wrap"}
    else:
        base = {"step_s": 20.0, "short_policy": "error"}
    base.update({key: value for key, value in overrides.items() if value is not None})
    return _params(dataset, base)


# The detector's input (notebook 03b): 125 Hz, every 20-s window of a record at a 5-s step —
# whole records rather than one centred window — with short CinC records repeated to 20 s.
# Windows per block of the spectrogram pass (about 20 MB of 20-s windows at 250 Hz).
SPECTROGRAM_BLOCK = 1024
DETECTOR_FS = 125.0
DETECTOR_STEP_S = 5.0


def detector_params(dataset: str, **overrides: Any) -> PreprocessParams:
    """The detector's windows of ``dataset``: :data:`DETECTOR_FS`, a :data:`DETECTOR_STEP_S`
    step over whole records; CinC records shorter than a window are wrapped, other datasets'
    are an error."""
    base: dict[str, Any] = {
        "fs": DETECTOR_FS, "step_s": DETECTOR_STEP_S,
        "short_policy": "wrap" if dataset == "cinc2017" else "error",
    }
    base.update({key: value for key, value in overrides.items() if value is not None})
    return _params(dataset, base)


def _params(dataset: str, base: dict[str, Any]) -> PreprocessParams:
    if base.get("records") is not None:
        base["records"] = tuple(str(name) for name in base["records"])
    return PreprocessParams(dataset=dataset, **base)


def build(params: PreprocessParams, data_dir: PathLike = None) -> cache.Entry:
    """Processed windows for ``params``, from the cache when it holds them.

    Returns
    -------
    cache.Entry
        ``arrays['X']`` (n_windows, window samples) float32 normalised windows; ``arrays['S']``
        (n_windows, n_freqs, n_times) float32 log-magnitude spectrograms; ``arrays['R']``
        (n_windows, len(beats.FEATURES)) float32 RR features; ``tables['manifest']`` one row
        per window (:data:`MANIFEST_COLUMNS`; ``ambiguous`` marks non-AF windows that hold
        some AF or flutter); ``tables['drops']`` one row per dropped window or record with
        the reason; ``meta`` counts, shapes and build time. Beats come from
        :func:`beat_times` (cached apart).
    """
    names = record_list(params, data_dir)
    key_params = dataclasses.asdict(params)
    # The exact record list is part of the key: "all records" differs between a full download
    # and the 7675-record CinC copy here.
    key_params["record_list_sha256"] = hashlib.sha256("\n".join(names).encode()).hexdigest()
    return cache.load_or_build(
        params.dataset, key_params, lambda: _build_arrays(params, names, data_dir),
        code_version=cache.code_version(*_BUILDERS, sys.modules[__name__]),
    )


def beat_times(params: PreprocessParams, data_dir: PathLike = None) -> dict[str, np.ndarray]:
    """Detected beat times (s) of every selected record (:func:`ecgutils.beats.detect` on the
    raw lead), cached apart from the windows: every window entry of the same records (another
    rate, step or window) reuses one detection.

    Returns
    -------
    dict
        Record name → sorted beat times in seconds (empty for an unreadable lead).
    """
    names = record_list(params, data_dir)
    key = {"dataset": params.dataset, "lead": params.lead,
           "cinc_label_set": params.cinc_label_set,
           "record_list_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest()}
    entry = cache.load_or_build(
        f"{params.dataset}-beats", key, lambda: _detect_beats(params, names, data_dir),
        code_version=cache.code_version(beats, records))
    counts = entry.tables["records"]["n_beats"].to_numpy()
    ends = np.cumsum(counts)
    times = np.asarray(entry.arrays["time_s"])
    return {str(name): times[end - count:end] for name, count, end in
            zip(entry.tables["records"]["record"], counts, ends, strict=True)}


def drop_summary(entry: cache.Entry) -> pd.DataFrame:
    """Dropped windows and records counted by reason."""
    drops = entry.tables["drops"]
    if drops.empty:
        return pd.DataFrame({"reason": [], "what": [], "count": []})
    return (
        drops.groupby(["reason", "what"]).size().rename("count").reset_index()
        .sort_values("count", ascending=False, ignore_index=True)
    )


def class_balance(entries: dict[str, cache.Entry]) -> pd.DataFrame:
    """Windows and patients per dataset and label."""
    rows = []
    for name, entry in entries.items():
        manifest = entry.tables["manifest"]
        for label, part in manifest.groupby("label"):
            rows.append({"dataset": name, "label": label, "windows": len(part),
                         "patients": part["patient_id"].nunique()})
    return pd.DataFrame(rows)


def filtered_example(
    params: PreprocessParams, record: str, start_s: float, seconds: float,
    data_dir: PathLike = None,
) -> dict[str, Any]:
    """Raw and band-passed + resampled stretches of one record, for the 'what filtering does'
    figure. Returns ``raw``, ``raw_fs``, ``filtered``, ``filtered_fs`` (mV, from start_s)."""
    rec = records.read(params.dataset, record, data_dir, params.lead, params.cinc_label_set)
    processed = condition(rec.signal, rec.fs, params)
    raw_slice = slice(int(start_s * rec.fs), int((start_s + seconds) * rec.fs))
    new_slice = slice(int(start_s * params.fs), int((start_s + seconds) * params.fs))
    return {"raw": rec.signal[raw_slice], "raw_fs": rec.fs,
            "filtered": processed[new_slice], "filtered_fs": params.fs}


def example_windows(entry: cache.Entry, record_af: str | None = None,
                    record_sinus: str | None = None) -> dict[str, int]:
    """Indices of a pure-AF and a pure-non-AF window (from the named records when given)."""
    manifest = entry.tables["manifest"]
    picks = {}
    for key, wanted, record in (("af", 1.0, record_af), ("sinus", 0.0, record_sinus)):
        mask = np.isclose(manifest["af_fraction"], wanted) & (manifest["afl_fraction"] == 0)
        if manifest["cinc_class"].notna().any():
            mask &= manifest["cinc_class"].eq("A" if wanted else "N")
        if record is not None and (mask & manifest["record"].eq(record)).any():
            mask &= manifest["record"].eq(record)
        if not mask.any():
            raise ValueError(f"no {'AF' if wanted else 'non-AF'} window to show")
        picks[key] = int(np.flatnonzero(mask.to_numpy())[0])
    return picks


def record_list(params: PreprocessParams, data_dir: PathLike) -> list[str]:
    ds = datasets.get(params.dataset)
    present = datasets.record_names(params.dataset, data_dir)
    if params.records is not None:
        unknown = sorted(set(params.records) - set(present))
        if unknown:
            raise UnknownNameError(
                f"{params.dataset} has no record(s) {', '.join(unknown[:5])}"
            )
        names = list(params.records)
    else:
        names = present
    names = [name for name in names if name not in ds.no_signal_records]
    if params.max_records is not None:
        names = sorted(names)[: params.max_records]
    if not names:
        raise UnknownNameError(f"no {params.dataset} record selected")
    return names


def condition(signal_mv: np.ndarray, fs: float, params: PreprocessParams) -> np.ndarray:
    """A whole raw lead (mV at ``fs`` Hz) band-passed and resampled to ``params.fs``."""
    filtered = signal.bandpass(signal_mv, fs, params.low_hz, params.high_hz,
                               params.filter_order)
    return signal.resample(filtered, fs, params.fs)


def normalised_windows(conditioned: np.ndarray, starts: np.ndarray, padding: int,
                       params: PreprocessParams) -> np.ndarray:
    """The windows at ``starts`` (samples) of a conditioned lead, each normalised; a record
    shorter than a window (``padding`` > 0, :func:`ecgutils.windows.plan_windows`) is
    normalised whole, then wrapped or padded to one window."""
    if padding:
        extend = windows.wrap_to if params.short_policy == "wrap" else windows.pad_to
        return extend(signal.normalise(conditioned[None, :], params.normalisation),
                      params.window_samples)
    return signal.normalise(windows.cut(conditioned, starts, params.window_samples),
                            params.normalisation)


def _build_arrays(params: PreprocessParams, names: list[str], data_dir: PathLike):
    # The windows go to disk record by record and the spectrograms block by block, so that
    # building an entry takes memory for one record and one block, not for the whole entry.
    spools = (streams.Spool(config.processed_dir()), streams.Spool(config.processed_dir()))
    try:
        return _build_into(params, names, data_dir, *spools)
    except BaseException:
        for spool in spools:
            spool.discard()
        raise


def _build_into(params: PreprocessParams, names: list[str], data_dir: PathLike,
                x_spool: streams.Spool, s_spool: streams.Spool):
    began = time.perf_counter()
    window = params.window_samples
    step = None if params.step_s is None else int(round(params.step_s * params.fs))
    kept_features: list[np.ndarray] = []
    manifests: list[pd.DataFrame] = []
    beat_map = beat_times(params, data_dir)
    drops: list[dict[str, Any]] = []
    for name in progress(names, f"preprocess {params.dataset}"):
        try:
            rec = records.read(params.dataset, name, data_dir, params.lead,
                               params.cinc_label_set)
        except SignalQualityError as exc:
            drops.append({"record": name, "start_s": np.nan, "what": "record",
                          "reason": "unreadable lead (NaN or flat)", "detail": str(exc)})
            continue
        conditioned = condition(rec.signal, rec.fs, params)
        starts, padding = windows.plan_windows(
            conditioned.size, window, step, params.short_policy,
            f"{params.dataset} record {name}",
        )
        if starts.size == 0:
            drops.append({"record": name, "start_s": 0.0, "what": "record",
                          "reason": f"shorter than {params.window_s:g} s", "detail": ""})
            continue
        cut = normalised_windows(conditioned, starts, padding, params)
        if padding:
            raw = rec.signal[None, :]
        else:
            raw_starts = np.round(starts / params.fs * rec.fs).astype(np.int64)
            raw_length = min(int(round(params.window_s * rec.fs)), rec.n_samples)
            raw_starts = np.minimum(raw_starts, rec.n_samples - raw_length)
            raw = windows.cut(rec.signal, raw_starts, raw_length)
        starts_s = starts / params.fs
        quality = signal.window_quality(raw, rec.clip_limits_mv, int(round(2.0 * rec.fs)))
        labels = windows.label_windows(rec.rhythm, starts_s, params.window_s, rec.duration_s,
                                       params.label_policy())
        features = beats.window_features(beat_map[name], starts_s, params.window_s)
        if rec.label is not None:
            classes = np.full(starts_s.size, rec.label, dtype=object)
        else:
            classes = windows.rhythm_classes(rec.rhythm, starts_s, params.window_s,
                                             rec.duration_s, labels["label"].to_numpy())
        ambiguous = ((labels["label"] == windows.NON_AF_LABEL)
                     & ((labels["af_fraction"] > 0) | (labels["afl_fraction"] > 0)))
        manifest = pd.DataFrame({
            "dataset": params.dataset, "record": name, "patient_id": rec.patient_id,
            "start_s": starts_s, "padded_s": padding / params.fs,
            "af_fraction": labels["af_fraction"], "afl_fraction": labels["afl_fraction"],
            "label": labels["label"], "y": labels["y"],
            "cinc_class": rec.label if rec.label is not None else None,
            "rhythm_class": classes, "ambiguous": ambiguous.to_numpy(),
            "clipped_fraction": quality["clipped_fraction"],
            "flat_fraction": quality["flat_fraction"],
        })
        reasons = np.full(len(manifest), "", dtype=object)
        reasons[quality["flat_fraction"] > params.max_flat_fraction] = "flat"
        reasons[quality["clipped_fraction"] > params.max_clipped_fraction] = "clipped"
        reasons[quality["nan_fraction"] > 0] = "NaN samples"
        for index in np.flatnonzero(reasons != ""):
            drops.append({"record": name, "start_s": float(starts_s[index]), "what": "window",
                          "reason": reasons[index], "detail": ""})
        keep = reasons == ""
        x_spool.append(cut[keep])
        kept_features.append(features[keep])
        manifests.append(manifest[keep])
    if not manifests or x_spool.n_rows == 0:
        raise SignalQualityError(f"no usable window in {len(names)} {params.dataset} record(s) "
                                 f"(records or windows dropped: {len(drops)})")
    X = streams.Rows(np.load(x_spool.finish(), mmap_mode="r"))
    for start in range(0, len(X), SPECTROGRAM_BLOCK):
        block = X.read(np.arange(start, min(len(X), start + SPECTROGRAM_BLOCK)))
        s_spool.append(spectrogram.log_stft(block, params.fs, params.stft_params()))
    R = np.concatenate(kept_features).astype(np.float32)
    manifest = pd.concat(manifests, ignore_index=True)[MANIFEST_COLUMNS]
    manifest["cinc_class"] = manifest["cinc_class"].astype(object)
    freqs, times = spectrogram.stft_axes(window, params.fs, params.stft_params())
    drop_table = pd.DataFrame(drops, columns=["record", "start_s", "what", "reason", "detail"])
    meta = {
        "n_records": len(names),
        "n_windows": int(X.shape[0]),
        "x_shape": list(X.shape),
        "rr_features": list(beats.FEATURES),
        "s_shape": list(s_spool.shape),
        "stft_freqs_hz": freqs.tolist(),
        "stft_times_s": times.tolist(),
        "build_s": round(time.perf_counter() - began, 2),
    }
    return {"X": x_spool, "S": s_spool, "R": R}, {"manifest": manifest, "drops": drop_table}, meta


def _detect_beats(params: PreprocessParams, names: list[str], data_dir: PathLike):
    began = time.perf_counter()
    found, counts = [], []
    for name in progress(names, f"beats {params.dataset}"):
        try:
            rec = records.read(params.dataset, name, data_dir, params.lead,
                               params.cinc_label_set)
            times = beats.detect(rec.signal, rec.fs) / rec.fs
        except SignalQualityError:  # the window build drops and counts this record
            times = np.zeros(0)
        found.append(times)
        counts.append(times.size)
    table = pd.DataFrame({"record": names, "n_beats": counts})
    meta = {"n_beats": int(sum(counts)), "build_s": round(time.perf_counter() - began, 2)}
    return {"time_s": np.concatenate(found).astype(np.float64)}, {"records": table}, meta
