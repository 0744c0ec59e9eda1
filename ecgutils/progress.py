"""Progress bars for long loops that stay small in saved notebooks.

Plain-text tqdm on stderr with a long minimum interval: a terminal sees a live bar, an executed
notebook keeps a handful of lines (no ipywidgets needed).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.std import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, total: int | None = None,
             disable: bool = False) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar labelled ``desc``."""
    return iter(tqdm(items, desc=desc, total=total, mininterval=5.0, file=sys.stderr,
                     disable=disable, dynamic_ncols=True))
