import numpy as np
import pytest
from scipy import ndimage, stats

from ecgutils import baseline, beats, records


def _column(values: np.ndarray, name: str) -> np.ndarray:
    return values[:, beats.FEATURES.index(name)]


def test_neurokit_beats_match_mitdb_reference_beats_on_record_100(mitdb_root):
    rec = records.read("mitdb", "100")
    found = beats.detect(rec.signal, rec.fs)
    scores = beats.beat_accuracy(rec.beat_samples, found, rec.fs)
    # Record 100 is clean sinus rhythm: every one of its 2273 beats should be found.
    assert scores["n_reference"] == 2273
    assert scores["se"] > 0.995 and scores["ppv"] > 0.995


def test_beats_on_the_qrs_band_match_mitdb_reference_beats_on_record_100(mitdb_root):
    rec = records.read("mitdb", "100")
    found = beats.detect(rec.signal, rec.fs, beats.BAND_HZ)
    scores = beats.beat_accuracy(rec.beat_samples, found, rec.fs)
    assert scores["se"] > 0.995 and scores["ppv"] > 0.995
    # The band changes what the detector reads, not where a beat is: each found beat lies
    # within 20 ms of the one found without it (which test above ties to the reference).
    plain = beats.detect(rec.signal, rec.fs)
    nearest = np.abs(found[:, None] - plain[None, :]).min(axis=1)
    assert np.quantile(nearest, 0.99) <= 0.02 * rec.fs


@pytest.mark.parametrize("band", [(15.0, 5.0), (0.0, 15.0), (5.0, 125.0)])
def test_a_beat_band_that_is_not_a_band_below_nyquist_is_refused(band):
    with pytest.raises(ValueError, match="band_hz must be 0 < low < high < fs/2 = 125 Hz"):
        beats.detect(np.zeros(1000), 250.0, band)


def test_a_gate_without_a_band_or_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="gate must be in"):
        beats.detect(np.zeros(1000), 250.0, None, 0.9)
    with pytest.raises(ValueError, match="gate must be in"):
        beats.detect(np.zeros(1000), 250.0, beats.BAND_HZ, 0.0)


def test_the_gate_keeps_the_leads_own_beats_where_the_two_agree(mitdb_root):
    rec = records.read("mitdb", "100")
    lead = rec.signal[: int(60 * rec.fs)]
    plain = beats.detect(lead, rec.fs)
    banded = beats.detect(lead, rec.fs, beats.BAND_HZ)
    agree = beats.agreement(plain, banded, rec.fs)
    assert 0.99 < agree <= 1.0  # a clean minute: the two find the same beats
    # The band's beats are kept only where the agreement is below the gate.
    assert np.array_equal(beats.detect(lead, rec.fs, beats.BAND_HZ, gate=agree), plain)
    strict = beats.detect(lead, rec.fs, beats.BAND_HZ, gate=1.0)
    assert np.array_equal(strict, banded if agree < 1 else plain)


def test_agreement_of_beat_lists():
    beats_at = np.array([100, 400, 700, 1000])
    assert beats.agreement(beats_at, beats_at, 250.0) == 1.0
    # One beat of four missed: 2 * 3 / (4 + 3).
    assert beats.agreement(beats_at, beats_at[:3], 250.0) == pytest.approx(6 / 7)
    # Moved by more than 150 ms (38 samples at 250 Hz): no longer the same beat.
    assert beats.agreement(beats_at, beats_at + 40, 250.0) == 0.0
    assert beats.agreement(beats_at[:0], beats_at[:0], 250.0) == 1.0
    assert beats.agreement(beats_at, beats_at[:0], 250.0) == 0.0


def test_beats_of_a_stretch_too_short_to_hold_two_seconds_are_empty():
    assert beats.detect(np.zeros(100), 250.0).size == 0


def test_a_regular_rhythm_has_no_irregularity():
    beat_s = np.arange(0, 60, 0.8)
    values = beats.window_features(beat_s, np.array([0.0, 20.0]), 20.0)
    assert values.shape == (2, len(beats.FEATURES))
    assert _column(values, "mean_rr_s") == pytest.approx([0.8, 0.8])
    for name in ("cv_rr", "rmssd_rel", "mad_rel", "pnn50", "cv_rr_median3", "lag2_rel",
                 "lag3_rel"):
        assert _column(values, name) == pytest.approx([0.0, 0.0], abs=1e-6), name
    assert _column(values, "rr_valid").tolist() == [1.0, 1.0]
    # 25 beats in [0, 20): 0, 0.8, ..., 19.2.
    assert _column(values, "beats_per_s")[0] == pytest.approx(25 / 20)


def test_bigeminy_is_irregular_beat_to_beat_but_regular_at_lag_two():
    rr = np.tile([0.5, 1.1], 20)  # short-long pairs: regularly irregular
    beat_s = np.concatenate([[0.0], np.cumsum(rr)])
    values = beats.window_features(beat_s, np.array([0.0]), 30.0)
    assert _column(values, "cv_rr")[0] > 0.3
    assert _column(values, "rmssd_rel")[0] > 0.5
    assert _column(values, "lag2_rel")[0] == pytest.approx(0.0, abs=1e-6)


def test_an_isolated_premature_beat_is_removed_by_the_median_filter():
    rr = np.full(20, 0.8)
    rr[10], rr[11] = 0.5, 1.1  # one premature beat and its compensatory pause
    beat_s = np.concatenate([[0.0], np.cumsum(rr)])
    values = beats.window_features(beat_s, np.array([0.0]), 20.0)
    assert _column(values, "cv_rr")[0] > 0.1
    assert _column(values, "cv_rr_median3")[0] == pytest.approx(0.0, abs=1e-6)


def test_a_window_with_too_few_beats_has_only_its_beat_rate():
    values = beats.window_features(np.array([1.0, 2.0, 3.0]), np.array([0.0]), 20.0)
    assert _column(values, "rr_valid")[0] == 0.0
    assert _column(values, "beats_per_s")[0] == pytest.approx(3 / 20)
    others = [i for i, n in enumerate(beats.FEATURES) if n != "beats_per_s"]
    assert np.all(values[0, others] == 0)


def test_rr_intervals_outside_physiological_range_are_left_out():
    beat_s = np.concatenate([np.arange(0, 10, 1.0), [10.05], np.arange(11, 20, 1.0)])
    values = beats.window_features(beat_s, np.array([0.0]), 20.0)
    # The 0.05-s and 0.95-s intervals around the spurious beat: 0.05 s is dropped.
    assert _column(values, "mean_rr_s")[0] == pytest.approx(np.mean(
        [r for r in np.diff(beat_s) if 0.2 <= r <= 3.0]))


def test_beat_accuracy_refuses_an_empty_beat_list():
    with pytest.raises(ValueError, match="needs reference and detected"):
        beats.beat_accuracy(np.array([1, 2]), np.array([], dtype=int), 250.0)


# --- the fast paths are NeuroKit's and the per-window formulas, bit for bit -----------------


def test_detect_of_a_flat_stretch_is_empty():
    assert beats.detect(np.zeros(3000), 250.0).size == 0


def _features_one_by_one(beat_s: np.ndarray, starts: np.ndarray, window_s: float) -> np.ndarray:
    """The features by their definition, one window at a time (the code before it was made
    faster): SciPy's median filter, NumPy's median, baseline.cosen per window."""
    out = np.zeros((starts.size, len(beats.FEATURES)), dtype=np.float32)
    for row, start in enumerate(starts):
        inside = beat_s[(beat_s >= start) & (beat_s < start + window_s)]
        out[row, beats.FEATURES.index("beats_per_s")] = inside.size / window_s
        rr = np.diff(inside)
        rr = rr[(rr >= beats.RR_RANGE_S[0]) & (rr <= beats.RR_RANGE_S[1])]
        if rr.size < beats.MIN_RR:
            continue
        mean, diffs = rr.mean(), np.diff(rr)
        smoothed = ndimage.median_filter(rr, size=3, mode="nearest")
        try:
            cosen = baseline.cosen(rr)
        except ValueError:
            cosen = 0.0
        out[row] = (mean, rr.std() / mean, np.sqrt(np.mean(diffs ** 2)) / mean,
                    stats.median_abs_deviation(rr) / np.median(rr),
                    np.mean(np.abs(diffs) > 0.05), cosen, smoothed.std() / smoothed.mean(),
                    np.median(np.abs(rr[2:] - rr[:-2])) / mean,
                    np.median(np.abs(rr[3:] - rr[:-3])) / mean, inside.size / window_s, 1.0)
    return out


@pytest.mark.parametrize("name", ["201", "203"])
def test_window_features_equal_their_one_window_definition(mitdb_root, name):
    rec = records.read("mitdb", name)
    beat_s = beats.detect(rec.signal, rec.fs) / rec.fs
    for starts, window_s in ((np.arange(0, rec.duration_s - 20, 10.0), 20.0),
                             (np.arange(0, 600, 3.7), 8.0)):
        fast = beats.window_features(beat_s, starts, window_s)
        slow = _features_one_by_one(beat_s, starts, window_s)
        mad = beats.FEATURES.index("mad_rel")
        others = [i for i in range(len(beats.FEATURES)) if i != mad]
        # Windows are computed in stacks of equal RR count: equal to float32 rounding.
        np.testing.assert_allclose(fast[:, others], slow[:, others], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(fast[:, mad], slow[:, mad], rtol=1e-6, atol=0)
        assert (fast[:, beats.FEATURES.index("cosen")] != 0).mean() > 0.5




@pytest.mark.parametrize("name", ["100", "203", "207"])
def test_cleaning_with_filters_designed_once_equals_neurokit_bit_for_bit(mitdb_root, name):
    import neurokit2 as nk

    rec = records.read("mitdb", name)
    step, margin = int(60 * rec.fs), int(5 * rec.fs)
    blocks = [rec.signal] + [rec.signal[max(0, lo - margin):lo + step + margin]
                             for lo in range(0, 10 * step, step)]  # the scanner's blocks
    for block in blocks:
        assert np.array_equal(beats._clean(block, rec.fs),
                              nk.ecg_clean(block, sampling_rate=rec.fs, method="neurokit"))
    for fs in (125.0, 300.0, 80.0):  # other rates, and the short kernel below 100 Hz
        assert np.array_equal(beats._clean(rec.signal[:30000], fs),
                              nk.ecg_clean(rec.signal[:30000], sampling_rate=fs))
