import numpy as np
import pandas as pd
import pytest

from ecgutils import cache


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
