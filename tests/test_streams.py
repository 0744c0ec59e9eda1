"""Spools (arrays written a block at a time) and Rows (arrays read a batch at a time)."""

import pickle

import numpy as np
import pytest

from ecgutils import cache, preprocess, spectrogram, streams


def _spooled(folder, array, block=37):
    with streams.Spool(folder) as spool:
        for start in range(0, len(array), block):
            spool.append(array[start:start + block])
        return spool.finish()


@pytest.fixture()
def on_disk(tmp_path):
    # Synthetic rows: these tests are about reading and writing, not about ECG.
    array = np.random.default_rng(0).normal(size=(500, 6, 4)).astype(np.float32)
    return array, np.load(_spooled(tmp_path, array), mmap_mode="r")


def test_a_spool_is_an_npy_file_of_every_block_in_order(on_disk):
    array, mapped = on_disk
    assert mapped.shape == (500, 6, 4) and mapped.dtype == np.float32
    np.testing.assert_array_equal(mapped, array)


def test_a_spool_left_by_an_error_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError), streams.Spool(tmp_path) as spool:
        spool.append(np.zeros((3, 2)))
        raise RuntimeError("a record failed")
    assert list(tmp_path.iterdir()) == []


def test_a_spool_refuses_rows_of_another_shape_and_an_empty_finish(tmp_path):
    with streams.Spool(tmp_path) as spool:
        spool.append(np.zeros((3, 2)))
        with pytest.raises(ValueError, match=r"rows of shape \(3,\) in a spool of rows \(2,\)"):
            spool.append(np.zeros((1, 3)))
    with streams.Spool(tmp_path) as empty, pytest.raises(ValueError, match="holds no rows"):
        empty.finish()


def test_rows_read_what_numpy_indexing_reads_in_the_order_asked(on_disk):
    array, mapped = on_disk
    rows = streams.Rows(mapped)
    assert rows.streamed and rows.shape == array.shape
    index = np.random.default_rng(1).integers(0, 500, size=300)  # with repeats
    np.testing.assert_array_equal(rows.read(index), array[index])
    np.testing.assert_array_equal(rows.take(index).take(np.arange(299, -1, -3)).read(),
                                  array[index][::-3])
    np.testing.assert_array_equal(rows[10:20], array[10:20])
    np.testing.assert_array_equal(rows[-1], array[-1])


def test_a_slice_of_a_map_is_read_in_memory_not_from_the_file(on_disk):
    array, mapped = on_disk
    sliced = streams.Rows(mapped[100:])
    assert not sliced.streamed
    np.testing.assert_array_equal(sliced.read([0]), array[100:101])


def test_concatenated_views_keep_the_order_of_each_position(on_disk):
    array, mapped = on_disk
    extra = np.ones((40, 6, 4), dtype=np.float32)
    chained = streams.Rows.concat([streams.Rows(mapped).take(np.arange(50, 100)), extra])
    expected = np.concatenate([array[50:100], extra])
    positions = np.random.default_rng(2).permutation(90)
    np.testing.assert_array_equal(chained.read(positions), expected[positions])
    with pytest.raises(ValueError, match="differ in row shape"):
        streams.Rows.concat([chained, np.zeros((2, 6))])


def test_a_file_view_travels_as_its_path_and_indices(on_disk):
    array, mapped = on_disk
    view = streams.Rows(mapped).take(np.arange(0, 500, 2))
    wire = pickle.dumps(view)
    assert len(wire) < array[::2].nbytes / 10
    np.testing.assert_array_equal(pickle.loads(wire).read(), array[::2])


def test_reading_a_file_view_holds_none_of_its_pages(on_disk):
    # The resident set counts every touched page of a map: rows are read with pread, so the
    # map that np.load made stays untouched however many rows are read.
    _, mapped = on_disk
    streams.Rows(mapped).read(np.arange(500))
    path = str(mapped.filename)
    smaps = open("/proc/self/smaps").read().split("\n")
    starts = [i for i, line in enumerate(smaps) if line.endswith(path)]
    assert starts, "the memory map of the spool is missing"
    rss = [int(smaps[i + j].split()[1]) for i in starts for j in range(1, 8)
           if smaps[i + j].startswith("Rss:")]
    assert rss and max(rss) == 0


def test_out_of_range_rows_are_refused(on_disk):
    _, mapped = on_disk
    with pytest.raises(IndexError, match="out of range for 500 rows"):
        streams.Rows(mapped).take([500])


def test_a_streamed_entry_holds_what_an_in_memory_build_holds(mitdb_root):
    params = preprocess.default_params("mitdb", records=("100", "203"))
    entry = preprocess.build(params)
    assert entry.arrays["X"].shape[0] == entry.meta["n_windows"]
    # Spectrograms were made block by block: the same as of all windows at once.
    whole = spectrogram.log_stft(np.asarray(entry.arrays["X"]), params.fs, params.stft_params())
    np.testing.assert_allclose(entry.arrays["S"], whole, rtol=1e-6, atol=1e-6)
    assert not list(entry.path.parent.glob(".spool-*"))


def test_a_failed_build_leaves_no_spool_and_no_entry(mitdb_root, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("spectrogram failed")

    monkeypatch.setattr(spectrogram, "log_stft", broken)
    params = preprocess.default_params("mitdb", records=("100",), window_s=17.0)
    with pytest.raises(RuntimeError, match="spectrogram failed"):
        preprocess.build(params)
    root = cache.entry_path("x", {}).parent
    assert not list(root.glob(".spool-*"))
    assert not [p for p in root.glob("mitdb-*") if p.is_dir() and "17.0" in
                (p / "meta.json").read_text()]


def test_a_truncated_cache_file_is_one_clear_error(tmp_path):
    array = np.arange(40, dtype=np.float32).reshape(10, 4)
    path = _spooled(tmp_path, array)
    rows = streams.Rows(np.load(path, mmap_mode="r"))
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 3 * 16)  # the last three rows are gone
    np.testing.assert_array_equal(rows.read([0, 6]), array[[0, 6]])
    with pytest.raises(OSError, match="ends before row 9: the file is truncated"):
        rows.read([2, 9])
