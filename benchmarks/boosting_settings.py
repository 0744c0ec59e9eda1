"""Gradient-boosting settings of the feature detector, chosen inside the training part.

    .venv/bin/python benchmarks/boosting_settings.py [--max-records N]

The shipped ``features_gb`` model has used one setting of scikit-learn's
``HistGradientBoostingClassifier`` since notebook 03c (:data:`ecgutils.feature_model.BOOSTING`:
300 trees, learning rate 0.05, 31 leaves, class-balanced weights), never tuned. This measures
a small grid, fixed before any result (:data:`CANDIDATES`), in two stages:

1. **Selection, on the non-development records only**: each candidate's inner record-grouped
   5-fold out-of-fold record probabilities over the CinC records outside the development set
   (the ``make model`` recipe: scanner windows, noisy copies in training only, a record = the
   mean of its windows); the candidate with the best out-of-fold F1 (at its own F1-best
   threshold; ties by AUROC) is chosen. The development records are not looked at.
2. **Confirmation, on the development records**: the chosen candidate against the current
   setting with ``benchmarks/quality_features.py``'s protocol and rule (clean and NSTDB
   training-noise conditions; adopt when the clean F1 falls by no more than 0.01 and the clean
   AUROC by no more than 0.005, and the clean F1 or the mean noisy F1 rises by at least 0.01).
   When the current setting is chosen, it stays and stage 2 is not run.

mitdb and notebook 08's test noise are not looked at.
Writes reports/benchmarks-boosting-settings.md and .json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality_features import SEED, arguments, compare, report, training_table  # noqa: E402

from ecgutils import config, feature_model, features, metrics, release, splits  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from ecgutils.progress import progress  # noqa: E402

CURRENT = dict(feature_model.BOOSTING)
# The grid, fixed before any result: one lever at a time around the current setting, and
# one combination of the usual regularisers.
CANDIDATES: dict[str, dict] = {
    "current": CURRENT,
    "more_trees": {**CURRENT, "max_iter": 600},
    "slower_longer": {**CURRENT, "learning_rate": 0.025, "max_iter": 600},
    "bigger_trees": {**CURRENT, "max_leaf_nodes": 63},
    "smaller_trees_longer": {**CURRENT, "max_leaf_nodes": 15, "max_iter": 600},
    "min_leaf_100_l2": {**CURRENT, "min_samples_leaf": 100, "l2_regularization": 1.0},
    "feature_subsample": {**CURRENT, "max_features": 0.5},
}
DEV_FRACTION = 0.2
OUT = config.published_dir()


def main() -> None:
    args = arguments(__doc__)
    table, began = training_table(args.max_records)
    selection = select(table)
    chosen = selection.iloc[0]["candidate"]
    payload = {"candidates": CANDIDATES, "selection": selection.to_dict(orient="records"),
               "chosen": chosen}
    if chosen != "current":
        arms = {"base": tuple(features.FEATURES), chosen: tuple(features.FEATURES)}
        compared, _ = compare(table, arms, chosen, release.noisy_scanner_windows,
                              args.max_records, began, boosting={chosen: CANDIDATES[chosen]})
        payload.update(compared)
    payload["wall_s"] = round(time.perf_counter() - began, 1)
    atomic_write_json(OUT / "benchmarks-boosting-settings.json", payload)
    atomic_write_text(OUT / "benchmarks-boosting-settings.md", markdown(payload))
    print(markdown(payload))


def select(table: pd.DataFrame) -> pd.DataFrame:
    """Stage 1: each candidate's inner out-of-fold record F1 (at its F1-best threshold) and
    AUROC over the non-development records, best first."""
    names = table["record"].astype(str).to_numpy()
    per_record = table.groupby("record", sort=True)["rhythm_class"].first()
    development, rest = feature_model.development_records(per_record, DEV_FRACTION, SEED)
    rows = np.isin(names, rest)
    splits.assert_disjoint(train=names[rows], test=development)
    clean = ~table["noisy"].to_numpy(dtype=bool)
    X = table[list(features.FEATURES)].to_numpy(dtype=float)[rows]
    classes = feature_model.classes_of(table)[rows]
    out = []
    for name, settings in progress(list(CANDIDATES.items()), "boosting candidates"):
        t0 = time.perf_counter()
        y, prob = feature_model.inner_out_of_fold(X, classes, names[rows], seed=SEED,
                                                  per_group=True, scored=clean[rows],
                                                  boosting=settings)
        threshold = metrics.best_threshold(y, prob)
        m = metrics.binary_metrics(y, prob, threshold)
        out.append({"candidate": name, "records": int(y.size), "af_records": int(y.sum()),
                    "f1": m["f1"], "auroc": m["auroc"], "threshold": threshold,
                    "wall_s": round(time.perf_counter() - t0, 1)})
        print(out[-1], flush=True)
    return (pd.DataFrame(out).sort_values(["f1", "auroc"], ascending=False, kind="stable")
            .reset_index(drop=True))


def markdown(p: dict) -> str:
    lines = ["## Stage 1: selection on the non-development records (inner out-of-fold)\n",
             "| candidate | settings changed | records | F1 (own best threshold) | AUROC | fit "
             "wall (s, 5 inner fits) |", "|---|---|---:|---:|---:|---:|"]
    for r in p["selection"]:
        changed = {k: v for k, v in p["candidates"][r["candidate"]].items()
                   if CURRENT.get(k) != v}
        lines.append(f"| {r['candidate']} | {changed or 'the current setting'} | "
                     f"{r['records']} | {r['f1']:.3f} | {r['auroc']:.3f} | {r['wall_s']:.0f} |")
    lines.append(f"\nChosen: **{p['chosen']}**.")
    stage1 = "\n".join(lines) + "\n"
    if p["chosen"] == "current":
        return ("# Gradient-boosting settings of the feature detector (features_gb)\n\n"
                "`benchmarks/boosting_settings.py`. " + stage1 +
                "\nThe current setting stays; stage 2 (development records) was not run.\n")
    stage2 = report(p, p["chosen"], "Gradient-boosting settings of the feature detector "
                    "(features_gb)", "benchmarks/boosting_settings.py",
                    f"`base` is the current setting, `{p['chosen']}` the candidate stage 1 "
                    "chose (below).", "\n" + stage1)
    return stage2


if __name__ == "__main__":
    main()
