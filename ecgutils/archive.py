"""Scan an archive of WFDB recordings on a Dask cluster: one task per record.

:func:`scan_archive` sends every record to a ``dask.distributed`` cluster — a
:class:`~distributed.LocalCluster` on this machine by default, or a running cluster given by
its scheduler address — where one task scans it with :func:`ecgutils.detect.scan` (the same
code, bundle and settings as ``ecg-af scan``) and writes its annotation file. The rows come
back as one table in the order of the records given; a record that fails (no such file, NaN
samples, too short, ...) is a row of the failures table with its error, and the others are
scanned all the same.

Each worker loads the model bundle once, when it joins (:class:`BundlePlugin`), and every
task on it reuses that object (the table's ``bundle_reused`` column says so). Each worker
runs TensorFlow and BLAS on one thread, so that N single-threaded workers use about N cores
rather than N x all of them.

With ``--scheduler`` the record paths and the output folder must be visible to the workers
under the same names (a shared file system).

The command line is ``python -m ecgutils.archive RECORD ... [--scheduler ADDRESS]
[--workers N] [--out-dir DIR] [--csv FILE]``; see :func:`main`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
from distributed import WorkerPlugin

from ecgutils import cluster
from ecgutils.errors import ECGDataError

PLUGIN_NAME = "ecgutils-bundle"
DEFAULT_EXTENSION = "afx"  # ecgutils.detect.DEFAULT_EXTENSION, without importing TensorFlow
FAILURE_COLUMNS = ["record", "path", "error", "message"]

# Workers of a threaded local cluster share one process and so one bundle cache: the first
# to set up loads the bundle, the others wait for it instead of loading it again.
_SETUP_LOCK = threading.Lock()
# Per process: bundle folder -> (setups so far, seconds the first one, the loading one, took).
_SETUPS: dict[str | None, tuple[int, float]] = {}


def _record_name(path: str | os.PathLike) -> str:
    """The record name :func:`ecgutils.records.read_path` gives ``path``."""
    path = Path(path)
    return path.stem if path.suffix.lower() in (".hea", ".dat", ".mat") else path.name


class BundlePlugin(WorkerPlugin):
    """Worker plugin: load the model bundle once per worker and warm it up.

    Parameters
    ----------
    model : path or None
        Bundle folder as the workers see it; None is the packaged bundle.
    pin : bool
        Pin the worker's BLAS and TensorFlow to one thread
        (:func:`ecgutils.cluster.pin_threads`). Off for a threaded local cluster, whose
        workers live in the caller's own process.

    Attributes set on the worker's copy by :meth:`setup` (:meth:`load`): ``bundle``,
    ``load_s`` (seconds this setup took), ``first_load_s`` (the process's first setup, the
    one that loaded the bundle), ``setups`` (how many this process has run: each
    :func:`scan_archive` registers the plugin again, and finds the bundle already loaded),
    ``threads`` (what :func:`ecgutils.cluster.pin_threads` left in force).
    """

    name = PLUGIN_NAME

    def __init__(self, model: str | None = None, pin: bool = True):
        self.model = model
        self.pin = pin
        self.bundle = None
        self.load_s = self.first_load_s = math.nan
        self.setups = 0
        self.threads: dict[str, int | None] = {}

    async def setup(self, worker: Any = None) -> None:
        # Loading takes seconds (TensorFlow, the models): off the worker's event loop, which
        # must keep answering the scheduler's heartbeats meanwhile.
        await asyncio.to_thread(self.load)

    def load(self) -> None:
        """Pin the threads, load the bundle, run one prediction (synchronously)."""
        import numpy as np

        from ecgutils import detect

        began = time.perf_counter()
        with _SETUP_LOCK:
            if self.pin:
                self.threads = cluster.pin_threads()
            self.bundle = detect.bundle_at(self.model)
            s = self.bundle.settings
            # One prediction traces TensorFlow's graph here, not inside the first record.
            self.bundle.predict(np.zeros((1, s.window_samples)),
                                np.zeros((1, len(s.rr_features))))
            self.load_s = time.perf_counter() - began
            setups, first = _SETUPS.get(self.model, (0, self.load_s))
            _SETUPS[self.model] = (setups + 1, first)
            self.setups, self.first_load_s = setups + 1, first

    def __getstate__(self) -> dict[str, Any]:
        # The plugin travels to the workers before setup: never with a loaded bundle.
        return {"model": self.model, "pin": self.pin}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)


def _worker_plugin(model: str | None) -> BundlePlugin:
    """This worker's :class:`BundlePlugin`, set up here if the worker has none (a worker
    that joined an unusual cluster without plugins)."""
    from distributed import get_worker

    worker = get_worker()
    plugin = worker.plugins.get(PLUGIN_NAME)
    if plugin is None or plugin.bundle is None or plugin.model != model:
        plugin = BundlePlugin(model, pin=True if plugin is None else plugin.pin)
        plugin.load()
        worker.plugins[PLUGIN_NAME] = plugin
    return plugin


def scan_one(path: str, model: str | None = None, lead: str | int | None = None,
             extension: str | None = DEFAULT_EXTENSION, out_dir: str | None = None,
             **options: Any) -> dict[str, Any]:
    """One task: scan one record on a worker with :func:`ecgutils.detect.scan` (``options``:
    its ``reference``, ``plot_dir``, ``stream``, ``chunk_s``).

    Returns ``{"ok": True, "row": {...}}`` with the scan's row (plus ``worker``,
    ``bundle_reused``, ``task_s``), or ``{"ok": False, ...}`` with the error's type and
    message: a bad record is a result, not an exception, so the scheduler neither retries
    it nor logs a traceback. The annotation file is written by
    :func:`ecgutils.ec57.write_annotations`, which renames a finished file into place.
    """
    from distributed import get_worker

    from ecgutils import detect

    began = time.perf_counter()
    plugin = _worker_plugin(model)
    try:
        bundle = detect.bundle_at(model)
        table = detect.scan([path], model=model, lead=lead, extension=extension,
                            out_dir=out_dir, show_progress=False, **options)
    except Exception as exc:  # noqa: BLE001 - any one record's failure is reported, not raised
        return {"ok": False, "record": _record_name(path), "path": str(path),
                "error": type(exc).__name__, "message": str(exc)}
    row = table.iloc[0].to_dict()
    row.update({"worker": get_worker().address, "bundle_reused": bundle is plugin.bundle,
                "task_s": round(time.perf_counter() - began, 3)})
    return {"ok": True, "row": row}


def scan_archive(
    records: list[str | os.PathLike] | str | os.PathLike,
    *,
    scheduler: Any = None,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    processes: bool = True,
    out_dir: str | os.PathLike | None = None,
    model: str | os.PathLike | None = None,
    lead: str | int | None = None,
    extension: str | None = DEFAULT_EXTENSION,
    reference: str | None = None,
    plot_dir: str | os.PathLike | None = None,
    stream: bool = False,
    chunk_s: float = 1.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scan many WFDB records on a Dask cluster, one task per record.

    Parameters
    ----------
    records : path or list of paths
        Records without extension (``data/raw/mitdb/203``), as in :func:`ecgutils.detect.scan`.
    scheduler : str or distributed.Client, optional
        A running cluster's scheduler address (``tcp://host:8786``), or a client to use (it
        is left open). Default: a :class:`~distributed.LocalCluster` for this call only.
    n_workers : int, optional
        Workers of the local cluster (default: one per core, at most one per record). Not
        allowed with ``scheduler``: a running cluster has its own.
    threads_per_worker : int
        Tasks each local worker runs at once (each on one TensorFlow/BLAS thread).
    processes : bool
        Local workers in their own processes (True: they run in parallel); False keeps them
        as threads of this process (quick to start, but they share its interpreter).
    out_dir : path, optional
        Folder for the annotation files; default beside each record.
    model : path, optional
        Bundle folder; default the packaged release bundle.
    lead : str or int, optional
        Lead name or index (default the bundle's preferred leads, else signal 0).
    extension : str or None
        Annotation file ``<record>.<extension>`` per record; None writes none.
    reference, plot_dir, stream, chunk_s
        As in :func:`ecgutils.detect.scan` (EC57 scoring, figures, live replay).

    Returns
    -------
    table : pandas.DataFrame
        One row per scanned record in the order given: :func:`ecgutils.detect.scan`'s
        columns plus ``worker`` (its address), ``bundle_reused`` (the task scanned with the
        bundle its worker loaded at setup) and ``task_s`` (the task's wall time).
    failures : pandas.DataFrame
        ``record, path, error, message`` of each record that could not be scanned.

    Raises
    ------
    ValueError
        No records, two records that would write the same annotation file, bad worker
        counts, or ``n_workers`` with ``scheduler``.
    ECGDataError
        The output folder cannot be created or written to; BundleError (a subclass) when the
        workers cannot load the bundle.
    """
    from distributed import as_completed

    paths = [records] if isinstance(records, str | os.PathLike) else list(records)
    if not paths:
        raise ValueError("no records to scan")
    if threads_per_worker < 1 or (n_workers is not None and n_workers < 1):
        raise ValueError("n_workers and threads_per_worker must be at least 1")
    if scheduler is not None and n_workers is not None:
        raise ValueError("n_workers applies to a local cluster; a scheduler has its own "
                         "workers")
    if extension:
        _check_targets(paths, out_dir)
    model = None if model is None else str(Path(model).expanduser().resolve())
    out = None if out_dir is None else str(Path(out_dir).expanduser().resolve())

    # Only a worker process of its own is pinned: a threaded local worker would pin the
    # caller's own process.
    pin = processes or scheduler is not None
    local = None
    if scheduler is None:
        local = n_workers or max(1, min(cluster.cpu_count(), len(paths)))
    with cluster.connect(scheduler, n_workers=local, threads_per_worker=threads_per_worker,
                         processes=processes) as client:
        # Registered on every call, so that a bundle that cannot be loaded fails here, at
        # once (BundleError); on a cluster used again this is cheap, since each worker
        # process keeps its loaded bundles (ecgutils.detect.bundle_at).
        client.register_plugin(BundlePlugin(model, pin=pin), name=PLUGIN_NAME)
        futures = client.map(scan_one, [str(p) for p in paths], model=model, lead=lead,
                             extension=extension, out_dir=out, reference=reference,
                             plot_dir=None if plot_dir is None else str(Path(plot_dir).resolve()),
                             stream=stream, chunk_s=chunk_s, pure=False,
                             key=[f"scan-{i}-{_record_name(p)}" for i, p in enumerate(paths)])
        index = {f.key: i for i, f in enumerate(futures)}
        done: dict[int, dict[str, Any]] = {}
        for future in as_completed(futures):
            i = index[future.key]
            if future.status == "finished":
                done[i] = future.result()
            else:  # the task itself died (its worker killed, say): still one record's fault
                exc = future.exception()
                done[i] = {"ok": False, "record": _record_name(paths[i]),
                           "path": str(paths[i]), "error": type(exc).__name__,
                           "message": str(exc)}
            future.release()
    ordered = [done[i] for i in range(len(paths))]
    table = pd.DataFrame([r["row"] for r in ordered if r["ok"]])
    failures = pd.DataFrame([{c: r[c] for c in FAILURE_COLUMNS} for r in ordered
                             if not r["ok"]], columns=FAILURE_COLUMNS)
    return table, failures


def _check_targets(paths: list[str | os.PathLike], out_dir: str | os.PathLike | None) -> None:
    """Before any task runs: the output folder is writable, and no two records write the
    same annotation file (two ``100`` records from different folders into one ``out_dir``)."""
    if out_dir is not None:
        from ecgutils import detect  # here: the client imports TensorFlow only when it must

        detect.ensure_writable(Path(out_dir).expanduser())
    seen: dict[Path, str] = {}
    for path in paths:
        folder = Path(out_dir) if out_dir is not None else Path(path).expanduser().parent
        target = folder.expanduser().resolve() / _record_name(path)
        if target in seen:
            raise ValueError(f"records {seen[target]} and {path} would write the same "
                             f"annotation file {target}.<ext>")
        seen[target] = str(path)


def main(argv: list[str] | None = None) -> int:
    """``python -m ecgutils.archive RECORD [RECORD ...]``: scan on a Dask cluster, print one
    line per record and each failure; exit 0 when all were scanned, 1 when some failed (the
    others are scanned and written all the same), 2 on bad arguments or a cluster or output
    folder that cannot be used."""
    args = _parse_args(argv)
    began = time.perf_counter()
    try:
        table, failures = scan_archive(
            args.records, scheduler=args.scheduler, n_workers=args.workers,
            threads_per_worker=args.threads_per_worker, out_dir=args.out_dir,
            model=args.model, lead=args.lead,
            extension=None if args.no_annotations else args.ext)
    except (ECGDataError, ValueError, OSError) as exc:
        print(f"ecgutils.archive: error: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - began
    for row in table.to_dict("records"):
        print(f"{row['record']}: AF probability {row['record_prob']:.3f} "
              f"({'AF' if row['af'] else 'no AF'}), AF burden {100 * row['af_burden']:.1f} %, "
              f"{row['n_episodes']} episode(s)"
              + (f"; {row['annotation']}" if "annotation" in row else ""))
    for row in failures.to_dict("records"):
        print(f"FAILED {row['path']}: {row['error']}: {row['message']}", file=sys.stderr)
    hours = table["duration_s"].sum() / 3600 if len(table) else 0.0
    print(f"scanned {len(table)} of {len(args.records)} record(s), {hours:.1f} h of ECG, in "
          f"{wall:.1f} s", file=sys.stderr)
    if args.csv:
        table.to_csv(args.csv, index=False)
    if args.failures:
        failures.to_csv(args.failures, index=False)
    return 1 if len(failures) else 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ecgutils.archive",
        description="Scan many WFDB recordings for AF on a Dask cluster, one task per record "
        "(research use, not a medical device).")
    parser.add_argument("records", nargs="+", help="record paths without extension")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. "
                        "tcp://10.0.0.5:8786 (default: a local cluster for this run)")
    parser.add_argument("--workers", type=int, help="local cluster workers (default: one per "
                        "core); not with --scheduler")
    parser.add_argument("--threads-per-worker", type=int, default=1,
                        help="records each local worker scans at once (default 1)")
    parser.add_argument("--model", help="model bundle folder (default: the packaged one)")
    parser.add_argument("--lead", help="lead name or 0-based index")
    parser.add_argument("--ext", default=DEFAULT_EXTENSION,
                        help=f"annotation file extension (default {DEFAULT_EXTENSION})")
    parser.add_argument("--out-dir", help="folder for the annotation files (default: beside "
                        "each record)")
    parser.add_argument("--no-annotations", action="store_true", help="write no annotation file")
    parser.add_argument("--csv", metavar="FILE", help="write the results table as CSV")
    parser.add_argument("--failures", metavar="FILE", help="write the failed records as CSV")
    args = parser.parse_args(argv)
    if args.lead is not None and args.lead.isdigit():
        args.lead = int(args.lead)
    if args.workers is not None and args.scheduler:
        parser.error("--workers sets the local cluster's size; not with --scheduler")
    if (args.workers is not None and args.workers < 1) or args.threads_per_worker < 1:
        parser.error("--workers and --threads-per-worker must be at least 1")
    return args


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: tasks and plugins defined in
    # __main__ would be pickled by value (with its lock) instead of imported by the workers.
    from ecgutils.archive import main as _main

    sys.exit(_main())
