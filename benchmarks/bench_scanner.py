"""Scanner throughput on one CPU core: 24 h of real ECG through ``ecg-af scan``'s pipeline.

    .venv/bin/python benchmarks/bench_scanner.py [--model BUNDLE] [--hours 24]

The 48 mitdb records (30 min each, 360 Hz) joined end to end are a 24-h Holter of real ECG.
It is scanned with the packaged bundle (or ``--model``) pinned to one core with one
TensorFlow thread, beside the alternatives that set the speed — a 5-s step instead of 10 s,
one model instead of the ensemble (for a one-model bundle, the same bundle again: an A/A pair
that shows the timing noise) — in the same run (this machine varies up to 2x between runs:
compare rows of one run). The live stream's compute per second of ECG is measured on
the first hour. Writes ``reports/benchmarks-scanner.md``/``.json`` and the summary key
``scanner.detector.realtime_factor``. Nothing here is asserted in a test.
"""

from __future__ import annotations

import os

# One core, one TensorFlow thread: set before TensorFlow is imported.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from _timing import reference_seconds  # noqa: E402

from ecgutils import bundle, config, datasets, detect, records, reporting  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402


def holter(hours: float) -> records.Record:
    """mitdb records joined end to end up to ``hours`` (each record's preferred lead)."""
    root = datasets.ensure_local("mitdb")
    parts, total = [], 0
    for name in datasets.get("mitdb").records:
        rec = records.read_path(root / name)
        parts.append(rec.signal)
        total += rec.n_samples
        if total >= hours * 3600 * rec.fs:
            break
    signal = np.concatenate(parts)[: int(hours * 3600 * 360)]
    return records.Record(dataset="external", name="mitdb-holter", patient_id="mitdb",
                          fs=360.0, lead="mixed", signal=signal, rhythm=[])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="bundle folder (default: the packaged one)")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--repeats", type=int, default=3,
                        help="timings per variant, interleaved; the best is reported")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    shipped = detect.bundle_at(args.model)
    rec = holter(args.hours)
    variants = {
        f"shipped ({len(shipped.models)} model(s), {shipped.settings.step_s:g}-s step)": shipped,
        # With a one-model bundle this row is the same bundle timed again: an A/A pair whose
        # gap is the timing noise of this run.
        ("one model, same step" if len(shipped.models) > 1 else
         "the same bundle again (A/A: timing noise)"):
            bundle.Bundle(shipped.models[:1], shipped.settings),
        "shipped models, 5-s step": bundle.Bundle(
            shipped.models, dataclasses.replace(shipped.settings, step_s=5.0)),
    }
    excerpt = records.Record(**{**rec.__dict__, "signal": rec.signal[:360 * 600]})
    for variant in variants.values():  # warm-up: each bundle fuses and traces its models once
        detect.analyse(excerpt, variant)
    # Each variant timed args.repeats times, interleaved (A B C A B C ...), best kept: one
    # slow pass of a busy machine does not decide a row, and no variant gets the quiet minute.
    times: dict[str, list[float]] = {what: [] for what in variants}
    windows: dict[str, int] = {}
    for _ in range(args.repeats):
        for what, variant in variants.items():
            began = time.perf_counter()
            windows[what] = int(detect.analyse(rec, variant).prob.size)
            times[what].append(time.perf_counter() - began)
    rows = []
    for what, seconds in ((what, min(found)) for what, found in times.items()):
        rows.append({"what": what, "ecg_hours": round(rec.duration_s / 3600, 2),
                     "seconds": round(seconds, 2),
                     "realtime_factor": round(rec.duration_s / seconds, 1),
                     "windows": windows[what],
                     "all_seconds": [round(t, 2) for t in times[what]]})
        print(rows[-1], flush=True)
    hour = records.Record(**{**rec.__dict__, "signal": rec.signal[:360 * 3600]})
    began = time.perf_counter()
    detect.stream_record(hour, shipped, chunk_s=1.0)
    stream_s = time.perf_counter() - began
    rows.append({"what": "shipped, live stream in 1-s chunks (first hour)", "ecg_hours": 1.0,
                 "seconds": round(stream_s, 2), "realtime_factor": round(3600 / stream_s, 1),
                 "windows": None})
    print(rows[-1], flush=True)
    factor = rows[0]["realtime_factor"]
    yardstick = round(reference_seconds(), 3)
    payload = {"machine": platform.processor() or platform.machine(), "cores_used": 1,
               "reference_s": yardstick,
               "bundle": str(shipped.path), "rows": rows,
               "ratio_one_model_vs_shipped": round(rows[1]["realtime_factor"] / factor, 2),
               "ratio_5s_step_vs_shipped": round(rows[2]["realtime_factor"] / factor, 2)}
    out = config.reports_dir()
    atomic_write_json(out / "benchmarks-scanner.json", payload)
    lines = ["# Scanner throughput (benchmarks/bench_scanner.py)", "",
             f"{rec.duration_s / 3600:.1f} h of real ECG (mitdb records joined), one core, "
             f"one TensorFlow thread; best of {args.repeats} interleaved passes per row; "
             "compare rows of this run only. This machine's yardstick "
             f"(`benchmarks/_timing.reference_seconds`, one core): {yardstick:.3f} s; another "
             "machine's figures scale roughly with the ratio of the two yardsticks.", "",
             "| what | ECG (h) | seconds | x real time | windows |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['what']} | {r['ecg_hours']} | {r['seconds']} | {r['realtime_factor']:,.0f}"
              f" | {r['windows'] if r['windows'] is not None else ''} |" for r in rows]
    atomic_write_text(out / "benchmarks-scanner.md", "\n".join(lines) + "\n")
    reporting.export_metrics("bench_scanner", {
        "scanner.detector.realtime_factor": factor,
        "scanner.detector.holter_24h_s": rows[0]["seconds"] * 24 * 3600 / rec.duration_s,
        "scanner.detector.stream_compute_s_per_s": stream_s / 3600,
        "scanner.machine.reference_s": yardstick})
    reporting.tables_path("bench_scanner").unlink(missing_ok=True)
    reporting.export_table("bench_scanner", "Scanner throughput, one core (make bench-scanner)",
                           "\n".join(lines[4:]))
    reporting.export_table("bench_scanner", "ecg-af scan data/raw/mitdb/203 --reference atr",
                           "```\n" + cli_run(rec_203=datasets.ensure_local("mitdb") / "203")
                           + "```")
    atomic_write_json(out / "metrics" / "bench_scanner.run.json", {
        "name": "bench_scanner", "status": "ok", "profile": "default",
        "wall_s": round(sum(r["seconds"] for r in rows), 1), "commit": reporting.git_commit()})
    print("\n".join(lines))


def cli_run(rec_203: Path) -> str:
    """The command line itself on mitdb 203 (annotation file into a temporary folder)."""
    import subprocess
    import tempfile

    script = Path(sys.executable).with_name("ecg-af")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "ecgutils.detect"]
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run([*command, "scan", str(rec_203), "--reference", "atr",
                               "--out-dir", folder], capture_output=True, text=True,
                              check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return done.stdout.replace(folder, "<out-dir>")


if __name__ == "__main__":
    main()
