"""Atrial-activity features (ecgutils.atrial): synthetic strips for the pure function, a real
mitdb record for what it is for."""

import numpy as np
import pytest

from ecgutils import atrial, records

FS = 250.0


def _column(values: np.ndarray, name: str) -> np.ndarray:
    return values[:, atrial.FEATURES.index(name)]


def _strip(p_wave: bool, seconds: float = 30.0, seed: int = 0, polarity: float = 1.0):
    """A synthetic lead: Gaussian QRS and T every 0.8 s, with a P wave 0.16 s before each QRS,
    or with 6-Hz 'f waves' (not locked to the QRS) instead; a little white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    beat_s = np.arange(1.0, seconds - 1.0, 0.8)
    x = np.zeros_like(t)
    for r in beat_s:
        x += 1.0 * np.exp(-0.5 * ((t - r) / 0.012) ** 2)
        x += 0.3 * np.exp(-0.5 * ((t - r - 0.3) / 0.04) ** 2)
        if p_wave:
            x += 0.15 * np.exp(-0.5 * ((t - r + 0.16) / 0.025) ** 2)
    if not p_wave:
        x += 0.05 * np.sin(2 * np.pi * 6.1 * t + rng.uniform(0, 2 * np.pi))
    return polarity * (x + 0.01 * rng.standard_normal(t.size)), beat_s


def test_a_p_wave_locked_to_the_qrs_shows_in_the_averaged_beat():
    with_p, beat_s = _strip(p_wave=True)
    without_p, _ = _strip(p_wave=False)
    starts = np.array([0.0, 10.0])
    p = atrial.window_features(with_p, FS, beat_s, starts, 20.0)
    f = atrial.window_features(without_p, FS, beat_s, starts, 20.0)
    assert p.shape == (2, len(atrial.FEATURES))
    assert (_column(p, "p_ptp") > 0.1).all() and (_column(f, "p_ptp") < 0.05).all()
    assert (_column(p, "p_corr") > 0.9).all() and (_column(f, "p_corr") < 0.5).all()
    # What is left around the averaged P region: f waves at 6 Hz, inside the f band.
    # (a 0.22-s region leaks some power out of the band; white noise would give about 0.15)
    assert (_column(f, "f_band") > 0.6).all()
    assert (_column(f, "f_band") > 2 * _column(p, "f_band")).all()
    assert (_column(f, "p_resid") > _column(p, "p_resid")).all()
    assert (_column(p, "beat_corr") > 0.95).all()
    # 0.35 s before and 0.45 s after each R peak must lie in [start, start + 20).
    assert _column(p, "n_beats")[0] == np.sum((beat_s >= 0.35) & (beat_s < 19.55))


def test_features_do_not_depend_on_polarity_or_gain():
    upright, beat_s = _strip(p_wave=True)
    inverted, _ = _strip(p_wave=True, polarity=-3.0)
    a = atrial.window_features(upright, FS, beat_s, np.array([0.0]), 30.0)
    b = atrial.window_features(inverted, FS, beat_s, np.array([0.0]), 30.0)
    relative = [n for n in atrial.FEATURES if n != "qrs_ptp_mv"]
    for name in relative:
        assert _column(a, name) == pytest.approx(_column(b, name), rel=1e-3, abs=1e-4), name
    assert _column(b, "qrs_ptp_mv") == pytest.approx(3 * _column(a, "qrs_ptp_mv"), rel=1e-3)


def test_too_few_beats_give_zeros_but_the_count():
    x, beat_s = _strip(p_wave=True)
    values = atrial.window_features(x, FS, beat_s[:3], np.array([0.0]), 30.0)
    assert values[0, 0] == 3
    assert not values[0, 1:].any()
    assert not atrial.window_features(x[:100], FS, beat_s, np.array([0.0]), 30.0).any()


def test_bad_input_is_one_clear_error():
    x, beat_s = _strip(p_wave=True)
    x[100] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        atrial.window_features(x, FS, beat_s, np.array([0.0]), 20.0)
    with pytest.raises(ValueError, match="positive"):
        atrial.window_features(np.zeros(5000), FS, beat_s, np.array([0.0]), 0.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        atrial.window_features(np.zeros((2, 5000)), FS, beat_s, np.array([0.0]), 20.0)


def test_mitdb_sinus_has_a_p_wave_and_af_has_none(mitdb_root):
    # Record 100: sinus rhythm throughout (its first minute); record 201: a minute inside its
    # first reference AF episode; beats: the reference annotations.
    sinus = records.read("mitdb", "100")
    af = records.read("mitdb", "201")
    af_start = next(i.start_s for i in af.af_episodes)
    p_sinus = atrial.window_features(sinus.signal, sinus.fs, sinus.beat_times_s,
                                     np.array([0.0]), 60.0)
    p_af = atrial.window_features(af.signal, af.fs, af.beat_times_s,
                                  np.array([af_start + 5.0]), 60.0)
    assert _column(p_sinus, "p_corr")[0] > _column(p_af, "p_corr")[0] + 0.2
    assert _column(p_sinus, "p_ptp")[0] > _column(p_af, "p_ptp")[0]


@pytest.mark.parametrize("fs, length", [(125.0, 27), (360.0, 79), (1200.0, 300)])
def test_band_share_is_scipys_periodogram_share(fs, length):
    # The scanner's one-FFT band share against scipy.signal.periodogram on the same rows,
    # including rows longer than the FFT (cut to it, as periodogram does).
    from scipy import signal as scipy_signal

    rows = np.random.default_rng(3).standard_normal((12, length)) + 0.4
    freqs, power = scipy_signal.periodogram(rows, fs=fs, axis=1, nfft=atrial.NFFT)
    band = (freqs >= atrial.F_BAND_HZ[0]) & (freqs <= atrial.F_BAND_HZ[1])
    total = (freqs >= atrial.TOTAL_BAND_HZ[0]) & (freqs <= atrial.TOTAL_BAND_HZ[1])
    expected = power[:, band].sum(axis=1) / power[:, total].sum(axis=1)
    np.testing.assert_allclose(atrial.band_share(rows, fs), expected, rtol=1e-12)
