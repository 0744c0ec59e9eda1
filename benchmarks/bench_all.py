"""``make bench``: the study's costs on this machine, in one report.

    .venv/bin/python benchmarks/bench_all.py [--quick]

Writes ``reports/benchmarks.md`` and ``reports/benchmarks.json`` (machine described at the top):
preprocessing hours of ECG per second; training and prediction windows/s per model; the RR
baseline's throughput; a cost/quality table (F1 per model beside its cost, F1 from the
published default run); peak RSS of preprocessing + training at 1x, 4x and 16x the hours of
input (records repeated, each scale in its own process); the wall time per notebook of the
published default run; the packaged scanner on a 30-min and a 24-h recording (mitdb records
joined) with one thread vs all cores; and ``bench_archive.py``'s 1 vs 2 Dask workers. This
machine varies up to 2x between runs: compare rows of one run. Nothing here is asserted in a
test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent

from _timing import best_of, reference_seconds, throughput_rows  # noqa: E402

from ecgutils import config  # noqa: E402 - no TensorFlow: the scan child pins threads first
from ecgutils.progress import progress  # noqa: E402

# Records of the throughput rows: 2 h of real ECG with sinus, AF and ectopy.
RECORDS = ("100", "119", "201", "203")
SCALES = (1, 4, 16)
MODELS = ("cnn1d", "cnn2d", "detector")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats and scales 1x/4x only (a check of the script)")
    parser.add_argument("--rss-child", type=int, metavar="SCALE", help=argparse.SUPPRESS)
    parser.add_argument("--scan-child", nargs=2, metavar=("HOURS", "THREADS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        print(json.dumps(_rss_child(args.rss_child)))
        return
    if args.scan_child:
        print(json.dumps(_scan_child(float(args.scan_child[0]), args.scan_child[1])))
        return
    from ecgutils import reporting
    from ecgutils.fileio import atomic_write_json, atomic_write_text

    keys: dict[str, float] = {"cpu_count": os.cpu_count() or 1,
                              "machine_reference_s": round(reference_seconds(), 3)}
    sections: list[str] = []
    rows = _throughputs(keys, repeats=1 if args.quick else 2)
    sections += ["## Throughput (real mitdb records " + ", ".join(RECORDS) + ")", "",
                 *throughput_rows(rows)]
    scales = SCALES[:2] if args.quick else SCALES
    rss = [_rss_of_scale(scale) for scale in progress(list(scales), "peak RSS")]
    keys["train.peak_rss_ratio_16x_vs_1x" if 16 in scales else "train.peak_rss_ratio_4x_vs_1x"] \
        = round(rss[-1]["peak_rss_mb"] / rss[0]["peak_rss_mb"], 3)
    sections += ["", "## Peak memory of preprocessing + training (cnn1d, one epoch)", "",
                 "Windows and spectrograms are written to the cache a record (a block) at a "
                 "time and read back a batch at a time (`streams.Rows`, `train.Batches`).", "",
                 "| input | ECG (h) | windows | peak RSS (MB) | wall (s) |",
                 "|---|---:|---:|---:|---:|",
                 *[f"| {r['scale']}x | {r['hours']:.1f} | {r['windows']} | "
                   f"{r['peak_rss_mb']:.0f} | {r['wall_s']:.1f} |" for r in rss]]
    sections += ["", *_fold_jobs_section(keys, quick=args.quick)]
    sections += ["", *_study_section(keys)]
    sections += ["", *_scanner_section(keys, quick=args.quick)]
    tensorflow = (reporting.package_version("tensorflow")
                  or reporting.package_version("tensorflow-cpu"))
    header = ["# Benchmarks (`make bench`)", "",
              f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
              f"{_ram_gb():.0f} GiB RAM, {platform.platform()}; Python "
              f"{platform.python_version()}, TensorFlow "
              f"{tensorflow}"
              f"; one-core yardstick (`benchmarks/_timing.reference_seconds`) "
              f"{keys['machine_reference_s']:.3f} s: another machine's figures scale roughly "
              f"with the ratio of the two yardsticks; commit {reporting.git_commit()}. Measured "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    text = "\n".join(header + sections) + "\n"
    print(text)
    out = config.published_dir()
    atomic_write_text(out / "benchmarks.md", text)
    atomic_write_json(out / "benchmarks.json", {"keys": keys, "throughput": rows, "rss": rss})


def _throughputs(keys: dict[str, float], repeats: int) -> list[dict]:
    """Preprocessing (from raw records, beats included), each model's training and prediction
    and the RR baseline, on the same real records."""
    import numpy as np

    from ecgutils import baseline, beats, models, preprocess, records, train

    rows = []

    def add(what, seconds, count, unit, key=None):
        rows.append({"what": what, "seconds": round(seconds, 3),
                     "throughput": round(count / seconds, 2), "unit": unit})
        if key:
            keys[key] = round(count / seconds, 2)

    hours = sum(records.read("mitdb", name).duration_s for name in RECORDS) / 3600
    previous = os.environ.get("ECGUTILS_PROCESSED_DIR")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ECGUTILS_PROCESSED_DIR"] = cache  # from raw: no cached beats or windows
        began = time.perf_counter()
        study = preprocess.build(preprocess.default_params("mitdb", records=RECORDS))
        detector = preprocess.build(preprocess.detector_params("mitdb", records=RECORDS))
        seconds = time.perf_counter() - began
    if previous is None:  # the later sections use the project's cache again
        os.environ.pop("ECGUTILS_PROCESSED_DIR")
    else:
        os.environ["ECGUTILS_PROCESSED_DIR"] = previous
    add("preprocess: read, band-pass, resample, beats, windows, spectrograms (study + detector "
        "windows)", seconds, hours, "h of ECG/s", "preprocess.hours_per_s")
    # In memory (the cache folder is gone), fed as the study feeds them: train.Batches.
    ecg = {"cnn1d": np.array(study.arrays["X"]), "cnn2d": np.array(study.arrays["S"]),
           "detector": np.array(detector.arrays["X"])}
    for kind in MODELS:
        n = len(ecg[kind])
        x = ({"ecg": ecg[kind], "rr": np.array(detector.arrays["R"], dtype=np.float32)}
             if kind == "detector" else ecg[kind])
        channel = {"ecg"} if kind == "detector" else True
        y = np.zeros(n, dtype=np.float32)
        if kind == "cnn2d":
            model = models.build(kind, input_shape=ecg[kind].shape[1:])
        elif kind == "detector":
            model = models.build(kind, n_classes=1)
        else:
            model = models.build(kind)
        model.compile("adam", "binary_crossentropy")
        batches = train.Batches(x, y, batch_size=64, shuffle=True, channel_axis=channel)
        model.fit(batches, epochs=1, verbose=0, shuffle=False)  # warm-up: graph building
        train_s = best_of(repeats, lambda m=model, b=batches: m.fit(b, epochs=1, verbose=0,
                                                                    shuffle=False))
        add(f"{kind} train, batch 64, all cores ({model.count_params():,} parameters)",
            train_s, n, "windows/s", f"{kind}.train_windows_per_s")
        unlabelled = train.Batches(x, batch_size=256, channel_axis=channel)
        predict_s = best_of(repeats, lambda m=model, b=unlabelled: m.predict(b, verbose=0))
        add(f"{kind} predict, batch 256, all cores", predict_s, n, "windows/s",
            f"{kind}.predict_windows_per_s")
    beat_times = [beats.detect(records.read("mitdb", name).signal, 360.0) / 360.0
                  for name in RECORDS]
    ends = [records.read("mitdb", name).duration_s for name in RECORDS]
    cosen_s = best_of(repeats, lambda: [baseline.detect(times, end) for times, end
                                      in zip(beat_times, ends, strict=True)])
    add("RR baseline (COSEn episodes from beats)", cosen_s, hours, "h of ECG/s",
        "rr_baseline.hours_per_s")
    return rows


def _rss_child(scale: int) -> dict:
    """In a fresh process: preprocess the records repeated ``scale`` times and train cnn1d one
    epoch on every window the way the study does (``train.fit`` over a ``streams.Rows`` view
    of the cache entry, every tenth window for validation); report the process's peak RSS."""
    import numpy as np

    from ecgutils import models, preprocess, records, streams, train

    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ECGUTILS_PROCESSED_DIR"] = cache
        names = tuple(RECORDS) * scale
        entry = preprocess.build(preprocess.default_params("mitdb", records=names))
        X = streams.Rows(entry.arrays["X"])
        y = entry.tables["manifest"]["y"].to_numpy().clip(0, 1).astype(np.float32)
        validation = np.arange(0, len(y), 10)
        fit_part = np.setdiff1d(np.arange(len(y)), validation)
        train.fit(lambda: models.build("cnn1d"), X.take(fit_part), y[fit_part],
                  X.take(validation), y[validation], train.TrainConfig(epochs=1))
    hours = scale * sum(records.read("mitdb", name).duration_s for name in RECORDS) / 3600
    return {"scale": scale, "hours": hours, "windows": int(len(y)),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "wall_s": time.perf_counter() - began}


def _rss_of_scale(scale: int) -> dict:
    result = subprocess.run([sys.executable, __file__, "--rss-child", str(scale)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _fold_jobs_section(keys: dict[str, float], quick: bool) -> list[str]:
    """A record-grouped CV of cnn1d on real CinC 2017 records, its folds run here one after
    another and as jobs on 2 local Dask workers (``train.cross_validate(workers=...)``, what
    ``run_all.py --parallel 2`` does); the workers' start-up is in the time."""

    from ecgutils import cluster, datasets, experiments, metrics, preprocess, train

    n_records, n_splits, epochs = (200, 2, 1) if quick else (2000, 4, 3)
    names = datasets.record_names("cinc2017")[:n_records]
    entry = preprocess.build(preprocess.default_params("cinc2017", records=names))
    manifest, y, groups = experiments.labelled(entry)
    X = experiments.model_inputs(entry, "cnn1d").take(manifest.index.to_numpy())
    folds = experiments.make_folds("grouped", y, groups, n_splits, config.DEFAULT_SEED)
    build = experiments.model_builder("cnn1d", entry)
    cfg = train.TrainConfig(epochs=epochs, patience=epochs)
    rows = []
    for workers in (1, 2):
        began = time.perf_counter()
        cv = train.cross_validate(X, y, groups, folds, build, cfg, workers=workers)
        rows.append({"workers": workers, "wall_s": time.perf_counter() - began,
                     "auroc": metrics.binary_metrics(
                         y[cv.tested], cv.prob[cv.tested], 0.5)["auroc"]})
    speedup = rows[0]["wall_s"] / rows[1]["wall_s"]
    keys["train.cv_fold_jobs_speedup_2_vs_1"] = round(speedup, 2)
    return ["## Cross-validation folds as jobs (`run_all.py --parallel N`)", "",
            f"cnn1d, {n_splits} record-grouped folds of {len(y)} real CinC 2017 records, "
            f"{epochs} epoch(s) each; 1 worker = the folds one after another in this process "
            "(TensorFlow on all cores); 2 workers = a local Dask cluster of 2 processes with "
            f"{max(1, cluster.cpu_count() // 2)} TensorFlow thread(s) each, start-up "
            "included. Same seeds: the pooled AUROC agrees to round-off.", "",
            "| workers | wall (s) | pooled AUROC |", "|---:|---:|---:|",
            *[f"| {r['workers']} | {r['wall_s']:.1f} | {r['auroc']:.4f} |" for r in rows],
            "", f"Speed-up of 2 workers over 1: **{speedup:.2f}x** "
            f"(`train.cv_fold_jobs_speedup_2_vs_1`)."]


def _study_section(keys: dict[str, float]) -> list[str]:
    """Wall time per notebook and the cost/quality table, from the published default run."""
    from ecgutils import runs
    from run_all import run_elapsed

    run = runs.latest("default")
    if run is None or not (run.path / "summary.json").is_file():
        return ["## The default study", "", "No published default run here (`make run`)."]
    summary = json.loads((run.path / "summary.json").read_text())
    notebooks = summary["notebooks"]
    numbered = [nb["name"] for nb in notebooks if nb["name"][:2].isdigit()]
    total = sum(nb["wall_s"] for nb in notebooks if nb["name"] in numbered)
    keys["study.default.notebook_sum_s"] = round(total, 1)
    # The study's wall time is a run's own, from its first notebook's start to its last one's
    # end: the newest run that ran every notebook (the published one may be a chain of
    # partial runs on top of it); the sum of the published notebooks' times where none did.
    whole = None
    for candidate in reversed(runs.list_runs("default")):
        elapsed = run_elapsed(candidate.record)
        if elapsed and set(numbered) <= set(elapsed["notebooks"]):
            whole = (candidate, elapsed)
            break
    keys["study.default.wall_s"] = whole[1]["elapsed_s"] if whole else round(total, 1)
    lines = ["## The default study", ""]
    if whole:
        candidate, elapsed = whole
        lines += [f"Run `{candidate.run_id}` ran every notebook of the default profile in one "
                  f"go, up to {elapsed['notebooks_at_once']} at once: **"
                  f"{elapsed['elapsed_s']:.0f} s** ({elapsed['elapsed_s'] / 60:.1f} min) from "
                  "the first start to the last end (`study.default.wall_s`)."
                  + ("" if candidate.run_id == run.run_id else
                     f" The published run `{run.run_id}` reran some notebooks on top of it.")]
    else:
        lines += ["No run here ran every notebook in one go: `study.default.wall_s` is the sum "
                  "of the published notebooks' times."]
    lines += ["", "The published run's notebooks (marked 'earlier run': run separately, "
              "possibly beside other jobs):"]
    lines += ["", "| notebook | status | wall (s) |", "|---|---|---:|"]
    lines += [f"| {nb['name']} | {nb['status']} | {nb['wall_s']:.0f} |" for nb in notebooks]
    lines += [f"| **all notebooks, summed** | | **{total:.0f}** |", ""]
    metrics = summary["metrics"]
    cost = {"cnn1d": "03_cnn1d", "cnn2d": "04_cnn2d", "detector": "03b_detector"}
    lines += ["Cost and quality (F1 with 95 % CI, pooled out-of-fold, grouped; training "
              "throughput from this run's table):", "",
              "| model | CinC F1 | mitdb F1 | training windows/s | predict windows/s | "
              "notebook wall (s) |", "|---|---|---|---:|---:|---:|"]
    walls = {nb["name"]: nb["wall_s"] for nb in notebooks}
    for model, notebook in cost.items():
        cells = []
        for dataset in ("cinc2017", "mitdb"):
            value = metrics.get(f"{dataset}.{model}.grouped.f1")
            ci = metrics.get(f"{dataset}.{model}.grouped.f1_ci95")
            cells.append("n/a" if value is None else f"{value:.3f}"
                         + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""))
        lines.append(f"| {model} | {cells[0]} | {cells[1]} | "
                     f"{keys.get(f'{model}.train_windows_per_s', float('nan')):,.0f} | "
                     f"{keys.get(f'{model}.predict_windows_per_s', float('nan')):,.0f} | "
                     f"{walls.get(notebook, float('nan')):.0f} |")
    cosen = metrics.get("mitdb.rr_baseline.grouped.f1")
    if cosen is not None:
        lines.append(f"| COSEn (no training) | – | {cosen:.3f} | – | "
                     f"{keys.get('rr_baseline.hours_per_s', float('nan')):,.0f} h/s | – |")
    return lines


def _scanner_section(keys: dict[str, float], quick: bool) -> list[str]:
    """The packaged scanner on a 30-min record and a 24-h one (mitdb records joined), with one
    thread on one core and with all cores, each in its own process; then the one-core figure
    of ``bench_scanner.py`` and 1 vs 2 Dask workers (``bench_archive.py``), their own scripts."""
    day_hours = 1.0 if quick else 24.0
    rows = []
    for hours in (0.5, day_hours):
        for threads in ("1", "all"):
            result = subprocess.run([sys.executable, __file__, "--scan-child", str(hours),
                                     threads], capture_output=True, text=True, check=True)
            rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    lines = ["## Scanner (`ecg-af scan` with the packaged bundle)", "",
             "| recording | threads | seconds | x real time |", "|---|---|---:|---:|",
             *[f"| {r['hours']:g} h of mitdb ECG | {r['threads']} | {r['seconds']:.1f} | "
               f"{r['realtime_factor']:,.0f} |" for r in rows]]
    # The headline key is bench_scanner.py's (best of 3 interleaved passes, the figure the
    # summary shows), not a second measurement of the same thing with other repeats.
    scanner = subprocess.run([sys.executable, str(HERE / "bench_scanner.py")],
                             capture_output=True, text=True)
    produced = config.published_dir() / "benchmarks-scanner.json"
    if scanner.returncode == 0 and produced.is_file():
        factor = json.loads(produced.read_text())["rows"][0]["realtime_factor"]
        keys["scanner.detector.realtime_factor"] = factor
        lines += ["", "One core, 24 h, best of 3 interleaved passes (`make bench-scanner`, "
                  f"`reports/benchmarks-scanner.md`): **{factor:,.0f}x** real time."]
    else:
        lines += ["", f"`bench_scanner.py` failed: {scanner.stderr.strip()[-300:]}"]
    script = HERE / "bench_archive.py"
    if script.is_file():
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        produced = config.published_dir() / "benchmarks-archive.json"
        if result.returncode == 0 and produced.is_file():
            found = json.loads(produced.read_text())
            if "scanner.dask_speedup_2_vs_1" in found:
                keys["scanner.dask_speedup_2_vs_1"] = found["scanner.dask_speedup_2_vs_1"]
            lines += ["", "Dask (`benchmarks/bench_archive.py`, its own report "
                      "`reports/benchmarks-archive.md`): 2 workers vs 1 on 20 records = "
                      f"{keys.get('scanner.dask_speedup_2_vs_1', float('nan')):.2f}x."]
        else:
            lines += ["", f"`bench_archive.py` failed: {result.stderr.strip()[-300:]}"]
    return lines


def _scan_child(hours: float, threads: str) -> dict:
    """In a fresh process: scan ``hours`` of joined mitdb ECG with the packaged bundle, on one
    core with one TensorFlow thread, or on all cores; the better of two passes."""
    if threads == "1":
        os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = "1"
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from bench_scanner import holter

    from ecgutils import detect, records

    shipped = detect.packaged_bundle()
    rec = holter(hours)
    detect.analyse(records.Record(**{**rec.__dict__, "signal": rec.signal[:360 * 300]}),
                   shipped)  # warm-up: the ensemble is traced once
    seconds = best_of(2, lambda: detect.analyse(rec, shipped))
    return {"hours": hours, "threads": threads, "seconds": seconds,
            "realtime_factor": rec.duration_s / seconds}


def _ram_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return float("nan")


if __name__ == "__main__":
    main()
