#!/usr/bin/env python
"""Run the numbered study notebooks in order with papermill and write the summary.

    python run_all.py                          # default profile, every notebook
    python run_all.py --profile smoke          # the fast CI profile
    python run_all.py --only 01,03 -p records "['201', '202']"
    python run_all.py --data-dir /data/physionet
    python run_all.py --update-notebooks       # developers: refresh nbval-checked outputs
    python run_all.py --only 03b --keep-earlier  # rerun one notebook, keep the others' results
    python run_all.py --summary-only           # rebuild the summary from the latest runs

Executed notebooks go to ``reports/notebooks/``; each notebook exports its headline metrics
(``ecgutils.reporting.export_metrics``) and this script gathers them into
``reports/summary.json`` and ``reports/summary.md``. A bad profile, notebook or parameter name
stops the run before anything executes; a failing cell stops it with a non-zero exit that names
the notebook and the cell.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import platform
import sys
import time
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
    args = _parse_args(argv)
    from ecgutils import config
    from ecgutils.errors import UnknownNameError

    try:
        profile = config.profile_name(args.profile)
        jobs = [] if args.summary_only else plan(profile, args.only, args.parameter,
                                                 args.data_dir)
    except (UnknownNameError, ValueError) as exc:
        print(f"run_all: error: {exc}", file=sys.stderr)
        return 2
    out_dir = config.reports_dir() / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = None
    for index, job in enumerate(jobs, start=1):
        print(f"[{index}/{len(jobs)}] {job.name} (profile {profile})", flush=True)
        if not execute(job, out_dir / job.notebook.name):
            failed = job
            break
        print(f"    done in {job.wall_s:.1f} s, {len(job.metrics)} metric(s)", flush=True)
        if args.update_notebooks:
            keep_checked_outputs(out_dir / job.notebook.name, job.notebook)
    earlier = earlier_jobs(profile, jobs) if args.keep_earlier or args.summary_only else []
    summary = write_summary(profile, sorted(earlier + jobs, key=lambda job: job.name))
    print(f"summary: {summary} and {summary.with_suffix('.md')}")
    if failed is not None:
        print(f"run_all: {failed.name} failed: {failed.error}\n"
              f"    executed notebook with the traceback: {out_dir / failed.notebook.name}",
              file=sys.stderr)
        return 1
    return 0


def plan(
    profile: str,
    only: str | None,
    overrides: list[tuple[str, str]] | None,
    data_dir: str | None,
) -> list[Job]:
    """The notebooks to run with their parameters; raises ValueError on any bad name."""
    import papermill

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
    declared = {nb: set(papermill.inspect_notebook(str(nb))) for nb in notebooks}
    for nb, names in declared.items():
        if "profile" not in names:
            raise ValueError(f"{nb.name} has no 'profile' in its parameters cell")
    values = {name: _literal(text) for name, text in (overrides or [])}
    for name in values:
        if not any(name in names for names in declared.values()):
            raise ValueError(
                f"unknown parameter {name!r}: no selected notebook declares it; parameters: "
                + ", ".join(sorted(set().union(*declared.values())))
            )
    if data_dir is not None:
        values["data_dir"] = str(Path(data_dir).expanduser().resolve())
    return [
        Job(nb, {"profile": profile, **{k: v for k, v in values.items() if k in declared[nb]}})
        for nb in notebooks
    ]


def execute(job: Job, output: Path) -> bool:
    """Run one notebook; fill in the job's status, wall time, metrics and error."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from ecgutils import reporting

    job.commit = reporting.git_commit()  # the code the notebook runs with, even if HEAD moves
    reporting.metrics_path(job.name).unlink(missing_ok=True)  # no stale numbers
    reporting.tables_path(job.name).unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(job.notebook),
            str(output),
            parameters=job.parameters,
            cwd=str(NOTEBOOK_DIR),
            kernel_name="python3",
            progress_bar=True,
        )
        job.status = "ok"
    except PapermillExecutionError as exc:
        job.status = "failed"
        first_line = next((line for line in exc.source.splitlines() if line.strip()), "")
        job.error = (
            f"cell {exc.cell_index} of the executed notebook (execution count "
            f"{exc.exec_count}, starting {first_line.strip()[:80]!r}): {exc.ename}: {exc.evalue}"
        )
    except Exception as exc:  # kernel death, missing kernel ...
        job.status = "failed"
        job.error = f"{type(exc).__name__}: {exc}"
    job.wall_s = time.perf_counter() - start
    job.metrics = reporting.load_metrics(job.name)
    job.tables = reporting.load_tables(job.name)
    _write_run_record(job)
    return job.status == "ok"


def run_record_path(name: str) -> Path:
    """``reports/metrics/<notebook>.run.json``: how the notebook's latest run ended."""
    from ecgutils import reporting

    return reporting.metrics_path(name).with_suffix(".run.json")


def _write_run_record(job: Job) -> None:
    from ecgutils.fileio import atomic_write_json

    atomic_write_json(run_record_path(job.name), {
        "name": job.name, "profile": job.parameters.get("profile"), "status": job.status,
        "wall_s": job.wall_s, "commit": job.commit})


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


def earlier_jobs(profile: str, jobs: list[Job]) -> list[Job]:
    """The notebooks not run now whose earlier results (same profile) are at hand, with their
    metrics files, marked as coming from that earlier run.

    A notebook's own run record (``reports/metrics/<name>.run.json``, written when it ends) is
    preferred; without one, the previous summary's entry is used. So notebooks run by separate
    ``run_all.py --only`` invocations (e.g. side by side) merge into one summary.
    """
    import json

    from ecgutils import config, reporting

    path = config.reports_dir() / "summary.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    entries = {}
    if previous.get("profile") == profile:
        for entry in previous.get("notebooks", []):
            entry = dict(entry)
            entry.setdefault("commit", previous.get("git_commit", "?"))
            entries[entry["name"]] = entry
    for record_path in sorted((config.reports_dir() / "metrics").glob("*.run.json")):
        record = json.loads(record_path.read_text())
        if record.get("profile") == profile:
            entries[record["name"]] = record
    running = {job.name for job in jobs}
    carried = []
    for entry in entries.values():
        name = entry["name"]
        notebook = STEPS.get(name, NOTEBOOK_DIR / f"{name}.ipynb")
        if name in running or entry.get("status", "").split(" ")[0] != "ok" \
                or not notebook.is_file():
            continue
        commit = entry.get("commit", "?")
        carried.append(Job(notebook, {}, status=f"ok (earlier run, commit {commit})",
                           wall_s=entry.get("wall_s", 0.0), metrics=reporting.load_metrics(name),
                           tables=reporting.load_tables(name), commit=commit))
    return carried


def write_summary(profile: str, jobs: list[Job]) -> Path:
    """Write ``reports/summary.json`` and ``reports/summary.md`` (atomically)."""
    from ecgutils import config, reporting
    from ecgutils.fileio import atomic_write_json, atomic_write_text

    metrics: dict[str, Any] = {}
    for job in jobs:
        metrics.update(job.metrics)
    summary = {
        "profile": profile,
        "git_commit": reporting.git_commit(),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "tensorflow": (reporting.package_version("tensorflow-cpu")
                       or reporting.package_version("tensorflow")),
        "notebooks": [
            {"name": job.name, "status": job.status, "wall_s": round(job.wall_s, 1),
             "commit": job.commit or reporting.git_commit()}
            | ({"error": job.error} if job.error else {})
            for job in jobs
        ],
        "metrics": dict(sorted(metrics.items())),
    }
    tables = {title: text for job in jobs for title, text in job.tables.items()}
    levers = config.reports_dir() / "benchmarks-levers.md"
    if any(job.name.startswith("03b") for job in jobs) and levers.is_file():
        # The table the detector's choices were made on (benchmarks/levers.py, committed).
        body = levers.read_text().split("\n", 1)[1].strip()
        tables[LEVERS_TITLE] = body
    path = config.reports_dir() / "summary.json"
    atomic_write_json(path, summary)
    atomic_write_text(path.with_suffix(".md"), _markdown(summary, tables))
    return path


def _markdown(summary: dict[str, Any], tables: dict[str, str] | None = None) -> str:
    lines = [
        "# Latest study run",
        "",
        f"Profile `{summary['profile']}`, commit `{summary['git_commit']}`, "
        f"{summary['generated_at']}, Python {summary['python']}, "
        f"TensorFlow {summary['tensorflow']}. Generated by `run_all.py`; do not edit by hand.",
        "",
        "| notebook | status | wall time (s) |",
        "|---|---|---:|",
    ]
    lines += [f"| {nb['name']} | {nb['status']} | {nb['wall_s']:.1f} |"
              for nb in summary["notebooks"]]
    lines += _headline_table(summary["metrics"])
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
                        help="with --only: keep the other notebooks' results of the previous "
                        "run of the same profile in the summary, marked with their commit")
    parser.add_argument("--summary-only", action="store_true",
                        help="run nothing: rebuild the summary from the notebooks' latest runs "
                        "of the profile (their run records, else the previous summary)")
    parser.add_argument("--update-notebooks", action="store_true",
                        help="after each run, keep the outputs of '# NBVAL_CHECK_OUTPUT' cells "
                        "in notebooks/ and clear the rest (use with --profile smoke)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
