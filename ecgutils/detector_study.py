"""The detector's evaluation protocols (notebook 03b): whole records, four classes, rhythm input.

**How choices are kept off the reported test folds.** CinC 2017 records are split once,
stratified by class, into *development* records (``dev_fraction``, 20 %) and the rest. Every
design choice (the levers of ``benchmarks/levers.py``: sampling rate, whole records, four
classes, RR input, ensembling) was made by training on the rest and scoring the development
records; the development records are never in a reported test fold. The reported CinC numbers
are a record-grouped k-fold over the other records (development records join every fold's
training part). Within a fold, early stopping and the decision threshold use validation
records carved from that fold's training part.

* :func:`cinc_study` — CinC 2017, AF vs rest at the *record* level: every 20-s window of a
  record (5-s step) is scored and the record's AF probability is the mean over its windows.
  The fold models, averaged, are the ensemble the rest of the project uses.
* :func:`mitdb_study` — mitdb, patient-grouped: fold *k* starts from CinC fold model *k* and is
  fine-tuned on the fold's mitdb training patients (windows on a 10-s grid, ambiguous windows
  left out) plus a fixed sample of CinC windows; early stopping and the threshold use the fold's
  mitdb validation patients plus a CinC validation sample. Scored on the 20-s grid windows of the
  held-out patients (the windows the plain CNNs are scored on).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ecgutils import (
    cache,
    cluster,
    config,
    metrics,
    models,
    noise_augment,
    reporting,
    splits,
    streams,
    train,
)
from ecgutils.windows import AFL_LABEL, CLASS_INDEX

MODEL = "detector"
HEADLINE = ("accuracy", "se", "sp", "ppv", "f1", "auroc")


@dataclass
class DetectorStudy:
    """Out-of-fold results of one detector protocol.

    ``scores`` has one row per scored unit (record for CinC, window for mitdb): ``group``
    (record or patient), ``y``, ``prob`` and the fold's ``threshold`` and ``fold``.
    """

    dataset: str
    split: str
    scores: pd.DataFrame
    folds: list[dict[str, Any]]
    model_paths: list[str] = field(default_factory=list)
    windows: pd.DataFrame | None = None
    along: pd.DataFrame | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    model: str = MODEL

    @property
    def name(self) -> str:
        return f"{self.dataset}.{self.model}.{self.split}"


def window_set(entry: cache.Entry, rows: np.ndarray | None = None) -> train.WindowSet:
    """The entry's windows (all, or ``rows``) as a :class:`ecgutils.train.WindowSet`."""
    manifest = entry.tables["manifest"]
    rows = np.arange(len(manifest)) if rows is None else np.asarray(rows)
    classes = manifest["rhythm_class"].map(CLASS_INDEX).to_numpy()
    if np.isnan(classes.astype(float)).any():
        raise ValueError("the entry holds windows without a rhythm class; rebuild it")
    return train.WindowSet(streams.Rows(entry.arrays["X"]).take(rows),
                           np.asarray(entry.arrays["R"])[rows],
                           classes[rows].astype(np.int64),
                           manifest["patient_id"].astype(str).to_numpy()[rows])


def development_split(entry: cache.Entry, fraction: float = 0.2,
                      seed: int = config.DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Development records (where choices are made) and the others, stratified by class.

    Returns
    -------
    (development, rest) : arrays of record names, sorted
    """
    return development_records(entry.tables["manifest"].groupby("record")["rhythm_class"].first(),
                               fraction, seed)


def development_records(per_record: pd.Series, fraction: float = 0.2,
                        seed: int = config.DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """:func:`development_split` of records given as a Series record name → class."""
    per_record = per_record.sort_index()
    if fraction == 0:  # no development records: every record in the cross-validation
        return np.array([], dtype=per_record.index.dtype), np.sort(per_record.index.to_numpy())
    rest, development = train_test_split(
        per_record.index.to_numpy(), test_size=fraction, random_state=seed,
        stratify=per_record.to_numpy())
    return np.sort(development), np.sort(rest)


def cinc_study(
    entry: cache.Entry,
    cfg: train.TrainConfig,
    dcfg: train.DetectorConfig | None = None,
    hyper: dict[str, Any] | None = None,
    n_splits: int = 5,
    dev_fraction: float = 0.2,
    save_dir: str | Path | None = None,
    name: str = "cinc2017_detector",
    centre_only: bool = False,
    dev_seed: int = config.DEFAULT_SEED,
    noisy: noise_augment.NoisyWindows | None = None,
) -> DetectorStudy:
    """Record-grouped k-fold CV of the detector on CinC 2017, scored per record.

    Parameters
    ----------
    entry : cache.Entry
        CinC windows from :func:`ecgutils.preprocess.detector_params` (every window of every
        record).
    cfg, dcfg : training settings
    hyper : dict, optional
        Keyword arguments of :func:`ecgutils.models.detector`.
    n_splits : int
        Folds over the non-development records.
    dev_fraction : float
        Share of records kept for development (never tested; they join every training part).
    save_dir : path, optional
        Fold models are saved as ``<save_dir>/<name>_fold<k>.keras``.
    centre_only : bool
        Train and score one window per record (:func:`centre_rows`) instead of every window;
        give a ``dcfg`` without crops and aggregation with it.
    dev_seed : int
        Seed of the development split — fixed whatever ``cfg.seed`` is, so that a repeat with
        another training seed never tests a development record.
    noisy : noise_augment.NoisyWindows, optional
        Noise augmentation (:func:`ecgutils.noise_augment.training_copies`): a training
        window with a noisy copy is trained on as that copy; validation and test windows stay
        clean. None (the default): no augmentation, the study as it always was.
    """
    dcfg = dcfg or train.DetectorConfig()
    windows = window_set(entry)
    manifest = entry.tables["manifest"]
    records = manifest["record"].astype(str).to_numpy()
    development, _ = development_split(entry, dev_fraction, dev_seed)
    usable = np.zeros(len(records), dtype=bool)
    usable[centre_rows(entry) if centre_only else np.arange(len(records))] = True
    is_dev = np.isin(records, development) & usable
    rest = np.flatnonzero(~np.isin(records, development) & usable)
    folds = splits.grouped_folds(windows.af[rest], records[rest], n_splits=n_splits,
                                 seed=cfg.seed)
    build = detector_builder(windows, dcfg, hyper)
    jobs, tested = [], []
    for fold in folds:  # every fold checked before any is fitted
        train_rows = np.concatenate([rest[fold.train], np.flatnonzero(is_dev)])
        val_rows, test_rows = rest[fold.validation], rest[fold.test]
        tested.append(test_rows)
        partition = splits.assert_disjoint(train=records[train_rows],
                                           validation=records[val_rows],
                                           test=records[test_rows])
        save_path = (None if save_dir is None
                     else str(Path(save_dir) / f"{name}_fold{fold.number}.keras"))
        jobs.append((fold.number, partition, windows, records, train_rows, val_rows, test_rows,
                     build, replace(cfg, seed=cfg.seed + fold.number), dcfg, noisy, save_path))
    # Each fold is a job: here in order, or on a Dask cluster (ecgutils.cluster).
    done = cluster.run_jobs(_cinc_fold, jobs, f"{name} folds")
    rows = [scored for scored, _, _, _ in done]
    fold_rows = [fold_row for _, fold_row, _, _ in done]
    paths = [path for _, _, path, _ in done if path is not None]
    window_prob = np.full(len(windows), np.nan)
    for test_rows, (_, _, _, prob) in zip(tested, done, strict=True):
        window_prob[test_rows] = prob
    table = manifest[["record", "patient_id", "start_s", "rhythm_class"]].copy()
    table["prob"] = window_prob
    return DetectorStudy("cinc2017", "grouped", pd.concat(rows, ignore_index=True), fold_rows,
                         paths, table)


def _cinc_fold(number: int, partition: str, windows: train.WindowSet, records: np.ndarray,
               train_rows: np.ndarray, val_rows: np.ndarray, test_rows: np.ndarray, build,
               cfg: train.TrainConfig, dcfg: train.DetectorConfig,
               noisy: noise_augment.NoisyWindows | None, save_path: str | None):
    """One fold of :func:`cinc_study` (a job, :func:`ecgutils.cluster.run_jobs`): the record
    scores, the fold's row, the saved model's path and the test windows' probabilities."""
    result = train.fit_detector(build, noise_augment.with_noisy(windows, train_rows, noisy),
                                windows.take(val_rows), cfg, dcfg)
    prob = train.predict_af(result.model, windows.take(test_rows))
    scored = metrics.record_level(windows.af[test_rows], prob, records[test_rows])
    scored["threshold"] = result.threshold
    scored["fold"] = number
    fold_row = _fold_row(number, partition, result, scored)
    if noisy is not None:
        fold_row["noisy_train_windows"] = noise_augment.n_noisy(train_rows, noisy)
    path = None if save_path is None else str(train.save_model(result.model, save_path))
    return scored, fold_row, path, prob


def mitdb_study(
    entry: cache.Entry,
    cinc_entry: cache.Entry,
    cinc_model_paths: list[str],
    cfg: train.TrainConfig,
    hyper: dict[str, Any] | None = None,
    n_splits: int = 5,
    cinc_sample: int = 3000,
    save_dir: str | Path | None = None,
    name: str = "mitdb_detector_grouped",
    n_classes: int = 4,
) -> DetectorStudy:
    """Patient-grouped k-fold CV of the detector on mitdb, fine-tuned from the CinC fold models.

    Parameters
    ----------
    entry : cache.Entry
        mitdb windows from :func:`ecgutils.preprocess.detector_params` (5-s step).
    cinc_entry : cache.Entry
        CinC windows; ``cinc_sample`` of them (one per record, fixed by the seed) join every
        fold's training set and as many others its validation set.
    cinc_model_paths : list of str
        CinC fold models; fold *k* starts from model *k mod len*.
    cfg : train.TrainConfig
        Fine-tuning settings (few epochs, a low learning rate).
    n_classes : int
        The CinC models' output (4 or 1); the fine-tuned models keep it.
    """
    manifest = entry.tables["manifest"]
    windows = window_set(entry)
    test_grid, train_grid = mitdb_grids(manifest)
    scored_rows = np.flatnonzero(test_grid)
    patients = windows.groups
    folds = splits.grouped_folds(windows.af[scored_rows], patients[scored_rows],
                                 n_splits=n_splits, seed=cfg.seed)
    cinc_train, cinc_val = _cinc_samples(cinc_entry, cinc_sample, cfg.seed)
    dcfg = train.DetectorConfig(crops=False, n_classes=n_classes, aggregate=False)
    build = detector_builder(windows, dcfg, hyper)
    jobs = []
    for fold in folds:  # every fold checked before any is fitted
        train_patients = np.unique(patients[scored_rows[fold.train]])
        val_patients = np.unique(patients[scored_rows[fold.validation]])
        test_rows = scored_rows[fold.test]
        train_rows = np.flatnonzero(train_grid & np.isin(patients, train_patients))
        val_rows = np.flatnonzero(test_grid & np.isin(patients, val_patients))
        partition = splits.assert_disjoint(train=patients[train_rows],
                                           validation=patients[val_rows],
                                           test=patients[test_rows])
        save_path = (None if save_dir is None
                     else str(Path(save_dir) / f"{name}_fold{fold.number}.keras"))
        jobs.append((fold.number, partition, windows, train_rows, val_rows, test_rows,
                     val_patients, cinc_train, cinc_val,
                     cinc_model_paths[fold.number % len(cinc_model_paths)], build,
                     replace(cfg, seed=cfg.seed + fold.number), dcfg, save_path))
    # Each fold is a job: here in order, or on a Dask cluster (ecgutils.cluster).
    done = cluster.run_jobs(_mitdb_fold, jobs, f"{name} folds")
    rows = [scored for scored, _, _, _ in done]
    along_rows = [part for _, along, _, _ in done for part in along]
    fold_rows = [fold_row for _, _, fold_row, _ in done]
    paths = [path for _, _, _, path in done if path is not None]
    scores = pd.concat(rows, ignore_index=True)
    table = manifest.loc[scores["row"], ["record", "patient_id", "start_s", "af_fraction",
                                         "label", "ambiguous"]].reset_index(drop=True)
    table[["prob", "threshold"]] = scores[["prob", "threshold"]].to_numpy()
    table["fold"] = scores["fold"].to_numpy().astype(int)
    table["y"] = scores["y"].to_numpy()
    along = pd.concat(along_rows, ignore_index=True)
    along_table = manifest.loc[along["row"], ["record", "patient_id", "start_s", "af_fraction",
                                              "label", "y"]].reset_index(drop=True)
    along_table[["prob", "threshold", "fold"]] = along[["prob", "threshold", "fold"]].to_numpy()
    along_table["fold"] = along_table["fold"].astype(int)
    along_table["role"] = along["role"].to_numpy()
    return DetectorStudy("mitdb", "grouped", scores.drop(columns="row"), fold_rows, paths, table,
                         along=along_table)


def mitdb_grids(manifest: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The mitdb rows every protocol uses, as masks over a 5-s-step window manifest: scored
    windows (20-s grid, the windows the plain CNNs are scored on) and training windows (10-s
    grid, ambiguous windows left out); flutter windows are in neither."""
    start = manifest["start_s"].to_numpy()
    usable = (manifest["label"] != AFL_LABEL).to_numpy()
    test_grid = usable & np.isclose(np.mod(start, 20.0), 0.0)
    train_grid = (usable & np.isclose(np.mod(start, 10.0), 0.0)
                  & ~manifest["ambiguous"].to_numpy(dtype=bool))
    return test_grid, train_grid


def _mitdb_fold(number: int, partition: str, windows: train.WindowSet, train_rows: np.ndarray,
                val_rows: np.ndarray, test_rows: np.ndarray, val_patients: np.ndarray,
                cinc_train: train.WindowSet, cinc_val: train.WindowSet, cinc_model_path: str,
                build, cfg: train.TrainConfig, dcfg: train.DetectorConfig,
                save_path: str | None):
    """One fold of :func:`mitdb_study` (a job, :func:`ecgutils.cluster.run_jobs`): the test
    windows' scores, the windows along the test and validation patients (for episodes), the
    fold's row and the saved model's path."""
    patients = windows.groups
    initial = keras.models.load_model(cinc_model_path, compile=False).get_weights()
    result = train.fit_detector(
        build, train.WindowSet.concat([windows.take(train_rows), cinc_train]),
        train.WindowSet.concat([windows.take(val_rows), cinc_val]), cfg, dcfg,
        initial_weights=initial)
    prob = train.predict_af(result.model, windows.take(test_rows))
    scored = pd.DataFrame({"group": patients[test_rows], "y": windows.af[test_rows],
                           "prob": prob, "threshold": result.threshold,
                           "fold": number, "row": test_rows})
    # Every window (5-s grid) of the held-out and the validation patients, for episodes:
    # the test patients' are out-of-fold, the validation patients' choose episode settings.
    along = []
    for role, members in (("test", np.unique(patients[test_rows])),
                          ("validation", val_patients)):
        rows = np.flatnonzero(np.isin(patients, members))
        along.append(pd.DataFrame({
            "row": rows, "prob": train.predict_af(result.model, windows.take(rows)),
            "threshold": result.threshold, "fold": number, "role": role}))
    path = None if save_path is None else str(train.save_model(result.model, save_path))
    return scored, along, _fold_row(number, partition, result, scored), path


def evaluate(study: DetectorStudy, n_boot: int = 1000,
             seed: int = config.DEFAULT_SEED) -> dict[str, Any]:
    """Pooled out-of-fold metrics at each unit's fold threshold, bootstrap CIs over groups."""
    s = study.scores
    study.evaluation = metrics.evaluate(s["y"].to_numpy(), s["prob"].to_numpy(),
                                        s["group"].to_numpy(),
                                        threshold=s["threshold"].to_numpy(), n_boot=n_boot,
                                        seed=seed)
    return study.evaluation


def fold_table(study: DetectorStudy) -> pd.DataFrame:
    """One row per fold: disjointness, epochs, threshold, validation and test metrics."""
    return pd.DataFrame(study.folds)


def export_keys(study: DetectorStudy) -> dict[str, Any]:
    """``<dataset>.detector.<split>.<metric>`` (+ ``_ci95``) and counts for summary.json."""
    return reporting.evaluation_keys(study.name, study.evaluation, HEADLINE)


def summary_row(study: DetectorStudy) -> dict[str, Any]:
    ev = study.evaluation
    unit = "records" if study.dataset == "cinc2017" else "windows"
    return {"dataset": study.dataset, "model": study.model, "split": study.split,
            "scored": unit, "patients": ev["n_patients"], "AF": ev["n_windows_af"],
            "non-AF": ev["n_windows_non_af"], **metrics.summary_row(ev, HEADLINE)}


def seed_spread(f1_by_seed: dict[int, float]) -> dict[str, float]:
    """Mean and sample SD of F1 over seeds (needs at least two)."""
    values = np.array(list(f1_by_seed.values()), dtype=float)
    if values.size < 2:
        raise ValueError("a seed spread needs at least two seeds")
    return {"f1_seed_mean": float(values.mean()), "f1_seed_sd": float(values.std(ddof=1)),
            "n_seeds": int(values.size)}


def detector_builder(windows: train.WindowSet, dcfg: train.DetectorConfig,
                     hyper: dict[str, Any] | None):
    """A function returning a fresh :func:`ecgutils.models.detector` sized for ``windows``
    (waveform length, RR features) with ``dcfg``'s outputs and ``hyper``."""
    settings = {"input_samples": int(windows.X.shape[1]), "n_rr_features": int(windows.R.shape[1]),
                "n_classes": dcfg.n_classes, **(hyper or {})}
    return lambda: models.detector(**settings)


def _cinc_samples(entry: cache.Entry, n: int, seed: int
                  ) -> tuple[train.WindowSet, train.WindowSet]:
    """Two disjoint fixed samples of CinC records, one random window of each."""
    records = entry.tables["manifest"]["record"].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(records))
    # The first window of each record in a random order: one random window per record.
    _, first = np.unique(records[order], return_index=True)
    one_each = rng.permutation(order[first])
    n = min(n, one_each.size // 2)
    return window_set(entry, np.sort(one_each[:n])), window_set(entry, np.sort(one_each[n:2 * n]))


def _fold_row(number: int, partition: str, result: train.FitResult,
              scored: pd.DataFrame) -> dict[str, Any]:
    test = metrics.binary_metrics(scored["y"].to_numpy(), scored["prob"].to_numpy(),
                                  result.threshold)
    return {"fold": number, "disjointness": partition, "epochs": result.epochs_run,
            "best_epoch": result.best_epoch, "threshold": round(result.threshold, 3),
            "validation_f1": result.validation.get("f1"), "test_units": len(scored),
            "test_af": int(scored["y"].sum()), "test_f1": test["f1"],
            "test_auroc": test["auroc"], "fit_s": round(result.fit_s, 1),
            "train_windows_per_s": round(result.train_windows_per_s)}


def centre_rows(entry: cache.Entry) -> np.ndarray:
    """Per record, the window at the middle of its windows (on the 5-s grid: the nearest to a
    centred window) — the one-window-per-record recipe on a whole-record entry."""
    manifest = entry.tables["manifest"].reset_index(drop=True)
    grouped = manifest.groupby("record", sort=False).indices
    return np.sort(np.array([rows[(len(rows) - 1) // 2] for rows in grouped.values()]))


def development_fit(
    entry: cache.Entry,
    cfg: train.TrainConfig,
    dcfg: train.DetectorConfig,
    hyper: dict[str, Any] | None = None,
    centre_only: bool = False,
    dev_fraction: float = 0.2,
    validation_fraction: float = 0.1,
    split_seed: int = config.DEFAULT_SEED,
) -> dict[str, Any]:
    """Fit one configuration on the non-development CinC records and score the development
    records (the lever study; no reported test fold is involved).

    Validation records for early stopping and the threshold are carved (stratified) from the
    non-development records. ``centre_only`` trains and scores one window per record
    (:func:`centre_rows`); otherwise every window, the record scored by its mean.

    Returns
    -------
    dict
        ``scores`` (record-level table ``group, y, prob`` of the development records),
        ``validation_scores`` (the same of the validation records), ``threshold``, ``epochs``,
        ``fit_s``, ``train_windows_per_s``, ``params``.
    """
    manifest = entry.tables["manifest"]
    records = manifest["record"].astype(str).to_numpy()
    development, rest = development_split(entry, dev_fraction, split_seed)
    per_record = manifest.groupby("record")["rhythm_class"].first().loc[rest]
    fit_records, val_records = train_test_split(
        per_record.index.to_numpy(), test_size=validation_fraction, random_state=split_seed,
        stratify=per_record.to_numpy())
    rows = centre_rows(entry) if centre_only else np.arange(len(manifest))
    part = {name: rows[np.isin(records[rows], chosen)] for name, chosen in
            (("fit", fit_records), ("validation", val_records), ("development", development))}
    splits.assert_disjoint(train=records[part["fit"]], validation=records[part["validation"]],
                           test=records[part["development"]])
    windows = window_set(entry)
    build = detector_builder(windows, dcfg, hyper)
    result = train.fit_detector(build, windows.take(part["fit"]),
                                windows.take(part["validation"]), cfg, dcfg)
    prob = train.predict_af(result.model, windows.take(part["development"]))
    scores = metrics.record_level(windows.af[part["development"]], prob,
                                  records[part["development"]])
    validation = metrics.record_level(windows.af[part["validation"]], result.validation_prob,
                                      records[part["validation"]])
    return {"scores": scores, "validation_scores": validation,
            "threshold": result.threshold, "epochs": result.epochs_run,
            "best_epoch": result.best_epoch, "fit_s": result.fit_s,
            "train_windows_per_s": result.train_windows_per_s,
            "params": int(result.model.count_params()), "model": result.model}


def save_predictions(study: DetectorStudy, folder: str | Path | None = None) -> list[Path]:
    """Out-of-fold predictions as CSV under ``reports/predictions/``: the scored units
    (``<dataset>_detector_<split>.csv``: windows for mitdb, per-window rows for CinC) and, for
    mitdb, every 5-s window of the test and validation patients (``…_along.csv``)."""
    from ecgutils.fileio import atomic_write_text

    folder = Path(folder) if folder is not None else config.reports_dir() / "predictions"
    stem = f"{study.dataset}_{MODEL}_{study.split}"
    written = [atomic_write_text(folder / f"{stem}.csv", study.windows.to_csv(index=False))]
    if study.along is not None:
        written.append(atomic_write_text(folder / f"{stem}_along.csv",
                                         study.along.to_csv(index=False)))
    return written


def load_predictions(dataset: str, along: bool = False) -> pd.DataFrame:
    """Notebook 03b's saved out-of-fold predictions (:func:`save_predictions`).

    Raises
    ------
    DataUnavailableError
        The file is missing (run notebook 03b with the same profile first).
    """
    from ecgutils.errors import DataUnavailableError

    path = (config.reports_dir() / "predictions"
            / f"{dataset}_{MODEL}_grouped{'_along' if along else ''}.csv")
    if not path.is_file():
        raise DataUnavailableError(f"{path} is missing: run notebook 03b_detector with the "
                                   "same profile first")
    table = pd.read_csv(path, dtype={"record": str, "patient_id": str})
    if not np.isfinite(table["prob"]).all():
        raise DataUnavailableError(f"{path} has windows without a prediction")
    return table


def data_table(entries: dict[str, cache.Entry]) -> pd.DataFrame:
    """What the detector is trained and scored on, per dataset: records, windows, classes,
    ambiguous windows (non-AF windows holding some AF or flutter: left out of training, scored
    as non-AF by the 50 % rule) and short records repeated to fill a window."""
    rows = []
    for name, entry in entries.items():
        manifest = entry.tables["manifest"]
        per_record = manifest.groupby("record")
        rows.append({
            "dataset": name, "records": manifest["record"].nunique(),
            "patients": manifest["patient_id"].nunique(), "windows": len(manifest),
            "windows per record (median)": float(per_record.size().median()),
            **{f"class {c}": int((manifest["rhythm_class"] == c).sum())
               for c in ("N", "A", "O", "~")},
            "AFL windows (left out)": int((manifest["label"] == AFL_LABEL).sum()),
            "ambiguous windows": int(manifest["ambiguous"].sum()),
            "short records wrapped": int(per_record["padded_s"].max().gt(0).sum()),
        })
    return pd.DataFrame(rows).set_index("dataset").T


def repeat_seeds(
    entry: cache.Entry, cfg: train.TrainConfig, seeds: list[int], **kwargs: Any,
) -> dict[int, float]:
    """Record-level CinC F1 of :func:`cinc_study` repeated with each seed (the folds change
    too: the seed drives the split as well as the initialisation and the crops)."""
    out = {}
    for seed in seeds:
        study = cinc_study(entry, replace(cfg, seed=seed), **kwargs)
        s = study.scores
        out[seed] = metrics.binary_metrics(s["y"].to_numpy(), s["prob"].to_numpy(),
                                           s["threshold"].to_numpy())["f1"]
    return out


def lever_seed_spread(path: str | Path) -> dict[str, float] | None:
    """The seed spread of the detector on the development records, as ``benchmarks/levers.py``
    wrote it (``f1_seed_mean, f1_seed_sd, n_seeds``); None when the file or the rows are
    missing."""
    import json

    path = Path(path)
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("seed_spread")
