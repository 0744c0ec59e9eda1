"""The issues' targets against the measured numbers: one table for ``reports/summary.md``.

Every value comes from an exported metric key (``reports/summary.json``) or, for the cost
targets, from ``reports/benchmarks.json`` (``make bench``); nothing here is measured or typed
by hand except the goals themselves, which are the tracker's (issues 10, 12 and 13). A target
whose keys a run did not export is left out rather than shown as met or missed.

Each row names the model it reads, because the targets were written for "the detector" before
the study had several: ``release`` is the shipped feature detector (``ecgutils/release``),
``features_gb`` the same recipe in notebook 03c's folds, ``detector`` notebook 03b's waveform +
RR CNN (the key name the detector issue asked for), ``rr_baseline`` the COSEn RR statistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ecgutils.ec57 import RATES

COLUMNS = ("issue", "target", "model", "measured", "goal", "met")


@dataclass(frozen=True)
class Target:
    """One target read from one or more keys.

    ``kind``: ``at_least`` / ``at_most`` compare ``keys[0]`` with ``goal``; ``drop_within``
    takes ``keys[0] − keys[1]`` (clean minus noisy) and compares it with ``goal``;
    ``beats_all`` needs every one of ``keys`` strictly above the matching key of
    ``baseline`` (EC57's four numbers against the RR baseline's). ``scale`` multiplies the
    values read (seconds to minutes) before they are compared and shown.
    """

    issue: int
    what: str
    model: str
    keys: tuple[str, ...]
    goal: float | None = None
    kind: str = "at_least"
    baseline: tuple[str, ...] = ()
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("at_least", "at_most", "drop_within", "beats_all"):
            raise ValueError(f"unknown target kind {self.kind!r}")
        if self.kind == "beats_all" and len(self.baseline) != len(self.keys):
            raise ValueError("beats_all needs one baseline key per key")
        if self.kind != "beats_all" and self.goal is None:
            raise ValueError(f"a {self.kind} target needs a goal")


def _ec57(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}.ec57.{field}" for field in RATES)


CINC_F1 = "CinC 2017 record-level AF F1, record-grouped out of fold"
MITDB_F1 = "mitdb window AF F1, patient-grouped (CinC + mitdb training)"
MITDB_EC57 = "mitdb EC57 gross episode Se / +P / duration Se / +P above the RR baseline's"
SEED_SD = "SD of the CinC F1 over seeds"
EXTERNAL_F1 = "CinC 2017 → mitdb window AF F1, nothing tuned on mitdb"
EXTERNAL_EC57 = "CinC 2017 → mitdb EC57 gross episode Se"
NOISE = "mitdb F1 drop from clean to NSTDB {noise} at 6 dB"
BASELINE_EC57 = _ec57("mitdb.rr_baseline")

TARGETS: tuple[Target, ...] = (
    Target(10, CINC_F1, "release", ("release.detector.cinc2017_cv.f1",), 0.85),
    Target(10, CINC_F1, "features_gb", ("cinc2017.features_gb.grouped.f1",), 0.85),
    Target(10, CINC_F1, "detector", ("cinc2017.detector.grouped.f1",), 0.85),
    Target(10, MITDB_F1, "features_gb", ("mitdb.features_gb.grouped.f1",), 0.90),
    Target(10, MITDB_F1, "detector", ("mitdb.detector.grouped.f1",), 0.90),
    Target(10, MITDB_EC57, "release (CinC only, external)",
           _ec57("cinc2017_to_mitdb.release"), kind="beats_all", baseline=BASELINE_EC57),
    Target(10, MITDB_EC57, "features_gb", _ec57("mitdb.features_gb"), kind="beats_all",
           baseline=BASELINE_EC57),
    Target(10, MITDB_EC57, "detector", _ec57("mitdb.detector"), kind="beats_all",
           baseline=BASELINE_EC57),
    Target(10, SEED_SD, "release", ("release.detector.cinc2017_cv.f1_seed_sd",), 0.02,
           kind="at_most"),
    Target(10, SEED_SD, "detector", ("cinc2017.detector.grouped.f1_seed_sd",), 0.02,
           kind="at_most"),
    Target(12, EXTERNAL_F1, "release", ("cinc2017_to_mitdb.release.external.f1",), 0.85),
    Target(12, EXTERNAL_F1, "features_gb", ("cinc2017_to_mitdb.features_gb.external.f1",), 0.85),
    Target(12, EXTERNAL_F1, "detector", ("cinc2017_to_mitdb.detector.external.f1",), 0.85),
    Target(12, EXTERNAL_EC57, "release", ("cinc2017_to_mitdb.release.ec57.episode_se",), 0.90),
    Target(12, EXTERNAL_EC57, "features_gb",
           ("cinc2017_to_mitdb.features_gb.ec57.episode_se",), 0.90),
    Target(12, EXTERNAL_EC57, "detector", ("cinc2017_to_mitdb.detector.ec57.episode_se",), 0.90),
    Target(12, NOISE.format(noise="baseline wander (bw)"), "release",
           ("mitdb.release.clean.f1", "mitdb.release.noise_bw_6db.f1"), 0.05,
           kind="drop_within"),
    Target(12, NOISE.format(noise="muscle (ma)"), "release",
           ("mitdb.release.clean.f1", "mitdb.release.noise_ma_6db.f1"), 0.05,
           kind="drop_within"),
)

BENCH_TARGETS: tuple[Target, ...] = (
    Target(13, "default study wall time on this 2-core machine (min)", "all notebooks",
           ("study.default.wall_s",), 45.0, kind="at_most", scale=1 / 60),
    Target(13, "scanner, × real time on one core (24 h)", "release",
           ("scanner.detector.realtime_factor",), 5000.0),
    Target(13, "2 Dask workers against 1 on 20 records (×)", "release",
           ("scanner.dask_speedup_2_vs_1",), 1.8),
    Target(13, "training peak RSS, 16× the data against 1×", "cnn1d",
           ("train.peak_rss_ratio_16x_vs_1x",), 1.10, kind="at_most"),
)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def evaluate(target: Target, metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The target's row (:data:`COLUMNS`), or None when a key it reads is missing."""
    needed = target.keys + target.baseline
    if any(not isinstance(metrics.get(key), (int, float)) for key in needed):
        return None
    values = [float(metrics[key]) * target.scale for key in target.keys]
    if target.kind == "beats_all":
        base = [float(metrics[key]) for key in target.baseline]
        met = all(value > other for value, other in zip(values, base, strict=True))
        measured = " / ".join(f"{100 * value:.0f}" for value in values)
        goal = "> " + " / ".join(f"{100 * value:.0f}" for value in base)
    elif target.kind == "drop_within":
        drop = values[0] - values[1]
        met = drop <= target.goal
        measured = f"{drop:+.3f} ({values[0]:.3f} → {values[1]:.3f})"
        goal = f"≤ {target.goal:.2f}"
    else:
        met = values[0] >= target.goal if target.kind == "at_least" else values[0] <= target.goal
        measured = _number(values[0])
        goal = ("≥ " if target.kind == "at_least" else "≤ ") + _number(target.goal)
    return {"issue": target.issue, "target": target.what, "model": target.model,
            "measured": measured, "goal": goal, "met": "yes" if met else "no"}


def target_table(metrics: dict[str, Any], bench: dict[str, Any] | None = None,
                 targets: tuple[Target, ...] = TARGETS,
                 bench_targets: tuple[Target, ...] = BENCH_TARGETS) -> pd.DataFrame:
    """Every target whose keys are present: ``targets`` read from the summary's ``metrics``,
    ``bench_targets`` from ``bench`` (``reports/benchmarks.json``'s ``keys``) when given."""
    rows = [evaluate(target, metrics) for target in targets]
    rows += [evaluate(target, bench) for target in bench_targets] if bench else []
    return pd.DataFrame([row for row in rows if row is not None], columns=list(COLUMNS))
