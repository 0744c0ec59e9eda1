"""The study's evaluation protocols: patient-grouped cross-validation of one model kind.

* :func:`cinc_study` — CinC 2017, AF vs not AF, StratifiedGroupKFold by record (CinC publishes
  no patient ids, so a record is the group; one person may have several records), plus a
  final model fitted on all records (validation records carved out for early stopping).
* :func:`mitdb_study` — mitdb, AF vs not AF (AFL windows left out), StratifiedGroupKFold by
  patient (201 and 202 are one patient). With ``cinc_weights`` each fold's model starts from
  the final CinC model and is fitted on CinC windows (all, or a fixed sample) plus the fold's
  mitdb training patients; without, on the mitdb training patients alone (the contrast).

Every fold asserts that its train, validation and test patients are disjoint
(:func:`ecgutils.splits.assert_disjoint`); out-of-fold predictions are written to
``reports/predictions/`` for the later notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from ecgutils import cache, config, metrics, models, reporting, splits, streams, train
from ecgutils.errors import DataUnavailableError, UnknownNameError
from ecgutils.fileio import atomic_write
from ecgutils.progress import progress
from ecgutils.windows import TARGET

HEADLINE = ("accuracy", "se", "sp", "ppv", "f1", "auroc")


@dataclass
class Study:
    """One model kind evaluated one way on one dataset."""

    dataset: str
    model: str
    split: str
    manifest: pd.DataFrame
    y: np.ndarray
    groups: np.ndarray
    folds: list[splits.Fold]
    cv: train.CVResult
    final_model_path: str | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.dataset}.{self.model}.{self.split}"


def model_inputs(entry: cache.Entry, kind: str) -> streams.Rows:
    """What a model kind reads: raw windows for ``cnn1d``, spectrograms for ``cnn2d`` — a
    :class:`~ecgutils.streams.Rows` view of the entry's array, read batch by batch."""
    return streams.Rows(entry.arrays["X" if kind == "cnn1d" else "S"])


def model_builder(kind: str, entry: cache.Entry, **hyper: Any):
    """A zero-argument builder of a fresh model of ``kind`` sized for ``entry``'s arrays."""
    if kind == "cnn2d":
        hyper = {"input_shape": tuple(entry.arrays["S"].shape[1:]), **hyper}
    else:
        hyper = {"input_samples": int(entry.arrays["X"].shape[1]), **hyper}
    return lambda: models.build(kind, **hyper)


def cinc_study(
    kind: str,
    entry: cache.Entry,
    cfg: train.TrainConfig,
    n_splits: int = 5,
    model_hyper: dict[str, Any] | None = None,
    save_dir: str | Path | None = None,
    scheme: str = "grouped",
    split: str | None = None,
) -> Study:
    """Record-grouped k-fold CV on CinC 2017, then a final model on all records.

    ``scheme="random"`` shuffles windows instead (the leakage study's leaky split, named by
    ``split``, default ``random``): no final model is fitted and no fold model saved.
    """
    split = split or scheme
    manifest, y, groups = labelled(entry)
    X = model_inputs(entry, kind).take(manifest.index.to_numpy())
    build = model_builder(kind, entry, **(model_hyper or {}))
    folds = make_folds(scheme, y, groups, n_splits, cfg.seed)
    if scheme != "grouped":
        save_dir = None
    suffix = "" if split == "grouped" else f"_{split}"
    cv = train.cross_validate(X, y, groups, folds, build, cfg, save_dir=save_dir,
                              name=f"cinc2017_{kind}{suffix}")
    final_path = None
    if save_dir is not None:
        # Final model: every record, with the first fold's validation records held out for
        # early stopping and the threshold.
        first = folds[0]
        fit_part = np.concatenate([first.train, first.test])
        splits.assert_disjoint(train=groups[fit_part], validation=groups[first.validation])
        final = train.fit(build, X.take(fit_part), y[fit_part], X.take(first.validation),
                          y[first.validation], cfg)
        final_path = str(train.save_model(final.model,
                                          Path(save_dir) / f"cinc2017_{kind}_final.keras"))
    return Study("cinc2017", kind, split, manifest.reset_index(drop=True), y, groups, folds,
                 cv, final_path)


def mitdb_study(
    kind: str,
    entry: cache.Entry,
    cfg: train.TrainConfig,
    n_splits: int = 5,
    model_hyper: dict[str, Any] | None = None,
    cinc_entry: cache.Entry | None = None,
    cinc_model_path: str | None = None,
    save_dir: str | Path | None = None,
    scheme: str = "grouped",
    split: str | None = None,
    cinc_sample: int | None = None,
) -> Study:
    """Patient-grouped k-fold CV on mitdb, with or without CinC 2017 in every training set.

    Parameters
    ----------
    cinc_entry, cinc_model_path
        Both or neither. With them, every fold starts from the weights of the final CinC
        model and trains on CinC windows (see cinc_sample) plus the fold's mitdb training patients
        (split ``grouped``); without, a fresh model sees mitdb only (``grouped_mitdb_only``).
    scheme : {"grouped", "random"}
        Patient-grouped folds, or shuffled windows (the leakage study's leaky split).
    split : str, optional
        Name of the split in keys and file names; defaults as above (``random`` for the random
        scheme, with ``_mitdb_only`` appended without CinC).
    cinc_sample : int, optional
        Add only this many CinC windows (a fixed sample drawn with ``cfg.seed``, the same in
        every fold) instead of all of them: the model already starts from the CinC weights,
        and refitting every CinC window in every fold was most of the fine-tuning's cost.
    """
    if (cinc_entry is None) != (cinc_model_path is None):
        raise ValueError("give both cinc_entry and cinc_model_path, or neither")
    if split is None:
        split = scheme + ("" if cinc_entry is not None else "_mitdb_only")
    manifest, y, groups = labelled(entry)
    X = model_inputs(entry, kind).take(manifest.index.to_numpy())
    build = model_builder(kind, entry, **(model_hyper or {}))
    folds = make_folds(scheme, y, groups, n_splits, cfg.seed)
    if scheme != "grouped":
        save_dir = None
    extra = None
    weights = None
    if cinc_entry is not None:
        cinc_manifest, cinc_y, _ = labelled(cinc_entry)
        rows = cinc_manifest.index.to_numpy()
        if cinc_sample is not None and cinc_sample < rows.size:
            chosen = np.sort(np.random.default_rng(cfg.seed).choice(rows.size, cinc_sample,
                                                                     replace=False))
            rows, cinc_y = rows[chosen], cinc_y[chosen]
        extra = (model_inputs(cinc_entry, kind).take(rows), cinc_y)
        weights = keras.models.load_model(cinc_model_path, compile=False).get_weights()
    name = f"mitdb_{kind}_{split}"
    cv = train.cross_validate(X, y, groups, folds, build, cfg, extra_train=extra,
                              initial_weights=weights, save_dir=save_dir, name=name)
    return Study("mitdb", kind, split, manifest.reset_index(drop=True), y, groups, folds, cv)


SCHEMES = ("grouped", "random")


def make_folds(scheme: str, y: np.ndarray, groups: np.ndarray, n_splits: int,
               seed: int) -> list[splits.Fold]:
    """Patient-grouped folds (the study's) or shuffled-window folds (the leaky contrast)."""
    if scheme == "grouped":
        return splits.grouped_folds(y, groups, n_splits=n_splits, seed=seed)
    if scheme == "random":
        return splits.random_folds(y, n_splits=n_splits, seed=seed)
    raise UnknownNameError(f"unknown split scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")


def evaluate(study: Study, n_boot: int = 1000, seed: int = config.DEFAULT_SEED) -> dict[str, Any]:
    """Pooled out-of-fold metrics (each window at its fold's threshold) with patient-bootstrap
    CIs, stored on the study and returned."""
    tested = study.cv.tested
    study.evaluation = metrics.evaluate(
        study.y[tested], study.cv.prob[tested], study.groups[tested],
        threshold=study.cv.threshold[tested], n_boot=n_boot, seed=seed,
    )
    return study.evaluation


def fold_metrics(study: Study) -> pd.DataFrame:
    """One row per fold: patients, windows, threshold, epochs and the headline metrics."""
    rows = []
    for fold, result in zip(study.folds, study.cv.folds, strict=True):
        scores = metrics.binary_metrics(study.y[fold.test], result.prob, result.threshold)
        rows.append({
            "fold": fold.number,
            "test_patients": len(np.unique(study.groups[fold.test])),
            "test_af_patients": len(np.unique(study.groups[fold.test][study.y[fold.test] == 1])),
            "test_windows": int(fold.test.size),
            "test_windows_af": int(study.y[fold.test].sum()),
            "threshold": result.threshold,
            "epochs": result.epochs_run,
            "best_epoch": result.best_epoch,
            **{key: scores[key] for key in HEADLINE},
        })
    return pd.DataFrame(rows)


def summary_table(studies: list[Study]) -> pd.DataFrame:
    """Pooled metrics with CIs of several evaluated studies, one row each."""
    rows = []
    for study in studies:
        ev = study.evaluation
        row = {"dataset": study.dataset, "model": study.model, "split": study.split,
               "patients": ev["n_patients"], "windows AF": ev["n_windows_af"],
               "windows non-AF": ev["n_windows_non_af"]}
        row.update(metrics.summary_row(ev, HEADLINE))
        rows.append(row)
    return pd.DataFrame(rows)


def throughput(study: Study) -> dict[str, float]:
    """Mean training and prediction throughput over folds (windows/s) and total fit time."""
    folds = study.cv.folds
    return {
        "train_windows_per_s": float(np.mean([fold.train_windows_per_s for fold in folds])),
        "predict_windows_per_s": float(np.mean([fold.predict_windows_per_s for fold in folds])),
        "fit_s": float(np.sum([fold.fit_s for fold in folds])),
    }


def export_keys(study: Study) -> dict[str, Any]:
    """The study's metrics under ``<dataset>.<model>.<split>.<metric>`` keys (summary.json).
    Undefined values (e.g. a CI where a resample held no AF) are left out, not written as 0."""
    keys = reporting.evaluation_keys(study.name, study.evaluation, HEADLINE)
    keys[f"{study.name}.disjointness"] = " | ".join(
        f"fold {fold.number}: {fold.partition}" for fold in study.cv.folds)
    rates = throughput(study)
    keys[f"{study.name}.train_windows_per_s"] = rates["train_windows_per_s"]
    keys[f"{study.name}.predict_windows_per_s"] = rates["predict_windows_per_s"]
    return reporting.defined(keys)


def save_predictions(study: Study, folder: str | Path | None = None,
                     split: str | None = None) -> Path:
    """Out-of-fold predictions as CSV (record, patient, start, label, probability, threshold,
    fold), written atomically to ``reports/predictions/<dataset>_<model>_<split>.csv``."""
    folder = Path(folder) if folder is not None else config.reports_dir() / "predictions"
    table = predictions_table(study)
    path = folder / f"{study.dataset}_{study.model}_{split or study.split}.csv"
    return atomic_write(path, lambda stream: stream.write(table.to_csv(index=False).encode()))


def predict_out_of_fold(
    kind: str,
    entry: cache.Entry,
    fold_table: pd.DataFrame,
    model_prefix: str,
    model_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Score other windows of the same patients (e.g. overlapping ones along whole records) with
    the fold models of a grouped study, each window by the fold that held its patient out.

    Parameters
    ----------
    kind : {"cnn1d", "cnn2d"}
    entry : cache.Entry
        The windows to score (all of them, whatever their label).
    fold_table : pandas.DataFrame
        The study's saved predictions (:func:`save_predictions`): ``patient_id, fold,
        threshold``; each patient must sit in exactly one fold.
    model_prefix : str
        Fold models are ``<model_dir>/<model_prefix>_fold<k>.keras``.
    model_dir : path, optional
        Default ``reports/models``.

    Returns
    -------
    pandas.DataFrame
        The entry's manifest columns ``record, patient_id, start_s, af_fraction, label, y``
        plus ``prob``, ``threshold`` (the fold's) and ``fold``.
    """
    model_dir = Path(model_dir) if model_dir is not None else config.reports_dir() / "models"
    per_patient = fold_table.astype({"patient_id": str}).groupby("patient_id").agg(
        fold=("fold", "unique"), threshold=("threshold", "unique"))
    split_over = [p for p, row in per_patient.iterrows()
                  if len(row["fold"]) != 1 or len(row["threshold"]) != 1]
    if split_over:
        raise splits.LeakageError(f"patient(s) {split_over[:5]} sit in several test folds")
    fold_of = {p: int(row["fold"][0]) for p, row in per_patient.iterrows()}
    threshold_of = {p: float(row["threshold"][0]) for p, row in per_patient.iterrows()}
    table = entry.tables["manifest"][["record", "patient_id", "start_s", "af_fraction",
                                      "label", "y"]].copy()
    patients = table["patient_id"].astype(str)
    missing = sorted(set(patients) - set(fold_of))
    if missing:
        raise ValueError(f"patient(s) {missing[:5]} were in no test fold of {model_prefix}")
    table["fold"] = patients.map(fold_of).to_numpy()
    table["threshold"] = patients.map(threshold_of).to_numpy()
    table["prob"] = np.nan
    X = model_inputs(entry, kind)
    for fold in progress(sorted(table["fold"].unique()), f"{model_prefix} folds"):
        path = model_dir / f"{model_prefix}_fold{fold}.keras"
        if not path.is_file():
            raise DataUnavailableError(f"{path} is missing: run the notebook that trains "
                                       f"{model_prefix} with the same profile first")
        rows = np.flatnonzero(table["fold"].to_numpy() == fold)
        model = keras.models.load_model(path, compile=False)
        table.loc[table.index[rows], "prob"] = train.predict(model, X.take(rows))
    return table


def predictions_table(study: Study) -> pd.DataFrame:
    """Out-of-fold predictions, one row per window: record, patient, start (s), AF fraction,
    label, y, probability, the fold's threshold and the fold."""
    table = study.manifest[["record", "patient_id", "start_s", "af_fraction", "label"]].copy()
    table["y"] = study.y
    table["prob"] = study.cv.prob
    table["threshold"] = study.cv.threshold
    table["fold"] = study.cv.fold_of
    return table


def labelled(entry: cache.Entry) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Windows with a binary label (AFL, y = -1, left out), their labels and patients."""
    manifest = entry.tables["manifest"]
    manifest = manifest[manifest["y"] != TARGET["AFL"]]
    return manifest, manifest["y"].to_numpy().astype(int), manifest["patient_id"].to_numpy()
