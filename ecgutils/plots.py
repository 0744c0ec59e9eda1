"""Figures. Each function draws one figure, saves it under ``reports/figures/`` and returns it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score, roc_curve

from ecgutils import config, metrics, rhythm
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


def filtered_vs_raw(
    raw_mv: ArrayLike,
    raw_fs: float,
    filtered: ArrayLike,
    filtered_fs: float,
    title: str,
    name: str,
    seconds: float = 10.0,
) -> plt.Figure:
    """The raw lead above its band-passed, resampled version, on a shared time axis.

    Parameters
    ----------
    raw_mv : array_like, shape (n_raw,)
        Raw lead in mV, sampled at ``raw_fs``.
    raw_fs : float
        Sampling frequency of ``raw_mv`` (Hz).
    filtered : array_like, shape (n_filtered,)
        The band-passed, resampled signal (mV, or normalised units), sampled at ``filtered_fs``.
    filtered_fs : float
        Sampling frequency of ``filtered`` (Hz).
    title : str
        Figure title (say which record and lead).
    name : str
        File name under ``reports/figures/`` without ``.png``.
    seconds : float
        Only the first ``seconds`` (s) of both signals are drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if raw_fs <= 0 or filtered_fs <= 0:
        raise ValueError(
            f"sampling frequencies must be positive; got raw_fs={raw_fs}, "
            f"filtered_fs={filtered_fs}"
        )
    if seconds <= 0:
        raise ValueError(f"seconds must be positive; got {seconds}")
    raw = np.asarray(raw_mv, dtype=float).ravel()[: int(round(seconds * raw_fs))]
    band = np.asarray(filtered, dtype=float).ravel()[: int(round(seconds * filtered_fs))]
    if raw.size == 0 or band.size == 0:
        raise ValueError(f"nothing to draw: {raw.size} raw and {band.size} filtered samples")
    fig, axes = plt.subplots(2, 1, figsize=(11, 4.5), sharex=True)
    axes[0].plot(np.arange(raw.size) / raw_fs, raw, color="k", linewidth=0.7)
    axes[0].set_ylabel("raw (mV)")
    axes[0].set_title(f"raw lead, {raw_fs:g} Hz", fontsize=9, loc="left")
    axes[1].plot(np.arange(band.size) / filtered_fs, band, color=NON_AF_COLOUR, linewidth=0.7)
    axes[1].set(ylabel="filtered (mV)", xlabel="time (s)")
    axes[1].set_title(f"band-passed, resampled to {filtered_fs:g} Hz", fontsize=9, loc="left")
    axes[1].set_xlim(0, min(seconds, max(raw.size / raw_fs, band.size / filtered_fs)))
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, name)


def spectrogram_pair(
    spec_af: ArrayLike,
    spec_sinus: ArrayLike,
    freqs_hz: ArrayLike,
    times_s: ArrayLike,
    name: str,
    titles: tuple[str, str] = ("AF", "sinus rhythm"),
) -> plt.Figure:
    """Two log-magnitude spectrograms side by side on one colour scale.

    Parameters
    ----------
    spec_af, spec_sinus : array_like, shape (n_freqs, n_times)
        Log-magnitude STFTs of an AF window and a sinus-rhythm window.
    freqs_hz : array_like, shape (n_freqs,)
        Bin frequencies (Hz).
    times_s : array_like, shape (n_times,)
        Segment-centre times within the window (s).
    name : str
        File name under ``reports/figures/`` without ``.png``.
    titles : tuple of str
        Panel titles, left then right.

    Returns
    -------
    matplotlib.figure.Figure
    """
    freqs = np.asarray(freqs_hz, dtype=float)
    times = np.asarray(times_s, dtype=float)
    specs = [np.asarray(spec, dtype=float) for spec in (spec_af, spec_sinus)]
    for label, spec in zip(("spec_af", "spec_sinus"), specs, strict=True):
        if spec.shape != (freqs.size, times.size):
            raise ValueError(
                f"{label} has shape {spec.shape}; expected (n_freqs, n_times) = "
                f"({freqs.size}, {times.size})"
            )
    low = min(float(np.nanmin(spec)) for spec in specs)
    high = max(float(np.nanmax(spec)) for spec in specs)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True, layout="constrained")
    for ax, spec, title in zip(axes, specs, titles, strict=True):
        mesh = ax.pcolormesh(times, freqs, spec, shading="nearest", cmap="magma",
                             vmin=low, vmax=high)
        ax.set(xlabel="time (s)", title=title)
    axes[0].set_ylabel("frequency (Hz)")
    fig.colorbar(mesh, ax=axes, label="log magnitude")
    return save_figure(fig, name)


def class_balance(manifest: pd.DataFrame, name: str) -> plt.Figure:
    """Window counts per dataset and label as grouped bars, each bar labelled with its count.

    Parameters
    ----------
    manifest : pandas.DataFrame
        One row per window, with columns ``dataset`` and ``label`` ("AF", "non-AF", ...).
    name : str
        File name under ``reports/figures/`` without ``.png``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    missing = {"dataset", "label"} - set(manifest.columns)
    if missing:
        raise ValueError(f"manifest lacks column(s) {sorted(missing)}")
    if manifest.empty:
        raise ValueError("manifest has no rows")
    counts = manifest.groupby(["dataset", "label"]).size().unstack(fill_value=0)
    known = [label for label in ("AF", "non-AF") if label in counts.columns]
    counts = counts[known + sorted(set(counts.columns) - set(known))]
    palette = dict(zip(counts.columns, sns.color_palette("colorblind", len(counts.columns)),
                       strict=True))
    palette.update({label: colour for label, colour in
                    (("AF", AF_COLOUR), ("non-AF", NON_AF_COLOUR)) if label in palette})
    width = 0.8 / len(counts.columns)
    positions = np.arange(len(counts.index))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(counts.index) + 2), 3.5))
    for offset, label in enumerate(counts.columns):
        heights = counts[label].to_numpy()
        bars = ax.bar(positions + (offset - (len(counts.columns) - 1) / 2) * width, heights,
                      width=width, color=palette[label], label=label)
        ax.bar_label(bars, labels=[str(n) if n else "" for n in heights], fontsize=8,
                     padding=1)
    ax.set_xticks(positions, counts.index)
    ax.set(xlabel="dataset", ylabel="windows",
           title=f"windows per dataset and label ({len(manifest)} in all)")
    ax.margins(y=0.12)
    ax.legend(title="label", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, name)


def confusion_heatmap(
    cm: ArrayLike, title: str, name: str, labels: tuple[str, str] = ("non-AF", "AF")
) -> plt.Figure:
    """2×2 confusion matrix, each cell annotated with its count and its row percentage.

    Parameters
    ----------
    cm : array_like, shape (2, 2)
        ``[[tn, fp], [fn, tp]]``: rows are the true class, columns the predicted one.
    title : str
        Figure title.
    name : str
        File name under ``reports/figures/`` without ``.png``.
    labels : tuple of str
        Class names in row/column order (negative first).

    Returns
    -------
    matplotlib.figure.Figure
    """
    counts = np.asarray(cm, dtype=float)
    if counts.shape != (2, 2):
        raise ValueError(f"cm must have shape (2, 2); got {counts.shape}")
    if np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError(f"cm must hold non-negative finite counts; got {counts.tolist()}")
    row_totals = counts.sum(axis=1, keepdims=True)
    # Colour by row fraction so that the rare class is as readable as the common one.
    row_fraction = np.divide(counts, row_totals, out=np.full_like(counts, np.nan),
                             where=row_totals > 0)
    annotations = np.array([
        [f"{_format_count(count)}\n"
         + ("(n/a)" if np.isnan(fraction) else f"({100 * fraction:.1f} %)")
         for count, fraction in zip(count_row, fraction_row, strict=True)]
        for count_row, fraction_row in zip(counts, row_fraction, strict=True)
    ])
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    # An empty row is coloured as 0 because seaborn drops the annotation of a NaN cell.
    sns.heatmap(np.nan_to_num(row_fraction), annot=annotations, fmt="", cmap="Blues", vmin=0,
                vmax=1, xticklabels=labels, yticklabels=labels, square=True, ax=ax,
                cbar_kws={"label": "fraction of true class"})
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    return save_figure(fig, name)


def roc_curves(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]], name: str, title: str = "ROC"
) -> plt.Figure:
    """One ROC curve per entry, AUROC in the legend, chance diagonal.

    Parameters
    ----------
    curves : mapping of str to (y_true, prob)
        ``y_true`` holds 0/1 (1 = AF) and ``prob`` the predicted AF probability, one per
        window. An entry whose ``y_true`` holds one class only has no ROC curve; it is
        listed in the legend as skipped.
    name : str
        File name under ``reports/figures/`` without ``.png``.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not curves:
        raise ValueError("curves is empty")
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="chance")
    for label, (y_true, prob) in curves.items():
        truth, scores = _binary_pair(label, y_true, prob)
        if np.unique(truth).size < 2:
            ax.plot([], [], ls="none",
                    label=f"{label}: skipped, one class only (n={truth.size})")
            continue
        fpr, tpr, _ = roc_curve(truth, scores)
        auroc = roc_auc_score(truth, scores)
        ax.plot(fpr, tpr, lw=1.4, label=f"{label} (AUROC {auroc:.2f}, n={truth.size})")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), title=title,
           xlabel="false-positive rate (1 − specificity)",
           ylabel="true-positive rate (sensitivity)")
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, name)


def training_curves(
    histories: Sequence[Mapping[str, Sequence[float]]],
    name: str,
    metrics: Sequence[str] = ("loss",),
) -> plt.Figure:
    """Per-epoch training (solid) and validation (dashed) curves, one colour per fold.

    Parameters
    ----------
    histories : sequence of mapping of str to sequence of float
        One Keras ``History.history`` per fold: metric name (``"loss"``, ``"val_loss"`` ...)
        to its value after each epoch.
    name : str
        File name under ``reports/figures/`` without ``.png``.
    metrics : sequence of str
        Metrics to draw, one panel each; ``val_<metric>`` is drawn dashed beside ``<metric>``.
        Keys absent from a fold's history are skipped.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if len(histories) == 0:
        raise ValueError("histories is empty")
    if len(metrics) == 0:
        raise ValueError("metrics is empty")
    colours = sns.color_palette("tab10", len(histories))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.3), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        fold_handles = []
        for fold, (history, colour) in enumerate(zip(histories, colours, strict=True)):
            drawn = False
            for key, style in ((metric, "-"), (f"val_{metric}", "--")):
                if key in history and len(history[key]) > 0:
                    values = np.asarray(history[key], dtype=float)
                    ax.plot(np.arange(1, values.size + 1), values, ls=style, color=colour, lw=1.2)
                    drawn = True
            if drawn:
                fold_handles.append(Line2D([], [], color=colour, label=f"fold {fold}"))
        if fold_handles:
            style_handles = [Line2D([], [], color="k", ls="-", label="train"),
                             Line2D([], [], color="k", ls="--", label="validation")]
            ax.legend(handles=fold_handles + style_handles, fontsize=7)
        else:
            ax.text(0.5, 0.5, f"no {metric!r} recorded", ha="center", va="center",
                    transform=ax.transAxes)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="epoch", ylabel=metric, title=f"{metric}: train vs validation")
    fig.tight_layout()
    return save_figure(fig, name)


def reliability_diagram(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]], name: str, n_bins: int = 10
) -> plt.Figure:
    """Fraction of AF against mean predicted probability in equal-width bins.

    Parameters
    ----------
    curves : mapping of str to (y_true, prob)
        ``y_true`` holds 0/1 (1 = AF), ``prob`` the predicted AF probability in [0, 1].
    name : str
        File name under ``reports/figures/`` without ``.png``.
    n_bins : int
        Number of equal-width probability bins on [0, 1], as in
        :func:`ecgutils.metrics.reliability` (the bins of the ECE); empty bins are not drawn.

    Returns
    -------
    matplotlib.figure.Figure
        Top panel: the reliability curves and the diagonal; bottom panel: histogram of the
        predicted probabilities (windows per bin).
    """
    if not curves:
        raise ValueError("curves is empty")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1; got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    fig, (ax, ax_hist) = plt.subplots(2, 1, figsize=(4.8, 5.6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="perfectly calibrated")
    for label, (y_true, prob) in curves.items():
        truth, scores = _binary_pair(label, y_true, prob)
        if np.any((scores < 0) | (scores > 1)):
            raise ValueError(f"{label}: probabilities must lie in [0, 1]")
        table = metrics.reliability(truth, scores, n_bins)
        line, = ax.plot(table["mean_prob"].to_numpy(), table["frac_af"].to_numpy(), "o-", ms=3,
                        lw=1.2, label=f"{label} (n={truth.size})")
        ax_hist.hist(scores, bins=edges, histtype="step", color=line.get_color())
    ax.set(xlim=(0, 1), ylim=(0, 1.02), ylabel="fraction AF",
           title=f"reliability ({n_bins} equal-width bins)")
    ax.legend(fontsize=7, loc="upper left")
    ax_hist.set(xlabel="mean predicted AF probability", ylabel="windows")
    fig.tight_layout()
    return save_figure(fig, name)


def metric_bars(
    table: pd.DataFrame,
    metric: str,
    name: str,
    ci_column: str | None = None,
    by: str = "fold",
    hue: str | None = None,
) -> plt.Figure:
    """Bar chart of ``metric`` per ``by`` (and ``hue``), with confidence intervals if given.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per (``by``, ``hue``) combination.
    metric : str
        Column holding the bar heights.
    name : str
        File name under ``reports/figures/`` without ``.png``.
    ci_column : str or None
        Column whose cells are ``[low, high]`` pairs (same units as ``metric``), drawn as
        error bars; a missing (NaN/None) cell draws no error bar.
    by : str
        Column giving the x-axis categories.
    hue : str or None
        Column giving the bars within a category (one colour each).

    Returns
    -------
    matplotlib.figure.Figure
    """
    needed = [column for column in (metric, by, hue, ci_column) if column is not None]
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}")
    if table.empty:
        raise ValueError("table has no rows")
    keys = [by] if hue is None else [by, hue]
    duplicated = table.duplicated(subset=keys, keep=False)
    if duplicated.any():
        first = table.loc[duplicated, keys].iloc[0].to_dict()
        raise ValueError(f"table has several rows for {first}; aggregate first or pass hue=")
    categories = list(pd.unique(table[by]))
    hue_levels = [None] if hue is None else list(pd.unique(table[hue]))
    colours = sns.color_palette("colorblind", len(hue_levels))
    fig, ax = plt.subplots(figsize=(max(4.5, 0.5 * len(categories) * len(hue_levels) + 2), 3.5))
    _grouped_bars(ax, table, metric, by, hue, ci_column, hue_levels, colours)
    suffix = "" if ci_column is None else f", bars: {ci_column}"
    ax.set(xlabel=by, ylabel=metric,
           title=f"{metric} per {by}" + ("" if hue is None else f" and {hue}") + suffix)
    if hue is not None:
        ax.legend(title=hue, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, name)


def leakage_bars(long: pd.DataFrame, name: str) -> plt.Figure:
    """Side-by-side bars of each metric per split, one panel per dataset, 95 % CIs as error
    bars (``long``: ``dataset, split, metric, value, ci95`` rows, as
    :func:`ecgutils.leakage.long_table` gives)."""
    needed = {"dataset", "split", "metric", "value", "ci95"}
    if missing := sorted(needed - set(long.columns)):
        raise ValueError(f"table lacks column(s) {missing}")
    if long.empty:
        raise ValueError("table has no rows")
    panels = list(pd.unique(long["dataset"]))
    # Every panel uses all splits' slots and colours, so a split keeps its place and colour.
    splits_shown = list(pd.unique(long["split"]))
    colours = sns.color_palette("colorblind", len(splits_shown))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), sharey=True,
                             squeeze=False)
    for ax, dataset in zip(axes[0], panels, strict=True):
        _grouped_bars(ax, long[long["dataset"] == dataset], "value", "metric", "split", "ci95",
                      splits_shown, colours)
        ax.set(title=dataset, ylim=(0, 1.05))
    axes[0][0].set_ylabel("pooled out-of-fold value (95 % CI, patient bootstrap)")
    axes[0][-1].legend(title="split", fontsize=8, loc="lower right")
    fig.suptitle("Same model, same recipe: random window split vs patient-grouped split")
    fig.tight_layout()
    return save_figure(fig, name)


def episode_timeline(
    reference: Mapping[str, Sequence[rhythm.Interval]],
    detected: Mapping[str, Mapping[str, Sequence[rhythm.Interval]]],
    records: Sequence[str],
    name: str,
    start_s: float = 0.0,
) -> plt.Figure:
    """Reference AF (and flutter) and each detector's AF episodes along each record.

    Parameters
    ----------
    reference : mapping
        Record → reference rhythm intervals (AFIB and AFL are drawn).
    detected : mapping
        Detector name → record → AF intervals.
    records : sequence of str
        Records to draw, top to bottom.
    name : str
        File name under ``reports/figures/`` without ``.png``.
    start_s : float
        EC57 comparison start (s), drawn as a dotted line.
    """
    if not records:
        raise ValueError("no records to draw")
    lanes = ["reference", *detected]
    colours = dict(zip(lanes, ["k", *sns.color_palette("colorblind", len(detected))],
                       strict=True))
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(records) * len(lanes) + 1.2))
    y = 0
    ticks, labels = [], []
    for record in records:
        for lane in lanes:
            spans = (reference[record] if lane == "reference" else detected[lane][record])
            for interval in spans:
                if interval.label not in (rhythm.AF, rhythm.AFL):
                    continue
                ax.broken_barh([(interval.start_s / 60, interval.duration_s / 60)], (y - 0.4, 0.8),
                               color=colours[lane],
                               alpha=0.35 if interval.label == rhythm.AFL else 0.9)
            ticks.append(y)
            labels.append(f"{record} {lane}")
            y -= 1
        y -= 0.5
    if start_s:
        ax.axvline(start_s / 60, color="grey", ls=":", lw=1)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set(xlabel="time (min)", title="AF episodes (light: reference flutter; dotted: EC57 start)")
    fig.tight_layout()
    return save_figure(fig, name)


def _grouped_bars(ax: plt.Axes, table: pd.DataFrame, value: str, by: str, hue: str | None,
                  ci_column: str | None, hue_levels: Sequence[object], colours: Sequence) -> None:
    """Bars of ``value`` per ``by`` category, side by side per ``hue`` level (one colour each;
    a level without rows leaves its slot empty), with ``ci_column`` intervals as error bars."""
    categories = list(pd.unique(table[by]))
    width = 0.8 / len(hue_levels)
    for offset, (level, colour) in enumerate(zip(hue_levels, colours, strict=True)):
        rows = table if hue is None else table[table[hue] == level]
        if rows.empty:
            continue
        positions = np.array([categories.index(item) for item in rows[by]], dtype=float)
        positions += (offset - (len(hue_levels) - 1) / 2) * width
        ax.bar(positions, rows[value].to_numpy(dtype=float), width=width, color=colour,
               label=None if hue is None else str(level))
        if ci_column is not None:
            intervals = np.array([_interval(cell, ci_column) for cell in rows[ci_column]])
            # Draw the interval itself rather than distances from the bar top, so an interval
            # that does not contain the point estimate is still shown as it is.
            ax.errorbar(positions, intervals.mean(axis=1),
                        yerr=(intervals[:, 1] - intervals[:, 0]) / 2,
                        fmt="none", ecolor="k", elinewidth=1, capsize=3)
    ax.set_xticks(np.arange(len(categories)), [str(item) for item in categories])


def _binary_pair(label: str, y_true: ArrayLike, prob: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` as 0/1 ints and ``prob`` as floats, checked to be the same length."""
    truth = np.asarray(y_true).ravel()
    scores = np.asarray(prob, dtype=float).ravel()
    if truth.size != scores.size:
        raise ValueError(f"{label}: y_true and prob differ in length: {truth.size} vs "
                         f"{scores.size}")
    if truth.size == 0:
        raise ValueError(f"{label}: no windows")
    truth = metrics.validate_labels(truth, f"{label}: y_true")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{label}: prob holds NaN or infinite values")
    return truth, scores


def _interval(cell: object, column: str) -> tuple[float, float]:
    """A ``[low, high]`` cell as two floats; a missing cell as (NaN, NaN)."""
    if cell is None or (np.isscalar(cell) and pd.isna(cell)):
        return (np.nan, np.nan)
    values = np.asarray(cell, dtype=float).ravel()
    if values.size != 2:
        raise ValueError(f"{column} cells must be [low, high] pairs; got {cell!r}")
    return (float(values[0]), float(values[1]))


def _format_count(count: float) -> str:
    """A count as an integer when it is one (summed folds), else with one decimal (means)."""
    return f"{int(round(count))}" if float(count).is_integer() else f"{count:.1f}"


def scan_timeline(result: Any, reference: Sequence[rhythm.Interval], path: str | Path
                  ) -> Path:
    """One scanned recording (:class:`ecgutils.detect.ScanResult`): window AF probability over
    time with the threshold, the detected episodes and the reference AF (when given); written
    to ``path`` (PNG) atomically."""
    fig, ax = plt.subplots(figsize=(10, 3))
    minutes = (np.asarray(result.starts_s) + 0.5 * result.window_s) / 60
    ax.plot(minutes, result.prob, lw=0.8, color="0.3", label="window AF probability")
    ax.axhline(result.threshold, color="0.5", ls="--", lw=0.8, label="threshold")
    for index, episode in enumerate(result.episodes):
        ax.axvspan(episode.start_s / 60, episode.end_s / 60, ymin=0.5, ymax=1.0,
                   color=AF_COLOUR, alpha=0.3, label="detected AF" if index == 0 else None)
    for index, interval in enumerate(rhythm.episodes(reference, rhythm.AF)):
        ax.axvspan(interval.start_s / 60, interval.end_s / 60, ymin=0.0, ymax=0.5,
                   color=NON_AF_COLOUR, alpha=0.3, label="reference AF" if index == 0 else None)
    ax.set(xlabel="time (min)", ylabel="P(AF)", ylim=(0, 1),
           title=f"{result.record}: AF burden {100 * result.af_burden:.1f} %, "
                 f"{len(result.episodes)} episode(s)")
    ax.legend(loc="upper right", fontsize=7, ncol=4)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda stream: fig.savefig(stream, format="png", dpi=110,
                                                  bbox_inches="tight"))
    plt.close(fig)
    return path



def snr_curves(results: pd.DataFrame, name: str, metric: str = "f1") -> plt.Figure:
    """``metric`` against SNR, one panel per noise, one line per model with its CI; each
    model's clean value as a dashed line (:func:`ecgutils.noise_study.evaluate` rows)."""
    noisy = results[results["condition"] != "clean"]
    noises = sorted(noisy["noise"].unique())
    if not noises:
        raise ValueError("no noisy condition to draw")
    models = list(dict.fromkeys(results["model"]))
    colours = dict(zip(models, sns.color_palette("colorblind", len(models)), strict=True))
    fig, axes = plt.subplots(1, len(noises), figsize=(4.5 * len(noises), 3.4), sharey=True,
                             squeeze=False)
    for ax, noise_name in zip(axes[0], noises, strict=True):
        for model in models:
            part = noisy[(noisy["noise"] == noise_name) & (noisy["model"] == model)]
            part = part.sort_values("snr_db")
            low = [ci[0] if isinstance(ci, list | tuple) else np.nan
                   for ci in part[f"{metric}_ci95"]]
            high = [ci[1] if isinstance(ci, list | tuple) else np.nan
                    for ci in part[f"{metric}_ci95"]]
            ax.errorbar(part["snr_db"], part[metric],
                        yerr=[part[metric] - np.array(low), np.array(high) - part[metric]],
                        marker="o", capsize=3, color=colours[model], label=model)
            clean = results[(results["condition"] == "clean") & (results["model"] == model)]
            if len(clean):
                ax.axhline(clean[metric].iloc[0], color=colours[model], ls="--", lw=0.8)
        ax.set(title=f"NSTDB {noise_name}", xlabel="SNR (dB)", ylim=(0, 1))
        ax.invert_xaxis()
    axes[0][0].set_ylabel(f"{metric} (dashed: clean)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, name)


def episode_operating_curves(curve: pd.DataFrame, shipped: Mapping[str, Mapping[str, float]],
                             name: str, se_goal: float = 0.90) -> plt.Figure:
    """Gross EC57 episode +P against episode Se, one panel per model of an
    :func:`ecgutils.external.episode_operating_curve`, one line per minimum episode length
    (points: on-thresholds); ``shipped[model]``'s ``episode_se``/``episode_ppv`` (the bundle's
    own settings) as a star, ``se_goal`` as a dotted line."""
    models = list(dict.fromkeys(curve["model"]))
    if not models:
        raise ValueError("no operating curve to draw")
    minima = sorted(curve["min_episode_s"].unique())
    colours = dict(zip(minima, sns.color_palette("colorblind", len(minima)), strict=True))
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 3.6), sharey=True,
                             squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        for minimum in minima:
            part = curve[(curve["model"] == model) & (curve["min_episode_s"] == minimum)]
            part = part.sort_values("on_threshold")
            ax.plot(part["episode_se"], part["episode_ppv"], marker=".", color=colours[minimum],
                    label=f"min {minimum:g} s")
        if model in shipped:
            ax.plot(shipped[model]["episode_se"], shipped[model]["episode_ppv"], marker="*",
                    ms=14, color="black", ls="none", label="shipped settings")
        ax.axvline(se_goal, color="grey", ls=":", lw=1)
        ax.set(title=model, xlabel="gross episode Se", xlim=(0, 1.02), ylim=(0, 1.02))
    axes[0][0].set_ylabel("gross episode +P")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, name)
