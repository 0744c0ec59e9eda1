"""COSEn detector: hand-worked values on made-up RR series, real behaviour on mitdb records.

RR values in the hand cases are multiples of 1/16 s (exact in binary floating point), so the
template distances below are exact. ``m = 1``; templates ``i = 0 … N−2``; a pair matches when
its Chebyshev distance is ``≤ r``; ``B``/``A`` count matching pairs of length 1/2.
"""

import math

import numpy as np
import pytest

from ecgutils import baseline, records, rhythm
from ecgutils.baseline import CosenParams

SIXTEENTH = 1 / 16


def test_cosen_of_constant_rr_is_log_of_2r_over_rr():
    # Every pair matches (A = B = C(15, 2) = 105): SampEn = 0, COSEn = ln(2 * 0.03 / 0.8).
    assert baseline.cosen(np.full(16, 0.8)) == pytest.approx(math.log(0.075))  # -2.5903


def test_cosen_of_pure_bigeminy_is_as_regular_as_sinus_rhythm():
    # 0.5, 1.0, 0.5, ... (16 RR): templates 0..14 are 8 × 0.5 and 7 × 1.0, so
    # B = C(8,2) + C(7,2) = 49; length-2 templates are 8 × (0.5, 1.0) and 7 × (1.0, 0.5),
    # A = 49. SampEn = 0, mean RR = 0.75 s: COSEn = ln(0.06 / 0.75) = ln(0.08) = -2.526.
    rr = np.tile([0.5, 1.0], 8)
    assert baseline.cosen(rr) == pytest.approx(math.log(0.08))
    assert baseline.cosen(rr) < CosenParams().threshold


def test_cosen_of_a_short_short_long_pattern_has_positive_sample_entropy():
    # a a b a a b ... a (16 RR, a = 0.5 s, b = 1.0 s). Templates 0..14: 10 × a, 5 × b:
    # B = C(10,2) + C(5,2) = 55. Length-2: 5 × (a,a), 5 × (a,b), 5 × (b,a): A = 3 × C(5,2) = 30.
    # Mean RR = (11 × 0.5 + 5 × 1.0) / 16 = 0.65625 s. A ≥ 5 at 30 ms, so r stays 0.03:
    # COSEn = ln(55/30) + ln(0.06) - ln(0.65625) = 0.6061 - 2.8134 + 0.4212 = -1.7861.
    rr = np.array([0.5, 0.5, 1.0] * 5 + [0.5])
    expected = math.log(55 / 30) + math.log(0.06) - math.log(0.65625)
    assert baseline.cosen(rr) == pytest.approx(expected)
    assert baseline.cosen(rr) == pytest.approx(-1.78606, abs=1e-5)


def test_cosen_with_no_match_at_30_ms_grows_r_to_the_minimum_numerator_count():
    # RR = (13, 14, 15, 12, 11, 10) / 16 s; templates 0..4 = 13, 14, 15, 12, 11 (in 1/16 s).
    # pair   (0,1) (0,2) (0,3) (0,4) (1,2) (1,3) (1,4) (2,3) (2,4) (3,4)
    # len 1    1     2     1     2     1     2     3     3     4     1
    # len 2    1     2     3     4     3     4     5     3     4     1
    # No distance is within 30 ms (< 1/16 s), so A = 0 and SampEn would be infinite.
    # With a minimum numerator count of 2, r grows to the 2nd smallest length-2 distance,
    # 1/16 s: A = 2, B = 4, SampEn = ln 2; mean RR = 75/96 s = 0.78125 s.
    rr = np.array([13, 14, 15, 12, 11, 10]) * SIXTEENTH
    exact = baseline.cosen(rr, r_s=0.03, min_matches=2, r_step_s=None)
    assert exact == pytest.approx(math.log(2) + math.log(2 / 16) - math.log(0.78125))
    assert exact == pytest.approx(math.log(0.32))  # -1.139: above -1.4, AF
    # In 10-ms steps from 30 ms, r = 0.07 s is the first step ≥ 1/16 s; A and B are unchanged.
    stepped = baseline.cosen(rr, r_s=0.03, min_matches=2, r_step_s=0.01)
    assert stepped == pytest.approx(math.log(2) + math.log(0.14) - math.log(0.78125))
    assert stepped == pytest.approx(math.log(0.3584))


def test_cosen_rejects_series_too_short_or_not_positive():
    with pytest.raises(ValueError, match="3 template pairs, fewer than min_matches=5"):
        baseline.cosen([0.8, 0.9, 1.0, 0.7])
    with pytest.raises(ValueError, match="len\\(rr_s\\)=3"):
        baseline.cosen([0.8, 0.9, 1.0], min_matches=1)
    with pytest.raises(ValueError, match="finite and positive"):
        baseline.cosen([0.8, -0.9, 1.0, 0.7, 0.8, 0.9])
    with pytest.raises(ValueError, match="r_s=0"):
        baseline.cosen(np.full(16, 0.8), r_s=0)


def test_detect_marks_the_rr_intervals_of_flagged_windows_and_drops_short_episodes():
    # 60 beats 1 s apart: COSEn = ln(0.06) = -2.81 everywhere. With the threshold below it every
    # window is flagged: windows 0..43 decide RR 8..51, one episode from 8 s to 52 s (44 s).
    beats = np.arange(60.0)
    flag_all = CosenParams(threshold=-3.0, min_episode_s=44.0)
    assert baseline.detect(beats, 60.0, flag_all) == [rhythm.Interval(rhythm.AF, 8.0, 52.0)]
    assert baseline.detect(beats, 60.0, CosenParams(threshold=-3.0, min_episode_s=44.5)) == []
    assert baseline.detect(beats, 60.0) == []  # default threshold -1.4: sinus-like, no AF


def test_detect_finds_an_irregular_stretch_merges_across_short_gaps_and_drops_short_ones():
    # Synthetic RR (unit test of a pure function): regular 1 s, then 60 irregular beats drawn
    # uniformly in 0.4-1.2 s, 40 regular, 25 irregular, regular again.
    rng = np.random.default_rng(7)
    rr = np.concatenate([
        np.ones(40), rng.uniform(0.4, 1.2, 60), np.ones(40), rng.uniform(0.4, 1.2, 25), np.ones(40)
    ])
    beats = np.concatenate([[0.0], np.cumsum(rr)])
    first_irregular, second_irregular = beats[40], beats[140]
    # Precondition: every 16-RR window wholly inside the irregular stretch scores as AF.
    assert all(baseline.cosen(rr[first:first + 16]) > -1.4 for first in range(40, 85))
    episodes = baseline.detect(beats, beats[-1])
    # The 60-beat stretch (~48 s) is found, its edges within half a window (8 beats ≤ 10 s);
    # the 25-beat one (~20 s) is shorter than 30 s and dropped.
    assert len(episodes) == 1
    assert episodes[0].start_s == pytest.approx(first_irregular, abs=10.0)
    assert episodes[0].end_s == pytest.approx(beats[100], abs=10.0)
    shorter = baseline.detect(beats, beats[-1], CosenParams(min_episode_s=10.0))
    assert len(shorter) == 2
    assert shorter[1].start_s == pytest.approx(second_irregular, abs=10.0)
    merged = baseline.detect(beats, beats[-1], CosenParams(min_episode_s=10.0, merge_gap_s=60.0))
    assert len(merged) == 1
    assert merged[0].start_s == shorter[0].start_s and merged[0].end_s == shorter[1].end_s


def test_window_scores_are_the_fraction_of_each_window_inside_detected_af():
    # Same flag-all case as above: AF from 8 s to 52 s.
    beats = np.arange(60.0)
    params = CosenParams(threshold=-3.0)
    scores = baseline.window_scores(beats, [0.0, 20.0, 40.0, 60.0, 45.0], 20.0, params)
    assert scores == pytest.approx([12 / 20, 1.0, 12 / 20, 0.0, 7 / 20])
    with pytest.raises(ValueError, match="window_s=0"):
        baseline.window_scores(beats, [0.0], 0.0, params)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_rr": 3}, "window_rr=3 must be at least 4"),
        ({"window_rr": 16.0}, "window_rr must be an integer"),
        ({"window_rr": True}, "window_rr must be an integer"),
        ({"window_rr": 5, "min_matches": 7}, "6 template pairs, fewer than min_matches=7"),
        ({"step_beats": 0}, "step_beats=0 must be between 1 and 16"),
        ({"step_beats": 17}, "step_beats=17 must be between 1 and 16"),
        ({"threshold": float("nan")}, "threshold=nan must be finite"),
        ({"r_s": 0.0}, "r_s=0.0 must be positive"),
        ({"r_s": "30 ms"}, "r_s must be a number"),
        ({"min_matches": 0}, "min_matches=0 must be at least 1"),
        ({"r_step_s": -0.01}, "r_step_s=-0.01 must be positive"),
        ({"min_episode_s": -1.0}, "min_episode_s=-1.0 must not be negative"),
        ({"merge_gap_s": float("inf")}, "merge_gap_s=inf must be finite"),
    ],
)
def test_params_reject_bad_values_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(")):
        CosenParams(**kwargs)


def test_detect_rejects_unsorted_beats_and_a_record_end_before_the_last_beat():
    with pytest.raises(ValueError, match="strictly increasing: beat 2 at 1.0 s follows 2.0 s"):
        baseline.detect([0.0, 2.0, 1.0], 10.0)
    with pytest.raises(ValueError, match="record_end_s=5.0 is before the last beat"):
        baseline.detect(np.arange(10.0), 5.0)


# --- real records --------------------------------------------------------------------------


def test_detector_on_reference_beats_of_201_overlaps_every_annotated_af_episode(mitdb_root):
    record = records.read("mitdb", "201")
    episodes = baseline.detect(record.beat_times_s, record.duration_s)
    reference = record.af_episodes
    assert len(reference) == 3
    assert all(episode.label == rhythm.AF for episode in episodes)
    overlap_s = [
        sum(max(0.0, min(ref.end_s, ep.end_s) - max(ref.start_s, ep.start_s)) for ep in episodes)
        for ref in reference
    ]
    assert all(overlap > 0 for overlap in overlap_s)
    # Measured: 594.9 s of the 605.8 s of annotated AF are detected (98 %).
    assert sum(overlap_s) / rhythm.total_duration_s(record.rhythm) > 0.95
    assert all(episode.duration_s >= 30.0 for episode in episodes)


def test_detector_on_reference_beats_of_sinus_record_100_finds_no_af(mitdb_root):
    record = records.read("mitdb", "100")
    assert baseline.detect(record.beat_times_s, record.duration_s) == []
    starts = np.arange(0.0, record.duration_s - 20.0, 20.0)
    assert np.all(baseline.window_scores(record.beat_times_s, starts) == 0.0)


def test_detect_qrs_finds_the_reference_beats_of_record_100_within_50_ms(mitdb_root):
    record = records.read("mitdb", "100")
    detected = baseline.detect_qrs(record.signal, record.fs)
    matched = _match_within(record.beat_times_s, detected, tolerance_s=0.05)
    sensitivity = matched / record.beat_times_s.size
    positive_predictivity = matched / detected.size
    # Measured: 2273 of 2273 reference beats, no extra detections.
    assert sensitivity >= 0.99
    assert positive_predictivity >= 0.99


def _match_within(reference_s: np.ndarray, detected_s: np.ndarray, tolerance_s: float) -> int:
    """One-to-one matches in time order: each reference beat takes the first unused detection
    within the tolerance (both sorted)."""
    matched, unused = 0, 0
    for time_s in reference_s:
        while unused < detected_s.size and detected_s[unused] < time_s - tolerance_s:
            unused += 1
        if unused < detected_s.size and detected_s[unused] <= time_s + tolerance_s:
            matched += 1
            unused += 1
    return matched
