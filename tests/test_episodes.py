"""Window probabilities → slot probabilities → hysteresis → AF episodes, on hand cases."""

import numpy as np
import pytest

from ecgutils import episodes, rhythm


def test_each_slot_is_the_mean_of_the_windows_covering_it():
    # Windows of 20 s every 5 s over a 40-s record: starts 0, 5, 10, 15, 20.
    starts = np.array([0, 5, 10, 15, 20.0])
    prob = np.array([0.0, 0.4, 0.8, 0.8, 1.0])
    slots, slot_prob = episodes.slot_probabilities(starts, prob, 20, 5, 40)
    assert np.allclose(slots, np.arange(8) * 5)
    # Slot 0: window 0 → 0; slot 1: 0, .4 → .2; slot 2: 0,.4,.8 → .4; slot 3: all four
    # first → .5; slot 4: .4,.8,.8,1 → .75; slot 5: .8,.8,1 → .8667; slot 6: .8,1 → .9; 7: 1.
    assert np.allclose(slot_prob, [0, 0.2, 0.4, 0.5, 0.75, 2.6 / 3, 0.9, 1.0])


def test_a_tail_no_window_covers_is_nan():
    _, slot_prob = episodes.slot_probabilities(np.array([0.0]), np.array([1.0]), 20, 5, 23)
    assert np.allclose(slot_prob[:4], 1.0) and np.isnan(slot_prob[4])


def test_hysteresis_keeps_af_until_the_lower_threshold():
    values = np.array([0.2, 0.6, 0.45, 0.55, 0.35, 0.45, np.nan, 0.7])
    mask = episodes.hysteresis_mask(values, on=0.5, off=0.4)
    assert mask.tolist() == [False, True, True, True, False, False, False, True]
    assert episodes.hysteresis_mask(values, 0.5, 0.5).tolist() == [
        False, True, False, True, False, False, False, True]
    with pytest.raises(ValueError, match="must not exceed"):
        episodes.hysteresis_mask(values, 0.4, 0.5)


def test_runs_are_merged_then_short_ones_dropped():
    mask = np.array([1, 1, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1], dtype=bool)
    # Runs (5-s slots): [0,10), [15,20), [35,40), [45,80); record ends at 78 s.
    assert episodes.runs_to_intervals(mask, 5, 78) == [
        rhythm.Interval("AFIB", 0, 10), rhythm.Interval("AFIB", 15, 20),
        rhythm.Interval("AFIB", 35, 40), rhythm.Interval("AFIB", 45, 78)]
    # Gaps under 6 s join [0,10)+[15,20) → 20 s and [35,40)+[45,78) → 43 s; a 25-s minimum
    # keeps the second only.
    assert episodes.runs_to_intervals(mask, 5, 78, min_episode_s=25, merge_gap_s=6) == [
        rhythm.Interval("AFIB", 35, 78)]


def test_detect_uses_the_window_threshold_unless_told_otherwise():
    starts = np.arange(0, 100, 5.0)  # 20 windows over a 115-s record
    prob = np.where((starts >= 30) & (starts < 70), 0.9, 0.1)
    found = episodes.detect(starts, prob, 0.5, 20, 5, 115, episodes.EpisodeParams(
        min_episode_s=0))
    # AF windows start at 30 … 65 s. Slot [35, 40) is covered by windows 20, 25, 30, 35:
    # two AF → mean 0.5 → on; slot [30, 35) has one → 0.3. Slot [75, 80): windows 60 … 75,
    # two AF → 0.5; slot [80, 85): one → 0.3 < off 0.4 → AF ends at 80 s.
    assert found == [rhythm.Interval("AFIB", 35, 80)]
    strict = episodes.EpisodeParams(on_threshold=0.95, min_episode_s=0)
    assert episodes.detect(starts, prob, 0.5, 20, 5, 115, strict) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"on_threshold": 1.0}, "on_threshold"), ({"hysteresis": -0.1}, "hysteresis"),
     ({"min_episode_s": -1}, "min_episode_s")],
)
def test_bad_episode_parameters_fail(kwargs, message):
    with pytest.raises(ValueError, match=message):
        episodes.EpisodeParams(**kwargs)


def test_windows_off_the_step_grid_fail():
    with pytest.raises(ValueError, match="multiples of step_s"):
        episodes.slot_probabilities(np.array([0, 7.0]), np.array([0.1, 0.2]), 20, 5, 60)
    with pytest.raises(ValueError, match="must be a multiple"):
        episodes.slot_probabilities(np.array([0.0]), np.array([0.1]), 20, 6, 60)
