"""Noise augmentation for the feature detector (the shipped kind), measured on CinC only.

    .venv/bin/python benchmarks/noise_augmentation_features.py [--cinc-records N]
                                                               [--max-records N]

Two arms of the ``features_gb`` release recipe (:func:`ecgutils.release.feature_folds`: the
same record-grouped 5-fold CV over every CinC 2017 record here, the same seeds):

* ``clean`` — trained on the scanner's windows of every training record;
* ``noise_aug`` — the same plus a noisy copy of the windows of the records that
  :class:`ecgutils.noise_augment.NoiseAugmentation`'s defaults draw (half of them; NSTDB ``bw``
  or ``ma`` from the *training* segment of the noise record, SNR uniform in −6 … 24 dB,
  nst's definition, mixed into the raw lead before the scanner filters it and detects beats).
  Noisy copies are in training only.

Measured for both:

1. **CinC out of fold, clean**: every record scored by the fold model that never saw it (the
   mean of its windows), F1 at the fold thresholds, AUROC, paired bootstrap gaps over records.
2. **CinC out of fold under training-segment noise**: a seeded random subset of records,
   each remade with noise from the training segments (other draws than training's) at each
   noise and SNR, scanned, and scored by its out-of-fold model at its fold threshold.

The choice uses the rule of ``benchmarks/noise_augmentation.py`` (the CNN's), fixed before
any result: ship augmentation when the mean F1 over the noisy conditions rises by at least
0.01 while the clean F1 falls by no more than 0.01 and the clean AUROC by no more than
0.005. mitdb is not looked at here: notebook 08 and ``make model`` test the shipped bundle on
it afterwards, with 08's *test* noise segments.
Writes reports/benchmarks-noise-augmentation-features.md and .json.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from noise_augmentation import NOISES, SNRS_DB, decide  # noqa: E402

from ecgutils import (  # noqa: E402
    config,
    feature_model,
    features,
    metrics,
    noise_augment,
    noise_study,
    release,
)
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

ARMS = ("clean", "noise_aug")
AUGMENTATION = noise_augment.NoiseAugmentation()
SEED = config.DEFAULT_SEED
# The CinC noise of measurement 2: its own draws (offsets), apart from training's.
EVAL_SEED = config.DEFAULT_SEED + 1
N_BOOT = 1000
OUT = config.published_dir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cinc-records", type=int, default=1500,
                        help="records of the CinC noise measurement (seeded random subset)")
    parser.add_argument("--max-records", type=int, default=None,
                        help="the first N CinC records only (testing)")
    args = parser.parse_args()
    began = time.perf_counter()
    folds = {}
    for arm in ARMS:
        table = release.training_windows(
            max_records=args.max_records,
            augmentation=AUGMENTATION if arm == "noise_aug" else None)
        oof, models, _ = release.feature_folds(table, SEED)
        folds[arm] = {"oof": oof, "models": models, "train_windows": len(table)}
        print(f"{arm}: {len(table)} training windows, {time.perf_counter() - began:.0f} s",
              flush=True)
    clean = clean_results(folds)
    noisy = noisy_results(folds, args.cinc_records)
    decision = decide(clean, noisy, base="clean")  # the CNN benchmark's rule
    payload = {"run": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
               "max_records": args.max_records, "cinc_records": args.cinc_records,
               "augmentation": asdict(AUGMENTATION), "eval_seed": EVAL_SEED,
               "train_windows": {arm: folds[arm]["train_windows"] for arm in ARMS},
               "clean": clean, "noisy": noisy.to_dict(orient="records"),
               "decision": decision, "wall_s": round(time.perf_counter() - began, 1)}
    atomic_write_json(OUT / "benchmarks-noise-augmentation-features.json", payload)
    atomic_write_text(OUT / "benchmarks-noise-augmentation-features.md", markdown(payload))
    print(markdown(payload))


def clean_results(folds: dict) -> dict:
    """Measurement 1: each arm's out-of-fold metrics and the paired gap."""
    out = {}
    for arm in ARMS:
        oof = folds[arm]["oof"]
        m = metrics.evaluate(oof["y"], oof["prob"], oof["record"],
                             threshold=oof["fold_threshold"].to_numpy(), n_boot=N_BOOT,
                             seed=SEED)
        out[arm] = {key: m[key] for key in ("f1", "f1_ci95", "auroc", "auroc_ci95", "se", "ppv")}
    first, second = (folds[arm]["oof"] for arm in reversed(ARMS))
    gap = metrics.bootstrap_gap(*[(o["y"], o["prob"], o["record"],
                                   o["fold_threshold"].to_numpy()) for o in (first, second)],
                                n_boot=N_BOOT, seed=SEED)
    out["gap"] = {metric: list(gap[metric]) for metric in ("f1", "auroc")}
    return out


def noisy_results(folds: dict, n_records: int) -> pd.DataFrame:
    """Measurement 2: the subset's records under each noise and SNR (training segments, the
    evaluation draws), scored by their out-of-fold models at their fold thresholds."""
    oof = folds[ARMS[0]]["oof"].set_index("record")
    rng = np.random.default_rng(EVAL_SEED)
    names = np.sort(rng.choice(oof.index.to_numpy(), size=min(n_records, len(oof)),
                               replace=False))
    rows = []
    conditions = [("clean", None, None)] + [(noise_study.condition_name(noise, snr), noise, snr)
                                            for noise in NOISES for snr in SNRS_DB]
    for condition, noise, snr in conditions:
        if noise is None:
            table = release.scanner_windows().query("record in @names")
        else:
            plan = pd.DataFrame({"record": names, "noise": noise, "snr_db": float(snr),
                                 "where": rng.random(names.size)})
            table = release.noisy_scanner_windows(plan)
        scored = {arm: _score(table, folds[arm]) for arm in ARMS}
        row = {"condition": condition, "records": len(scored[ARMS[0]]),
               "af_records": int(scored[ARMS[0]]["y"].sum())}
        for arm, s in scored.items():
            m = metrics.binary_metrics(s["y"], s["prob"], s["threshold"].to_numpy())
            row[f"f1_{arm}"], row[f"auroc_{arm}"] = m["f1"], m["auroc"]
        first, second = scored["noise_aug"], scored["clean"]
        gap = metrics.bootstrap_gap(*[(s["y"], s["prob"], s["record"], s["threshold"].to_numpy())
                                      for s in (first, second)], n_boot=N_BOOT, seed=SEED)
        row["f1_gap"], row["f1_gap_ci95"] = gap["f1"][0], [gap["f1"][1], gap["f1"][2]]
        rows.append(row)
        print(condition, {k: round(v, 3) for k, v in row.items() if isinstance(v, float)},
              flush=True)
    return pd.DataFrame(rows)


def _score(table: pd.DataFrame, fold: dict) -> pd.DataFrame:
    """Each record's windows scored by the fold model that never saw the record."""
    oof = fold["oof"].set_index("record")
    which = oof.loc[table["record"], "fold"].to_numpy()
    X = table[list(features.FEATURES)].to_numpy(dtype=float)
    if set(oof["fold"]) != set(range(len(fold["models"]))):
        raise ValueError("fold numbers do not index the fold models")
    prob = np.zeros(len(table))
    for number, model in enumerate(fold["models"]):
        rows = which == number
        if rows.any():
            prob[rows] = features.af_prob(model, X[rows])
    af = (feature_model.classes_of(table) == features.AF_CLASS).astype(int)
    scored = features.record_scores(table["record"].to_numpy(), af, prob)
    return scored.assign(threshold=oof.loc[scored["record"], "fold_threshold"].to_numpy())


def markdown(p: dict) -> str:
    c, d = p["clean"], p["decision"]

    def ci(pair):
        return f"[{pair[0]:.3f}, {pair[1]:.3f}]"

    lines = [
        "# Noise augmentation for the feature detector (features_gb), CinC only\n",
        "`benchmarks/noise_augmentation_features.py`, run " + p["run"] + ". Both arms: the "
        "`make model` recipe (record-grouped 5-fold CV over "
        + ("every CinC 2017 record here" if p["max_records"] is None
           else f"the first {p['max_records']} CinC records") + ", fold thresholds from "
        "inner record-grouped out-of-fold records). `noise_aug`: the records drawn by "
        f"NoiseAugmentation (fraction {p['augmentation']['fraction']}, "
        f"{'/'.join(p['augmentation']['noises'])}, SNR {p['augmentation']['snr_low_db']:g} … "
        f"{p['augmentation']['snr_high_db']:g} dB from the noise records' *training* segments) "
        "get a noisy copy of their windows beside the clean ones, in training only "
        f"({p['train_windows']['clean']} → {p['train_windows']['noise_aug']} training windows)."
        "\n",
        "## CinC 2017 out of fold, clean\n",
        "| arm | F1 (fold thresholds) | AUROC | Se | +P |", "|---|---|---|---:|---:|",
    ]
    for arm in ARMS:
        a = c[arm]
        lines.append(f"| {arm} | {a['f1']:.3f} {ci(a['f1_ci95'])} | {a['auroc']:.3f} "
                     f"{ci(a['auroc_ci95'])} | {a['se']:.3f} | {a['ppv']:.3f} |")
    g = c["gap"]
    lines += ["", f"Paired gap noise_aug − clean (bootstrap over records): F1 {g['f1'][0]:+.3f} "
              f"[{g['f1'][1]:+.3f}, {g['f1'][2]:+.3f}], AUROC {g['auroc'][0]:+.3f} "
              f"[{g['auroc'][1]:+.3f}, {g['auroc'][2]:+.3f}].\n",
              "## CinC 2017 out of fold under training-segment noise (the basis of the choice)\n",
              f"{p['cinc_records']} records drawn at random (seed {p['eval_seed']}), each "
              "scanned with noise from the training segments (other draws than training's) "
              "and scored by its out-of-fold model at its fold threshold. Records without a "
              "detected beat get no noise and are left out of the noisy rows.\n",
              "| condition | records (AF) | F1 clean arm | F1 noise_aug | F1 gap [95 % CI] "
              "| AUROC clean arm | AUROC noise_aug |", "|---|---|---:|---:|---|---:|---:|"]
    for r in p["noisy"]:
        low, high = r["f1_gap_ci95"]
        lines.append(f"| {r['condition']} | {r['records']} ({r['af_records']}) | "
                     f"{r['f1_clean']:.3f} | {r['f1_noise_aug']:.3f} | {r['f1_gap']:+.3f} "
                     f"[{low:+.3f}, {high:+.3f}] | {r['auroc_clean']:.3f} | "
                     f"{r['auroc_noise_aug']:.3f} |")
    lines += ["", f"**Decision** ({d['rule']}): mean noisy F1 gain {d['mean_noisy_f1_gain']:+.3f}, "
              f"clean F1 {d['clean_f1_change']:+.3f}, clean AUROC "
              f"{d['clean_auroc_change']:+.3f} → "
              + ("**ship noise augmentation**." if d["worth_shipping"]
                 else "**do not ship it**.") + "\n",
              f"Wall time {p['wall_s']:.0f} s on this machine.\n"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
