"""Whole-window f-wave features (ecgutils.fwaves) on synthetic beats — a repeated QRS-T cancels
to nothing at any RR, a P wave stays, added 6 Hz 'f waves' survive with their frequency — and
on a real record with AF (the scanner's piece-of-signal contract for every feature is in
test_features.py)."""

import numpy as np
import pytest

from ecgutils import beats, features, fwaves, records, signal

FS = 250.0


def _ecg(beat_s: np.ndarray, seconds: float = 30.0, p_wave: float = 0.0) -> np.ndarray:
    """A QRS and a T wave 0.3 s after it at every beat; a P wave of size ``p_wave`` 0.16 s
    before it."""
    t = np.arange(0, seconds, 1 / FS)
    x = np.zeros_like(t)
    for r in beat_s:
        x += np.exp(-0.5 * ((t - r) / 0.010) ** 2)
        x += p_wave * np.exp(-0.5 * ((t - r + 0.16) / 0.02) ** 2)
        x += 0.3 * np.exp(-0.5 * ((t - r - 0.3) / 0.05) ** 2)
    return x


def _named(values: np.ndarray) -> dict[str, float]:
    return dict(zip(fwaves.FEATURES, values.tolist(), strict=True))


IRREGULAR = np.cumsum(np.r_[1.0, np.random.default_rng(3).uniform(0.55, 1.1, 40)])
IRREGULAR = IRREGULAR[IRREGULAR < 29.0]


def test_the_qrs_t_cancels_at_any_rr_and_f_waves_survive_at_their_frequency():
    x = _ecg(IRREGULAR)
    t = np.arange(x.size) / FS
    f_waves = 0.05 * np.sin(2 * np.pi * 6.0 * t)
    clean = _named(fwaves.window_features(x, FS, IRREGULAR, np.array([0.0]), 30.0,
                                          filtered=True)[0])
    fib = _named(fwaves.window_features(x + f_waves, FS, IRREGULAR, np.array([0.0]), 30.0,
                                        filtered=True)[0])
    sinus = _named(fwaves.window_features(_ecg(IRREGULAR, p_wave=0.15), FS, IRREGULAR,
                                          np.array([0.0]), 30.0, filtered=True)[0])
    assert clean["aa_rms"] < 5e-3  # QRS and T locked to R: cancelled (but for sub-sample R times)
    assert fib["aa_rms"] == pytest.approx(0.05 / np.sqrt(2), rel=0.35)  # the sine, less the QRS
    assert fib["aa_peak_hz"] == pytest.approx(6.0, abs=0.5)
    assert fib["aa_peak_share"] > 0.8 and fib["aa_band_share"] > 0.8
    assert sinus["aa_rms"] > 0.01  # the P wave is not cancelled: it is atrial activity


def test_features_do_not_depend_on_polarity_or_gain():
    x = _ecg(IRREGULAR) + 0.05 * np.sin(2 * np.pi * 5.0 * np.arange(int(30 * FS)) / FS)
    one = fwaves.window_features(x, FS, IRREGULAR, np.array([0.0, 8.0]), 20.0)
    other = fwaves.window_features(-3.0 * x, FS, IRREGULAR, np.array([0.0, 8.0]), 20.0)
    np.testing.assert_allclose(one, other, rtol=1e-4, atol=1e-6)


def test_too_few_beats_give_zeros_and_bad_leads_an_error():
    beat_s = np.array([5.0, 6.0, 7.0])  # fewer than atrial.MIN_BEATS
    out = fwaves.window_features(_ecg(beat_s), FS, beat_s, np.array([0.0]), 30.0)
    np.testing.assert_array_equal(out, np.zeros((1, len(fwaves.FEATURES))))
    with pytest.raises(ValueError, match="NaN"):
        fwaves.window_features(np.full(100, np.nan), FS, beat_s, np.array([0.0]), 30.0)


def test_segment_features_computes_the_fwave_columns_last_and_by_name():
    x = _ecg(IRREGULAR)
    starts = np.array([0.0, 10.0])
    assert features.KNOWN == features.FEATURES == features.BEFORE_FWAVES + fwaves.FEATURES
    every = features.segment_features(x, FS, IRREGULAR, starts, 20.0)
    np.testing.assert_array_equal(
        every[:, :len(features.BEFORE_FWAVES)],
        features.segment_features(x, FS, IRREGULAR, starts, 20.0,
                                  columns=features.BEFORE_FWAVES))
    np.testing.assert_array_equal(every[:, len(features.BEFORE_FWAVES):],
                                  fwaves.window_features(x, FS, IRREGULAR, starts, 20.0))
    picked = features.segment_features(x, FS, IRREGULAR, starts, 20.0,
                                       columns=("aa_rms", "cosen"))
    np.testing.assert_array_equal(picked, every[:, [features.KNOWN.index("aa_rms"),
                                                    features.KNOWN.index("cosen")]])


def test_af_windows_of_a_real_record_leave_more_4_to_10_hz_activity(mitdb_root):
    """mitdb 201 (one patient, AF and sinus rhythm with ectopy): the QRS-T-cancelled residual
    of the windows wholly in AF holds a larger 4-10 Hz share than that of the other windows
    (measured 0.32 against 0.23), and less RMS (sinus windows keep their P waves)."""
    rec = records.read("mitdb", "201")
    fs = 125.0
    x = signal.resample(signal.bandpass(rec.signal, rec.fs, 0.5, 40.0, 4), rec.fs, fs)
    beat_s = beats.detect(rec.signal, rec.fs) / rec.fs
    starts = np.arange(0.0, rec.duration_s - 20.0, 20.0)
    values = fwaves.window_features(x, fs, beat_s, starts, 20.0, filtered=True)
    in_af = np.array([any(e.start_s <= s and s + 20.0 <= e.end_s for e in rec.af_episodes)
                      for s in starts])
    assert 20 <= in_af.sum() <= len(starts) - 20
    share = values[:, fwaves.FEATURES.index("aa_band_share")]
    rms = values[:, fwaves.FEATURES.index("aa_rms")]
    assert np.median(share[in_af]) > np.median(share[~in_af]) + 0.05
    assert np.median(rms[in_af]) < np.median(rms[~in_af])


@pytest.mark.parametrize("n, nperseg", [(2500, 250), (2501, 250), (1999, 251), (180, 180)])
def test_welch_is_scipys(n, nperseg):
    from scipy import signal as scipy_signal

    x = np.random.default_rng(n).normal(size=n)
    ours = fwaves.welch(x, 125.0, nperseg)
    theirs = scipy_signal.welch(x, 125.0, nperseg=nperseg)
    np.testing.assert_allclose(ours[0], theirs[0])
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-15)
