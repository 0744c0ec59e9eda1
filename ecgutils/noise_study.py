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

from ecgutils import (
    baseline,
    beats,
    bundle,
    config,
    datasets,
    detect,
    external,
    metrics,
    noise,
    records,
)
from ecgutils.progress import progress

SNRS_DB = (24, 18, 12, 6, 0, -6)
HEADLINE = ("se", "sp", "ppv", "f1", "auroc")
CLEAN = "clean"


@dataclasses.dataclass(frozen=True)
class NoiseRecord:
    """One noise lead: ``test`` samples (the test segment) at ``fs``, and the record's N.

    ``train`` holds the samples of the training segment (disjoint from ``test``, the noise of
    training augmentation, :mod:`ecgutils.noise_augment`); ``train_start_s`` and
    ``test_start_s`` say where both segments start in the noise record.
    """

    name: str
    fs: float
    test: np.ndarray
    power_mv2: float
    train: np.ndarray | None = None
    train_start_s: float | None = None
    test_start_s: float | None = None

    def segment_s(self, part: str) -> tuple[float, float]:
        """``(start, end)`` in the noise record (s) of the ``train`` or ``test`` segment."""
        if part not in ("train", "test"):
            raise ValueError(f"part must be 'train' or 'test', got {part!r}")
        start = self.train_start_s if part == "train" else self.test_start_s
        samples = self.train if part == "train" else self.test
        if start is None or samples is None:
            raise ValueError(f"noise record {self.name!r} was built without its {part} segment")
        return start, start + samples.size / self.fs


def condition_name(noise_name: str, snr_db: float) -> str:
    """``noise_ma_6db``, ``noise_bw_m6db``: the key part of one condition."""
    value = f"{snr_db:g}".replace("-", "m")
    return f"noise_{noise_name}_{value}db"


def noise_records(data_dir: str | os.PathLike | None = None, test_share: float = 0.5,
                  seed: int = config.DEFAULT_SEED) -> dict[str, NoiseRecord]:
    """The NSTDB noise records present (first channel), each cut to its test segment (and,
    apart, its training segment: :attr:`NoiseRecord.train`). ``seed`` decides which segment
    is which: notebook 08 passes its profile's seed, the default here."""
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
        length = int(round(segment_s * rec.fs))
        start = int(round(parts["test"][0] * rec.fs))
        train_start = int(round(parts["train"][0] * rec.fs))
        out[name] = NoiseRecord(name, rec.fs, rec.signal[start:start + length], power,
                                train=rec.signal[train_start:train_start + length],
                                train_start_s=train_start / rec.fs,
                                test_start_s=start / rec.fs)
    return out


def run(shipped: bundle.Bundle, names: list[str], noises: dict[str, NoiseRecord],
        snrs_db: tuple[float, ...] = SNRS_DB, data_dir: str | os.PathLike | None = None,
        model: str = "release") -> pd.DataFrame:
    """Window scores of the bundle and of COSEn under every condition: one row per window
    and condition (``record, patient, condition, noise, snr_db, model, y, prob,
    threshold``)."""
    s = shipped.settings
    cosen = baseline.CosenParams()
    rows = []
    grids: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for rec, common, signal_mv in _noisy_versions(names, noises, snrs_db, data_dir,
                                                  "noise stress"):
        result = detect.analyse(dataclasses.replace(rec, signal=signal_mv), shipped)
        grid, y = _scored(grids, rec, result.starts_s, s.window_s)
        starts = result.starts_s[grid]
        found = beats.detect(signal_mv, rec.fs) / rec.fs
        score = (baseline.window_scores(found, starts, s.window_s, cosen, rec.duration_s)
                 if found.size > cosen.window_rr + 1 else np.zeros(starts.size))
        common = {**common, "y": y[grid]}
        rows.append(pd.DataFrame({**common, "model": model, "prob": result.prob[grid],
                                  "threshold": s.threshold}))
        rows.append(pd.DataFrame({**common, "model": "cosen", "prob": score,
                                  "threshold": 0.5}))
    return pd.concat(rows, ignore_index=True)


class SharedScan(bundle.Bundle):
    """Several bundles with the same preprocessing scanned in one pass: the filtering,
    resampling and beat detection are done once and every bundle's models read the same
    windows (a study of two variants of one recipe costs one scan, not two).

    :func:`ecgutils.detect.analyse` with this object scores with the first bundle;
    :meth:`analyse` gives every bundle's window probabilities.
    """

    def __init__(self, members: dict[str, bundle.Bundle]):
        if not members:
            raise ValueError("SharedScan needs at least one bundle")
        first = next(iter(members.values())).settings
        for name, member in members.items():
            if member.settings.scan_key() != first.scan_key():
                raise ValueError(f"bundle {name!r} preprocesses differently from the first: "
                                 "it cannot share its scan")
        super().__init__([model for m in members.values() for model in m.models], first)
        self.members = members
        self._out: dict[str, list[np.ndarray]] = {}

    def predict(self, ecg: np.ndarray, rr: np.ndarray, batch_size: int = 512) -> np.ndarray:
        probs = {name: member.predict(ecg, rr, batch_size)
                 for name, member in self.members.items()}
        for name, prob in probs.items():
            self._out.setdefault(name, []).append(prob)
        return next(iter(probs.values()))

    def analyse(self, rec: records.Record) -> tuple[detect.ScanResult, dict[str, np.ndarray]]:
        """One scan of ``rec``: the result (first bundle) and each bundle's window
        probabilities, aligned with ``result.starts_s``."""
        self._out = {}
        result = detect.analyse(rec, self)
        probs = {name: np.concatenate(self._out.get(name, [np.zeros(0)]))
                 for name in self.members}
        return result, probs


def scan_conditions(bundles: dict[str, bundle.Bundle], names: list[str],
                    noises: dict[str, NoiseRecord], snrs_db: tuple[float, ...] = SNRS_DB,
                    data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Like :func:`run` for several bundles of one preprocessing (no COSEn), each noisy
    record scanned once (:class:`SharedScan`); each bundle scored at its own threshold.
    Same columns as :func:`run`, ``model`` naming the bundle."""
    shared = SharedScan(bundles)
    rows = []
    grids: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for rec, common, signal_mv in _noisy_versions(names, noises, snrs_db, data_dir,
                                                  "noise stress, shared scan"):
        result, probs = shared.analyse(dataclasses.replace(rec, signal=signal_mv))
        grid, y = _scored(grids, rec, result.starts_s, shared.settings.window_s)
        for model, member in bundles.items():
            rows.append(pd.DataFrame({**common, "y": y[grid], "model": model,
                                      "prob": probs[model][grid],
                                      "threshold": member.settings.threshold}))
    return pd.concat(rows, ignore_index=True)


def _noisy_versions(names: list[str], noises: dict[str, NoiseRecord],
                    snrs_db: tuple[float, ...], data_dir: str | os.PathLike | None, label: str):
    """Each mitdb record clean and under every noise and SNR: ``(record, columns, signal)``
    with the columns ``record, patient, condition, noise, snr_db`` of the result rows."""
    ds = datasets.get("mitdb")
    root = datasets.ensure_local("mitdb", data_dir)
    for name in progress(names, label):
        rec = records.read_path(root / name, annotator=ds.annotator)
        power = noise.signal_power(rec.signal, rec.fs, rec.beat_samples, rec.beat_symbols)
        for condition, noise_name, snr, signal_mv in _conditions(rec, noises, snrs_db, power):
            yield rec, {"record": name, "patient": ds.patient_id(name),
                        "condition": condition, "noise": noise_name, "snr_db": snr}, signal_mv


def _scored(grids: dict[str, tuple[np.ndarray, np.ndarray]], rec: records.Record,
            starts_s: np.ndarray, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """A record's scored windows and labels (:func:`ecgutils.external.scored_windows`),
    computed for its first condition: every condition has the record's length, so the same
    windows."""
    if rec.name not in grids:
        grids[rec.name] = external.scored_windows(rec, starts_s, window_s)
    return grids[rec.name]


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
