"""External validation (notebook 07): nothing crosses databases, AFDB's absence is handled,
and a CinC-trained bundle is scored on mitdb windows and EC57 episodes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from ecgutils import (
    beats,
    bundle,
    ec57,
    episodes,
    external,
    models,
    release,
    reporting,
    rhythm,
    splits,
    train,
)


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
    # The post-hoc curve re-reads the scan's own probabilities: at the bundle's settings it
    # gives the bundle's EC57 rates; at an on-threshold below every window's probability
    # the whole stretch the windows cover is one AF episode, so every reference episode is
    # found (and all AF time but the last seconds of a record, past its last whole window).
    window_s, step_s, params = result.episode_setup
    assert set(result.timelines) == {"201", "203"}
    own = external.episode_operating_curve(result, (result.threshold,), (params.min_episode_s,))
    np.testing.assert_equal(own.iloc[0][list(ec57.RATES)].to_numpy(dtype=float),
                            np.array(list(ec57.gross(result.ec57_scores).values())))
    lowest = min(float(t.prob.min()) for t in result.timelines.values())
    everything = external.episode_operating_curve(result, (lowest * 0.99,), (0.0,))
    assert everything["episode_se"].iloc[0] == 1.0
    assert 0.99 < everything["duration_se"].iloc[0] <= 1.0


def _hand_made_scan() -> external.ExternalResult:
    # One 600-s record, windows of 20 s every 10 s; reference AF at 320-360 s and 400-405 s.
    # Window probabilities: 0.9 for the windows inside the long episode, 0.7 for the window
    # over the short one, 0.5 for one window in sinus rhythm (a false bump), 0.1 elsewhere;
    # slot means (two windows cover each 10-s slot): 320-360 s at 0.5/0.9/0.9/0.5, 390-410 s
    # at 0.4, 500-520 s at 0.3.
    starts = np.arange(0.0, 590.0, 10.0)
    prob = np.full(starts.size, 0.1)
    prob[np.isin(starts, [320, 330, 340])] = 0.9
    prob[starts == 390] = 0.7
    prob[starts == 500] = 0.5
    reference = [rhythm.Interval("(N", 0, 320), rhythm.Interval(rhythm.AF, 320, 360),
                 rhythm.Interval("(N", 360, 400), rhythm.Interval(rhythm.AF, 400, 405),
                 rhythm.Interval("(N", 405, 600)]
    return external.ExternalResult(
        "cinc2017", "mitdb", "toy", pd.DataFrame(), 0.5,
        timelines={"r1": external.Timeline(starts, prob, 600.0, reference)},
        episode_setup=(20.0, 10.0, episodes.EpisodeParams(hysteresis=0.0)))


def test_episode_operating_curve_trades_episode_ppv_for_se_on_a_hand_made_record():
    curve = external.episode_operating_curve(_hand_made_scan(), (0.95, 0.6, 0.45, 0.35, 0.25),
                                             (0.0, 30.0))
    assert len(curve) == 10 and (curve["model"] == "cinc2017_to_mitdb.toy").all()
    at = curve.set_index(["min_episode_s", "on_threshold"])
    # (episode Se, episode +P) worked by hand from the slot means above.
    expected = {(0.0, 0.6): (0.5, 1.0), (0.0, 0.45): (0.5, 1.0), (0.0, 0.35): (1.0, 1.0),
                (0.0, 0.25): (1.0, 2 / 3), (30.0, 0.6): (0.0, np.nan),
                (30.0, 0.45): (0.5, 1.0), (30.0, 0.35): (0.5, 1.0), (30.0, 0.25): (0.5, 1.0),
                (0.0, 0.95): (0.0, np.nan), (30.0, 0.95): (0.0, np.nan)}
    for point, (se, ppv) in expected.items():
        np.testing.assert_allclose(at.loc[point, ["episode_se", "episode_ppv"]].to_numpy(
            dtype=float), [se, ppv], err_msg=str(point))
    # 320-360 s found exactly at 0.45: 40 of the 45 reference AF seconds, no false AF time.
    np.testing.assert_allclose(at.loc[(0.0, 0.45), ["duration_se", "duration_ppv"]].to_numpy(
        dtype=float), [40 / 45, 1.0])
    best = external.best_ppv_at_se(curve, 0.9).iloc[0]
    assert bool(best["reached"]) and (best["on_threshold"], best["min_episode_s"]) == (0.35, 0.0)
    missed = external.best_ppv_at_se(curve[curve["min_episode_s"] == 30.0], 0.9).iloc[0]
    assert not bool(missed["reached"]) and missed["episode_se"] == 0.5
    assert missed["episode_ppv"] == 1.0


def test_episode_operating_curve_needs_a_long_record_scan():
    scan = _hand_made_scan()
    with pytest.raises(ValueError, match="no long-record timelines"):
        external.episode_operating_curve(dataclasses.replace(scan, timelines={}))


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


def test_mitdb_to_cinc_takes_its_threshold_from_every_mitdb_patient_out_of_fold(
        mitdb_root, cinc_root, monkeypatch):
    from ecgutils import metrics, preprocess

    mitdb = preprocess.build(preprocess.detector_params(
        "mitdb", records=("100", "119", "201", "203", "210", "219")))
    cinc = preprocess.build(preprocess.detector_params("cinc2017", max_records=40))
    fitted = []
    real_fit = train.fit_detector

    def recording_fit(build, training, validation, cfg, dcfg, **kwargs):
        fitted.append((set(training.groups), set(validation.groups), cfg.seed))
        return real_fit(build, training, validation, cfg, dcfg, **kwargs)

    monkeypatch.setattr(train, "fit_detector", recording_fit)
    cfg = train.TrainConfig(epochs=1, seed=3, run_eagerly=True)
    result = external.mitdb_to_cinc(mitdb, cinc, cfg, n_boot=20, n_splits=3)
    windows = result.threshold_windows
    patients = {f"mitdb:{r}" for r in ("100", "119", "201", "203", "210", "219")}
    # Every patient scored out of fold once, by the one fold that neither trained nor
    # validated on it; three fits with their own seeds.
    assert set(windows["group"]) == patients and windows["prob"].notna().all()
    assert windows.groupby("group")["fold"].nunique().eq(1).all()
    assert len(fitted) == 3 and [seed for _, _, seed in fitted] == [3, 4, 5]
    for number, (trained, validated, _) in enumerate(fitted):
        tested = set(windows.loc[windows["fold"] == number, "group"])
        assert tested and not tested & (trained | validated)
    # The threshold: F1-best on those windows, AF patients of every fold included.
    assert windows.loc[windows["y"] == 1, "group"].nunique() == 4
    assert result.threshold == metrics.best_threshold(windows["y"], windows["prob"])
    assert len(result.scores) == 40 and result.scores["prob"].between(0, 1).all()
