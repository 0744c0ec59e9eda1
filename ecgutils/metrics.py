"""Scoring of per-window AF probabilities: AF (1) vs non-AF (0), with patient-level CIs.

A window is predicted AF when its probability is at least the threshold. Ratios whose
denominator is zero (e.g. sensitivity on a set without AF) are ``nan``, never 0: a zero would
read as a measured failure. Confidence intervals resample *patients*, not windows, because
windows of one patient are strongly correlated; resampling windows would pretend there are far
more independent observations than there are, and give intervals that are too narrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    classification_report,
    roc_auc_score,
)

CI_METRICS = ("accuracy", "se", "sp", "ppv", "npv", "f1", "auroc")
THRESHOLD_CRITERIA = ("f1", "youden")

# Probabilities are clipped this far from 0 and 1 before taking the logit, so that a saturated
# sigmoid output (exactly 0.0 or 1.0 in float32) keeps a finite logit.
_LOGIT_EPS = 1e-7
_TEMPERATURE_BOUNDS = (0.05, 20.0)
# Gradient tolerance of the Platt fit (L-BFGS on the mean log-loss): the slope and intercept
# come out within about 1e-8 of the exact optimum.
_PLATT_TOL = 1e-10
# Bootstrap resamples are scored this many at a time, to bound memory on large sets.
_BOOT_CHUNK = 256


def binary_metrics(
    y_true: Any, prob: Any, threshold: float | np.ndarray = 0.5
) -> dict[str, float]:
    """Threshold-based and ranking metrics of AF probabilities.

    Parameters
    ----------
    y_true : array-like of int, shape (n_windows,)
        Reference labels, 1 = AF, 0 = non-AF.
    prob : array-like of float, shape (n_windows,)
        Predicted probability of AF, in [0, 1].
    threshold : float
        A window is predicted AF when ``prob >= threshold``.

    Returns
    -------
    dict
        ``accuracy, se, sp, ppv, npv, f1`` (fractions, ``nan`` when the denominator is 0),
        ``auroc, pr_auc`` (``nan`` unless both classes are present; ``pr_auc`` is scikit-learn's
        average precision), and the counts ``tp, fp, tn, fn, n`` (ints).
    """
    y, p = _validate(y_true, prob)
    threshold = _validate_threshold(threshold, len(y))
    pred = p >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    tn = int(np.sum(~pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    rates = _rates(np.array(tp), np.array(fp), np.array(tn), np.array(fn))
    result: dict[str, float] = {name: float(value) for name, value in rates.items()}
    both_classes = 0 < y.sum() < len(y)
    result["auroc"] = float(roc_auc_score(y, p)) if both_classes else float("nan")
    result["pr_auc"] = float(average_precision_score(y, p)) if both_classes else float("nan")
    result.update(tp=tp, fp=fp, tn=tn, fn=fn, n=len(y))
    return result


def classification_report_text(y_true: Any, y_pred: Any) -> str:
    """scikit-learn's per-class report for non-AF / AF predictions (3 digits, 0 for 0/0)."""
    y = validate_labels(y_true, "y_true")
    pred = validate_labels(y_pred, "y_pred")
    _check_same_length(y, pred, "y_pred")
    return classification_report(
        y, pred, labels=[0, 1], target_names=["non-AF", "AF"], digits=3, zero_division=0
    )


def bootstrap_ci(
    y_true: Any,
    prob: Any,
    groups: Any,
    threshold: float | np.ndarray = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs of the metrics, resampling patients with replacement.

    Each resample draws as many patients as there are, with replacement; every window of a
    drawn patient goes in, once per draw. A resample in which a metric is undefined (e.g. no AF
    window drawn, for ``se``) is skipped for that metric.

    Parameters
    ----------
    y_true, prob, threshold
        As for :func:`binary_metrics`.
    groups : array-like, shape (n_windows,)
        Patient id of each window.
    n_boot : int
        Number of resamples.
    seed : int
        Seed of ``np.random.default_rng``; the same seed gives the same intervals.
    level : float
        Coverage of the interval, in (0, 1).

    Returns
    -------
    dict
        ``{metric: (low, high)}`` for ``accuracy, se, sp, ppv, npv, f1, auroc``;
        ``(nan, nan)`` for a metric defined in fewer than half of the resamples.
    """
    y, p = _validate(y_true, prob)
    threshold = _validate_threshold(threshold, len(y))
    patient = _patient_index(groups, len(y))
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer; got {n_boot!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}")

    n_patients = int(patient.max()) + 1
    counts = _draw_counts(n_patients, int(n_boot), np.random.default_rng(seed))
    samples = _resampled_metrics(y, p, patient, p >= threshold, counts)

    tail = (1.0 - level) / 2.0 * 100.0
    intervals: dict[str, tuple[float, float]] = {}
    for name in CI_METRICS:
        values = samples[name][np.isfinite(samples[name])]
        if 2 * len(values) < n_boot:
            intervals[name] = (float("nan"), float("nan"))
        else:
            low, high = np.percentile(values, [tail, 100.0 - tail])
            intervals[name] = (float(low), float(high))
    return intervals


def prediction_columns(table: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(y_true, prob, groups, threshold)`` of a predictions table (columns ``y, prob,
    patient_id, threshold``, one row per window), as :func:`evaluate` and
    :func:`bootstrap_gap` take them."""
    return (table["y"].to_numpy().astype(int), table["prob"].to_numpy(dtype=float),
            table["patient_id"].astype(str).to_numpy(), table["threshold"].to_numpy(dtype=float))


def bootstrap_gap(
    first: tuple[Any, Any, Any, Any],
    second: tuple[Any, Any, Any, Any],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float, float]]:
    """Difference of every CI metric between two evaluations of the same patients
    (``first − second``), with a paired percentile bootstrap over patients.

    Each resample draws patients with replacement from the union of both evaluations' patients
    and scores *both* evaluations on the same draw, so the interval is that of the gap itself,
    not of two independent numbers. The windows may differ (e.g. overlapping windows in one).

    Parameters
    ----------
    first, second : (y_true, prob, groups, threshold)
        As for :func:`bootstrap_ci`; patient ids are matched by value across the two.
    n_boot, seed, level
        As for :func:`bootstrap_ci`.

    Returns
    -------
    dict
        ``{metric: (gap, low, high)}`` for the CI metrics; ``nan`` bounds where the gap is
        defined in fewer than half of the resamples.
    """
    parts = []
    for y_true, prob, groups, threshold in (first, second):
        y, p = _validate(y_true, prob)
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(f"groups has {groups.size} entries for {y.size} windows")
        parts.append((y, p, groups, _validate_threshold(threshold, len(y))))
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer; got {n_boot!r}")
    patients = np.unique(np.concatenate([part[2].astype(str) for part in parts]))
    counts = _draw_counts(len(patients), int(n_boot), np.random.default_rng(seed))
    points, samples = [], []
    for y, p, groups, threshold in parts:
        index = np.searchsorted(patients, groups.astype(str))
        points.append(binary_metrics(y, p, threshold))
        samples.append(_resampled_metrics(y, p, index, p >= threshold, counts))
    tail = (1.0 - level) / 2.0 * 100.0
    gaps: dict[str, tuple[float, float, float]] = {}
    for name in CI_METRICS:
        gap = float(points[0][name] - points[1][name])
        values = samples[0][name] - samples[1][name]
        values = values[np.isfinite(values)]
        if 2 * len(values) < n_boot:
            gaps[name] = (gap, float("nan"), float("nan"))
        else:
            low, high = np.percentile(values, [tail, 100.0 - tail])
            gaps[name] = (gap, float(low), float(high))
    return gaps


def evaluate(
    y_true: Any,
    prob: Any,
    groups: Any,
    threshold: float | np.ndarray = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric of :func:`binary_metrics` with 95 % patient-bootstrap CIs, as one flat dict.

    Parameters
    ----------
    y_true, prob, groups, threshold, n_boot, seed
        As for :func:`bootstrap_ci`.

    Returns
    -------
    dict
        The keys of :func:`binary_metrics`, ``<metric>_ci95: [low, high]`` for the CI metrics,
        ``n_patients, n_windows_af, n_windows_non_af, threshold`` and ``confusion``
        (``[[tn, fp], [fn, tp]]``). Python floats, ints and lists only; undefined values are
        ``nan``.
    """
    y, p = _validate(y_true, prob)
    point = binary_metrics(y, p, threshold)
    intervals = bootstrap_ci(y, p, groups, threshold=threshold, n_boot=n_boot, seed=seed)
    result: dict[str, Any] = dict(point)
    for name, (low, high) in intervals.items():
        result[f"{name}_ci95"] = [low, high]
    result["n_patients"] = len(np.unique(np.asarray(groups)))
    result["n_windows_af"] = int(np.sum(y == 1))
    result["n_windows_non_af"] = int(np.sum(y == 0))
    thresholds = np.unique(np.round(np.asarray(threshold, dtype=float), 4))
    result["threshold"] = float(thresholds[0]) if thresholds.size == 1 else thresholds.tolist()
    result["confusion"] = [[point["tn"], point["fp"]], [point["fn"], point["tp"]]]
    return result


def best_threshold(y_true: Any, prob: Any, criterion: str = "f1") -> float:
    """The decision threshold that maximises F1 or Youden's J on these windows.

    Candidates are the distinct probabilities and 0.5; among equally good thresholds the one
    closest to 0.5 wins (the lower one if two are equally close), so a flat optimum does not
    drift to an extreme. Choose it on validation windows, never on the test windows.

    Parameters
    ----------
    y_true, prob
        As for :func:`binary_metrics`.
    criterion : {"f1", "youden"}
        F1 of the AF class, or Youden's J = se + sp - 1.

    Returns
    -------
    float
        The threshold; 0.5 when there is no AF window (and, for Youden, no non-AF window).
    """
    if criterion not in THRESHOLD_CRITERIA:
        raise ValueError(
            f"unknown criterion {criterion!r}; expected one of {', '.join(THRESHOLD_CRITERIA)}"
        )
    y, p = _validate(y_true, prob)
    n_pos = int(np.sum(y == 1))
    n_neg = len(y) - n_pos
    if n_pos == 0 or (criterion == "youden" and n_neg == 0):
        return 0.5

    candidates = np.union1d(p, [0.5])
    # Windows at or above each candidate, by class: searchsorted on the sorted probabilities.
    tp = n_pos - np.searchsorted(np.sort(p[y == 1]), candidates, side="left")
    fp = n_neg - np.searchsorted(np.sort(p[y == 0]), candidates, side="left")
    if criterion == "f1":
        score = 2.0 * tp / (tp + fp + n_pos)
    else:
        score = tp / n_pos + (n_neg - fp) / n_neg - 1.0
    best = np.flatnonzero(score >= score.max() - 1e-12)
    # argmin returns the first of equal distances, i.e. the lower threshold (candidates sorted).
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])


def fit_temperature(y_true: Any, prob: Any) -> float:
    """Temperature T minimising the log-loss of ``sigmoid(logit(prob) / T)``.

    T > 1 softens an overconfident model, T < 1 sharpens an underconfident one; the ranking
    (AUROC) is unchanged. Fit it on validation windows.

    Parameters
    ----------
    y_true, prob
        As for :func:`binary_metrics`; ``prob`` is the uncalibrated sigmoid output.

    Returns
    -------
    float
        The temperature, within [0.05, 20].
    """
    y, p = _validate(y_true, prob)
    logits = _logit(p)

    def log_loss(log_temperature: float) -> float:
        z = logits / np.exp(log_temperature)
        # -[y log σ(z) + (1-y) log(1-σ(z))] = log(1 + e^z) - y z, stable for large |z|.
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    low, high = np.log(_TEMPERATURE_BOUNDS)
    fit = optimize.minimize_scalar(
        log_loss, bounds=(low, high), method="bounded", options={"xatol": 1e-6}
    )
    return float(np.exp(fit.x))


def apply_temperature(prob: Any, temperature: float) -> np.ndarray:
    """Probabilities rescaled by a temperature: ``sigmoid(logit(prob) / temperature)``.

    Parameters
    ----------
    prob : array-like of float
        Sigmoid outputs in [0, 1].
    temperature : float
        Positive temperature, e.g. from :func:`fit_temperature`.

    Returns
    -------
    numpy.ndarray of float64
        Calibrated probabilities, same shape as ``prob``.
    """
    p = _validate_prob(prob)
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number; got {temperature}")
    return special.expit(_logit(p) / float(temperature))


def fit_platt(y_true: Any, prob: Any) -> tuple[float, float]:
    """Platt scaling: slope a and intercept b minimising the log-loss of
    ``sigmoid(a * logit(prob) + b)``.

    Unlike a temperature, the intercept can undo a shift of all probabilities — the shift
    that class weights put into a model's outputs (trained as if the classes were balanced).
    Fit it on validation windows: an unpenalised scikit-learn logistic regression of the
    labels on ``logit(prob)``.

    Parameters
    ----------
    y_true, prob
        As for :func:`binary_metrics`; ``y_true`` must hold both classes (with one class the
        log-loss has no minimum: the slope and intercept run off to infinity).

    Returns
    -------
    (a, b) : tuple of float
    """
    y, p = _validate(y_true, prob)
    if np.unique(y).size < 2:
        raise ValueError(
            f"Platt scaling needs AF and non-AF windows; y_true holds only {int(y[0])} "
            f"({len(y)} windows). Fit it on a validation set with both classes, or leave the "
            "probabilities uncalibrated"
        )
    # C=inf: no penalty, the plain maximum-likelihood fit Platt scaling is.
    model = LogisticRegression(C=np.inf, tol=_PLATT_TOL, max_iter=1000)
    model.fit(_logit(p)[:, np.newaxis], y)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def apply_platt(prob: Any, slope: float, intercept: float) -> np.ndarray:
    """``sigmoid(slope * logit(prob) + intercept)`` (see :func:`fit_platt`)."""
    p = _validate_prob(prob)
    return special.expit(float(slope) * _logit(p) + float(intercept))


def reliability(y_true: Any, prob: Any, n_bins: int = 10) -> pd.DataFrame:
    """Reliability table: observed AF fraction against mean predicted probability per bin.

    Parameters
    ----------
    y_true, prob
        As for :func:`binary_metrics`.
    n_bins : int
        Number of equal-width probability bins on [0, 1]; a probability of exactly 1 falls in
        the last bin.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``bin_low, bin_high, mean_prob, frac_af, count``.
    """
    y, p = _validate(y_true, prob)
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    # Not sklearn.calibration.calibration_curve: it returns no bin counts (the ECE weights),
    # and it puts a probability lying exactly on an inner edge (0.5, say) in the bin below,
    # whereas these bins are [k / n_bins, (k + 1) / n_bins) as ``bin_low`` says.
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    filled = count > 0
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    prob_sum = np.bincount(bins, weights=p, minlength=n_bins)
    af_sum = np.bincount(bins, weights=y, minlength=n_bins)
    return pd.DataFrame(
        {
            "bin_low": edges[:-1][filled],
            "bin_high": edges[1:][filled],
            "mean_prob": prob_sum[filled] / count[filled],
            "frac_af": af_sum[filled] / count[filled],
            "count": count[filled],
        }
    )


def expected_calibration_error(y_true: Any, prob: Any, n_bins: int = 10) -> float:
    """Expected calibration error: count-weighted mean |AF fraction − mean probability| per bin.

    Parameters
    ----------
    y_true, prob, n_bins
        As for :func:`reliability`.

    Returns
    -------
    float
        In [0, 1]; 0 for a perfectly calibrated model.
    """
    table = reliability(y_true, prob, n_bins)
    weights = table["count"] / table["count"].sum()
    return float(np.sum(weights * np.abs(table["frac_af"] - table["mean_prob"])))


def summary_row(
    metrics_dict: dict[str, Any],
    keys: Sequence[str] = ("accuracy", "se", "sp", "ppv", "f1", "auroc"),
) -> dict[str, str]:
    """Table cells such as ``"0.912 (0.871–0.944)"`` from an :func:`evaluate` result.

    Parameters
    ----------
    metrics_dict : dict
        Holds each key, and ``<key>_ci95`` where a CI is to be shown.
    keys : sequence of str
        Metrics to format, in order.

    Returns
    -------
    dict
        ``{key: text}``; an undefined value reads ``n/a``.
    """
    row = {}
    for key in keys:
        if key not in metrics_dict:
            raise KeyError(f"metric {key!r} not in the metrics ({', '.join(metrics_dict)})")
        text = _format_value(metrics_dict[key])
        interval = metrics_dict.get(f"{key}_ci95")
        if interval is not None:
            low, high = interval
            text += f" ({_format_value(low)}–{_format_value(high)})"
        row[key] = text
    return row


def validate_labels(labels: Any, name: str = "y_true") -> np.ndarray:
    """Window labels, checked: a non-empty one-dimensional array of 1 (AF) and 0 (non-AF).

    The one label check of the package (scoring, splits, figures).

    Parameters
    ----------
    labels : array-like, shape (n_windows,)
    name : str
        What the caller calls the labels, for the error messages.

    Returns
    -------
    numpy.ndarray of int64

    Raises
    ------
    ValueError
        Naming ``name``, and the first value that is not 0 or 1 with its index.
    """
    values = np.asarray(labels)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {values.shape}")
    if len(values) == 0:
        raise ValueError(f"{name} is empty")
    bad = ~np.isin(values, [0, 1])
    if bad.any():
        index = int(np.argmax(bad))
        raise ValueError(
            f"{name} must hold only 0 and 1; got {values[index].item()!r} at index {index}"
        )
    return values.astype(np.int64)


# --- helpers -------------------------------------------------------------------------------


def _rates(tp: np.ndarray, fp: np.ndarray, tn: np.ndarray, fn: np.ndarray) -> dict[str, Any]:
    """Count-based metrics, elementwise over arrays of counts (``nan`` where 0/0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "accuracy": (tp + tn) / (tp + fp + tn + fn),
            "se": tp / (tp + fn),
            "sp": tn / (tn + fp),
            "ppv": tp / (tp + fp),
            "npv": tn / (tn + fn),
            "f1": 2 * tp / (2 * tp + fp + fn),
        }


def _draw_counts(n_patients: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How many times each patient is drawn in each resample, shape (n_boot, n_patients)."""
    draws = rng.integers(0, n_patients, size=(n_boot, n_patients))
    offsets = (np.arange(n_boot) * n_patients)[:, None]
    flat = np.bincount((draws + offsets).ravel(), minlength=n_boot * n_patients)
    return flat.reshape(n_boot, n_patients).astype(np.float64)


def _resampled_metrics(
    y: np.ndarray,
    p: np.ndarray,
    patient: np.ndarray,
    pred: np.ndarray,
    counts: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every CI metric for each resample, from per-patient counts; ``nan`` where undefined."""
    n_patients = counts.shape[1]

    def per_patient(mask: np.ndarray) -> np.ndarray:
        return np.bincount(patient[mask], minlength=n_patients).astype(np.float64)

    tp = counts @ per_patient(pred & (y == 1))
    fp = counts @ per_patient(pred & (y == 0))
    tn = counts @ per_patient(~pred & (y == 0))
    fn = counts @ per_patient(~pred & (y == 1))
    samples = _rates(tp, fp, tn, fn)
    samples["auroc"] = _resampled_auroc(y, p, patient, counts)
    return samples


def _resampled_auroc(
    y: np.ndarray, p: np.ndarray, patient: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """AUROC of each resample, equal to ``roc_auc_score`` weighted by the draw counts.

    AUROC = P(score of an AF window > score of a non-AF window), ties counting ½. With
    ``pairs[a, b]`` the correctly ranked (AF of patient a, non-AF of patient b) pairs, a resample
    drawing patient counts c scores ``c_pos @ pairs @ c_neg`` over ``(c @ n_af) (c @ n_non_af)``;
    ``pairs`` is built once, so each resample costs one small matrix product instead of a sort.
    """
    n_boot, n_patients = counts.shape
    n_af = np.bincount(patient[y == 1], minlength=n_patients).astype(np.float64)
    n_non_af = np.bincount(patient[y == 0], minlength=n_patients).astype(np.float64)
    af_patients = np.flatnonzero(n_af)
    non_af_patients = np.flatnonzero(n_non_af)
    result = np.full(n_boot, np.nan)
    if len(af_patients) == 0 or len(non_af_patients) == 0:
        return result
    pairs = _ranked_pairs(y, p, patient, af_patients, non_af_patients)
    for start in range(0, n_boot, _BOOT_CHUNK):
        chunk = counts[start : start + _BOOT_CHUNK]
        correct = np.einsum("ij,ij->i", chunk[:, af_patients] @ pairs, chunk[:, non_af_patients])
        total = (chunk @ n_af) * (chunk @ n_non_af)
        with np.errstate(divide="ignore", invalid="ignore"):
            result[start : start + _BOOT_CHUNK] = np.where(total > 0, correct / total, np.nan)
    return result


def _ranked_pairs(
    y: np.ndarray,
    p: np.ndarray,
    patient: np.ndarray,
    af_patients: np.ndarray,
    non_af_patients: np.ndarray,
) -> np.ndarray:
    """Correctly ranked (AF, non-AF) window pairs (+½ per tie) for each pair of patients.

    Returns shape (len(af_patients), len(non_af_patients)). Loops over whichever side has fewer
    patients, each step a binary search of all windows of the other class.
    """
    af_score, non_af_score = p[y == 1], p[y == 0]
    af_row = np.searchsorted(af_patients, patient[y == 1])
    non_af_col = np.searchsorted(non_af_patients, patient[y == 0])
    pairs = np.empty((len(af_patients), len(non_af_patients)))
    if len(af_patients) <= len(non_af_patients):
        for row, scores in enumerate(_split_by(af_score, af_row, len(af_patients))):
            # For each non-AF window: AF windows of this patient scoring above it, ties ½.
            below = np.searchsorted(scores, non_af_score, side="left")
            not_above = np.searchsorted(scores, non_af_score, side="right")
            wins = (len(scores) - not_above) + 0.5 * (not_above - below)
            pairs[row] = np.bincount(non_af_col, weights=wins, minlength=len(non_af_patients))
    else:
        for col, scores in enumerate(_split_by(non_af_score, non_af_col, len(non_af_patients))):
            # For each AF window: non-AF windows of this patient scoring below it, ties ½.
            below = np.searchsorted(scores, af_score, side="left")
            not_above = np.searchsorted(scores, af_score, side="right")
            wins = below + 0.5 * (not_above - below)
            pairs[:, col] = np.bincount(af_row, weights=wins, minlength=len(af_patients))
    return pairs


def _split_by(values: np.ndarray, index: np.ndarray, n_parts: int) -> list[np.ndarray]:
    """``values`` split by ``index`` (0 … n_parts-1), each part sorted ascending."""
    order = np.lexsort((values, index))
    bounds = np.searchsorted(index[order], np.arange(1, n_parts))
    return np.split(values[order], bounds)


def _patient_index(groups: Any, n_windows: int) -> np.ndarray:
    """Patient ids → 0 … n_patients-1, checked against the number of windows."""
    ids = np.asarray(groups)
    if ids.ndim != 1:
        raise ValueError(f"groups must be one-dimensional; got shape {ids.shape}")
    if len(ids) != n_windows:
        raise ValueError(f"groups has {len(ids)} entries but there are {n_windows} windows")
    return np.unique(ids, return_inverse=True)[1].ravel()


def _validate(y_true: Any, prob: Any) -> tuple[np.ndarray, np.ndarray]:
    y = validate_labels(y_true, "y_true")
    p = _validate_prob(prob)
    _check_same_length(y, p, "prob")
    return y, p


def _validate_prob(prob: Any) -> np.ndarray:
    values = np.asarray(prob, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"prob must be one-dimensional; got shape {values.shape}")
    if len(values) == 0:
        raise ValueError("prob is empty")
    bad = ~(np.isfinite(values) & (values >= 0.0) & (values <= 1.0))
    if bad.any():
        index = int(np.argmax(bad))
        raise ValueError(
            f"prob must be finite and within [0, 1]; got {values[index]} at index {index}"
        )
    return values


def _validate_threshold(threshold: Any, n_windows: int | None = None) -> Any:
    """A threshold in [0, 1], or one per window (pooled out-of-fold predictions, where each
    fold's threshold was chosen on that fold's validation patients)."""
    values = np.asarray(threshold, dtype=float)
    if values.ndim == 1 and n_windows is not None and values.size == n_windows:
        if not np.all(np.isfinite(values) & (values >= 0.0) & (values <= 1.0)):
            raise ValueError("per-window thresholds must all be within [0, 1]")
        return values
    if values.ndim != 0 or not (np.isfinite(values) and 0.0 <= values <= 1.0):
        raise ValueError(f"threshold must be within [0, 1] (or one per window); got {threshold}")
    return float(values)


def _check_same_length(y: np.ndarray, other: np.ndarray, name: str) -> None:
    if len(y) != len(other):
        raise ValueError(f"y_true has {len(y)} entries but {name} has {len(other)}")


def _logit(p: np.ndarray) -> np.ndarray:
    return special.logit(np.clip(p, _LOGIT_EPS, 1.0 - _LOGIT_EPS))


def _format_value(value: Any) -> str:
    value = float(value)
    return f"{value:.3f}" if np.isfinite(value) else "n/a"


def record_level(y: Any, prob: Any, groups: Any) -> pd.DataFrame:
    """One row per record (group): its label (AF if any window is AF — a CinC record's windows
    share its label), its AF probability (the mean over its windows) and its window count.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, y, prob, n_windows``, sorted by group.
    """
    table = pd.DataFrame({"group": np.asarray(groups).astype(str),
                          "y": np.asarray(y).astype(int), "prob": np.asarray(prob, dtype=float)})
    if table.empty:
        raise ValueError("record_level needs at least one window")
    return (table.groupby("group", sort=True)
            .agg(y=("y", "max"), prob=("prob", "mean"), n_windows=("prob", "size"))
            .reset_index())
