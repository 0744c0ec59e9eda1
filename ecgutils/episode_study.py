"""EC57 AF episode scoring of whole long records: the CNNs and the RR baseline side by side.

* CNN: every window of a record (20 s every ``step_s``) is scored by the fold model that held
  the record's patient out (:func:`ecgutils.experiments.predict_out_of_fold`), the window
  probabilities become episodes (:mod:`ecgutils.episodes`) and each record is scored against its
  reference rhythm annotations (:mod:`ecgutils.ec57`), by default in the current standard's
  variant (EC57/EC38:2007, no exclusions); every EC57 table says which variant it holds.
* Baseline: the COSEn detector (:mod:`ecgutils.baseline`) on the reference beat annotations and,
  separately, on QRS complexes detected by ``wfdb.processing`` (cached), scored the same way and
  on the same 20-s windows as the CNNs.

Knows no model: it reads probabilities, beats and intervals.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ecgutils import baseline, cache, ec57, episodes, metrics, records, reporting, rhythm
from ecgutils.progress import progress

QRS_CACHE_VERSION = 1


@dataclass(frozen=True)
class LongRecord:
    """What scoring needs of one long record: its length, reference rhythm and beats."""

    name: str
    patient_id: str
    fs: float
    n_samples: int
    reference: list[rhythm.Interval]
    beat_times_s: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs


def long_records(dataset: str, names: Sequence[str], data_dir: Any = None) -> dict[str, LongRecord]:
    """Read the records' lengths, reference rhythm intervals and reference beat times."""
    out = {}
    for name in progress(list(names), f"{dataset} records"):
        rec = records.read(dataset, name, data_dir)
        out[name] = LongRecord(name, rec.patient_id, rec.fs, rec.n_samples, list(rec.rhythm),
                               rec.beat_times_s)
    return out


def detected_beats(dataset: str, names: Sequence[str], data_dir: Any = None) -> dict[str,
                                                                                    np.ndarray]:
    """QRS times (s) detected by :func:`ecgutils.baseline.detect_qrs` on each record's lead,
    cached on disk (the detector takes a few seconds per 30-min record)."""
    names = list(names)

    def build():
        times, counts = [], []
        for name in progress(names, f"{dataset} QRS detection"):
            rec = records.read(dataset, name, data_dir)
            found = baseline.detect_qrs(rec.signal, rec.fs)
            times.append(np.asarray(found, dtype=np.float64))
            counts.append(len(found))
        table = pd.DataFrame({"record": names, "n_beats": counts})
        return {"beat_times_s": np.concatenate(times) if times else np.zeros(0)}, \
            {"records": table}, {"detector": "wfdb xqrs"}

    entry = cache.load_or_build(f"{dataset}-qrs", {"records": names, "version": QRS_CACHE_VERSION,
                                                  "detector": "xqrs"}, build)
    ends = np.cumsum(entry.tables["records"]["n_beats"].to_numpy())
    starts = ends - entry.tables["records"]["n_beats"].to_numpy()
    all_times = np.asarray(entry.arrays["beat_times_s"])
    return {str(name): all_times[start:end] for name, start, end in
            zip(entry.tables["records"]["record"], starts, ends, strict=True)}


def cnn_episodes(
    predictions: pd.DataFrame,
    long: Mapping[str, LongRecord],
    window_s: float,
    step_s: float,
    params: episodes.EpisodeParams | None = None,
) -> dict[str, list[rhythm.Interval]]:
    """AF episodes of each record from its windows' out-of-fold probabilities, at each window's
    fold threshold (one fold per record, since a patient sits in one fold)."""
    out = {}
    for name, part in predictions.groupby("record", sort=True):
        name = str(name)
        thresholds = part["threshold"].unique()
        if len(thresholds) != 1:
            raise ValueError(f"record {name} has windows from several folds")
        out[name] = episodes.detect(part["start_s"].to_numpy(), part["prob"].to_numpy(),
                                    float(thresholds[0]), window_s, step_s,
                                    long[name].duration_s, params)
    missing = sorted(set(long) - set(out))
    if missing:
        raise ValueError(f"no predictions for record(s) {missing[:5]}")
    return out


def baseline_episodes(
    beats: Mapping[str, np.ndarray],
    long: Mapping[str, LongRecord],
    params: baseline.CosenParams | None = None,
) -> dict[str, list[rhythm.Interval]]:
    """COSEn AF episodes of each record from its beat times."""
    return {name: baseline.detect(beats[name], long[name].duration_s, params) for name in long}


def write_annotation_files(
    detected: Mapping[str, list[rhythm.Interval]],
    long: Mapping[str, LongRecord],
    folder: Any,
    extension: str,
) -> list[str]:
    """One WFDB rhythm annotation file per record (``<folder>/<record>.<extension>``), which
    WFDB's ``epicmp`` reads as a test annotator; returns the paths written."""
    return [str(ec57.write_annotations(folder, name, detected[name], rec.fs, rec.n_samples,
                                       extension)) for name, rec in long.items()]


def score(
    detected: Mapping[str, list[rhythm.Interval]],
    long: Mapping[str, LongRecord],
    start_s: float = ec57.DEFAULT_START_S,
    exclude_reference_afl: bool = False,
) -> list[ec57.RecordScore]:
    """EC57 scores of every record from ``start_s`` (s).

    By default reference flutter is plain non-AF (epicmp's default, EC57/EC38:2007);
    ``exclude_reference_afl=True`` scores as ``epicmp -x`` (EC38:1998). Each score carries its
    variant (:attr:`ecgutils.ec57.RecordScore.variant`).
    """
    return [ec57.compare(long[name].reference, detected[name], long[name].duration_s,
                         start_s=start_s, exclude_reference_afl=exclude_reference_afl,
                         record=name) for name in sorted(long)]


def variant_of(scores: Mapping[str, list[ec57.RecordScore]]) -> str:
    """The EC57 variant shared by every detector's scores, for captions; ValueError when the
    detectors were scored with different variants."""
    return ec57.variant_of([s for per_record in scores.values() for s in per_record])


def ec57_summary(scores: Mapping[str, list[ec57.RecordScore]]) -> pd.DataFrame:
    """Gross and average episode and duration Se / +P (fractions) per detector, with the
    scoring ``variant`` of each row (:func:`ecgutils.ec57.variant`)."""
    rows = []
    for detector, per_record in scores.items():
        gross, average = ec57.gross(per_record), ec57.average(per_record)
        variant = ec57.variant_of(per_record)
        totals = {column: sum(getattr(s, column) for s in per_record)
                  for column in ("ref_episodes", "test_episodes", "test_episodes_true")}
        rows.append({"detector": detector, "statistic": "gross", "variant": variant, **totals,
                     **gross})
        rows.append({"detector": detector, "statistic": "average", "variant": variant,
                     **average})
    table = pd.DataFrame(rows)
    counts = ["ref_episodes", "test_episodes", "test_episodes_true"]
    table[counts] = table[counts].astype("Int64")
    return table


def per_record_table(scores: Mapping[str, list[ec57.RecordScore]],
                     only_active: bool = True) -> pd.DataFrame:
    """One compact row per record (with ``only_active``, only those with reference AF or any
    detected episode): reference episodes and AF seconds, then per detector ``episodes`` as
    "detected (true)" and the episode and duration Se / +P as "Se / +P" percentages."""
    detectors = list(scores)
    by_record = {d: {s.record: s for s in per_record} for d, per_record in scores.items()}
    rows = []
    for record in sorted(by_record[detectors[0]]):
        first = by_record[detectors[0]][record]
        if only_active and first.ref_episodes == 0 and all(
                by_record[d][record].test_episodes == 0 for d in detectors):
            continue
        row: dict[str, Any] = {"record": record, "reference episodes": first.ref_episodes,
                               "reference AF (s)": round(first.ref_af_s, 1)}
        for detector in detectors:
            s = by_record[detector][record]
            row[f"{detector} episodes"] = f"{s.test_episodes} ({s.test_episodes_true})"
            row[f"{detector} episode Se/+P"] = f"{_pct(s.episode_se)} / {_pct(s.episode_ppv)}"
            row[f"{detector} duration Se/+P"] = f"{_pct(s.duration_se)} / {_pct(s.duration_ppv)}"
        rows.append(row)
    return pd.DataFrame(rows)


def false_episodes(scores: Mapping[str, list[ec57.RecordScore]]) -> pd.DataFrame:
    """False-positive episodes (test episodes overlapping no reference AF) per record and
    detector, records with at least one."""
    counts = {detector: {s.record: s.test_episodes - s.test_episodes_true for s in per_record}
              for detector, per_record in scores.items()}
    table = pd.DataFrame(counts)
    table.index.name = "record"
    return table[(table > 0).any(axis=1)].sort_values(list(counts)[0], ascending=False)


def baseline_window_scores(
    manifest: pd.DataFrame,
    beats: Mapping[str, np.ndarray],
    long: Mapping[str, LongRecord],
    window_s: float,
    params: baseline.CosenParams | None = None,
) -> np.ndarray:
    """The baseline's score of each manifest window (fraction of it inside a COSEn episode)."""
    out = np.zeros(len(manifest))
    for name, index in manifest.groupby("record", sort=False).indices.items():
        name = str(name)
        out[index] = baseline.window_scores(beats[name], manifest["start_s"].to_numpy()[index],
                                            window_s, params, long[name].duration_s)
    return out


def window_evaluation(
    manifest: pd.DataFrame,
    score_of_window: np.ndarray,
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Window metrics (AF vs non-AF, flutter windows left out) with patient-bootstrap CIs."""
    labelled = manifest["y"].to_numpy() >= 0
    return metrics.evaluate(manifest["y"].to_numpy()[labelled].astype(int),
                            np.clip(score_of_window[labelled], 0, 1),
                            manifest["patient_id"].to_numpy()[labelled],
                            threshold=threshold, n_boot=n_boot, seed=seed)


def window_comparison(
    cnn_predictions: Mapping[str, pd.DataFrame],
    beats: Mapping[str, Mapping[str, np.ndarray]],
    manifest: pd.DataFrame,
    long: Mapping[str, LongRecord],
    window_s: float,
    params: baseline.CosenParams | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Window metrics with patient-bootstrap CIs for each CNN (out-of-fold probabilities at
    their fold thresholds) and each baseline beat source (fraction of the window inside a COSEn
    episode, AF at ≥ 0.5), on the same windows (flutter left out)."""
    labelled = manifest[manifest["y"] >= 0].reset_index(drop=True)
    out = {}
    for kind, table in cnn_predictions.items():
        y, prob, groups, threshold = metrics.prediction_columns(table)
        out[kind] = metrics.evaluate(y, prob, groups, threshold=threshold, n_boot=n_boot,
                                     seed=seed)
    for detector, beat_times in beats.items():
        window_score = baseline_window_scores(labelled, beat_times, long, window_s, params)
        out[detector] = window_evaluation(labelled, window_score, 0.5, n_boot=n_boot, seed=seed)
    return out


def min_duration_sensitivity(
    scored: pd.DataFrame,
    long: Mapping[str, LongRecord],
    window_s: float,
    step_s: float,
    params: episodes.EpisodeParams,
    minima_s: Sequence[float] = (0.0, 10.0, 30.0, 60.0),
    start_s: float = ec57.DEFAULT_START_S,
    exclude_reference_afl: bool = False,
) -> pd.DataFrame:
    """Gross EC57 rates of one CNN's episodes for several minimum episode durations (s), with
    the scoring ``variant`` (see :func:`score`)."""
    rows = []
    for minimum in minima_s:
        varied = episodes.EpisodeParams(params.on_threshold, params.hysteresis, minimum,
                                        params.merge_gap_s)
        found = cnn_episodes(scored, long, window_s, step_s, varied)
        scores = score(found, long, start_s, exclude_reference_afl)
        rows.append({"min_episode_s": minimum, "variant": ec57.variant_of(scores),
                     **ec57.gross(scores)})
    return pd.DataFrame(rows)


def window_keys(evaluations: Mapping[str, dict[str, Any]], detectors: Sequence[str],
                dataset: str = "mitdb") -> dict[str, Any]:
    """``<dataset>.<detector>.no_training.<metric>`` (+ ``_ci95`` and counts) for detectors
    that learn nothing, so that every patient is a test patient; undefined values left out."""
    keys: dict[str, Any] = {}
    for detector in detectors:
        keys.update(reporting.evaluation_keys(
            f"{dataset}.{detector}.no_training", evaluations[detector],
            ("accuracy", "se", "sp", "ppv", "f1", "auroc")))
    return keys


def _pct(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{100 * value:.0f}"


def export_keys(summary: pd.DataFrame, dataset: str = "mitdb") -> dict[str, float]:
    """``<dataset>.<detector>.ec57.<rate>`` for the gross rates, ``…ec57_average.<rate>`` for
    the averages (fractions); undefined rates are left out.

    The keys name the default variant (:data:`ecgutils.ec57.VARIANT_EC57`, no exclusions);
    a summary scored in another variant is refused rather than exported under them.
    """
    other = sorted(set(summary["variant"]) - {ec57.VARIANT_EC57})
    if other:
        raise ValueError(
            f"export_keys exports the {ec57.VARIANT_EC57!r} variant only, but the summary holds "
            f"{', '.join(map(repr, other))}; score with exclude_reference_afl=False to export, "
            "or show the other variant as a table"
        )
    keys = {}
    for _, row in summary.iterrows():
        suffix = "ec57" if row["statistic"] == "gross" else "ec57_average"
        for rate in ec57.RATES:
            keys[f"{dataset}.{row['detector']}.{suffix}.{rate}"] = float(row[rate])
    return reporting.defined(keys)


# Episode settings a detector may choose from on its validation patients (03b → 06); the first
# value of each is the setting fixed before any scoring (notebook 06's defaults).
EPISODE_GRID = {"hysteresis": (0.1, 0.0, 0.2), "min_episode_s": (30.0, 0.0, 10.0, 60.0),
                "merge_gap_s": (0.0, 10.0, 30.0)}


def choose_episode_params(
    along: pd.DataFrame,
    long: Mapping[str, LongRecord],
    window_s: float,
    step_s: float,
    grid: Mapping[str, Sequence[float]] | None = None,
    start_s: float = ec57.DEFAULT_START_S,
) -> tuple[dict[int, episodes.EpisodeParams], pd.DataFrame]:
    """Per fold, the episode settings that maximise the mean of the four gross EC57 rates on
    that fold's *validation* patients (rows with ``role == "validation"``, scored by the fold's
    model, which never trained on them); no test patient is looked at.

    Rates that are undefined on a fold's validation records (no reference AF there: Se) are
    left out of the mean; ties keep the earlier setting in ``grid`` order.

    Returns
    -------
    (chosen, table)
        ``{fold: EpisodeParams}`` and one row per fold with the chosen values and their
        validation score.
    """
    grid = dict(grid or EPISODE_GRID)
    combos = list(itertools.product(*grid.values()))
    chosen, rows = {}, []
    validation = along[along["role"] == "validation"]
    for fold, part in validation.groupby("fold", sort=True):
        names = sorted(part["record"].astype(str).unique())
        sub = {name: long[name] for name in names}
        best, best_value = None, -np.inf
        for combo in combos:
            params = episodes.EpisodeParams(**dict(zip(grid, combo, strict=True)))
            found = cnn_episodes(part, sub, window_s, step_s, params)
            rates = np.array(list(ec57.gross(score(found, sub, start_s)).values()), dtype=float)
            value = float(np.nanmean(rates)) if np.isfinite(rates).any() else -np.inf
            if value > best_value:
                best, best_value = params, value
        best = best or episodes.EpisodeParams(**dict(zip(grid, combos[0], strict=True)))
        chosen[int(fold)] = best
        rows.append({"fold": int(fold), "validation records": len(names),
                     "validation records with AF": sum(bool(long[n].reference and any(
                         i.label == rhythm.AF for i in long[n].reference)) for n in names),
                     "hysteresis": best.hysteresis, "min_episode_s": best.min_episode_s,
                     "merge_gap_s": best.merge_gap_s, "validation mean rate": best_value})
    return chosen, pd.DataFrame(rows)


def episodes_by_fold(
    along: pd.DataFrame,
    long: Mapping[str, LongRecord],
    window_s: float,
    step_s: float,
    chosen: Mapping[int, episodes.EpisodeParams],
) -> dict[str, list[rhythm.Interval]]:
    """Episodes of every test record (``role == "test"``) with its fold's chosen settings."""
    test = along[along["role"] == "test"]
    out: dict[str, list[rhythm.Interval]] = {}
    for fold, part in test.groupby("fold", sort=True):
        names = sorted(part["record"].astype(str).unique())
        out.update(cnn_episodes(part, {n: long[n] for n in names}, window_s, step_s,
                                chosen[int(fold)]))
    missing = sorted(set(long) - set(out))
    if missing:
        raise ValueError(f"no test predictions for record(s) {missing[:5]}")
    return out
