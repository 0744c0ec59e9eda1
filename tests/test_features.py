"""The 38 window features (ecgutils.features): the RR additions on synthetic beat times, the
rhythm and atrial blocks side by side, and the scanner's use (an already band-passed piece of
signal that starts anywhere on the recording's clock) on a real record."""

import numpy as np
import pytest

from ecgutils import atrial, beats, ectopy, features, fwaves, records, signal


def test_rr_extra_of_a_regular_rhythm_and_of_one_premature_beat():
    regular = np.arange(0, 30, 0.8)
    values = features.rr_extra(regular, np.array([0.0]), 30.0)[0]
    named = dict(zip(features.RR_EXTRA, values, strict=True))
    assert named["rr_n"] == regular.size - 1
    assert named["rr_min_rel"] == pytest.approx(1.0) and named["rr_max_rel"] == pytest.approx(1.0)
    assert named["drr_rel10"] == 0 and named["drr_rel20"] == 0
    assert named["rr_iqr_rel"] == pytest.approx(0.0, abs=1e-9)
    premature = np.sort(np.append(regular[regular != 12.0], 11.6))  # short-long pair at 11.6
    named = dict(zip(features.RR_EXTRA,
                     features.rr_extra(premature, np.array([0.0]), 30.0)[0], strict=True))
    assert named["rr_min_rel"] == pytest.approx(0.4 / 0.8)
    # RR 0.8, ..., 0.4, 1.2, 0.8, ...: three successive changes above 20 % of the later RR.
    assert named["drr_rel20"] == pytest.approx(3 / (regular.size - 2))
    assert not features.rr_extra(regular[:4], np.array([0.0]), 30.0).any()


def test_segment_features_are_the_rhythm_and_the_atrial_features_side_by_side():
    t = np.arange(0, 30, 1 / 250)
    beat_s = np.arange(1.0, 29.0, 0.8)
    x = sum(np.exp(-0.5 * ((t - r) / 0.012) ** 2) for r in beat_s)
    values = features.segment_features(x, 250.0, beat_s, np.array([0.0, 10.0]), 20.0)
    assert values.shape == (2, len(features.FEATURES))
    assert features.FEATURES == (beats.FEATURES + features.RR_EXTRA + atrial.FEATURES
                                 + ectopy.FEATURES + fwaves.FEATURES)
    np.testing.assert_array_equal(values[:, :len(beats.FEATURES)],
                                  beats.window_features(beat_s, np.array([0.0, 10.0]), 20.0))


def test_a_piece_of_signal_gives_the_windows_of_the_whole(mitdb_root):
    """The scanner hands in band-passed pieces of signal that start at some sample t0: the
    features of a window depend on that window's samples only, on the recording's clock."""
    rec = records.read_path(mitdb_root / "201")
    fs = 125.0
    x = signal.resample(signal.bandpass(rec.signal[:int(600 * rec.fs)], rec.fs, 0.5, 40.0, 4),
                        rec.fs, fs)
    beat_s = beats.detect(rec.signal[:int(600 * rec.fs)], rec.fs) / rec.fs
    starts = np.arange(100.0, 500.0, 10.0)
    whole = features.segment_features(x, fs, beat_s, starts, 20.0, filtered=True)
    first = int(95.3 * fs)  # a piece beginning at a whole sample, before the first window
    piece = features.segment_features(x[first:], fs, beat_s, starts, 20.0, filtered=True,
                                      t0_s=first / fs)
    np.testing.assert_array_equal(piece, whole)
    assert (whole[:, len(beats.FEATURES) + len(features.RR_EXTRA)] >= atrial.MIN_BEATS).all()
    # Filtering again here (the study's raw-lead path) changes the numbers a little only.
    again = features.segment_features(x, fs, beat_s, starts, 20.0)
    p_corr = features.FEATURES.index("p_corr")
    assert np.corrcoef(again[:, p_corr], whole[:, p_corr])[0, 1] > 0.95


def test_record_scores_are_the_mean_of_each_records_windows():
    scores = features.record_scores(np.array(["b", "a", "b", "b"]), np.array([1, 0, 1, 1]),
                                    np.array([0.9, 0.2, 0.3, 0.6]))
    assert scores["record"].tolist() == ["a", "b"]
    assert scores["y"].tolist() == [0, 1]
    assert scores["prob"].to_numpy() == pytest.approx([0.2, 0.6])
    assert scores["n_windows"].tolist() == [1, 3]


def test_af_prob_reads_the_af_column_whatever_the_class_order():
    class Fixed:
        classes_ = np.array([features.AF_CLASS + 1, features.AF_CLASS])

        def predict_proba(self, X):
            return np.column_stack([1 - X[:, 0], X[:, 0]])

    assert features.af_prob(Fixed(), np.array([[0.25], [0.75]])) == pytest.approx([0.25, 0.75])
