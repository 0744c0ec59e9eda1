"""A detector without a CNN: rhythm and atrial features in gradient boosting (notebook 03c).

What a cardiologist reads off a strip, as numbers (:mod:`ecgutils.features`): the RR
irregularity of :mod:`ecgutils.beats` (plus a few whole-segment RR statistics) and the P wave
or its absence from the averaged beat (:mod:`ecgutils.atrial`). scikit-learn's
``HistGradientBoostingClassifier`` learns the four CinC classes (N / A / O / ~) from them; AF is
read out as AF-vs-rest. It is the bar the CNN detector (notebook 03b) must clear.

**Selection off the reported folds.** Features and settings were chosen on CinC's development
records (``benchmarks/levers.py``, row ``features_gb``) — the same records 03b chooses on, never
in a reported test fold. Within a fold, the decision threshold is the F1-best threshold on
out-of-fold predictions over that fold's training part (inner grouped 5-fold); nothing looks at
the fold's test part.

* :func:`cinc_table` — one row per CinC record (features over the whole record), cached.
* :func:`window_table` — one row per window of a detector window entry (e.g. mitdb), cached.
* :func:`cinc_study` — record-grouped k-fold on the non-development CinC records.
* :func:`mitdb_study` — patient-grouped k-fold on mitdb; every fold trains on all CinC records
  plus its mitdb training patients (the CinC + mitdb recipe of 03b).
* :func:`external` — trained on all CinC records, scored on another database's windows.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import BaggingClassifier, HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import KBinsDiscretizer

from ecgutils import (
    atrial,
    beats,
    cache,
    config,
    ectopy,
    features,
    fwaves,
    metrics,
    preprocess,
    records,
    splits,
)
from ecgutils.detector_study import DetectorStudy, development_records, mitdb_grids
from ecgutils.errors import SignalQualityError
from ecgutils.progress import progress
from ecgutils.windows import CLASS_INDEX

MODEL = "features_gb"
FEATURES, RHYTHM_ONLY = features.FEATURES, features.RHYTHM_ONLY
AF_CLASS = features.AF_CLASS
# Gradient boosting settings (chosen on the development records; class-balanced weights).
# Early stopping off: scikit-learn turns it on by itself above 10 000 rows ("auto") with a
# random, not patient-grouped, validation share; the settings were chosen without it.
# ``binning`` is not an argument of the booster but how its 255 feature bins are found:
# "weighted" — the booster's own quantiles, weighted by the class weights (scikit-learn >= 1.8;
# 1.9 finds them one percentile at a time, about a third of a fit on the release table) — or
# "unweighted" — plain quantiles from ``KBinsDiscretizer`` in a pipeline before the booster
# (what scikit-learn did before 1.8, and LightGBM does). Unweighted bins were adopted on the
# development records by benchmarks/boosting_binning.py's rule (fixed beforehand; a speed
# lever that must not cost quality): clean F1 +0.013, AUROC +0.002, mean noisy F1 -0.001, and
# each fit 37 % faster.
BOOSTING = {"max_iter": 300, "learning_rate": 0.05, "class_weight": "balanced",
            "early_stopping": False, "binning": "unweighted"}
BINNINGS = ("weighted", "unweighted")
INNER_SPLITS = 5


def cinc_table(max_records: int | None = None, data_dir: Any = None) -> pd.DataFrame:
    """One row per CinC 2017 record: :data:`FEATURES` over the whole record, its
    ``rhythm_class`` and ``duration_s``; cached (the key holds the record list and the code)."""
    params = preprocess.detector_params("cinc2017", max_records=max_records)
    names = preprocess.record_list(params, data_dir)
    entry = cache.load_or_build(
        "cinc2017-features", {"records": names, "lead": params.lead,
                              "cinc_label_set": params.cinc_label_set},
        lambda: _build_cinc(params, names, data_dir), code_version=_code_version())
    return _as_table(entry)


def window_table(entry: cache.Entry, params: preprocess.PreprocessParams,
                 data_dir: Any = None) -> pd.DataFrame:
    """One row per window of a detector window entry (``params`` built it): :data:`FEATURES`
    of the window on the raw lead, beside the manifest's columns; cached."""
    manifest = entry.tables["manifest"]
    entry_out = cache.load_or_build(
        f"{params.dataset}-features", {"windows_of": entry.path.name},
        lambda: _build_windows(params, manifest, data_dir), code_version=_code_version())
    table = _as_table(entry_out)
    if not (table.pop("window_record").to_numpy() == manifest["record"].astype(str).to_numpy()
            ).all():
        raise ValueError(f"the cached features of {entry.path.name} are not of its windows")
    table = table.drop(columns="window_start_s")
    return pd.concat([manifest.reset_index(drop=True), table.reset_index(drop=True)], axis=1)


def profile_boosting(max_iter: int | None) -> dict[str, Any] | None:
    """The settings a profile fits (its ``boosting_max_iter``): None — :data:`BOOSTING` —
    or :data:`BOOSTING` with ``max_iter`` trees per class (the smoke profile's few: a quick
    check of the code, not a model worth reporting)."""
    if max_iter is None:
        return None
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"boosting_max_iter must be a positive integer or None; got "
                         f"{max_iter!r}")
    return {**BOOSTING, "max_iter": max_iter}


def fit(X: np.ndarray, classes: np.ndarray, seed: int = config.DEFAULT_SEED,
        boosting: dict[str, Any] | None = None
        ) -> HistGradientBoostingClassifier | Pipeline | BaggingClassifier:
    """Gradient boosting on the four classes: :data:`BOOSTING`, or the settings ``boosting``
    (keyword arguments of ``HistGradientBoostingClassifier``, ``binning``, one of
    :data:`BINNINGS`, and optionally ``bags`` and ``bag_features``; a candidate being
    measured). With unweighted binning the model is a pipeline of ``KBinsDiscretizer`` and the
    booster; with ``bags`` > 1 it is scikit-learn's ``BaggingClassifier`` over that model: so
    many copies, each with its own seed, fitted on every row but a random ``bag_features``
    share of the columns (the random-subspace method), their probabilities averaged.
    :func:`booster_of` gives the (first) booster."""
    settings = dict(BOOSTING if boosting is None else boosting)
    binning = settings.pop("binning", "weighted")
    bags, share = int(settings.pop("bags", 1)), float(settings.pop("bag_features", 1.0))
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {BINNINGS}; got {binning!r}")
    if bags < 1 or not 0 < share <= 1:
        raise ValueError(f"bags must be >= 1 and bag_features in (0, 1]; got {bags}, {share}")
    booster = HistGradientBoostingClassifier(random_state=seed, **settings)
    if binning == "weighted":
        model = booster
    else:
        model = make_pipeline(KBinsDiscretizer(n_bins=booster.max_bins, encode="ordinal",
                                               strategy="quantile",
                                               quantile_method="averaged_inverted_cdf"),
                              booster)
    if bags > 1:
        model = BaggingClassifier(model, n_estimators=bags, max_features=share,
                                  bootstrap=False, random_state=seed)
    with warnings.catch_warnings():
        # Features with fewer distinct values than bins (counts, zeros where no beats) lose
        # their empty bins, as the booster's own binning does without a word.
        warnings.filterwarnings("ignore", message="Bins whose width are too small")
        warnings.filterwarnings("ignore", message="Feature .* is constant")
        return model.fit(X, classes)


def booster_of(model: HistGradientBoostingClassifier | Pipeline | BaggingClassifier
               ) -> HistGradientBoostingClassifier:
    """The gradient-boosting step of a model :func:`fit` returned (of a bag, the first)."""
    if isinstance(model, BaggingClassifier):
        model = model.estimators_[0]
    return model[-1] if isinstance(model, Pipeline) else model


af_prob = features.af_prob


def inner_threshold(X: np.ndarray, classes: np.ndarray, groups: np.ndarray,
                    seed: int = config.DEFAULT_SEED,
                    always: tuple[np.ndarray, np.ndarray] | None = None,
                    per_group: bool = False, scored: np.ndarray | None = None,
                    boosting: dict[str, Any] | None = None) -> float:
    """The F1-best threshold on out-of-fold predictions over a training part
    (:func:`inner_out_of_fold`, same arguments)."""
    y, prob = inner_out_of_fold(X, classes, groups, seed, always, per_group, scored, boosting)
    return metrics.best_threshold(y, prob)


def inner_out_of_fold(X: np.ndarray, classes: np.ndarray, groups: np.ndarray,
                      seed: int = config.DEFAULT_SEED,
                      always: tuple[np.ndarray, np.ndarray] | None = None,
                      per_group: bool = False, scored: np.ndarray | None = None,
                      boosting: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """AF labels and out-of-fold AF probabilities over a training part (inner grouped
    5-fold).

    ``groups`` keeps each patient (record) in one inner fold; ``always`` (X, classes) joins
    every inner fit's training rows (the CinC records of a mitdb fold); ``per_group``
    scores each group by its mean probability (a record scored as the mean of its windows)
    instead of each row; ``scored`` (boolean per row) keeps the rows that count — the others
    (noisy training copies) are only trained on, in their patient's inner folds;
    ``boosting``: the settings fitted (default :data:`BOOSTING`).
    """
    af = (classes == AF_CLASS).astype(int)
    oof = inner_probabilities(X, classes, groups, seed, always, boosting)[:, AF_CLASS]
    if scored is not None:
        scored = np.asarray(scored, dtype=bool)
        groups, af, oof = np.asarray(groups)[scored], af[scored], oof[scored]
    if per_group:
        per_record = features.record_scores(groups, af, oof)
        af, oof = per_record["y"].to_numpy(), per_record["prob"].to_numpy()
    return af, oof


def inner_probabilities(X: np.ndarray, classes: np.ndarray, groups: np.ndarray,
                        seed: int = config.DEFAULT_SEED,
                        always: tuple[np.ndarray, np.ndarray] | None = None,
                        boosting: dict[str, Any] | None = None) -> np.ndarray:
    """Out-of-fold probabilities of every class (columns: the class indices of
    :data:`ecgutils.windows.CLASS_INDEX`) over a training part: inner grouped 5-fold,
    stratified by AF; the arguments are :func:`inner_out_of_fold`'s."""
    af = (classes == AF_CLASS).astype(int)
    oof = np.full((len(X), len(CLASS_INDEX)), np.nan)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError(f"an inner threshold needs at least 2 patients; got {n_groups}")
    inner = StratifiedGroupKFold(n_splits=min(INNER_SPLITS, n_groups), shuffle=True,
                                 random_state=seed)
    for fit_rows, held in inner.split(X, af, groups):
        X_fit, c_fit = X[fit_rows], classes[fit_rows]
        if always is not None:
            X_fit, c_fit = np.vstack([X_fit, always[0]]), np.concatenate([c_fit, always[1]])
        model = fit(X_fit, c_fit, seed, boosting)
        oof[np.ix_(held, model.classes_)] = model.predict_proba(X[held])
    return np.nan_to_num(oof)  # a class absent from an inner fit: probability 0


def label_issues(X: np.ndarray, classes: np.ndarray, groups: np.ndarray,
                 seed: int = config.DEFAULT_SEED, scored: np.ndarray | None = None,
                 boosting: dict[str, Any] | None = None) -> np.ndarray:
    """The groups (records) of a training part whose given class is a likely label error.

    Confident learning (Northcutt, Jiang & Chuang 2021) as cleanlab implements it
    (``cleanlab.filter.find_label_issues``, its default ``prune_by_noise_rate``), on each
    record's inner out-of-fold probabilities of the four classes
    (:func:`inner_probabilities`; a record = the mean of its ``scored`` rows, its noisy
    copies only trained on). CinC 2017's labels are known to be noisy: the organisers
    relabelled contentious records mid-challenge. Returns the sorted record names flagged.
    """
    from cleanlab.filter import find_label_issues  # only where labels are pruned

    groups = np.asarray(groups).astype(str)
    proba = inner_probabilities(X, classes, groups, seed, boosting=boosting)
    keep = np.ones(len(X), bool) if scored is None else np.asarray(scored, dtype=bool)
    per_record = pd.DataFrame(proba[keep]).groupby(groups[keep], sort=True).mean()
    given = pd.Series(classes[keep], index=groups[keep])
    given = given[~given.index.duplicated()].loc[per_record.index]
    flagged = find_label_issues(given.to_numpy(), per_record.to_numpy())
    return per_record.index.to_numpy()[flagged]


def cinc_study(table: pd.DataFrame, n_splits: int = 5, dev_fraction: float = 0.2,
               seed: int = config.DEFAULT_SEED,
               boosting: dict[str, Any] | None = None) -> DetectorStudy:
    """Record-grouped k-fold over the non-development CinC records (the development records
    join every training part, as in 03b), scored per record; ``boosting``: the settings
    fitted (default :data:`BOOSTING`)."""
    classes = classes_of(table)
    names = table.index.to_numpy().astype(str)
    development, rest = development_records(table["rhythm_class"], dev_fraction, seed)
    rest_rows = np.flatnonzero(np.isin(names, rest))
    dev_rows = np.flatnonzero(np.isin(names, development))
    X = table[list(FEATURES)].to_numpy(dtype=float)
    af = (classes == AF_CLASS).astype(int)
    folds = splits.grouped_folds(af[rest_rows], names[rest_rows], n_splits=n_splits, seed=seed)
    scored, fold_rows = [], []
    for fold in progress(folds, f"{MODEL} CinC folds"):
        train_rows = np.concatenate([rest_rows[fold.train], rest_rows[fold.validation],
                                     dev_rows])
        test_rows = rest_rows[fold.test]
        partition = splits.assert_disjoint(train=names[train_rows], test=names[test_rows])
        threshold = inner_threshold(X[train_rows], classes[train_rows], names[train_rows],
                                    seed=seed, boosting=boosting)
        prob = af_prob(fit(X[train_rows], classes[train_rows], seed, boosting), X[test_rows])
        scored.append(pd.DataFrame({"group": names[test_rows], "y": af[test_rows],
                                    "prob": prob, "threshold": threshold,
                                    "fold": fold.number}))
        fold_rows.append(_fold_row(fold.number, partition, train_rows.size, scored[-1]))
    scores = pd.concat(scored, ignore_index=True).sort_values("group", ignore_index=True)
    return DetectorStudy("cinc2017", "grouped", scores, fold_rows, model=MODEL)


def mitdb_study(windows: pd.DataFrame, cinc: pd.DataFrame, n_splits: int = 5,
                seed: int = config.DEFAULT_SEED,
                boosting: dict[str, Any] | None = None) -> DetectorStudy:
    """Patient-grouped k-fold on mitdb windows (:func:`window_table` of the 5-s detector
    entry), with 03b's rows: trained on every CinC record plus the fold's training patients'
    windows on a 10-s grid (ambiguous windows left out), scored on the held-out patients'
    windows on a 20-s grid; flutter windows are in neither. ``along`` holds every window of
    the held-out patients (5-s grid) with its fold's probability and threshold, for episodes
    (:func:`ecgutils.episode_study.cnn_episodes`). ``boosting``: as in :func:`cinc_study`."""
    test_grid, train_grid = mitdb_grids(windows)
    X = windows[list(FEATURES)].to_numpy(dtype=float)
    classes = classes_of(windows)
    af = (classes == AF_CLASS).astype(int)
    patients = windows["patient_id"].astype(str).to_numpy()
    cinc_X, cinc_classes = cinc[list(FEATURES)].to_numpy(dtype=float), classes_of(cinc)
    scored_rows = np.flatnonzero(test_grid)
    folds = splits.grouped_folds(af[scored_rows], patients[scored_rows], n_splits=n_splits,
                                 seed=seed)
    scored, fold_rows, along = [], [], []
    for fold in progress(folds, f"{MODEL} mitdb folds"):
        test_rows = scored_rows[fold.test]
        own = np.unique(patients[scored_rows[np.concatenate([fold.train, fold.validation])]])
        train_rows = np.flatnonzero(train_grid & np.isin(patients, own))
        partition = splits.assert_disjoint(train=patients[train_rows], test=patients[test_rows])
        threshold = inner_threshold(X[train_rows], classes[train_rows], patients[train_rows],
                                    seed=seed, always=(cinc_X, cinc_classes), boosting=boosting)
        model = fit(np.vstack([X[train_rows], cinc_X]),
                    np.concatenate([classes[train_rows], cinc_classes]), seed, boosting)
        # Every window of the held-out patients (5-s grid, flutter too): their episodes;
        # the scored windows are among them.
        every = np.flatnonzero(np.isin(patients, np.unique(patients[test_rows])))
        prob = pd.Series(af_prob(model, X[every]), index=every)
        scored.append(pd.DataFrame({"group": patients[test_rows], "y": af[test_rows],
                                    "prob": prob.loc[test_rows].to_numpy(),
                                    "threshold": threshold, "fold": fold.number,
                                    "row": test_rows}))
        fold_rows.append(_fold_row(fold.number, partition, train_rows.size, scored[-1]))
        along.append(windows.loc[every, ["record", "patient_id", "start_s", "label"]]
                     .assign(prob=prob.to_numpy(), threshold=threshold, fold=fold.number,
                             role="test"))
    scores = pd.concat(scored, ignore_index=True).sort_values("row", ignore_index=True)
    table = windows.loc[scores["row"], ["record", "patient_id", "start_s", "label"]]
    table = table.reset_index(drop=True).assign(
        prob=scores["prob"].to_numpy(), threshold=scores["threshold"].to_numpy(),
        fold=scores["fold"].to_numpy(), y=scores["y"].to_numpy())
    return DetectorStudy("mitdb", "grouped", scores.drop(columns="row"), fold_rows,
                         windows=table, model=MODEL,
                         along=pd.concat(along).sort_index().reset_index(drop=True))


def external(windows: pd.DataFrame, cinc: pd.DataFrame, test: str,
             seed: int = config.DEFAULT_SEED,
             boosting: dict[str, Any] | None = None) -> DetectorStudy:
    """Trained on every CinC record (threshold from its inner out-of-fold records), scored on
    another database's windows on a 20-s grid (flutter left out); nothing tuned on them.
    ``along`` holds every window's probability, for episodes. ``boosting``: as in
    :func:`cinc_study`."""
    cinc_X, cinc_classes = cinc[list(FEATURES)].to_numpy(dtype=float), classes_of(cinc)
    names = cinc.index.to_numpy().astype(str)
    threshold = inner_threshold(cinc_X, cinc_classes, names, seed=seed, boosting=boosting)
    model = fit(cinc_X, cinc_classes, seed, boosting)
    rows = np.flatnonzero(mitdb_grids(windows)[0])
    patients = windows["patient_id"].astype(str).to_numpy()[rows]
    splits.assert_disjoint(train=np.char.add("cinc2017:", names), test=patients)
    X = windows[list(FEATURES)].to_numpy(dtype=float)
    scores = pd.DataFrame({"group": patients,
                           "y": (classes_of(windows)[rows] == AF_CLASS).astype(int),
                           "prob": af_prob(model, X[rows]), "threshold": threshold, "fold": 0})
    # Every window (5-s grid, flutter too), for episodes.
    along = windows[["record", "patient_id", "start_s", "label"]].assign(
        prob=af_prob(model, X), threshold=threshold, fold=0, role="test")
    return DetectorStudy(f"cinc2017_to_{test}", "external", scores, [], model=MODEL,
                         along=along.reset_index(drop=True))


def development_fit(table: pd.DataFrame, dev_fraction: float = 0.2,
                    seed: int = config.DEFAULT_SEED,
                    columns: tuple[str, ...] = FEATURES,
                    boosting: dict[str, Any] | None = None,
                    prune_labels: bool = False) -> dict[str, Any]:
    """The lever row: fit on the non-development records (threshold from their inner
    out-of-fold record predictions), score the development records per record; ``columns``
    picks the features (e.g. :data:`RHYTHM_ONLY` to measure what the atrial features add),
    ``boosting`` the settings (default :data:`BOOSTING`).

    ``table`` has one row per record (:func:`cinc_table`, records as index) or one row per
    window with a ``record`` column (the scanner's windows,
    :func:`ecgutils.release.scanner_windows`): a record is then scored, and thresholded, as
    the mean of its windows' probabilities, as the scanner scores it. Rows with ``noisy``
    True (noise-augmented copies, :func:`ecgutils.release.training_windows`) are trained on
    where their record is, never scored. The fitted ``model`` is returned too.

    ``prune_labels``: the non-development records :func:`label_issues` flags (clean and
    noisy rows) are left out of the fit and of the inner threshold; ``pruned`` counts them.
    The development records are scored with their labels as given.
    """
    classes = classes_of(table)
    names = (table["record"] if "record" in table.columns else table.index
             ).to_numpy().astype(str)
    per_record = pd.Series(table["rhythm_class"].to_numpy(), index=names)
    per_record = per_record[~per_record.index.duplicated()]
    windows = len(per_record) < len(names)
    development, rest = development_records(per_record, dev_fraction, seed)
    clean = ~table["noisy"].to_numpy(dtype=bool) if "noisy" in table else np.ones(len(names),
                                                                                 bool)
    fit_rows = np.isin(names, rest)
    dev_rows = np.isin(names, development) & clean
    splits.assert_disjoint(train=names[fit_rows], test=names[dev_rows])
    X = table[list(columns)].to_numpy(dtype=float)
    pruned = np.zeros(0, dtype=str)
    if prune_labels:
        pruned = label_issues(X[fit_rows], classes[fit_rows], names[fit_rows], seed=seed,
                              scored=clean[fit_rows], boosting=boosting)
        fit_rows &= ~np.isin(names, pruned)
    threshold = inner_threshold(X[fit_rows], classes[fit_rows], names[fit_rows], seed=seed,
                                per_group=windows, scored=clean[fit_rows], boosting=boosting)
    model = fit(X[fit_rows], classes[fit_rows], seed, boosting)
    scores = features.record_scores(names[dev_rows], (classes[dev_rows] == AF_CLASS).astype(int),
                                    af_prob(model, X[dev_rows])).rename(
        columns={"record": "group"})
    return {"scores": scores, "threshold": threshold, "epochs": booster_of(model).n_iter_,
            "train_windows": int(fit_rows.sum()), "model": model, "pruned": int(pruned.size)}


def classes_of(table: pd.DataFrame) -> np.ndarray:
    """The class index (:data:`ecgutils.windows.CLASS_INDEX`) of each row's ``rhythm_class``."""
    classes = table["rhythm_class"].map(CLASS_INDEX)
    if classes.isna().any():
        raise ValueError("rows without a rhythm class (N/A/O/~); rebuild the table")
    return classes.to_numpy(dtype=np.int64)


def _fold_row(number: int, partition: str, n_train: int, scored: pd.DataFrame) -> dict:
    pred = (scored["prob"] >= scored["threshold"]).astype(int)
    row = metrics.binary_metrics(scored["y"].to_numpy(), pred.to_numpy())
    return {"fold": number, "partition": partition, "train_rows": n_train,
            "threshold": float(scored["threshold"].iloc[0]), "test_units": len(scored),
            "test_f1": row["f1"]}


def _build_cinc(params: preprocess.PreprocessParams, names: list[str], data_dir: Any):
    beat_times = preprocess.beat_times(params, data_dir)
    rows, kept, durations = [], [], []
    for name in progress(names, "features cinc2017"):
        try:
            rec = records.read("cinc2017", name, data_dir, params.lead, params.cinc_label_set)
        except SignalQualityError:  # a flat or NaN lead: the window build drops it too
            continue
        rows.append(features.segment_features(rec.signal, rec.fs, beat_times[name], np.array([0.0]),
                                     rec.duration_s)[0])
        kept.append((name, rec.label))
        durations.append(rec.duration_s)
    index = pd.DataFrame(kept, columns=["record", "rhythm_class"])
    index["duration_s"] = durations
    return {"F": np.vstack(rows).astype(np.float32)}, {"rows": index}, {"n": len(rows)}


def _build_windows(params: preprocess.PreprocessParams, manifest: pd.DataFrame, data_dir: Any):
    beat_times = preprocess.beat_times(params, data_dir)
    out = np.zeros((len(manifest), len(FEATURES)), dtype=np.float32)
    for name, rows in progress(list(manifest.groupby("record", sort=False).indices.items()),
                               f"features {params.dataset}"):
        rec = records.read(params.dataset, name, data_dir, params.lead, params.cinc_label_set)
        out[rows] = features.segment_features(rec.signal, rec.fs, beat_times[name],
                                     manifest["start_s"].to_numpy()[rows], params.window_s)
    rows = pd.DataFrame({"window_record": manifest["record"].astype(str).to_numpy(),
                         "window_start_s": manifest["start_s"].to_numpy()})
    return {"F": out}, {"rows": rows}, {"n": len(out)}


def _as_table(entry: cache.Entry) -> pd.DataFrame:
    table = pd.DataFrame(np.asarray(entry.arrays["F"]), columns=list(FEATURES))
    rows = entry.tables["rows"].reset_index(drop=True)
    table = pd.concat([rows, table], axis=1)
    return table.set_index("record") if "record" in table.columns else table


def _code_version() -> str:
    return cache.code_version(atrial, beats, ectopy, features, fwaves, records,
                              sys.modules[__name__])
