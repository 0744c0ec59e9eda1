import numpy as np
import pandas as pd
import pytest

from ecgutils import splits
from ecgutils.splits import LeakageError


def _patients(n_patients, n_af_patients, seed=0, windows=(50, 120), af_share=0.5):
    """Windows of patients with varying window counts; the first ``n_af_patients`` have AF in
    ``af_share`` of their windows. Patient ids are strings like real record names."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(windows[0], windows[1], n_patients)
    groups = np.repeat([f"p{index:03d}" for index in range(n_patients)], sizes)
    y = np.zeros(len(groups), dtype=int)
    for index in range(n_af_patients):
        where = np.flatnonzero(groups == f"p{index:03d}")
        y[where[: int(len(where) * af_share)]] = 1
    return y, groups


def _part_counts(folds, y, groups):
    """Patients and windows, all and AF, in each part of each fold (one row per fold and part)."""
    rows = [
        {"fold": fold.number, "part": part, "patients": len(np.unique(groups[index])),
         "af_patients": len(np.unique(groups[index][y[index] == 1])), "windows": len(index),
         "windows_af": int(y[index].sum())}
        for fold in folds for part, index in fold.parts().items()
    ]
    return pd.DataFrame(rows)


def test_grouped_folds_are_disjoint_by_patient_and_partition_each_fold():
    y, groups = _patients(30, 8)
    folds = splits.grouped_folds(y, groups, n_splits=5, seed=0)
    assert len(folds) == 5
    for number, fold in enumerate(folds):
        assert fold.number == number
        assert fold.kind == "grouped"
        for first, second in [("train", "validation"), ("train", "test"), ("validation", "test")]:
            shared = np.intersect1d(groups[fold.parts()[first]], groups[fold.parts()[second]])
            assert len(shared) == 0, (number, first, second, shared)
        everything = np.concatenate([fold.train, fold.validation, fold.test])
        assert np.array_equal(np.sort(everything), np.arange(len(y)))
        assert splits.shared_patient_fraction(fold, groups) == 0.0


def test_every_window_is_in_exactly_one_test_fold():
    y, groups = _patients(23, 6, seed=3)
    folds = splits.grouped_folds(y, groups, n_splits=4, seed=1)
    times_tested = np.bincount(np.concatenate([fold.test for fold in folds]), minlength=len(y))
    assert np.all(times_tested == 1)


@pytest.mark.parametrize("seed", range(5))
def test_each_test_fold_gets_af_when_there_are_enough_af_patients(seed):
    y, groups = _patients(40, 10, seed=seed)
    folds = splits.grouped_folds(y, groups, n_splits=5, seed=seed)
    for fold in folds:
        assert y[fold.test].sum() > 0
        assert y[fold.train].sum() > 0


def test_validation_is_about_the_requested_share_of_training_patients():
    y, groups = _patients(60, 15, seed=4)
    for fold in splits.grouped_folds(y, groups, n_splits=5, validation_fraction=0.25, seed=0):
        n_validation = len(np.unique(groups[fold.validation]))
        n_training = n_validation + len(np.unique(groups[fold.train]))
        # 48 training patients, inner 4 splits → 12 validation patients, give or take.
        assert 9 <= n_validation <= 15, n_validation
        assert n_training == 48


def test_assert_disjoint_reports_patients_and_windows():
    message = splits.assert_disjoint(
        train=np.array(["a", "a", "b", "c"]), validation=np.array(["d"]), test=np.array(["e"] * 3)
    )
    assert (
        message == "disjoint by patient: train 3 patients (4 windows), validation 1 (1), test 1 (3)"
    )


def test_assert_disjoint_names_the_parts_and_the_shared_patient():
    with pytest.raises(LeakageError, match=r"validation and test share 1 patient\(s\): p07"):
        splits.assert_disjoint(
            train=np.array(["p01", "p02"]),
            validation=np.array(["p03", "p07", "p07"]),
            test=np.array(["p07", "p09"]),
        )
    # At most 5 ids are listed.
    with pytest.raises(LeakageError, match=r"share 7 patient\(s\): 0, 1, 2, 3, 4 and 2 more"):
        splits.assert_disjoint(train=np.arange(10), test=np.arange(7))
    # A leak is a failed check, reported by pytest like a failed assert.
    assert issubclass(LeakageError, AssertionError)


def test_random_folds_share_patients_between_train_and_test():
    groups = np.repeat(np.arange(20), 50)
    y = (groups < 6).astype(int)
    folds = splits.random_folds(y, n_splits=5, seed=0)
    times_tested = np.bincount(np.concatenate([fold.test for fold in folds]), minlength=len(y))
    assert np.all(times_tested == 1)
    for fold in folds:
        assert fold.kind == "random"
        # With 40 training windows of every patient, every test window's patient is in train.
        assert splits.shared_patient_fraction(fold, groups) > 0.5
        with pytest.raises(LeakageError):
            splits.assert_disjoint(train=groups[fold.train], test=groups[fold.test])
        # Stratified: 30 % AF windows in every part, give or take a window.
        for part in fold.parts().values():
            assert y[part].mean() == pytest.approx(0.3, abs=0.02)


def test_grouped_split_needs_at_least_n_splits_patients():
    y, groups = _patients(3, 1)
    with pytest.raises(ValueError, match="n_splits=5 patients; got 3"):
        splits.grouped_folds(y, groups, n_splits=5)
    with pytest.raises(ValueError, match="n_splits must be an integer of at least 2; got 1"):
        splits.grouped_folds(y, groups, n_splits=1)
    # 2 patients, 2 folds: one training patient, none left for validation.
    with pytest.raises(ValueError, match="a fold has 1 training patient"):
        splits.grouped_folds(*_patients(2, 1), n_splits=2)


def test_grouped_split_rejects_mismatched_or_non_binary_labels():
    y, groups = _patients(10, 2)
    with pytest.raises(ValueError, match=f"groups has {len(y) - 1} entries but y has {len(y)}"):
        splits.grouped_folds(y, groups[:-1])
    bad = y.copy()
    bad[4] = -1
    with pytest.raises(ValueError, match="got -1 at index 4"):
        splits.grouped_folds(bad, groups)


def test_folds_are_deterministic_for_a_seed():
    y, groups = _patients(25, 6, seed=5)

    def as_lists(folds):
        return [[part.tolist() for part in fold.parts().values()] for fold in folds]

    assert as_lists(splits.grouped_folds(y, groups, seed=3)) == as_lists(
        splits.grouped_folds(y, groups, seed=3)
    )
    assert as_lists(splits.grouped_folds(y, groups, seed=3)) != as_lists(
        splits.grouped_folds(y, groups, seed=4)
    )
    assert as_lists(splits.random_folds(y, seed=3)) == as_lists(splits.random_folds(y, seed=3))


def test_mitdb_like_split_with_six_af_patients_works_and_adds_up():
    # 47 patients as in the MIT-BIH Arrhythmia Database, AF in 6 of them.
    y, groups = _patients(47, 6, seed=0)
    folds = splits.grouped_folds(y, groups, n_splits=5, seed=0)
    table = _part_counts(folds, y, groups)
    assert len(table) == 15
    per_fold = table.groupby("fold")[["patients", "af_patients", "windows", "windows_af"]].sum()
    assert (per_fold["patients"] == 47).all()
    assert (per_fold["af_patients"] == 6).all()
    assert (per_fold["windows"] == len(y)).all()
    assert (per_fold["windows_af"] == y.sum()).all()
    test_rows = table[table["part"] == "test"]
    assert test_rows["patients"].sum() == 47
    assert test_rows["af_patients"].sum() == 6
    assert test_rows["windows"].sum() == len(y)
    # Training always keeps AF patients to learn from.
    assert (table[table["part"] == "train"]["af_patients"] > 0).all()


def test_inner_split_keeps_the_only_training_af_patient_in_train():
    # 2 AF patients and 2 folds: each fold trains on exactly one AF patient.
    y, groups = _patients(10, 2, seed=6)
    folds = splits.grouped_folds(y, groups, n_splits=2, seed=0)
    for fold in folds:
        assert len(np.unique(groups[fold.test][y[fold.test] == 1])) == 1
        assert y[fold.train].sum() > 0
        assert len(fold.validation) > 0


def test_validation_falls_back_when_too_few_training_patients_for_inner_folds():
    # 3 patients, 3 folds: 2 training patients, fewer than the 5 inner splits of 0.2.
    y, groups = _patients(3, 1, seed=7)
    folds = splits.grouped_folds(y, groups, n_splits=3, seed=0)
    for fold in folds:
        assert len(np.unique(groups[fold.validation])) == 1
        assert len(np.unique(groups[fold.train])) == 1
