"""Several feature-subsampled boosters averaged (random subspaces) against one booster, on
development records.

    .venv/bin/python benchmarks/boosting_bagging.py [--max-records N]

One booster with half the features per split (``max_features=0.5``) lost 0.005 clean F1 on the
development records (``benchmarks/boosting_settings.py``): one such booster is weaker. An
average of several, each fitted on its own random share of the columns and with its own seed,
is a different lever — variance reduction across models that err differently. Two arms of the
``features_gb`` release recipe, the same 38 features:

* ``base`` — one booster (:data:`ecgutils.feature_model.BOOSTING`);
* ``bagged`` — scikit-learn's ``BaggingClassifier`` over the same model: 5 copies, each on
  every training row (no bootstrap) but a random 70 % of the columns, probabilities averaged
  (``bags=5, bag_features=0.7``; both fixed before any result).

Protocol and rule: ``benchmarks/quality_features.py``'s, fixed before any result (fitted on the
CinC records outside the development set, threshold from inner record-grouped out-of-fold
records, scored on the development records clean and remade with NSTDB training noise: bw, ma
at 12, 6, 0 dB; adopt when the clean F1 falls by no more than 0.01 and the clean AUROC by no
more than 0.005, and the clean F1 or the mean noisy F1 rises by at least 0.01). The cost is
reported beside it: one fit of each arm on the same rows. mitdb and notebook 08's test noise
are not looked at. Writes reports/benchmarks-boosting-bagging.md and .json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality_features import SEED, compare_settings, report  # noqa: E402

from ecgutils import config, feature_model, features  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

ARMS = {"base": dict(feature_model.BOOSTING),
        "bagged": {**feature_model.BOOSTING, "bags": 5, "bag_features": 0.7}}
OUT = config.published_dir()


def main() -> None:
    payload, X, classes, began = compare_settings(__doc__, ARMS, "bagged")
    payload["fit_s"] = {}
    for arm, settings in ARMS.items():
        start = time.perf_counter()
        feature_model.fit(X, classes, SEED, settings)
        payload["fit_s"][arm] = round(time.perf_counter() - start, 1)
    payload["wall_s"] = round(time.perf_counter() - began, 1)
    atomic_write_json(OUT / "benchmarks-boosting-bagging.json", payload)
    atomic_write_text(OUT / "benchmarks-boosting-bagging.md", markdown(payload))
    print(markdown(payload))


def markdown(p: dict) -> str:
    times = ", ".join(f"`{arm}` {t:.1f} s" for arm, t in p["fit_s"].items())
    return report(p, "bagged", "One booster or five feature-subsampled boosters averaged "
                  "(features_gb)", "benchmarks/boosting_bagging.py",
                  "`base`: one booster; `bagged`: scikit-learn's BaggingClassifier over it, 5 "
                  "copies with their own seeds, each on all rows and a random 70 % of the "
                  f"{len(features.FEATURES)} features, probabilities averaged.",
                  f"Cost: one fit on the {p['fit_rows']} training windows takes {times} (the "
                  "scanner's prediction grows in proportion; it is a small part of a scan).")


if __name__ == "__main__":
    main()
