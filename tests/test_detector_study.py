"""The detector's protocols on real CinC 2017 and mitdb windows (tiny models, one epoch)."""

import numpy as np
import pytest

from ecgutils import detector_study, metrics, preprocess, train
from ecgutils.windows import CLASSES

TINY = {"filters": (4, 4), "rr_units": 4, "dropout": 0.1}


@pytest.fixture(scope="module")
def cinc(cinc_root):
    return preprocess.build(preprocess.detector_params("cinc2017", max_records=120))


@pytest.fixture(scope="module")
def mitdb(mitdb_root):
    return preprocess.build(preprocess.detector_params("mitdb",
                                                       records=("100", "119", "201", "203")))


def test_detector_windows_cover_whole_records_with_rr_features(cinc):
    manifest = cinc.tables["manifest"]
    assert cinc.arrays["X"].shape[1] == 2500  # 20 s at 125 Hz
    assert cinc.arrays["R"].shape == (len(manifest), 11)
    assert np.isfinite(np.asarray(cinc.arrays["R"])).all()
    # A 30-s CinC record gives windows at 0, 5 and 10 s.
    starts = manifest.loc[manifest["record"] == "A00001", "start_s"].tolist()
    assert starts == [0.0, 5.0, 10.0]
    assert set(manifest["rhythm_class"]) <= set(CLASSES)
    assert (manifest["rhythm_class"] == manifest["cinc_class"]).all()


def test_development_records_are_stratified_disjoint_and_fixed_by_the_seed(cinc):
    dev, rest = detector_study.development_split(cinc, 0.2, seed=1)
    assert not set(dev) & set(rest)
    assert len(dev) + len(rest) == 120 and len(dev) == 24
    again, _ = detector_study.development_split(cinc, 0.2, seed=1)
    assert np.array_equal(dev, again)
    classes = cinc.tables["manifest"].groupby("record")["rhythm_class"].first()
    assert classes.loc[dev].eq("A").sum() >= 1


def test_centre_rows_pick_one_middle_window_per_record(cinc):
    rows = detector_study.centre_rows(cinc)
    manifest = cinc.tables["manifest"]
    assert manifest.loc[rows, "record"].is_unique
    assert len(rows) == manifest["record"].nunique()
    assert manifest.loc[manifest["record"] == "A00001", "start_s"].iloc[1] in set(
        manifest.loc[rows, "start_s"])


def test_cinc_study_never_tests_a_development_record_and_scores_records(cinc):
    cfg = train.TrainConfig(epochs=1, batch_size=16)
    study = detector_study.cinc_study(cinc, cfg, hyper=TINY, n_splits=2)
    dev, rest = detector_study.development_split(cinc, 0.2)
    scored = study.scores["group"].to_numpy()
    assert not set(scored) & set(dev)
    assert sorted(scored) == sorted(rest)  # every other record once, at record level
    assert all(fold["disjointness"].startswith("disjoint by patient") for fold in study.folds)
    ev = detector_study.evaluate(study, n_boot=20)
    assert ev["n_patients"] == len(rest)
    keys = detector_study.export_keys(study)
    assert "cinc2017.detector.grouped.f1" in keys
    # Another training seed changes the folds, never the development records.
    other = detector_study.cinc_study(cinc, train.TrainConfig(epochs=1, batch_size=16, seed=5),
                                      hyper=TINY, n_splits=2)
    assert sorted(other.scores["group"]) == sorted(rest)


def test_mitdb_study_tests_the_20_s_grid_and_trains_without_ambiguous_windows(mitdb, cinc,
                                                                             tmp_path):
    cfg = train.TrainConfig(epochs=1, batch_size=16)
    cinc_study = detector_study.cinc_study(cinc, cfg, hyper=TINY, n_splits=2,
                                           save_dir=tmp_path)
    study = detector_study.mitdb_study(mitdb, cinc, cinc_study.model_paths, cfg, hyper=TINY,
                                       n_splits=2, cinc_sample=40)
    assert np.allclose(np.mod(study.windows["start_s"], 20.0), 0.0)
    assert (study.windows["label"] != "AFL").all()
    # Every patient is tested once, and every 5-s window of a test patient has a probability.
    assert set(study.windows["patient_id"]) == set(mitdb.tables["manifest"]["patient_id"])
    test_along = study.along[study.along["role"] == "test"]
    assert len(test_along) == len(mitdb.tables["manifest"])
    assert np.isfinite(test_along["prob"]).all()
    paths = detector_study.save_predictions(study)
    assert [p.name for p in paths] == ["mitdb_detector_grouped.csv",
                                       "mitdb_detector_grouped_along.csv"]
    loaded = detector_study.load_predictions("mitdb", along=True)
    assert len(loaded) == len(study.along)


def test_missing_predictions_name_the_notebook_to_run(tmp_path, monkeypatch):
    from ecgutils.errors import DataUnavailableError

    monkeypatch.setenv("ECGUTILS_REPORTS_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match="03b_detector"):
        detector_study.load_predictions("mitdb")


def test_seed_spread_is_the_sample_sd_over_seeds():
    spread = detector_study.seed_spread({1: 0.80, 2: 0.82, 3: 0.84})
    assert spread["f1_seed_mean"] == pytest.approx(0.82)
    assert spread["f1_seed_sd"] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="at least two"):
        detector_study.seed_spread({1: 0.8})


def test_record_level_averages_windows_per_record():
    table = metrics.record_level([1, 1, 0, 0, 0], [0.9, 0.7, 0.2, 0.4, 0.3],
                                 ["a", "a", "b", "b", "b"])
    assert table["group"].tolist() == ["a", "b"]
    assert table["y"].tolist() == [1, 0]
    assert table["prob"].to_numpy() == pytest.approx([0.8, 0.3])
    assert table["n_windows"].tolist() == [2, 3]


def test_folds_run_as_dask_jobs_give_the_studies_they_give_here(mitdb, cinc, tmp_path,
                                                                monkeypatch):
    from ecgutils import cluster

    cfg = train.TrainConfig(epochs=1, batch_size=16)

    def both(folder):
        cinc_study = detector_study.cinc_study(cinc, cfg, hyper=TINY, n_splits=2,
                                               save_dir=folder)
        return cinc_study, detector_study.mitdb_study(
            mitdb, cinc, cinc_study.model_paths, cfg, hyper=TINY, n_splits=2, cinc_sample=40)

    monkeypatch.setenv(cluster.WORKERS_ENV, "1")
    here = both(tmp_path / "here")
    monkeypatch.setenv(cluster.WORKERS_ENV, "2")
    jobs = both(tmp_path / "jobs")
    for ours, theirs in zip(here, jobs, strict=True):
        assert [f["disjointness"] for f in ours.folds] == [f["disjointness"] for f in
                                                           theirs.folds]
        assert ours.scores["group"].tolist() == theirs.scores["group"].tolist()
        # Same seeds and starts; TensorFlow's round-off differs with a worker's threads.
        np.testing.assert_allclose(ours.scores["prob"], theirs.scores["prob"], atol=5e-3)
    assert [p.rsplit("/", 1)[1] for p in jobs[0].model_paths] == [
        "cinc2017_detector_fold0.keras", "cinc2017_detector_fold1.keras"]
    assert len(jobs[1].along) == len(here[1].along)
