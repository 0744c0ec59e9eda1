"""A noisy copy of every training record instead of half of them, on development records.

    .venv/bin/python benchmarks/noise_fraction.py [--max-records N]

Under muscle noise at 6 dB the features that separate AF best on clean records move the wrong
way on the development records (the f-wave band share of AF records falls below that of clean
sinus rhythm; the RR spread of sinus records rises), while the ectopy-cleaned RR features
(``cv_nn``, ``rmssd_nn_rel``) hardly move. A model that sees more noisy rows may lean on the
features that survive noise. Two arms of the ``features_gb`` release recipe, the same
features and booster:

* ``base`` — :class:`ecgutils.noise_augment.NoiseAugmentation` as shipped: half of the
  records (fraction 0.5) also give a noisy copy (bw or ma, SNR −6 … 24 dB, the noise records'
  training segments);
* ``every_record`` — the same with fraction 1.0: every record gives a noisy copy.

Protocol and rule: ``benchmarks/quality_features.py``'s, fixed before any result (each arm
fitted on the CinC records outside the development set with its own noisy copies, threshold
from inner record-grouped out-of-fold records, scored on the development records clean and
remade with NSTDB training noise: bw, ma at 12, 6, 0 dB, other draws than training's; adopt
when the clean F1 falls by no more than 0.01 and the clean AUROC by no more than 0.005, and
the clean F1 or the mean noisy F1 rises by at least 0.01). mitdb and notebook 08's test noise
are not looked at. Writes reports/benchmarks-noise-fraction.md and .json.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality_features import AUGMENTATION, arguments, compare, report, training_table  # noqa: E402,I001

from ecgutils import config, features, release  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

EVERY_RECORD = dataclasses.replace(AUGMENTATION, fraction=1.0)
OUT = config.published_dir()


def main() -> None:
    args = arguments(__doc__)
    table, began = training_table(args.max_records)
    every = release.training_windows(max_records=args.max_records, augmentation=EVERY_RECORD)
    columns = {arm: tuple(features.FEATURES) for arm in ("base", "every_record")}
    payload, _ = compare(table, columns, "every_record", release.noisy_scanner_windows,
                         args.max_records, began, tables={"every_record": every})
    payload["every_record_train_windows"] = int(len(every))
    atomic_write_json(OUT / "benchmarks-noise-fraction.json", payload)
    atomic_write_text(OUT / "benchmarks-noise-fraction.md", markdown(payload))
    print(markdown(payload))


def markdown(p: dict) -> str:
    return report(p, "every_record", "Noisy copies of half the training records or of all "
                  "(features_gb)", "benchmarks/noise_fraction.py",
                  "`base`: half of the records give a noisy copy (as shipped; the window count "
                  "above); `every_record`: every record gives one "
                  f"({p['every_record_train_windows']} windows in all, clean and noisy).")


if __name__ == "__main__":
    main()
