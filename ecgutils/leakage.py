"""The leakage study: one model and one recipe, evaluated with leaky and honest splits.

Three splits of the same dataset, same model, same training recipe and epochs:

* ``random`` — windows shuffled into folds regardless of patient (the seed's mistake);
* ``random_overlap`` — the same, on windows cut with a step shorter than the window (many
  published papers): neighbouring test and training windows then share signal outright. Its
  fits take as many steps per epoch as those of the split without overlap (each epoch a fresh
  random share of the training windows, :func:`overlap_epoch_fraction`), so that the splits
  differ in what the batches hold, not in how long the model trains;
* ``grouped`` — StratifiedGroupKFold by patient (notebooks 03/04's out-of-fold predictions,
  read back from ``reports/predictions``; they must match the current windows).

The gap between a leaky split and the grouped one comes with a *paired* patient-bootstrap CI
(:func:`ecgutils.metrics.bootstrap_gap`). A probe makes the mechanism visible: the same network
with a softmax over patients, trained on a random window split, names the patient of a held-out
window far above chance — what a window-level random split lets an AF classifier exploit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from ecgutils import cache, config, experiments, metrics, preprocess, reporting, splits, train
from ecgutils.errors import DataUnavailableError, UnknownNameError

SPLITS = ("random", "random_overlap", "grouped")
LEAKY = ("random", "random_overlap")
TABLE_METRICS = ("accuracy", "se", "sp", "ppv", "f1", "auroc")


def window_params(dataset: str, split: str, overlap_step_s: float = 10.0,
                  **overrides: Any) -> preprocess.PreprocessParams:
    """The windows a split is evaluated on: the study's default windows for ``random`` and
    ``grouped`` (consecutive 20-s windows for mitdb, one centred window per CinC record), and
    windows every ``overlap_step_s`` seconds for ``random_overlap`` (CinC records shorter than
    one window stay one zero-padded window)."""
    _check_split(split)
    if split == "random_overlap":
        if not 0 < overlap_step_s < 20.0:
            raise ValueError(f"overlap_step_s must be in (0, 20) s so that windows overlap; "
                             f"got {overlap_step_s}")
        overrides = {**overrides, "step_s": overlap_step_s}
    return preprocess.default_params(dataset, **overrides)


def leaky_study(
    kind: str,
    dataset: str,
    entry: cache.Entry,
    split: str,
    cfg: train.TrainConfig,
    n_splits: int = 5,
    cinc_entry: cache.Entry | None = None,
    cinc_model_path: str | Path | None = None,
    cinc_sample: int | None = None,
    plain_entry: cache.Entry | None = None,
) -> experiments.Study:
    """Cross-validation over shuffled windows with the study's own recipe for ``dataset``.

    CinC 2017: as notebook 03/04's record-grouped study, on random folds. mitdb: every fold
    starts from the final CinC model and trains on CinC windows (all or a sample) plus the
    fold's mitdb training windows (give ``cinc_entry`` and ``cinc_model_path``; ``cinc_sample``
    as in :func:`ecgutils.experiments.mitdb_study`), as the grouped study does.

    ``random_overlap`` needs ``plain_entry``, the same records' windows without overlap: each
    epoch then trains on as many windows as a fold of those would hold
    (:func:`overlap_epoch_fraction`).
    """
    if split not in LEAKY:
        raise UnknownNameError(f"unknown leaky split {split!r}; choose one of {', '.join(LEAKY)}")
    if (split == "random_overlap") != (plain_entry is not None):
        raise ValueError("give plain_entry (the windows without overlap) for random_overlap "
                         "and only for it")
    if plain_entry is not None:
        extra = 0
        if cinc_entry is not None:
            n_cinc = experiments.labelled(cinc_entry)[1].size
            extra = n_cinc if cinc_sample is None else min(cinc_sample, n_cinc)
        fraction = overlap_epoch_fraction(experiments.labelled(plain_entry)[1].size,
                                          experiments.labelled(entry)[1].size, n_splits, extra)
        cfg = replace(cfg, epoch_fraction=fraction)
    if dataset == "cinc2017":
        return experiments.cinc_study(kind, entry, cfg, n_splits=n_splits, scheme="random",
                                      split=split)
    return experiments.mitdb_study(kind, entry, cfg, n_splits=n_splits, cinc_entry=cinc_entry,
                                   cinc_model_path=None if cinc_model_path is None
                                   else str(cinc_model_path),
                                   scheme="random", split=split, cinc_sample=cinc_sample)


def overlap_epoch_fraction(n_plain: int, n_overlap: int, n_splits: int, extra: int = 0,
                           validation_fraction: float = splits.VALIDATION_FRACTION) -> float:
    """Share of an overlapping-window fold's training windows to train on per epoch so that
    it takes as many steps as a fold of the ``n_plain`` windows without overlap.

    A random fold trains on ``(n_splits − 1) / n_splits × (1 − validation_fraction)`` of the
    windows, plus ``extra`` windows added to every fold (mitdb's CinC windows)."""
    if not 0 < n_plain <= n_overlap:
        raise ValueError(f"need 0 < n_plain <= n_overlap; got {n_plain} and {n_overlap}")
    share = (n_splits - 1) / n_splits * (1 - validation_fraction)
    return float((share * n_plain + extra) / (share * n_overlap + extra))


def cinc_final_model(kind: str) -> Path:
    """Path of notebook 03/04's final CinC model (the mitdb recipe starts from it)."""
    path = config.reports_dir() / "models" / f"cinc2017_{kind}_final.keras"
    if not path.is_file():
        raise DataUnavailableError(
            f"{path} is missing: run notebook {_notebook_of(kind)} with the same profile first "
            f"(python run_all.py --only {_notebook_of(kind)[:2]})")
    return path


def grouped_predictions(dataset: str, kind: str, entry: cache.Entry,
                        split: str = "grouped") -> pd.DataFrame:
    """Notebook 03/04's patient-grouped out-of-fold predictions for ``dataset`` (``split``
    ``grouped``, or ``grouped_mitdb_only`` for mitdb's mitdb-only recipe), checked to be for
    exactly the windows of ``entry`` (same records, starts and labels).

    Raises
    ------
    DataUnavailableError
        The file is missing, or was written for other windows (another profile or parameters).
    """
    path = config.reports_dir() / "predictions" / f"{dataset}_{kind}_{split}.csv"
    if not path.is_file():
        raise DataUnavailableError(
            f"{path} is missing: run notebook {_notebook_of(kind)} with the same profile first")
    table = pd.read_csv(path, dtype={"record": str, "patient_id": str})
    manifest, y, _ = experiments.labelled(entry)
    same = (len(table) == len(manifest)
            and np.array_equal(table["record"].to_numpy(), manifest["record"].astype(str))
            and np.allclose(table["start_s"].to_numpy(), manifest["start_s"].to_numpy())
            and np.array_equal(table["y"].to_numpy(), y))
    if not same:
        raise DataUnavailableError(
            f"{path} holds {len(table)} predictions for other windows than the {len(manifest)} "
            f"of this run: rerun notebook {_notebook_of(kind)} with the same profile")
    if not np.isfinite(table["prob"]).all():
        raise DataUnavailableError(f"{path} has windows without an out-of-fold prediction")
    return table


def save_predictions(study: experiments.Study, recipe: str = "") -> Path:
    """A leaky study's out-of-fold predictions as
    ``reports/predictions/<dataset>_<model>_<split>[_<recipe>].csv``."""
    return experiments.save_predictions(study, split=study.split + (f"_{recipe}" if recipe
                                                                    else ""))


def shared_patient_fraction(study: experiments.Study) -> float:
    """Share of test windows whose patient also has training windows, over all folds."""
    shared = [splits.shared_patient_fraction(fold, study.groups) * fold.test.size
              for fold in study.folds]
    return float(np.sum(shared) / np.sum([fold.test.size for fold in study.folds]))


def leakage_table(
    dataset: str,
    model: str,
    tables: dict[str, pd.DataFrame],
    shared: dict[str, float] | None = None,
    n_boot: int = 1000,
    seed: int = config.DEFAULT_SEED,
    recipe: str = "",
) -> pd.DataFrame:
    """One row per split and one per leaky-minus-grouped gap.

    Parameters
    ----------
    recipe : str
        Suffix naming a training recipe other than the study's (``mitdb_only``): it is appended
        to the split in the exported keys (``random_mitdb_only``).
    tables : dict
        Split name → predictions table (``patient_id, y, prob, threshold``), each window
        scored at its fold's validation-chosen threshold.
    shared : dict, optional
        Split name → share of test windows whose patient was also trained on.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, model, row, windows, patients, shared_patients`` and, per metric of
        :data:`TABLE_METRICS`, the value and ``<metric>_ci95`` (``[low, high]``). Gap rows are
        named ``<split> − grouped`` and carry the paired bootstrap CI of the difference.
    """
    unknown = sorted(set(tables) - set(SPLITS))
    if unknown:
        raise UnknownNameError(f"unknown split(s) {unknown}; choose from {', '.join(SPLITS)}")
    shared = shared or {}
    rows = []
    for split in (name for name in SPLITS if name in tables):
        table = tables[split]
        ev = metrics.evaluate(*metrics.prediction_columns(table), n_boot=n_boot, seed=seed)
        row = {"dataset": dataset, "model": model, "recipe": recipe, "row": split,
               "windows": len(table), "windows_af": ev["n_windows_af"],
               "windows_non_af": ev["n_windows_non_af"],
               "patients": ev["n_patients"], "shared_patients": shared.get(split, np.nan)}
        for name in TABLE_METRICS:
            row[name] = ev[name]
            row[f"{name}_ci95"] = ev[f"{name}_ci95"]
        rows.append(row)
    if "grouped" in tables:
        for split in (name for name in LEAKY if name in tables):
            gaps = metrics.bootstrap_gap(metrics.prediction_columns(tables[split]),
                                         metrics.prediction_columns(tables["grouped"]),
                                         n_boot=n_boot, seed=seed)
            row = {"dataset": dataset, "model": model, "recipe": recipe,
                   "row": f"{split} − grouped",
                   "windows": np.nan, "patients": np.nan, "shared_patients": np.nan}
            for name in TABLE_METRICS:
                gap, low, high = gaps[name]
                row[name] = gap
                row[f"{name}_ci95"] = [low, high]
            rows.append(row)
    return pd.DataFrame(rows)


def null_control(
    kind: str,
    cinc_entry: cache.Entry,
    cfg: train.TrainConfig,
    n_splits: int,
    n_seeds: int,
    random_table: pd.DataFrame,
    grouped_table: pd.DataFrame,
) -> pd.DataFrame:
    """The CinC 2017 null control's F1 gap (random − grouped) for each training seed.

    CinC's study windows are one per record, so both its random and its grouped split keep
    every record on one side: the true gap is zero, and what is measured is training noise
    (initialisation, batch order, fold assignment) plus the split's own chance. The first seed
    is the study's (``random_table`` from this notebook, ``grouped_table`` from 03/04); each
    further seed refits both cross-validations with ``cfg.seed + k`` (no model saved).

    Returns
    -------
    pandas.DataFrame
        One row per seed: ``seed, f1_random, f1_grouped, f1_gap``.
    """
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be at least 1; got {n_seeds}")
    rows = [_control_row(cfg.seed, random_table, grouped_table)]
    for k in range(1, n_seeds):
        seeded = replace(cfg, seed=cfg.seed + k)
        random_study = leaky_study(kind, "cinc2017", cinc_entry, "random", seeded, n_splits)
        grouped_study = experiments.cinc_study(kind, cinc_entry, seeded, n_splits=n_splits)
        rows.append(_control_row(seeded.seed, experiments.predictions_table(random_study),
                                 experiments.predictions_table(grouped_study)))
    return pd.DataFrame(rows)


def judge_gaps(table: pd.DataFrame, control: pd.DataFrame) -> pd.DataFrame:
    """Which leak gaps survive the null control: a gap's F1 survives when the lower bound of
    its paired patient-bootstrap CI clears the control's noise band, ``|mean control gap| +
    2 × its SD over seeds`` (the bootstrap holds the trained models fixed and cannot see
    training noise; the control can). With one seed the band is the control's gap alone and
    the verdict says the seed spread was not measured.

    Returns
    -------
    pandas.DataFrame
        One row per gap: ``dataset, recipe, gap, f1_gap, f1_gap_ci95, control_band, survives,
        verdict``.
    """
    gaps = control["f1_gap"].to_numpy(dtype=float)
    spread = float(np.std(gaps, ddof=1)) if gaps.size >= 2 else float("nan")
    band = abs(float(np.mean(gaps))) + (2 * spread if gaps.size >= 2 else 0.0)
    rows = []
    for _, row in table[table["row"].str.endswith(" − grouped")].iterrows():
        low = row["f1_ci95"][0]
        survives = bool(np.isfinite(low) and low > band)
        how = (f"control band {band:.3f} = |mean gap| + 2 SD over {gaps.size} seeds"
               if gaps.size >= 2 else
               f"control band {band:.3f} = the control's one gap (seed spread not measured: "
               "n_seeds 1)")
        rows.append({"dataset": row["dataset"], "recipe": row["recipe"],
                     "gap": row["row"], "f1_gap": row["f1"], "f1_gap_ci95": row["f1_ci95"],
                     "control_band": band, "survives": survives,
                     "verdict": ("survives" if survives else "within the control's noise")
                                + f" ({how})"})
    return pd.DataFrame(rows)


def control_keys(kind: str, control: pd.DataFrame, verdicts: pd.DataFrame) -> dict[str, Any]:
    """``cinc2017.<kind>.null_control.{f1_gap_mean, f1_gap_seed_sd, n_seeds, band}`` and
    ``<dataset>.<kind>.gap_<split>[_<recipe>].survives`` (1 or 0)."""
    gaps = control["f1_gap"].to_numpy(dtype=float)
    prefix = f"cinc2017.{kind}.null_control"
    keys: dict[str, Any] = {f"{prefix}.f1_gap_mean": float(np.mean(gaps)),
                            f"{prefix}.n_seeds": int(gaps.size),
                            f"{prefix}.band": float(verdicts["control_band"].iloc[0])
                            if len(verdicts) else float("nan"),
                            f"{prefix}.f1_gap_seed_sd": float(np.std(gaps, ddof=1))
                            if gaps.size >= 2 else float("nan")}
    for _, row in verdicts.iterrows():
        split = "gap_" + row["gap"].split(" ")[0] + (f"_{row['recipe']}" if row["recipe"] else "")
        keys[f"{row['dataset']}.{kind}.{split}.survives"] = int(row["survives"])
    return reporting.defined(keys)


def _control_row(seed: int, random_table: pd.DataFrame, grouped_table: pd.DataFrame
                 ) -> dict[str, float]:
    f1 = {name: float(f1_score(table["y"].astype(int), table["prob"] >= table["threshold"],
                               zero_division=0))
          for name, table in (("random", random_table), ("grouped", grouped_table))}
    return {"seed": seed, "f1_random": f1["random"], "f1_grouped": f1["grouped"],
            "f1_gap": f1["random"] - f1["grouped"]}


def long_table(table: pd.DataFrame, metrics_shown: tuple[str, ...] = ("accuracy", "se", "sp",
                                                                       "f1")) -> pd.DataFrame:
    """The split rows of :func:`leakage_table` as one row per (dataset, split, metric)."""
    rows = []
    for _, row in table[table["row"].isin(SPLITS)].iterrows():
        panel = row["dataset"] + (f" ({row['recipe']})" if row.get("recipe") else "")
        for name in metrics_shown:
            rows.append({"dataset": panel, "split": row["row"], "metric": name,
                         "value": row[name], "ci95": row[f"{name}_ci95"]})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ProbeResult:
    """How well a network names the patient of a held-out window under a random split."""

    dataset: str
    accuracy: float
    chance: float
    n_patients: int
    n_train: int
    n_validation: int
    n_test: int
    epochs_run: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def patient_probe(
    entry: cache.Entry,
    kind: str,
    cfg: train.TrainConfig,
    test_fraction: float = 0.2,
    max_patients: int | None = None,
    min_windows: int = 3,
    model_hyper: dict[str, Any] | None = None,
) -> ProbeResult:
    """Train the model body with a softmax over patients on a random window split; report its
    accuracy on the held-out windows and the chance level (the largest patient's share).

    Parameters
    ----------
    entry : cache.Entry
        Windows; every window counts, whatever its rhythm label.
    kind : {"cnn1d", "cnn2d"}
    cfg : TrainConfig
        Epochs, batch, learning rate, patience and seed (early stopping on validation accuracy).
    test_fraction : float
        Share of each patient's windows held out for the test (at least one); the validation
        windows are the same share of the rest (at least one).
    max_patients : int, optional
        Keep a seeded random subset of this many patients (CinC has thousands of records).
    min_windows : int
        Patients with fewer windows are left out (each needs one in train, validation, test).
    """
    if min_windows < 3:
        raise ValueError(f"min_windows must be at least 3 (train, validation, test); got "
                         f"{min_windows}")
    manifest = entry.tables["manifest"]
    patients = manifest["patient_id"].astype(str).to_numpy()
    names, per_patient = np.unique(patients, return_counts=True)
    eligible = names[per_patient >= min_windows]
    rng = np.random.default_rng(cfg.seed)
    if max_patients is not None and len(eligible) > max_patients:
        eligible = np.sort(rng.choice(eligible, size=max_patients, replace=False))
    if len(eligible) < 2:
        raise ValueError(f"the patient probe needs at least 2 patients with {min_windows}+ "
                         f"windows; {len(eligible)} have")
    fit_part, validation, test = _split_each_patient(patients, eligible, test_fraction, rng)
    X = experiments.model_inputs(entry, kind)
    hyper = {**(model_hyper or {}), "n_classes": len(eligible)}
    build = experiments.model_builder(kind, entry, **hyper)

    def target(index: np.ndarray) -> np.ndarray:
        return np.searchsorted(eligible, patients[index])

    model, _, epochs_run = train.fit_classes(
        build, X.take(fit_part), target(fit_part), X.take(validation), target(validation), cfg)
    predicted = train.predict_classes(model, X.take(test))
    truth = target(test)
    chance = float(np.bincount(truth).max() / truth.size)
    return ProbeResult(
        dataset=str(manifest["dataset"].iloc[0]), accuracy=float(np.mean(predicted == truth)),
        chance=chance, n_patients=len(eligible), n_train=int(fit_part.size),
        n_validation=int(validation.size), n_test=int(test.size), epochs_run=epochs_run)


def export_keys(table: pd.DataFrame, probes: list[ProbeResult]) -> dict[str, Any]:
    """``<dataset>.<model>.<split>.<metric>`` (+ ``_ci95``) for the leaky splits,
    ``<dataset>.<model>.gap_<split>.<metric>`` (+ ``_ci95``) for the gaps and
    ``<dataset>.patient_probe.random.{accuracy,chance,n_patients}``.

    The grouped rows are not exported here: notebooks 03/04 export the same numbers under the
    same keys from the same predictions.
    """
    keys: dict[str, Any] = {}
    for _, row in table.iterrows():
        if row["row"] == "grouped":
            continue
        split = row["row"] if row["row"] in LEAKY else "gap_" + row["row"].split(" ")[0]
        if row.get("recipe"):
            split += f"_{row['recipe']}"
        prefix = f"{row['dataset']}.{row['model']}.{split}"
        for name in TABLE_METRICS:
            keys[f"{prefix}.{name}"] = row[name]
            keys[f"{prefix}.{name}_ci95"] = row[f"{name}_ci95"]
        if row["row"] in LEAKY:
            keys[f"{prefix}.n_patients"] = int(row["patients"])
            keys[f"{prefix}.n_windows_af"] = int(row["windows_af"])
            keys[f"{prefix}.n_windows_non_af"] = int(row["windows_non_af"])
            keys[f"{prefix}.shared_patients"] = row["shared_patients"]
    for probe in probes:
        prefix = f"{probe.dataset}.patient_probe.random"
        keys[f"{prefix}.accuracy"] = probe.accuracy
        keys[f"{prefix}.chance"] = probe.chance
        keys[f"{prefix}.n_patients"] = probe.n_patients
    return reporting.defined(keys)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`leakage_table` for reading: ``value [low, high]`` cells, counts as integers."""
    shown = pd.DataFrame({
        "dataset": table["dataset"],
        "recipe": [recipe or "study (CinC + mitdb)" if dataset == "mitdb" else recipe or "study"
                   for dataset, recipe in zip(table["dataset"], table["recipe"], strict=True)],
        "split": table["row"],
        "windows": [_count(value) for value in table["windows"]],
        "patients": [_count(value) for value in table["patients"]],
        "test windows of trained-on patients": [
            "" if not np.isfinite(value) else f"{value:.0%}" for value in table["shared_patients"]],
    })
    for name in TABLE_METRICS:
        shown[name] = [_with_ci(value, ci) for value, ci in
                       zip(table[name], table[f"{name}_ci95"], strict=True)]
    return shown


def summary_sentences(table: pd.DataFrame, probes: list[ProbeResult],
                      verdicts: pd.DataFrame | None = None) -> str:
    """The leakage table and probes in plain sentences (F1 and accuracy, with CIs), each gap
    with its verdict against the null control when ``verdicts`` (:func:`judge_gaps`) is given."""
    judged = {} if verdicts is None else {
        (row["dataset"], row["recipe"], row["gap"]): row["verdict"]
        for _, row in verdicts.iterrows()}

    def cell(row: pd.Series, name: str) -> str:
        low, high = row[f"{name}_ci95"]
        return f"{row[name]:.3f} [{low:.2f}, {high:.2f}]"

    lines = []
    for (dataset, recipe), part in table.groupby(["dataset", "recipe"], sort=False):
        rows = {row["row"]: row for _, row in part.iterrows()}
        if "grouped" not in rows:
            continue
        where = dataset + (f" ({recipe})" if recipe else "")
        for split in (name for name in LEAKY if name in rows):
            gap = rows[f"{split} − grouped"]
            lines.append(
                f"{where}: F1 {cell(rows[split], 'f1')} with the {split} split vs "
                f"{cell(rows['grouped'], 'f1')} grouped, a gap of {cell(gap, 'f1')}; accuracy "
                f"{cell(rows[split], 'accuracy')} vs {cell(rows['grouped'], 'accuracy')}."
                + (f" F1 gap: {judged[(dataset, recipe, f'{split} − grouped')]}."
                   if (dataset, recipe, f"{split} − grouped") in judged else ""))
    for probe in probes:
        lines.append(
            f"{probe.dataset}: the patient probe names the patient of a held-out window with "
            f"accuracy {probe.accuracy:.3f} (chance {probe.chance:.3f}, {probe.n_patients} "
            f"patients, {probe.n_test} test windows).")
    return "\n".join(lines)


def _split_each_patient(patients: np.ndarray, eligible: np.ndarray, test_fraction: float,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle each eligible patient's windows and deal them into train / validation / test."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}")
    parts: tuple[list, list, list] = ([], [], [])
    for patient in eligible:
        own = rng.permutation(np.flatnonzero(patients == patient))
        n_test = max(1, round(own.size * test_fraction))
        n_validation = max(1, round((own.size - n_test) * test_fraction))
        parts[2].append(own[:n_test])
        parts[1].append(own[n_test:n_test + n_validation])
        parts[0].append(own[n_test + n_validation:])
    return tuple(np.sort(np.concatenate(part)) for part in parts)


def _count(value: float) -> str:
    return "" if not np.isfinite(value) else str(int(value))


def _with_ci(value: float, ci: list[float]) -> str:
    if not np.isfinite(value):
        return "n/a"
    if not all(np.isfinite(ci)):
        return f"{value:.3f}"
    return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise UnknownNameError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def _notebook_of(kind: str) -> str:
    return {"cnn1d": "03_cnn1d", "cnn2d": "04_cnn2d"}.get(kind, f"for {kind}")
