import numpy as np
import pandas as pd
import pytest

from ecgutils import experiments, preprocess, train

TINY = {"filters": (4, 4), "dropout": 0.1}
ONE_EPOCH = train.TrainConfig(epochs=1, batch_size=32)


@pytest.fixture(scope="module")
def entries(mitdb_root, cinc_root):
    mitdb = preprocess.build(preprocess.default_params(
        "mitdb", records=("100", "119", "201", "202", "203", "210")))
    cinc = preprocess.build(preprocess.default_params("cinc2017", max_records=80))
    return mitdb, cinc


@pytest.fixture(scope="module")
def cinc_study(entries, tmp_path_factory):
    _, cinc = entries
    return experiments.cinc_study("cnn1d", cinc, ONE_EPOCH, n_splits=2, model_hyper=TINY,
                                  save_dir=tmp_path_factory.mktemp("models"))


def test_cinc_study_tests_every_record_once_and_saves_fold_and_final_models(cinc_study):
    assert cinc_study.cv.tested.all()
    assert len(cinc_study.groups) == 80 == len(set(cinc_study.groups))
    assert cinc_study.final_model_path.endswith("cinc2017_cnn1d_final.keras")
    assert all(fold.model_path.endswith(f"_fold{fold.number}.keras")
               for fold in cinc_study.cv.folds)


def test_mitdb_study_leaves_flutter_out_and_starts_from_the_cinc_model(entries, cinc_study):
    mitdb, cinc = entries
    study = experiments.mitdb_study("cnn1d", mitdb, ONE_EPOCH, n_splits=2, model_hyper=TINY,
                                    cinc_entry=cinc, cinc_model_path=cinc_study.final_model_path)
    n_afl = int((mitdb.tables["manifest"]["label"] == "AFL").sum())
    assert n_afl > 0
    assert study.y.size == len(mitdb.tables["manifest"]) - n_afl
    assert study.split == "grouped"
    for fold in study.folds:
        assert not set(study.groups[fold.test]) & set(study.groups[fold.train])
    # 201 and 202 are one patient: they are always tested together.
    tested_with = {g: set(study.cv.fold_of[study.groups == g]) for g in ("mitdb:201",)}
    assert len(tested_with["mitdb:201"]) == 1


def test_mitdb_study_needs_both_cinc_arguments_or_neither(entries):
    mitdb, cinc = entries
    with pytest.raises(ValueError, match="both"):
        experiments.mitdb_study("cnn1d", mitdb, ONE_EPOCH, cinc_entry=cinc)


def test_evaluation_exports_the_summary_keys_and_predictions(cinc_study, tmp_path):
    ev = experiments.evaluate(cinc_study, n_boot=50)
    keys = experiments.export_keys(cinc_study)
    for metric in experiments.HEADLINE:
        assert keys[f"cinc2017.cnn1d.grouped.{metric}"] == ev[metric]
        assert len(keys[f"cinc2017.cnn1d.grouped.{metric}_ci95"]) == 2
    assert keys["cinc2017.cnn1d.grouped.n_patients"] == 80
    assert keys["cinc2017.cnn1d.grouped.disjointness"].count("disjoint by patient") == 2
    path = experiments.save_predictions(cinc_study, tmp_path)
    table = pd.read_csv(path)
    assert len(table) == 80 and set(table["fold"]) == {0, 1}
    assert np.allclose(table["prob"], cinc_study.cv.prob)
    folds = experiments.fold_metrics(cinc_study)
    assert folds["test_windows"].sum() == 80
