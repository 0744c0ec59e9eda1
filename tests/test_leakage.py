"""The leakage study on real records: random folds share patients, grouped ones do not; the
gap table and its keys; the patient probe; notebook 03's predictions are checked before use."""

import numpy as np
import pandas as pd
import pytest

from ecgutils import experiments, leakage, preprocess, reporting, train
from ecgutils.errors import DataUnavailableError, UnknownNameError

TINY = {"filters": (4, 4), "dropout": 0.1}
ONE_EPOCH = train.TrainConfig(epochs=1, batch_size=32)
RECORDS = ("100", "119", "201", "202", "203", "210")


@pytest.fixture(scope="module")
def mitdb(mitdb_root):
    return preprocess.build(preprocess.default_params("mitdb", records=RECORDS))


@pytest.fixture(scope="module")
def random_study(mitdb):
    return leakage.leaky_study("cnn1d", "mitdb", mitdb, "random", ONE_EPOCH, n_splits=2)


def test_overlapping_windows_start_every_step_and_double_the_count(mitdb):
    params = leakage.window_params("mitdb", "random_overlap", 10.0, records=("100",))
    assert params.step_s == 10.0
    overlap = preprocess.build(params)
    starts = overlap.tables["manifest"]["start_s"].to_numpy()
    assert np.allclose(np.diff(starts), 10.0)
    plain = mitdb.tables["manifest"]
    # 1805.6 s of record 100: 90 windows every 20 s, 179 every 10 s.
    assert (plain["record"] == "100").sum() == 90 and len(starts) == 179


@pytest.mark.parametrize("step", [0.0, 20.0, 25.0])
def test_overlap_step_must_make_windows_overlap(step):
    with pytest.raises(ValueError, match="overlap_step_s"):
        leakage.window_params("mitdb", "random_overlap", step)


def test_random_split_puts_every_patient_on_both_sides(random_study):
    assert random_study.split == "random"
    assert random_study.cv.tested.all()
    assert leakage.shared_patient_fraction(random_study) == 1.0
    assert all("NOT patient-disjoint" in fold.partition for fold in random_study.cv.folds)
    path = leakage.save_predictions(random_study, "mitdb_only")
    assert path.name == "mitdb_cnn1d_random_mitdb_only.csv"
    assert len(pd.read_csv(path)) == random_study.y.size


def test_overlapping_folds_take_the_steps_of_folds_without_overlap():
    # 5 folds, a fifth of each training part for validation: 0.64 of the windows train.
    assert leakage.overlap_epoch_fraction(1000, 2000, 5) == pytest.approx(0.5)
    # mitdb's CinC windows train in every fold on both sides: (640 + 500) / (1280 + 500).
    assert leakage.overlap_epoch_fraction(1000, 2000, 5, extra=500) == pytest.approx(1140 / 1780)
    assert leakage.overlap_epoch_fraction(1000, 1000, 5) == 1.0
    with pytest.raises(ValueError, match="n_plain"):
        leakage.overlap_epoch_fraction(2000, 1000, 5)


def test_overlap_split_needs_the_windows_without_overlap(mitdb):
    with pytest.raises(ValueError, match="plain_entry"):
        leakage.leaky_study("cnn1d", "mitdb", mitdb, "random_overlap", ONE_EPOCH)
    with pytest.raises(ValueError, match="plain_entry"):
        leakage.leaky_study("cnn1d", "mitdb", mitdb, "random", ONE_EPOCH, plain_entry=mitdb)


def test_unknown_split_names_fail(mitdb):
    with pytest.raises(UnknownNameError, match="grouped"):
        leakage.leaky_study("cnn1d", "mitdb", mitdb, "grouped", ONE_EPOCH)
    with pytest.raises(UnknownNameError, match="unknown split"):
        leakage.window_params("mitdb", "shuffled")


def test_leakage_table_gap_is_the_difference_and_keys_follow_the_issue(random_study):
    random_table = experiments.predictions_table(random_study)
    # A "grouped" table that is right on every window: the gap must be exactly leaky − 1.
    perfect = random_table.copy()
    perfect["prob"] = perfect["y"].astype(float)
    perfect["threshold"] = 0.5
    table = leakage.leakage_table("mitdb", "cnn1d", {"random": random_table,
                                                     "grouped": perfect},
                                  {"random": 1.0, "grouped": 0.0}, n_boot=50)
    assert list(table["row"]) == ["random", "grouped", "random − grouped"]
    assert table.loc[1, "accuracy"] == 1.0
    gap = table.loc[2]
    assert gap["accuracy"] == pytest.approx(table.loc[0, "accuracy"] - 1.0)
    low, high = gap["accuracy_ci95"]
    assert low <= gap["accuracy"] <= high <= 0
    keys = leakage.export_keys(table, [leakage.ProbeResult("mitdb", 0.9, 0.1, 5, 10, 3, 4, 1)])
    assert isinstance(keys["mitdb.cnn1d.random.n_patients"], int)
    assert keys["mitdb.cnn1d.random.n_windows_af"] == int(random_table["y"].sum())
    assert keys["mitdb.cnn1d.random.accuracy"] == table.loc[0, "accuracy"]
    assert len(keys["mitdb.cnn1d.random.f1_ci95"]) == 2
    assert keys["mitdb.cnn1d.gap_random.f1"] == pytest.approx(gap["f1"])
    assert keys["mitdb.patient_probe.random.accuracy"] == 0.9
    assert not any(".grouped." in key for key in keys)  # notebook 03 exports those
    shown = leakage.display_table(table)
    assert shown.loc[0, "test windows of trained-on patients"] == "100%"
    reporting.export_metrics("05_test", keys)  # keys are valid summary keys


def test_grouped_predictions_must_match_the_windows(mitdb, random_study, tmp_path, monkeypatch):
    monkeypatch.setenv("ECGUTILS_REPORTS_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match="run notebook 03_cnn1d"):
        leakage.grouped_predictions("mitdb", "cnn1d", mitdb)
    table = experiments.predictions_table(random_study)
    (tmp_path / "predictions").mkdir()
    path = tmp_path / "predictions" / "mitdb_cnn1d_grouped.csv"
    table.to_csv(path, index=False)
    assert len(leakage.grouped_predictions("mitdb", "cnn1d", mitdb)) == len(table)
    table.iloc[:-1].to_csv(path, index=False)  # one window short: another run's file
    with pytest.raises(DataUnavailableError, match="other windows"):
        leakage.grouped_predictions("mitdb", "cnn1d", mitdb)


def test_patient_probe_deals_every_patient_into_train_validation_and_test(mitdb):
    probe = leakage.patient_probe(mitdb, "cnn1d", ONE_EPOCH, model_hyper=TINY)
    assert probe.n_patients == 5  # 201 and 202 are one patient
    total = len(mitdb.tables["manifest"])
    assert probe.n_train + probe.n_validation + probe.n_test == total
    assert 0 <= probe.accuracy <= 1
    # 90 windows per record; 20 % of each patient's windows are tested: 18 for each of four
    # one-record patients, 36 for 201+202. Chance = the largest patient's share = 36/108.
    assert probe.n_test == 108
    assert probe.chance == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="min_windows"):
        leakage.patient_probe(mitdb, "cnn1d", ONE_EPOCH, min_windows=2)


def test_predict_out_of_fold_uses_the_model_that_held_each_patient_out(mitdb, tmp_path):
    study = experiments.mitdb_study("cnn1d", mitdb, ONE_EPOCH, n_splits=2, model_hyper=TINY,
                                    save_dir=tmp_path)
    table = experiments.predictions_table(study)
    scored = experiments.predict_out_of_fold(
        "cnn1d", mitdb, table, "mitdb_cnn1d_grouped_mitdb_only", tmp_path)
    labelled = scored[scored["y"] >= 0].reset_index(drop=True)
    assert np.allclose(labelled["prob"], study.cv.prob, atol=1e-6)
    assert (labelled["fold"].to_numpy() == study.cv.fold_of).all()
    assert scored["prob"].notna().all()  # flutter windows are scored too
    bad = table.copy()
    bad.loc[bad.index[0], "fold"] = 1 - bad.loc[bad.index[0], "fold"]
    with pytest.raises(Exception, match="several test folds"):
        experiments.predict_out_of_fold("cnn1d", mitdb, bad, "mitdb_cnn1d_grouped_mitdb_only",
                                        tmp_path)


def test_summary_sentences_name_both_splits():
    row = {"dataset": "cinc2017", "model": "cnn1d", "recipe": "", "windows": 1, "patients": 1,
           "shared_patients": 0.0}
    cells = {name: 0.5 for name in leakage.TABLE_METRICS}
    cells.update({f"{name}_ci95": [0.4, 0.6] for name in leakage.TABLE_METRICS})
    table = pd.DataFrame([{**row, **cells, "row": split} for split in
                          ("random", "grouped", "random − grouped")])
    text = leakage.summary_sentences(table, [])
    assert "cinc2017: F1 0.500 [0.40, 0.60] with the random split vs 0.500" in text


def _gap_table(f1_gap, low, high, recipe=""):
    return pd.DataFrame([{"dataset": "mitdb", "recipe": recipe, "row": "random − grouped",
                          "f1": f1_gap, "f1_ci95": [low, high]},
                         {"dataset": "mitdb", "recipe": recipe, "row": "random",
                          "f1": 0.9, "f1_ci95": [0.8, 0.95]}])


def test_a_gap_survives_only_when_its_lower_bound_clears_the_control_band():
    control = pd.DataFrame({"seed": [1, 2, 3], "f1_gap": [0.02, -0.01, 0.05]})
    band = abs(np.mean([0.02, -0.01, 0.05])) + 2 * np.std([0.02, -0.01, 0.05], ddof=1)
    table = pd.concat([_gap_table(0.30, band + 0.01, 0.5),
                       _gap_table(0.30, band - 0.01, 0.5, recipe="mitdb_only")])
    verdicts = leakage.judge_gaps(table, control)
    assert verdicts["control_band"].tolist() == pytest.approx([band, band])
    assert verdicts["survives"].tolist() == [True, False]
    assert "over 3 seeds" in verdicts.loc[0, "verdict"]
    keys = leakage.control_keys("cnn1d", control, verdicts)
    assert keys["mitdb.cnn1d.gap_random.survives"] == 1
    assert keys["mitdb.cnn1d.gap_random_mitdb_only.survives"] == 0
    assert keys["cinc2017.cnn1d.null_control.f1_gap_seed_sd"] == pytest.approx(
        np.std([0.02, -0.01, 0.05], ddof=1))
    reporting.export_metrics("05_test", keys)  # valid summary keys


def test_with_one_seed_the_band_is_the_control_gap_and_the_verdict_says_so(random_study):
    table = experiments.predictions_table(random_study)
    worse = table.assign(prob=1.0 - table["prob"])
    control = leakage.null_control("cnn1d", None, ONE_EPOCH, 2, 1, table, worse)
    assert control["seed"].tolist() == [ONE_EPOCH.seed]
    from sklearn.metrics import f1_score
    expected = (f1_score(table["y"], table["prob"] >= table["threshold"])
                - f1_score(worse["y"], worse["prob"] >= worse["threshold"]))
    assert control.loc[0, "f1_gap"] == pytest.approx(expected)
    verdicts = leakage.judge_gaps(_gap_table(0.3, 0.2, 0.4), control)
    assert verdicts.loc[0, "control_band"] == pytest.approx(abs(expected))
    assert "seed spread not measured" in verdicts.loc[0, "verdict"]
    assert "cinc2017.cnn1d.null_control.f1_gap_seed_sd" not in leakage.control_keys(
        "cnn1d", control, verdicts)
    with pytest.raises(ValueError, match="n_seeds must be at least 1"):
        leakage.null_control("cnn1d", None, ONE_EPOCH, 2, 0, table, worse)
