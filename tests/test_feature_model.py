"""The feature model (ecgutils.feature_model): its protocols on real CinC 2017 and mitdb records
(disjoint splits, the right rows scored)."""

import numpy as np
import pandas as pd
import pytest

from ecgutils import detector_study, feature_model, preprocess


@pytest.fixture(scope="module")
def cinc(cinc_root):
    return feature_model.cinc_table(max_records=200)


@pytest.fixture(scope="module")
def mitdb(mitdb_root):
    params = preprocess.detector_params("mitdb", records=("100", "119", "201", "202", "203",
                                                         "210"))
    return feature_model.window_table(preprocess.build(params), params)


def test_the_cinc_table_has_one_row_per_record_and_is_cached(cinc):
    assert cinc.index.is_unique and len(cinc) == 200
    assert set(cinc["rhythm_class"]) <= {"N", "A", "O", "~"}
    assert np.isfinite(cinc[list(feature_model.FEATURES)].to_numpy()).all()
    again = feature_model.cinc_table(max_records=200)
    pd.testing.assert_frame_equal(cinc, again)


def test_cinc_study_scores_each_non_development_record_once(cinc):
    study = feature_model.cinc_study(cinc, n_splits=3)
    development, rest = detector_study.development_records(cinc["rhythm_class"])
    assert sorted(study.scores["group"]) == sorted(rest)
    assert not set(study.scores["group"]) & set(development)
    assert study.name == "cinc2017.features_gb.grouped"
    assert all(row["partition"].startswith("disjoint") for row in study.folds)
    assert study.scores["prob"].between(0, 1).all()
    ev = detector_study.evaluate(study, n_boot=50)
    assert ev["n_patients"] == len(rest)


@pytest.fixture(scope="module")
def mitdb_study(mitdb, cinc):
    return feature_model.mitdb_study(mitdb, cinc, n_splits=2)


def test_mitdb_study_keeps_patients_apart_and_scores_the_20_s_grid(mitdb_study):
    study = mitdb_study
    assert all(row["partition"].startswith("disjoint") for row in study.folds)
    scored = study.windows
    assert np.allclose(np.mod(scored["start_s"], 20.0), 0.0)
    assert (scored["label"] != "AFL").all()
    # 201 and 202 are one patient: always in the same fold.
    folds = scored.groupby("record")["fold"].unique()
    assert folds["201"].tolist() == folds["202"].tolist()


def test_external_shares_no_record_and_tunes_nothing_on_the_test_side(mitdb, cinc):
    study = feature_model.external(mitdb, cinc, "mitdb")
    assert study.name == "cinc2017_to_mitdb.features_gb.external"
    assert study.scores["threshold"].nunique() == 1
    assert set(study.scores["group"]) <= set(mitdb["patient_id"])
    # Every window is scored for episodes, at the one threshold.
    assert len(study.along) == len(mitdb)
    assert study.along["threshold"].nunique() == 1
    assert study.along["threshold"].iloc[0] == study.scores["threshold"].iloc[0]


def test_an_inner_threshold_needs_two_patients():
    X = np.zeros((6, 2))
    with pytest.raises(ValueError, match="at least 2 patients"):
        feature_model.inner_threshold(X, np.array([0, 1, 0, 1, 0, 1]), np.array(["p"] * 6))


def test_mitdb_study_scores_every_window_of_a_held_out_patient_for_episodes(mitdb_study, mitdb):
    along = mitdb_study.along
    assert len(along) == len(mitdb)  # every patient is held out once, every window scored
    assert (along.groupby("patient_id")["fold"].nunique() == 1).all()
    assert (along["role"] == "test").all() and along["prob"].between(0, 1).all()


def test_an_inner_threshold_scores_only_the_rows_it_is_told_to(monkeypatch):
    rng = np.random.default_rng(0)
    groups = np.repeat([f"r{i}" for i in range(40)], 3)  # 40 records of 3 windows
    classes = np.repeat(np.where(np.arange(40) % 4 == 0, feature_model.AF_CLASS, 0), 3)
    X = rng.normal(size=(groups.size, 2)) + (classes == feature_model.AF_CLASS)[:, None]
    scored = np.tile([True, True, False], 40)  # the third window of each: a training copy
    seen = {}

    def capture(y, prob):
        seen["y"], seen["prob"] = np.asarray(y), np.asarray(prob)
        return 0.5

    monkeypatch.setattr(feature_model.metrics, "best_threshold", capture)
    feature_model.inner_threshold(X, classes, groups, scored=scored)
    assert seen["y"].size == scored.sum()
    feature_model.inner_threshold(X, classes, groups, scored=scored, per_group=True)
    assert seen["y"].size == 40 and seen["y"].sum() == 10
    assert np.isfinite(seen["prob"]).all()


def test_development_fit_scores_each_clean_development_record_once_never_a_noisy_copy(cinc):
    # A window table like the scanner's: 2 windows per record plus a noisy copy of every
    # record (relabelled "~": if a copy were scored or a development copy trained on, the
    # scores would change).
    table = cinc.reset_index(names="record")
    windows = pd.concat([table, table], ignore_index=True).assign(noisy=False)
    copies = table.assign(noisy=True, rhythm_class="~")
    fitted = feature_model.development_fit(pd.concat([windows, copies], ignore_index=True),
                                           columns=feature_model.RHYTHM_ONLY)
    development, _ = detector_study.development_records(cinc["rhythm_class"])
    scores = fitted["scores"]
    assert sorted(scores["group"]) == sorted(development)
    assert (scores["n_windows"] == 2).all()
    assert fitted["model"].n_features_in_ == len(feature_model.RHYTHM_ONLY)
    assert fitted["train_windows"] == 3 * (len(cinc) - len(development))
    dev_copies = copies["record"].isin(development)
    again = feature_model.development_fit(
        pd.concat([windows, copies[~dev_copies]], ignore_index=True),
        columns=feature_model.RHYTHM_ONLY)
    pd.testing.assert_frame_equal(scores, again["scores"])


def test_mitdb_to_cinc_scores_every_cinc_record_and_tunes_nothing_on_it(mitdb, cinc):
    from ecgutils import external

    result = external.mitdb_to_cinc_features(mitdb, cinc, n_boot=20)
    assert result.prefix == "mitdb_to_cinc2017.features_gb"
    assert sorted(result.scores["group"]) == sorted(cinc.index)
    assert result.scores["prob"].between(0, 1).all()
    assert result.evaluation["n_patients"] == len(cinc)
    # The threshold and the probabilities come from mitdb alone: CinC's labels, shuffled,
    # change neither.
    shuffled = cinc.assign(rhythm_class=np.random.default_rng(0).permutation(
        cinc["rhythm_class"].to_numpy()))
    again = external.mitdb_to_cinc_features(mitdb, shuffled, n_boot=20)
    assert again.threshold == result.threshold
    np.testing.assert_array_equal(again.scores["prob"], result.scores["prob"])
    keys = external.keys(result)
    assert keys["mitdb_to_cinc2017.features_gb.external.threshold"] == result.threshold


def test_a_profile_boosting_changes_only_the_trees_and_bad_values_are_refused(cinc):
    assert feature_model.profile_boosting(None) is None  # the chosen setting
    few = feature_model.profile_boosting(7)
    assert few == {**feature_model.BOOSTING, "max_iter": 7}
    X = cinc[list(feature_model.FEATURES)].to_numpy(dtype=float)
    classes = feature_model.classes_of(cinc)
    assert feature_model.booster_of(feature_model.fit(X, classes, boosting=few)).n_iter_ == 7
    assert (feature_model.booster_of(feature_model.fit(X, classes)).n_iter_
            == feature_model.BOOSTING["max_iter"])
    study = feature_model.cinc_study(cinc, n_splits=2, boosting=few)
    assert study.scores["prob"].between(0, 1).all()
    for bad in (0, 2.5, True, "40"):
        with pytest.raises(ValueError, match="boosting_max_iter"):
            feature_model.profile_boosting(bad)


def test_unweighted_bins_do_not_follow_the_class_weights_and_weighted_ones_do():
    # One feature, a rare class at its top: class-balanced weights pull the booster's own
    # quantile bins towards the rare class; plain bins are the unweighted quantiles whatever
    # the weights (benchmarks/boosting_binning.py measures the two on real records).
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 1))
    classes = np.where(X[:, 0] > 1.5, 1, 0)
    few = {**feature_model.BOOSTING, "max_iter": 2}
    edges = {}
    for weights in ("balanced", None):
        plain = feature_model.fit(X, classes, boosting={**few, "class_weight": weights,
                                                        "binning": "unweighted"})
        edges[weights] = plain[0].bin_edges_[0]
        weighted = feature_model.fit(X, classes, boosting={**few, "class_weight": weights,
                                                           "binning": "weighted"})
        thresholds = weighted._bin_mapper.bin_thresholds_[0]
        above = float(np.mean(thresholds > 1.5))
        assert above > 0.3 if weights == "balanced" else above < 0.1
    np.testing.assert_array_equal(edges["balanced"], edges[None])
    assert np.mean(edges[None][1:-1] > 1.5) < 0.1
    with pytest.raises(ValueError, match="binning must be one of"):
        feature_model.fit(X, classes, boosting={**few, "binning": "weigthed"})


def test_bags_average_boosters_that_each_read_their_own_share_of_the_columns():
    # benchmarks/boosting_bagging.py measures this lever on real records; here: each of the
    # bags sees its own random 60 % of the columns, the model's probability is their mean,
    # and a mistyped count or share is refused.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 5))
    classes = (X[:, 0] + X[:, 1] > 0).astype(int) * feature_model.AF_CLASS
    few = {**feature_model.BOOSTING, "max_iter": 5, "bags": 3, "bag_features": 0.6}
    model = feature_model.fit(X, classes, boosting=few)
    assert len(model.estimators_) == 3
    columns = [tuple(sorted(c)) for c in model.estimators_features_]
    assert all(len(c) == 3 for c in columns) and len(set(columns)) > 1
    each = [m.predict_proba(X[:, c]) for m, c in zip(model.estimators_,
                                                     model.estimators_features_, strict=True)]
    np.testing.assert_allclose(model.predict_proba(X), np.mean(each, axis=0))
    assert feature_model.booster_of(model).n_iter_ == 5
    for bad in ({"bags": 0}, {"bag_features": 0.0}, {"bag_features": 1.5}):
        with pytest.raises(ValueError, match="bags must be"):
            feature_model.fit(X, classes, boosting={**few, **bad})


def _four_clusters(n_records=200, windows=2, flipped=()):
    """Records of ``windows`` rows each in four well-separated clusters, one per class (a
    unit test of pure functions: synthetic), with the labels of records ``flipped`` moved to
    the next class."""
    rng = np.random.default_rng(5)
    truth = np.arange(n_records) % 4
    given = truth.copy()
    given[list(flipped)] = (truth[list(flipped)] + 1) % 4
    groups = np.repeat([f"r{i:03d}" for i in range(n_records)], windows)
    centres = 4.0 * np.eye(4)
    X = centres[np.repeat(truth, windows)] + rng.normal(size=(groups.size, 4))
    return X, np.repeat(given, windows), groups


def test_inner_probabilities_sum_to_one_and_give_the_inner_af_probabilities():
    X, classes, groups = _four_clusters()
    few = {**feature_model.BOOSTING, "max_iter": 20}
    proba = feature_model.inner_probabilities(X, classes, groups, boosting=few)
    assert proba.shape == (len(X), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    y, af = feature_model.inner_out_of_fold(X, classes, groups, boosting=few)
    np.testing.assert_array_equal(af, proba[:, feature_model.AF_CLASS])
    assert (proba.argmax(axis=1) == classes).mean() > 0.95  # out of fold, and separable


def test_label_issues_flags_the_records_whose_label_was_changed():
    flipped = (3, 17, 40, 81, 122, 150, 199)
    X, classes, groups = _four_clusters(flipped=flipped)
    few = {**feature_model.BOOSTING, "max_iter": 20}
    flagged = feature_model.label_issues(X, classes, groups, boosting=few)
    expected = {f"r{i:03d}" for i in flipped}
    # cleanlab prunes by its estimate of each class pair's noise rate: with 50 records a
    # class it finds some of the changed labels, not all; it flags no other record.
    assert set(flagged) <= expected and len(flagged) >= len(expected) // 2
    assert len(feature_model.label_issues(*_four_clusters(), boosting=few)) == 0
    # Rows not scored (noisy copies) are trained on, never counted as a record's own.
    scored = np.tile([True, False], len(X) // 2)
    again = feature_model.label_issues(X, classes, groups, scored=scored, boosting=few)
    assert set(again) <= expected and len(again) >= len(expected) // 2


def test_development_fit_with_pruned_labels_leaves_flagged_training_records_out(cinc):
    table = cinc.reset_index(names="record").assign(noisy=False)
    few = {**feature_model.BOOSTING, "max_iter": 20}
    whole = feature_model.development_fit(table, columns=feature_model.RHYTHM_ONLY,
                                          boosting=few)
    pruned = feature_model.development_fit(table, columns=feature_model.RHYTHM_ONLY,
                                           boosting=few, prune_labels=True)
    assert whole["pruned"] == 0 and pruned["pruned"] > 0
    assert pruned["train_windows"] == whole["train_windows"] - pruned["pruned"]
    # The development records are scored alike, with their labels as given.
    pd.testing.assert_series_equal(whole["scores"]["group"], pruned["scores"]["group"])
    pd.testing.assert_series_equal(whole["scores"]["y"], pruned["scores"]["y"])
