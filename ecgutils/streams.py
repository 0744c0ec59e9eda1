"""Arrays larger than memory: written to disk a block of rows at a time, read a batch at a time.

* :class:`Spool` — an ``.npy`` file grown one block of rows at a time, for arrays whose
  length is known only at the end (the windows of every record). The header is rewritten in
  place when the spool is finished: NumPy pads ``.npy`` headers so that the length of the
  first axis can grow without moving the data.
* :class:`Rows` — a view by row index over an in-memory array or an ``.npy`` file (or a
  chain of such views), read only when asked. A view of a file reads its rows with
  ``os.pread`` rather than through a memory map, so the pages it has read are not held by
  the process (the resident set of a process counts every page of a map it has touched):
  a training run's memory does not grow with the data. A view pickles as its file's path and
  its indices, never its data, so it can travel to another process (a Dask worker).

Keras reads :class:`Rows` through :class:`ecgutils.train.Batches` (a ``keras.utils.PyDataset``).
This module needs NumPy only.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Most bytes asked of one pread call (a run of consecutive rows is read with as few calls as
# this allows; the kernel may return fewer, and the loop asks again).
_READ_LIMIT = 1 << 30


class Spool:
    """An ``.npy`` file written a block of rows at a time.

    Parameters
    ----------
    folder : path
        Where the file is made (the cache folder, so that :meth:`finish`'s file can be renamed
        into an entry without a copy).
    dtype : numpy dtype
        Every block is cast to it.

    Use as a context manager: a spool left without :meth:`finish` (an error on the way) is
    deleted on exit.
    """

    def __init__(self, folder: str | os.PathLike, dtype: Any = np.float32):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".spool-", suffix=".npy.tmp", dir=folder)
        self.path = Path(name)
        self._file = os.fdopen(handle, "w+b")
        self.dtype = np.dtype(dtype)
        self.row_shape: tuple[int, ...] | None = None
        self.n_rows = 0
        self._header_bytes = 0
        self.finished = False

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n_rows, *(self.row_shape or ()))

    def append(self, block: np.ndarray) -> None:
        """Write ``block`` (rows × row shape) after the rows so far."""
        if self.finished:
            raise ValueError(f"spool {self.path} is finished; start a new one")
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.ndim < 1:
            raise ValueError("a spool takes blocks of rows, not a scalar")
        if self.row_shape is None:
            self.row_shape = tuple(block.shape[1:])
            self._write_header()
        elif tuple(block.shape[1:]) != self.row_shape:
            raise ValueError(f"block rows of shape {block.shape[1:]} in a spool of rows "
                             f"{self.row_shape}")
        self._file.write(block.tobytes())
        self.n_rows += block.shape[0]

    def finish(self) -> Path:
        """Write the final shape into the header and close the file; returns its path."""
        if self.row_shape is None:
            raise ValueError(f"spool {self.path} holds no rows: append at least one block")
        length = self._header_bytes
        self._write_header()
        if self._header_bytes != length:  # NumPy's growth padding makes this impossible
            raise OSError(f"the .npy header of {self.path} changed length; cannot finish")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self.finished = True
        return self.path

    def discard(self) -> None:
        """Close and delete the file."""
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None or not self.finished:
            self.discard()

    def _write_header(self) -> None:
        self._file.seek(0)
        np.lib.format.write_array_header_1_0(
            self._file, {"descr": np.lib.format.dtype_to_descr(self.dtype),
                         "fortran_order": False, "shape": self.shape})
        self._header_bytes = self._file.tell()
        self._file.seek(0, os.SEEK_END)


class _NpyFile:
    """The data block of a C-ordered ``.npy`` file, read with ``os.pread``."""

    def __init__(self, path: str | os.PathLike, offset: int, shape: tuple[int, ...],
                 dtype: np.dtype):
        self.path, self.offset = str(path), int(offset)
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._fd: int | None = None
        self._pid = -1

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` in the order given."""
        out = np.empty((index.size, *self.shape[1:]), dtype=self.dtype)
        if index.size == 0:
            return out
        order = np.argsort(index, kind="stable")
        ordered = index[order]
        flat = out.reshape(index.size, -1).view(np.uint8).reshape(index.size, self.row_bytes)
        # Runs of consecutive rows: one read each (whole folds of a sorted index are long runs).
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        starts = np.r_[0, breaks]
        ends = np.r_[breaks, ordered.size]
        fd = self._descriptor()
        staging = np.empty((0, self.row_bytes), dtype=np.uint8)
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            first = int(ordered[start])
            rows = end - start
            if staging.shape[0] < rows:
                staging = np.empty((rows, self.row_bytes), dtype=np.uint8)
            view = staging[:rows].reshape(-1)
            done = 0
            while done < view.size:
                chunk = os.pread(fd, min(view.size - done, _READ_LIMIT),
                                 self.offset + first * self.row_bytes + done)
                if not chunk:
                    raise OSError(f"{self.path} ends before row {first + rows - 1}: the file "
                                  "is truncated (delete the cache entry to rebuild it)")
                view[done:done + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
                done += len(chunk)
            flat[order[start:end]] = staging[:rows]
        return out

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
            self._fd = os.open(self.path, os.O_RDONLY)
            self._pid = os.getpid()
        return self._fd

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "offset": self.offset, "shape": self.shape,
                "dtype": self.dtype.str}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            try:
                os.close(self._fd)
            except OSError:
                pass


def _file_of(array: np.ndarray) -> _NpyFile | None:
    """The whole ``.npy`` file behind a memory map opened by ``np.load(..., mmap_mode=...)``,
    or None (an in-memory array, a slice of a map, a map of something else)."""
    filename = getattr(array, "filename", None)
    if not isinstance(array, np.memmap) or not filename or not array.flags.c_contiguous:
        return None
    try:
        with open(filename, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            shape, fortran, dtype = (np.lib.format.read_array_header_1_0(handle)
                                     if version == (1, 0)
                                     else np.lib.format.read_array_header_2_0(handle))
            offset = handle.tell()
    except (OSError, ValueError):
        return None
    if fortran or tuple(shape) != array.shape or np.dtype(dtype) != array.dtype \
            or int(array.offset) != offset:
        return None
    return _NpyFile(filename, offset, array.shape, array.dtype)


class Rows:
    """Rows of arrays, read when asked.

    ``Rows(array)`` views every row of ``array``; ``rows.take(index)`` a selection;
    ``Rows.concat([...])`` several views one after the other. An array memory-mapped from an
    ``.npy`` file (a cache entry's) is read from the file, batch by batch; any other array is
    indexed in memory.

    Parameters
    ----------
    array : ndarray
        At least 1-D; rows are along the first axis.
    index : array of int, optional
        The rows viewed, in order (default all).
    """

    def __init__(self, array: np.ndarray, index: np.ndarray | None = None):
        file = _file_of(array)
        source: Any = file if file is not None else np.asarray(array)
        if len(file.shape if file is not None else np.shape(source)) < 1:
            raise ValueError("Rows needs an array of at least one dimension, not a scalar")
        n = file.shape[0] if file is not None else len(source)
        index = np.arange(n) if index is None else _checked_index(index, n)
        self._parts: list[tuple[Any, np.ndarray]] = [(source, index)]

    @classmethod
    def _of_parts(cls, parts: list[tuple[Any, np.ndarray]]) -> Rows:
        rows = cls.__new__(cls)
        rows._parts = [part for part in parts if part[1].size] or parts[:1]
        return rows

    @staticmethod
    def concat(views: Sequence[Rows | np.ndarray]) -> Rows:
        """The rows of ``views`` one after the other (row shapes and dtypes must agree)."""
        views = [as_rows(view) for view in views]
        if not views:
            raise ValueError("Rows.concat needs at least one view")
        if len({(v.row_shape, v.dtype) for v in views}) > 1:
            raise ValueError("Rows.concat: views differ in row shape or dtype: "
                             + ", ".join(f"{v.row_shape} {v.dtype}" for v in views))
        return Rows._of_parts([part for view in views for part in view._parts])

    def __len__(self) -> int:
        return int(sum(index.size for _, index in self._parts))

    @property
    def row_shape(self) -> tuple[int, ...]:
        source = self._parts[0][0]
        return tuple(source.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._parts[0][0].dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.row_shape)

    @property
    def streamed(self) -> bool:
        """True when every part is read from a file (no data held in memory)."""
        return all(isinstance(source, _NpyFile) for source, _ in self._parts)

    def take(self, positions: np.ndarray | Sequence[int]) -> Rows:
        """The view of rows ``positions`` (indices into this view)."""
        positions = _checked_index(positions, len(self))
        if len(self._parts) == 1:
            source, index = self._parts[0]
            return Rows._of_parts([(source, index[positions])])
        # Several parts: one part per run of positions that stays in one source part, so
        # that the order of positions is kept.
        offsets = np.cumsum([0] + [index.size for _, index in self._parts])
        which = np.searchsorted(offsets, positions, side="right") - 1
        breaks = np.flatnonzero(np.diff(which) != 0) + 1
        parts = []
        for start, end in zip(np.r_[0, breaks].tolist(), np.r_[breaks, positions.size].tolist(),
                              strict=True):
            number = int(which[start])
            source, index = self._parts[number]
            parts.append((source, index[positions[start:end] - offsets[number]]))
        return Rows._of_parts(parts or [(self._parts[0][0], np.zeros(0, dtype=np.int64))])

    def read(self, positions: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        """The rows at ``positions`` (default all) as one in-memory array."""
        view = self if positions is None else self.take(positions)
        blocks = [source.take(index) if isinstance(source, _NpyFile) else source[index]
                  for source, index in view._parts]
        if len(blocks) == 1:
            return np.asarray(blocks[0])
        return np.concatenate(blocks)

    def __getitem__(self, key: Any) -> np.ndarray:
        """NumPy-style reading along the rows: an int, a slice, a mask or an index array."""
        if isinstance(key, tuple):
            first, rest = self[key[0]], key[1:]
            return first[rest] if np.ndim(key[0]) == 0 else first[(slice(None), *rest)]
        if isinstance(key, slice):
            return self.read(np.arange(len(self))[key])
        if np.ndim(key) == 0:
            return self.read([int(key)])[0]
        return self.read(key)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """Every row in memory (``np.asarray(rows)``): for small views and tests."""
        values = self.read()
        return values if dtype is None else values.astype(dtype, copy=False)

    def __repr__(self) -> str:
        kind = "file" if self.streamed else "memory"
        return f"Rows({len(self)} rows of {self.row_shape} {self.dtype}, {kind})"


def as_rows(x: Rows | np.ndarray) -> Rows:
    """``x`` itself when it is a :class:`Rows`, else a view of every row of the array."""
    return x if isinstance(x, Rows) else Rows(x)


def _checked_index(index: Any, n: int) -> np.ndarray:
    index = np.asarray(index)
    if index.dtype == bool:
        if index.shape != (n,):
            raise IndexError(f"boolean row mask of shape {index.shape} for {n} rows")
        return np.flatnonzero(index)
    if index.size and not np.issubdtype(index.dtype, np.integer):
        raise IndexError(f"row indices must be integers, not {index.dtype}")
    index = index.astype(np.int64).ravel()
    if index.size and (index.min() < -n or index.max() >= n):
        raise IndexError(f"row index out of range for {n} rows: "
                         f"{index.min()}..{index.max()}")
    return np.where(index < 0, index + n, index)
