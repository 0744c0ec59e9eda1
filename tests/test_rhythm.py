import numpy as np
import pytest

from ecgutils import rhythm
from ecgutils.rhythm import Interval


def test_rhythm_label_strips_parenthesis_and_nul_bytes():
    assert rhythm.rhythm_label("(AFIB\x00") == "AFIB"
    assert rhythm.rhythm_label("(N") == "N"
    assert rhythm.rhythm_label("") is None
    assert rhythm.rhythm_label("AFIB") is None


def test_each_rhythm_runs_to_the_next_rhythm_annotation_or_record_end():
    # Beat annotations ("N") and a noise annotation without aux are ignored.
    intervals = rhythm.intervals_from_annotations(
        samples=[10, 50, 100, 250, 300],
        symbols=["+", "N", "+", "~", "+"],
        aux_notes=["(N\x00", "", "(AFIB", "", "(AFL"],
        fs=10.0,
        n_samples=400,
    )
    assert intervals == [
        Interval("N", 1.0, 10.0),
        Interval("AFIB", 10.0, 30.0),
        Interval("AFL", 30.0, 40.0),
    ]
    assert rhythm.total_duration_s(intervals, "AFIB") == pytest.approx(20.0)
    assert rhythm.episodes(intervals, "AFL") == [Interval("AFL", 30.0, 40.0)]


def test_merge_spans_joins_touching_spans_and_gaps_up_to_the_limit():
    spans = [(0.0, 10.0), (10.0, 20.0), (25.0, 30.0), (40.0, 50.0)]
    assert rhythm.merge_spans(spans) == [(0.0, 20.0), (25.0, 30.0), (40.0, 50.0)]
    # A gap of exactly max_gap joins; with strict only a shorter one does.
    assert rhythm.merge_spans(spans, 5.0) == [(0.0, 30.0), (40.0, 50.0)]
    assert rhythm.merge_spans(spans, 5.0, strict=True) == [(0.0, 20.0), (25.0, 30.0),
                                                           (40.0, 50.0)]
    assert rhythm.merge_spans(spans, 10.0, strict=True) == [(0.0, 30.0), (40.0, 50.0)]
    # Overlapping spans join, ending at the later end; samples work as well as seconds.
    assert rhythm.merge_spans([(0, 100), (50, 80), (100, 120)]) == [(0, 120)]
    assert rhythm.merge_spans([]) == []


def test_label_fraction_of_a_window_straddling_af_onset():
    intervals = [Interval("N", 0.0, 15.0), Interval("AFIB", 15.0, 100.0)]
    assert rhythm.label_fraction(intervals, 0.0, 20.0) == pytest.approx(0.25)
    assert rhythm.label_fraction(intervals, 10.0, 30.0) == pytest.approx(0.75)
    assert rhythm.label_fraction(intervals, 0.0, 10.0) == 0.0
    with pytest.raises(ValueError, match="empty span"):
        rhythm.label_fraction(intervals, 5.0, 5.0)


def test_labels_at_times_before_first_annotation_are_outside():
    intervals = [Interval("N", 1.0, 2.0), Interval("AFIB", 2.0, 3.0)]
    labels = rhythm.labels_at(intervals, np.array([0.5, 1.5, 2.0, 2.9, 3.0]))
    assert list(labels) == ["", "N", "AFIB", "AFIB", ""]


def test_rr_irregularity_is_zero_for_a_regular_rhythm_and_positive_otherwise():
    times, rr = rhythm.rr_intervals(np.array([0.0, 1.0, 2.0, 3.0]))
    assert list(times) == [1.0, 2.0, 3.0]
    assert np.allclose(rhythm.rr_irregularity(rr), 0.0)
    # RR 1.0 then 0.5: |0.5 - 1.0| / 0.75
    assert rhythm.rr_irregularity(np.array([1.0, 0.5]))[0] == pytest.approx(0.5 / 0.75)


def test_label_fractions_of_many_spans_equal_the_span_by_span_overlap_on_a_real_record(
        mitdb_root):
    from ecgutils import records

    record = records.read("mitdb", "203")  # many AF and flutter episodes
    duration = record.signal.size / record.fs
    starts = np.arange(0.0, duration - 1.0, 3.7)
    ends = np.minimum(starts + 95.0, duration)  # spans crossing several episodes
    for label in (rhythm.AF, rhythm.AFL):
        expected = [sum(max(0.0, min(end, i.end_s) - max(start, i.start_s))
                        for i in rhythm.episodes(record.rhythm, label)) / (end - start)
                    for start, end in zip(starts, ends, strict=True)]
        got = rhythm.label_fractions(record.rhythm, starts, ends, label)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
        assert 0.05 < got.mean() < 0.95  # the record really has this rhythm
    assert rhythm.label_fractions([], starts, ends).tolist() == [0.0] * starts.size
    with pytest.raises(ValueError, match="empty span"):
        rhythm.label_fractions(record.rhythm, np.array([5.0]), np.array([5.0]))


def test_label_fractions_stay_within_zero_and_one_and_are_exact_outside_episodes(mitdb_root):
    from ecgutils import records

    record = records.read("mitdb", "201")
    duration = record.signal.size / record.fs
    starts = np.arange(0.0, duration - 20.0, 0.37)
    got = rhythm.label_fractions(record.rhythm, starts, starts + 20.0)
    assert got.min() == 0.0 and got.max() == 1.0  # 201 has long AF and long non-AF stretches
    assert ((got >= 0) & (got <= 1)).all()
