"""What each lever of the detector buys on CinC 2017, on development records only.

    .venv/bin/python benchmarks/levers.py [--only NAME ...] [--max-records N]

The selection protocol of notebook 03b (``ecgutils.detector_study``): CinC records are split
once, stratified by class, into 20 % *development* records and the rest. Every row trains on
the rest (10 % of it carved out as validation records for early stopping and the threshold)
and is scored on the development records, per record (AF vs rest; a record's probability is
the mean over its windows, or its one centred window). The development records are never in a
reported test fold of 03b, so what this table chooses does not look at reported numbers.

Each row changes one thing against the row named in ``base``; ``gap`` is its F1 and AUROC
minus the base row's, with a paired bootstrap CI over development records. ``stacked`` combines
the waveform-only and rhythm-only models by a logistic regression fitted on the validation
records, against the one two-input model (``detector``). ``features_gb`` has no CNN: the
rhythm and atrial-activity features of the whole record (``ecgutils.feature_model``) in
gradient boosting, its threshold from out-of-fold predictions over the non-development
records; ``features_gb_rhythm_only`` drops the atrial features. The last rows repeat
the chosen detector with two more seeds: their spread is the training noise that the bootstrap
(which holds the trained model fixed) cannot see, and their average is a 3-model ensemble.
Writes reports/benchmarks-levers.md and .json. This machine is noisy (up to 2x between runs):
compare timings of one run only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ecgutils import (  # noqa: E402
    config,
    detector_study,
    feature_model,
    metrics,
    preprocess,
    release,
    reporting,
    train,
)
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

SEED = config.DEFAULT_SEED
EPOCHS = {"epochs": 24, "patience": 6}
# name → (entry, base row, centre only, DetectorConfig, detector hyper-parameters, seed offset)
# entry "250": today's preprocessing (250 Hz, one centred window per record); "125": the
# detector's (125 Hz, every window on a 5-s grid).
BINARY = {"n_classes": 1}
WAVEFORM = {"rhythm": False}
CONFIGS: dict[str, tuple] = {
    # Today's 1D CNN (notebook 03): 250 Hz, one centred window, AF vs rest, waveform only.
    "today_cnn1d": ("250", None, True, BINARY, WAVEFORM, 0),
    # Lever 4 alone: 125 Hz.
    "fs_125": ("125", "today_cnn1d", True, BINARY, WAVEFORM, 0),
    # Lever 1 alone (at 125 Hz): random crops of whole records, record = mean of its windows.
    "whole_records": ("125", "fs_125", False, BINARY, WAVEFORM, 0),
    # Lever 2 alone: four classes (N/A/O/~), AF read out as class A.
    "four_classes": ("125", "fs_125", True, {}, WAVEFORM, 0),
    # Lever 3 alone: RR features as a second input.
    "rr_input": ("125", "fs_125", True, BINARY, {}, 0),
    # The rhythm branch alone (no waveform), with levers 1 and 2: what RR features alone give.
    "rr_only": ("125", "detector", False, {}, {"waveform": False}, 0),
    # All levers: the detector.
    "detector": ("125", "fs_125", False, {}, {}, 0),
    # The detector minus one lever each.
    "detector_no_rr": ("125", "detector", False, {}, WAVEFORM, 0),
    "detector_binary": ("125", "detector", False, BINARY, {}, 0),
    "detector_centre_only": ("125", "detector", True, {}, {}, 0),
    # Architecture: four convolution blocks instead of five.
    "detector_4_blocks": ("125", "detector", False, {}, {"filters": (16, 32, 64, 64)}, 0),
    # Seeds (training noise) and their 3-model ensemble (lever 5).
    "detector_seed_2": ("125", "detector", False, {}, {}, 1),
    "detector_seed_3": ("125", "detector", False, {}, {}, 2),
}
# No CNN: rhythm and atrial-activity features of the whole record in gradient boosting
# (ecgutils.feature_model), and the same with the rhythm features only; name → (base, features).
# Feature rows: (the row they are compared with, their columns). features_gb_scanner is the
# shipped recipe: the same model on the scanner's own 20-s windows (10-s step, 125 Hz,
# band-passed), a record scored as the mean of its windows (ecgutils.release).
FEATURE_ROWS = {"features_gb": ("detector", "all"),
                "features_gb_rhythm_only": ("features_gb", "rhythm"),
                "features_gb_scanner": ("features_gb", "scanner")}
ENSEMBLE = ("detector", "detector_seed_2", "detector_seed_3")
# Stacking instead of one two-input model: a logistic regression on the logits of the
# waveform-only and the rhythm-only models' record probabilities, fitted on the validation
# records (which neither model trained on), scored on the development records.
STACKED = ("detector_no_rr", "rr_only")


def run_config(name: str, entries: dict) -> dict:
    source, _, centre_only, dcfg, hyper, seed_offset = CONFIGS[name]
    dcfg = train.DetectorConfig(crops=not centre_only, aggregate=not centre_only,
                                **{"n_classes": 4, **dcfg})
    cfg = train.TrainConfig(seed=SEED + seed_offset, **EPOCHS)
    began = time.perf_counter()
    fitted = detector_study.development_fit(entries[source], cfg, dcfg, hyper,
                                            centre_only=centre_only, split_seed=SEED)
    fitted["wall_s"] = time.perf_counter() - began
    return fitted


def run_features(name: str, max_records: int | None) -> dict:
    began = time.perf_counter()
    kind = FEATURE_ROWS[name][1]
    columns = feature_model.RHYTHM_ONLY if kind == "rhythm" else feature_model.FEATURES
    table = feature_model.cinc_table(max_records)
    if kind == "scanner":
        windows = release.scanner_windows()
        table = windows[windows["record"].isin(table.index)].reset_index(drop=True)
    fitted = feature_model.development_fit(table, seed=SEED, columns=columns)
    return {"config": name, "threshold": fitted["threshold"], "epochs": fitted["epochs"],
            "best_epoch": None, "train_windows_per_s": None, "params": None,
            "wall_s": time.perf_counter() - began,
            "run": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "scores": fitted["scores"], "validation_scores": fitted["scores"].iloc[:0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted([*CONFIGS, *FEATURE_ROWS]),
                        help="rows to run")
    parser.add_argument("--max-records", type=int, default=None, help="CinC subset (testing)")
    args = parser.parse_args()
    entries = {
        "250": preprocess.build(preprocess.default_params("cinc2017",
                                                          max_records=args.max_records)),
        "125": preprocess.build(preprocess.detector_params("cinc2017",
                                                           max_records=args.max_records)),
    }
    out = config.reports_dir()
    scores_path = out / "benchmarks-levers-scores.csv"
    # Scores of earlier runs (same subset) are kept: --only replaces just its rows.
    previous = out / "benchmarks-levers.json"
    results: dict[str, dict] = {}
    if previous.is_file() and scores_path.is_file():
        earlier = json.loads(previous.read_text())
        if earlier.get("max_records") == args.max_records:
            stored = pd.read_csv(scores_path, dtype={"group": str})
            if "part" not in stored:
                stored["part"] = "development"
            for row in earlier["rows"]:
                mine = stored[stored["config"] == row["config"]]
                if len(mine):
                    results[row["config"]] = {**row, **{
                        key: mine[mine["part"] == part].drop(columns=["config", "part"])
                        .reset_index(drop=True)
                        for key, part in (("scores", "development"),
                                          ("validation_scores", "validation"))}}
    for name in args.only or [*CONFIGS, *FEATURE_ROWS]:
        if name in FEATURE_ROWS:
            results[name] = run_features(name, args.max_records)
            _write(results, args, scores_path)
            continue
        fitted = run_config(name, entries)
        results[name] = {"config": name, "threshold": fitted["threshold"],
                         "epochs": fitted["epochs"], "best_epoch": fitted["best_epoch"],
                         "train_windows_per_s": fitted["train_windows_per_s"],
                         "wall_s": fitted["wall_s"], "params": fitted["params"],
                         "run": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                         "scores": fitted["scores"],
                         "validation_scores": fitted["validation_scores"]}
        print(name, metrics.binary_metrics(fitted["scores"]["y"], fitted["scores"]["prob"],
                                           fitted["threshold"])["f1"], flush=True)
        _write(results, args, scores_path)


def table(results: dict[str, dict], n_boot: int = 1000) -> pd.DataFrame:
    """One row per configuration: F1/Se/+P at its validation threshold and AUROC on the
    development records, and its gap to the base row with a paired bootstrap CI."""
    rows = []
    extra = ["ensemble_3_seeds"] if all(n in results for n in ENSEMBLE) else []
    if all(n in results and len(results[n].get("validation_scores", ())) for n in STACKED):
        extra.append("stacked")
    for name in [n for n in [*CONFIGS, *FEATURE_ROWS] if n in results] + extra:
        if name == "stacked":
            scores, threshold = _stacked(results)
            base, info = "detector", {"epochs": None, "wall_s": sum(
                results[n]["wall_s"] for n in STACKED)}
        elif name == "ensemble_3_seeds":
            parts = [results[n] for n in ENSEMBLE]
            scores = parts[0]["scores"].copy()
            scores["prob"] = np.mean([p["scores"]["prob"].to_numpy() for p in parts], axis=0)
            threshold = float(np.median([p["threshold"] for p in parts]))
            base = "detector"
            info = {"epochs": None, "wall_s": sum(p["wall_s"] for p in parts)}
        else:
            scores, threshold = results[name]["scores"], results[name]["threshold"]
            base = CONFIGS[name][1] if name in CONFIGS else FEATURE_ROWS[name][0]
            info = results[name]
        m = metrics.binary_metrics(scores["y"].to_numpy(), scores["prob"].to_numpy(), threshold)
        row = {"config": name, "base": base or "", "f1": m["f1"], "se": m["se"],
               "ppv": m["ppv"], "auroc": m["auroc"], "threshold": round(threshold, 3)}
        if base in results:
            other = results[base]
            gap = metrics.bootstrap_gap(
                (scores["y"], scores["prob"], scores["group"], threshold),
                (other["scores"]["y"], other["scores"]["prob"], other["scores"]["group"],
                 other["threshold"]), n_boot=n_boot, seed=SEED)
            for metric in ("f1", "auroc"):
                value, low, high = gap[metric]
                row[f"{metric}_gap"] = f"{value:+.3f} [{low:+.3f}, {high:+.3f}]"
        epochs, rate = info.get("epochs"), info.get("train_windows_per_s")
        row.update({"epochs": "n/a" if epochs is None else str(int(epochs)),
                    "wall_s": round(info["wall_s"]),
                    "train_windows_per_s": "n/a" if rate is None else str(round(rate))})
        rows.append(row)
    return pd.DataFrame(rows)


def _stacked(results: dict[str, dict]) -> tuple[pd.DataFrame, float]:
    from scipy.special import logit
    from sklearn.linear_model import LogisticRegression

    def features(key: str) -> tuple[np.ndarray, pd.DataFrame]:
        tables = [results[n][key].sort_values("group").reset_index(drop=True) for n in STACKED]
        if not all(t["group"].equals(tables[0]["group"]) for t in tables):
            raise ValueError("stacked models scored different records")
        probs = np.column_stack([np.clip(t["prob"], 1e-6, 1 - 1e-6) for t in tables])
        return logit(probs), tables[0]

    X_val, val = features("validation_scores")
    X_dev, dev = features("scores")
    stacker = LogisticRegression().fit(X_val, val["y"])
    val_prob = stacker.predict_proba(X_val)[:, 1]
    threshold = metrics.best_threshold(val["y"].to_numpy(), val_prob)
    scores = dev[["group", "y"]].copy()
    scores["prob"] = stacker.predict_proba(X_dev)[:, 1]
    return scores, threshold


def seed_spread(results: dict[str, dict]) -> dict[str, float] | None:
    if not all(n in results for n in ENSEMBLE):
        return None
    f1 = {index: metrics.binary_metrics(results[n]["scores"]["y"], results[n]["scores"]["prob"],
                                        results[n]["threshold"])["f1"]
          for index, n in enumerate(ENSEMBLE)}
    return detector_study.seed_spread(f1)


def _write(results: dict[str, dict], args: argparse.Namespace, scores_path: Path) -> None:
    """Write the table of every row so far (a long run keeps what it measured if stopped)."""
    shown = table(results)
    first = next(iter(results.values()))["scores"]
    spread = seed_spread(results)
    header = (
        "# Detector levers on CinC 2017 development records (AF vs rest, per record)\n\n"
        f"Trained on the non-development records, scored on {len(first)} development records "
        f"({int(first['y'].sum())} AF) that no reported test fold of notebook 03b contains. "
        "F1/Se/+P at the threshold chosen on validation records; gaps: row − base with a "
        "paired bootstrap CI over development records. Timings of rows from different runs "
        "(column `run` in the JSON) are not comparable; this machine is noisy.\n\n")
    if spread:
        header += (f"Seed spread of the detector's F1 over {spread['n_seeds']} seeds: mean "
                   f"{spread['f1_seed_mean']:.3f}, SD {spread['f1_seed_sd']:.3f}.\n\n")
    text = header + reporting.markdown_table(shown)
    print(text)
    out = config.reports_dir()
    atomic_write_text(out / "benchmarks-levers.md", text)
    atomic_write_json(out / "benchmarks-levers.json", {
        "max_records": args.max_records, "seed_spread": spread,
        "rows": [{k: v for k, v in r.items() if k not in ("scores", "validation_scores", "model")}
                 for r in results.values()],
        "table": shown.to_dict(orient="records")})
    stored = pd.concat([r[key].assign(config=name, part=part) for name, r in results.items()
                        for key, part in (("scores", "development"),
                                          ("validation_scores", "validation"))
                        if key in r])
    atomic_write_text(scores_path, stored.to_csv(index=False))


if __name__ == "__main__":
    main()
