"""External validation (notebook 07): train on one database, test on another, tune nothing on
the test side.

* :func:`scan_long_records` — a CinC-trained bundle (:mod:`ecgutils.bundle`) scanned over the
  long records of mitdb (or AFDB): 20-s windows on a 20-s grid scored against the reference
  rhythm (flutter windows left out, as in 03b) with patient-bootstrap CIs, and EC57 episodes.
  The threshold is the bundle's (chosen on CinC) and the episode settings are the bundle's
  (package defaults: CinC's 9-61-s records hold no episodes to choose them on).
* :func:`episode_operating_curve` — post hoc, on the test database: the gross EC57 rates a
  long-record scan's window probabilities would give at a grid of other episode settings, and
  :func:`best_ppv_at_se` the best episode +P at a given episode Se. A diagnostic of what a
  higher Se costs, never a choice: the bundle's own settings stay the reported result.
* :func:`mitdb_to_cinc` — the detector in a patient-grouped cross-validation over every mitdb
  patient (early stopping on each fold's validation patients, the threshold from the
  out-of-fold windows of all of them), scored on every CinC 2017 record (its centred window,
  as 03b scores CinC) by the fold models' mean, record-level.
* :func:`mitdb_to_cinc_features` — the feature detector (03c's recipe) the same way: trained
  on every mitdb patient (threshold from inner patient-grouped out-of-fold windows), scored
  on every CinC 2017 record.

Nothing crosses: a test checks that the two sides share no record.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgutils import (
    bundle,
    cache,
    config,
    datasets,
    detect,
    detector_study,
    ec57,
    episodes,
    feature_model,
    features,
    metrics,
    records,
    reporting,
    rhythm,
    runs,
    splits,
    train,
    windows,
)
from ecgutils.progress import progress

HEADLINE = detector_study.HEADLINE


@dataclass(frozen=True)
class Timeline:
    """One long record as a scan saw it: every window's start (s) and probability, the
    record's length (s) and its reference rhythm as EC57 reads it
    (:func:`ecgutils.ec57.read_rhythm`)."""

    starts_s: np.ndarray
    prob: np.ndarray
    duration_s: float
    reference: list[rhythm.Interval]


@dataclass
class ExternalResult:
    """One direction: ``scores`` has one row per scored unit (``group, y, prob``)."""

    train: str
    test: str
    model: str
    scores: pd.DataFrame
    threshold: float
    evaluation: dict[str, Any] = field(default_factory=dict)
    ec57_scores: list[ec57.RecordScore] = field(default_factory=list)
    per_record: pd.DataFrame | None = None
    # Each reference AF episode of a long-record scan and whether it was detected
    # (ec57.reference_episodes): which episodes the EC57 episode Se misses.
    reference_episodes: pd.DataFrame | None = None
    # Each long record as the scan saw it (every window's probability, its reference rhythm):
    # what episode_operating_curve re-reads at other episode settings.
    timelines: dict[str, Timeline] = field(default_factory=dict)
    # The bundle's window and step (s) and episode settings that made ec57_scores.
    episode_setup: tuple[float, float, episodes.EpisodeParams] | None = None
    # The training database's windows the threshold was chosen on, scored out of fold
    # (group, y, prob, fold), where a cross-validation chose it.
    threshold_windows: pd.DataFrame | None = None

    @property
    def prefix(self) -> str:
        return f"{self.train}_to_{self.test}.{self.model}"


def records_present(dataset: str, data_dir: str | os.PathLike | None = None) -> list[str]:
    """Records of ``dataset`` whose signals are on disk (AFDB here: none — only its RECORDS
    and checksums are shared); empty when the dataset cannot be had at all."""
    from ecgutils.errors import ECGDataError

    try:
        root = datasets.ensure_local(dataset, data_dir)
        names = datasets.record_names(dataset, data_dir)
    except ECGDataError:
        return []
    ds = datasets.get(dataset)
    return [name for name in names if (root / f"{name}.hea").is_file()
            and name not in ds.no_signal_records]


def scan_long_records(shipped: bundle.Bundle, dataset: str = "mitdb",
                      names: list[str] | None = None, model: str = "detector",
                      train: str = "cinc2017", data_dir: str | os.PathLike | None = None,
                      n_boot: int = 1000, seed: int = 0) -> ExternalResult:
    """Scan ``dataset``'s records with a bundle trained elsewhere; window metrics and EC57."""
    ds = datasets.get(dataset)
    root = datasets.ensure_local(dataset, data_dir)
    names = list(names if names is not None else ds.records)
    s = shipped.settings
    rows, per_record, scores, found, timelines = [], [], [], [], {}
    for name in progress(names, f"{train} -> {dataset}"):
        rec = records.read_path(root / name, annotator=ds.annotator)
        result = detect.analyse(rec, shipped)
        grid, y = scored_windows(rec, result.starts_s, s.window_s)
        centre = result.starts_s[grid] + s.window_s / 2
        rows.append(pd.DataFrame({"record": name, "group": ds.patient_id(name), "y": y[grid],
                                  "prob": result.prob[grid], "start_s": result.starts_s[grid],
                                  "rhythm": rhythm.labels_at(rec.rhythm, centre, "?")}))
        reference, _ = ec57.read_rhythm(name, ds.annotator, root)
        timelines[name] = Timeline(result.starts_s, result.prob, rec.duration_s, reference)
        scores.append(ec57.compare(reference, result.episodes, rec.duration_s, record=name))
        found.append(ec57.reference_episodes(reference, result.episodes, rec.duration_s,
                                             record=name))
        per_record.append({"record": name, "record_prob": result.record_prob,
                           "af_burden": result.af_burden, "n_episodes": len(result.episodes),
                           "episodes": [(e.start_s, e.end_s) for e in result.episodes],
                           "realtime_factor": result.realtime_factor})
    table = pd.concat(rows, ignore_index=True)
    out = ExternalResult(train, dataset, model, table, s.threshold, ec57_scores=scores,
                         per_record=pd.DataFrame(per_record),
                         reference_episodes=pd.concat(found, ignore_index=True),
                         timelines=timelines,
                         episode_setup=(s.window_s, s.step_s, s.episode_params()))
    out.evaluation = metrics.evaluate(table["y"], table["prob"], table["group"],
                                      threshold=s.threshold, n_boot=n_boot, seed=seed)
    return out


def scored_windows(rec: records.Record, starts_s: np.ndarray, window_s: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Which scanned windows of a long record are scored, and their labels: starts on the
    20-s grid (03b's test windows) whose label is AF or non-AF (flutter windows left out).

    Returns
    -------
    (mask, y) : boolean mask over ``starts_s`` and every window's label (1, 0 or -1)
    """
    labels = windows.label_windows(rec.rhythm, starts_s, window_s, rec.duration_s,
                                   windows.LabelPolicy())
    y = labels["y"].to_numpy()
    return np.isclose(np.mod(starts_s, 20.0), 0.0) & (y >= 0), y


def episodes_by_length(results: dict[str, ExternalResult]) -> pd.DataFrame:
    """EC57 episode sensitivity by reference episode length (:func:`ecgutils.ec57.
    detected_by_duration`) for every long-record scan in ``results``, one block per
    direction and model (empty when none was scanned)."""
    tables = [ec57.detected_by_duration(result.reference_episodes).assign(model=name)
              for name, result in results.items() if result.reference_episodes is not None]
    if not tables:
        return pd.DataFrame()
    table = pd.concat(tables, ignore_index=True)
    return table[["model", *[column for column in table if column != "model"]]]


# The post-hoc grid of episode_operating_curve: on-thresholds and minimum episode lengths (s).
POSTHOC_THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))
POSTHOC_MIN_EPISODE_S = (0.0, 20.0, 30.0, 60.0)


def episode_operating_curve(result: ExternalResult,
                            thresholds: Sequence[float] = POSTHOC_THRESHOLDS,
                            minima_s: Sequence[float] = POSTHOC_MIN_EPISODE_S) -> pd.DataFrame:
    """Post hoc, on the test database: the gross EC57 rates of a long-record scan's window
    probabilities turned into episodes at every on-threshold × minimum episode length of the
    grid (hysteresis and merging as the bundle's). A diagnostic of what these probabilities
    *could* give at other operating points — how much episode +P a higher episode Se costs —
    never a choice: the bundle's own settings (its ``ec57_scores``) stay the reported result.
    Minimum lengths up to one step are the same (a run of slots is at least a step long).

    Returns
    -------
    DataFrame
        One row per grid point: ``model`` (the result's prefix), ``on_threshold``,
        ``min_episode_s``, ``episode_se``, ``episode_ppv``, ``duration_se``, ``duration_ppv``.
    """
    if not result.timelines or result.episode_setup is None:
        raise ValueError(f"{result.prefix}: no long-record timelines (scan_long_records "
                         f"makes them)")
    window_s, step_s, params = result.episode_setup
    rows = []
    for minimum in minima_s:
        for on in thresholds:
            varied = dataclasses.replace(params, on_threshold=float(on),
                                         min_episode_s=float(minimum))
            scores = [ec57.compare(t.reference, episodes.detect(
                t.starts_s, t.prob, on, window_s, step_s, t.duration_s, varied),
                t.duration_s, record=name) for name, t in sorted(result.timelines.items())]
            rows.append({"model": result.prefix, "on_threshold": float(on),
                         "min_episode_s": float(minimum), **ec57.gross(scores)})
    return pd.DataFrame(rows)


def best_ppv_at_se(curve: pd.DataFrame, se: float = 0.90) -> pd.DataFrame:
    """Per model of an :func:`episode_operating_curve`, the grid point with the highest gross
    episode +P among those whose gross episode Se is at least ``se`` (``reached`` True); where
    no point reaches it, the one with the highest episode Se, then +P (``reached`` False).
    Post hoc on the test database, like the curve: the best any setting could do, not a
    setting to use."""
    rows = []
    for model, part in curve.groupby("model", sort=False):
        above = part[part["episode_se"] >= se]
        reached = len(above) > 0
        pool = above if reached else part
        order = ["episode_ppv", "episode_se"] if reached else ["episode_se", "episode_ppv"]
        best = pool.sort_values(order, ascending=False, kind="stable").iloc[0]
        rows.append({**best.to_dict(), "model": model, "se_goal": se, "reached": reached})
    return pd.DataFrame(rows)


def false_af_by_rhythm(result: ExternalResult) -> pd.DataFrame:
    """Windows called AF that are not AF, by the reference rhythm at the window's centre:
    which rhythms the model mistakes for AF on the external database."""
    table = result.scores
    called = table["prob"] >= result.threshold
    non_af = table[table["y"] == 0]
    wrong = table[called & (table["y"] == 0)]
    out = pd.DataFrame({"windows": non_af.groupby("rhythm").size(),
                        "called AF": wrong.groupby("rhythm").size()}).fillna(0).astype(int)
    out["share"] = (out["called AF"] / out["windows"]).round(3)
    out["records"] = wrong.groupby("rhythm")["record"].apply(
        lambda r: ", ".join(sorted(set(r))[:4]))
    return out.sort_values("called AF", ascending=False).fillna("")


def mitdb_to_cinc(mitdb: cache.Entry, cinc: cache.Entry, cfg: train.TrainConfig,
                  hyper: dict[str, Any] | None = None, n_boot: int = 1000,
                  n_splits: int = 5) -> ExternalResult:
    """The detector trained on mitdb (10-s grid, ambiguous and flutter windows left out) and
    scored on the centred window of every CinC 2017 record.

    A patient-grouped ``n_splits``-fold cross-validation over every mitdb patient: each fold's
    model trains on its training patients with early stopping on its validation patients and
    scores its test patients. The threshold is the F1-best one on these out-of-fold windows of
    *all* mitdb patients, so every AF patient counts (a single validation split holds one or
    two of mitdb's seven, and the threshold it gave moved from 0.09 to 0.93 with TensorFlow's
    thread count). CinC is scored by the fold models' mean, as the release's CNN kind is.
    """
    manifest = mitdb.tables["manifest"]
    windows_all = detector_study.window_set(mitdb)
    _, train_grid = detector_study.mitdb_grids(manifest)
    rows = np.flatnonzero(train_grid)
    patients = windows_all.groups
    folds = splits.grouped_folds(windows_all.af[rows], patients[rows], n_splits=n_splits,
                                 seed=cfg.seed)
    dcfg = train.DetectorConfig(crops=False, n_classes=1, aggregate=False)
    build = detector_study.detector_builder(windows_all, dcfg, hyper)
    test = detector_study.window_set(cinc, detector_study.centre_rows(cinc))
    assert_no_shared_records(patients[rows], test.groups)
    oof = np.full(rows.size, np.nan)
    fold_of = np.full(rows.size, -1)
    prob = np.zeros(len(test.af))
    for fold in progress(folds, "mitdb -> cinc2017 folds"):
        splits.assert_disjoint(train=patients[rows[fold.train]],
                               validation=patients[rows[fold.validation]],
                               test=patients[rows[fold.test]])
        result = train.fit_detector(build, windows_all.take(rows[fold.train]),
                                    windows_all.take(rows[fold.validation]),
                                    dataclasses.replace(cfg, seed=cfg.seed + fold.number), dcfg)
        oof[fold.test] = train.predict_af(result.model, windows_all.take(rows[fold.test]))
        fold_of[fold.test] = fold.number
        prob += train.predict_af(result.model, test) / len(folds)
    if np.isnan(oof).any():
        raise ValueError("mitdb -> cinc2017: the folds left windows without an out-of-fold "
                         "probability")
    threshold = metrics.best_threshold(windows_all.af[rows], oof)
    scores = pd.DataFrame({"group": test.groups, "y": test.af, "prob": prob})
    out = ExternalResult("mitdb", "cinc2017", "detector", scores, threshold,
                         threshold_windows=pd.DataFrame({
                             "group": patients[rows], "y": windows_all.af[rows], "prob": oof,
                             "fold": fold_of}))
    out.evaluation = metrics.evaluate(scores["y"], scores["prob"], scores["group"],
                                      threshold=threshold, n_boot=n_boot, seed=cfg.seed)
    return out


def mitdb_to_cinc_features(windows_table: pd.DataFrame, cinc_table: pd.DataFrame,
                           seed: int = config.DEFAULT_SEED, n_boot: int = 1000,
                           boosting: dict[str, Any] | None = None) -> ExternalResult:
    """The feature detector (``features_gb``, notebook 03c's recipe) trained on every mitdb
    patient and scored on every CinC 2017 record: the mirror of 03c's CinC -> mitdb row.

    ``windows_table``: :func:`ecgutils.feature_model.window_table` of mitdb's 5-s detector
    entry, trained on its 10-s grid (ambiguous and flutter windows left out, as in 03c's
    mitdb folds), four classes (mitdb's AF / other rhythm / sinus); the threshold is the
    F1-best one on inner patient-grouped out-of-fold mitdb windows. ``cinc_table``:
    :func:`ecgutils.feature_model.cinc_table` (each record's features over the whole record,
    as 03c scores CinC), scored per record. Nothing is tuned on CinC. ``boosting``: the
    gradient-boosting settings (default :data:`ecgutils.feature_model.BOOSTING`)."""
    _, train_grid = detector_study.mitdb_grids(windows_table)
    rows = np.flatnonzero(train_grid)
    X = windows_table[list(features.FEATURES)].to_numpy(dtype=float)[rows]
    classes = feature_model.classes_of(windows_table)[rows]
    patients = windows_table["patient_id"].astype(str).to_numpy()[rows]
    names = cinc_table.index.to_numpy().astype(str)
    assert_no_shared_records(patients, np.char.add("cinc2017:", names))
    threshold = feature_model.inner_threshold(X, classes, patients, seed=seed,
                                              boosting=boosting)
    model = feature_model.fit(X, classes, seed, boosting)
    af = (feature_model.classes_of(cinc_table) == features.AF_CLASS).astype(int)
    prob = features.af_prob(model, cinc_table[list(features.FEATURES)].to_numpy(dtype=float))
    scores = pd.DataFrame({"group": names, "y": af, "prob": prob})
    out = ExternalResult("mitdb", "cinc2017", feature_model.MODEL, scores, threshold)
    out.evaluation = metrics.evaluate(scores["y"], scores["prob"], scores["group"],
                                      threshold=threshold, n_boot=n_boot, seed=seed)
    return out


def assert_no_shared_records(train_groups: np.ndarray, test_groups: np.ndarray) -> None:
    """Training and test sides share no patient or record (ids carry their database)."""
    shared = set(map(str, np.unique(train_groups))) & set(map(str, np.unique(test_groups)))
    if shared:
        raise splits.LeakageError(f"train and test share {len(shared)} record(s), e.g. "
                                  f"{sorted(shared)[:5]}")


def keys(result: ExternalResult) -> dict[str, Any]:
    """``<train>_to_<test>.<model>.external.<metric>`` (+ ``_ci95``) and, for long records,
    ``<train>_to_<test>.<model>.ec57.<rate>``."""
    from ecgutils import reporting

    ev = result.evaluation
    out = reporting.evaluation_keys(f"{result.prefix}.external", ev, HEADLINE)
    out[f"{result.prefix}.external.threshold"] = result.threshold
    if result.ec57_scores:
        gross = ec57.gross(result.ec57_scores)
        for rate in ec57.RATES:
            out[f"{result.prefix}.ec57.{rate}"] = gross[rate]
    return reporting.defined(out)


# Where each scanned model's in-database (grouped) numbers come from: the shipped bundle is the
# feature detector of notebook 03c trained on CinC; the CNN detector bundle is notebook 03b's.
IN_DATABASE = {"release": ("03c_features", "features_gb"),
               "features_gb": ("03c_features", "features_gb"),
               "detector": ("03b_detector", "detector")}


def in_database(model: str, test: str, folder: str | Path | None = None) -> dict[str, Any]:
    """The grouped F1 and AUROC of ``model``'s recipe within database ``test`` (with its
    ``source``: the notebook, or the earlier summary a ``--base-run`` carried), or {} when
    neither the notebook's metrics of this run nor that summary holds them."""
    notebook, name = IN_DATABASE.get(model, (None, None))
    if notebook is None:
        return {}
    keys = {m: f"{test}.{name}.grouped.{m}" for m in ("f1", "auroc")}
    found = reporting.load_metrics(notebook, folder)
    source = notebook
    if not all(k in found for k in keys.values()):
        base = Path(folder or config.reports_dir()) / f"{runs.BASE_SUMMARY}.json"
        found = json.loads(base.read_text()).get("metrics", {}) if base.is_file() else {}
        source = f"{notebook} (earlier run)"
    if not all(k in found for k in keys.values()):
        return {}
    return {m: found[k] for m, k in keys.items()} | {"source": f"{source}, {name}"}


def table_row(result: ExternalResult, within: dict[str, Any] | None = None) -> dict[str, Any]:
    """One row of 07's table: the external numbers beside the in-database grouped F1/AUROC."""
    ev = result.evaluation
    row = {"train": result.train, "test": result.test, "model": result.model,
           "scored": "windows" if result.ec57_scores else "records",
           "patients": ev["n_patients"], "AF": ev["n_windows_af"],
           **metrics.summary_row(ev, HEADLINE), "threshold": round(result.threshold, 3)}
    if result.ec57_scores:
        gross = ec57.gross(result.ec57_scores)
        row["EC57 Se/+P/DSe/D+P"] = " / ".join(f"{100 * gross[r]:.0f}" for r in ec57.RATES)
    if within:
        row["in-database F1"] = within.get("f1")
        row["in-database AUROC"] = within.get("auroc")
        row["in-database from"] = within.get("source", "")
    return row
