"""Archive scanning on Dask: a 20-record batch of real mitdb records with 1 and 2 workers.

    .venv/bin/python benchmarks/bench_archive.py [--records 20] [--repeats 2]

Two local clusters run side by side — one worker, and two workers — each worker its own
process with one task thread and TensorFlow/BLAS pinned to one thread
(:func:`ecgutils.archive.scan_archive`). Both are started and warmed up (bundle loaded,
graphs traced) before any timing, then the batch (20 records of 30 min, annotation files
written to a temporary folder) is scanned on each in turn, interleaved 1, 2, 1, 2, ..., so
that a load change on a shared machine hits both alike. The speed-up is the ratio of the
fastest batch of each. Writes ``reports/benchmarks-archive.md``/``.json`` with the key
``scanner.dask_speedup_2_vs_1``. Nothing here is asserted in a test.

A control arm (``--no-control`` skips it) scans the same batch on pools of 1 and 2 plain
processes (``concurrent.futures``, no Dask), warmed up alike and interleaved with the
clusters: the two-process speed-up this machine allows at all, against which Dask's is read.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgutils import archive, cluster, config, datasets  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

SPEEDUP_KEY = "scanner.dask_speedup_2_vs_1"
WORKER_COUNTS = (1, 2)


def start(n_workers: int):
    """A local cluster of ``n_workers`` single-threaded worker processes, and its client."""
    from distributed import Client

    local = cluster.local_cluster(n_workers, env=cluster.ONE_THREAD_ENV)
    return local, Client(local)


def worker_state(client) -> list[dict]:
    """Per worker: its process, seconds its first setup took to load and warm the bundle,
    how many setups it ran (one per scan_archive call) and the last one's seconds (the
    bundle already loaded), TensorFlow's threads."""
    def state(dask_worker):
        plugin = dask_worker.plugins[archive.PLUGIN_NAME]
        return {"pid": os.getpid(), "bundle_first_load_s": round(plugin.first_load_s, 2),
                "plugin_setups": plugin.setups, "last_setup_s": round(plugin.load_s, 3),
                **plugin.threads}

    return list(client.run(state).values())


def _plain_worker_start() -> None:
    """A plain process of the control arm (started with one-thread pools, see
    :func:`plain_pools`): the packaged bundle loaded and its prediction traced, as a Dask
    worker's setup does (:class:`ecgutils.archive.BundlePlugin`)."""
    archive.BundlePlugin(None, pin=True).load()


def _plain_scan(path: str, out_dir: str) -> tuple[float, float]:
    """Scan one record in a plain process, as a Dask task does; its (wall, CPU) seconds."""
    from ecgutils import detect

    t0, c0 = time.perf_counter(), time.process_time()
    detect.scan([path], out_dir=out_dir, show_progress=False)
    return time.perf_counter() - t0, time.process_time() - c0


def plain_pools(counts: tuple[int, ...], warm: list[Path], out_dir: str) -> dict[int, Any]:
    """The control arm: for each count, a pool of that many plain worker processes (no
    Dask), started and warmed up like the clusters' workers (each scans records of
    ``warm``)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    pools = {n: ProcessPoolExecutor(n, mp_context=context, initializer=_plain_worker_start)
             for n in counts}
    saved = dict(os.environ)
    # The processes start during the warm-up, from this environment: one-thread pools from
    # their first import on, as the clusters' workers.
    os.environ.update(cluster.ONE_THREAD_ENV)
    try:
        for n, pool in pools.items():  # every process starts (its initializer runs), scans
            list(pool.map(_plain_scan, [str(p) for p in warm[:2 * n]], [out_dir] * (2 * n)))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return pools


def cpu_seconds(client) -> float:
    """CPU time the workers' processes have used so far, all their threads (s)."""
    return sum(client.run(time.process_time).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-control", dest="control", action="store_false",
                        help="skip the control arm (plain processes, no Dask)")
    args = parser.parse_args()
    root = datasets.ensure_local("mitdb")
    paths = [root / name for name in datasets.get("mitdb").records[:args.records]]
    clients, clusters, pools = {}, [], {}
    began = time.perf_counter()
    for n in WORKER_COUNTS:
        local, clients[n] = start(n)
        clusters.append(local)
    plain: dict[int, list[float]] = {n: [] for n in WORKER_COUNTS}
    plain_cpu: dict[int, list[float]] = {n: [] for n in WORKER_COUNTS}
    try:
        # Warm-up: every worker loads the bundle and scans, writing annotation files as the
        # timed batches do (without them, the first timed batch of one worker paid the
        # writing code's first use: 15.2 s against 12.4 s for its second).
        with tempfile.TemporaryDirectory() as warm_out:
            for n, client in clients.items():
                archive.scan_archive(paths[:2 * n], scheduler=client, out_dir=warm_out)
        startup_s = time.perf_counter() - began
        runs: dict[int, list[float]] = {n: [] for n in WORKER_COUNTS}
        cpu: dict[int, list[float]] = {n: [] for n in WORKER_COUNTS}
        tasks_per_worker: dict[int, list[int]] = {}
        record_s: dict[int, list[float]] = {n: [] for n in WORKER_COUNTS}
        ecg_s = 0.0
        with tempfile.TemporaryDirectory() as out:
            if args.control:
                pools = plain_pools(WORKER_COUNTS, paths, out)
            for repeat in range(args.repeats):
                for n, pool in pools.items():
                    # The control arm: the same batch on plain processes, no Dask.
                    t0 = time.perf_counter()
                    done = list(pool.map(_plain_scan, [str(p) for p in paths],
                                         [str(Path(out) / f"plain{n}")] * len(paths)))
                    plain[n].append(time.perf_counter() - t0)
                    plain_cpu[n].append(sum(c for _, c in done))
                    print(f"repeat {repeat + 1}, {n} plain process(es): {plain[n][-1]:.2f} s",
                          flush=True)
                for n, client in clients.items():
                    cpu0, t0 = cpu_seconds(client), time.perf_counter()
                    table, failures = archive.scan_archive(paths, scheduler=client,
                                                           out_dir=Path(out) / str(n))
                    runs[n].append(time.perf_counter() - t0)
                    cpu[n].append(cpu_seconds(client) - cpu0)
                    if not failures.empty or not table["bundle_reused"].all():
                        raise SystemExit(f"unexpected failures or bundle reloads:\n{failures}")
                    ecg_s = float(table["duration_s"].sum())
                    tasks_per_worker[n] = sorted(table["worker"].value_counts().tolist())
                    # Each record's own scan time: the same for 1 and 2 workers unless they
                    # compete for cores.
                    record_s[n].extend(table["seconds"].tolist())
                    print(f"repeat {repeat + 1}, {n} worker(s): {runs[n][-1]:.2f} s, workers' "
                          f"CPU {cpu[n][-1]:.2f} s", flush=True)
        workers = {n: worker_state(client) for n, client in clients.items()}
    finally:
        for pool in pools.values():
            pool.shutdown()
        for client in clients.values():
            client.close()
        for local in clusters:
            local.close()
    rows = []
    for n in WORKER_COUNTS:
        best = min(runs[n])
        rows.append({"workers": n, "threads_per_worker": 1, "seconds": [round(s, 2) for s in
                                                                         runs[n]],
                     "best_s": round(best, 2), "median_s": round(statistics.median(runs[n]), 2),
                     "records_per_s": round(len(paths) / best, 2),
                     "realtime_factor": round(ecg_s / best, 1),
                     # Load-independent: the work done, and the cores it kept busy.
                     "worker_cpu_s": [round(c, 2) for c in cpu[n]],
                     "cores_busy": [round(c / s, 2) for c, s in zip(cpu[n], runs[n],
                                                                   strict=True)],
                     "median_record_scan_s": round(statistics.median(record_s[n]), 3),
                     "tasks_per_worker": tasks_per_worker[n], "worker_state": workers[n]})
    speedup = rows[0]["best_s"] / rows[1]["best_s"]
    control = None
    if args.control:
        control = {"seconds": {str(n): [round(x, 2) for x in plain[n]] for n in WORKER_COUNTS},
                   "task_cpu_s": {str(n): [round(x, 2) for x in plain_cpu[n]]
                                  for n in WORKER_COUNTS},
                   "speedup_2_vs_1": round(min(plain[1]) / min(plain[2]), 2),
                   "per_repeat": [f"{a / b:.2f}" for a, b in zip(plain[1], plain[2],
                                                                  strict=True)],
                   "dask_1_worker_vs_plain_1": round(rows[0]["best_s"] / min(plain[1]), 3)}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    payload = {"machine": platform.processor() or platform.machine(), "cores": cores,
               "load_average_1min_at_end": round(os.getloadavg()[0], 2),
               "records": [p.name for p in paths], "ecg_hours": round(ecg_s / 3600, 2),
               "repeats": args.repeats, "startup_and_warmup_s": round(startup_s, 1),
               "rows": rows, SPEEDUP_KEY: round(speedup, 2), "plain_processes": control,
               "speedup_per_repeat": [round(a / b, 2) for a, b in
                                      zip(runs[1], runs[2], strict=True)]}
    # The published folder, where bench_all.py (make bench) reads this report back.
    out = config.published_dir()
    atomic_write_json(out / "benchmarks-archive.json", payload)
    lines = ["# Archive scanning on Dask (benchmarks/bench_archive.py)", "",
             f"{len(paths)} mitdb records ({ecg_s / 3600:.1f} h of real ECG), packaged bundle, "
             f"annotation files written; local clusters of single-threaded worker processes "
             f"(TensorFlow/BLAS one thread each) on {cores} core(s), load average "
             f"{payload['load_average_1min_at_end']} at the end; runs interleaved 1, 2, 1, 2; "
             "best of the repeats.", "",
             "| workers | seconds (each repeat) | best s | records/s | x real time | "
             "workers' CPU s | cores busy | median s per record | tasks per worker |",
             "|---:|---|---:|---:|---:|---|---|---:|---|"]
    lines += [f"| {r['workers']} | {', '.join(f'{s:.2f}' for s in r['seconds'])} | "
              f"{r['best_s']:.2f} | {r['records_per_s']:.2f} | {r['realtime_factor']:,.0f} | "
              f"{', '.join(f'{c:.1f}' for c in r['worker_cpu_s'])} | "
              f"{', '.join(f'{c:.2f}' for c in r['cores_busy'])} | "
              f"{r['median_record_scan_s']:.3f} | {r['tasks_per_worker']} |" for r in rows]
    lines += ["", f"`{SPEEDUP_KEY}` = **{speedup:.2f}** (per repeat: "
              f"{', '.join(map(str, payload['speedup_per_repeat']))}); clusters started and "
              f"warmed up in {startup_s:.0f} s (not timed)."]
    if control:
        lines += ["", "Control arm, the machine's own ceiling: the same batch on a pool of plain "
                  "processes (`concurrent.futures`, no Dask; each warmed up the same way), "
                  f"interleaved with the clusters: 1 process {min(plain[1]):.2f} s, 2 processes "
                  f"{min(plain[2]):.2f} s, speed-up **{control['speedup_2_vs_1']:.2f}** "
                  f"(per repeat: {', '.join(control['per_repeat'])}). "
                  f"One Dask worker takes {control['dask_1_worker_vs_plain_1']:.3f}x one plain "
                  "process's time. Where the plain pool's speed-up is no better than Dask's, "
                  "the cores, not Dask, set the limit."]
    busiest = max(max(r["cores_busy"]) for r in rows)
    if busiest < 0.9 * WORKER_COUNTS[-1]:
        # The workers never had the cores they asked for: the ratio measures the machine's
        # other load, not how the scan scales.
        lines += ["", f"**Shared machine**: the workers kept at most {busiest:.2f} core(s) busy "
                  f"(of {WORKER_COUNTS[-1]} asked for), so this ratio is not a scaling "
                  "measurement; the CPU seconds per batch show the work itself."]
    atomic_write_text(out / "benchmarks-archive.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
