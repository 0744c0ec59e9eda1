"""Figures: each function writes a non-empty PNG and draws what it says (synthetic inputs)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ecgutils import config, plots


def _assert_png(name: str) -> None:
    path = config.figures_dir() / f"{name}.png"
    assert path.is_file()
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_filtered_vs_raw_draws_only_the_first_seconds_at_each_rate():
    rng = np.random.default_rng(0)
    raw_mv = rng.normal(size=30 * 360)
    filtered = rng.normal(size=30 * 250)
    fig = plots.filtered_vs_raw(raw_mv, 360.0, filtered, 250.0, "record 201, MLII",
                                "test_filtered_vs_raw", seconds=10.0)
    _assert_png("test_filtered_vs_raw")
    raw_line = fig.axes[0].get_lines()[0]
    filtered_line = fig.axes[1].get_lines()[0]
    assert raw_line.get_xdata().size == 3600
    assert filtered_line.get_xdata().size == 2500
    assert raw_line.get_xdata()[-1] == pytest.approx(3599 / 360)
    assert fig.axes[1].get_xlabel() == "time (s)"
    assert fig.axes[0].get_ylabel() == "raw (mV)"
    plt.close(fig)


def test_spectrogram_pair_shares_one_colour_scale_with_a_colourbar():
    freqs_hz = np.linspace(0, 40, 21)
    times_s = np.linspace(0.25, 9.75, 20)
    spec_af = np.full((21, 20), -2.0)
    spec_sinus = np.full((21, 20), 3.0)
    fig = plots.spectrogram_pair(spec_af, spec_sinus, freqs_hz, times_s, "test_spectrogram_pair")
    _assert_png("test_spectrogram_pair")
    meshes = [ax.collections[0] for ax in fig.axes[:2]]
    assert [mesh.get_clim() for mesh in meshes] == [(-2.0, 3.0), (-2.0, 3.0)]
    assert len(fig.axes) == 3  # two panels and the colourbar
    assert fig.axes[0].get_ylabel() == "frequency (Hz)"
    assert fig.axes[1].get_xlabel() == "time (s)"
    plt.close(fig)


def test_spectrogram_pair_rejects_a_transposed_spectrogram():
    with pytest.raises(ValueError, match="spec_sinus"):
        plots.spectrogram_pair(np.zeros((5, 4)), np.zeros((4, 5)), np.arange(5), np.arange(4),
                               "test_spectrogram_bad")


def test_class_balance_bar_labels_sum_to_the_manifest_length():
    manifest = pd.DataFrame({
        "dataset": ["mitdb"] * 7 + ["afdb"] * 5 + ["cinc2017"] * 4,
        "label": ["AF"] * 2 + ["non-AF"] * 5 + ["AF"] * 3 + ["non-AF"] * 2
        + ["AF", "non-AF", "AFL", "AFL"],
    })
    fig = plots.class_balance(manifest, "test_class_balance")
    _assert_png("test_class_balance")
    ax = fig.axes[0]
    written = [int(text.get_text()) for text in ax.texts if text.get_text()]
    assert sum(written) == len(manifest)
    assert sorted(written) == [1, 1, 2, 2, 2, 3, 5]  # the empty AFL bars get no label
    assert [label.get_text() for label in ax.get_legend().get_texts()] == ["AF", "non-AF", "AFL"]
    plt.close(fig)


def test_confusion_heatmap_annotates_counts_with_row_percentages():
    fig = plots.confusion_heatmap([[95, 5], [10, 90]], "fold 0", "test_confusion_heatmap")
    _assert_png("test_confusion_heatmap")
    ax = fig.axes[0]
    texts = [text.get_text() for text in ax.texts]
    assert texts == ["95\n(95.0 %)", "5\n(5.0 %)", "10\n(10.0 %)", "90\n(90.0 %)"]
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("true", "predicted")
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["non-AF", "AF"]
    plt.close(fig)


def test_confusion_heatmap_marks_an_empty_row_instead_of_dividing_by_zero():
    fig = plots.confusion_heatmap([[0, 0], [3, 1]], "no negatives", "test_confusion_empty_row")
    assert [text.get_text() for text in fig.axes[0].texts][:2] == ["0\n(n/a)", "0\n(n/a)"]
    plt.close(fig)


def test_roc_curves_reports_auroc_and_marks_one_class_entries():
    y_true = np.array([0, 0, 0, 1, 1, 1])
    curves = {
        "separated": (y_true, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])),
        "inverted": (y_true, np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])),
        "sinus only": (np.zeros(4, dtype=int), np.array([0.1, 0.2, 0.3, 0.4])),
    }
    fig = plots.roc_curves(curves, "test_roc_curves", title="fold 0")
    _assert_png("test_roc_curves")
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == "chance"
    assert "separated (AUROC 1.00, n=6)" in legend
    assert "inverted (AUROC 0.00, n=6)" in legend
    assert "sinus only: skipped, one class only (n=4)" in legend
    plt.close(fig)


def test_training_curves_has_one_panel_per_metric_and_skips_missing_keys():
    histories = [
        {"loss": [0.7, 0.5, 0.4], "val_loss": [0.8, 0.6, 0.6], "val_pr_auc": [0.5, 0.6, 0.7]},
        {"loss": [0.6, 0.45], "val_loss": [0.7, 0.65]},
    ]
    fig = plots.training_curves(histories, "test_training_curves",
                                metrics=("loss", "pr_auc", "accuracy"))
    _assert_png("test_training_curves")
    assert len(fig.axes) == 3
    loss_ax, pr_auc_ax, accuracy_ax = fig.axes
    assert len(loss_ax.get_lines()) == 4  # train and validation for both folds
    assert [line.get_linestyle() for line in loss_ax.get_lines()] == ["-", "--", "-", "--"]
    assert len(pr_auc_ax.get_lines()) == 1  # only fold 0 has val_pr_auc
    assert pr_auc_ax.get_lines()[0].get_linestyle() == "--"
    assert len(accuracy_ax.get_lines()) == 0
    assert [ax.get_xlabel() for ax in fig.axes] == ["epoch"] * 3
    plt.close(fig)


def test_reliability_diagram_plots_bin_means_against_af_fraction():
    y_true = np.array([0, 1, 1, 1, 0, 0])
    prob = np.array([0.05, 0.05, 0.95, 1.0, 0.41, 0.43])
    fig = plots.reliability_diagram({"model": (y_true, prob)}, "test_reliability_diagram",
                                    n_bins=10)
    _assert_png("test_reliability_diagram")
    curve_ax, hist_ax = fig.axes
    line = next(line for line in curve_ax.get_lines() if line.get_label().startswith("model"))
    np.testing.assert_allclose(line.get_xdata(), [0.05, 0.42, 0.975])
    np.testing.assert_allclose(line.get_ydata(), [0.5, 0.0, 1.0])
    assert hist_ax.get_xlabel() == "mean predicted AF probability"
    plt.close(fig)


def test_metric_bars_draw_one_bar_per_row_with_the_given_intervals():
    table = pd.DataFrame({
        "fold": [0, 1, 2, 0, 1, 2],
        "model": ["cnn"] * 3 + ["rr"] * 3,
        "f1": [0.8, 0.7, 0.9, 0.6, 0.65, 0.7],
        "f1_ci": [[0.7, 0.85], [0.6, 0.8], None, [0.5, 0.7], [0.55, 0.72], [0.6, 0.8]],
    })
    fig = plots.metric_bars(table, "f1", "test_metric_bars", ci_column="f1_ci", hue="model")
    _assert_png("test_metric_bars")
    ax = fig.axes[0]
    assert sorted(round(bar.get_height(), 2) for bar in ax.patches) == sorted(table["f1"])
    # The row without an interval draws no segment.
    segments = [np.asarray(segment) for collection in ax.collections
                for segment in collection.get_segments()]
    intervals = sorted((round(seg[0, 1], 3), round(seg[1, 1], 3)) for seg in segments
                       if seg.shape == (2, 2) and np.all(np.isfinite(seg)))
    assert intervals == [(0.5, 0.7), (0.55, 0.72), (0.6, 0.8), (0.6, 0.8), (0.7, 0.85)]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("fold", "f1")
    plt.close(fig)


def test_metric_bars_refuses_several_rows_per_bar():
    table = pd.DataFrame({"fold": [0, 0], "f1": [0.8, 0.7]})
    with pytest.raises(ValueError, match="several rows"):
        plots.metric_bars(table, "f1", "test_metric_bars_duplicated")
