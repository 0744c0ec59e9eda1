"""Shared helpers of the benchmark scripts: timing and the throughput table."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from scipy import signal


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Fastest wall time of ``repeats`` calls (s)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def reference_seconds(repeats: int = 5) -> float:
    """Seconds of a fixed one-core workload (four hours of seeded noise at 360 Hz: a zero-phase
    4th-order band-pass, an FFT, a sort), best of ``repeats``: a yardstick printed beside the
    benchmarks, so that figures of two machines (which differ up to 2x) can be set side by
    side: a machine with half the reference time runs the scanner about twice as fast."""
    x = np.random.default_rng(0).standard_normal(4 * 360 * 3600)
    sos = signal.butter(4, (0.5, 40.0), btype="bandpass", fs=360.0, output="sos")
    return best_of(repeats, lambda: (signal.sosfiltfilt(sos, x), np.fft.rfft(x), np.sort(x)))


def throughput_rows(results: list[dict]) -> list[str]:
    """Markdown table lines of ``{what, seconds, throughput, unit}`` results."""
    return ["| what | seconds | throughput |", "|---|---:|---:|",
            *[f"| {r['what']} | {r['seconds']:.3f} | {_number(r['throughput'])} {r['unit']} |"
              for r in results]]


def _number(value: float) -> str:
    """Thousands separated above 100, three significant digits below (0.47 h/s, not 0)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
