"""Beats detected on the QRS band (5-15 Hz) for the feature detector, on development records.

    .venv/bin/python benchmarks/beat_band.py [--arm beat_band|beat_band_gate] [--max-records N]

Every feature the shipped detector reads starts from its R peaks, and its F1 falls most under
muscle noise (notebook 08). NeuroKit2's detector finds the reference beats of mitdb's first
5 min with F1 0.914 under NSTDB muscle noise at 6 dB. It finds them with F1 0.956 when the
raw lead is first band-passed to Pan & Tompkins' QRS band, 5-15 Hz
(``reports/benchmarks-beats-under-noise.md``). 5-15 Hz is their published band, taken as it
is: 5-12 Hz measured better there (0.972), but choosing among bands on mitdb would tune the
scanner on the external test. This benchmark measures whether the better beats make a better
AF detector. Two arms of the ``features_gb`` release recipe (noise augmentation included),
with the same 38 features, booster, windows and step:

* ``base``: beats detected on the raw lead as it is (the release's before this lever);
* ``--arm beat_band``: beats detected on the raw lead band-passed to
  :data:`ecgutils.beats.BAND_HZ` (``bundle.Settings.beat_band_hz``), for the training rows
  and the scored records alike. Measured first (2026-12-02): mean noisy F1 +0.021 (ma 0 dB
  +0.121), but clean F1 −0.0103, past the rule's −0.010: not adopted.
* ``--arm beat_band_gate``: the second lever, defined after the first's result. Each scanner
  block's beats are detected both ways, and the band's beats are kept only where the two
  disagree: agreement F1 below 0.95 (``bundle.Settings.beat_band_gate``). Clean leads keep
  their own beats; noisy ones, where the lead's own detector goes astray, take the band's.
  The 0.95 was set after counting the records it switches on 300 random CinC records, before
  any AF result: 14 % clean, 26 % with bw at 0 dB, 76 % with ma at 6 dB, 99 % with ma at
  0 dB. Adopted by the rule (clean F1 −0.001, mean noisy F1 +0.018): the shipped scanner
  now detects beats this way (:func:`ecgutils.release.settings`).

Protocol and rule: ``benchmarks/quality_features.py``'s, fixed before any result. Each arm is
fitted on the CinC records outside the development set, with its threshold from inner
record-grouped out-of-fold records. It is scored on the development records, each the mean of
its windows, clean and remade with NSTDB training noise (bw and ma at 12, 6 and 0 dB, the
same draws for both arms). Adopt when the clean F1 falls by no more than 0.01 and the clean
AUROC by no more than 0.005, and the clean F1 or the mean noisy F1 rises by at least 0.01.
mitdb and notebook 08's test noise are not looked at here. Writes
reports/benchmarks-beat-band.md and .json (``--arm beat_band``) or
reports/benchmarks-beat-band-gate.md and .json.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality_features import compare_scans, report, unrounded  # noqa: E402,I001

from ecgutils import beats, config  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

OUT = config.published_dir()
# ``base`` is the scan as it was before this lever: beats on the lead as it is.
BASE = {"beat_band_hz": None, "beat_band_gate": None}
ARMS = {"beat_band": {"beat_band_hz": list(beats.BAND_HZ), "beat_band_gate": None},
        "beat_band_gate": {"beat_band_hz": list(beats.BAND_HZ),
                           "beat_band_gate": beats.BAND_GATE}}


def main() -> None:
    import argparse

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--arm", choices=sorted(ARMS), default="beat_band_gate")
    known, rest = pre.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    payload = compare_scans(__doc__, known.arm, BASE, ARMS[known.arm])
    stem = "benchmarks-" + known.arm.replace("_", "-")
    atomic_write_json(OUT / f"{stem}.json", payload)
    atomic_write_text(OUT / f"{stem}.md", markdown(payload))
    print(markdown(payload))


def markdown(p: dict) -> str:
    arm = p.get("arm", "beat_band")
    low, high = p.get("scan_changes", {}).get("beat_band_hz") or p["beat_band_hz"]
    gate = p.get("scan_changes", {}).get("beat_band_gate")
    described = (f"`{arm}`: on the raw lead band-passed to {low:g}-{high:g} Hz (Pan & "
                 "Tompkins' QRS band)" + (
                     f" where, in a scanner block, its beats agree with the lead's own less "
                     f"than {gate:g} (F1 of the two beat lists, 150 ms); the lead's own beats "
                     "elsewhere" if gate is not None else "") + ", training and scoring alike.")
    return report(p, arm, "Beats on the QRS band for the feature detector (features_gb)"
                  + (", gated" if gate is not None else ""), "benchmarks/beat_band.py",
                  "`base`: beats detected on the raw lead as it is (the release's before this "
                  "lever); "
                  + described,
                  extra=unrounded(p))


if __name__ == "__main__":
    main()
