"""Preprocessing and model throughput on real windows, side by side in one process.

    .venv/bin/python benchmarks/bench_pipeline.py   # prints a table, writes
                                                    # reports/benchmarks-pipeline.md and .json

Throughputs and ratios only; this machine is noisy (DESIGN.md: up to 2x between runs), so
compare rows of one run, never across runs. Nothing here is asserted in a test.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from _timing import best_of, throughput_rows  # noqa: E402
from scipy import signal as scipy_signal  # noqa: E402

from ecgutils import config, models, preprocess, records, signal, spectrogram, train  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402


def main() -> None:
    results = []

    def add(what: str, seconds: float, count: float, unit: str) -> None:
        results.append({"what": what, "seconds": round(seconds, 4),
                        "throughput": round(count / seconds, 1), "unit": unit})

    rec = records.read("mitdb", "201")
    add("bandpass 0.5-40 Hz (sosfiltfilt), mitdb record at 360 Hz",
        best_of(3, lambda: signal.bandpass(rec.signal, rec.fs)), rec.signal.size, "samples/s")
    add("resample 360 -> 250 Hz (resample_poly)",
        best_of(3, lambda: signal.resample(rec.signal, rec.fs)), rec.signal.size, "samples/s")

    entry = preprocess.build(preprocess.default_params("mitdb", records=("100", "201", "203")))
    X = np.asarray(entry.arrays["X"])
    S = np.asarray(entry.arrays["S"])
    add("log_stft (boundary=None, padded=False), 21x77",
        best_of(3, lambda: spectrogram.log_stft(X, 250.0)), len(X), "windows/s")
    add("scipy.signal.stft with its defaults (boundary, padding)",
        best_of(3, lambda: scipy_signal.stft(X, fs=250.0, nperseg=128, noverlap=64)), len(X),
        "windows/s")

    y = entry.tables["manifest"]["y"].to_numpy().clip(0, 1).astype(np.float32)
    for kind, inputs in (("cnn1d", X), ("cnn2d", S)):
        hyper = {"input_shape": inputs.shape[1:]} if kind == "cnn2d" else {}
        for variant, extra in (("", {}), (" residual", {"residual": True})):
            model = models.build(kind, **hyper, **extra)
            model.compile("adam", "binary_crossentropy")
            batch = train.as_input(inputs)
            model.fit(batch[:128], y[:128], batch_size=64, epochs=1, verbose=0)  # warm-up
            add(f"{kind}{variant} train, batch 64 ({model.count_params():,} parameters)",
                best_of(2, lambda m=model, b=batch: m.fit(b, y, batch_size=64, epochs=1,
                                                          verbose=0)),
                len(batch), "windows/s")
            add(f"{kind}{variant} predict, batch 256",
                best_of(2, lambda m=model, b=batch: m.predict(b, batch_size=256, verbose=0)),
                len(batch), "windows/s")

    lines = ["# Pipeline benchmarks", "",
             f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPU "
             f"cores, {len(X)} real mitdb windows (records 100, 201, 203); best of 2-3.", "",
             *throughput_rows(results)]
    stft_ratio = results[3]["seconds"] / results[2]["seconds"]
    lines += ["", f"log_stft is {stft_ratio:.1f}x faster than scipy's default STFT settings."]
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write_text(config.reports_dir() / "benchmarks-pipeline.md", text)
    atomic_write_json(config.reports_dir() / "benchmarks-pipeline.json",
                      {"results": results, "stft_speedup": round(stft_ratio, 2)})


if __name__ == "__main__":
    main()
