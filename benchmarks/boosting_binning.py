"""How the feature detector's gradient boosting finds its bins: a speed lever, on development
records.

    .venv/bin/python benchmarks/boosting_binning.py [--max-records N]

scikit-learn 1.8 made ``HistGradientBoostingClassifier`` weight the quantiles of its 255 feature
bins by the sample weights — here the class-balanced weights — and 1.9 finds those weighted
quantiles one percentile at a time (254 calls per feature; fixed upstream in scikit-learn PR
34248, not yet released). On the release table (25 558 windows x 38 features) that binning
took 7.8 s of a 22.7 s fit; unweighted binning takes 0.1 s. Two arms of the ``features_gb``
release recipe, the same 38 features:

* ``base`` — the booster's own class-weighted bins (``binning="weighted"``);
* ``unweighted`` — plain quantile bins from scikit-learn's ``KBinsDiscretizer`` in a pipeline
  before the same booster (``binning="unweighted"``; what scikit-learn did before 1.8, and
  LightGBM does). The loss keeps its class weights.

Protocol: ``benchmarks/quality_features.py``'s (fitted on the CinC records outside the
development set, threshold from inner record-grouped out-of-fold records, scored on the
development records clean and remade with NSTDB training noise: bw, ma at 12, 6, 0 dB), plus
the fit time of each arm on the same training rows, three fits each, alternating.

Rule, fixed before any result: this lever is for speed, so it must not cost quality. Adopt
when the clean F1 falls by no more than 0.01, the clean AUROC by no more than 0.005 and the
mean noisy F1 by no more than 0.01, and the median fit takes at least 20 % less time.
mitdb and notebook 08's test noise are not looked at.
Writes reports/benchmarks-boosting-binning.md and .json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality_features import SEED, compare_settings, report  # noqa: E402

from ecgutils import config, feature_model, features  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

ARMS = {"base": {**feature_model.BOOSTING, "binning": "weighted"},
        "unweighted": {**feature_model.BOOSTING, "binning": "unweighted"}}
REPEATS = 3
OUT = config.published_dir()


def main() -> None:
    payload, X, classes, began = compare_settings(__doc__, ARMS, "unweighted")
    payload["fit_s"] = fit_times(X, classes)
    payload["decision"] = decide(payload)
    payload["wall_s"] = round(time.perf_counter() - began, 1)
    atomic_write_json(OUT / "benchmarks-boosting-binning.json", payload)
    atomic_write_text(OUT / "benchmarks-boosting-binning.md", markdown(payload))
    print(markdown(payload))


def fit_times(X: np.ndarray, classes: np.ndarray) -> dict[str, list[float]]:
    """Wall seconds of :data:`REPEATS` fits per arm on the same rows, the arms alternating
    so that a slow spell of the machine falls on both."""
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for _ in range(REPEATS):
        for arm, settings in ARMS.items():
            began = time.perf_counter()
            feature_model.fit(X, classes, SEED, settings)
            times[arm].append(round(time.perf_counter() - began, 2))
    return times


def decide(p: dict) -> dict:
    """The rule of the module docstring."""
    clean = p["results"][0]
    noisy_gap = float(np.mean([r["f1_gap"] for r in p["results"][1:]]))
    base, new = (float(np.median(p["fit_s"][arm])) for arm in ARMS)
    saving = 1 - new / base
    holds = clean["f1_gap"] >= -0.01 and clean["auroc_gap"] >= -0.005 and noisy_gap >= -0.01
    return {"clean_f1_gap": float(clean["f1_gap"]), "clean_auroc_gap": float(clean["auroc_gap"]),
            "mean_noisy_f1_gap": noisy_gap, "fit_time_saving": saving,
            "adopt": bool(holds and saving >= 0.2)}


def markdown(p: dict) -> str:
    d = p["decision"]
    times = "; ".join(f"`{arm}` {', '.join(f'{t:.1f}' for t in ts)} s"
                      for arm, ts in p["fit_s"].items())
    text = report(p, "unweighted", "Class-weighted or plain bins for the feature detector's "
                  "gradient boosting (features_gb)", "benchmarks/boosting_binning.py",
                  "`base`: the booster's own class-weighted quantile bins; `unweighted`: plain "
                  "quantile bins (KBinsDiscretizer) before the same booster; the same "
                  f"{len(features.FEATURES)} features.",
                  f"Fit time on the {p['fit_rows']} training windows, {REPEATS} fits per arm "
                  f"alternating: {times}; the median fit takes {d['fit_time_saving']:.0%} "
                  "less time with plain bins.",
                  rule="Rule (fixed before any result, in benchmarks/boosting_binning.py): adopt "
                  "when the clean F1 falls by no more than 0.01, the clean AUROC by no more "
                  "than 0.005 and the mean noisy F1 by no more than 0.01, and the median fit "
                  "takes at least 20 % less time.",
                  verdict=f"Clean F1 gap {d['clean_f1_gap']:+.3f}, clean AUROC gap "
                  f"{d['clean_auroc_gap']:+.3f}, mean noisy F1 gap "
                  f"{d['mean_noisy_f1_gap']:+.3f}, fit time {d['fit_time_saving']:.0%} less")
    return text


if __name__ == "__main__":
    main()
