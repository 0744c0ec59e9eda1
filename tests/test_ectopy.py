"""Ectopic-beat and RR-scatter features (ecgutils.ectopy) on synthetic beats — regular, bigeminy
with wide premature beats, irregular (AF-like) — and the scanner's piece-of-signal contract on a
real record."""

import numpy as np
import pytest

from ecgutils import beats, ectopy, features, records, signal

FS = 250.0


def _ecg(beat_s: np.ndarray, wide: np.ndarray | None = None, seconds: float = 30.0):
    """Narrow Gaussian QRS at ``beat_s``; where ``wide`` is True a wide, inverted one (a
    ventricular premature beat)."""
    t = np.arange(0, seconds, 1 / FS)
    wide = np.zeros(beat_s.size, bool) if wide is None else wide
    x = np.zeros_like(t)
    for r, w in zip(beat_s, wide, strict=True):
        x += -1.5 * np.exp(-0.5 * ((t - r) / 0.035) ** 2) if w else \
            np.exp(-0.5 * ((t - r) / 0.010) ** 2)
    return x


def _named(values: np.ndarray) -> dict[str, float]:
    return dict(zip(ectopy.FEATURES, values.tolist(), strict=True))


def test_a_regular_rhythm_has_no_odd_beat_and_no_irregularity():
    beat_s = np.arange(1.0, 29.0, 0.8)
    v = _named(ectopy.window_features(_ecg(beat_s), FS, beat_s, np.array([0.0]), 30.0)[0])
    assert v["odd_share"] == 0 and v["nn_share"] == 1
    assert v["cv_nn"] == pytest.approx(0, abs=1e-9)
    assert v["rmssd_nn_rel"] == pytest.approx(0, abs=1e-9)
    assert v["rr_turns"] == 0  # a constant series has no turning point
    n_points = beat_s.size - 3  # RR intervals − 2 successive-difference pairs
    assert v["lorenz_bins"] == pytest.approx(1 / n_points)  # every point in one bin


def test_bigeminy_with_wide_beats_is_odd_and_leaves_no_normal_interval():
    normal = np.arange(1.0, 29.0, 1.2)
    premature = normal[:-1] + 0.45  # a wide beat early after each normal one
    beat_s = np.sort(np.concatenate([normal, premature]))
    wide = np.isin(beat_s, premature)
    v = _named(ectopy.window_features(_ecg(beat_s, wide), FS, beat_s, np.array([0.0]),
                                      30.0)[0])
    assert v["odd_share"] == pytest.approx(wide.mean(), abs=0.02)
    assert v["nn_share"] == 0 and v["cv_nn"] == 0  # every interval touches a wide beat
    assert v["rr_turns"] == 1  # short, long, short, long: every interval a turning point
    assert v["lorenz_bins"] < 0.2  # two clusters


def test_an_irregular_rhythm_of_normal_beats_keeps_its_irregularity_and_scatters():
    rng = np.random.default_rng(0)
    beat_s = 1.0 + np.cumsum(rng.uniform(0.4, 1.0, size=40))
    beat_s = beat_s[beat_s < 29.0]
    v = _named(ectopy.window_features(_ecg(beat_s), FS, beat_s, np.array([0.0]), 30.0)[0])
    assert v["odd_share"] == 0 and v["nn_share"] == 1
    assert v["cv_nn"] > 0.15
    assert v["lorenz_bins"] > 0.8
    assert 0.5 < v["rr_turns"] < 0.85
    assert 0.6 < v["sd1_sd2"] < 1.6


def test_too_few_intervals_give_zeros_and_bad_input_is_refused():
    beat_s = np.array([1.0, 2.0, 3.0, 4.0])
    x = _ecg(beat_s)
    assert not ectopy.window_features(x, FS, beat_s, np.array([0.0]), 30.0).any()
    with pytest.raises(ValueError, match="NaN"):
        ectopy.window_features(np.full(100, np.nan), FS, beat_s, np.array([0.0]), 30.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        ectopy.window_features(x[None, :], FS, beat_s, np.array([0.0]), 30.0)


def test_segment_features_computes_the_columns_asked_for_by_name():
    beat_s = np.arange(1.0, 29.0, 0.8)
    x = _ecg(beat_s)
    starts = np.array([0.0, 10.0])
    both = features.segment_features(x, FS, beat_s, starts, 20.0)
    assert features.BEFORE_FWAVES == features.BEFORE_ECTOPY + ectopy.FEATURES
    before = features.segment_features(x, FS, beat_s, starts, 20.0,
                                       columns=features.BEFORE_ECTOPY)
    np.testing.assert_array_equal(both[:, :len(features.BEFORE_ECTOPY)], before)
    np.testing.assert_array_equal(both[:, len(features.BEFORE_ECTOPY):len(features.BEFORE_FWAVES)],
                                  ectopy.window_features(x, FS, beat_s, starts, 20.0))
    picked = features.segment_features(x, FS, beat_s, starts, 20.0,
                                       columns=("cv_nn", "cosen"))
    np.testing.assert_array_equal(picked, both[:, [features.KNOWN.index("cv_nn"),
                                                   features.KNOWN.index("cosen")]])
    with pytest.raises(ValueError, match="unknown"):
        features.segment_features(x, FS, beat_s, starts, 20.0, columns=("cosen", "p_wave"))


def test_a_piece_of_signal_gives_the_windows_of_the_whole(mitdb_root):
    """As the scanner hands it in: band-passed, starting at some sample t0; record 208 has
    many ventricular premature beats."""
    rec = records.read_path(mitdb_root / "208")
    fs = 125.0
    raw = rec.signal[:int(600 * rec.fs)]
    x = signal.resample(signal.bandpass(raw, rec.fs, 0.5, 40.0, 4), rec.fs, fs)
    beat_s = beats.detect(raw, rec.fs) / rec.fs
    starts = np.arange(100.0, 500.0, 10.0)
    whole = ectopy.window_features(x, fs, beat_s, starts, 20.0, filtered=True)
    first = int(95.3 * fs)
    piece = ectopy.window_features(x[first:], fs, beat_s, starts, 20.0, filtered=True,
                                   t0_s=first / fs)
    np.testing.assert_array_equal(piece, whole)
    assert whole[:, 0].mean() > 0.05  # premature ventricular beats are found odd


def test_lorenz_bins_count_the_occupied_two_dimensional_bins():
    # Every (dRR_i, dRR_i+1) bin of the clipped plot, corners included, counted once.
    rng = np.random.default_rng(5)
    rr = np.clip(0.8 + rng.uniform(-0.5, 1.5, 60), 0.25, 2.9)
    times = np.concatenate([[0.0], np.cumsum(rr)])
    out = ectopy._window(times, np.zeros(times.size, dtype=bool))
    d = np.diff(rr)
    cells = np.round(np.clip(np.column_stack([d[:-1], d[1:]]), -ectopy.LORENZ_RANGE_S,
                             ectopy.LORENZ_RANGE_S) / ectopy.LORENZ_BIN_S)
    assert np.abs(cells).max() == round(ectopy.LORENZ_RANGE_S / ectopy.LORENZ_BIN_S)
    assert out[ectopy.FEATURES.index("lorenz_bins")] == pytest.approx(
        len({tuple(c) for c in cells}) / len(cells))
