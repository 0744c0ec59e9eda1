"""Signal-quality features for the feature detector (the shipped kind), on development records.

    .venv/bin/python benchmarks/quality_features.py [--max-records N]

Two arms of the ``features_gb`` release recipe (scanner windows of every CinC record, with the
noise-augmented copies of :class:`ecgutils.noise_augment.NoiseAugmentation` in training):

* ``base`` — the features the shipped model reads (:data:`ecgutils.features.FEATURES`: 34;
  first measured on the 27 before :mod:`ecgutils.ectopy`'s 7 were adopted — clean F1
  +0.006, mean noisy −0.008 — and again on the 34 on 2026-12-01: clean +0.004, mean noisy
  +0.007; not adopted either time);
* ``quality`` — the same plus the 5 signal-quality indices of :mod:`ecgutils.quality`
  (kurtosis, skewness, QRS-band, high- and low-frequency power shares), computed on the lead
  the scanner conditions (band-passed, resampled), clean or with its noise.

Protocol (the lever table's, ``benchmarks/levers.py``): each arm is fitted on the CinC records
outside the development set (20 %, the seeded draw notebook 03c never reports), its threshold
from inner record-grouped out-of-fold records of that part, and scores the development
records (mean of their windows): clean, then remade with NSTDB noise from the noise records'
*training* segments (bw and ma at 12, 6 and 0 dB; other draws than training's). mitdb and
08's test noise are not looked at.

The rule, fixed before any result: adopt the quality features when, on the development
records, the clean F1 falls by no more than 0.01 and the clean AUROC by no more than 0.005,
and either the clean F1 or the mean F1 over the noisy conditions rises by at least 0.01.
Writes reports/benchmarks-quality-features.md and .json.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ecgutils import (  # noqa: E402
    config,
    datasets,
    feature_model,
    features,
    metrics,
    noise_augment,
    noise_study,
    preprocess,
    quality,
    records,
    release,
    signal,
)
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from ecgutils.progress import progress  # noqa: E402

ARMS = {"base": tuple(features.FEATURES), "quality": tuple(features.FEATURES) + quality.FEATURES}
AUGMENTATION = noise_augment.NoiseAugmentation()
NOISES, SNRS_DB = ("bw", "ma"), (12, 6, 0)
SEED = config.DEFAULT_SEED
EVAL_SEED = config.DEFAULT_SEED + 1  # the evaluation noise: its own draws
N_BOOT = 1000
OUT = config.published_dir()


def arguments(doc: str) -> argparse.Namespace:
    """The command line of a feature-arm benchmark (``doc``: its module docstring)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--max-records", type=int, default=None,
                        help="the first N CinC records only (testing)")
    return parser.parse_args()


def training_table(max_records: int | None, columns: tuple[str, ...] = features.FEATURES
                   ) -> tuple[pd.DataFrame, float]:
    """The release recipe's training windows (clean and noise-augmented copies, features
    ``columns``) of the first ``max_records`` CinC records (all: None), and the
    ``time.perf_counter()`` the benchmark began at."""
    began = time.perf_counter()
    table = release.training_windows(max_records=max_records, augmentation=AUGMENTATION,
                                     columns=columns)
    print(f"{len(table)} training windows, {time.perf_counter() - began:.0f} s", flush=True)
    return table, began


def main() -> None:
    args = arguments(__doc__)
    began = time.perf_counter()
    table = release.training_windows(max_records=args.max_records, augmentation=AUGMENTATION)
    names = np.unique(table["record"].astype(str))
    plan = noise_augment.augmentation_plan(names, AUGMENTATION).set_index("record")
    plan = plan[plan["noisy"]]
    table = with_quality(table, lambda name, noisy: plan.loc[name] if noisy else None)
    print(f"{len(table)} training windows with quality features, "
          f"{time.perf_counter() - began:.0f} s", flush=True)

    def noisy_windows(draws: pd.DataFrame) -> pd.DataFrame:
        by_record = draws.set_index("record")
        return with_quality(release.noisy_scanner_windows(draws).assign(noisy=True),
                            lambda name, _: by_record.loc[name])

    payload, _ = compare(table, ARMS, "quality", noisy_windows, args.max_records, began)
    atomic_write_json(OUT / "benchmarks-quality-features.json", payload)
    atomic_write_text(OUT / "benchmarks-quality-features.md", markdown(payload))
    print(markdown(payload))


def compare(table: pd.DataFrame, arms: dict[str, tuple[str, ...]], new: str, noisy_windows,
            max_records: int | None, began: float,
            boosting: dict[str, dict] | None = None,
            tables: dict[str, pd.DataFrame] | None = None,
            fit_options: dict[str, dict] | None = None) -> tuple[dict, dict]:
    """The protocol of the module docstring for two arms (``base`` and ``new``; arm → its
    columns of ``table``, the training windows): fit each on the non-development records,
    score the development records clean and remade with noise (``noisy_windows(draws)``:
    their windows for a table of draws ``record, noise, snr_db, where``), apply the rule.
    ``boosting`` (arm → gradient-boosting settings) replaces an arm's
    :data:`ecgutils.feature_model.BOOSTING`; ``tables`` (arm → training windows of the same
    records) replaces ``table`` for an arm, and ``noisy_windows`` may be a mapping arm →
    its own such function (arms that scan records differently); ``fit_options`` (arm → more
    keyword arguments of :func:`ecgutils.feature_model.development_fit`, e.g.
    ``prune_labels``). Returns the JSON payload and the fitted arms."""
    boosting, tables, fit_options = boosting or {}, tables or {}, fit_options or {}
    fitted = {arm: feature_model.development_fit(tables.get(arm, table), seed=SEED,
                                                 columns=columns, boosting=boosting.get(arm),
                                                 **fit_options.get(arm, {}))
              for arm, columns in arms.items()}
    if len({tuple(f["scores"]["group"]) for f in fitted.values()}) > 1:
        raise AssertionError("the arms were scored on different development records")
    development = fitted["base"]["scores"]["group"].to_numpy()
    rows = [condition_row("clean", {arm: f["scores"].assign(threshold=f["threshold"])
                                    for arm, f in fitted.items()}, new)]
    scan_of = (noisy_windows if isinstance(noisy_windows, dict)
               else dict.fromkeys(arms, noisy_windows))
    rng = np.random.default_rng(EVAL_SEED)
    for noise in NOISES:
        for snr in SNRS_DB:
            draws = pd.DataFrame({"record": development, "noise": noise, "snr_db": float(snr),
                                  "where": rng.random(development.size)})
            scans = {scan: scan(draws) for scan in dict.fromkeys(scan_of.values())}  # each once
            noisy = {arm: scans[scan_of[arm]] for arm in arms}
            rows.append(condition_row(noise_study.condition_name(noise, snr),
                                      {arm: score(noisy[arm], f, arms[arm])
                                       for arm, f in fitted.items()}, new))
    results = pd.DataFrame(rows)
    payload = {"run": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
               "max_records": max_records, "augmentation": asdict(AUGMENTATION),
               "eval_seed": EVAL_SEED, "development_records": int(development.size),
               "development_af": int(fitted["base"]["scores"]["y"].sum()),
               "train_windows": fitted["base"]["train_windows"],
               "train_windows_by_fit": {arm: f["train_windows"] for arm, f in fitted.items()},
               "pruned_records": {arm: f["pruned"] for arm, f in fitted.items()},
               "results": results.to_dict(orient="records"), "decision": decide(results),
               "wall_s": round(time.perf_counter() - began, 1)}
    return payload, fitted


def compare_settings(doc: str, arms: dict[str, dict], new: str
                     ) -> tuple[dict, np.ndarray, np.ndarray, float]:
    """:func:`compare` for two arms that differ in gradient-boosting settings only (arm →
    settings; the same features, :data:`ecgutils.features.FEATURES`), with the command line
    of :func:`arguments` (``doc``: the benchmark's docstring). Returns the payload and the
    training rows both arms were fitted on (features, classes), for timing fits, and the
    ``time.perf_counter()`` the benchmark began at."""
    args = arguments(doc)
    table, began = training_table(args.max_records)
    columns = {arm: tuple(features.FEATURES) for arm in arms}
    payload, fitted = compare(table, columns, new, release.noisy_scanner_windows,
                              args.max_records, began, boosting=arms)
    rows = np.isin(table["record"].astype(str).to_numpy(),
                   fitted["base"]["scores"]["group"].to_numpy(), invert=True)
    payload["fit_rows"] = int(rows.sum())
    return (payload, table[list(features.FEATURES)].to_numpy(dtype=float)[rows],
            feature_model.classes_of(table)[rows], began)


def compare_scans(doc: str, new: str, base_changes: dict, new_changes: dict) -> dict:
    """:func:`compare` for two arms that scan records differently (``base_changes`` and
    ``new_changes``: scan settings other than the release's, ``release.feature_settings``'s
    ``scan_changes``), with the same features (:data:`ecgutils.features.FEATURES`), booster
    and training recipe, and the command line of :func:`arguments` (``doc``: the benchmark's
    docstring). Returns the payload, with ``arm``, ``scan_changes`` and each arm's count of
    training windows added."""
    args = arguments(doc)
    began = time.perf_counter()
    changes = {"base": base_changes, new: new_changes}
    tables = {arm: release.training_windows(max_records=args.max_records,
                                            augmentation=AUGMENTATION, scan_changes=change)
              for arm, change in changes.items()}
    print(f"{len(tables['base'])} training windows, {time.perf_counter() - began:.0f} s",
          flush=True)
    noisy = {arm: functools.partial(release.noisy_scanner_windows, scan_changes=change)
             for arm, change in changes.items()}
    payload, _ = compare(tables["base"], dict.fromkeys(changes, tuple(features.FEATURES)), new,
                         noisy, args.max_records, began, tables={new: tables[new]})
    payload.update(arm=new, scan_changes=new_changes, base_scan_changes=base_changes,
                   train_windows_by_arm={arm: int(len(t)) for arm, t in tables.items()})
    return payload


def with_quality(table: pd.DataFrame, noise_of) -> pd.DataFrame:
    """``table`` (scanner windows; ``noisy`` marks noisy copies) with :data:`quality.FEATURES`
    computed on each record's lead as the scanner conditions it — with the same noise as the
    copy (``noise_of(record, noisy)``: its plan row, or None for the clean lead)."""
    scan = release.settings(0.5, kind="features_gb")
    root = datasets.ensure_local("cinc2017")
    beat_times = preprocess.beat_times(preprocess.detector_params("cinc2017"))
    noises = noise_study.noise_records(seed=AUGMENTATION.split_seed)
    noisy_flags = table["noisy"].to_numpy(dtype=bool)
    out = np.zeros((len(table), len(quality.FEATURES)), dtype=np.float32)
    groups = table.groupby([table["record"].astype(str), noisy_flags], sort=False).indices
    for (name, noisy), rows in progress(list(groups.items()), "quality features"):
        rec = records.read_path(root / name)
        lead = rec.signal
        draw = noise_of(name, noisy)
        if draw is not None:
            lead, _ = noise_augment.noisy_lead(lead, rec.fs, beat_times[name],
                                               noises[draw["noise"]], draw["snr_db"],
                                               draw["where"])
        conditioned = signal.resample(signal.bandpass(lead, rec.fs, scan.low_hz, scan.high_hz,
                                                      scan.filter_order), rec.fs, scan.fs)
        out[rows] = quality.window_features(conditioned, scan.fs,
                                            table["start_s"].to_numpy()[rows], scan.window_s)
    return pd.concat([table.reset_index(drop=True),
                      pd.DataFrame(out, columns=list(quality.FEATURES))], axis=1)


def score(table: pd.DataFrame, fitted: dict, columns: tuple[str, ...]) -> pd.DataFrame:
    """The development records of ``table`` scored by the arm's model, at its threshold."""
    X = table[list(columns)].to_numpy(dtype=float)
    af = (feature_model.classes_of(table) == features.AF_CLASS).astype(int)
    scored = features.record_scores(table["record"].to_numpy(), af,
                                    features.af_prob(fitted["model"], X))
    return scored.rename(columns={"record": "group"}).assign(threshold=fitted["threshold"])


def condition_row(condition: str, scored: dict[str, pd.DataFrame], new: str = "quality"
                  ) -> dict:
    """F1 and AUROC of each arm of ``scored`` (arm → record scores) and the gap of arm
    ``new`` over ``base`` with a paired bootstrap CI over records."""
    row = {"condition": condition, "records": len(scored["base"]),
           "af_records": int(scored["base"]["y"].sum())}
    for arm, s in scored.items():
        m = metrics.binary_metrics(s["y"], s["prob"], s["threshold"].to_numpy())
        row[f"f1_{arm}"], row[f"auroc_{arm}"] = m["f1"], m["auroc"]
    gap = metrics.bootstrap_gap(*[(s["y"], s["prob"], s["group"], s["threshold"].to_numpy())
                                  for s in (scored[new], scored["base"])],
                                n_boot=N_BOOT, seed=SEED)
    row["f1_gap"], row["f1_gap_ci95"] = gap["f1"][0], [gap["f1"][1], gap["f1"][2]]
    row["auroc_gap"], row["auroc_gap_ci95"] = gap["auroc"][0], [gap["auroc"][1],
                                                                gap["auroc"][2]]
    print(condition, {k: round(v, 3) for k, v in row.items() if isinstance(v, float)},
          flush=True)
    return row


def decide(results: pd.DataFrame) -> dict:
    """The rule of the module docstring, applied to the development rows."""
    clean = results.iloc[0]
    noisy_gap = float(results.iloc[1:]["f1_gap"].mean())
    holds = clean["f1_gap"] >= -0.01 and clean["auroc_gap"] >= -0.005
    gains = clean["f1_gap"] >= 0.01 or noisy_gap >= 0.01
    return {"clean_f1_gap": float(clean["f1_gap"]), "clean_auroc_gap": float(clean["auroc_gap"]),
            "mean_noisy_f1_gap": noisy_gap, "adopt": bool(holds and gains)}


def markdown(p: dict) -> str:
    return report(p, "quality", "Signal-quality features for the feature detector (features_gb)",
                  "benchmarks/quality_features.py",
                  f"`quality` adds {', '.join(quality.FEATURES)} (ecgutils.quality) to the "
                  f"{len(features.FEATURES)} features of `base`.")


def unrounded(p: dict) -> str:
    """The three gaps of :func:`decide` in ``p``'s decision to four places (where a
    rounded gap sits on the rule's bound)."""
    d = p["decision"]
    return (f"Unrounded: clean F1 gap {d['clean_f1_gap']:+.4f}, clean AUROC gap "
            f"{d['clean_auroc_gap']:+.4f}, mean noisy F1 gap {d['mean_noisy_f1_gap']:+.4f}.")


QUALITY_RULE = ("Rule (fixed before any result, in benchmarks/quality_features.py): adopt when "
                "the clean F1 falls by no more than 0.01 and the clean AUROC by no more than "
                "0.005, and the clean F1 or the mean noisy F1 rises by at least 0.01.")


def report(p: dict, new: str, title: str, script: str, arms: str, extra: str = "",
           rule: str = QUALITY_RULE, verdict: str = "") -> str:
    """The Markdown report of :func:`compare`'s payload ``p``: its protocol, one row per
    condition (arm ``new`` against ``base``), the rule and the decision. A lever with a rule
    of its own passes its text as ``rule`` and, where its decision reads more than the three
    gaps, the decision's words as ``verdict``."""
    d = p["decision"]

    def ci(pair):
        return f"[{pair[0]:+.3f}, {pair[1]:+.3f}]"

    lines = [
        f"# {title}\n",
        f"`{script}`, run {p['run']}. Both arms: the `make model` "
        f"recipe with noise augmentation, fitted on the CinC records outside the development "
        f"set ({p['train_windows']} windows, clean and noisy copies), threshold from inner "
        f"record-grouped out-of-fold records; scored on the {p['development_records']} "
        f"development records ({p['development_af']} AF), each the mean of its windows. Noisy "
        "rows: the development records remade with NSTDB noise from the *training* segments "
        f"(draws of seed {p['eval_seed']}). {arms}\n",
        f"| condition | records | F1 base | F1 {new} | F1 gap [95 % CI] | AUROC base | "
        f"AUROC {new} | AUROC gap [95 % CI] |",
        "|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in p["results"]:
        lines.append(f"| {r['condition']} | {r['records']} | {r['f1_base']:.3f} | "
                     f"{r[f'f1_{new}']:.3f} | {r['f1_gap']:+.3f} {ci(r['f1_gap_ci95'])} | "
                     f"{r['auroc_base']:.3f} | {r[f'auroc_{new}']:.3f} | "
                     f"{r['auroc_gap']:+.3f} {ci(r['auroc_gap_ci95'])} |")
    if extra:
        lines += ["", extra]
    verdict = verdict or (f"Clean F1 gap {d['clean_f1_gap']:+.3f}, clean AUROC gap "
                          f"{d['clean_auroc_gap']:+.3f}, mean noisy F1 gap "
                          f"{d['mean_noisy_f1_gap']:+.3f}")
    lines += ["", rule, "", f"{verdict}: **{'adopt' if d['adopt'] else 'do not adopt'}**. "
              f"({p['wall_s']:.0f} s)"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
