"""The issues' targets read off exported keys: met, missed and left out, worked by hand."""

import pytest

from ecgutils import targets
from ecgutils.targets import Target


def test_at_least_and_at_most_targets_are_met_at_the_goal_and_missed_below_it():
    at_least = Target(10, "F1", "m", ("d.m.f1",), 0.85)
    assert targets.evaluate(at_least, {"d.m.f1": 0.85})["met"] == "yes"
    row = targets.evaluate(at_least, {"d.m.f1": 0.849})
    assert (row["measured"], row["goal"], row["met"]) == ("0.849", "≥ 0.85", "no")
    at_most = Target(13, "min", "all", ("study.wall_s",), 45.0, kind="at_most", scale=1 / 60)
    row = targets.evaluate(at_most, {"study.wall_s": 2163.6})  # 36.06 min
    assert (row["measured"], row["goal"], row["met"]) == ("36.1", "≤ 45", "yes")
    assert targets.evaluate(at_most, {"study.wall_s": 2701.0})["met"] == "no"


def test_a_noise_drop_is_clean_minus_noisy_and_must_stay_within_the_goal():
    target = Target(12, "drop", "release", ("clean.f1", "noisy.f1"), 0.05, kind="drop_within")
    row = targets.evaluate(target, {"clean.f1": 0.921, "noisy.f1": 0.826})
    assert row["measured"] == "+0.095 (0.921 → 0.826)" and row["met"] == "no"
    assert targets.evaluate(target, {"clean.f1": 0.921, "noisy.f1": 0.882})["met"] == "yes"


def test_beating_a_baseline_needs_every_number_strictly_above_its_own():
    keys = ("m.se", "m.ppv")
    base = ("b.se", "b.ppv")
    target = Target(10, "EC57", "m", keys, kind="beats_all", baseline=base)
    metrics = {"m.se": 0.79, "m.ppv": 0.79, "b.se": 0.78, "b.ppv": 0.51}
    row = targets.evaluate(target, metrics)
    assert (row["measured"], row["goal"], row["met"]) == ("79 / 79", "> 78 / 51", "yes")
    assert targets.evaluate(target, metrics | {"m.se": 0.78})["met"] == "no"  # a tie is not above


def test_a_target_whose_keys_a_run_did_not_export_is_left_out_not_scored():
    metrics = {"cinc2017.detector.grouped.f1": 0.715, "mitdb.features_gb.ec57.episode_se": 0.68}
    table = targets.target_table(metrics)
    assert list(table.columns) == list(targets.COLUMNS)
    # Only the CinC detector row: features_gb's EC57 lacks three keys and the baseline's.
    assert table[["model", "measured", "met"]].values.tolist() == [["detector", "0.715", "no"]]
    bench = {"scanner.detector.realtime_factor": 6477.6}
    rows = targets.target_table(metrics, bench).values.tolist()
    assert rows[-1] == [13, "scanner, × real time on one core (24 h)", "release", "6,478",
                        "≥ 5,000", "yes"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"keys": ("a",), "goal": 1.0, "kind": "at_leest"}, "unknown target kind"),
    ({"keys": ("a", "b"), "kind": "beats_all", "baseline": ("c",)}, "one baseline key per key"),
    ({"keys": ("a",)}, "needs a goal"),
])
def test_a_mistyped_target_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Target(10, "what", "model", **kwargs)
