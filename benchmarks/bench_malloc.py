"""What TensorFlow's malloc setting costs a fit, and what putting it back buys.

    .venv/bin/python benchmarks/bench_malloc.py [--repeats 3] [--records 1200] [--epochs 2]

TensorFlow 2.21 lowers glibc's trim threshold (and with it the mmap threshold) to 128 kB the
first time a process builds a generator dataset, which Keras does for every ``PyDataset``
(:func:`ecgutils.cluster.malloc_thresholds_back` explains why that costs kernel time). Two arms,
each fit in a fresh process so that neither inherits the other's heap, interleaved
``--repeats`` times:

* ``tensorflow_default`` — :class:`ecgutils.train.Batches` leaves the thresholds where
  TensorFlow put them;
* ``thresholds_back`` — the package as it is: every batch puts them back.

Each process fits the 5-block cnn1d for one epoch first (TensorFlow applies its setting there;
not timed), then ``--epochs`` epochs on the same windows (timed: wall, user and kernel CPU,
minor page faults). The windows are real CinC 2017 records (the first ``--records``, one
centred 20-s window each, 80 % trained on). Best of the repeats per arm; the ratio is the
default arm's wall time over the other's. Writes reports/benchmarks-malloc.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgutils import config  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

ARMS = ("tensorflow_default", "thresholds_back")


def one_fit(arm: str, records: int, epochs: int) -> dict[str, float]:
    """The child process: the warm-up fit, then the timed one."""
    import resource
    import time

    import numpy as np

    from ecgutils import cluster, experiments, preprocess, train

    if arm == "tensorflow_default":
        cluster.malloc_thresholds_back = lambda: False  # what Batches calls
    entry = preprocess.build(preprocess.default_params("cinc2017", max_records=records))
    manifest, y, _ = experiments.labelled(entry)
    X = np.asarray(experiments.model_inputs(entry, "cnn1d").take(manifest.index.to_numpy()))
    build = experiments.model_builder("cnn1d", entry)
    cut = int(0.8 * len(y))
    train.fit(build, X[:cut], y[:cut], X[cut:], y[cut:], train.TrainConfig(epochs=1, seed=1))
    before, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    train.fit(build, X[:cut], y[:cut], X[cut:], y[cut:],
              train.TrainConfig(epochs=epochs, seed=1))
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall_s": wall, "user_s": after.ru_utime - before.ru_utime,
            "kernel_s": after.ru_stime - before.ru_stime,
            "minor_faults": after.ru_minflt - before.ru_minflt,
            "train_windows": cut * epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--records", type=int, default=1200)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--child", choices=ARMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_fit(args.child, args.records, args.epochs)))
        return
    runs: dict[str, list[dict[str, float]]] = {arm: [] for arm in ARMS}
    for repeat in range(args.repeats):
        for arm in ARMS:
            out = subprocess.run(
                [sys.executable, __file__, "--child", arm, "--records", str(args.records),
                 "--epochs", str(args.epochs)], check=True, capture_output=True, text=True,
                env=dict(os.environ, TQDM_DISABLE="1"))
            runs[arm].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"repeat {repeat + 1} {arm}: {runs[arm][-1]}", flush=True)
    best = {arm: min(rows, key=lambda r: r["wall_s"]) for arm, rows in runs.items()}
    payload = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                          f"Python {platform.python_version()}",
               "records": args.records, "epochs": args.epochs, "repeats": args.repeats,
               "runs": runs, "best": best,
               "wall_ratio_default_vs_back": best["tensorflow_default"]["wall_s"]
               / best["thresholds_back"]["wall_s"]}
    out_dir = config.published_dir()
    atomic_write_json(out_dir / "benchmarks-malloc.json", payload)
    atomic_write_text(out_dir / "benchmarks-malloc.md", markdown(payload))
    print(markdown(payload))


def markdown(p: dict) -> str:
    lines = ["# TensorFlow's malloc setting and a cnn1d fit (`benchmarks/bench_malloc.py`)", "",
             f"Machine: {p['machine']}. cnn1d, {p['epochs']} epoch(s) on "
             f"{p['best']['thresholds_back']['train_windows'] // p['epochs']} real CinC 2017 "
             f"windows, after a one-epoch warm-up fit in the same fresh process; best of "
             f"{p['repeats']} interleaved repeats per arm.", "",
             "| arm | wall (s) | user CPU (s) | kernel CPU (s) | minor page faults | "
             "windows/s |", "|---|---:|---:|---:|---:|---:|"]
    for arm, row in p["best"].items():
        lines.append(f"| {arm} | {row['wall_s']:.2f} | {row['user_s']:.2f} | "
                     f"{row['kernel_s']:.2f} | {row['minor_faults']:,} | "
                     f"{row['train_windows'] / row['wall_s']:.0f} |")
    lines += ["", f"Wall time, TensorFlow's setting over the thresholds put back: "
                  f"**{p['wall_ratio_default_vs_back']:.2f}x**. Every repeat: "
              + "; ".join(f"{arm} " + ", ".join(f"{r['wall_s']:.1f}" for r in rows)
                          for arm, rows in p["runs"].items()) + " s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
