"""Noise augmentation in training, measured: the CNN release recipe without and with it.

    .venv/bin/python benchmarks/noise_augmentation.py [--epochs N] [--cinc-records N]

Two arms, the same CinC 2017 records, folds and seeds (``ecgutils.release.train_folds``):

* ``release`` — the CNN release recipe (``make model KIND=cnn``; the package now ships the
  feature detector): its fold models in ``reports/models/release/`` are reused when their
  stamp (data fingerprint, settings) matches, never overwritten;
* ``noise_aug`` — the same, with :class:`ecgutils.noise_augment.NoiseAugmentation`'s defaults:
  half of the records' training windows replaced by a noisy copy (NSTDB ``bw`` or ``ma`` from
  the *training* segment of the noise record, SNR uniform in −6 … 24 dB, nst's definition,
  mixed into the raw lead before filtering and beat detection). Fold models go to
  ``reports/models/release_noise_aug/``.

Measured for both, as the release build measures (:mod:`ecgutils.release`):

1. **CinC out of fold, clean**: every record scanned by the fold model that never saw it,
   through the scanner; F1 at the folds' validation thresholds, AUROC; and the threshold the
   release would ship (best F1 on these probabilities).
2. **CinC out of fold under noise** (what a choice may rest on): a seeded random subset of
   records, each record's centre window (the training representation) remade with noise from
   the *training* segments (other draws than training's) at each noise and SNR, scored by the
   record's out-of-fold model at its fold threshold.
3. **mitdb, the external test** (nothing is chosen on it): each arm's 5 fold models averaged at
   its threshold from 1, every record clean and with the *test* noise segments of notebook 08
   at each SNR (:func:`ecgutils.noise_study.scan_conditions`); 20-s windows, patient-bootstrap
   CIs.

The choice (``DECISION``, fixed before any result was seen) uses CinC only (1 and 2).
Writes reports/benchmarks-noise-augmentation.md and .json. With ``--epochs`` both arms are
retrained with that many epochs (into ``reports/models/release_epochs<N>*``) and the output
says so.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ecgutils import (  # noqa: E402
    bundle,
    config,
    datasets,
    detector_study,
    external,
    metrics,
    noise_augment,
    noise_study,
    preprocess,
    records,
    release,
    reporting,
)
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from ecgutils.progress import progress  # noqa: E402

ARMS = ("release", "noise_aug")
AUGMENTATION = noise_augment.NoiseAugmentation()
SNRS_DB = (24, 12, 6, 0, -6)
NOISES = ("bw", "ma")
# The CinC noise of measurement 2: its own draws (offsets), apart from training's.
EVAL_SEED = config.DEFAULT_SEED + 1
N_BOOT = 1000
# Fixed before any result: augmentation is worth shipping when, on CinC out of fold, the mean
# F1 over the noisy conditions rises by at least MIN_NOISY_GAIN while the clean F1 falls by no
# more than MAX_CLEAN_F1_LOSS and the clean AUROC by no more than MAX_CLEAN_AUROC_LOSS.
MIN_NOISY_GAIN = 0.01
MAX_CLEAN_F1_LOSS = 0.01
MAX_CLEAN_AUROC_LOSS = 0.005
OUT = config.published_dir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=None,
                        help="retrain both arms with this many epochs (default: the release's)")
    parser.add_argument("--cinc-records", type=int, default=3000,
                        help="records of the CinC noise measurement (seeded random subset)")
    parser.add_argument("--mitdb-records", nargs="*", default=None)
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the .md from the saved .json, measuring nothing")
    args = parser.parse_args()
    if args.render_only:
        payload = json.loads((OUT / "benchmarks-noise-augmentation.json").read_text())
        atomic_write_text(OUT / "benchmarks-noise-augmentation.md", markdown(payload))
        return
    began = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        timings[name] = round(time.perf_counter() - since, 1)
        print(f"{name}: {timings[name]} s", flush=True)
        return time.perf_counter()

    now = time.perf_counter()
    studies = train_arms(args.epochs)
    now = lap("train_or_reuse_s", now)
    oof = cinc_out_of_fold(studies)
    now = lap("cinc_out_of_fold_s", now)
    clean = clean_results(oof)
    noisy_table = cinc_under_noise(studies, args.cinc_records)
    noisy = noisy_results(noisy_table, studies)
    now = lap("cinc_under_noise_s", now)
    decision = decide(clean, noisy)
    names = args.mitdb_records or external.records_present("mitdb")
    mitdb_table = mitdb_under_noise(studies, clean, names)
    mitdb = noise_study.evaluate(mitdb_table, n_boot=N_BOOT, seed=config.DEFAULT_SEED)
    now = lap("mitdb_s", now)
    timings["total_s"] = round(time.perf_counter() - began, 1)
    payload = report_payload(args, studies, clean, noisy, decision, mitdb, timings, oof)
    atomic_write_json(OUT / "benchmarks-noise-augmentation.json", payload)
    atomic_write_text(OUT / "benchmarks-noise-augmentation.md", markdown(payload))
    print(markdown(payload))


# --- 0. the two arms ---------------------------------------------------------------------


def train_arms(epochs: int | None) -> dict[str, detector_study.DetectorStudy]:
    """The fold models of both arms (reused where a matching stamp is found)."""
    models = config.published_dir() / "models"
    if epochs is None:
        try:
            plain = release.train_folds(allow_training=False)
        except LookupError:  # the release's models are stale: train the arm apart
            plain = release.train_folds(folder=models / "release_noise_aug_baseline")
        augmented = release.train_folds(augmentation=AUGMENTATION,
                                        folder=models / "release_noise_aug")
    else:
        plain = release.train_folds(epochs=epochs, folder=models / f"release_epochs{epochs}")
        augmented = release.train_folds(augmentation=AUGMENTATION, epochs=epochs,
                                        folder=models / f"release_epochs{epochs}_noise_aug")
    studies = {"release": plain, "noise_aug": augmented}
    folds = [study.scores.set_index("group")["fold"].sort_index() for study in studies.values()]
    if not folds[0].equals(folds[1]):
        raise AssertionError("the two arms were trained on different folds")
    return studies


def fold_models(study: detector_study.DetectorStudy) -> list:
    import keras

    return [keras.models.load_model(path, compile=False) for path in study.model_paths]


# --- 1. CinC out of fold, clean, through the scanner --------------------------------------


def cinc_out_of_fold(studies: dict[str, detector_study.DetectorStudy]) -> pd.DataFrame:
    """Every CinC record scanned once by its fold's models of both arms (one shared scan):
    ``record, fold, y, prob_<arm>, fold_threshold_<arm>``."""
    settings = release.settings(0.5, kind="cnn")
    loaded = {arm: fold_models(study) for arm, study in studies.items()}
    scans = [noise_study.SharedScan({arm: bundle.Bundle([loaded[arm][k]], settings)
                                     for arm in studies}) for k in range(len(loaded["release"]))]
    thresholds = {arm: {f["fold"]: f["threshold"] for f in study.folds}
                  for arm, study in studies.items()}
    fold_of = studies["release"].scores.set_index("group")["fold"]
    root = datasets.ensure_local("cinc2017")
    labels = datasets.cinc_reference_labels("v3")
    rows = []
    for name in progress(list(fold_of.index), "CinC out of fold, both arms"):
        fold = int(fold_of.loc[name])
        _, probs = scans[fold].analyse(records.read_path(root / name))
        row = {"record": name, "fold": fold, "y": int(labels[name] == "A")}
        for arm in studies:
            row[f"prob_{arm}"] = float(np.mean(probs[arm]))
            row[f"fold_threshold_{arm}"] = thresholds[arm][fold]
        rows.append(row)
    return pd.DataFrame(rows)


def clean_results(oof: pd.DataFrame) -> dict[str, dict]:
    """Per arm: out-of-fold metrics at the fold thresholds, the threshold the release would
    ship (best F1 on the out-of-fold probabilities) and F1 there; the paired gap."""
    out: dict[str, dict] = {}
    for arm in ARMS:
        ev = metrics.evaluate(oof["y"], oof[f"prob_{arm}"], oof["record"],
                              threshold=oof[f"fold_threshold_{arm}"].to_numpy(), n_boot=N_BOOT,
                              seed=config.DEFAULT_SEED)
        shipped = metrics.best_threshold(oof["y"], oof[f"prob_{arm}"])
        out[arm] = {"f1": ev["f1"], "f1_ci95": ev["f1_ci95"], "auroc": ev["auroc"],
                    "auroc_ci95": ev["auroc_ci95"], "se": ev["se"], "ppv": ev["ppv"],
                    "threshold": shipped,
                    "f1_at_threshold": metrics.binary_metrics(
                        oof["y"], oof[f"prob_{arm}"], shipped)["f1"]}
    gap = metrics.bootstrap_gap(*(_quad(oof, arm) for arm in ("noise_aug", "release")),
                                n_boot=N_BOOT, seed=config.DEFAULT_SEED)
    out["gap"] = {name: list(gap[name]) for name in ("f1", "auroc")}
    return out


def _quad(oof: pd.DataFrame, arm: str):
    return (oof["y"], oof[f"prob_{arm}"], oof["record"], oof[f"fold_threshold_{arm}"].to_numpy())


# --- 2. CinC out of fold under training noise ----------------------------------------------


def cinc_under_noise(studies: dict[str, detector_study.DetectorStudy], n_records: int
                     ) -> pd.DataFrame:
    """Centre windows of a seeded random subset of records remade with training-segment noise
    at each noise and SNR, scored by each arm's out-of-fold model: ``record, fold, y,
    condition, noise, snr_db, prob_<arm>, threshold_<arm>`` (the clean condition too)."""
    params = preprocess.detector_params("cinc2017")
    entry = preprocess.build(params)
    centre = detector_study.centre_rows(entry)
    manifest = entry.tables["manifest"]
    names = manifest["record"].astype(str).to_numpy()[centre]
    rng = np.random.default_rng(EVAL_SEED)
    subset = np.sort(rng.choice(centre.size, size=min(n_records, centre.size), replace=False))
    rows, chosen = centre[subset], names[subset]
    noises = noise_study.noise_records(seed=AUGMENTATION.split_seed)
    loaded = {arm: fold_models(study) for arm, study in studies.items()}
    fold_of = studies["release"].scores.set_index("group")["fold"]
    thresholds = {arm: {f["fold"]: f["threshold"] for f in study.folds}
                  for arm, study in studies.items()}
    windows = detector_study.window_set(entry)
    parts = [_score(loaded, thresholds, fold_of, chosen, windows.X[rows], windows.R[rows],
                    windows.af[rows], "clean", "none", np.inf)]
    for noise_name in NOISES:
        for snr in SNRS_DB:
            draws = noise_augment.plan(chosen, (noise_name,), 1.0, snr, snr, EVAL_SEED)
            copies = noise_augment.noisy_windows(
                entry, params, rows, draws, noises,
                what=f"CinC {noise_study.condition_name(noise_name, snr)}")
            at = np.searchsorted(rows, copies.rows)
            parts.append(_score(loaded, thresholds, fold_of, chosen[at], copies.X, copies.R,
                                windows.af[copies.rows],
                                noise_study.condition_name(noise_name, snr), noise_name, snr))
    return pd.concat(parts, ignore_index=True)


def _score(loaded, thresholds, fold_of, names, X, R, y, condition, noise_name, snr):
    folds = fold_of.loc[names].to_numpy().astype(int)
    table = pd.DataFrame({"record": names, "fold": folds, "y": y, "condition": condition,
                          "noise": noise_name, "snr_db": snr})
    inputs = {"ecg": np.asarray(X, dtype=np.float32)[..., None],
              "rr": np.asarray(R, dtype=np.float32)}
    for arm, models in loaded.items():
        prob = np.zeros(len(names))
        for k, model in enumerate(models):
            here = folds == k
            if here.any():
                out = model.predict({key: value[here] for key, value in inputs.items()},
                                    batch_size=512, verbose=0)
                prob[here] = np.asarray(out, dtype=float)[:, 0]
        table[f"prob_{arm}"] = prob
        table[f"threshold_{arm}"] = [thresholds[arm][k] for k in folds]
    return table


def noisy_results(table: pd.DataFrame, studies) -> pd.DataFrame:
    """Per condition and arm: F1 (fold thresholds), AUROC, Se; the paired F1 gap."""
    out = []
    for condition, part in table.groupby("condition", sort=False):
        row = {"condition": condition, "noise": part["noise"].iloc[0],
               "snr_db": part["snr_db"].iloc[0], "records": len(part),
               "af_records": int(part["y"].sum())}
        for arm in ARMS:
            m = metrics.binary_metrics(part["y"], part[f"prob_{arm}"],
                                       part[f"threshold_{arm}"].to_numpy())
            row.update({f"{arm}_f1": m["f1"], f"{arm}_auroc": m["auroc"], f"{arm}_se": m["se"],
                        f"{arm}_sp": m["sp"]})
        quads = [(part["y"], part[f"prob_{arm}"], part["record"],
                  part[f"threshold_{arm}"].to_numpy()) for arm in ("noise_aug", "release")]
        gap = metrics.bootstrap_gap(*quads, n_boot=N_BOOT, seed=config.DEFAULT_SEED)
        row["f1_gap"], row["f1_gap_low"], row["f1_gap_high"] = gap["f1"]
        row["auroc_gap"], row["auroc_gap_low"], row["auroc_gap_high"] = gap["auroc"]
        out.append(row)
    return pd.DataFrame(out)


def decide(clean: dict, noisy: pd.DataFrame, base: str = "release") -> dict:
    """The rule of ``DECISION`` on CinC numbers only: arm ``noise_aug`` against ``base``
    (``noisy["f1_gap"]`` is noise_aug − base per condition)."""
    noisy_only = noisy[noisy["condition"] != "clean"]
    gain = float(noisy_only["f1_gap"].mean())
    clean_f1 = clean["noise_aug"]["f1"] - clean[base]["f1"]
    clean_auroc = clean["noise_aug"]["auroc"] - clean[base]["auroc"]
    ship = (gain >= MIN_NOISY_GAIN and clean_f1 >= -MAX_CLEAN_F1_LOSS
            and clean_auroc >= -MAX_CLEAN_AUROC_LOSS)
    return {"mean_noisy_f1_gain": gain, "clean_f1_change": clean_f1,
            "clean_auroc_change": clean_auroc, "worth_shipping": bool(ship),
            "rule": f"mean CinC noisy F1 gain >= {MIN_NOISY_GAIN}, clean CinC F1 loss <= "
                    f"{MAX_CLEAN_F1_LOSS}, clean CinC AUROC loss <= {MAX_CLEAN_AUROC_LOSS}"}


# --- 3. mitdb, the external test -------------------------------------------------------------


def mitdb_under_noise(studies, clean: dict, names: list[str]) -> pd.DataFrame:
    """Each arm as a bundle (fold models averaged, its out-of-fold threshold) on mitdb, clean
    and with notebook 08's test noise, in one shared scan per condition."""
    bundles = {arm: bundle.Bundle(fold_models(study),
                                  release.settings(clean[arm]["threshold"], kind="cnn"))
               for arm, study in studies.items()}
    noises = noise_study.noise_records(seed=config.resolve_params("default")["seed"])
    return noise_study.scan_conditions(bundles, names, {n: noises[n] for n in NOISES}, SNRS_DB)


# --- output --------------------------------------------------------------------------------


def report_payload(args, studies, clean, noisy, decision, mitdb, timings, oof) -> dict:
    previous = release.work_dir("cnn") / "out_of_fold.csv"  # the last `make model KIND=cnn`
    same_as_build = None
    if previous.is_file() and args.epochs is None:
        before = pd.read_csv(previous, dtype={"record": str}).set_index("record")["prob"]
        same_as_build = float(np.max(np.abs(before.loc[oof["record"]].to_numpy()
                                            - oof["prob_release"].to_numpy())))
    mitdb_rows = [{key: _plain(value) for key, value in row.items()}
                  for row in mitdb.to_dict("records")]
    return {
        "what": "release recipe without and with noise augmentation in training",
        "epochs": args.epochs or config.resolve_params("default")["detector_epochs"],
        "epochs_note": ("both arms retrained with fewer epochs than the release"
                        if args.epochs else "the release's, early stopping with patience "
                        f"{release.RECIPE['patience']}"),
        "augmentation": asdict(AUGMENTATION),
        "folds": {arm: [{k: f.get(k) for k in ("fold", "epochs", "best_epoch", "threshold",
                                                 "validation_f1", "noisy_train_windows",
                                                 "fit_s")} for f in study.folds]
                  for arm, study in studies.items()},
        "cinc_out_of_fold": clean,
        "cinc_out_of_fold_release_vs_last_build_max_abs_diff": same_as_build,
        "cinc_under_training_noise": {"records": int(args.cinc_records), "seed": EVAL_SEED,
                                      "rows": [{k: _plain(v) for k, v in row.items()}
                                               for row in noisy.to_dict("records")]},
        "decision_on_cinc": decision,
        "mitdb_external": mitdb_rows,
        "timings_s": timings,
        "commit": reporting.git_commit(),
    }


def markdown(p: dict) -> str:
    c = p["cinc_out_of_fold"]
    lines = [
        "# Noise augmentation in training: the release recipe without and with it",
        "",
        "`benchmarks/noise_augmentation.py`. Both arms: the release recipe (5-fold record-grouped "
        "CV over all CinC 2017 records here, same folds and seeds), "
        f"{p['epochs']} epochs at most ({p['epochs_note']}). `noise_aug`: "
        f"{p['augmentation']['fraction']:.0%} of the records' training windows replaced by a "
        f"noisy copy — NSTDB {' / '.join(p['augmentation']['noises'])} from the *training* "
        "segment of each noise record, SNR uniform in "
        f"{p['augmentation']['snr_low_db']:g} … {p['augmentation']['snr_high_db']:g} dB (nst's "
        "definition, S from the record's detected beats), added to the raw lead before "
        "filtering and beat detection; validation windows stay clean.",
        "",
        "## CinC 2017 out of fold, clean (scanner, as the release build)",
        "",
        "| arm | F1 (fold thresholds) | AUROC | Se | +P | threshold to ship | F1 there |",
        "|---|---|---|---|---|---:|---:|",
    ]
    for arm in ARMS:
        r = c[arm]
        lines.append(f"| {arm} | {_ci(r, 'f1')} | {_ci(r, 'auroc')} | {r['se']:.3f} | "
                     f"{r['ppv']:.3f} | {r['threshold']:.3f} | {r['f1_at_threshold']:.3f} |")
    gap = c["gap"]
    lines += ["", f"Paired gap noise_aug − release (bootstrap over records): F1 "
              f"{gap['f1'][0]:+.3f} [{gap['f1'][1]:+.3f}, {gap['f1'][2]:+.3f}], AUROC "
              f"{gap['auroc'][0]:+.3f} [{gap['auroc'][1]:+.3f}, {gap['auroc'][2]:+.3f}]."]
    if p["cinc_out_of_fold_release_vs_last_build_max_abs_diff"] is not None:
        lines.append(f"The release arm's out-of-fold probabilities differ from the last `make "
                     f"model KIND=cnn` build's by at most "
                     f"{p['cinc_out_of_fold_release_vs_last_build_max_abs_diff']:.1e}.")
    n = p["cinc_under_training_noise"]
    lines += ["", "## CinC 2017 out of fold under training-segment noise (the basis of the "
              "choice)", "",
              f"{n['records']} records drawn at random (seed {n['seed']}); each record's "
              "centre window (the training representation) remade with noise from the training "
              "segments (other draws than training's) and scored by its out-of-fold model at "
              "its fold threshold. Records without a detected beat get no noise and are left "
              "out of the noisy rows.", "",
              "| condition | records (AF) | F1 release | F1 noise_aug | F1 gap [95 % CI] | "
              "AUROC release | AUROC noise_aug |", "|---|---|---:|---:|---|---:|---:|"]
    for r in n["rows"]:
        lines.append(f"| {r['condition']} | {r['records']} ({r['af_records']}) | "
                     f"{r['release_f1']:.3f} | {r['noise_aug_f1']:.3f} | {r['f1_gap']:+.3f} "
                     f"[{r['f1_gap_low']:+.3f}, {r['f1_gap_high']:+.3f}] | "
                     f"{r['release_auroc']:.3f} | {r['noise_aug_auroc']:.3f} |")
    d = p["decision_on_cinc"]
    lines += ["", f"**Choice (CinC only; rule fixed before the run: {d['rule']}):** mean noisy "
              f"F1 gain {d['mean_noisy_f1_gain']:+.3f}, clean F1 change "
              f"{d['clean_f1_change']:+.3f}, clean AUROC change {d['clean_auroc_change']:+.3f} → "
              + ("**worth shipping**." if d["worth_shipping"] else "**not worth shipping** by "
                 "this rule.")]
    lines += ["", "## mitdb, the external test (nothing chosen on it)", "",
              "Each arm's 5 fold models averaged at its own out-of-fold threshold; all 48 "
              "records, 20-s windows (flutter out), noise from notebook 08's *test* segments over "
              "the whole record at nst's SNR; 95 % CIs over patients.", "",
              "| condition | F1 release | F1 noise_aug | Se release | Se noise_aug | "
              "AUROC release | AUROC noise_aug |", "|---|---|---|---:|---:|---:|---:|"]
    rows = pd.DataFrame(p["mitdb_external"])
    for condition, part in rows.groupby("condition", sort=False):
        r = {row["model"]: row for row in part.to_dict("records")}
        a, b = r["release"], r["noise_aug"]
        lines.append(f"| {condition} | {_ci(a, 'f1')} | {_ci(b, 'f1')} | {a['se']:.3f} | "
                     f"{b['se']:.3f} | {a['auroc']:.3f} | {b['auroc']:.3f} |")
    lines += ["", "## Folds and run times", ""]
    for arm, folds in p["folds"].items():
        cells = "; ".join(f"fold {f['fold']}: {f['epochs']} epochs (best {f['best_epoch']}), "
                          f"threshold {f['threshold']}, fit {f['fit_s']:.0f} s"
                          + (f", {f['noisy_train_windows']} noisy training windows"
                             if f.get("noisy_train_windows") is not None else "")
                          for f in folds)
        lines.append(f"- {arm}: {cells}")
    lines.append("- run times (s, this run; 2 shared cores): "
                 + ", ".join(f"{k} {v}" for k, v in p["timings_s"].items())
                 + ". Fold models found with a matching stamp were reused, not retrained "
                 "(their fit times are those of the run that trained them).")
    lines.append(f"- code: {p['commit']}")
    return "\n".join(lines) + "\n"


def _ci(row: dict, name: str) -> str:
    low, high = row[f"{name}_ci95"] or (float("nan"), float("nan"))
    return f"{row[name]:.3f} [{low:.3f}, {high:.3f}]"


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


if __name__ == "__main__":
    main()
