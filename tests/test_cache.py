from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgutils import cache, rhythm, signal


def _build(calls: list):
    def build():
        calls.append(1)
        arrays = {"X": np.arange(12, dtype=np.float32).reshape(3, 4)}
        tables = {"manifest": pd.DataFrame({"record": ["100", "101", "0203"], "y": [0, 1, 0]})}
        return arrays, tables, {"n_windows": 3}
    return build


def test_a_rerun_with_the_same_parameters_reuses_the_entry(tmp_path):
    calls: list = []
    first = cache.load_or_build("mitdb", {"fs": 250.0}, _build(calls), root=tmp_path)
    second = cache.load_or_build("mitdb", {"fs": 250.0}, _build(calls), root=tmp_path)
    assert len(calls) == 1
    assert not first.reused and second.reused
    assert isinstance(second.arrays["X"], np.memmap)
    assert np.array_equal(second.arrays["X"], first.arrays["X"])
    # Record names stay strings ("0203" keeps its leading zero).
    assert second.tables["manifest"]["record"].tolist() == ["100", "101", "0203"]
    assert second.meta["n_windows"] == 3


def test_changing_a_parameter_builds_a_new_entry(tmp_path):
    calls: list = []
    a = cache.load_or_build("mitdb", {"fs": 250.0, "window_s": 20.0}, _build(calls), tmp_path)
    b = cache.load_or_build("mitdb", {"fs": 250.0, "window_s": 10.0}, _build(calls), tmp_path)
    assert len(calls) == 2
    assert a.path != b.path


def test_a_failed_build_leaves_no_entry_and_no_staging_folder(tmp_path):
    def failing_build():
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        cache.load_or_build("mitdb", {"fs": 250.0}, failing_build, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_entry_is_rebuilt_not_trusted(tmp_path):
    calls: list = []
    entry = cache.load_or_build("mitdb", {"fs": 250.0}, _build(calls), tmp_path)
    (entry.path / "X.npy").unlink()
    rebuilt = cache.load_or_build("mitdb", {"fs": 250.0}, _build(calls), tmp_path)
    assert len(calls) == 2
    assert rebuilt.arrays["X"].shape == (3, 4)


def test_key_is_stable_and_rejects_unhashable_values():
    assert cache.key_of({"a": 1, "b": (1, 2)}) == cache.key_of({"b": [1, 2], "a": 1})
    with pytest.raises(TypeError, match="cache key"):
        cache.key_of({"a": object()})


def test_a_different_code_version_builds_a_new_entry_and_records_it(tmp_path):
    calls: list = []
    old = cache.load_or_build("mitdb", {"fs": 250.0}, _build(calls), tmp_path,
                              code_version="aaaa")
    new = cache.load_or_build("mitdb", {"fs": 250.0}, _build(calls), tmp_path,
                              code_version="bbbb")
    assert len(calls) == 2
    assert old.path != new.path
    assert cache.key_of({"fs": 250.0}, "aaaa") != cache.key_of({"fs": 250.0}, "bbbb")
    assert (old.meta["code_version"], new.meta["code_version"]) == ("aaaa", "bbbb")


def test_the_same_code_version_reuses_the_entry(tmp_path):
    calls: list = []
    version = cache.code_version(signal)
    first = cache.load_or_build("mitdb", {"fs": 250.0}, _build(calls), tmp_path,
                                code_version=version)
    second = cache.load_or_build("mitdb", {"fs": 250.0}, _build(calls), tmp_path,
                                 code_version=version)
    assert len(calls) == 1
    assert second.reused and second.path == first.path
    assert second.meta["code_version"] == version


def test_no_code_version_keeps_the_parameter_only_key(tmp_path):
    # Entries made before code versions existed keep their folder names.
    assert cache.key_of({"fs": 250.0}) == cache.key_of({"fs": 250.0}, None)
    assert cache.key_of({"fs": 250.0}) != cache.key_of({"fs": 250.0}, cache.code_version(signal))
    entry = cache.load_or_build("mitdb", {"fs": 250.0}, _build([]), tmp_path)
    assert entry.meta["code_version"] is None


def test_code_version_differs_between_modules_and_is_stable():
    version = cache.code_version(signal)
    assert len(version) == 16 and int(version, 16) >= 0
    assert version == cache.code_version(signal)
    assert version != cache.code_version(rhythm)
    assert cache.code_version(signal, rhythm) == cache.code_version(rhythm, signal)
    assert cache.code_version(signal, rhythm) not in {version, cache.code_version(rhythm)}


def test_code_version_follows_the_source_file(tmp_path, monkeypatch):
    import importlib

    module_file = tmp_path / "builder_for_cache_test.py"
    module_file.write_text("SCALE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("builder_for_cache_test")
    before = cache.code_version(module)
    module_file.write_text("SCALE = 2\n")
    assert cache.code_version(module) != before


def test_code_version_refuses_a_package_file_edited_after_import(monkeypatch):
    # A file edited while a process runs: the key would name the new code, the entry be built
    # by the old one. Simulated by the import-time record of the file (not by editing it).
    import ecgutils

    version = cache.code_version(signal)  # unchanged since import: fine
    path = str(Path(signal.__file__).resolve())
    mtime, size = ecgutils.SOURCE_STAT[path]
    monkeypatch.setitem(ecgutils.SOURCE_STAT, path, (mtime - 1, size))
    with pytest.raises(cache.StaleCodeError, match=r"signal\.py changed after this process"):
        cache.code_version(signal)
    monkeypatch.setitem(ecgutils.SOURCE_STAT, path, (mtime, size))
    assert cache.code_version(signal) == version


def test_code_version_without_a_module_is_a_clear_error():
    import math

    with pytest.raises(ValueError, match="at least one module"):
        cache.code_version()
    with pytest.raises(ValueError, match="takes modules, not str"):
        cache.code_version("ecgutils.signal")
    with pytest.raises(ValueError, match="math has no Python source file"):
        cache.code_version(math)


_CONCURRENT_BUILDER = """
import sys, time
import numpy as np
from ecgutils import cache
root, start_at = sys.argv[1], float(sys.argv[2])
def build():
    time.sleep(max(start_at - time.time(), 0) + 0.3)  # every process is mid-build at once
    return {"x": np.arange(1000.0)}, {}, {"builder": "p"}
entry = cache.load_or_build("race", {"n": 1000}, build, root=root)
assert np.array_equal(entry.arrays["x"], np.arange(1000.0))
"""


def test_processes_building_the_same_entry_at_once_end_with_one_valid_entry(tmp_path):
    import subprocess
    import sys
    import time

    start_at = time.time() + 3.0  # after every interpreter has imported numpy
    processes = [subprocess.Popen([sys.executable, "-c", _CONCURRENT_BUILDER, str(tmp_path),
                                   str(start_at)], stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], errors
    assert [path.name for path in tmp_path.iterdir()] == [
        cache.entry_path("race", {"n": 1000}, tmp_path).name]  # no staging or old folder left
    entry = cache.load("race", {"n": 1000}, tmp_path)
    assert entry is not None and np.array_equal(entry.arrays["x"], np.arange(1000.0))


def test_a_builder_finishing_second_keeps_the_first_entry_and_leaves_no_staging(tmp_path):
    # What the losing process of a race does: another process's entry appeared while it built.
    first = cache.save("race", {"n": 3}, {"x": np.arange(3.0)}, {}, root=tmp_path)
    inode = (first.path / "meta.json").stat().st_ino
    second = cache.save("race", {"n": 3}, {"x": np.arange(3.0)}, {}, root=tmp_path)
    assert (second.path / "meta.json").stat().st_ino == inode  # readers never saw it vanish
    assert [path.name for path in tmp_path.iterdir()] == [first.path.name]
