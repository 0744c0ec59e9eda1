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

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality_features import arguments, compare, report, training_table  # noqa: E402

from ecgutils import config, ectopy, feature_model, features, release  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

OUT = config.published_dir()


def main() -> None:
    scanner_family(arguments(__doc__), features.BEFORE_ECTOPY, "ectopy", ectopy.FEATURES,
                   "benchmarks-ectopy-features", markdown)


def scanner_family(args, base: tuple[str, ...], new: str, added: tuple[str, ...], stem: str,
                   markdown) -> None:
    """The two-arm benchmark of a feature family the scanner computes itself: ``base``
    against ``base`` + ``added`` (arm ``new``), on the scanner's windows (clean and noisy
    copies, :func:`ecgutils.release.training_windows`); writes ``reports/<stem>.json``/``.md``
    (``markdown(payload)``)."""
    every = tuple(base) + tuple(added)
    table, began = training_table(args.max_records, every)
    payload, fitted = compare(table, {"base": tuple(base), new: every}, new,
                              lambda draws: release.noisy_scanner_windows(draws, columns=every),
                              args.max_records, began)
    payload.update(features=list(added),
                   model_uses=split_counts(fitted[new]["model"], tuple(added), len(base)))
    atomic_write_json(OUT / f"{stem}.json", payload)
    atomic_write_text(OUT / f"{stem}.md", markdown(payload))
    print(markdown(payload))


def split_counts(model, names: tuple[str, ...] = ectopy.FEATURES,
                 first: int = len(features.BEFORE_ECTOPY)) -> dict[str, int]:
    """How often a fitted arm splits on each new feature ``names`` (columns ``first`` on of
    its input; its trees' nodes): whether the model reads them at all, not how much they
    help."""
    counts = dict.fromkeys(names, 0)
    for per_class in feature_model.booster_of(model)._predictors:
        for tree in per_class:
            for node in tree.nodes:
                if not node["is_leaf"] and node["feature_idx"] >= first:
                    counts[names[node["feature_idx"] - first]] += 1
    return counts


def markdown(p: dict) -> str:
    uses = ", ".join(f"{k} {v}" for k, v in p["model_uses"].items())
    return report(p, "ectopy",
                  "Ectopic-beat and RR-scatter features for the feature detector (features_gb)",
                  "benchmarks/ectopy_features.py",
                  f"`ectopy` adds {', '.join(p['features'])} (ecgutils.ectopy) to the 27 "
                  "features of `base`.",
                  f"Tree splits on the new features in the `ectopy` model: {uses}.")


if __name__ == "__main__":
    main()
