"""Short-time Fourier transform of windows: log-magnitude, cropped to 0–40 Hz (numpy/scipy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as scipy_signal


@dataclass(frozen=True)
class StftParams:
    """STFT settings.

    Attributes
    ----------
    nperseg : int
        Hann segment length in samples (128 = 0.512 s at 250 Hz, 1.95 Hz resolution).
    noverlap : int
        Overlap of successive segments in samples (hop = nperseg − noverlap).
    fmax_hz : float
        Highest frequency kept (Hz); the band-pass already removed what lies above.
    log_floor : float
        Added to the magnitude before the logarithm, so that silence (zero padding) is finite.
    """

    nperseg: int = 128
    noverlap: int = 64
    fmax_hz: float = 40.0
    log_floor: float = 1e-3

    def __post_init__(self) -> None:
        if not 0 <= self.noverlap < self.nperseg:
            raise ValueError(
                f"need 0 <= noverlap < nperseg; got noverlap={self.noverlap}, "
                f"nperseg={self.nperseg}"
            )
        if self.fmax_hz <= 0 or self.log_floor <= 0:
            raise ValueError(
                f"fmax_hz and log_floor must be positive; got {self.fmax_hz}, {self.log_floor}"
            )


def stft_axes(
    window_samples: int, fs: float, params: StftParams = StftParams()
) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and segment-centre times (s) of :func:`log_stft`'s output."""
    if window_samples < params.nperseg:
        raise ValueError(
            f"a window of {window_samples} samples is shorter than nperseg={params.nperseg}"
        )
    freqs = np.fft.rfftfreq(params.nperseg, d=1.0 / fs)
    hop = params.nperseg - params.noverlap
    n_times = (window_samples - params.nperseg) // hop + 1
    times = (np.arange(n_times) * hop + params.nperseg / 2) / fs
    return freqs[freqs <= params.fmax_hz + 1e-9], times


def log_stft(
    windows: np.ndarray,
    fs: float,
    params: StftParams = StftParams(),
    chunk: int = 2048,
) -> np.ndarray:
    """Log-magnitude spectrograms of windows.

    Segments are taken without boundary extension or padding (``boundary=None,
    padded=False``): every column sees real signal and no time is spent on padding
    (``benchmarks/bench_pipeline.py`` compares it with scipy's defaults).

    Parameters
    ----------
    windows : ndarray, shape (n_windows, n_samples)
        Normalised windows.
    fs : float
        Sampling frequency in Hz.
    params : StftParams
    chunk : int
        Windows transformed at a time (bounds memory).

    Returns
    -------
    ndarray of float32, shape (n_windows, n_freqs, n_times)
        ``log(|STFT| + log_floor)``; 21 × 77 for 5000 samples at 250 Hz with the defaults.
    """
    windows = np.atleast_2d(np.asarray(windows, dtype=np.float32))
    freqs, times = stft_axes(windows.shape[-1], fs, params)
    out = np.empty((windows.shape[0], freqs.size, times.size), dtype=np.float32)
    for begin in range(0, windows.shape[0], chunk):
        _, _, spectrum = scipy_signal.stft(
            windows[begin : begin + chunk],
            fs=fs,
            window="hann",
            nperseg=params.nperseg,
            noverlap=params.noverlap,
            boundary=None,
            padded=False,
            axis=-1,
        )
        magnitude = np.abs(spectrum[:, : freqs.size, :])
        out[begin : begin + chunk] = np.log(magnitude + params.log_floor)
    return out
