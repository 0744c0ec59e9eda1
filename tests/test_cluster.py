"""Dask clusters for independent jobs (ecgutils.cluster)."""

import os

import pytest

from ecgutils import cluster


def _square_with_pid(value):
    return value * value, os.getpid()


def _refuse(value):
    if value == 2:
        raise ValueError(f"job {value} refused")
    return value


def test_one_worker_runs_the_jobs_here_in_order():
    results = cluster.run_jobs(_square_with_pid, [(3,), (1,), (2,)], "jobs", workers=1)
    assert [square for square, _ in results] == [9, 1, 4]
    assert {pid for _, pid in results} == {os.getpid()}


def test_jobs_on_a_local_cluster_come_back_in_order_from_other_processes():
    ours = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    with cluster.connect(n_workers=2) as client:
        results = cluster.run_jobs(_square_with_pid, [(n,) for n in range(6)], "jobs",
                                   scheduler=client)
        assert [square for square, _ in results] == [n * n for n in range(6)]
        assert os.getpid() not in {pid for _, pid in results}
        with pytest.raises(ValueError, match="job 2 refused"):
            cluster.run_jobs(_refuse, [(1,), (2,), (3,)], "jobs", scheduler=client)
        # The local workers run without Dask's statistical profiler (LOCAL_CLUSTER_CONFIG),
        # while this process keeps Dask's own default.
        assert set(client.run(_profiler_enabled).values()) == {False}
        # ... and without Dask's MALLOC_TRIM_THRESHOLD_=65536 (its own default for workers):
        # they inherit whatever this process has.
        assert set(client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == {ours}
    assert _profiler_enabled() is True
    assert os.environ.get("MALLOC_TRIM_THRESHOLD_") == ours


def _profiler_enabled():
    import dask

    return dask.config.get("distributed.worker.profile.enabled")


def test_fold_workers_read_the_environment_and_refuse_nonsense(monkeypatch):
    monkeypatch.delenv(cluster.WORKERS_ENV, raising=False)
    monkeypatch.delenv(cluster.SCHEDULER_ENV, raising=False)
    assert cluster.fold_workers() == (1, None)
    monkeypatch.setenv(cluster.WORKERS_ENV, "3")
    monkeypatch.setenv(cluster.SCHEDULER_ENV, "tcp://10.0.0.1:8786")
    assert cluster.fold_workers() == (3, "tcp://10.0.0.1:8786")
    for bad in ("0", "two"):
        monkeypatch.setenv(cluster.WORKERS_ENV, bad)
        with pytest.raises(ValueError, match=f"{cluster.WORKERS_ENV}='{bad}'"):
            cluster.fold_workers()


def test_worker_thread_limits_cover_tensorflow_and_blas():
    env = cluster.thread_env(3)
    assert env["TF_NUM_INTRAOP_THREADS"] == env["OMP_NUM_THREADS"] == "3"
    assert cluster.ONE_THREAD_ENV["TF_NUM_INTRAOP_THREADS"] == "1"
    with pytest.raises(ValueError, match="at least 1"):
        cluster.thread_env(0)
    with pytest.raises(ValueError, match="not both|has its own"):
        with cluster.connect("tcp://127.0.0.1:1", n_workers=2):
            pass
