"""AF detection from ECG: the study's package (see README.md)."""

from pathlib import Path as _Path

# Each source file of the package (real path -> (mtime_ns, size)) as it was when this process
# imported the package: ecgutils.cache.code_version refuses to key a cache entry by a file
# edited since, whose code this process may not be running.
SOURCE_STAT = {str(_p.resolve()): (_s.st_mtime_ns, _s.st_size)
               for _p in _Path(__file__).parent.glob("*.py") for _s in [_p.stat()]}
