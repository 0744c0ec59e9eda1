"""Dask clusters for the study's independent jobs: records of an archive, folds of a CV.

:func:`connect` gives a ``dask.distributed`` client — to a running cluster named by its
scheduler address, or to a :class:`~distributed.LocalCluster` made for the block — and
:func:`run_jobs` runs a list of independent jobs on it (or here, one after the other, when
one worker is asked for) and returns their results in order. Local worker processes get
thread limits in their environment before they start, so that N workers share the cores
instead of each one starting a thread per core.

Which cluster the cross-validation folds use is set by ``run_all.py --parallel N`` (or
``--scheduler ADDRESS``), through :data:`WORKERS_ENV` and :data:`SCHEDULER_ENV`, which the
notebooks' kernels inherit (:func:`fold_workers`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from ecgutils.progress import progress

WORKERS_ENV = "ECGUTILS_FOLD_WORKERS"
SCHEDULER_ENV = "ECGUTILS_SCHEDULER"

# Set in a local worker process before it starts, so that TensorFlow and NumPy's BLAS create
# one-thread pools from the outset (TensorFlow reads these only when it initialises).
ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


# Dask settings of the local clusters made here, measured on the scanner (bench_archive.py's
# control arm, the same batch in plain processes):
# * Dask starts its worker processes with MALLOC_TRIM_THRESHOLD_=65536 (its
#   ``distributed.nanny.pre-spawn-environ``, against memory fragmentation in long-lived
#   workers). In a task thread's malloc arena that returns and re-faults memory on almost
#   every NumPy array freed: 1.3-1.5 s of kernel time per 8 mitdb records scanned (user 5.3 s),
#   against 0.2 s without it. The workers here keep glibc's own dynamic thresholds instead
#   (a task's memory ends with its record).
# * No statistical profiler in the workers: it samples every task thread's stack every 10 ms
#   for the dashboard's profile page.
# A cluster of your own: start its workers without MALLOC_TRIM_THRESHOLD_ (set
# distributed.nanny.pre-spawn-environ without it) and with
# DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False.
LOCAL_CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False}
DROPPED_WORKER_ENV = ("MALLOC_TRIM_THRESHOLD_",)


# glibc's mallopt parameters (malloc.h) and where its dynamic thresholds end up on 64-bit.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MALLOC_THRESHOLDS = {"mmap": 32 * 1024 * 1024, "trim": 64 * 1024 * 1024}


def malloc_thresholds_back() -> bool:
    """Undo TensorFlow's process-wide malloc setting; False where there is no glibc.

    TensorFlow 2.21 sets glibc's ``M_TRIM_THRESHOLD`` to 128 kB the first time a process
    builds a generator dataset ("Memory patch applied" in its log), which Keras does for every
    ``PyDataset`` — :class:`ecgutils.train.Batches`, so every fit and prediction here.
    Setting it also fixes glibc's mmap threshold, which otherwise grows with the program's large
    blocks, at 128 kB: every batch-sized array (64 windows are 1.3 MB) is then mapped and
    unmapped again, page by page. ``benchmarks/bench_malloc.py`` (a 2-epoch cnn1d fit of 960
    CinC windows): 6.7 s of kernel time and 1.8 M page faults beside 14-16 s user; with the
    thresholds put back (where glibc's own dynamic ones end up: mmap 32 MiB, trim 64 MiB)
    0.6-0.7 s and about 0.1 M, and 1.39-1.58x less wall time over two runs. The same kind of
    cost as Dask's ``MALLOC_TRIM_THRESHOLD_`` (:data:`DROPPED_WORKER_ENV`). ``Batches`` calls
    this with every batch (a call costs well under a microsecond), so it follows the patch
    wherever TensorFlow applies it.
    """
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MALLOC_THRESHOLDS["mmap"])
                and libc.mallopt(_M_TRIM_THRESHOLD, MALLOC_THRESHOLDS["trim"]))


@lru_cache(maxsize=1)
def _libc() -> Any:
    """The C library, where it has ``mallopt`` (glibc); None elsewhere."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "mallopt") else None


def local_cluster(n_workers: int, threads_per_worker: int = 1, processes: bool = True,
                  env: dict[str, str] | None = None) -> Any:
    """A :class:`~distributed.LocalCluster` with :data:`LOCAL_CLUSTER_CONFIG`, Dask's worker
    environment without :data:`DROPPED_WORKER_ENV`, no dashboard; ``env``: its worker
    processes' environment (processes only)."""
    import dask
    from distributed import LocalCluster

    extra = {"env": env} if processes and env else {}
    pre_spawn = {key: value for key, value in
                 dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
                 if key not in DROPPED_WORKER_ENV}
    with dask.config.set({**LOCAL_CLUSTER_CONFIG,
                          "distributed.nanny.pre-spawn-environ": pre_spawn}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                            processes=processes, dashboard_address=":0",
                            scheduler_kwargs={"dashboard": False}, **extra)


def cpu_count() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_env(threads: int) -> dict[str, str]:
    """:data:`ONE_THREAD_ENV` with ``threads`` threads per pool instead of one."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    return {key: (value if key == "TF_CPP_MIN_LOG_LEVEL" else str(threads))
            for key, value in ONE_THREAD_ENV.items()}


def pin_threads() -> dict[str, int | None]:
    """Limit this process's BLAS and TensorFlow thread pools to one thread each.

    Returns the thread counts now in force (``tf_intra_op``, ``tf_inter_op``); TensorFlow's
    can no longer change once it has run an operation, and then the ``TF_NUM_*_THREADS``
    variables it started with decide them.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # kept for the life of the process, not a with-block
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already initialised: its pools are fixed
        pass
    return {"tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads() or None,
            "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads() or None}


@contextmanager
def connect(scheduler: Any = None, n_workers: int | None = None, threads_per_worker: int = 1,
            processes: bool = True, worker_threads: int = 1) -> Iterator[Any]:
    """A ``distributed.Client`` for the block.

    Parameters
    ----------
    scheduler : str or distributed.Client, optional
        A running cluster's address (``tcp://host:8786``), or a client to use (left open).
        Default: a local cluster made for the block and closed after it.
    n_workers : int, optional
        Workers of the local cluster (default: one per core). Not allowed with ``scheduler``.
    threads_per_worker : int
        Tasks each local worker runs at once.
    processes : bool
        Local workers in processes of their own (True), or as threads of this process.
    worker_threads : int
        TensorFlow/BLAS threads of each local worker process (:func:`thread_env`).
    """
    from distributed import Client

    if threads_per_worker < 1 or (n_workers is not None and n_workers < 1):
        raise ValueError("n_workers and threads_per_worker must be at least 1")
    if scheduler is not None and n_workers is not None:
        raise ValueError("n_workers applies to a local cluster; a scheduler has its own "
                         "workers")
    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    # Only a worker process of its own (a Nanny's) takes an environment.
    with local_cluster(n_workers or cpu_count(), threads_per_worker, processes,
                       thread_env(worker_threads)) as local, Client(local) as client:
        yield client


def fold_workers() -> tuple[int, str | None]:
    """(workers, scheduler address) for cross-validation folds, from :data:`WORKERS_ENV` and
    :data:`SCHEDULER_ENV` (default one worker: the folds run here, one after the other)."""
    scheduler = os.environ.get(SCHEDULER_ENV) or None
    raw = os.environ.get(WORKERS_ENV, "1")
    try:
        workers = int(raw)
    except ValueError:
        workers = 0
    if workers < 1:
        raise ValueError(f"{WORKERS_ENV}={raw!r}: expected a whole number of workers, at "
                         "least 1 (run_all.py --parallel N sets it)")
    return workers, scheduler


def run_jobs(job: Callable[..., Any], arguments: Sequence[tuple], label: str,
             workers: int | None = None, scheduler: str | None = None) -> list[Any]:
    """``[job(*a) for a in arguments]``, as independent Dask tasks when there is a cluster.

    Parameters
    ----------
    job : callable
        A module-level function (it travels to the workers by pickling); its arguments must
        pickle too (a :class:`ecgutils.streams.Rows` view of a cache entry travels as a path
        and indices).
    arguments : sequence of tuple
        One tuple of positional arguments per job.
    label : str
        The progress bar's name.
    workers, scheduler : optional
        Default :func:`fold_workers`. One worker and no scheduler: the jobs run in this
        process, in order. Otherwise a local cluster of ``workers`` processes (each with
        ``cores // workers`` TensorFlow threads), or the cluster at ``scheduler``.

    Returns
    -------
    list
        The jobs' results, in the order of ``arguments``. A job that raises stops the run
        with its exception.
    """
    if workers is None and scheduler is None:
        workers, scheduler = fold_workers()
    workers = workers or 1
    if workers == 1 and scheduler is None:
        return [job(*args) for args in progress(list(arguments), label)]
    from distributed import as_completed

    n_jobs = len(arguments)
    local = None if scheduler is not None else min(workers, max(n_jobs, 1))
    with connect(scheduler, n_workers=local,
                 worker_threads=max(1, cpu_count() // (local or 1))) as client:
        futures = [client.submit(job, *args, pure=False, key=f"{label}-{number}")
                   for number, args in enumerate(arguments)]
        index = {future.key: number for number, future in enumerate(futures)}
        results: dict[int, Any] = {}
        for future in progress(as_completed(futures), label, total=n_jobs):
            results[index[future.key]] = future.result()  # raises the job's own error
            future.release()
    return [results[number] for number in range(n_jobs)]
