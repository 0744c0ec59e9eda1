"""The release bundle that ships in the package: trained on all of CinC 2017, tested outside it.

``make model`` (``python -m ecgutils.release``) rebuilds it deterministically. Its kind is
:data:`KIND`: the feature detector (``features_gb``: gradient boosting on each window's rhythm
and atrial features, notebook 03c), which beat the CNN detector on CinC's development records
(``benchmarks/levers.py``: F1 0.845 against 0.720) — the choice was made there, never on a
reported fold. ``--kind cnn`` rebuilds the CNN detector of notebook 03b instead.

1. **Train.** A record-grouped 5-fold cross-validation over *every* CinC 2017 record here.
   ``features_gb``: every record goes through the scanner itself
   (:func:`ecgutils.detect.window_inputs`: 20-s windows every 10 s, band-passed at 125 Hz,
   NeuroKit2 beats), so the models are trained on exactly the features they read in use;
   each window is labelled with its record's class (N / A / O / ~), and each fold's threshold
   is the F1-best on inner record-grouped out-of-fold record probabilities over its training
   part. Noise augmentation (:data:`FEATURE_RECIPE`): half of the records also give a noisy
   copy of their windows (real NSTDB noise from the noise records' *training* segments, never
   notebook 08's test segments), trained on with their record and never scored.
   ``cnn``: the detector recipe 03b chose (one centred 20-s window per record), early
   stopping on validation records carved from each training part.
2. **Choose the threshold out of fold.** Every record is scored by the fold model that never
   saw it, as the scanner scores it (the mean of its windows' probabilities); the decision
   threshold is the one maximising F1 on these out-of-fold record probabilities, which are
   also the cross-validated metrics of the model card (bootstrap CIs over records).
3. **Bundle.** ``features_gb``: the recipe fitted once on every record's windows (a five-model
   fold ensemble would be five times the size); ``cnn``: the five fold models, averaged. With
   the preprocessing, threshold and fixed episode settings (:mod:`ecgutils.bundle`).
4. **Test outside CinC.** mitdb (all 48 records) is scanned with the bundle: window metrics
   and EC57 episodes. Nothing is chosen on mitdb: the episode settings are the package
   defaults (:class:`ecgutils.episodes.EpisodeParams`), fixed before any mitdb result was
   seen; AFDB (users with internet) stays an external test too.
5. **Reference outputs** of two real records (mitdb 203, CinC A00001) are committed with the
   bundle; a test checks that the bundle reproduces them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgutils import (
    atrial,
    beats,
    bundle,
    cache,
    config,
    datasets,
    detect,
    detector_study,
    ec57,
    ectopy,
    episodes,
    external,
    feature_model,
    features,
    fileio,
    fwaves,
    metrics,
    noise_augment,
    preprocess,
    records,
    reporting,
    runs,
    signal,
    splits,
    train,
)
from ecgutils.progress import progress

# The recipe 03b chose (notebook parameters learning_rate, patience, rr_input; whole_records
# and four_classes off) with the default profile's epochs.
RECIPE: dict[str, Any] = {
    "learning_rate": 1e-3,
    "patience": 6,
    "hyper": {"rhythm": True},
    "n_classes": 1,
    "centre_only": True,
    "n_splits": 5,
}
# The feature detector's recipe (notebook 03c's model on the scanner's windows).
FEATURE_RECIPE: dict[str, Any] = {
    "model": feature_model.MODEL,
    "boosting": feature_model.BOOSTING,
    "rows": "every scanner window of each record (20 s every 10 s), labelled with the "
            "record's class N / A / O / ~",
    "n_splits": 5,
    # Noise augmentation (benchmarks/noise_augmentation_features.py measured it and chose it
    # on CinC only): the NoiseAugmentation defaults' records get a second, noisy copy of their
    # windows (NSTDB bw / ma from the noise records' training segments, SNR -6 ... 24 dB)
    # beside the clean ones, in training only.
    "noise_augmentation": asdict(noise_augment.NoiseAugmentation()),
}
KIND = "features_gb"
RELEASE_DIR = config.PACKAGE_DIR / "release" / "detector"
REFERENCE_RECORDS = (("mitdb", "203"), ("cinc2017", "A00001"))


def work_dir(kind: str = "cnn") -> Path:
    """Fold models and the out-of-fold tables of the last build of ``kind`` (not shipped)."""
    return config.reports_dir() / "models" / ("release" if kind == "cnn" else f"release_{kind}")


def train_folds(profile: str = "default", data_dir: str | os.PathLike | None = None,
                reuse: bool = True,
                augmentation: noise_augment.NoiseAugmentation | None = None,
                folder: str | os.PathLike | None = None, epochs: int | None = None,
                allow_training: bool = True) -> detector_study.DetectorStudy:
    """Step 1: the fold models, saved under :func:`work_dir` with a stamp of how they were
    trained; with ``reuse`` a stamp that matches skips the training.

    The other arguments are for studies of the recipe (``benchmarks/noise_augmentation.py``)
    and leave the release alone when not given: ``augmentation`` trains with noisy copies of
    a share of the training windows (:mod:`ecgutils.noise_augment`, same folds and seeds),
    ``epochs`` overrides the profile's, ``folder`` saves the fold models elsewhere (required
    with either: the release's fold models are never overwritten by a variant);
    ``allow_training=False`` raises ``LookupError`` instead of training when no saved fold
    models match.
    """
    folder = work_dir() if folder is None else Path(folder)
    if (augmentation is not None or epochs is not None) and \
            folder.resolve() == work_dir().resolve():
        raise ValueError("a variant of the recipe (noise augmentation, other epochs) must be "
                         f"saved outside the release's fold models ({work_dir()}): pass "
                         "another folder")
    P = config.resolve_params(profile)
    params = preprocess.detector_params("cinc2017")
    entry = preprocess.build(params, data_dir)
    cfg = train.TrainConfig(epochs=epochs or P["detector_epochs"],
                            learning_rate=RECIPE["learning_rate"],
                            patience=RECIPE["patience"], seed=P["seed"])
    dcfg = train.DetectorConfig(crops=False, aggregate=False, n_classes=RECIPE["n_classes"])
    # run_eagerly changes how Keras runs, not what it computes: not part of the recipe.
    fit_cfg = {key: value for key, value in asdict(cfg).items() if key != "run_eagerly"}
    stamp = {"data_sha256": data_fingerprint(entry), "cfg": fit_cfg, "dcfg": asdict(dcfg),
             "recipe": RECIPE}
    noisy = None
    if augmentation is not None:
        stamp["noise_augmentation"] = asdict(augmentation)
        noisy = noise_augment.training_copies(entry, params, detector_study.centre_rows(entry),
                                              augmentation, data_dir)
    stamp_path = folder / "train.json"
    scores_path = folder / "centre_scores.csv"
    if reuse and stamp_path.is_file() and scores_path.is_file():
        previous = json.loads(stamp_path.read_text())
        if previous.get("stamp") == json.loads(json.dumps(stamp)):
            return detector_study.DetectorStudy(
                "cinc2017", "release", pd.read_csv(scores_path, dtype={"group": str}),
                previous["folds"], previous["model_paths"])
    if not allow_training:
        raise LookupError(f"no fold models in {folder} match this data and recipe")
    study = detector_study.cinc_study(
        entry, cfg, dcfg, RECIPE["hyper"], n_splits=RECIPE["n_splits"], dev_fraction=0.0,
        save_dir=folder, name="release", centre_only=RECIPE["centre_only"], noisy=noisy)
    fileio.atomic_write_text(scores_path, study.scores.to_csv(index=False))
    folds = json.loads(json.dumps(study.folds, default=_plain))
    fileio.atomic_write_json(stamp_path, {"stamp": stamp, "folds": folds,
                                          "model_paths": study.model_paths})
    return study


def data_fingerprint(entry: Any) -> str:
    """SHA-256 of what the models are trained on (windows, RR features, labels): fold models
    are reused only for identical training data, whatever cache key the entry has."""
    import hashlib

    digest = hashlib.sha256()
    for name in ("X", "R"):
        array = np.ascontiguousarray(entry.arrays[name])
        for lo in range(0, len(array), 4096):
            digest.update(array[lo:lo + 4096].tobytes())
    manifest = entry.tables["manifest"][["record", "start_s", "rhythm_class"]]
    digest.update(manifest.to_csv(index=False).encode())
    return digest.hexdigest()


def settings(threshold: float, training: dict[str, Any] | None = None,
             kind: str = KIND) -> bundle.Settings:
    """The scanner settings of the release: the detector's preprocessing (125 Hz, 20-s
    windows, 0.5-40 Hz zero-phase band-pass, z-scored windows, short CinC records repeated),
    a 10-s step, the package's default episode settings, and the features of ``kind``. A
    ``features_gb`` scanner detects beats with the gated QRS band
    (:data:`ecgutils.beats.BAND_HZ`, :data:`ecgutils.beats.BAND_GATE`; adopted on CinC
    development records, ``benchmarks/beat_band.py``); a ``cnn`` one without it, as its RR
    input was trained (:func:`ecgutils.preprocess.beat_times`)."""
    params = preprocess.detector_params("cinc2017")
    return bundle.Settings(
        fs=params.fs, leads=list(records.PREFERRED_LEADS), low_hz=params.low_hz,
        high_hz=params.high_hz, filter_order=params.filter_order,
        normalisation=params.normalisation, window_s=params.window_s, step_s=STEP_S,
        short_policy=params.short_policy, min_record_s=MIN_RECORD_S, block_s=60.0,
        margin_s=5.0, aggregation="mean", threshold=float(threshold),
        episode=asdict(episodes.EpisodeParams()), rr_features=list(bundle.KINDS[kind][1]),
        label_map={"not AF (N, O, ~)": 0, "AF (A)": 1}, training=training or {},
        versions={name: reporting.package_version(name)
                  for name in ("tensorflow-cpu", "tensorflow", "keras", "numpy", "scipy",
                               "neurokit2", "wfdb", "scikit-learn", "skops")},
        commit=reporting.git_commit(), kind=kind,
        **({"beat_band_hz": list(beats.BAND_HZ), "beat_band_gate": beats.BAND_GATE}
           if kind == "features_gb" else {}))


# Scanner step: 10 s (two windows vote on each slot) halves the work of the 5-s grid (a 24-h
# Holter in 20-27 s on one core, benchmarks/bench_scanner.py); shortest recording accepted:
# CinC 2017's shortest record (9 s).
STEP_S = 10.0
MIN_RECORD_S = 9.0


def out_of_fold(study: detector_study.DetectorStudy, data_dir: str | os.PathLike | None = None
                ) -> pd.DataFrame:
    """Step 2: every CinC record scanned by the fold model that never saw it, through the
    scanner itself; one row per record: ``record, fold, y, prob, fold_threshold``."""
    import keras

    scores = study.scores.set_index("group")
    fold_bundles = [bundle.Bundle([keras.models.load_model(path, compile=False)],
                                  settings(0.5, kind="cnn")) for path in study.model_paths]
    thresholds = {fold["fold"]: fold["threshold"] for fold in study.folds}
    root = datasets.ensure_local("cinc2017", data_dir)
    labels = datasets.cinc_reference_labels("v3", data_dir)
    rows = []
    for name in progress(list(scores.index), "release out-of-fold"):
        fold = int(scores.loc[name, "fold"])
        rec = records.read_path(root / name)
        result = detect.analyse(rec, fold_bundles[fold])
        rows.append({"record": name, "fold": fold, "y": int(labels[name] == "A"),
                     "prob": result.record_prob, "fold_threshold": thresholds[fold]})
    return pd.DataFrame(rows)


def scanner_windows(data_dir: str | os.PathLike | None = None,
                    max_records: int | None = None,
                    columns: tuple[str, ...] = features.FEATURES,
                    scan_changes: dict[str, Any] | None = None) -> pd.DataFrame:
    """Step 1 (``features_gb``): every CinC record (or the first ``max_records``) through the
    scanner without a model (:func:`ecgutils.detect.window_inputs`); one row per window:
    ``record, start_s, rhythm_class`` and the features ``columns`` (default
    :data:`ecgutils.features.FEATURES`). Cached (the key holds the record list, the scan
    settings and the code); ``scan_changes``: other scan settings than the release's (a
    lever being measured, e.g. ``{"beat_band_hz": [5.0, 15.0]}`` or ``{"window_s": 30.0}``)."""
    names = preprocess.record_list(
        preprocess.detector_params("cinc2017", max_records=max_records), data_dir)
    scan = feature_settings(columns, scan_changes)
    entry = cache.load_or_build(
        "cinc2017-scanner-features", {"records": names, "scan": scan.scan_key()},
        lambda: _build_scanner_windows(names, scan, data_dir),
        code_version=cache.code_version(atrial, beats, detect, ectopy, features, fwaves,
                                        records, signal))
    return _window_table(entry, columns)


def feature_settings(columns: tuple[str, ...] = features.FEATURES,
                     scan_changes: dict[str, Any] | None = None) -> bundle.Settings:
    """The release's scan settings for a ``features_gb`` model reading ``columns``, with
    ``scan_changes`` (setting → value, e.g. ``{"window_s": 30.0}``) in place of the
    release's."""
    return dataclasses.replace(settings(0.5, kind="features_gb"), rr_features=list(columns),
                               **(scan_changes or {}))


def _build_scanner_windows(names: list[str], scan: bundle.Settings,
                           data_dir: str | os.PathLike | None):
    root = datasets.ensure_local("cinc2017", data_dir)
    labels = datasets.cinc_reference_labels("v3", data_dir)
    rows, values = [], []
    for name in progress(names, "scanner features cinc2017"):
        starts, inputs = detect.window_inputs(records.read_path(root / name), scan)
        rows.append(pd.DataFrame({"record": name, "start_s": starts,
                                  "rhythm_class": labels[name]}))
        values.append(inputs)
    return _window_entry(rows, values)


def _window_entry(rows: list[pd.DataFrame], values: list[np.ndarray]):
    """A cache entry of scanned windows: their rows and :data:`ecgutils.features.FEATURES`."""
    rows = pd.concat(rows, ignore_index=True)
    return {"F": np.vstack(values).astype(np.float32)}, {"rows": rows}, {"n": len(rows)}


def _window_table(entry: cache.Entry, columns: tuple[str, ...]) -> pd.DataFrame:
    """The rows of :func:`_window_entry`'s entry beside their features ``columns``."""
    table = pd.DataFrame(np.asarray(entry.arrays["F"]), columns=list(columns))
    return pd.concat([entry.tables["rows"].reset_index(drop=True), table], axis=1)


def noisy_scanner_windows(plan: pd.DataFrame, data_dir: str | os.PathLike | None = None,
                          split_seed: int = config.DEFAULT_SEED,
                          columns: tuple[str, ...] = features.FEATURES,
                          scan_changes: dict[str, Any] | None = None) -> pd.DataFrame:
    """Noisy copies of CinC records through the scanner, one row per window like
    :func:`scanner_windows` plus ``noise, snr_db``: each record of ``plan`` (columns
    ``record, noise, snr_db, where``, as :func:`ecgutils.noise_augment.plan` draws them) with
    noise from the *training* segment of its NSTDB noise record
    (:func:`ecgutils.noise_augment.noisy_lead`: nst's SNR, S from the record's detected beats)
    mixed into the raw lead, then scanned as a recording is. Records without a detected beat
    (no SNR can be set) get no copy. Cached (the key holds the plan, the scan settings, the
    noise split and the code).

    ``split_seed`` cuts the noise records into training and test segments; it must be the
    one notebook 08 uses (:data:`ecgutils.config.DEFAULT_SEED`), or "training" noise could be
    08's test noise. ``columns``: the features computed (default
    :data:`ecgutils.features.FEATURES`); ``scan_changes`` as for
    :func:`scanner_windows`.
    """
    from ecgutils import noise_study  # noise_study imports the scanner's modules

    plan = plan[["record", "noise", "snr_db", "where"]].reset_index(drop=True)
    scan = feature_settings(columns, scan_changes)
    key = {"plan": hashlib.sha256(plan.to_csv(index=False).encode()).hexdigest(),
           "scan": scan.scan_key(),
           "split_seed": split_seed}

    def build():
        root = datasets.ensure_local("cinc2017", data_dir)
        labels = datasets.cinc_reference_labels("v3", data_dir)
        params = preprocess.detector_params("cinc2017")
        beat_times = preprocess.beat_times(params, data_dir)
        noises = noise_study.noise_records(data_dir, seed=split_seed)
        rows, values = [], []
        for draw in progress(list(plan.itertuples(index=False)), "noisy scanner features"):
            rec = records.read_path(root / draw.record)
            try:
                noisy, _ = noise_augment.noisy_lead(rec.signal, rec.fs, beat_times[draw.record],
                                                    noises[draw.noise], draw.snr_db, draw.where)
            except noise_augment.NoSignalPowerError:
                continue
            starts, inputs = detect.window_inputs(dataclasses.replace(rec, signal=noisy), scan)
            rows.append(pd.DataFrame({"record": draw.record, "start_s": starts,
                                      "rhythm_class": labels[draw.record],
                                      "noise": draw.noise, "snr_db": draw.snr_db}))
            values.append(inputs)
        if not rows:
            raise ValueError("no record of the plan could be given noise")
        return _window_entry(rows, values)

    entry = cache.load_or_build(
        "cinc2017-scanner-features-noisy", key, build,
        code_version=cache.code_version(atrial, beats, detect, ectopy, features, fwaves,
                                        noise_augment, records, signal))
    return _window_table(entry, columns)


def training_windows(data_dir: str | os.PathLike | None = None,
                     max_records: int | None = None,
                     augmentation: noise_augment.NoiseAugmentation | None = None,
                     columns: tuple[str, ...] = features.FEATURES,
                     scan_changes: dict[str, Any] | None = None) -> pd.DataFrame:
    """The feature detector's training rows: :func:`scanner_windows` (``noisy`` False) and,
    with ``augmentation``, the noisy copies of the records it draws
    (:func:`noisy_scanner_windows`, ``noisy`` True); features ``columns``; ``scan_changes``
    as for :func:`scanner_windows`."""
    clean = scanner_windows(data_dir, max_records, columns, scan_changes).assign(noisy=False)
    if augmentation is None:
        return clean
    names = clean["record"].drop_duplicates().tolist()
    plan = noise_augment.augmentation_plan(names, augmentation)
    noisy = noisy_scanner_windows(plan[plan["noisy"]], data_dir, augmentation.split_seed,
                                  columns, scan_changes)
    return pd.concat([clean, noisy.drop(columns=["noise", "snr_db"]).assign(noisy=True)],
                     ignore_index=True)


def feature_folds(table: pd.DataFrame, seed: int = config.DEFAULT_SEED
                  ) -> tuple[pd.DataFrame, list[Any], list[dict[str, Any]]]:
    """Steps 1-2 (``features_gb``): record-grouped folds over the records of
    :func:`training_windows`; each fold model is trained on its training records' windows,
    with a threshold from inner record-grouped out-of-fold record probabilities over them.
    Rows with ``noisy`` True (noisy copies) follow their record into training only: every
    score, inner or outer, is of clean windows.

    Returns the out-of-fold rows (one per record: ``record, fold, y, prob,
    fold_threshold``; ``prob`` = mean of the record's window probabilities, as the scanner
    scores a recording), the fold models and one summary row per fold.
    """
    names = table["record"].astype(str).to_numpy()
    clean = ~table["noisy"].to_numpy(dtype=bool) if "noisy" in table else np.ones(len(names), bool)
    classes = feature_model.classes_of(table)
    X = table[list(features.FEATURES)].to_numpy(dtype=float)
    per_record = table.groupby("record", sort=True)["rhythm_class"].first()
    record_names = per_record.index.to_numpy().astype(str)
    record_af = (per_record.to_numpy() == "A").astype(int)
    folds = splits.grouped_folds(record_af, record_names, n_splits=FEATURE_RECIPE["n_splits"],
                                 seed=seed)
    rows, models, fold_rows = [], [], []
    for fold in progress(folds, "release folds"):
        own = record_names[np.concatenate([fold.train, fold.validation])]
        held = record_names[fold.test]
        partition = splits.assert_disjoint(train=own, test=held)
        train_rows, test_rows = np.isin(names, own), np.isin(names, held) & clean
        threshold = feature_model.inner_threshold(X[train_rows], classes[train_rows],
                                                  names[train_rows], seed=seed,
                                                  per_group=True, scored=clean[train_rows])
        model = feature_model.fit(X[train_rows], classes[train_rows], seed)
        scored = features.record_scores(names[test_rows],
                                        (classes[test_rows] == features.AF_CLASS).astype(int),
                                        features.af_prob(model, X[test_rows]))
        rows.append(scored.assign(fold=fold.number, fold_threshold=threshold))
        models.append(model)
        fold_rows.append({"fold": fold.number, "partition": partition,
                          "train_windows": int(train_rows.sum()), "threshold": threshold,
                          "test_records": len(scored)})
    oof = pd.concat(rows, ignore_index=True).sort_values("record", ignore_index=True)
    return oof[["record", "fold", "y", "prob", "fold_threshold"]], models, fold_rows


def external_mitdb(shipped: bundle.Bundle, data_dir: str | os.PathLike | None = None,
                   stream_chunk_s: float = 1.0) -> dict[str, Any]:
    """Step 4: the shipped bundle on all mitdb records (nothing chosen here): window metrics
    and EC57 (:func:`ecgutils.external.scan_long_records`), then every record replayed live
    (:class:`ecgutils.detect.Stream`): agreement with the batch scan and onset delays."""
    scanned = external.scan_long_records(shipped, "mitdb", model="release", data_dir=data_dir)
    root = datasets.ensure_local("mitdb", data_dir)
    batch = dict(zip(scanned.per_record["record"], scanned.per_record["episodes"], strict=True))
    delays, identical, stream_seconds, total_s = [], 0, 0.0, 0.0
    for name in progress(list(batch), "release live on mitdb"):
        rec = records.read_path(root / name)
        live, _ = detect.stream_record(rec, shipped, stream_chunk_s)
        identical += int([(e.start_s, e.end_s) for e in live.episodes] == batch[name])
        reference, _ = ec57.read_rhythm(name, "atr", root)
        delays += detect.onset_delays(reference, live.events, live.episodes)
        stream_seconds += live.seconds
        total_s += rec.duration_s
    by_record = {score.record: score for score in scanned.ec57_scores}
    return {"evaluation": scanned.evaluation, "scores": scanned.ec57_scores,
            "false_af": external.false_af_by_rhythm(scanned),
            "record_203": ec57.gross([by_record["203"]]), "delays": np.asarray(delays),
            "stream_identical": identical, "n_records": len(batch),
            "stream_s_per_s": stream_seconds / total_s}


def build(profile: str = "default", data_dir: str | os.PathLike | None = None,
          reuse: bool = True, target: Path = RELEASE_DIR, kind: str = KIND,
          n_seeds: int | None = None) -> dict[str, Any]:
    """Steps 1-5: train (or reuse) the fold models, choose the threshold out of fold, write
    the bundle into the package, test it on mitdb, write the reference outputs, the model
    card and ``reports/metrics/release.json``; returns the exported keys.

    ``n_seeds`` (default: the profile's): for ``features_gb``, the cross-validation is
    repeated with this many seeds (each draws other folds and inner folds); the first seed's
    out-of-fold records give the threshold, the others only the seed spread of the F1. The
    ``cnn`` kind's fold models come from notebook 03b's one cross-validation: more than one
    seed is refused there, not ignored."""
    began = time.perf_counter()
    params = config.resolve_params(profile)
    if kind == "cnn" and n_seeds is not None and n_seeds != 1:
        raise ValueError(f"n_seeds {n_seeds}: the cnn release reuses one cross-validation "
                         "(notebook 03b's); repeat it with seeds there (-p n_seeds)")
    n_seeds = params["n_seeds"] if n_seeds is None else n_seeds
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be at least 1; got {n_seeds}")
    seed_f1: list[float] = []
    if kind == "features_gb":
        seed = params["seed"]
        augmentation = noise_augment.NoiseAugmentation(
            **FEATURE_RECIPE["noise_augmentation"])
        table = training_windows(data_dir, augmentation=augmentation)
        oof, _, folds = feature_folds(table, seed)
        # The first seed's F1 is the cross-validation's own (cv["f1"] below); the others
        # only give the spread.
        seed_f1 = [seed_spread_f1(feature_folds(table, seed + k)[0])
                   for k in range(1, n_seeds)]
        # One model on every record's windows ships (a fold ensemble would be five times the
        # size: about 3 MB each); the fold models give its out-of-fold numbers and threshold.
        models = [feature_model.fit(table[list(features.FEATURES)].to_numpy(dtype=float),
                                    feature_model.classes_of(table), seed)]
        recipe, fitted = FEATURE_RECIPE, {"train_windows": len(table),
                                          "noisy_train_windows": int(table["noisy"].sum())}
        protocol = ("record-grouped 5-fold CV (no patient ids are published: grouped by "
                    "record) over every record's scanner windows gives the out-of-fold "
                    "numbers (each fold's threshold from inner record-grouped out-of-fold "
                    "record probabilities over its training part); threshold = best F1 on the "
                    "pooled out-of-fold record probabilities; the shipped model is the same "
                    "recipe fitted on every record's windows; noisy copies (noise "
                    "augmentation) are in training only, every score is of clean windows")
    elif kind == "cnn":
        import keras

        study = train_folds(profile, data_dir, reuse)
        oof = out_of_fold(study, data_dir)
        models = [keras.models.load_model(path, compile=False) for path in study.model_paths]
        folds = study.folds
        recipe = RECIPE
        fitted = {"epochs": study.folds[0].get("epochs") if study.folds else None}
        protocol = ("record-grouped 5-fold CV (no patient ids are published: grouped by "
                    "record); early stopping on validation records inside each training "
                    "part; the 5 fold models averaged; threshold = best F1 on the pooled "
                    "out-of-fold record probabilities")
    else:
        raise ValueError(f"unknown release kind {kind!r}; known: {sorted(bundle.KINDS)}")
    fileio.atomic_write_text(work_dir(kind) / "out_of_fold.csv", oof.to_csv(index=False))
    fileio.atomic_write_json(work_dir(kind) / "folds.json",
                             json.loads(json.dumps(folds, default=_plain)))
    threshold = metrics.best_threshold(oof["y"], oof["prob"])
    cv = metrics.evaluate(oof["y"], oof["prob"], oof["record"],
                          threshold=oof["fold_threshold"].to_numpy(), n_boot=1000)
    at_shipped = metrics.binary_metrics(oof["y"], oof["prob"], threshold)
    training = {
        "data": f"PhysioNet/CinC Challenge 2017 training set: the {len(oof)} records here "
                f"({int(oof['y'].sum())} AF); the other 853 of its 8528 records are kept "
                "outside the project as an independent test",
        "labels": "REFERENCE-v3.csv; AF = class A, not AF = N, O and ~",
        "protocol": protocol, "recipe": recipe, **fitted,
        "cv_f1_at_fold_thresholds": cv["f1"], "cv_auroc": cv["auroc"],
    }
    bundle.save(target, models, settings(threshold, training, kind))
    shipped = bundle.load(target)
    external = external_mitdb(shipped, data_dir)
    reference = reference_outputs(shipped, data_dir)
    fileio.atomic_write_json(target / REFERENCE_FILE, reference)
    keys = _keys(cv, at_shipped, threshold, external, shipped)
    if kind == "features_gb":
        seed_f1 = [float(cv["f1"])] + seed_f1
        keys["release.detector.cinc2017_cv.n_seeds"] = len(seed_f1)
        keys["release.detector.cinc2017_cv.f1_seed_mean"] = float(np.mean(seed_f1))
        if len(seed_f1) > 1:
            keys["release.detector.cinc2017_cv.f1_seed_sd"] = float(np.std(seed_f1, ddof=1))
    reporting.tables_path("release").unlink(missing_ok=True)
    reporting.export_metrics("release", keys)
    reporting.export_table("release", "Release bundle (make model): the shipped detector",
                           release_table(cv, external),
                           note=f"Trained on all {len(oof)} CinC 2017 records here; "
                                f"threshold {threshold:.3f} (best F1 on the out-of-fold "
                                "records); mitdb is an external test (nothing chosen on it); "
                                f"bundle {shipped.size_bytes() / 1e6:.2f} MB. Details: "
                                "ecgutils/release/detector/MODEL_CARD.md.")
    card = model_card(shipped, cv, at_shipped, oof, external, seed_f1)
    fileio.atomic_write_text(target / "MODEL_CARD.md", card)
    fileio.atomic_write_json(run_record(), {
        "name": "release", "status": "ok", "wall_s": round(time.perf_counter() - began, 1),
        "commit": reporting.git_commit(), "profile": config.profile_name(profile)})
    return keys


def seed_spread_f1(oof: pd.DataFrame) -> float:
    """The out-of-fold F1 of one cross-validation (:func:`feature_folds`' rows), each record
    at its fold's threshold."""
    return float(metrics.binary_metrics(oof["y"], oof["prob"],
                                        oof["fold_threshold"].to_numpy())["f1"])


def save_study_bundle(study: detector_study.DetectorStudy, path: str | os.PathLike
                      ) -> Path:
    """A CinC cross-validation's fold models as one bundle (notebook 03b's final model): the
    ensemble of the folds at the median of their validation-chosen thresholds (nothing
    chosen on the reported test folds), with the release's scanner settings."""
    import keras

    threshold = float(np.median([fold["threshold"] for fold in study.folds]))
    training = {"data": "CinC 2017 (notebook 03b cross-validation; development records "
                        "joined every training part)",
                "labels": "REFERENCE-v3.csv; AF = class A",
                "protocol": "fold models of a record-grouped CV, averaged; threshold = median "
                            "of the folds' validation thresholds"}
    models = [keras.models.load_model(p, compile=False) for p in study.model_paths]
    return bundle.save(path, models, settings(threshold, training, kind="cnn"))


REFERENCE_FILE = "reference_outputs.json"
NOISE_HEADING = "## Noise stress (notebook 08: real NSTDB noise on mitdb at nst's SNR)"


def reference_outputs(shipped: bundle.Bundle, data_dir: str | os.PathLike | None = None
                      ) -> dict[str, Any]:
    """Step 5: what the bundle gives on two real records (checked by the tests)."""
    out = {}
    for dataset, name in REFERENCE_RECORDS:
        rec = records.read_path(datasets.ensure_local(dataset, data_dir) / name)
        result = detect.analyse(rec, shipped)
        out[f"{dataset}/{name}"] = {
            "record_prob": result.record_prob, "prob": [float(p) for p in result.prob],
            "episodes": [[e.start_s, e.end_s] for e in result.episodes]}
    return out


def run_record() -> Path:
    return config.reports_dir() / "metrics" / "release.run.json"


def _keys(cv: dict[str, Any], at_shipped: dict[str, Any], threshold: float,
          external: dict[str, Any], shipped: bundle.Bundle) -> dict[str, Any]:
    keys = reporting.evaluation_keys("release.detector.cinc2017_cv", cv, HEADLINE)
    keys["release.detector.cinc2017_cv.f1_at_shipped_threshold"] = at_shipped["f1"]
    keys["release.detector.threshold"] = threshold
    keys.update(reporting.evaluation_keys("release.detector.mitdb_external",
                                          external["evaluation"], HEADLINE))
    gross = ec57.gross(external["scores"])
    for rate in ec57.RATES:
        keys[f"release.detector.mitdb_external.ec57.{rate}"] = gross[rate]
        keys[f"release.detector.mitdb_203.ec57.{rate}"] = external["record_203"][rate]
    keys["release.detector.size_mb"] = round(shipped.size_bytes() / 1e6, 3)
    delays = external["delays"]
    caught = delays[delays > 0]  # onsets the monitor had to catch (not already calling AF)
    keys["stream.detector.mitdb.onset_delay_s_median"] = float(np.median(caught))
    keys["stream.detector.mitdb.onset_delay_s_p90"] = float(np.percentile(caught, 90))
    keys["stream.detector.mitdb.n_onsets"] = int(caught.size)
    keys["stream.detector.mitdb.n_onsets_already_af"] = int(delays.size - caught.size)
    keys["stream.detector.mitdb.identical_records"] = external["stream_identical"]
    keys["stream.detector.mitdb.n_records"] = external["n_records"]
    keys["stream.detector.mitdb.compute_s_per_s"] = external["stream_s_per_s"]
    return reporting.defined(keys)


HEADLINE = detector_study.HEADLINE


def model_card(shipped: bundle.Bundle, cv: dict[str, Any], at_shipped: dict[str, Any],
               oof: pd.DataFrame, external: dict[str, Any],
               seed_f1: list[float] | None = None) -> str:
    """MODEL_CARD.md from this build's numbers (``seed_f1``: the out-of-fold F1 of each seed
    the cross-validation was repeated with)."""
    s = shipped.settings
    ev = external["evaluation"]
    gross = ec57.gross(external["scores"])
    errors = _failure_modes(oof, s.threshold)

    def ci(result: dict[str, Any], name: str) -> str:
        low, high = result[f"{name}_ci95"]
        return f"{result[name]:.3f} [{low:.3f}, {high:.3f}]"

    delays = external["delays"]
    lines = [
        "# Model card: the packaged AF detector",
        "",
        f"Generated by `make model` (`python -m ecgutils.release`) at commit `{s.commit}`; "
        "do not edit by hand.",
        "",
        "## Intended use",
        "Research and teaching: screening single-lead ECG recordings (WFDB format, any "
        "sampling rate) for atrial fibrillation, and marking AF episodes for review. "
        "**Not a medical device**; not for diagnosis or treatment decisions, not validated "
        "for children, pacemaker rhythms, or atrial flutter (which it was not trained to "
        "separate).",
        "",
        "## Model",
        _model_lines(shipped) + " Windows every "
        f"{s.step_s:g} s; a recording's AF probability is the mean over its windows; "
        f"decision threshold {s.threshold:.3f}. Episodes: {s.episode} (the package defaults, "
        f"fixed before any external result was seen). Bundle size "
        f"{shipped.size_bytes() / 1e6:.2f} MB.",
        "",
        "## Training data",
        f"{s.training.get('data')}. Labels: {s.training.get('labels')}. "
        f"Protocol: {s.training.get('protocol')}. mitdb and AFDB were never used for "
        "training or for any choice: they are external tests.",
        "",
        "## Cross-validated performance (CinC 2017, per record, record-grouped 5-fold)",
        f"Out-of-fold, each record scanned by the fold model that never saw it, at each fold's "
        f"own validation threshold: F1 {ci(cv, 'f1')}, Se {ci(cv, 'se')}, +P {ci(cv, 'ppv')}, "
        f"Sp {ci(cv, 'sp')}, AUROC {ci(cv, 'auroc')} ({cv['n_windows_af']} AF and "
        f"{cv['n_windows_non_af']} other records; 95 % bootstrap CIs over records). At the "
        f"shipped threshold, chosen on these same out-of-fold probabilities, F1 is "
        f"{at_shipped['f1']:.3f} (optimistic: the threshold was fitted to them). The shipped "
        "model itself has no held-out CinC number here; the 853 records outside the project "
        "are its independent test." + _seed_line(seed_f1 or []),
        "",
        "## External test: MIT-BIH Arrhythmia Database (48 records, 47 patients)",
        f"20-s windows (flutter windows left out): F1 {ci(ev, 'f1')}, Se {ci(ev, 'se')}, "
        f"+P {ci(ev, 'ppv')}, Sp {ci(ev, 'sp')}, AUROC {ci(ev, 'auroc')} "
        "(95 % bootstrap CIs over patients). EC57 gross episode Se / +P / duration Se / +P "
        f"({ec57.variant_of(external['scores'])}): "
        + " / ".join(f"{100 * gross[r]:.0f}" for r in ec57.RATES) + ".",
        f"Live mode (`ecg-af scan --stream`, 1-s chunks): episodes identical to the batch "
        f"scan on {external['stream_identical']} of {external['n_records']} records. Onset "
        f"delay, from the reference AF onset to the live onset event: median "
        f"{np.median(delays[delays > 0]):.0f} s, 90th percentile "
        f"{np.percentile(delays[delays > 0], 90):.0f} s over the {int((delays > 0).sum())} "
        f"detected reference episodes whose onset had to be caught; at "
        f"{int((delays <= 0).sum())} more the monitor was already calling AF (an episode "
        "that began early or was still running). Live compute: "
        f"{external['stream_s_per_s'] * 1000:.2f} ms per second of ECG.",
        "",
        "## Known failure modes",
        "CinC out-of-fold errors, per reference class:",
        errors,
        "",
        "mitdb (external): windows labelled non-AF (under 50 % AF) that it calls AF, by the "
        "reference rhythm at the window centre (mitdb's rhythm codes: N sinus, B bigeminy, "
        "T trigeminy, NOD nodal, VT ventricular tachycardia, SVTA supraventricular "
        "tachyarrhythmia, P paced, AFIB a window centred in AF but under 50 % AF; flutter "
        "windows are not scored):",
        _false_af_lines(external["false_af"]),
        "",
        NOISE_HEADING,
        _noise_lines(),
    ]
    return "\n".join(lines) + "\n"


def _seed_line(seed_f1: list[float]) -> str:
    if len(seed_f1) < 2:
        return ""
    return (f" Repeated with {len(seed_f1)} seeds (other folds and inner folds each): F1 "
            + ", ".join(f"{f:.3f}" for f in seed_f1)
            + f"; mean {np.mean(seed_f1):.3f}, SD {np.std(seed_f1, ddof=1):.3f}.")


def _model_lines(shipped: bundle.Bundle) -> str:
    s = shipped.settings
    if s.kind == "features_gb":
        return ("One scikit-learn gradient-boosting model (four classes N / A / O / ~, AF "
                "read as AF-vs-rest; fitted on every CinC record's windows; its feature "
                "bins plain quantiles from `KBinsDiscretizer`, "
                "`reports/benchmarks-boosting-binning.md`), with no neural "
                "network: it reads "
                f"{len(s.rr_features)} features of a 20-s window — the RR irregularity of its "
                f"beats ({_beat_words(s)}), the P wave or its absence in its median "
                "beat, ectopic beats (QRS shapes unlike the median's) with the "
                "irregularity left without them, and the atrial activity left once every "
                "QRS-T is cancelled (f waves) (`ecgutils.features`), on the signal "
                f"band-passed and resampled to {s.fs:g} Hz. Chosen over the CNN detector on "
                "CinC development records (`benchmarks/levers.py`, rows `features_gb` and "
                "`detector` in `reports/benchmarks-levers.md`; the ectopy and f-wave "
                "features: `reports/benchmarks-ectopy-features.md`, "
                "`reports/benchmarks-fwave-features.md`), never on a reported fold. "
                "Trained with "
                "noise augmentation: half of the records also give a copy with real NSTDB "
                "baseline wander or muscle noise (SNR -6 ... 24 dB, the noise records' "
                "training segments), chosen on CinC out of fold "
                "(`reports/benchmarks-noise-augmentation-features.md`).")
    return (f"An ensemble of {len(shipped.models)} Keras models (the 5 CinC fold models, "
            "probabilities averaged); each a 5-block 1D CNN on a 20-s window at "
            f"{s.fs:g} Hz beside a dense branch on {len(s.rr_features)} RR features of the "
            f"beats in the window ({_beat_words(s)}).")


def _beat_words(s: bundle.Settings) -> str:
    """How the bundle's scanner detects beats, in the model card's words."""
    if s.beat_band_hz is None:
        return "NeuroKit2 beat detection"
    low, high = s.beat_band_hz
    band = f"on the lead band-passed to {low:g}-{high:g} Hz (Pan & Tompkins' QRS band)"
    if s.beat_band_gate is None:
        return f"NeuroKit2 beat detection {band}"
    return (f"NeuroKit2 beat detection, {band} in each minute where the beats found with "
            f"and without the band agree less than {s.beat_band_gate:g} (F1), i.e. where "
            "noise leads the plain detector astray: "
            "`reports/benchmarks-beat-band-gate.md`")


def release_table(cv: dict[str, Any], external: dict[str, Any]) -> pd.DataFrame:
    """CinC out-of-fold and mitdb external rows, headline metrics with CIs."""
    gross = ec57.gross(external["scores"])
    rows = [{"test": "CinC 2017 out-of-fold (records, fold thresholds)",
             **metrics.summary_row(cv, HEADLINE)},
            {"test": "mitdb external (20-s windows)",
             **metrics.summary_row(external["evaluation"], HEADLINE),
             "EC57 gross Se/+P/DSe/D+P": " / ".join(f"{100 * gross[r]:.0f}"
                                                   for r in ec57.RATES)}]
    return pd.DataFrame(rows)


def _false_af_lines(table: pd.DataFrame) -> str:
    rows = table[table["called AF"] > 0].head(8)
    return "\n".join(f"- {rhythm_name}: {row['called AF']} of {row['windows']} windows "
                     f"({100 * row['share']:.0f} %), records {row['records']}"
                     for rhythm_name, row in rows.iterrows())


def refresh_noise_section(target: Path = RELEASE_DIR) -> str:
    """Rewrite the model card's noise-stress paragraph from the latest published run of
    notebook 08 (08 scans with the bundle, so it runs after ``make model``; ``python -m
    ecgutils.release --noise-card`` then updates the card without retraining). Returns it."""
    path = target / "MODEL_CARD.md"
    lines = path.read_text().splitlines()
    if NOISE_HEADING not in lines:
        raise ValueError(f"{path} has no line {NOISE_HEADING!r}")
    at = lines.index(NOISE_HEADING) + 1
    lines[at] = _noise_lines()
    fileio.atomic_write_text(path, "\n".join(lines) + "\n")
    return lines[at]


def _noise_lines() -> str:
    """The shipped model's rows of notebook 08 in the default profile's published run, when
    08 scanned this bundle (its clean mitdb F1 is the last `make model`'s, in
    ``reports/metrics/release.json``)."""
    published = runs.latest(runs.COMMITTED_PROFILE)
    found = reporting.load_metrics("08_noise_stress", published.path) if published else {}
    prefix = "mitdb.release."
    if f"{prefix}clean.f1" not in found:
        return ("Not measured yet: run notebook 08 in the default profile (`run_all.py --only 08 "
                "--keep-earlier`), then `python -m ecgutils.release --noise-card`.")
    expected = reporting.load_metrics("release").get("release.detector.mitdb_external.f1")
    if expected is not None and not math.isclose(
            found[f"{prefix}clean.f1"], expected, abs_tol=1e-9):
        return (f"Notebook 08's latest run scanned another bundle (clean mitdb F1 "
                f"{found[f'{prefix}clean.f1']:.3f}, this one {expected:.3f}): rerun 08, then "
                "`python -m ecgutils.release --noise-card`.")
    cells = []
    for condition in ("clean", "noise_bw_6db", "noise_ma_6db", "noise_bw_0db", "noise_ma_0db"):
        if f"{prefix}{condition}.f1" in found:
            cells.append(f"{condition.replace('noise_', '').replace('_', ' ')}: F1 "
                         f"{found[f'{prefix}{condition}.f1']:.3f}, Se "
                         f"{found[f'{prefix}{condition}.se']:.3f}")
    return ("From the latest run of notebook 08 (mitdb windows): " + "; ".join(cells)
            + ". Muscle noise hurts far more than baseline wander; noise lowers the "
            "probabilities, so Se falls first (F1 can even rise where clean mitdb is over-called).")


def _failure_modes(oof: pd.DataFrame, threshold: float) -> str:
    """Which CinC classes the out-of-fold probabilities call AF, with example records."""
    labels = datasets.cinc_reference_labels("v3")
    table = oof.assign(cls=oof["record"].map(labels), called=oof["prob"] >= threshold)
    lines = []
    names = {"N": "normal rhythm", "O": "other rhythms", "~": "noisy"}
    for cls, name in names.items():
        part = table[table["cls"] == cls]
        wrong = part[part["called"]].sort_values("prob", ascending=False)
        lines.append(f"- Called AF among {name} ({cls}): {len(wrong)} of {len(part)} "
                     f"({100 * len(wrong) / max(len(part), 1):.1f} %), e.g. "
                     + ", ".join(wrong["record"].head(3)))
    missed = table[(table["cls"] == "A") & ~table["called"]].sort_values("prob")
    n_af = int((table["cls"] == "A").sum())
    lines.append(f"- AF records missed: {len(missed)} of {n_af} "
                 f"({100 * len(missed) / max(n_af, 1):.1f} %), e.g. "
                 + ", ".join(missed["record"].head(3)))
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Build the release bundle (make model).")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--retrain", action="store_true",
                        help="train the fold models even when matching ones are at hand")
    parser.add_argument("--data-dir")
    parser.add_argument("--kind", default=KIND, choices=sorted(bundle.KINDS),
                        help=f"what to ship (default {KIND})")
    parser.add_argument("--seeds", type=int, default=None,
                        help="repeat the cross-validation with this many seeds (seed spread; "
                             "default: the profile's n_seeds)")
    parser.add_argument("--noise-card", action="store_true",
                        help="only rewrite the model card's noise paragraph from notebook 08")
    args = parser.parse_args()
    if args.noise_card:
        print(refresh_noise_section())
        raise SystemExit(0)
    for key, value in build(args.profile, args.data_dir, reuse=not args.retrain,
                            kind=args.kind, n_seeds=args.seeds).items():
        print(f"{key}: {value}")
