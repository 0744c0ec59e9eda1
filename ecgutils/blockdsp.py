"""Zero-phase filtering and resampling of many blocks with one fixed design.

The scanner (:mod:`ecgutils.detect`) filters, resamples and beat-detects a 70-s block per
minute of ECG with the same filters every time. ``scipy.signal.sosfiltfilt``, ``filtfilt``
and ``resample_poly`` design their filter, or solve for its steady state, on every call: on
short blocks that is a third of their time. The classes here do that once and then run the
same operations in the same order, so their output is bit-identical to SciPy's (the tests
compare them with ``numpy.array_equal``).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import signal as scipy_signal


def _odd_extension(x: np.ndarray, n: int) -> np.ndarray:
    """``scipy.signal._arraytools.odd_ext`` of a 1-D array (same operations, same order)."""
    if n < 1:
        return x
    if n > x.size - 1:
        raise ValueError(f"the extension length n ({n}) is too big; it must not exceed "
                         f"len(x) - 1, which is {x.size - 1}")
    return np.concatenate((2 * x[0:1] - x[n:0:-1], x, 2 * x[-1:] - x[-2:-(n + 2):-1]))


class SosFiltFilt:
    """``scipy.signal.sosfiltfilt(sos, x)`` (odd padding, default length) of 1-D arrays.

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6)
        Second-order sections.
    """

    def __init__(self, sos: np.ndarray):
        self.sos = np.asarray(sos, dtype=float)
        n_sections = self.sos.shape[0]
        ntaps = 2 * n_sections + 1
        ntaps -= min((self.sos[:, 2] == 0).sum(), (self.sos[:, 5] == 0).sum())
        self.edge = int(ntaps * 3)
        self.zi = scipy_signal.sosfilt_zi(self.sos).reshape(n_sections, 2)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 1:
            raise ValueError(f"expected a 1-D array, got shape {x.shape}")
        if x.size <= self.edge:
            raise ValueError(f"The length of the input vector x must be greater than padlen, "
                             f"which is {self.edge}.")
        ext = _odd_extension(x, self.edge)
        y, _ = scipy_signal.sosfilt(self.sos, ext, zi=self.zi * ext[0:1])
        y, _ = scipy_signal.sosfilt(self.sos, y[::-1], zi=self.zi * y[-1:])
        return y[::-1][self.edge:-self.edge]


class FiltFilt:
    """``scipy.signal.filtfilt(b, a, x, method="pad")`` (odd padding) of 1-D arrays."""

    def __init__(self, b: np.ndarray, a: np.ndarray):
        self.b = np.atleast_1d(np.asarray(b))
        self.a = np.atleast_1d(np.asarray(a))
        self.edge = 3 * max(self.a.size, self.b.size)
        self.zi = scipy_signal.lfilter_zi(self.b, self.a)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 1:
            raise ValueError(f"expected a 1-D array, got shape {x.shape}")
        if x.size <= self.edge:
            raise ValueError(f"The length of the input vector x must be greater than padlen, "
                             f"which is {self.edge}.")
        ext = _odd_extension(x, self.edge)
        y, _ = scipy_signal.lfilter(self.b, self.a, ext, zi=self.zi * ext[0:1])
        y, _ = scipy_signal.lfilter(self.b, self.a, y[::-1], zi=self.zi * y[-1:])
        return y[::-1][self.edge:-self.edge]


class Resampler:
    """``ecgutils.signal.resample`` (``scipy.signal.resample_poly`` with its default Kaiser
    low-pass) from ``fs_in`` to ``fs_out`` Hz, the low-pass designed once."""

    def __init__(self, fs_in: float, fs_out: float):
        if fs_in <= 0 or fs_out <= 0:
            raise ValueError(f"sampling rates must be positive; got fs_in={fs_in}, "
                             f"fs_out={fs_out}")
        ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
        if abs(float(ratio) - fs_out / fs_in) > 1e-9:
            raise ValueError(f"no small rational ratio between fs_in={fs_in} and "
                             f"fs_out={fs_out}")
        self.up, self.down = ratio.numerator, ratio.denominator
        # The filter resample_poly designs itself for window=("kaiser", 5.0); handed over as
        # an array it is used as is (copied, then scaled by ``up`` as the design would be).
        max_rate = max(self.up, self.down)
        self.taps = None if max_rate == 1 else scipy_signal.firwin(
            2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.up == self.down:
            return x.copy()
        return scipy_signal.resample_poly(x, self.up, self.down, window=self.taps)
