"""The episode study on real mitdb records: episodes from window probabilities, the COSEn
baseline, EC57 tables, window metrics of the baseline, annotation files, cached QRS times."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ecgutils import ec57, episode_study, episodes, preprocess, rhythm

RECORDS = ("100", "201", "203")


@pytest.fixture(scope="module")
def long(mitdb_root):
    return episode_study.long_records("mitdb", RECORDS)


def _oracle_predictions(long, step_s=5.0):
    """Window 'probabilities' equal to each window's reference AF fraction — a perfect
    window classifier, to test the pure windows → episodes → EC57 path."""
    rows = []
    for name, rec in long.items():
        starts = np.arange(0, rec.duration_s - 20 + 1e-9, step_s)
        fraction = np.array([rhythm.label_fraction(rec.reference, s, s + 20.0, rhythm.AF)
                             for s in starts])
        rows.append(pd.DataFrame({"record": name, "start_s": starts, "prob": fraction,
                                  "threshold": 0.5}))
    return pd.concat(rows, ignore_index=True)


def test_a_perfect_window_classifier_finds_every_long_reference_episode(long):
    found = episode_study.cnn_episodes(_oracle_predictions(long), long, 20.0, 5.0,
                                       episodes.EpisodeParams(min_episode_s=30))
    assert found["100"] == []
    scores = {s.record: s for s in episode_study.score(found, long)}
    assert {s.variant for s in scores.values()} == {ec57.VARIANT_EC57}
    # 201 from 5 min: 3 reference episodes (epicmp's count), all ≥ 30 s long.
    assert scores["201"].ref_episodes == 3 and scores["201"].ref_episodes_detected == 3
    assert scores["201"].episode_ppv == 1.0
    assert scores["201"].duration_se > 0.95 and scores["201"].duration_ppv > 0.95
    # 203's 17 reference episodes are short AF runs split by brief other rhythms: two long
    # detected episodes span them all, and "any overlap" counts all 17 as found.
    assert scores["203"].ref_episodes == 17 and scores["203"].ref_episodes_detected == 17
    assert scores["203"].test_episodes == 2 and scores["203"].episode_ppv == 1.0


def test_predictions_from_several_folds_in_one_record_are_refused(long):
    table = _oracle_predictions(long)
    table.loc[table.index[0], "threshold"] = 0.4
    with pytest.raises(ValueError, match="several folds"):
        episode_study.cnn_episodes(table, long, 20.0, 5.0)
    with pytest.raises(ValueError, match="no predictions"):
        episode_study.cnn_episodes(table[table["record"] != "100"], long, 20.0, 5.0)


def test_baseline_tables_keys_and_annotation_files(long, tmp_path):
    beats = {name: rec.beat_times_s for name, rec in long.items()}
    found = episode_study.baseline_episodes(beats, long)
    scores = {"rr_baseline": episode_study.score(found, long)}
    summary = episode_study.ec57_summary(scores)
    gross = summary[summary["statistic"] == "gross"].iloc[0]
    assert gross["ref_episodes"] == sum(s.ref_episodes for s in scores["rr_baseline"])
    assert gross["episode_se"] == ec57.gross(scores["rr_baseline"])["episode_se"]
    keys = episode_study.export_keys(summary)
    assert set(keys) >= {f"mitdb.rr_baseline.ec57.{rate}" for rate in ec57.RATES}
    per_record = episode_study.per_record_table(scores)
    assert list(per_record["record"]) == ["201", "203"]  # 100 has no AF, nothing detected
    assert per_record.loc[0, "rr_baseline episode Se/+P"].startswith("100 / ")
    paths = episode_study.write_annotation_files(found, long, tmp_path, "cos")
    assert len(paths) == 3
    back, _ = ec57.read_rhythm("201", "cos", tmp_path, record_directory=_record_dir())
    assert rhythm.episodes(back, rhythm.AF) == [
        rhythm.Interval(rhythm.AF, round(i.start_s * 360) / 360, round(i.end_s * 360) / 360)
        for i in found["201"]]


def test_ec57_tables_name_their_variant_and_only_the_default_is_exported(long):
    beats = {name: rec.beat_times_s for name, rec in long.items()}
    found = episode_study.baseline_episodes(beats, long)
    default = episode_study.score(found, long)
    excluded = episode_study.score(found, long, exclude_reference_afl=True)
    assert default == episode_study.score(found, long, exclude_reference_afl=False)
    assert {s.variant for s in default} == {"EC57 (EC38:2007), no exclusions"}
    assert {s.variant for s in excluded} == {"EC38:1998, reference AFL excluded (-x)"}
    # 203 holds 314 s of reference flutter (759-782 s, 783-1075 s). By default COSEn's AF time
    # there is false AF time; with -x it leaves the test AF time, and only duration +P moves.
    by_record = {s.record: (s, x) for s, x in zip(default, excluded, strict=True)}
    plain, minus_x = by_record["203"]
    assert minus_x.test_af_in_ref_afl_s > 0 and plain.test_af_in_ref_afl_s == 0
    assert minus_x.test_af_s == pytest.approx(plain.test_af_s - minus_x.test_af_in_ref_afl_s)
    assert by_record["201"][0] == dataclasses.replace(by_record["201"][1],
                                                      exclude_reference_afl=False)

    summary = {variant: episode_study.ec57_summary({"rr_baseline": scores})
               for variant, scores in (("default", default), ("-x", excluded))}
    assert set(summary["default"]["variant"]) == {ec57.VARIANT_EC57}
    assert set(summary["-x"]["variant"]) == {ec57.VARIANT_AFL_EXCLUDED}
    gross = {v: table[table["statistic"] == "gross"].iloc[0] for v, table in summary.items()}
    for column in ("ref_episodes", "test_episodes", "test_episodes_true", "episode_se",
                   "episode_ppv", "duration_se"):
        assert gross["default"][column] == gross["-x"][column]
    assert gross["default"]["duration_ppv"] < gross["-x"]["duration_ppv"]

    keys = episode_study.export_keys(summary["default"])
    assert keys["mitdb.rr_baseline.ec57.duration_ppv"] == gross["default"]["duration_ppv"]
    with pytest.raises(ValueError, match=r"exports the 'EC57 \(EC38:2007\), no exclusions'"):
        episode_study.export_keys(summary["-x"])
    assert episode_study.variant_of({"rr_baseline": default}) == ec57.VARIANT_EC57
    with pytest.raises(ValueError, match="mix variants"):
        episode_study.variant_of({"rr_baseline": default, "rr_baseline_x": excluded})


def test_min_duration_sensitivity_names_its_variant(long):
    predictions = _oracle_predictions(long)
    params = episodes.EpisodeParams(min_episode_s=30)
    for exclude, variant in ((False, ec57.VARIANT_EC57), (True, ec57.VARIANT_AFL_EXCLUDED)):
        table = episode_study.min_duration_sensitivity(predictions, long, 20.0, 5.0, params,
                                                       minima_s=(0.0, 60.0),
                                                       exclude_reference_afl=exclude)
        assert table["min_episode_s"].tolist() == [0.0, 60.0]
        assert set(table["variant"]) == {variant}
        assert table["episode_se"].between(0, 1).all()


def _record_dir():
    from ecgutils import datasets

    return datasets.ensure_local("mitdb")


def test_baseline_window_metrics_use_the_cnn_windows(long):
    mitdb = preprocess.build(preprocess.default_params("mitdb", records=RECORDS))
    beats = {name: rec.beat_times_s for name, rec in long.items()}
    evaluations = episode_study.window_comparison({}, {"rr_baseline": beats},
                                                  mitdb.tables["manifest"], long, 20.0,
                                                  n_boot=50)
    ev = evaluations["rr_baseline"]
    labelled = mitdb.tables["manifest"]["y"] >= 0
    assert ev["n_windows_af"] + ev["n_windows_non_af"] == int(labelled.sum())
    assert ev["n_patients"] == 3
    assert ev["se"] > 0.8 and ev["sp"] > 0.8  # AF in 201/203 is RR-irregular; 100 is sinus
    keys = episode_study.window_keys(evaluations, ["rr_baseline"])
    assert keys["mitdb.rr_baseline.no_training.f1"] == ev["f1"]
    assert len(keys["mitdb.rr_baseline.no_training.f1_ci95"]) == 2
    assert keys["mitdb.rr_baseline.no_training.n_patients"] == 3


def test_detected_beats_are_cached_per_record(mitdb_root):
    first = episode_study.detected_beats("mitdb", ["100"])
    again = episode_study.detected_beats("mitdb", ["100"])
    assert np.array_equal(first["100"], again["100"])
    assert 2200 < len(first["100"]) < 2350  # 2273 reference beats


def _along_with_roles(long):
    """Oracle predictions where 100 and 201 are fold 0's validation records and 203 its test
    record; 203's probabilities are then wrecked, which must not move the choice."""
    table = _oracle_predictions(long)
    table["fold"] = 0
    table["role"] = np.where(table["record"] == "203", "test", "validation")
    return table


def test_episode_settings_are_chosen_on_validation_records_only(long):
    along = _along_with_roles(long)
    chosen, table = episode_study.choose_episode_params(along, long, 20.0, 5.0)
    wrecked = along.copy()
    wrecked.loc[wrecked["role"] == "test", "prob"] = 1.0 - wrecked.loc[
        wrecked["role"] == "test", "prob"]
    again, _ = episode_study.choose_episode_params(wrecked, long, 20.0, 5.0)
    assert chosen == again
    assert table.loc[0, "validation records"] == 2
    assert table.loc[0, "validation records with AF"] == 1
    # The choice scores at least as well on the validation records as the fixed default.
    validation = along[along["role"] == "validation"]
    sub = {name: long[name] for name in ("100", "201")}
    default = episode_study.cnn_episodes(validation, sub, 20.0, 5.0, episodes.EpisodeParams())
    default_rate = np.nanmean(list(ec57.gross(episode_study.score(default, sub)).values()))
    assert table.loc[0, "validation mean rate"] >= default_rate
    found = episode_study.episodes_by_fold(along, {"203": long["203"]}, 20.0, 5.0, chosen)
    assert set(found) == {"203"} and found["203"]
