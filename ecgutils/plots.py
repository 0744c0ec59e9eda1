"""Figures. Each function draws one figure, saves it under ``reports/figures/`` and returns it."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ecgutils import config, rhythm
from ecgutils.fileio import atomic_write
from ecgutils.records import Record

AF_COLOUR = "#d62728"
NON_AF_COLOUR = "#1f77b4"


def save_figure(fig: plt.Figure, name: str, dpi: int = 110) -> plt.Figure:
    """Write ``fig`` to ``reports/figures/<name>.png`` atomically."""
    atomic_write(
        config.figures_dir() / f"{name}.png",
        lambda stream: fig.savefig(stream, format="png", dpi=dpi, bbox_inches="tight"),
    )
    return fig


def strip_pair(
    rec: Record, af_span: tuple[float, float], other_span: tuple[float, float], name: str
) -> plt.Figure:
    """An AF strip beside a non-AF strip of the same record (same amplitude scale)."""
    fig, axes = plt.subplots(2, 1, figsize=(11, 4.5), sharey=True)
    for ax, span, title, colour in (
        (axes[0], af_span, "AF", AF_COLOUR),
        (axes[1], other_span, "not AF", NON_AF_COLOUR),
    ):
        first, last = (int(round(t * rec.fs)) for t in span)
        time_s = np.arange(first, last) / rec.fs
        ax.plot(time_s, rec.signal[first:last], color=colour, linewidth=0.7)
        beats = rec.beat_samples[(rec.beat_samples >= first) & (rec.beat_samples < last)]
        ax.plot(beats / rec.fs, rec.signal[beats], "k.", markersize=4)
        label = rhythm.labels_at(rec.rhythm, np.array([np.mean(span)]))[0]
        ax.set_title(f"{rec.dataset} {rec.name} (patient {rec.patient_id}), {title}: "
                     f"annotated rhythm {label}, {span[0]:.0f}–{span[1]:.0f} s",
                     fontsize=9, loc="left")
        ax.set_ylabel(f"{rec.lead} (mV)")
    axes[1].set_xlabel("time (s)")
    fig.tight_layout()
    return save_figure(fig, name)


def rr_tachogram(rec: Record, name: str) -> plt.Figure:
    """RR intervals over the record, AF intervals shaded."""
    times_s, rr_s = rhythm.rr_intervals(rec.beat_times_s)
    fig, ax = plt.subplots(figsize=(11, 3))
    for episode in rec.af_episodes:
        ax.axvspan(episode.start_s / 60, episode.end_s / 60, color=AF_COLOUR, alpha=0.15, lw=0)
    ax.plot(times_s / 60, rr_s, "k.", markersize=1.5)
    ax.set(xlabel="time (min)", ylabel="RR (s)", ylim=(0, min(2.5, float(np.max(rr_s)) * 1.05)),
           title=f"{rec.dataset} {rec.name}: RR intervals (reference beats); AF shaded")
    fig.tight_layout()
    return save_figure(fig, name)


def poincare(recs: Sequence[Record], name: str) -> plt.Figure:
    """RR[i] against RR[i+1], AF beats vs the rest, one panel per record."""
    fig, axes = plt.subplots(1, len(recs), figsize=(3.2 * len(recs), 3.2), squeeze=False)
    for ax, rec in zip(axes[0], recs, strict=True):
        times_s, rr_s = rhythm.rr_intervals(rec.beat_times_s)
        in_af = rhythm.labels_at(rec.rhythm, times_s[1:]) == rhythm.AF
        ax.plot(rr_s[:-1][~in_af], rr_s[1:][~in_af], ".", color=NON_AF_COLOUR, ms=1, alpha=0.4,
                label="not AF")
        ax.plot(rr_s[:-1][in_af], rr_s[1:][in_af], ".", color=AF_COLOUR, ms=1, alpha=0.4,
                label="AF")
        ax.set(xlim=(0.2, 1.8), ylim=(0.2, 1.8), xlabel="RR[i] (s)", title=rec.name)
        ax.set_aspect("equal")
    axes[0][0].set_ylabel("RR[i+1] (s)")
    axes[0][0].legend(markerscale=8, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, name)


def af_burden_bars(by_patient: pd.DataFrame, name: str) -> plt.Figure:
    """AF burden per patient (only patients with AF)."""
    with_af = by_patient[by_patient["af_s"] > 0].sort_values("af_burden")
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(with_af) + 1.2))
    ax.barh(with_af["records"], 100 * with_af["af_burden"], color=AF_COLOUR)
    ax.set(xlabel="AF burden (% of recording)", ylabel="patient (records)", xlim=(0, 100))
    fig.tight_layout()
    return save_figure(fig, name)


def episode_durations(episodes: pd.DataFrame, window_s: float, name: str) -> plt.Figure:
    """Histogram of AF episode durations (log scale) with the window length marked."""
    fig, ax = plt.subplots(figsize=(6.5, 3))
    bins = np.logspace(0, np.log10(max(2.0, episodes["duration_s"].max() * 1.1)), 30)
    ax.hist(episodes["duration_s"], bins=bins, color=AF_COLOUR)
    ax.axvline(window_s, color="k", ls="--", label=f"window {window_s:g} s")
    ax.set(xscale="log", xlabel="AF episode duration (s)", ylabel="episodes")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, name)


def cinc_lengths(table: pd.DataFrame, window_s: float, name: str) -> plt.Figure:
    """Record-length histogram of CinC 2017 per class, window length marked."""
    fig, ax = plt.subplots(figsize=(6.5, 3))
    bins = np.arange(0, table["duration_s"].max() + 2, 2)
    for label, group in table.groupby("label"):
        ax.hist(group["duration_s"], bins=bins, histtype="step", label=f"{label} ({len(group)})",
                density=True)
    ax.axvline(window_s, color="k", ls="--", label=f"window {window_s:g} s")
    ax.set(xlabel="record length (s)", ylabel="density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, name)
