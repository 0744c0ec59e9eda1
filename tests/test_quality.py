"""ecgutils.quality: signal-quality features of windows (synthetic signals: pure functions)."""

import numpy as np
import pytest

from ecgutils import quality

FS = 125.0


def _spiky(seconds, fs=FS, rate_hz=1.2, seed=0):
    """A spike train on a flat line (a QRS-like signal), a little noise."""
    t = np.arange(int(seconds * fs)) / fs
    x = np.zeros_like(t)
    for beat in np.arange(0.3, seconds, 1 / rate_hz):
        x += np.exp(-0.5 * ((t - beat) / 0.012) ** 2)
    return x + np.random.default_rng(seed).normal(0, 0.01, t.size)


def test_a_peaked_strip_reads_cleaner_than_broadband_noise():
    clean = _spiky(20)
    noise = np.random.default_rng(1).normal(0, 0.3, clean.size)
    q_clean, q_noise = quality.window_features(np.concatenate([clean, noise]), FS,
                                               np.array([0.0, 20.0]), 20.0)
    names = dict(zip(quality.FEATURES, range(len(quality.FEATURES)), strict=True))
    assert q_clean[names["sqi_kurtosis"]] > 10 > abs(q_noise[names["sqi_kurtosis"]])
    assert q_clean[names["sqi_hf_power"]] < q_noise[names["sqi_hf_power"]]
    assert 0 <= q_noise[names["sqi_qrs_power"]] <= 1
    # White noise: the 20-40 Hz share of 1-40 Hz is about 20/39.
    assert q_noise[names["sqi_hf_power"]] == pytest.approx(20 / 39, abs=0.05)


def test_baseline_wander_shows_in_the_low_frequency_share():
    x = _spiky(20)
    wander = x + 2.0 * np.sin(2 * np.pi * 0.3 * np.arange(x.size) / FS)
    low = list(quality.FEATURES).index("sqi_lf_power")
    (plain,), (wandering,) = (quality.window_features(s, FS, np.array([0.0]), 20.0)
                              for s in (x, wander))
    assert wandering[low] > 0.5 > plain[low]


def test_windows_read_only_their_own_samples_and_the_clock_offset_is_honoured():
    x = _spiky(60)
    both = quality.window_features(x, FS, np.array([10.0, 30.0]), 20.0)
    alone = quality.window_features(x[int(30 * FS):], FS, np.array([30.0]), 20.0, t0_s=30.0)
    np.testing.assert_allclose(both[1], alone[0], rtol=1e-5)
    assert not np.allclose(both[0], both[1])


def test_a_short_record_a_flat_lead_and_a_window_outside_the_lead():
    short = quality.window_features(_spiky(9), FS, np.array([0.0]), 20.0)
    assert np.all(np.isfinite(short)) and short[0, 0] > 5  # read on the 9 s it has
    assert not quality.window_features(np.zeros(int(20 * FS)), FS, np.array([0.0]), 20.0).any()
    assert not quality.window_features(_spiky(1), FS, np.array([0.0]), 20.0).any()  # < 2 s
    with pytest.raises(ValueError, match="outside the lead"):
        quality.window_features(_spiky(20), FS, np.array([25.0]), 20.0)
