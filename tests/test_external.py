"""External validation (notebook 07): nothing crosses databases, AFDB's absence is handled,
and a CinC-trained bundle is scored on mitdb windows and EC57 episodes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecgutils import beats, bundle, external, models, release, reporting, splits, train


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory) -> bundle.Bundle:
    train.seed_all(0)
    model = models.detector(input_samples=2500, n_rr_features=len(beats.FEATURES), n_classes=1)
    settings = release.settings(0.5, kind="cnn")
    return bundle.load(bundle.save(tmp_path_factory.mktemp("b") / "tiny", [model], settings))


def test_afdb_without_signals_has_no_records_present(afdb_root):
    # The shared AFDB holds RECORDS and SHA256SUMS only: 07 must skip its rows, not fail.
    assert (afdb_root / "RECORDS").is_file()
    assert external.records_present("afdb") == []


def test_records_present_lists_mitdb(mitdb_root):
    assert len(external.records_present("mitdb")) == 48


def test_shared_records_across_databases_are_refused():
    external.assert_no_shared_records(np.array(["mitdb:100", "mitdb:201"]),
                                      np.array(["cinc2017:A00001"]))
    with pytest.raises(splits.LeakageError, match="share 1"):
        external.assert_no_shared_records(np.array(["mitdb:100", "mitdb:201"]),
                                          np.array(["mitdb:201", "cinc2017:A00001"]))


def test_external_keys_are_accepted_and_unknown_databases_refused():
    reporting.export_metrics("t_external", {"cinc2017_to_mitdb.detector.external.f1": 0.5})
    with pytest.raises(ValueError, match="train>_to_<test"):
        reporting.export_metrics("t_external", {"holter_to_mitdb.detector.external.f1": 0.5})


def test_scan_long_records_scores_grid_windows_and_episodes(tiny_bundle, mitdb_root):
    result = external.scan_long_records(tiny_bundle, "mitdb", ["201", "203"], n_boot=50)
    scores = result.scores
    assert set(scores["record"]) == {"201", "203"}
    assert np.allclose(np.mod(scores["start_s"], 20.0), 0.0)
    assert set(scores["y"]) <= {0, 1} and scores["y"].sum() > 0
    # 201 and 202 are one patient; ids carry their database.
    assert set(scores["group"]) == {"mitdb:201", "mitdb:203"}
    assert [s.record for s in result.ec57_scores] == ["201", "203"]
    keys = external.keys(result)
    assert keys["cinc2017_to_mitdb.detector.external.threshold"] == 0.5
    assert "cinc2017_to_mitdb.detector.ec57.episode_se" in keys
    assert result.evaluation["n_patients"] == 2
    # Every reference episode once, detected as often as the EC57 scores say.
    episodes = result.reference_episodes
    assert len(episodes) == sum(s.ref_episodes for s in result.ec57_scores)
    assert episodes["detected"].sum() == sum(s.ref_episodes_detected for s in result.ec57_scores)
    by_length = external.episodes_by_length({"cinc2017_to_mitdb.detector": result})
    assert by_length["episodes"].iloc[-1] == len(episodes)
    assert (by_length["model"] == "cinc2017_to_mitdb.detector").all()


def test_in_database_numbers_come_from_the_models_own_notebook_or_the_carried_summary(tmp_path):
    from ecgutils import runs

    assert external.in_database("release", "mitdb", tmp_path) == {}
    base = {"metrics": {"mitdb.features_gb.grouped.f1": 0.8,
                        "mitdb.features_gb.grouped.auroc": 0.9,
                        "mitdb.detector.grouped.f1": 0.7, "mitdb.detector.grouped.auroc": 0.95}}
    (tmp_path / f"{runs.BASE_SUMMARY}.json").write_text(json.dumps(base))
    carried = external.in_database("release", "mitdb", tmp_path)
    assert carried == {"f1": 0.8, "auroc": 0.9,
                       "source": "03c_features (earlier run), features_gb"}
    metrics = reporting.metrics_path("03b_detector", tmp_path)
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"mitdb.detector.grouped.f1": 0.6,
                                   "mitdb.detector.grouped.auroc": 0.97}))
    assert external.in_database("detector", "mitdb", tmp_path) == {
        "f1": 0.6, "auroc": 0.97, "source": "03b_detector, detector"}
    assert external.in_database("cosen", "mitdb", tmp_path) == {}
    assert external.in_database("release", "cinc2017", tmp_path) == {}
