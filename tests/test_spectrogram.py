import numpy as np
import pytest

from ecgutils import spectrogram


def test_default_stft_of_a_20_s_window_at_250_hz_is_21_by_77():
    windows = np.random.default_rng(0).normal(size=(3, 5000)).astype(np.float32)
    spectra = spectrogram.log_stft(windows, 250.0)
    freqs, times = spectrogram.stft_axes(5000, 250.0)
    assert spectra.shape == (3, 21, 77)
    assert freqs[0] == 0.0 and freqs[-1] == pytest.approx(39.0625)
    assert times[0] == pytest.approx(0.256) and times.size == 77


def test_a_sine_peaks_in_its_frequency_bin_and_chunking_changes_nothing():
    t = np.arange(5000) / 250.0
    windows = np.stack([np.sin(2 * np.pi * 15.625 * t), np.sin(2 * np.pi * 7.8125 * t)])
    spectra = spectrogram.log_stft(windows, 250.0)
    freqs, _ = spectrogram.stft_axes(5000, 250.0)
    assert freqs[spectra[0].mean(axis=1).argmax()] == pytest.approx(15.625)
    assert freqs[spectra[1].mean(axis=1).argmax()] == pytest.approx(7.8125)
    assert np.array_equal(spectrogram.log_stft(windows, 250.0, chunk=1), spectra)


def test_zero_padding_gives_the_log_floor_not_minus_infinity():
    spectra = spectrogram.log_stft(np.zeros((1, 5000)), 250.0)
    assert np.all(np.isfinite(spectra))
    assert spectra.max() == pytest.approx(np.log(1e-3))


def test_bad_stft_parameters_are_rejected():
    with pytest.raises(ValueError, match="noverlap"):
        spectrogram.StftParams(nperseg=64, noverlap=64)
    with pytest.raises(ValueError, match="shorter than nperseg"):
        spectrogram.stft_axes(100, 250.0)
