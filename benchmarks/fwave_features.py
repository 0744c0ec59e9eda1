"""F-wave features of the whole window for the feature detector, on development records.

    .venv/bin/python benchmarks/fwave_features.py [--max-records N]

Two arms of the ``features_gb`` release recipe (scanner windows of every CinC record, with the
noise-augmented copies of :class:`ecgutils.noise_augment.NoiseAugmentation` in training):

* ``base`` — the 34 features the shipped model read before
  (:data:`ecgutils.features.BEFORE_FWAVES`);
* ``fwaves`` — the same plus the 4 of :mod:`ecgutils.fwaves` (the window with every QRS-T
  cancelled by the median one: the residual's size, its 4–10 Hz share, its dominant frequency
  in 3–12 Hz and how much power lies around it), computed by the scanner itself on the clean
  or noisy record.

How the variant was picked, before this run, by each feature's AUROC alone on 800 development
records: cancelling the whole median beat (P region included, each sample by its nearest
beat) left the previous beat's T wave wherever the RR was short — in AF above all — so its
4–10 Hz share reached 0.59; cancelling only the QRS-T at every beat (the classic method,
measured here) reaches 0.66; a frequency-weighted spectrum did worse (0.61). The P-region
``f_band`` the model already reads reaches 0.77 alone: the question of this run is whether
the whole-window features add anything beside it.

Protocol and rule: those of ``benchmarks/quality_features.py`` (fixed before any result):
fitted on the CinC records outside the development set, threshold from inner record-grouped
out-of-fold records, scored on the development records clean and remade with NSTDB training
noise (bw, ma at 12, 6, 0 dB); adopt when the clean F1 falls by no more than 0.01 and the
clean AUROC by no more than 0.005, and the clean F1 or the mean noisy F1 rises by at least
0.01. mitdb and notebook 08's test noise are not looked at. Result (2026-12-02): adopt — clean
F1 −0.005, AUROC −0.000, mean noisy F1 +0.011, most of it from muscle noise at 0 dB (+0.057);
the 4 features are now part of :data:`ecgutils.features.FEATURES`.
Writes reports/benchmarks-fwave-features.md and .json.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ectopy_features import scanner_family  # noqa: E402
from quality_features import arguments, report  # noqa: E402

from ecgutils import features, fwaves  # noqa: E402


def main() -> None:
    scanner_family(arguments(__doc__), features.BEFORE_FWAVES, "fwaves", fwaves.FEATURES,
                   "benchmarks-fwave-features", markdown)


def markdown(p: dict) -> str:
    uses = ", ".join(f"{k} {v}" for k, v in p["model_uses"].items())
    return report(p, "fwaves", "Whole-window f-wave features for the feature detector "
                  "(features_gb)", "benchmarks/fwave_features.py",
                  f"`fwaves` adds {', '.join(p['features'])} (ecgutils.fwaves) to the "
                  f"{len(features.BEFORE_FWAVES)} features of `base`.",
                  f"Tree splits on the new features in the `fwaves` model: {uses}.")


if __name__ == "__main__":
    main()
