import numpy as np
import pytest

from ecgutils import records, signal
from ecgutils.errors import UnknownNameError
from ecgutils.signal import quality_summary


def test_quality_summary_counts_flat_segments_and_clipped_samples():
    fs = 100.0
    lead = np.sin(np.linspace(0, 40 * np.pi, 1000))  # 10 s
    lead[:400] = 0.2  # first 4 s flat: 2 of 5 two-second segments
    lead[900:910] = 1.5  # 10 samples at the upper ADC limit
    summary = quality_summary(lead, fs, clip_limits_mv=(-1.5, 1.5))
    assert summary["flat_fraction"] == 0.4
    assert summary["clipped_fraction"] == 10 / 1000
    assert summary["nan_samples"] == 0


def test_real_mitdb_record_116_has_clipped_samples_and_100_has_none(mitdb_root):
    clipped = {}
    for name in ("100", "116"):
        rec = records.read("mitdb", name)
        clipped[name] = quality_summary(rec.signal, rec.fs, rec.clip_limits_mv)["clipped_fraction"]
    assert clipped["100"] == 0.0
    # 663 samples at the lower rail (-5.12 mV) and 265 at the upper one (+5.115 mV).
    assert clipped["116"] == (663 + 265) / 650_000


def test_bandpass_removes_baseline_wander_and_keeps_a_10_hz_component():
    fs = 250.0
    t = np.arange(0, 60, 1 / fs)
    in_band = np.sin(2 * np.pi * 10 * t)
    wander = 2.0 * np.sin(2 * np.pi * 0.1 * t)
    mains = 0.5 * np.sin(2 * np.pi * 60 * t)
    filtered = signal.bandpass(in_band + wander + mains, fs)
    middle = slice(int(10 * fs), int(50 * fs))  # away from the record's edges
    assert np.std(filtered[middle] - in_band[middle]) < 0.02
    # Zero phase: the 10-Hz component is not delayed (cross-correlation peaks at lag 0).
    lags = np.arange(-10, 11)
    xcorr = [np.dot(filtered[middle], np.roll(in_band, lag)[middle]) for lag in lags]
    assert lags[int(np.argmax(xcorr))] == 0


def test_bandpass_rejects_edges_above_nyquist():
    with pytest.raises(ValueError, match="high_hz=40"):
        signal.bandpass(np.zeros(1000), fs=60.0)


@pytest.mark.parametrize("fs_in", [360.0, 300.0, 250.0])
def test_resample_to_250_hz_preserves_duration_and_a_sine(fs_in):
    t = np.arange(0, 20, 1 / fs_in)
    out = signal.resample(np.sin(2 * np.pi * 5 * t), fs_in, 250.0)
    assert out.size == 5000
    t_out = np.arange(5000) / 250.0
    middle = slice(250, 4750)
    assert np.max(np.abs(out[middle] - np.sin(2 * np.pi * 5 * t_out[middle]))) < 0.01


def test_real_mitdb_record_resamples_from_650000_to_451389_samples(mitdb_root):
    rec = records.read("mitdb", "100")
    out = signal.resample(signal.bandpass(rec.signal, rec.fs), rec.fs)
    assert rec.signal.size == 650000
    assert out.size == 451389  # ceil(650000 * 250 / 360)
    assert out.size / 250.0 == pytest.approx(rec.duration_s, abs=1 / 250)


def test_normalise_zscore_and_robust_give_unit_spread_per_window():
    rng = np.random.default_rng(0)
    windows = rng.normal(3.0, 2.0, size=(4, 5000))
    z = signal.normalise(windows, "zscore")
    assert z.dtype == np.float32
    assert np.allclose(z.mean(axis=1), 0, atol=1e-5)
    assert np.allclose(z.std(axis=1), 1, atol=1e-4)
    robust = signal.normalise(windows, "robust")
    assert np.allclose(np.median(robust, axis=1), 0, atol=1e-5)
    assert np.allclose(np.median(np.abs(robust), axis=1), 1 / 1.4826, atol=1e-3)


def test_normalise_rejects_an_unknown_method():
    with pytest.raises(UnknownNameError, match="minmax"):
        signal.normalise(np.zeros((1, 10)), "minmax")


def test_window_quality_flags_flat_clipped_and_nan_windows():
    rng = np.random.default_rng(1)
    windows = rng.normal(0, 0.1, size=(4, 1000))
    windows[1, :600] = 0.3  # 3 of 5 segments of 200 samples flat
    windows[2, :100] = 1.0  # 10 % at the ADC limit
    windows[3, 5] = np.nan
    quality = signal.window_quality(windows, clip_limits_mv=(-1.0, 1.0), flat_segment_samples=200)
    assert quality["flat_fraction"].tolist() == [0.0, 0.6, 0.0, 0.0]
    assert quality["clipped_fraction"][2] == pytest.approx(0.1)
    assert quality["nan_fraction"][3] == pytest.approx(1 / 1000)
