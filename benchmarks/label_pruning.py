"""Training records with likely label errors left out (confident learning), on development records.

    .venv/bin/python benchmarks/label_pruning.py [--max-records N]

CinC 2017's labels are noisy: its organisers relabelled contentious records during the
challenge, and the records the shipped detector misses are mostly irregular rhythms it reads
as "other" (107 of them in the release's cross-validation). A training record labelled O that
is AF (or the reverse) teaches the booster exactly that confusion. Two arms of the
``features_gb`` release recipe (noise augmentation included), the same 38 features, booster,
windows and scan:

* ``base``: every training record, with its label (the release's);
* ``label_pruned``: the training records that confident learning flags left out
  (:func:`ecgutils.feature_model.label_issues`: cleanlab's ``find_label_issues`` with its
  default ``prune_by_noise_rate``, on each record's inner record-grouped out-of-fold
  probabilities of the four classes), from the fit and from the inner threshold alike. The
  development records are scored with their labels as given.

cleanlab's defaults were taken as they are, fixed before any result, and no other setting was
tried. Protocol and rule: ``benchmarks/quality_features.py``'s, fixed before any result. Each
arm is fitted on the CinC records outside the development set, with its threshold from inner
record-grouped out-of-fold records. It is scored on the development records, each the mean of
its windows, clean and remade with NSTDB training noise (bw and ma at 12, 6 and 0 dB, the same
draws for both arms). Adopt when the clean F1 falls by no more than 0.01 and the clean AUROC
by no more than 0.005, and the clean F1 or the mean noisy F1 rises by at least 0.01. mitdb and
notebook 08's test noise are not looked at here. Writes reports/benchmarks-label-pruning.md
and .json.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality_features import arguments, compare, report, training_table, unrounded  # noqa: E402,I001

from ecgutils import config, features, release  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

OUT = config.published_dir()
ARM = "label_pruned"


def main() -> None:
    args = arguments(__doc__)
    table, began = training_table(args.max_records)
    columns = dict.fromkeys(("base", ARM), tuple(features.FEATURES))
    payload, _ = compare(table, columns, ARM, release.noisy_scanner_windows, args.max_records,
                         began, fit_options={ARM: {"prune_labels": True}})
    atomic_write_json(OUT / "benchmarks-label-pruning.json", payload)
    atomic_write_text(OUT / "benchmarks-label-pruning.md", markdown(payload))
    print(markdown(payload))


def markdown(p: dict) -> str:
    return report(p, ARM, "Training records with likely label errors left out (features_gb)",
                  "benchmarks/label_pruning.py",
                  f"`base`: every training record; `{ARM}`: the "
                  f"{p['pruned_records'][ARM]} training records confident learning flags "
                  "(cleanlab's `find_label_issues`, defaults, on inner out-of-fold "
                  "probabilities of the four classes) left out of the fit and the inner "
                  f"threshold ({p['train_windows_by_fit'][ARM]} training windows left).",
                  extra=unrounded(p))


if __name__ == "__main__":
    main()
