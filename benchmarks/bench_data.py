"""Data-layer throughput on the real shared records: how fast records can be read and checked.

    .venv/bin/python benchmarks/bench_data.py   # prints a table, writes reports/benchmarks-data.*

Numbers are throughputs and ratios measured in one process, side by side; this machine is
noisy (DESIGN.md: up to 2x between runs), so compare within one run, never across runs.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import wfdb  # noqa: E402
from _timing import best_of, throughput_rows  # noqa: E402

from ecgutils import config, datasets, records  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402


def main() -> None:
    mitdb = datasets.ensure_local("mitdb")
    datasets.ensure_local("cinc2017")
    mitdb_names = datasets.record_names("mitdb")[:12]
    cinc_names = datasets.record_names("cinc2017")[:500]
    results = []

    def add(what: str, seconds: float, count: float, unit: str) -> None:
        results.append({"what": what, "seconds": round(seconds, 4),
                        "throughput": round(count / seconds, 1), "unit": unit})

    # mitdb: full record (MLII + annotations + checks) vs the bare wfdb calls it wraps.
    samples = 650_000 * len(mitdb_names)
    add("records.read mitdb (lead, annotations, SHA-256 cached, quality checks)",
        best_of(3, lambda: [records.read("mitdb", n) for n in mitdb_names]), samples,
        "samples/s")
    add("bare wfdb.rdrecord + rdann mitdb",
        best_of(3, lambda: [(wfdb.rdrecord(str(mitdb / n), channels=[0]),
                             wfdb.rdann(str(mitdb / n), "atr")) for n in mitdb_names]),
        samples, "samples/s")

    # SHA-256 of the record files, uncached (what the first read of a record pays).
    files = [mitdb / f"{n}.{ext}" for n in mitdb_names for ext in ("hea", "dat", "atr")]
    size_mb = sum(f.stat().st_size for f in files) / 1e6

    def hash_uncached() -> None:
        datasets._SHA_CACHE.clear()
        datasets.verify_sha256(mitdb, datasets.official_sums(mitdb), [f.name for f in files])

    add("SHA-256 verification, uncached", best_of(3, hash_uncached), size_mb, "MB/s")

    add("records.read cinc2017 (signal + v3 label)",
        best_of(3, lambda: [records.read("cinc2017", n) for n in cinc_names]), len(cinc_names),
        "records/s")
    add("records.read_header cinc2017",
        best_of(3, lambda: [records.read_header("cinc2017", n) for n in cinc_names]),
        len(cinc_names), "records/s")

    ratio = results[1]["seconds"] / results[0]["seconds"]
    lines = [
        "# Data-layer benchmarks",
        "",
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"{len(mitdb_names)} mitdb records, {len(cinc_names)} CinC records; best of 3.",
        "",
        *throughput_rows(results),
        "",
        f"records.read runs at {ratio:.2f}x the speed of the bare wfdb calls it wraps.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write_text(config.reports_dir() / "benchmarks-data.md", text)
    atomic_write_json(config.reports_dir() / "benchmarks-data.json",
                      {"results": results, "read_vs_bare_wfdb_speed_ratio": round(ratio, 3)})


if __name__ == "__main__":
    main()
