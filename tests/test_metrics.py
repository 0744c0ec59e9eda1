import json
import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from ecgutils import metrics

# Hand case: 5 AF windows (3 above 0.5), 5 non-AF windows (1 above 0.5)
# → tp=3, fn=2, fp=1, tn=4.
HAND_Y = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
HAND_PROB = np.array([0.9, 0.8, 0.6, 0.4, 0.2, 0.7, 0.3, 0.1, 0.05, 0.45])


def _clustered_windows(n_patients, windows_per_patient, seed):
    """Windows whose probabilities share a per-patient offset, as real patients' windows do."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_patients), windows_per_patient)
    patient_af = rng.random(n_patients) < 0.4
    y = (patient_af[groups] & (rng.random(len(groups)) < 0.8)).astype(int)
    offset = rng.normal(0.0, 1.0, n_patients)[groups]
    logit = 2.0 * (2 * y - 1) + offset + rng.normal(0.0, 1.0, len(groups))
    return y, 1.0 / (1.0 + np.exp(-logit)), groups


def test_binary_metrics_of_hand_case_match_hand_counts():
    result = metrics.binary_metrics(HAND_Y, HAND_PROB)
    assert (result["tp"], result["fp"], result["tn"], result["fn"], result["n"]) == (3, 1, 4, 2, 10)
    assert result["accuracy"] == pytest.approx(0.7)
    assert result["se"] == pytest.approx(0.6)
    assert result["sp"] == pytest.approx(0.8)
    assert result["ppv"] == pytest.approx(0.75)
    assert result["npv"] == pytest.approx(4 / 6)
    assert result["f1"] == pytest.approx(2 / 3)
    # 25 (AF, non-AF) pairs, 19 ranked right: 5 + 5 + 4 + 3 + 2.
    assert result["auroc"] == pytest.approx(19 / 25)


def test_binary_metrics_of_hand_case_match_scikit_learn():
    result = metrics.binary_metrics(HAND_Y, HAND_PROB)
    pred = (HAND_PROB >= 0.5).astype(int)
    assert result["accuracy"] == pytest.approx(accuracy_score(HAND_Y, pred))
    assert result["se"] == pytest.approx(recall_score(HAND_Y, pred))
    assert result["sp"] == pytest.approx(recall_score(HAND_Y, pred, pos_label=0))
    assert result["ppv"] == pytest.approx(precision_score(HAND_Y, pred))
    assert result["npv"] == pytest.approx(precision_score(HAND_Y, pred, pos_label=0))
    assert result["f1"] == pytest.approx(f1_score(HAND_Y, pred))
    assert result["auroc"] == pytest.approx(roc_auc_score(HAND_Y, HAND_PROB))
    assert result["pr_auc"] == pytest.approx(average_precision_score(HAND_Y, HAND_PROB))


def test_threshold_moves_windows_between_predicted_classes():
    # At 0.65 the AF window at 0.6 becomes a miss and the non-AF window at 0.7 stays a false
    # alarm.
    result = metrics.binary_metrics(HAND_Y, HAND_PROB, threshold=0.65)
    assert (result["tp"], result["fp"], result["tn"], result["fn"]) == (2, 1, 4, 3)
    # A probability equal to the threshold is predicted AF.
    assert metrics.binary_metrics([1], [0.5], threshold=0.5)["tp"] == 1


def test_undefined_ratios_are_nan_without_af_windows():
    result = metrics.binary_metrics([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4])
    assert math.isnan(result["se"])
    assert math.isnan(result["ppv"])
    assert math.isnan(result["f1"])
    assert math.isnan(result["auroc"])
    assert math.isnan(result["pr_auc"])
    assert result["sp"] == 1.0
    assert result["accuracy"] == 1.0
    # A false alarm makes F1 defined (and zero), sensitivity still undefined.
    alarmed = metrics.binary_metrics([0, 0], [0.9, 0.1])
    assert alarmed["f1"] == 0.0
    assert alarmed["ppv"] == 0.0
    assert math.isnan(alarmed["se"])


@pytest.mark.parametrize(
    ("y_true", "prob", "message"),
    [
        ([0, 1, 1], [0.2, 0.8], "y_true has 3 entries but prob has 2"),
        ([0, 1], [0.2, 1.2], "got 1.2 at index 1"),
        ([0, 1], [float("nan"), 0.3], "got nan at index 0"),
        ([0, 2], [0.2, 0.3], "got 2 at index 1"),
        ([], [], "y_true is empty"),
    ],
)
def test_binary_metrics_rejects_bad_input_naming_the_value(y_true, prob, message):
    with pytest.raises(ValueError, match=message):
        metrics.binary_metrics(y_true, prob)


def test_classification_report_uses_af_as_positive_class():
    pred = (HAND_PROB >= 0.5).astype(int)
    report = metrics.classification_report_text(HAND_Y, pred)
    af_row = next(line for line in report.splitlines() if line.strip().startswith("AF"))
    assert af_row.split()[1:4] == ["0.750", "0.600", "0.667"]
    assert "non-AF" in report


def test_bootstrap_ci_contains_point_estimate_on_clustered_windows():
    y, prob, groups = _clustered_windows(n_patients=60, windows_per_patient=30, seed=1)
    point = metrics.binary_metrics(y, prob)
    intervals = metrics.bootstrap_ci(y, prob, groups, n_boot=500, seed=0)
    assert set(intervals) == set(metrics.CI_METRICS)
    for name, (low, high) in intervals.items():
        assert low < point[name] < high, name
        assert 0.0 <= low < high <= 1.0, name


def test_bootstrap_ci_narrows_with_more_patients():
    # The same 10 windows (one per patient) repeated: 10, then 100, then 1000 patients.
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    prob = np.array([0.9, 0.7, 0.6, 0.3, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05])

    def width(repeats):
        n = len(y) * repeats
        low, high = metrics.bootstrap_ci(
            np.tile(y, repeats), np.tile(prob, repeats), np.arange(n), n_boot=400, seed=0
        )["accuracy"]
        return high - low

    widths = [width(1), width(10), width(100)]
    assert widths[0] > widths[1] > widths[2] > 0
    # Binomial scaling: 10× the patients, about √10 ≈ 3.2× narrower.
    assert 2.0 < widths[1] / widths[2] < 5.0


def test_bootstrap_resamples_patients_not_windows():
    # 500 windows; within each block of 100, accuracy is 50 %, 60 %, ... 90 %.
    y = np.ones(500, dtype=int)
    prob = np.zeros(500)
    for block, accuracy in enumerate([0.5, 0.6, 0.7, 0.8, 0.9]):
        prob[block * 100 : block * 100 + int(accuracy * 100)] = 0.9
    five_patients = np.repeat(np.arange(5), 100)
    one_window_each = np.arange(500)
    low_5, high_5 = metrics.bootstrap_ci(y, prob, five_patients, n_boot=500)["se"]
    low_500, high_500 = metrics.bootstrap_ci(y, prob, one_window_each, n_boot=500)["se"]
    # Window-level: ≈ ±1.96·√(0.7·0.3/500) ≈ ±0.04; patient-level: the 5 patients' spread.
    assert high_500 - low_500 == pytest.approx(0.08, abs=0.02)
    assert high_5 - low_5 > 2 * (high_500 - low_500)


def test_bootstrap_is_deterministic_for_a_seed():
    y, prob, groups = _clustered_windows(n_patients=30, windows_per_patient=10, seed=2)
    first = metrics.bootstrap_ci(y, prob, groups, n_boot=200, seed=7)
    again = metrics.bootstrap_ci(y, prob, groups, n_boot=200, seed=7)
    other = metrics.bootstrap_ci(y, prob, groups, n_boot=200, seed=8)
    assert first == again
    assert first != other


def test_bootstrap_ci_is_nan_for_a_metric_never_defined():
    intervals = metrics.bootstrap_ci([0, 0, 0, 0], [0.1, 0.2, 0.7, 0.3], [1, 2, 3, 4], n_boot=100)
    assert all(math.isnan(bound) for bound in intervals["se"])
    assert all(math.isnan(bound) for bound in intervals["auroc"])
    assert not math.isnan(intervals["sp"][0])


def test_resampled_auroc_equals_weighted_scikit_learn_auroc():
    rng = np.random.default_rng(3)
    # Rounded probabilities: many ties, across and within patients.
    prob = np.round(rng.random(300), 1)
    y = rng.integers(0, 2, 300)
    patient = rng.integers(0, 12, 300)
    counts = metrics._draw_counts(12, 40, rng)
    aurocs = metrics._resampled_auroc(y, prob, patient, counts)
    for draw, auroc in zip(counts, aurocs, strict=True):
        weight = draw[patient]
        if len(np.unique(y[weight > 0])) < 2:
            assert math.isnan(auroc)
        else:
            assert auroc == pytest.approx(roc_auc_score(y, prob, sample_weight=weight))


def test_bootstrap_rejects_groups_of_the_wrong_length():
    with pytest.raises(ValueError, match="groups has 3 entries but there are 10 windows"):
        metrics.bootstrap_ci(HAND_Y, HAND_PROB, [1, 2, 3])


def test_evaluate_is_flat_and_json_friendly():
    y, prob, groups = _clustered_windows(n_patients=20, windows_per_patient=5, seed=4)
    result = metrics.evaluate(y, prob, groups, threshold=0.4, n_boot=100)
    point = metrics.binary_metrics(y, prob, threshold=0.4)
    assert {key: result[key] for key in point} == point
    assert result["f1_ci95"] == list(
        metrics.bootstrap_ci(y, prob, groups, threshold=0.4, n_boot=100)["f1"]
    )
    assert result["n_patients"] == 20
    assert result["n_windows_af"] + result["n_windows_non_af"] == 100
    assert result["n_windows_af"] == int(y.sum())
    assert result["threshold"] == 0.4
    assert result["confusion"] == [[point["tn"], point["fp"]], [point["fn"], point["tp"]]]
    assert json.loads(json.dumps(result)) == result


def test_best_threshold_finds_the_separating_threshold():
    y = [0, 0, 1, 0, 1, 1]
    prob = [0.1, 0.3, 0.35, 0.4, 0.6, 0.8]
    # F1: at 0.35 tp=3 fp=1 → 6/7; at 0.6 tp=2 fp=0 → 4/5; at 0.5 same as 0.6.
    assert metrics.best_threshold(y, prob, "f1") == 0.35
    # Youden: J = 2/3 both at 0.35 (se 1, sp 2/3) and at 0.5 … 0.6 (se 2/3, sp 1): 0.5 wins.
    assert metrics.best_threshold(y, prob, "youden") == 0.5
    assert metrics.best_threshold([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.45], "youden") == 0.3


def test_best_threshold_breaks_ties_towards_one_half():
    # Any threshold in (0.2, 0.9] separates perfectly; 0.5 is a candidate and wins.
    assert metrics.best_threshold([0, 1], [0.2, 0.9]) == 0.5
    assert metrics.best_threshold([0, 0], [0.2, 0.9]) == 0.5


def test_best_threshold_rejects_unknown_criterion():
    with pytest.raises(ValueError, match="unknown criterion 'auc'"):
        metrics.best_threshold([0, 1], [0.2, 0.9], criterion="auc")


def test_temperature_scaling_recovers_overconfidence():
    rng = np.random.default_rng(0)
    true_logit = rng.normal(0.0, 1.5, 20_000)
    y = (rng.random(20_000) < 1 / (1 + np.exp(-true_logit))).astype(int)
    overconfident = 1 / (1 + np.exp(-3.0 * true_logit))
    temperature = metrics.fit_temperature(y, overconfident)
    assert temperature == pytest.approx(3.0, rel=0.2)
    calibrated = metrics.apply_temperature(overconfident, temperature)
    assert metrics.expected_calibration_error(y, calibrated) < 0.02
    assert metrics.expected_calibration_error(y, overconfident) > 0.05
    # The ranking, hence AUROC, does not change.
    assert roc_auc_score(y, calibrated) == pytest.approx(roc_auc_score(y, overconfident))


def test_apply_temperature_of_one_is_identity_and_rejects_non_positive():
    prob = np.array([0.01, 0.3, 0.5, 0.97])
    assert np.allclose(metrics.apply_temperature(prob, 1.0), prob)
    # T = 2 halves the logit: logit(0.97) = 3.476 → sigmoid(1.738) = 0.8505.
    assert metrics.apply_temperature(prob, 2.0)[3] == pytest.approx(0.8505, abs=1e-4)
    with pytest.raises(ValueError, match="got 0"):
        metrics.apply_temperature(prob, 0)


def test_reliability_table_bins_and_counts():
    y = np.array([0, 0, 1, 1, 1, 0, 1])
    prob = np.array([0.05, 0.15, 0.12, 0.95, 1.0, 0.55, 0.58])
    table = metrics.reliability(y, prob, n_bins=10)
    assert table["count"].sum() == len(y)
    assert table["bin_low"].tolist() == pytest.approx([0.0, 0.1, 0.5, 0.9])
    assert table["count"].tolist() == [1, 2, 2, 2]
    assert table["frac_af"].tolist() == pytest.approx([0.0, 0.5, 0.5, 1.0])
    assert table["mean_prob"].tolist() == pytest.approx([0.05, 0.135, 0.565, 0.975])


def test_expected_calibration_error_of_hand_cases():
    assert metrics.expected_calibration_error([0, 0, 0, 1], [0.25] * 4) == pytest.approx(0.0)
    assert metrics.expected_calibration_error([0, 0], [0.9, 0.9]) == pytest.approx(0.9)
    # Half the windows off by 0.5, half exact.
    ece = metrics.expected_calibration_error([1, 1, 0, 1], [0.5, 0.5, 0.05, 0.95])
    assert ece == pytest.approx(0.5 * 0.5 + 0.25 * 0.05 + 0.25 * 0.05)


def test_summary_row_formats_value_and_interval():
    row = metrics.summary_row(
        {"f1": 0.91234, "f1_ci95": [0.8714, 0.9443], "se": float("nan"), "se_ci95": [0.1, 0.2]},
        keys=("f1", "se"),
    )
    assert row == {"f1": "0.912 (0.871–0.944)", "se": "n/a (0.100–0.200)"}
    assert metrics.summary_row({"auroc": 0.5}, keys=("auroc",)) == {"auroc": "0.500"}


def test_per_window_thresholds_score_each_window_against_its_own_fold_threshold():
    y = np.array([1, 1, 0, 0])
    prob = np.array([0.35, 0.6, 0.35, 0.2])
    # Fold A (first two windows) chose 0.3 on its validation patients, fold B chose 0.5.
    thresholds = np.array([0.3, 0.3, 0.5, 0.5])
    result = metrics.binary_metrics(y, prob, thresholds)
    assert (result["tp"], result["fp"], result["tn"], result["fn"]) == (2, 0, 2, 0)
    evaluated = metrics.evaluate(y, prob, ["a", "a", "b", "b"], thresholds, n_boot=50)
    assert evaluated["threshold"] == [0.3, 0.5]
    with pytest.raises(ValueError, match="one per window"):
        metrics.binary_metrics(y, prob, np.array([0.3, 0.5]))


def test_platt_scaling_undoes_a_shift_that_temperature_cannot():
    rng = np.random.default_rng(3)
    true_logit = rng.normal(-2.0, 1.5, 20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-true_logit))).astype(int)
    # What class weights do: every logit shifted up by 2 (probabilities too high).
    shifted = 1 / (1 + np.exp(-(true_logit + 2.0)))
    slope, intercept = metrics.fit_platt(y, shifted)
    assert slope == pytest.approx(1.0, abs=0.1)
    assert intercept == pytest.approx(-2.0, abs=0.2)
    platt = metrics.apply_platt(shifted, slope, intercept)
    temperature = metrics.apply_temperature(shifted, metrics.fit_temperature(y, shifted))
    ece_platt = metrics.expected_calibration_error(y, platt)
    assert ece_platt < 0.02
    assert ece_platt < metrics.expected_calibration_error(y, temperature)


def test_platt_scaling_refuses_validation_windows_of_one_class():
    with pytest.raises(ValueError, match="needs AF and non-AF windows; y_true holds only 0"):
        metrics.fit_platt([0, 0, 0], [0.1, 0.6, 0.3])


def test_bootstrap_gap_of_a_hand_case_is_the_paired_difference():
    # Two patients with two windows each. First evaluation: all right (accuracy 1); second:
    # patient b's windows wrong (accuracy 0.5). Gap 0.5. A resample drawing only a → gap 0,
    # only b → gap 1, one of each → 0.5: the interval must stay within [0, 1].
    y = np.array([1, 0, 1, 0])
    groups = np.array(["a", "a", "b", "b"])
    right = np.array([0.9, 0.1, 0.9, 0.1])
    wrong_b = np.array([0.9, 0.1, 0.1, 0.9])
    gaps = metrics.bootstrap_gap((y, right, groups, 0.5), (y, wrong_b, groups, 0.5),
                                 n_boot=400, seed=1)
    gap, low, high = gaps["accuracy"]
    assert gap == 0.5
    assert low == 0.0 and high == 1.0
    # The same evaluation against itself: a zero gap with a zero-width interval.
    same = metrics.bootstrap_gap((y, right, groups, 0.5), (y, right, groups, 0.5), n_boot=50)
    assert same["f1"] == (0.0, 0.0, 0.0)


def test_bootstrap_gap_pairs_patients_across_different_windows():
    # The second evaluation has twice the windows (overlapping ones) of the same patients.
    y = np.array([1, 0, 1, 0])
    groups = np.array(["a", "a", "b", "b"])
    prob = np.array([0.9, 0.1, 0.9, 0.1])
    doubled = (np.repeat(y, 2), np.repeat(prob, 2), np.repeat(groups, 2), 0.5)
    gaps = metrics.bootstrap_gap((y, prob, groups, 0.5), doubled, n_boot=50)
    assert gaps["accuracy"] == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="groups"):
        metrics.bootstrap_gap((y, prob, groups[:3], 0.5), doubled)
