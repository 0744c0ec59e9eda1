"""Does the CNN detector add anything to the feature detector? Record-level stacking on
development records.

    .venv/bin/python benchmarks/cnn_stacking.py [--max-records N]

The shipped model reads 38 hand-made features; the CNN detector of notebook 03b reads the
waveform (and RR features) and alone is far weaker on the development records (F1 0.720
against 0.845, ``benchmarks/levers.py``). Whether it sees something the features miss is a
separate question, and the only one that could justify a CNN in the scanner (where it would
cost most of the speed). Measured without a reported fold, with nothing chosen on the
development records:

* the CNN detector is fitted as ``benchmarks/levers.py``'s ``detector`` row (on the
  non-development records minus 10 % validation records, early stopping and threshold on
  those); it scores the validation and the development records;
* the feature detector (the ``make model`` recipe with noise augmentation) scores the
  validation records out of fold (inner record-grouped 5-fold over the non-development
  records, each record by a model that never saw it) and the development records (fitted
  on every non-development record);
* ``stacked``: a logistic regression on the two models' record logits, fitted on the
  validation records, its threshold the F1-best there; ``base``: the feature detector alone
  at its own inner out-of-fold threshold (as in every feature-detector benchmark).

Rule, fixed before any result: a CNN is worth building into the shipped model (a later step:
the scanner, the release and its cross-validation would all change) when, on the clean
development records, the stacked F1 exceeds the feature detector's by at least 0.01 and its
AUROC is not lower by more than 0.005. Clean records only: the CNN's inputs under noise are
not built here. mitdb is not looked at. Writes reports/benchmarks-cnn-stacking.md and .json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from levers import run_config  # noqa: E402
from quality_features import N_BOOT, SEED, arguments, training_table  # noqa: E402
from scipy.special import logit  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from ecgutils import config, feature_model, features, metrics, preprocess  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

OUT = config.published_dir()


def main() -> None:
    args = arguments(__doc__)
    table, began = training_table(args.max_records)
    gb = feature_model.development_fit(table, seed=SEED)
    entry = preprocess.build(preprocess.detector_params("cinc2017",
                                                        max_records=args.max_records))
    cnn = run_config("detector", {"125": entry})
    print(f"CNN fitted ({cnn['epochs']} epochs), {time.perf_counter() - began:.0f} s",
          flush=True)
    validation = cnn["validation_scores"]["group"].astype(str).to_numpy()
    gb_val = out_of_fold(table, gb["scores"]["group"].to_numpy(), validation)
    both = {
        "validation": merge(gb_val, cnn["validation_scores"]),
        "development": merge(gb["scores"], cnn["scores"]),
    }
    dev = both["development"]
    missing = sorted(set(gb["scores"]["group"]) - set(dev["group"]))
    X = {part: logit(np.clip(t[["prob_gb", "prob_cnn"]].to_numpy(), 1e-6, 1 - 1e-6))
         for part, t in both.items()}
    stacker = LogisticRegression().fit(X["validation"], both["validation"]["y"])
    val_prob = stacker.predict_proba(X["validation"])[:, 1]
    threshold = metrics.best_threshold(both["validation"]["y"].to_numpy(), val_prob)
    arms = {"base": (dev["prob_gb"].to_numpy(), gb["threshold"]),
            "cnn_alone": (dev["prob_cnn"].to_numpy(), cnn["threshold"]),
            "stacked": (stacker.predict_proba(X["development"])[:, 1], threshold)}
    y, groups = dev["y"].to_numpy(), dev["group"].to_numpy()
    rows = {}
    for arm, (prob, thr) in arms.items():
        m = metrics.binary_metrics(y, prob, thr)
        rows[arm] = {"f1": m["f1"], "se": m["se"], "ppv": m["ppv"], "auroc": m["auroc"],
                     "threshold": float(thr)}
    gap = metrics.bootstrap_gap((y, arms["stacked"][0], groups, np.full(y.size, threshold)),
                                (y, arms["base"][0], groups, np.full(y.size, gb["threshold"])),
                                n_boot=N_BOOT, seed=SEED)
    gap = {name: {"gap": float(v[0]), "ci95": [float(v[1]), float(v[2])]}
           for name, v in gap.items()}
    payload = {"run": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
               "max_records": args.max_records, "development_records": int(y.size),
               "development_af": int(y.sum()), "left_out": missing,
               "validation_records": len(both["validation"]),
               "validation_af": int(both["validation"]["y"].sum()),
               "cnn_epochs": cnn["epochs"], "stacker_coef": stacker.coef_[0].tolist(),
               "arms": rows, "gap": gap, "wall_s": round(time.perf_counter() - began, 1)}
    f1_gap, auroc_gap = gap["f1"]["gap"], gap["auroc"]["gap"]
    payload["worth_building"] = bool(f1_gap >= 0.01 and auroc_gap >= -0.005)
    atomic_write_json(OUT / "benchmarks-cnn-stacking.json", payload)
    atomic_write_text(OUT / "benchmarks-cnn-stacking.md", markdown(payload))
    print(markdown(payload))


def out_of_fold(table: pd.DataFrame, development: np.ndarray,
                wanted: np.ndarray) -> pd.DataFrame:
    """The feature detector's inner out-of-fold record probabilities over the
    non-development records, kept for the records ``wanted``."""
    names = table["record"].astype(str).to_numpy()
    rest = ~np.isin(names, development)
    clean = ~table["noisy"].to_numpy(dtype=bool)
    X = table[list(features.FEATURES)].to_numpy(dtype=float)[rest]
    y, prob = feature_model.inner_out_of_fold(X, feature_model.classes_of(table)[rest],
                                              names[rest], seed=SEED, scored=clean[rest])
    scores = features.record_scores(names[rest][clean[rest]], y, prob).rename(
        columns={"record": "group"})
    return scores[scores["group"].isin(wanted)]


def merge(gb: pd.DataFrame, cnn: pd.DataFrame) -> pd.DataFrame:
    """Records both models scored (a record the CNN's windows leave out is dropped), their
    labels checked to agree."""
    both = gb.astype({"group": str}).merge(cnn.astype({"group": str}), on="group",
                                           suffixes=("_gb", "_cnn"))
    if not (both["y_gb"] == both["y_cnn"]).all():
        raise AssertionError("the two models disagree on a record's AF label")
    return both.rename(columns={"y_gb": "y"}).drop(columns="y_cnn")


def markdown(p: dict) -> str:
    g = p["gap"]

    def ci(name):
        lo, hi = g[name]["ci95"]
        return f"{g[name]['gap']:+.3f} [{lo:+.3f}, {hi:+.3f}]"

    lines = [
        "# Does the CNN detector add to the feature detector? (record-level stacking)\n",
        f"`benchmarks/cnn_stacking.py`, run {p['run']}. Scored on {p['development_records']} "
        f"CinC development records ({p['development_af']} AF); the stacker (logistic "
        f"regression on the two record logits; coefficients gb {p['stacker_coef'][0]:.2f}, "
        f"cnn {p['stacker_coef'][1]:.2f}) and its threshold fitted on "
        f"{p['validation_records']} validation records ({p['validation_af']} AF) carved "
        "from the non-development records, scored there by the feature detector out of fold "
        f"and by the CNN detector (which stopped early on them; {p['cnn_epochs']} epochs). "
        "Clean records only.\n",
        "| arm | F1 | Se | +P | AUROC | threshold |", "|---|---:|---:|---:|---:|---:|"]
    for arm, r in p["arms"].items():
        lines.append(f"| {arm} | {r['f1']:.3f} | {r['se']:.3f} | {r['ppv']:.3f} | "
                     f"{r['auroc']:.3f} | {r['threshold']:.3f} |")
    lines += ["", f"Stacked − base (paired bootstrap over development records): F1 {ci('f1')}, "
              f"AUROC {ci('auroc')}.", "",
              "Rule (fixed before any result, in benchmarks/cnn_stacking.py): a CNN is worth "
              "building into the shipped model when the stacked F1 exceeds the feature "
              "detector's by at least 0.01 and its AUROC is not lower by more than 0.005.", "",
              f"**{'worth building' if p['worth_building'] else 'not worth building'}**. "
              f"({p['wall_s']:.0f} s)"]
    if p["left_out"]:
        lines.append(f"\n{len(p['left_out'])} development records have no CNN window and are "
                     "left out of every arm.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
