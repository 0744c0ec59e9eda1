"""Run folders: every ``run_all.py`` run writes into its own folder and is published only when
it succeeds, so no run — failed, interrupted or of another profile — destroys another's results.

Layout under the published reports folder (:func:`ecgutils.config.published_dir`, ``reports/``)::

    runs/<profile>/<run id>/    run.json (status), summary.json/.md, notebooks/, metrics/,
                                figures/, predictions/, models/, annotations/
    runs/<profile>/LATEST       the id of the profile's latest successful run
    summary.json, summary.md    the latest successful run of the default profile (committed)

A run started from an earlier one (``run_all.py --keep-earlier``) begins as a copy of that
run's folder, so notebooks that read other notebooks' outputs (05 reads 03's predictions and
models) read them from their own run folder, never from a shared one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecgutils import config
from ecgutils.fileio import atomic_write_json, atomic_write_text

RUN_RECORD = "run.json"
LATEST = "LATEST"
# ``--base-run committed``: the committed summary a run starts from, kept in its folder (a
# fresh clone has no run folders, only ``reports/summary.json``/``.md``).
COMMITTED_BASE = "committed"
BASE_SUMMARY = "base-summary"
# The profile whose successful runs replace the committed reports/summary.*.
COMMITTED_PROFILE = "default"
_SUMMARY_FILES = ("summary.json", "summary.md")


@dataclass
class Run:
    """One run folder and its ``run.json`` record."""

    path: Path
    record: dict[str, Any]

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def profile(self) -> str:
        return self.record.get("profile", self.path.parent.name)

    @property
    def status(self) -> str:
        """``running``, ``ok``, ``failed`` or ``interrupted``; a run whose process is gone
        without saying how it ended reads ``interrupted``."""
        status = self.record.get("status", "unknown")
        if status == "running" and not _alive(self.record.get("pid")):
            return "interrupted"
        return status

    @property
    def commit(self) -> str:
        return self.record.get("commit", "?")


def runs_root() -> Path:
    """``<published>/runs``: one sub-folder per profile."""
    return config.published_dir() / "runs"


def start(profile: str, commit: str, argv: list[str], base: Run | None = None,
          base_summary: Path | None = None) -> Run:
    """Create a new run folder for ``profile`` and record it as running.

    Parameters
    ----------
    profile : str
        The run's profile (``config.PROFILES``).
    commit : str
        The code's commit (``reporting.git_commit()``).
    argv : list of str
        The command line, kept in ``run.json``.
    base : Run or None
        An earlier run of the same profile whose outputs the new run starts from (copied).
    base_summary : Path or None
        A published ``summary.json`` the run starts from instead (``--base-run committed``):
        it and its ``.md`` are copied into the run's folder as ``base-summary.json``/``.md``,
        so the run's summary carries the notebooks it does not run (their metrics and tables,
        not their outputs).

    Returns
    -------
    Run
        The new run. Raises OSError when the reports folder cannot be written.
    """
    parent = runs_root() / profile
    parent.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(100):
        run_id = f"{stamp}-{commit[:12]}-{os.getpid()}" + (f"-{attempt}" if attempt else "")
        path = parent / run_id
        try:
            path.mkdir()  # exclusive: two runs never share a folder
            break
        except FileExistsError:
            continue
    else:
        raise OSError(f"could not create a new run folder under {parent}")
    if base is not None:
        _copy_outputs(base.path, path)
    if base_summary is not None:
        for suffix in (".json", ".md"):
            source = base_summary.with_suffix(suffix)
            if source.is_file():
                shutil.copy2(source, path / f"{BASE_SUMMARY}{suffix}")
    run = Run(path, {"run_id": run_id, "profile": profile, "status": "running",
                     "commit": commit, "started": _now(), "pid": os.getpid(),
                     "argv": list(argv),
                     "base_run": base.run_id if base else
                     (COMMITTED_BASE if base_summary is not None else None)})
    _save(run)
    return run


def finish(run: Run, status: str, **fields: Any) -> None:
    """Record how the run ended (``ok``, ``failed`` or ``interrupted``) and when."""
    if status not in ("ok", "failed", "interrupted"):
        raise ValueError(f"status {status!r}: expected ok, failed or interrupted")
    run.record.update(fields, status=status, ended=_now())
    _save(run)


def publish(run: Run) -> list[Path]:
    """Make a successful run the profile's published one: ``runs/<profile>/LATEST`` names it
    and, for the default profile, its summary replaces ``reports/summary.json``/``.md``.

    Returns
    -------
    list of Path
        The published files written.
    """
    if run.status != "ok":
        raise ValueError(f"run {run.run_id} ended {run.status}; only a successful run is "
                         "published")
    written = []
    if run.profile == COMMITTED_PROFILE:
        for name in _SUMMARY_FILES:
            source = run.path / name
            if source.is_file():
                written.append(atomic_write_text(config.published_dir() / name,
                                                 source.read_text(encoding="utf-8")))
    written.append(atomic_write_text(run.path.parent / LATEST, run.run_id + "\n"))
    return written


def latest(profile: str) -> Run | None:
    """The profile's published (latest successful) run, or None."""
    pointer = runs_root() / profile / LATEST
    if not pointer.is_file():
        return None
    path = pointer.parent / pointer.read_text().strip()
    return load(path) if (path / RUN_RECORD).is_file() else None


def load(path: str | os.PathLike) -> Run:
    """The run in folder ``path``."""
    path = Path(path)
    return Run(path, json.loads((path / RUN_RECORD).read_text()))


def list_runs(profile: str | None = None) -> list[Run]:
    """Every run folder (of ``profile``, or of all profiles), oldest first."""
    root = runs_root()
    folders = sorted((root / profile).glob("*/" + RUN_RECORD) if profile
                     else root.glob("*/*/" + RUN_RECORD))
    runs = [load(record.parent) for record in folders]
    return sorted(runs, key=lambda run: (run.record.get("started", ""), run.run_id))


def find(run_id: str, profile: str) -> Run:
    """The run ``run_id`` of ``profile``; ValueError naming the runs there otherwise."""
    path = runs_root() / profile / run_id
    if (path / RUN_RECORD).is_file():
        return load(path)
    known = ", ".join(run.run_id for run in list_runs(profile)) or "none"
    raise ValueError(f"no run {run_id!r} of profile {profile!r} under {runs_root()}; "
                     f"its runs: {known}")


def committed_summary(profile: str) -> Path:
    """The published ``summary.json`` a ``--base-run committed`` run of ``profile`` starts
    from; ValueError when there is none or it is of another profile."""
    path = config.published_dir() / _SUMMARY_FILES[0]
    if not path.is_file():
        raise ValueError(f"--base-run {COMMITTED_BASE}: there is no {path}")
    made_by = json.loads(path.read_text()).get("profile")
    if made_by != profile:
        raise ValueError(f"--base-run {COMMITTED_BASE}: {path} is of profile {made_by!r}, "
                         f"not {profile!r}")
    return path


def base_for(profile: str, commit: str, run_id: str | None = None,
             any_commit: bool = False) -> Run:
    """The earlier run a ``--keep-earlier`` run starts from: ``run_id`` when named, else the
    profile's latest run that ended ok. It must be of the same profile and, unless
    ``any_commit``, of the same commit; ValueError otherwise."""
    if run_id is not None:
        base = find(run_id, profile)
        if base.status != "ok":
            raise ValueError(f"run {run_id} ended {base.status}; name a run that ended ok")
    else:
        finished = [run for run in list_runs(profile) if run.status == "ok"]
        if not finished:
            raise ValueError(f"--keep-earlier: no earlier run of profile {profile!r} ended ok "
                             f"under {runs_root() / profile}; run the whole profile first, or "
                             f"start from the committed summary with --base-run "
                             f"{COMMITTED_BASE} (a fresh clone)")
        base = finished[-1]
    if base.commit != commit and not any_commit:
        raise ValueError(
            f"--keep-earlier: the earlier run {base.run_id} ran at commit {base.commit}, this "
            f"code is {commit}; rerun the notebooks it needs, or pass --any-commit to mix "
            "them (the summary then names each notebook's commit)")
    return base


def prune(keep: int, profile: str | None = None) -> list[Path]:
    """Delete all but the ``keep`` newest runs of each profile (or of ``profile``); the
    published run and runs still running are always kept.

    Returns
    -------
    list of Path
        The run folders deleted.
    """
    if keep < 0:
        raise ValueError(f"--prune {keep}: keep a number of runs >= 0")
    removed = []
    profiles = [profile] if profile else sorted(
        path.name for path in runs_root().glob("*") if path.is_dir())
    for name in profiles:
        published = latest(name)
        runs = list_runs(name)
        for run in runs[: max(len(runs) - keep, 0)]:
            if run.status == "running" or (published and run.path == published.path):
                continue
            shutil.rmtree(run.path)
            removed.append(run.path)
    return removed


def describe(runs: list[Run]) -> str:
    """A table of runs for ``run_all.py --list``."""
    lines = [f"{'profile':<8} {'run id':<42} {'status':<11} {'commit':<18} notebooks"]
    published = {profile: latest(profile) for profile in {run.profile for run in runs}}
    for run in runs:
        mark = " (published)" if published[run.profile] and \
            published[run.profile].path == run.path else ""
        notebooks = ",".join(name.split("_")[0] for name in run.record.get("notebooks", []))
        lines.append(f"{run.profile:<8} {run.run_id:<42} {run.status:<11} {run.commit:<18} "
                     f"{notebooks or '-'}{mark}")
    return "\n".join(lines)


def _copy_outputs(source: Path, target: Path) -> None:
    """Copy an earlier run's outputs (not its record or summary) into a new run folder; copies,
    not links, because Keras and Matplotlib rewrite files in place."""
    for item in source.iterdir():
        if item.name in (RUN_RECORD, *_SUMMARY_FILES):
            continue
        if item.is_dir():
            shutil.copytree(item, target / item.name)
        else:
            shutil.copy2(item, target / item.name)


def _save(run: Run) -> None:
    atomic_write_json(run.path / RUN_RECORD, run.record)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
