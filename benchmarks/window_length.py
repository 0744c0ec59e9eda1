"""30-s windows instead of 20-s ones for the feature detector, on development records.

    .venv/bin/python benchmarks/window_length.py [--max-records N]

RR statistics over more beats are steadier, and most CinC 2017 records last 30 s: the release
scans them as two 20-s windows (at 0 and 10 s) and averages them; one 30-s window reads every
beat at once. Two arms of the ``features_gb`` release recipe (noise augmentation included),
the same 38 features, booster and 10-s step:

* ``base`` — 20-s windows (the release's);
* ``window_30`` — 30-s windows (fixed before any result), training rows and scored records
  alike; a record shorter than 30 s is one window of what it holds, as a record shorter than
  20 s is today.

Protocol and rule: ``benchmarks/quality_features.py``'s, fixed before any result (each arm
fitted on the CinC records outside the development set, threshold from inner record-grouped
out-of-fold records, scored on the development records, each the mean of its windows, clean
and remade with NSTDB training noise: bw, ma at 12, 6, 0 dB, the same draws for both arms;
adopt when the clean F1 falls by no more than 0.01 and the clean AUROC by no more than 0.005,
and the clean F1 or the mean noisy F1 rises by at least 0.01). This measures CinC records
only: longer windows also coarsen where an episode starts and ends in a long recording, which
the development records cannot show (adopting them would need the EC57 scoring of notebook
03c's mitdb folds as well). mitdb and notebook 08's test noise are not looked at. Writes
reports/benchmarks-window-length.md and .json.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality_features import compare_scans, report  # noqa: E402,I001

from ecgutils import config  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

WINDOW_S = 30.0
OUT = config.published_dir()


def main() -> None:
    payload = compare_scans(__doc__, "window_30", {}, {"window_s": WINDOW_S})
    payload["window_30_train_windows"] = payload["train_windows_by_arm"]["window_30"]
    atomic_write_json(OUT / "benchmarks-window-length.json", payload)
    atomic_write_text(OUT / "benchmarks-window-length.md", markdown(payload))
    print(markdown(payload))


def markdown(p: dict) -> str:
    return report(p, "window_30", "20-s or 30-s windows for the feature detector (features_gb)",
                  "benchmarks/window_length.py",
                  "`base`: 20-s windows every 10 s (as shipped; the window count above); "
                  "`window_30`: 30-s windows every 10 s "
                  f"({p['window_30_train_windows']} training windows, clean and noisy), "
                  "training and scoring alike.")


if __name__ == "__main__":
    main()
