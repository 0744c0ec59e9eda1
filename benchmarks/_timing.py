"""Shared helpers of the benchmark scripts: timing and the throughput table."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Fastest wall time of ``repeats`` calls (s)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def throughput_rows(results: list[dict]) -> list[str]:
    """Markdown table lines of ``{what, seconds, throughput, unit}`` results."""
    return ["| what | seconds | throughput |", "|---|---:|---:|",
            *[f"| {r['what']} | {r['seconds']:.3f} | {_number(r['throughput'])} {r['unit']} |"
              for r in results]]


def _number(value: float) -> str:
    """Thousands separated above 100, three significant digits below (0.47 h/s, not 0)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
