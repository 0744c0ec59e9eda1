"""Processed arrays on disk, keyed by the parameters that made them (numpy/pandas only).

An entry is a folder ``<processed_dir>/<name>-<key>/`` holding ``.npy`` arrays, ``.csv``
tables and ``meta.json`` (the parameters and facts about the build). ``key`` is a SHA-256 of
the canonical JSON of the parameters, :data:`CACHE_VERSION` and, when the caller passes one,
a ``code_version`` (:func:`code_version` of the modules that build the entry), so changing any
parameter or that code builds a new entry and a rerun with the same parameters and code reuses
the old one. An entry is
built in a staging folder and renamed into place: a crash never leaves half an entry.
Arrays are memory-mapped when read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from ecgutils import config, streams

# Bump when the processing code changes what a given set of parameters produces.
CACHE_VERSION = 1

_META = "meta.json"


@dataclass
class Entry:
    """One cache entry: memory-mapped arrays, tables, the build's metadata."""

    path: Path
    arrays: dict[str, np.ndarray]
    tables: dict[str, pd.DataFrame]
    meta: dict[str, Any]
    reused: bool = field(default=False)


def code_version(*modules: ModuleType) -> str:
    """Short SHA-256 of the source text of ``modules``: changes whenever their code does.

    Pass the modules whose code decides what an entry holds, as ``code_version`` of
    :func:`load_or_build`. The order of ``modules`` does not matter.

    Parameters
    ----------
    *modules : module
        One or more Python modules with source files (``ecgutils.preprocess``, ...).

    Returns
    -------
    str
        First 16 hex characters of the SHA-256 of each module's name and source file.
    """
    if not modules:
        raise ValueError("code_version needs at least one module, e.g. code_version(preprocess)")
    digest = hashlib.sha256()
    for module in sorted(modules, key=lambda m: getattr(m, "__name__", "")):
        if not isinstance(module, ModuleType):
            raise ValueError(f"code_version takes modules, not {type(module).__name__}: {module!r}")
        # The file itself, not inspect.getsource: linecache may hold an edited file's old text.
        source_file = getattr(module, "__file__", None)
        if not source_file or not source_file.endswith(".py"):
            raise ValueError(
                f"code_version: module {module.__name__} has no Python source file "
                f"({source_file or 'built in'}); pass pure-Python modules of this project"
            )
        _unchanged_since_import(Path(source_file))
        source = Path(source_file).read_bytes()
        digest.update(f"{module.__name__}\n{len(source)}\n".encode())
        digest.update(source)
    return digest.hexdigest()[:16]


class StaleCodeError(RuntimeError):
    """A source file of the package changed after this process imported it."""


def _unchanged_since_import(path: Path) -> None:
    """StaleCodeError where ``path``, a file of this package, has changed since the process
    imported the package. The key is hashed from the file on disk, but the process may run the
    code it imported before the edit: an entry built with that code, stored under the new
    code's key, would be reused as the new code's result by every later run."""
    import ecgutils

    seen = ecgutils.SOURCE_STAT.get(str(path.resolve()))
    if seen is None:
        return  # not one of this package's files
    now = path.stat()
    if (now.st_mtime_ns, now.st_size) != seen:
        raise StaleCodeError(
            f"{path} changed after this process imported ecgutils: restart it (the Jupyter "
            "kernel, the script) so that the cache key names the code that runs")


def key_of(params: Mapping[str, Any], code_version: str | None = None) -> str:
    """Hex SHA-256 (first 16 characters) of the canonical JSON of ``params``.

    ``code_version`` (see :func:`code_version`), when given, is part of the key; without it
    the key is the parameters' alone (as before code versions existed).
    """
    keyed: dict[str, Any] = {"cache_version": CACHE_VERSION, "params": params}
    if code_version is not None:
        keyed["code_version"] = code_version
    canonical = json.dumps(
        keyed,
        sort_keys=True,
        separators=(",", ":"),
        default=_json_default,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def entry_path(
    name: str,
    params: Mapping[str, Any],
    root: str | os.PathLike | None = None,
    code_version: str | None = None,
) -> Path:
    """Folder of the entry for ``name`` built with ``params`` (and ``code_version``)."""
    base = Path(root) if root is not None else config.processed_dir()
    return base / f"{name}-{key_of(params, code_version)}"


def load(
    name: str,
    params: Mapping[str, Any],
    root: str | os.PathLike | None = None,
    code_version: str | None = None,
) -> Entry | None:
    """The entry for ``params`` and ``code_version``, memory-mapped; None when absent or
    unreadable."""
    path = entry_path(name, params, root, code_version)
    meta_file = path / _META
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        arrays = {
            array_name: np.load(path / f"{array_name}.npy", mmap_mode="r")
            for array_name in meta["arrays"]
        }
        tables = {
            table_name: pd.read_csv(path / f"{table_name}.csv", dtype=dtypes)
            for table_name, dtypes in meta["tables"].items()
        }
    except (OSError, ValueError, KeyError):
        # A damaged entry (files removed by hand, disk full mid-copy) is rebuilt, not trusted.
        return None
    return Entry(path, arrays, tables, meta, reused=True)


def save(
    name: str,
    params: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    tables: Mapping[str, pd.DataFrame],
    meta: Mapping[str, Any] | None = None,
    root: str | os.PathLike | None = None,
    code_version: str | None = None,
) -> Entry:
    """Write an entry atomically (staging folder + rename) and return it memory-mapped.

    An array may be a :class:`ecgutils.streams.Spool` (an ``.npy`` file written a block at a
    time, for arrays larger than memory): its file is moved into the entry.
    """
    path = entry_path(name, params, root, code_version)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        for array_name, array in arrays.items():
            target = staging / f"{array_name}.npy"
            if isinstance(array, streams.Spool):  # already on disk: moved, not copied
                shutil.move(array.path if array.finished else array.finish(), target)
            else:
                np.save(target, np.asarray(array), allow_pickle=False)
        for table_name, table in tables.items():
            table.to_csv(staging / f"{table_name}.csv", index=False)
        payload = {
            "name": name,
            "params": params,
            "arrays": {key: list(value.shape if isinstance(value, streams.Spool)
                                 else np.shape(value)) for key, value in arrays.items()},
            # Read string columns back as strings ("100" stays a record name, not 100).
            "tables": {
                key: {
                    column: "str"
                    for column in table.columns
                    if pd.api.types.is_string_dtype(table[column])
                    or table[column].dtype == object
                }
                for key, table in tables.items()
            },
            **dict(meta or {}),
            "code_version": code_version,  # after the builder's meta: it cannot be overridden
        }
        (staging / _META).write_text(
            json.dumps(payload, indent=2, default=_json_default) + "\n", encoding="utf-8"
        )
        _install(staging, path, lambda: load(name, params, root, code_version) is not None)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for array in arrays.values():
            if isinstance(array, streams.Spool):
                array.discard()
        raise
    entry = load(name, params, root, code_version)
    if entry is None:
        raise OSError(f"cache entry {path} could not be read back after writing")
    entry.reused = False
    return entry


def load_or_build(
    name: str,
    params: Mapping[str, Any],
    build: Callable[[], tuple[Mapping[str, np.ndarray], Mapping[str, pd.DataFrame],
                              Mapping[str, Any]]],
    root: str | os.PathLike | None = None,
    code_version: str | None = None,
) -> Entry:
    """Reuse the entry for ``params`` or call ``build()`` → (arrays, tables, meta) and save it.

    Parameters
    ----------
    name : str
        Entry name (the folder's prefix).
    params : mapping
        The parameters that decide the entry's content (JSON-serialisable).
    build : callable
        Makes ``(arrays, tables, meta)`` when no entry can be reused; arrays may be
        :class:`~ecgutils.streams.Spool` files (made in the cache folder, so that they are
        renamed into the entry).
    root : path, optional
        Cache folder (default :func:`ecgutils.config.processed_dir`).
    code_version : str, optional
        :func:`code_version` of the modules that build the entry; part of the key and stored
        in ``meta["code_version"]``, so an edit of that code builds a new entry.

    Returns
    -------
    Entry
    """
    entry = load(name, params, root, code_version)
    if entry is not None:
        return entry
    arrays, tables, meta = build()
    return save(name, params, arrays, tables, meta, root, code_version)


def _install(staging: Path, path: Path, readable: Callable[[], bool]) -> None:
    """Rename a finished staging folder to ``path``; ``readable()`` says whether a valid
    entry is at ``path``.

    Two processes may build the same entry at once: the first one renamed into place is kept
    (the other holds the same content and is dropped), so both end with one valid entry. A
    damaged entry in the way is moved aside first, so that no reader ever sees half an entry.
    """
    if path.exists():
        if readable():
            shutil.rmtree(staging)
            return
        aside = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.old")
        try:
            os.rename(path, aside)
        except FileNotFoundError:  # another process moved it first
            pass
        shutil.rmtree(aside, ignore_errors=True)
    try:
        os.replace(staging, path)
    except OSError:
        if not readable():  # not another process's finished entry: a real failure
            raise
        shutil.rmtree(staging)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot put {type(value).__name__} into a cache key: {value!r}")
