"""Headline metrics exported by the notebooks, for ``run_all.py`` to gather into the summary.

A notebook calls :func:`export_metrics` with the numbers it computed; they land in
``reports/metrics/<notebook>.json``. Numbers are never copied by hand.

Keys follow ``<dataset>.<model>.<split>.<metric>`` where that applies (e.g.
``mitdb.cnn1d.grouped.f1``, ``mitdb.cnn1d.grouped.f1_ci95``); descriptive numbers of a
dataset use ``<dataset>.data.<metric>``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgutils import config, datasets
from ecgutils.fileio import atomic_write_json

# Keys about the shipped model and the scanner rather than a dataset (ecgutils.release,
# benchmarks/bench_scanner.py): release.detector.*, scanner.detector.*, stream.detector.*.
TOOL_PREFIXES = ("release", "scanner", "stream")


def metrics_path(notebook: str, folder: str | Path | None = None) -> Path:
    """``<folder>/metrics/<notebook>.json``; ``folder`` defaults to ``config.reports_dir()``
    (the current run's folder under run_all.py)."""
    return Path(folder or config.reports_dir()) / "metrics" / f"{notebook}.json"


def export_metrics(notebook: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """Merge ``metrics`` into the notebook's metrics file (atomically) and return what it holds.

    Values must be numbers, strings, or lists of numbers (a CI); keys must start with a known
    dataset name.
    """
    cleaned = {key: _jsonable(key, value) for key, value in metrics.items()}
    allowed = sorted(set(datasets.DATASETS) | set(TOOL_PREFIXES))
    for key in cleaned:
        first = key.split(".", 1)[0]
        crossed = first.split("_to_")  # external validation: <train>_to_<test>
        known = first in allowed or (len(crossed) == 2
                                     and all(name in datasets.DATASETS for name in crossed))
        if not known or key.count(".") < 2:
            raise ValueError(
                f"metric key {key!r} must look like <dataset>.<model>.<metric> (or "
                f"<train>_to_<test>.<model>.<metric>), with dataset one of {', '.join(allowed)}"
            )
    path = metrics_path(notebook)
    merged = load_metrics(notebook)
    merged.update(cleaned)
    atomic_write_json(path, merged)
    return merged


def defined(keys: dict[str, Any]) -> dict[str, Any]:
    """The keys whose value is defined: undefined numbers (NaN, a CI bound that is NaN) are
    left out of the summary rather than written as 0."""
    def finite(value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return all(finite(item) for item in value)
        return not (isinstance(value, (float, np.floating)) and not math.isfinite(value))

    return {key: value for key, value in keys.items() if finite(value)}


def evaluation_keys(prefix: str, evaluation: dict[str, Any],
                    metrics: tuple[str, ...]) -> dict[str, Any]:
    """``<prefix>.<metric>`` and ``<prefix>.<metric>_ci95`` for ``metrics``, and the counts
    ``n_patients, n_windows_af, n_windows_non_af`` of a ``metrics.evaluate`` result;
    undefined values left out (:func:`defined`)."""
    keys: dict[str, Any] = {}
    for metric in metrics:
        keys[f"{prefix}.{metric}"] = evaluation[metric]
        keys[f"{prefix}.{metric}_ci95"] = evaluation[f"{metric}_ci95"]
    for count in ("n_patients", "n_windows_af", "n_windows_non_af"):
        keys[f"{prefix}.{count}"] = evaluation[count]
    return defined(keys)


def tables_path(notebook: str, folder: str | Path | None = None) -> Path:
    return Path(folder or config.reports_dir()) / "metrics" / f"{notebook}.tables.json"


def export_table(notebook: str, title: str, table: pd.DataFrame | str, note: str = "") -> str:
    """Add a titled markdown table (with an optional note under it) to the notebook's tables
    file, which ``run_all.py`` copies into ``reports/summary.md``; returns the markdown."""
    if not title.strip():
        raise ValueError("a table needs a title")
    text = table if isinstance(table, str) else markdown_table(table)
    if note:
        text = f"{text}\n\n{note}"
    path = tables_path(notebook)
    merged = load_tables(notebook)
    merged[title] = text
    atomic_write_json(path, merged)
    return text


def load_tables(notebook: str, folder: str | Path | None = None) -> dict[str, str]:
    path = tables_path(notebook, folder)
    return json.loads(path.read_text()) if path.is_file() else {}


def load_metrics(notebook: str, folder: str | Path | None = None) -> dict[str, Any]:
    path = metrics_path(notebook, folder)
    return json.loads(path.read_text()) if path.is_file() else {}


def _jsonable(key: str, value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(key, item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise ValueError(f"metric {key!r} is not finite: {value}")
        return round(float(value), 6)
    raise TypeError(f"metric {key!r} has unsupported type {type(value).__name__}")


def markdown_table(table: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a GitHub markdown table (floats rounded to ``digits``)."""
    def cell(value: Any) -> str:
        if value is pd.NA:
            return ""
        if isinstance(value, (float, np.floating)):
            return "n/a" if not math.isfinite(float(value)) else f"{float(value):.{digits}f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(str(column) for column in table.columns) + " |",
             "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def git_commit() -> str:
    """The checkout's commit, ``-dirty`` when tracked files other than what runs rewrite (the
    committed reports — summary, benchmarks — and the release bundle) differ from it;
    ``unknown`` outside a git checkout."""
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"],
                                cwd=config.PROJECT_ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
             ":!reports", ":!ecgutils/release/detector"],
            cwd=config.PROJECT_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if changed else commit


def package_version(package: str) -> str | None:
    """The installed version of ``package``, None when it is not installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
