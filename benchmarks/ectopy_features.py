"""Ectopic-beat and RR-scatter features for the feature detector, on development records.

    .venv/bin/python benchmarks/ectopy_features.py [--max-records N]

Two arms of the ``features_gb`` release recipe (scanner windows of every CinC record, with the
noise-augmented copies of :class:`ecgutils.noise_augment.NoiseAugmentation` in training):

* ``base`` — the 27 features the shipped model read before
  (:data:`ecgutils.features.BEFORE_ECTOPY`);
* ``ectopy`` — the same plus the 7 of :mod:`ecgutils.ectopy` (odd-QRS share, NN share and
  irregularity, Lorenz-plot occupancy, SD1/SD2, turning points), computed by the scanner
  itself on the clean or noisy record.

Protocol and rule: those of ``benchmarks/quality_features.py`` (fixed before any result):
fitted on the CinC records outside the development set, threshold from inner record-grouped
out-of-fold records, scored on the development records clean and remade with NSTDB training
noise (bw, ma at 12, 6, 0 dB); adopt when the clean F1 falls by no more than 0.01 and the
clean AUROC by no more than 0.005, and the clean F1 or the mean noisy F1 rises by at least
0.01. mitdb and notebook 08's test noise are not looked at. Result (2026-12-01): adopt —
the 7 features are now part of :data:`ecgutils.features.FEATURES`.
Writes reports/benchmarks-ectopy-features.md and .json.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from quality_features import (  # noqa: E402
    AUGMENTATION,
    EVAL_SEED,
    NOISES,
    SEED,
    SNRS_DB,
    condition_row,
    decide,
    score,
)

from ecgutils import config, ectopy, feature_model, features, noise_study, release  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

ARMS = {"base": tuple(features.BEFORE_ECTOPY),
        "ectopy": tuple(features.BEFORE_ECTOPY) + ectopy.FEATURES}
ALL = ARMS["ectopy"]
OUT = config.published_dir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-records", type=int, default=None,
                        help="the first N CinC records only (testing)")
    args = parser.parse_args()
    began = time.perf_counter()
    table = release.training_windows(max_records=args.max_records, augmentation=AUGMENTATION,
                                     columns=ALL)
    print(f"{len(table)} training windows, {time.perf_counter() - began:.0f} s", flush=True)
    fitted = {arm: feature_model.development_fit(table, seed=SEED, columns=columns)
              for arm, columns in ARMS.items()}
    development = fitted["base"]["scores"]["group"].to_numpy()
    rows = [condition_row("clean", {arm: f["scores"].assign(threshold=f["threshold"])
                                    for arm, f in fitted.items()}, new="ectopy")]
    rng = np.random.default_rng(EVAL_SEED)
    for noise in NOISES:
        for snr in SNRS_DB:
            draws = pd.DataFrame({"record": development, "noise": noise, "snr_db": float(snr),
                                  "where": rng.random(development.size)})
            noisy = release.noisy_scanner_windows(draws, columns=ALL)
            rows.append(condition_row(noise_study.condition_name(noise, snr),
                                      {arm: score(noisy, f, ARMS[arm])
                                       for arm, f in fitted.items()}, new="ectopy"))
    results = pd.DataFrame(rows)
    decision = decide(results)
    importance = split_counts(fitted["ectopy"]["model"])
    payload = {"run": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
               "max_records": args.max_records, "augmentation": asdict(AUGMENTATION),
               "eval_seed": EVAL_SEED, "development_records": int(development.size),
               "development_af": int(fitted["base"]["scores"]["y"].sum()),
               "train_windows": fitted["base"]["train_windows"],
               "results": results.to_dict(orient="records"), "decision": decision,
               "features": list(ectopy.FEATURES), "model_uses": importance,
               "wall_s": round(time.perf_counter() - began, 1)}
    atomic_write_json(OUT / "benchmarks-ectopy-features.json", payload)
    atomic_write_text(OUT / "benchmarks-ectopy-features.md", markdown(payload))
    print(markdown(payload))


def split_counts(model) -> dict[str, int]:
    """How often the fitted ``ectopy`` arm splits on each new feature (its trees' nodes):
    whether the model reads them at all, not how much they help."""
    counts = dict.fromkeys(ectopy.FEATURES, 0)
    first = len(features.BEFORE_ECTOPY)
    for per_class in model._predictors:
        for tree in per_class:
            for node in tree.nodes:
                if not node["is_leaf"] and node["feature_idx"] >= first:
                    counts[ectopy.FEATURES[node["feature_idx"] - first]] += 1
    return counts


def markdown(p: dict) -> str:
    d = p["decision"]

    def ci(pair):
        return f"[{pair[0]:+.3f}, {pair[1]:+.3f}]"

    lines = [
        "# Ectopic-beat and RR-scatter features for the feature detector (features_gb)\n",
        f"`benchmarks/ectopy_features.py`, run {p['run']}. Both arms: the `make model` recipe "
        f"with noise augmentation, fitted on the CinC records outside the development set "
        f"({p['train_windows']} windows, clean and noisy copies), threshold from inner "
        f"record-grouped out-of-fold records; scored on the {p['development_records']} "
        f"development records ({p['development_af']} AF), each the mean of its windows. Noisy "
        "rows: the development records remade with NSTDB noise from the *training* segments "
        f"(draws of seed {p['eval_seed']}). `ectopy` adds {', '.join(p['features'])} "
        "(ecgutils.ectopy) to the 27 features of `base`.\n",
        "| condition | records | F1 base | F1 ectopy | F1 gap [95 % CI] | AUROC base | "
        "AUROC ectopy | AUROC gap [95 % CI] |",
        "|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in p["results"]:
        lines.append(f"| {r['condition']} | {r['records']} | {r['f1_base']:.3f} | "
                     f"{r['f1_ectopy']:.3f} | {r['f1_gap']:+.3f} {ci(r['f1_gap_ci95'])} | "
                     f"{r['auroc_base']:.3f} | {r['auroc_ectopy']:.3f} | "
                     f"{r['auroc_gap']:+.3f} {ci(r['auroc_gap_ci95'])} |")
    uses = ", ".join(f"{k} {v}" for k, v in p["model_uses"].items())
    lines += ["", f"Tree splits on the new features in the `ectopy` model: {uses}.", "",
              "Rule (fixed before any result, that of benchmarks/quality_features.py): adopt "
              "when the clean F1 falls by no more than 0.01 and the clean AUROC by no more "
              "than 0.005, and the clean F1 or the mean noisy F1 rises by at least 0.01.", "",
              f"Clean F1 gap {d['clean_f1_gap']:+.3f}, clean AUROC gap "
              f"{d['clean_auroc_gap']:+.3f}, mean noisy F1 gap {d['mean_noisy_f1_gap']:+.3f}: "
              f"**{'adopt' if d['adopt'] else 'do not adopt'}**. ({p['wall_s']:.0f} s)"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
