"""What each training lever buys on CinC 2017 (AF vs not AF), side by side in one process.

    .venv/bin/python benchmarks/levers.py [--folds 2] [--only NAME ...]

Every configuration is cross-validated on the same record-grouped folds (the first
``--folds`` of the study's 5-fold StratifiedGroupKFold; CinC publishes no patient ids, so a
record is the group) and scored on the pooled out-of-fold windows: F1 at the fixed 0.5 cut and
at the threshold chosen on each fold's validation records, Se/Sp at that threshold, AUROC,
PR-AUC, calibration error before and after temperature scaling (fitted on validation), epochs
run, training throughput and wall time. Writes reports/benchmarks-levers.md and .json.
This machine is noisy (up to 2x between runs): compare rows of one run only.
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

from ecgutils import config, metrics, models, preprocess, reporting, splits, train  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

# name → (model kind, model hyper-parameters, training config overrides). Each row adds one
# lever to the row it names in its comment, so a difference is one change.
# The four-block 1D and three-block 2D models the table started from, pinned here because the
# builders' defaults are now the five-block models this table chose.
FOUR_BLOCKS = {"filters": (16, 32, 64, 64)}
THREE_BLOCKS_2D = {"filters": (16, 32, 64)}

CONFIGS: dict[str, tuple[str, dict, dict]] = {
    # The calibration baseline of the issue: plain CNN, constant LR, stop on val loss.
    "plain": ("cnn1d", FOUR_BLOCKS, {"epochs": 15, "schedule": "constant", "monitor": "val_loss",
                            "patience": 4}),
    # plain + cosine LR, stop on validation PR-AUC, 30 epochs.
    "schedule_prauc_30ep": ("cnn1d", FOUR_BLOCKS, {"epochs": 30, "patience": 8}),
    # schedule_prauc_30ep + residual blocks.
    "residual": ("cnn1d", {**FOUR_BLOCKS, "residual": True}, {"epochs": 30, "patience": 8}),
    # schedule_prauc_30ep + a fifth block: receptive field ~18 s instead of ~4.6 s, so the
    # features can compare many beats (AF is an irregular rhythm over many beats).
    "deep5": ("cnn1d", {"filters": (16, 32, 64, 64, 128)}, {"epochs": 30, "patience": 8}),
    # deep5 + a sixth block: the receptive field spans the whole 20-s window.
    "deep6": ("cnn1d", {"filters": (16, 32, 64, 64, 128, 128)}, {"epochs": 30, "patience": 8}),
    # deep5 + amplitude/shift/noise augmentation.
    "deep5_augment": ("cnn1d", {"filters": (16, 32, 64, 64, 128)},
                      {"epochs": 30, "patience": 8, "augment": True}),
    # deep5 + residual blocks.
    "deep5_residual": ("cnn1d", {"filters": (16, 32, 64, 64, 128), "residual": True},
                       {"epochs": 30, "patience": 8}),
    # schedule_prauc_30ep + wider filters.
    "wide": ("cnn1d", {"filters": (32, 64, 128, 128)}, {"epochs": 30, "patience": 8}),
    # schedule_prauc_30ep + amplitude/shift/noise augmentation.
    "augment": ("cnn1d", FOUR_BLOCKS, {"epochs": 30, "patience": 8, "augment": True}),
    # 2D CNN on spectrograms with the same training recipe.
    "cnn2d": ("cnn2d", THREE_BLOCKS_2D, {"epochs": 30, "patience": 8}),
    # cnn2d + two more blocks: the whole 20 s of receptive field along time instead of ~4.6 s.
    "cnn2d_deep5": ("cnn2d", {"filters": (16, 32, 64, 64, 128)}, {"epochs": 30, "patience": 8}),
}


def run_config(name: str, X_raw, X_stft, y, groups, folds) -> dict:
    kind, hyper, overrides = CONFIGS[name]
    X = X_raw if kind == "cnn1d" else X_stft
    if kind == "cnn2d":
        hyper = {"input_shape": tuple(X.shape[1:]), **hyper}
    began = time.perf_counter()
    result = train.cross_validate(X, y, groups, folds, lambda: models.build(kind, **hyper),
                                  train.TrainConfig(**overrides), name=name)
    wall = time.perf_counter() - began
    tested = result.tested
    fixed = metrics.binary_metrics(y[tested], result.prob[tested], 0.5)
    tuned = metrics.binary_metrics(y[tested], result.prob[tested], result.threshold[tested])
    calibrated = np.empty_like(result.prob)
    for fold in result.folds:
        temperature = metrics.fit_temperature(fold.validation_y, fold.validation_prob)
        calibrated[fold.test] = metrics.apply_temperature(fold.prob, temperature)
    return {
        "config": name, "model": kind,
        "f1_at_0.5": fixed["f1"], "f1_at_val_threshold": tuned["f1"],
        "se": tuned["se"], "sp": tuned["sp"], "auroc": fixed["auroc"], "pr_auc": fixed["pr_auc"],
        "ece": metrics.expected_calibration_error(y[tested], result.prob[tested]),
        "ece_temperature": metrics.expected_calibration_error(y[tested], calibrated[tested]),
        "epochs_run": float(np.mean([fold.epochs_run for fold in result.folds])),
        "train_windows_per_s": float(np.mean([f.train_windows_per_s for f in result.folds])),
        "predict_windows_per_s": float(np.mean([f.predict_windows_per_s
                                                for f in result.folds])),
        "wall_s": wall,
        "params": models.build(kind, **hyper).count_params(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=2, help="folds of the 5 to run")
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="configs to run")
    parser.add_argument("--max-records", type=int, default=None, help="CinC subset (testing)")
    args = parser.parse_args()
    entry = preprocess.build(preprocess.default_params("cinc2017",
                                                       max_records=args.max_records))
    manifest = entry.tables["manifest"]
    y = manifest["y"].to_numpy().astype(int)
    groups = manifest["patient_id"].to_numpy()
    folds = splits.grouped_folds(y, groups, n_splits=5, seed=config.DEFAULT_SEED)[: args.folds]
    X_raw, X_stft = np.asarray(entry.arrays["X"]), np.asarray(entry.arrays["S"])
    # Rows of earlier runs (other configurations, same folds) are kept: a run with --only
    # replaces just its rows. Timings of rows from different runs are not comparable.
    previous = config.reports_dir() / "benchmarks-levers.json"
    rows = {}
    if previous.is_file():
        earlier = json.loads(previous.read_text())
        if earlier.get("folds") == args.folds and earlier.get("max_records") == args.max_records:
            rows = {row["config"]: row for row in earlier["rows"]}
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    for name in args.only or CONFIGS:
        rows[name] = {**run_config(name, X_raw, X_stft, y, groups, folds), "run": stamp}
        print(rows[name], flush=True)
        _write(rows, args, folds)


def _write(rows: dict, args: argparse.Namespace, folds) -> None:
    """Write the table of every row so far (a long run keeps what it measured if stopped)."""
    previous = config.reports_dir() / "benchmarks-levers.json"
    table = pd.DataFrame([rows[name] for name in CONFIGS if name in rows])
    header = (f"# Training levers on CinC 2017 (AF vs rest), {args.folds} of 5 record-grouped "
              f"folds, {int(sum(f.test.size for f in folds))} out-of-fold records. Timings of "
              f"rows from different runs (column `run`) are not comparable; this machine is "
              f"noisy.\n\n")
    text = header + reporting.markdown_table(table)
    print(text)
    atomic_write_text(config.reports_dir() / "benchmarks-levers.md", text)
    atomic_write_json(previous, {"folds": args.folds, "max_records": args.max_records,
                                 "rows": table.to_dict(orient="records")})


if __name__ == "__main__":
    main()
