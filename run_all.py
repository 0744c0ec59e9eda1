#!/usr/bin/env python
"""Run the numbered study notebooks in order with papermill and write the summary.

    python run_all.py                          # default profile, every notebook
    python run_all.py --profile smoke          # the fast CI profile
    python run_all.py --only 01,03 -p records "['201', '202']"
    python run_all.py --data-dir /data/physionet
    python run_all.py --update-notebooks       # developers: refresh nbval-checked outputs
    python run_all.py --only 03b --keep-earlier  # rerun one notebook on top of the last run
    python run_all.py --only 03_,05 --base-run committed  # ... on top of the committed summary
    python run_all.py --summary-only           # rebuild the published run's summary
    python run_all.py --list                   # the run folders
    python run_all.py --prune 3                # delete all but the 3 newest runs per profile
    python run_all.py --parallel 2             # CV folds as jobs on 2 local Dask workers
    python run_all.py --scheduler tcp://host:8786  # ... or on a running Dask cluster
    python run_all.py --notebooks 2            # two notebooks at once where neither needs the other

Each run writes into its own folder, ``reports/runs/<profile>/<run id>/`` (executed notebooks,
metrics, figures, predictions, models, annotations, its summary); see ``ecgutils.runs``. Only
a run that succeeds is published: ``reports/runs/<profile>/LATEST`` names it and, for the
default profile, its summary replaces ``reports/summary.json``/``.md``. A failed or interrupted
run (Ctrl-C, SIGTERM) leaves every earlier output as it was and says where its own are.
A bad profile, notebook, parameter name, type or value stops the run with exit code 2 before
anything is written; a failing cell stops it with exit code 1, naming the notebook and the cell.

``--parallel N`` / ``--scheduler ADDRESS`` run the cross-validation folds of notebooks 03, 03b,
04 and 05 (``ecgutils.train.cross_validate``, ``ecgutils.detector_study``) as jobs on a Dask cluster
(``ecgutils.cluster``); their results merge into the same notebooks and summary.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
NOTEBOOK_DIR = ROOT / "notebooks"
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
# Steps outside the notebooks whose run records and metrics join the summary: the release
# bundle (make model) and the scanner benchmark (make bench-scanner).
STEPS = {"release": ROOT / "ecgutils" / "release.py",
         "bench_scanner": ROOT / "benchmarks" / "bench_scanner.py"}


# With --notebooks N > 1, which notebooks of a run read what another one writes in the same
# run (its predictions, models, the caches it builds first): a notebook starts once those have
# ended ok. Every notebook after 01 and 02 also waits for 02 (the window caches).
NEEDS = {
    "03c_features": ("03b_detector",),  # the detector's 5-s window caches
    "05_leakage_study": ("03_cnn1d", "04_cnn2d"),  # their grouped predictions and models
    "06_ec57_episodes": ("03_cnn1d", "03b_detector", "03c_features", "04_cnn2d"),
    # 03b's detector bundle; 03c's and 03b's in-database metrics (external.in_database).
    "07_external_validation": ("03b_detector", "03c_features"),
}
INDEPENDENT = ("01_explore", "02_preprocess")
CHILD_FLAG = "--run-one-notebook"  # internal: run_all.py's own child processes


@dataclass
class Job:
    notebook: Path
    parameters: dict[str, Any]
    status: str = "not run"
    wall_s: float = 0.0
    error: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    commit: str = ""  # the commit the notebook ran at (or, carried over, an earlier run's)

    @property
    def name(self) -> str:
        return self.notebook.stem


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD_FLAG]:
        return _child(argv[1:])
    args = _parse_args(argv)
    from ecgutils import config, reporting, runs
    from ecgutils.errors import UnknownNameError

    try:
        if args.list or args.prune is not None:
            return _manage_runs(args)
        _fold_jobs(args.parallel, args.scheduler)
        if args.notebooks < 1:
            raise ValueError(f"--notebooks {args.notebooks}: expected at least 1")
        profile = config.profile_name(args.profile)
        jobs = [] if args.summary_only else plan(profile, args.only, args.parameter,
                                                 args.data_dir)
        commit = reporting.git_commit()
        base, base_summary = None, None
        if args.summary_only:
            base = runs.latest(profile)
            if base is None:
                raise ValueError(f"--summary-only: profile {profile!r} has no published run "
                                 f"under {runs.runs_root() / profile}")
        elif args.base_run == runs.COMMITTED_BASE:
            base_summary = runs.committed_summary(profile)
        elif args.keep_earlier or args.base_run:
            base = runs.base_for(profile, commit, args.base_run, args.any_commit)
    except (UnknownNameError, ValueError) as exc:
        print(f"run_all: error: {exc}", file=sys.stderr)
        return 2
    if args.summary_only:
        return _summary_only(profile, base)
    try:
        run = runs.start(profile, commit, ["run_all.py", *argv],
                         base, base_summary)
    except OSError as exc:
        print(f"run_all: error: cannot write this run's outputs under {runs.runs_root()}: "
              f"{exc}\n    point ECGUTILS_REPORTS_DIR at a writable folder with free space",
              file=sys.stderr)
        return 2
    print(f"run {run.run_id} (profile {profile}): outputs in {run.path}"
          + (f", starting from run {base.run_id}" if base else "")
          + (f", starting from the committed {base_summary}" if base_summary else ""),
          flush=True)
    began = time.perf_counter()
    status, failed = _execute_all(run, jobs, args.update_notebooks, args.notebooks)
    # The run's own wall time (its notebooks, up to --notebooks at once), kept in run.json so
    # that a later --summary-only rebuild still shows it.
    run.record.update(elapsed_s=round(time.perf_counter() - began, 1),
                      notebooks_at_once=args.notebooks,
                      notebooks=[job.name for job in jobs if job.status == "ok"])
    summary = _summarise(profile, jobs, run)
    runs.finish(run, status)
    if status == "ok":
        published = runs.publish(run)
        print(f"summary: {summary} and {summary.with_suffix('.md')}\n"
              f"published: {', '.join(str(path) for path in published)}")
        return 0
    print(f"summary of this run: {summary}", file=sys.stderr)
    if failed is not None:
        print(f"run_all: {failed.name} failed: {failed.error}\n"
              f"    executed notebook with the traceback: "
              f"{run.path / 'notebooks' / failed.notebook.name}", file=sys.stderr)
    else:
        print(f"run_all: run {run.run_id} interrupted", file=sys.stderr)
    print(f"    this run's partial outputs: {run.path}\n"
          f"    published results are unchanged ({runs.runs_root() / profile / runs.LATEST}"
          + (", reports/summary.*" if profile == runs.COMMITTED_PROFILE else "") + ")",
          file=sys.stderr)
    return 1 if status == "failed" else 130


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _execute_all(run: Any, jobs: list[Job], update_notebooks: bool,
                 at_once: int = 1) -> tuple[str, Job | None]:
    """Run the jobs in the run's folder, ``at_once`` notebooks at a time (:func:`_execute_many`
    when more than one); SIGTERM and Ctrl-C end the run as interrupted."""
    import signal

    previous = signal.signal(signal.SIGTERM, _interrupt)
    out_dir = run.path / "notebooks"
    try:
        with _run_folder(run):
            out_dir.mkdir(parents=True, exist_ok=True)
            if at_once > 1:
                return _execute_many(run, jobs, update_notebooks, at_once, out_dir)
            for index, job in enumerate(jobs, start=1):
                print(f"[{index}/{len(jobs)}] {job.name} (profile {run.profile})", flush=True)
                if not execute(job, out_dir / job.notebook.name):
                    return "failed", job
                print(f"    done in {job.wall_s:.1f} s, {len(job.metrics)} metric(s)",
                      flush=True)
                if update_notebooks:
                    keep_checked_outputs(out_dir / job.notebook.name, job.notebook)
    except KeyboardInterrupt:
        for job in jobs:
            if job.status == "running":
                job.status = "interrupted"
        return "interrupted", None
    finally:
        signal.signal(signal.SIGTERM, previous)
    return "ok", None


def needs(job: Job, jobs: list[Job]) -> set[str]:
    """The notebooks of ``jobs`` that ``job`` waits for (:data:`NEEDS`)."""
    wanted = set(NEEDS.get(job.name, ()))
    if job.name not in INDEPENDENT:
        wanted.add("02_preprocess")
    return wanted & {other.name for other in jobs} - {job.name}


def _execute_many(run: Any, jobs: list[Job], update_notebooks: bool, at_once: int,
                  out_dir: Path) -> tuple[str, Job | None]:
    """Up to ``at_once`` notebooks at a time, each in a child process of its own (``python
    run_all.py --run-one-notebook``) with cores / ``at_once`` threads per pool
    (:func:`ecgutils.cluster.thread_env`), as soon as what it needs has ended ok; of the
    notebooks ready, the one heading the longest chain of work left goes first
    (:func:`critical_order`, timed by the profile's published run).
    A failing notebook stops the run: the others running stop too (interrupted). Ctrl-C or
    SIGTERM stops every child (KeyboardInterrupt, raised to the caller)."""
    import subprocess

    from ecgutils import cluster

    # Each child's share of the cores for TensorFlow, BLAS and OpenMP: N processes each with
    # a thread per core oversubscribe them (scikit-learn's OpenMP boosting then ran 2.5x
    # slower beside a TensorFlow fit).
    env = dict(os.environ, **cluster.thread_env(max(1, cluster.cpu_count() // at_once)))
    waits = {job.name: needs(job, jobs) for job in jobs}
    pending, running = critical_order(jobs, _published_wall_times(run.profile)), {}
    failed = None
    started = 0
    try:
        while pending or running:
            ready = [job for job in pending
                     if all(dep.status == "ok" for dep in jobs if dep.name in waits[job.name])]
            while failed is None and ready and len(running) < at_once:
                job = ready.pop(0)
                pending.remove(job)
                started += 1
                print(f"[{started}/{len(jobs)}] {job.name} (profile {run.profile}) started",
                      flush=True)
                job.status = "running"
                running[job.name] = (job, subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), CHILD_FLAG,
                     str(job.notebook), str(out_dir / job.notebook.name),
                     json.dumps(job.parameters)], cwd=ROOT, env=env))
            if not running:
                break  # nothing left that can start (a notebook it needs failed)
            time.sleep(0.2)
            for name, (job, process) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[name]
                _read_child(job, process.returncode)
                if job.status != "ok":
                    failed = failed or job
                    continue
                print(f"    {job.name} done in {job.wall_s:.1f} s, {len(job.metrics)} "
                      "metric(s)", flush=True)
                if update_notebooks:
                    keep_checked_outputs(out_dir / job.notebook.name, job.notebook)
            if failed is not None:
                _stop_children(running)
                running.clear()
    except KeyboardInterrupt:
        _stop_children(running)
        raise
    for job in pending:
        job.status = "not run"
    return ("failed", failed) if failed is not None else ("ok", None)


def critical_order(jobs: list[Job], wall_s: dict[str, float]) -> list[Job]:
    """``jobs`` by the longest chain of work each heads (its own wall time plus the longest
    chain of the notebooks that wait for it, :func:`needs`), longest first; ties and jobs
    without a time keep notebook order. With two slots on the default profile this starts
    03 and 04, whose chain ends in 05, before 03b and 03c (notebook order left 05 running
    alone at the end). Without times (no published run) the order is notebook order."""
    if not wall_s:
        return list(jobs)
    fallback = statistics.median(wall_s.values())
    waits = {job.name: needs(job, jobs) for job in jobs}
    chain: dict[str, float] = {}

    def length(name: str) -> float:
        if name not in chain:
            after = [length(other) for other, wanted in waits.items() if name in wanted]
            chain[name] = wall_s.get(name, fallback) + max(after, default=0.0)
        return chain[name]

    return sorted(jobs, key=lambda job: -length(job.name))


def _published_wall_times(profile: str) -> dict[str, float]:
    """Each notebook's wall time in the profile's published run, or, where this checkout has
    no run of the profile (a fresh clone), in the committed ``reports/summary.json`` when it
    is of the same profile; {} when there is neither."""
    from ecgutils import config, runs

    run = runs.latest(profile)
    path = (config.published_dir() / "summary.json") if run is None else run.path / "summary.json"
    if not path.is_file():
        return {}
    try:
        summary = json.loads(path.read_text())
        notebooks = summary["notebooks"] if summary.get("profile") == profile else []
    except (ValueError, KeyError, AttributeError):
        return {}
    return {nb["name"]: float(nb["wall_s"]) for nb in notebooks
            if nb.get("wall_s") and str(nb.get("status", "")).startswith("ok")}


def _stop_children(running: dict[str, tuple[Job, Any]]) -> None:
    """SIGTERM every running child (it ends its kernel and records itself as interrupted)."""
    import subprocess

    for _, process in running.values():
        process.terminate()
    for job, process in running.values():
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        job.status = "interrupted"


def _read_child(job: Job, returncode: int) -> None:
    """Fill in ``job`` from the run record its child process wrote."""
    from ecgutils import reporting

    path = run_record_path(job.name)
    record = json.loads(path.read_text()) if path.is_file() else {}
    job.status = record.get("status", "failed")
    job.wall_s = record.get("wall_s", 0.0)
    job.commit = record.get("commit", "")
    job.error = record.get("error") or (
        "" if job.status == "ok" else f"its process ended with exit code {returncode}")
    job.metrics = reporting.load_metrics(job.name)
    job.tables = reporting.load_tables(job.name)


def _child(argv: list[str]) -> int:
    """One notebook in a child process (:func:`_execute_many`): run it, record how it ended."""
    import signal

    notebook, output, parameters = argv
    signal.signal(signal.SIGTERM, _interrupt)
    job = Job(Path(notebook), json.loads(parameters))
    try:
        return 0 if execute(job, Path(output), progress_bar=False) else 1
    except KeyboardInterrupt:
        return 130


def _fold_jobs(parallel: int | None, scheduler: str | None) -> None:
    """Where the notebooks' CV folds run: ``--parallel N`` local Dask workers or the cluster
    at ``--scheduler``, told to the kernels through the environment they inherit."""
    from ecgutils import cluster

    if parallel is not None and parallel < 1:
        raise ValueError(f"--parallel {parallel}: expected at least 1 worker")
    if parallel is not None and scheduler:
        raise ValueError("give --parallel (workers of a local cluster) or --scheduler (a "
                         "running cluster with its own workers), not both")
    if parallel is not None:
        os.environ[cluster.WORKERS_ENV] = str(parallel)
    if scheduler:
        os.environ[cluster.SCHEDULER_ENV] = scheduler


class _run_folder:  # noqa: N801 - used as a context manager, reads like one
    """Point ``config.reports_dir()`` (this process and the notebooks' kernels, which inherit
    the environment) at the run's folder for the duration of a ``with`` block."""

    def __init__(self, run: Any) -> None:
        self.path = str(run.path)

    def __enter__(self) -> None:
        from ecgutils import config

        self.previous = os.environ.get(config.RUN_DIR_ENV)
        os.environ[config.RUN_DIR_ENV] = self.path

    def __exit__(self, *exc: object) -> None:
        from ecgutils import config

        if self.previous is None:
            os.environ.pop(config.RUN_DIR_ENV, None)
        else:
            os.environ[config.RUN_DIR_ENV] = self.previous


def _summarise(profile: str, jobs: list[Job], run: Any) -> Path:
    """The run's summary: its jobs, the results carried in its folder from the run it started
    from, and the steps' latest results."""
    with _run_folder(run):
        carried = earlier_jobs(profile, jobs, run.path, run.record.get("notebooks", []))
        from_summary, unattributed = committed_jobs(
            run.path, {job.name for job in carried + jobs})
        return write_summary(profile, sorted(carried + from_summary + jobs,
                                             key=lambda job: job.name),
                             run.path, run.run_id, unattributed,
                             elapsed=run_elapsed(run.record))


def run_elapsed(record: dict[str, Any]) -> dict[str, Any] | None:
    """The run's wall time from its ``run.json`` record, and the notebooks it covers: those
    this run executed (not those carried from an earlier run). A record written before runs
    kept ``elapsed_s`` gives its start-to-end time instead (set-up included: seconds) and
    ``--notebooks`` from its command line (read by this script's own parser); None where
    neither is there."""
    if "elapsed_s" in record:
        seconds, at_once = record["elapsed_s"], record.get("notebooks_at_once", 1)
    elif record.get("status") == "ok" and record.get("started") and record.get("ended"):
        seconds = round((dt.datetime.fromisoformat(record["ended"])
                         - dt.datetime.fromisoformat(record["started"])).total_seconds(), 1)
        at_once = _parse_args(record.get("argv", [])[1:]).notebooks
    else:
        return None
    return {"elapsed_s": seconds, "notebooks_at_once": at_once,
            "notebooks": list(record.get("notebooks", []))}


def _summary_only(profile: str, run: Any) -> int:
    """Rebuild the published run's summary (the steps' latest records merged in), republish."""
    from ecgutils import runs

    summary = _summarise(profile, [], run)
    published = runs.publish(run)
    print(f"summary: {summary}\npublished: {', '.join(str(path) for path in published)}")
    return 0


def _manage_runs(args: argparse.Namespace) -> int:
    from ecgutils import config, runs

    profile = config.profile_name(args.profile) if args.profile else None
    if args.prune is not None:
        removed = runs.prune(args.prune, profile)
        print(f"removed {len(removed)} run folder(s)" + "".join(f"\n    {p}" for p in removed))
        return 0
    listed = runs.list_runs(profile)
    print(runs.describe(listed) if listed else f"no runs under {runs.runs_root()}")
    return 0


def plan(
    profile: str,
    only: str | None,
    overrides: list[tuple[str, str]] | None,
    data_dir: str | None,
) -> list[Job]:
    """The notebooks to run with their parameters; raises ValueError on any bad name, on a
    value of the wrong type and on one out of range (``config.check_parameter``)."""
    import papermill

    from ecgutils import config

    notebooks = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]*_*.ipynb"))
    if only:
        wanted = [token.strip() for token in only.split(",") if token.strip()]
        unknown = [t for t in wanted if not any(nb.stem.startswith(t) for nb in notebooks)]
        if unknown:
            raise ValueError(
                f"--only {', '.join(unknown)} matches no notebook; notebooks: "
                + ", ".join(nb.stem for nb in notebooks)
            )
        notebooks = [nb for nb in notebooks if any(nb.stem.startswith(t) for t in wanted)]
    declared = {nb: papermill.inspect_notebook(str(nb)) for nb in notebooks}
    for nb, names in declared.items():
        if "profile" not in names:
            raise ValueError(f"{nb.name} has no 'profile' in its parameters cell")
    values = {name: _literal(text) for name, text in (overrides or [])}
    for name, value in values.items():
        if not any(name in names for names in declared.values()):
            raise ValueError(
                f"unknown parameter {name!r}: no selected notebook declares it; parameters: "
                + ", ".join(sorted(set().union(*declared.values())))
            )
        for nb, names in declared.items():
            if name in names:
                default = _literal(names[name]["default"])
                example, where = (default, f"default in {nb.stem}") if default is not None \
                    else (config.PROFILES[profile].get(name), f"{profile} profile")
                config.check_parameter(name, value, example, where,
                                       none_allowed=default is None)
    if data_dir is not None:
        values["data_dir"] = str(Path(data_dir).expanduser().resolve())
    return [
        Job(nb, {"profile": profile, **{k: v for k, v in values.items() if k in declared[nb]}})
        for nb in notebooks
    ]


def execute(job: Job, output: Path, progress_bar: bool = True) -> bool:
    """Run one notebook; fill in the job's status, wall time, metrics and error."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from ecgutils import reporting

    job.commit = reporting.git_commit()  # the code the notebook runs with, even if HEAD moves
    reporting.metrics_path(job.name).unlink(missing_ok=True)  # no stale numbers
    reporting.tables_path(job.name).unlink(missing_ok=True)
    job.status = "running"
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(job.notebook),
            str(output),
            parameters=job.parameters,
            cwd=str(job.notebook.parent),
            kernel_name="python3",
            progress_bar=progress_bar,
        )
        job.status = "ok"
    except PapermillExecutionError as exc:
        job.status = "failed"
        first_line = next((line for line in exc.source.splitlines() if line.strip()), "")
        job.error = (
            f"cell {exc.cell_index} of the executed notebook (execution count "
            f"{exc.exec_count}, starting {first_line.strip()[:80]!r}): {exc.ename}: {exc.evalue}"
        )
    except KeyboardInterrupt:
        job.status = "interrupted"
        raise
    except Exception as exc:  # kernel death, missing kernel ...
        job.status = "failed"
        job.error = f"{type(exc).__name__}: {exc}"
    finally:
        job.wall_s = time.perf_counter() - start
        job.metrics = reporting.load_metrics(job.name)
        job.tables = reporting.load_tables(job.name)
        _write_run_record(job)
    return job.status == "ok"


def run_record_path(name: str, folder: Path | None = None) -> Path:
    """``<reports>/metrics/<notebook>.run.json``: how the notebook's latest run in that folder
    (a run's folder; the published folder for the steps) ended."""
    from ecgutils import reporting

    return reporting.metrics_path(name, folder).with_suffix(".run.json")


def _write_run_record(job: Job) -> None:
    from ecgutils.fileio import atomic_write_json

    atomic_write_json(run_record_path(job.name), {
        "name": job.name, "profile": job.parameters.get("profile"), "status": job.status,
        "wall_s": job.wall_s, "commit": job.commit, "error": job.error})


def keep_checked_outputs(executed: Path, source: Path) -> None:
    """Copy the outputs of cells marked ``# NBVAL_CHECK_OUTPUT`` from an executed notebook into
    the source notebook and clear every other output (what is committed for nbval)."""
    import nbformat

    from ecgutils.fileio import atomic_write_text

    ran = {cell.get("id"): cell for cell in nbformat.read(executed, as_version=4).cells}
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        checked = cell.source.lstrip().startswith(CHECK_MARK) and cell.get("id") in ran
        # nbval treats a cell with outputs but no execution count as broken.
        cell.execution_count = ran[cell.id].execution_count if checked else None
        cell.outputs = ran[cell.id].outputs if checked else []
    atomic_write_text(source, nbformat.writes(notebook) + "\n")
    print(f"    kept checked outputs in {source.relative_to(ROOT)}")


def earlier_jobs(profile: str, jobs: list[Job], folder: Path,
                 own: Sequence[str] = ()) -> list[Job]:
    """The results in a run folder of notebooks not run now (copied there from the earlier run
    the run started from), and the steps' latest results (``make model``, the scanner
    benchmark: their records in the published folder), each marked with its commit.

    ``own``: the notebooks the run in ``folder`` executed itself (its ``run.json``
    ``notebooks``); when its summary is rebuilt (``--summary-only``) they keep the status
    ``ok`` rather than reading as an earlier run's. Only records of ``profile`` that ended ok
    are carried.
    """
    from ecgutils import config, reporting

    running = {job.name for job in jobs}
    found = [(path, folder) for path in sorted((folder / "metrics").glob("*.run.json"))]
    published = config.published_dir()
    found += [(run_record_path(name, published), published) for name in STEPS]
    carried = []
    for record_path, where in found:
        if not record_path.is_file():
            continue
        entry = json.loads(record_path.read_text())
        name = entry.get("name", "")
        source = STEPS.get(name, NOTEBOOK_DIR / f"{name}.ipynb")
        if entry.get("profile") != profile or name in running \
                or entry.get("status", "").split(" ")[0] != "ok" or not source.is_file():
            continue
        commit = entry.get("commit", "?")
        ran_here = where == folder and name in own
        carried.append(Job(source, {}, status="ok" if ran_here else
                           f"ok (earlier run, commit {commit})",
                           wall_s=entry.get("wall_s", 0.0),
                           metrics=reporting.load_metrics(name, where),
                           tables=reporting.load_tables(name, where), commit=commit))
    return carried


def committed_jobs(folder: Path, present: set[str]) -> tuple[list[Job], dict[str, Any] | None]:
    """The notebooks (and steps) of the committed summary a ``--base-run committed`` run
    started from (``<run folder>/base-summary.json``, see ``ecgutils.runs.start``) that are
    not in ``present``, with the metrics and tables that summary says each exported.

    A summary written before summaries recorded who exported what names no notebook per metric:
    its metrics and tables come back as one ``unattributed`` block (the second value:
    ``{"source", "metrics", "tables"}``), which later summaries carry on, less every key and
    title a notebook exports again, until a whole run replaces it. ``([], None)`` for a run
    that did not start from a committed summary.
    """
    from ecgutils import runs

    path = folder / f"{runs.BASE_SUMMARY}.json"
    if not path.is_file():
        return [], None
    base = json.loads(path.read_text())
    metrics, tables = base.get("metrics", {}), base.get("tables")
    attributed = tables is not None
    if not attributed:  # an older summary: its tables only in the markdown
        tables = _markdown_tables(path.with_suffix(".md"))
    carried = []
    for entry in base.get("notebooks", []):
        name = entry["name"]
        source = STEPS.get(name, NOTEBOOK_DIR / f"{name}.ipynb")
        if name in present or not entry.get("status", "").startswith("ok") \
                or not source.is_file():
            continue
        commit = entry.get("commit", "?")
        status = entry["status"] if entry["status"].startswith("ok (earlier run") \
            else f"ok (earlier run, commit {commit})"
        carried.append(Job(source, {}, status=status, wall_s=entry.get("wall_s", 0.0),
                           metrics={key: metrics[key] for key in entry.get("metric_keys", [])
                                    if key in metrics},
                           tables={title: tables[title] for title in entry.get("tables", [])
                                   if title in tables},
                           commit=commit))
    unattributed = base.get("unattributed")
    if not attributed:
        unattributed = {"source": f"summary of run {base.get('run_id')}, commit "
                                  f"{base.get('git_commit')}",
                        "metrics": sorted(metrics), "tables": list(tables)}
    if unattributed is not None:
        unattributed = dict(unattributed,
                            metrics={key: metrics[key] for key in unattributed["metrics"]
                                     if key in metrics},
                            tables={title: tables[title] for title in unattributed["tables"]
                                    if title in tables})
    return carried, unattributed


def _markdown_tables(path: Path) -> dict[str, str]:
    """The titled tables of a summary.md (its ``## title`` sections)."""
    if not path.is_file():
        return {}
    body = path.read_text().split("\nAll exported metrics:", 1)[0]
    sections = body.split("\n## ")[1:]
    return {title: text.strip() for title, text in
            (section.split("\n", 1) for section in sections if "\n" in section)}


def write_summary(profile: str, jobs: list[Job], folder: Path | None = None,
                  run_id: str | None = None, unattributed: dict[str, Any] | None = None,
                  elapsed: dict[str, Any] | None = None) -> Path:
    """Write ``summary.json`` and ``summary.md`` (atomically) into ``folder`` (the run's
    folder; ``config.reports_dir()`` by default).

    Each notebook's entry names the metric keys and table titles it exported, so a later run
    that starts from this summary (``--base-run committed``) carries exactly those.
    ``unattributed`` is a block carried from an older summary (see :func:`committed_jobs`):
    its metrics and tables come first, and a notebook of ``jobs`` exporting the same key or
    title replaces them. ``elapsed`` (:func:`run_elapsed`) is the run's own wall time: from its
    first notebook's start to its last one's end, the notebooks it ran, how many at once.
    """
    from ecgutils import config, reporting
    from ecgutils.fileio import atomic_write_json, atomic_write_text

    folder = Path(folder or config.reports_dir())
    exported = {key for job in jobs for key in job.metrics}
    titles = {title for job in jobs for title in job.tables}
    if unattributed is not None:
        unattributed = dict(
            unattributed,
            metrics={k: v for k, v in unattributed["metrics"].items() if k not in exported},
            tables={t: v for t, v in unattributed["tables"].items() if t not in titles})
    metrics: dict[str, Any] = dict(unattributed["metrics"]) if unattributed else {}
    for job in jobs:
        metrics.update(job.metrics)
    summary = {
        "profile": profile,
        "run_id": run_id,
        "reports_dir": _shown_path(folder),
        "git_commit": reporting.git_commit(),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "tensorflow": (reporting.package_version("tensorflow-cpu")
                       or reporting.package_version("tensorflow")),
        "notebooks": [
            {"name": job.name, "status": job.status, "wall_s": round(job.wall_s, 1),
             "commit": job.commit or reporting.git_commit(),
             "metric_keys": sorted(job.metrics), "tables": list(job.tables)}
            | ({"error": job.error} if job.error else {})
            for job in jobs
        ],
        "metrics": dict(sorted(metrics.items())),
    }
    if elapsed is not None:
        summary["elapsed"] = elapsed
    tables = dict(unattributed["tables"]) if unattributed else {}
    tables.update({title: text for job in jobs for title, text in job.tables.items()})
    levers = config.published_dir() / "benchmarks-levers.md"
    if any(job.name.startswith("03b") for job in jobs) and levers.is_file():
        # The table the detector's choices were made on (benchmarks/levers.py, committed).
        body = levers.read_text().split("\n", 1)[1].strip()
        tables[LEVERS_TITLE] = body
    summary["tables"] = tables
    summary["targets"] = _targets(summary["metrics"], config.published_dir() / "benchmarks.json")
    if unattributed and (unattributed["metrics"] or unattributed["tables"]):
        summary["unattributed"] = {"source": unattributed["source"],
                                   "metrics": sorted(unattributed["metrics"]),
                                   "tables": list(unattributed["tables"])}
    path = folder / "summary.json"
    atomic_write_json(path, summary)
    atomic_write_text(path.with_suffix(".md"), _markdown(summary, tables))
    return path


def _targets(metrics: dict[str, Any], bench_path: Path) -> list[dict[str, Any]]:
    """The issues' targets met or missed (:mod:`ecgutils.targets`): from the summary's metrics
    and, where ``make bench`` has written it, ``reports/benchmarks.json``."""
    from ecgutils import targets

    bench = json.loads(bench_path.read_text()).get("keys") if bench_path.is_file() else None
    return targets.target_table(metrics, bench).to_dict("records")


def _shown_path(folder: Path) -> str:
    """The run folder relative to the project when it lies inside it (as committed)."""
    try:
        return str(folder.resolve().relative_to(ROOT))
    except ValueError:
        return str(folder)


def _markdown(summary: dict[str, Any], tables: dict[str, str] | None = None) -> str:
    lines = [
        "# Latest study run",
        "",
        f"Profile `{summary['profile']}`, run `{summary.get('run_id')}` (outputs in "
        f"`{summary.get('reports_dir')}`), commit `{summary['git_commit']}`, "
        f"{summary['generated_at']}, Python {summary['python']}, "
        f"TensorFlow {summary['tensorflow']}. Generated by `run_all.py`; do not edit by hand.",
        "",
        "| notebook | status | wall time (s) |",
        "|---|---|---:|",
    ]
    lines += [f"| {nb['name']} | {nb['status']} | {nb['wall_s']:.1f} |"
              for nb in summary["notebooks"]]
    elapsed = summary.get("elapsed")
    if elapsed:
        ran = elapsed["notebooks"]
        summed = sum(nb["wall_s"] for nb in summary["notebooks"] if nb["name"] in ran)
        lines += ["", f"This run's wall time: **{elapsed['elapsed_s']:.0f} s** "
                  f"({elapsed['elapsed_s'] / 60:.1f} min) for the {len(ran)} notebook(s) it "
                  f"ran, up to {elapsed['notebooks_at_once']} at once (`--notebooks`); their "
                  f"own times sum to {summed:.0f} s."]
    carried = summary.get("unattributed")
    if carried:
        lines += ["", f"Carried from the committed {carried['source']} (`--base-run "
                  f"committed`), written before summaries named the notebook behind each "
                  f"number: {len(carried['metrics'])} metric(s) and {len(carried['tables'])} "
                  "table(s) that no notebook of this run exported again; they keep their "
                  "earlier values until a whole run replaces them."]
    lines += _headline_table(summary["metrics"])
    if summary.get("targets"):
        import pandas as pd

        from ecgutils import reporting

        lines += ["", "## Against the issues' targets", "",
                  "Each target beside every model that exports its keys (`ecgutils.targets`): "
                  "`release` is the shipped feature detector, `features_gb` its recipe in 03c's "
                  "folds, `detector` 03b's waveform + RR CNN; the cost rows (issue 13) come from "
                  "`reports/benchmarks.json` (`make bench`), the rest from this summary.", "",
                  reporting.markdown_table(pd.DataFrame(summary["targets"])).rstrip("\n")]
    for title, text in (tables or {}).items():
        lines += ["", f"## {title}", "", text]
    lines += ["", "All exported metrics:", "", "| metric | value |", "|---|---:|"]
    for key, value in summary["metrics"].items():
        shown = f"[{value[0]:.3f}, {value[1]:.3f}]" if isinstance(value, list) else (
            f"{value:.6g}" if isinstance(value, float) else str(value))
        lines.append(f"| `{key}` | {shown} |")
    return "\n".join(lines) + "\n"


HEADLINE = ("accuracy", "se", "sp", "ppv", "f1", "auroc")
LEVERS_TITLE = ("Detector levers on CinC 2017 development records (benchmarks/levers.py): "
                "how notebook 03b's choices were made")


def _headline_table(metrics: dict[str, Any]) -> list[str]:
    """One row per evaluated ``<dataset>.<model>.<split>``: the headline metrics with CIs."""
    # Gap rows (leaky minus grouped) are differences, not pooled metrics: their own table.
    prefixes = sorted({key[: -len(".f1")] for key in metrics
                       if key.endswith(".f1") and f"{key}_ci95" in metrics
                       and ".gap_" not in key})
    if not prefixes:
        return []
    lines = ["", "Pooled out-of-fold metrics, 95 % CI from a bootstrap over patients (CinC 2017: "
             "records, no patient ids published):", "",
             "| dataset | model | split | patients | AF windows | non-AF windows | "
             + " | ".join(HEADLINE) + " |",
             "|---|---|---|---:|---:|---:|" + "---|" * len(HEADLINE)]
    for prefix in prefixes:
        dataset, model, split = prefix.split(".", 2)
        cells = []
        for name in HEADLINE:
            value, ci = metrics.get(f"{prefix}.{name}"), metrics.get(f"{prefix}.{name}_ci95")
            cell = "n/a" if value is None else f"{value:.3f}"
            if isinstance(ci, list) and len(ci) == 2:
                cell += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
            cells.append(cell)
        counts = [str(metrics.get(f"{prefix}.{name}", "")) for name in
                  ("n_patients", "n_windows_af", "n_windows_non_af")]
        lines.append(f"| {dataset} | {model} | {split} | " + " | ".join(counts) + " | "
                     + " | ".join(cells) + " |")
    return lines


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", help="smoke | default | afdb (default: $ECGUTILS_PROFILE "
                        "or 'default')")
    parser.add_argument("--only", help="comma-separated notebook prefixes, e.g. 01,03")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        help="override a notebook parameter (value parsed as a Python literal)")
    parser.add_argument("--data-dir", help="folder holding the dataset folders "
                        "(default: $ECG_DATA_DIR or data/raw)")
    parser.add_argument("--keep-earlier", action="store_true",
                        help="with --only: start from the latest run of the same profile and "
                        "commit that ended ok (a copy of its folder), so the other notebooks' "
                        "results and outputs stay in this run")
    parser.add_argument("--base-run", metavar="RUN_ID",
                        help="like --keep-earlier, from this earlier run of the same profile; "
                        "'committed': from the committed reports/summary.json (a fresh clone, "
                        "no run folders): the other notebooks keep its numbers, but not their "
                        "outputs, so run together notebooks that read each other's (05 reads "
                        "03's models)")
    parser.add_argument("--any-commit", action="store_true",
                        help="with --keep-earlier/--base-run: accept an earlier run made at "
                        "another commit (the summary names each notebook's commit)")
    parser.add_argument("--summary-only", action="store_true",
                        help="run nothing: rebuild the profile's published run's summary with "
                        "the steps' latest results (make model, make bench-scanner)")
    parser.add_argument("--list", action="store_true",
                        help="list the run folders (of --profile, or of all profiles)")
    parser.add_argument("--prune", type=int, metavar="KEEP",
                        help="delete all but the KEEP newest runs of each profile (or of "
                        "--profile); the published run and running ones are kept")
    parser.add_argument("--parallel", type=int, metavar="N",
                        help="run the notebooks' cross-validation folds as jobs on N local "
                        "Dask worker processes (default 1: in the notebook, one after another)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the folds on a running Dask cluster (tcp://host:8786); its "
                        "workers must see this checkout and the data under the same paths")
    parser.add_argument("--notebooks", type=int, default=1, metavar="N",
                        help="run up to N notebooks at once, each in a process of its own, a "
                        "notebook once those whose outputs it reads have ended (default 1: "
                        "one after another)")
    parser.add_argument("--update-notebooks", action="store_true",
                        help="after each run, keep the outputs of '# NBVAL_CHECK_OUTPUT' cells "
                        "in notebooks/ and clear the rest (use with --profile smoke)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
