"""Noise stress (notebook 08): real NSTDB noise added to real mitdb records at set SNRs.

For each mitdb record, each noise record (``bw`` baseline wander, ``ma`` muscle artifact; ``em``
when present) and each SNR, the noise is mixed in as WFDB's ``nst`` defines the SNR
(:mod:`ecgutils.noise`: S from the record's reference normal beats, N from the noise record's
first 300 s) over the *whole* record, and then

* the shipped detector bundle scans the noisy record (``ecg-af scan``'s pipeline: filtering,
  resampling and beat detection all see the noise), and
* the RR baseline (COSEn) runs on beats re-detected on the noisy record (NeuroKit2, the
  detector's own beat detector),

both scored on 20-s windows on a 20-s grid (flutter windows left out) with patient-bootstrap
CIs. The noise comes from the *test* half of each noise record (:func:`noise.noise_segments`,
after its first 300 s); the other half is kept for noise augmentation in training, so test
noise is never noise a model trained on.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import pandas as pd

from ecgutils import baseline, beats, bundle, datasets, detect, external, metrics, noise, records
from ecgutils.progress import progress

SNRS_DB = (24, 18, 12, 6, 0, -6)
HEADLINE = ("se", "sp", "ppv", "f1", "auroc")
CLEAN = "clean"


@dataclasses.dataclass(frozen=True)
class NoiseRecord:
    """One noise lead: ``test`` samples (the test segment) at ``fs``, and the record's N."""

    name: str
    fs: float
    test: np.ndarray
    power_mv2: float


def condition_name(noise_name: str, snr_db: float) -> str:
    """``noise_ma_6db``, ``noise_bw_m6db``: the key part of one condition."""
    value = f"{snr_db:g}".replace("-", "m")
    return f"noise_{noise_name}_{value}db"


def noise_records(data_dir: str | os.PathLike | None = None, test_share: float = 0.5,
                  seed: int = 0) -> dict[str, NoiseRecord]:
    """The NSTDB noise records present (first channel), each cut to its test segment."""
    root = datasets.ensure_local("nstdb", data_dir)
    out = {}
    for name in datasets.get("nstdb").records:
        if not (root / f"{name}.hea").is_file():
            continue  # 'em' is absent from the shared mirror
        rec = records.read_path(root / name, lead=0)
        power = noise.noise_power(rec.signal, rec.fs)
        available_s = rec.duration_s - 300.0
        segment_s = available_s * min(test_share, 1 - test_share) - 1.0
        parts = noise.noise_segments(rec.n_samples, rec.fs, segment_s,
                                     parts={"train": 1 - test_share, "test": test_share},
                                     seed=seed)
        start = int(round(parts["test"][0] * rec.fs))
        test = rec.signal[start:start + int(round(segment_s * rec.fs))]
        out[name] = NoiseRecord(name, rec.fs, test, power)
    return out


def run(shipped: bundle.Bundle, names: list[str], noises: dict[str, NoiseRecord],
        snrs_db: tuple[float, ...] = SNRS_DB, data_dir: str | os.PathLike | None = None,
        model: str = "release") -> pd.DataFrame:
    """Window scores of the bundle and of COSEn under every condition: one row per window
    and condition (``record, patient, condition, noise, snr_db, model, y, prob,
    threshold``)."""
    ds = datasets.get("mitdb")
    root = datasets.ensure_local("mitdb", data_dir)
    s = shipped.settings
    cosen = baseline.CosenParams()
    rows = []
    for name in progress(names, "noise stress"):
        rec = records.read_path(root / name, annotator=ds.annotator)
        power = noise.signal_power(rec.signal, rec.fs, rec.beat_samples, rec.beat_symbols)
        grid = y = None
        for condition, noise_name, snr, signal_mv in _conditions(rec, noises, snrs_db, power):
            result = detect.analyse(dataclasses.replace(rec, signal=signal_mv), shipped)
            if grid is None:  # every condition has the record's length, so the same windows
                grid, y = external.scored_windows(rec, result.starts_s, s.window_s)
            starts = result.starts_s[grid]
            found = beats.detect(signal_mv, rec.fs) / rec.fs
            score = (baseline.window_scores(found, starts, s.window_s, cosen, rec.duration_s)
                     if found.size > cosen.window_rr + 1 else np.zeros(starts.size))
            common = {"record": name, "patient": ds.patient_id(name), "condition": condition,
                      "noise": noise_name, "snr_db": snr, "y": y[grid]}
            rows.append(pd.DataFrame({**common, "model": model, "prob": result.prob[grid],
                                      "threshold": s.threshold}))
            rows.append(pd.DataFrame({**common, "model": "cosen", "prob": score,
                                      "threshold": 0.5}))
    return pd.concat(rows, ignore_index=True)


def _conditions(rec: records.Record, noises: dict[str, NoiseRecord],
                snrs_db: tuple[float, ...], power_mv2: float):
    """(condition, noise, snr_db, signal) for the clean record, then each noise and SNR
    (mixed one at a time, not all held at once)."""
    yield CLEAN, "none", np.inf, rec.signal
    for noise_name, nr in noises.items():
        for snr in snrs_db:
            yield (condition_name(noise_name, snr), noise_name, snr,
                   noise.mix(rec.signal, rec.fs, nr.test, nr.fs, snr, power_mv2,
                             nr.power_mv2))


def evaluate(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Metrics with patient-bootstrap CIs per model and condition (one row each)."""
    out = []
    for (model, condition), part in table.groupby(["model", "condition"], sort=False):
        ev = metrics.evaluate(part["y"], part["prob"], part["patient"],
                              threshold=part["threshold"].to_numpy(), n_boot=n_boot, seed=seed)
        row = {"model": model, "condition": condition, "noise": part["noise"].iloc[0],
               "snr_db": part["snr_db"].iloc[0], "windows": len(part)}
        for name in HEADLINE:
            row[name] = ev[name]
            row[f"{name}_ci95"] = ev.get(f"{name}_ci95")
        out.append(row)
    return pd.DataFrame(out)


def keys(results: pd.DataFrame, dataset: str = "mitdb") -> dict[str, Any]:
    """``<dataset>.<model>.noise_<bw|ma>_<snr>db.<metric>`` (+ ``_ci95``), the clean rows
    as ``<dataset>.<model>.clean.<metric>``."""
    from ecgutils import reporting

    out: dict[str, Any] = {}
    for row in results.to_dict("records"):
        prefix = f"{dataset}.{row['model']}.{row['condition']}"
        for name in HEADLINE:
            out[f"{prefix}.{name}"] = row[name]
            out[f"{prefix}.{name}_ci95"] = row[f"{name}_ci95"]
    return reporting.defined(out)


def f1_drop_at(results: pd.DataFrame, snr_db: float) -> pd.DataFrame:
    """Per model and noise: F1 at ``snr_db`` minus clean F1."""
    clean = results[results["condition"] == CLEAN].set_index("model")["f1"]
    at = results[results["snr_db"] == snr_db]
    return pd.DataFrame({"model": at["model"], "noise": at["noise"], "snr_db": snr_db,
                         "f1": at["f1"], "clean_f1": at["model"].map(clean).to_numpy(),
                         "drop": at["f1"].to_numpy() - at["model"].map(clean).to_numpy()})
