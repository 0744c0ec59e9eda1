import sys
from dataclasses import replace

import numpy as np
import pytest

from ecgutils import models, preprocess, splits, train
from ecgutils.errors import UnknownNameError


@pytest.fixture(scope="module")
def small_windows(mitdb_root):
    # Real windows: sinus (100) and AF (210), 30 windows of each record.
    entry = preprocess.build(preprocess.default_params("mitdb", records=("100", "210")))
    manifest = entry.tables["manifest"]
    keep = np.concatenate([np.flatnonzero(manifest["record"].eq(r).to_numpy())[:30]
                           for r in ("100", "210")])
    return (np.asarray(entry.arrays["X"])[keep], manifest["y"].to_numpy()[keep].astype(int),
            manifest["patient_id"].to_numpy()[keep])


def _tiny():
    return models.cnn1d(filters=(4, 4), dropout=0.1)


def test_a_tiny_model_trains_and_predicts_one_probability_per_window(small_windows):
    X, y, _ = small_windows
    result = train.fit(_tiny, X[::2], y[::2], X[1::2], y[1::2],
                       train.TrainConfig(epochs=1, batch_size=16))
    prob = train.predict(result.model, X)
    assert prob.shape == (60,)
    assert np.all((prob >= 0) & (prob <= 1))
    assert result.epochs_run == 1 and result.best_epoch == 1
    assert set(result.history) >= {"loss", "val_loss", "pr_auc", "val_pr_auc"}
    assert 0 <= result.threshold <= 1


def test_the_same_seed_gives_the_same_predictions(small_windows):
    X, y, _ = small_windows
    cfg = train.TrainConfig(epochs=2, batch_size=16, seed=7)
    first = train.predict(train.fit(_tiny, X[::2], y[::2], X[1::2], y[1::2], cfg).model, X)
    second = train.predict(train.fit(_tiny, X[::2], y[::2], X[1::2], y[1::2], cfg).model, X)
    assert np.array_equal(first, second)


def test_class_weights_balance_the_classes():
    weights = train._class_weights(np.array([0] * 90 + [1] * 10))
    assert weights == {0: pytest.approx(100 / 180), 1: pytest.approx(5.0)}


def test_cross_validation_refuses_a_fold_that_shares_a_patient(small_windows):
    X, y, groups = small_windows
    leaky = splits.Fold(number=0, train=np.arange(0, 40), validation=np.arange(40, 50),
                        test=np.arange(35, 60), kind="grouped")
    with pytest.raises(splits.LeakageError, match="mitdb:210"):
        train.cross_validate(X, y, groups, [leaky], _tiny, train.TrainConfig(epochs=1))


def test_cross_validation_fills_out_of_fold_probabilities(small_windows):
    X, y, _ = small_windows
    # 6 pseudo-patients of 10 consecutive windows, 3 sinus and 3 AF.
    groups = np.repeat(np.arange(6), 10).astype(str)
    folds = splits.grouped_folds(y, groups, n_splits=3, seed=0)
    cv = train.cross_validate(X, y, groups, folds, _tiny, train.TrainConfig(epochs=1))
    assert cv.tested.all()
    assert set(cv.fold_of) == {0, 1, 2}
    assert all("disjoint by patient" in fold.partition for fold in cv.folds)
    for fold in cv.folds:
        assert np.array_equal(cv.prob[fold.test], fold.prob)


def test_bad_training_settings_get_one_clear_error():
    with pytest.raises(UnknownNameError, match="val_acc"):
        train.TrainConfig(monitor="val_acc")
    with pytest.raises(ValueError, match="epochs"):
        train.TrainConfig(epochs=0)


def test_saved_model_loads_back_with_the_same_predictions(small_windows, tmp_path):
    import keras

    X, y, _ = small_windows
    model = train.fit(_tiny, X[::2], y[::2], X[1::2], y[1::2],
                      train.TrainConfig(epochs=1)).model
    path = train.save_model(model, tmp_path / "m.keras")
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]
    loaded = keras.models.load_model(path)
    assert np.allclose(train.predict(loaded, X[:5]), train.predict(model, X[:5]), atol=1e-6)


def test_augmentation_is_seeded_changes_each_batch_and_is_off_at_inference():
    x = np.tile(np.sin(np.linspace(0, 20, 5000, dtype=np.float32)), (4, 1))[..., None]
    first, second = train._Augment(seed=3), train._Augment(seed=3)
    a1, a2 = first(x, training=True), first(x, training=True)
    assert np.array_equal(np.asarray(a1), np.asarray(second(x, training=True)))
    assert not np.allclose(np.asarray(a1), np.asarray(a2))
    assert np.array_equal(np.asarray(first(x, training=False)), x)


def _window_set(n_groups: int, per_group: int) -> train.WindowSet:
    groups = np.repeat([f"r{g}" for g in range(n_groups)], per_group)
    n = groups.size
    return train.WindowSet(np.zeros((n, 8), "float32"), np.zeros((n, 2), "float32"),
                           np.arange(n) % 4, groups)


def test_crops_take_one_window_of_every_record_each_epoch_and_change_between_epochs():
    windows = _window_set(n_groups=10, per_group=5)
    feed = train._WindowFeed(windows, windows.classes, None, batch_size=4, crops=True, seed=3)
    first = np.sort(feed.order)
    assert feed.n_per_epoch == 10 and len(feed) == 3
    assert sorted(windows.groups[first]) == sorted(set(windows.groups))
    feed.on_epoch_end()
    assert not np.array_equal(first, np.sort(feed.order))
    again = train._WindowFeed(windows, windows.classes, None, batch_size=4, crops=True, seed=3)
    assert np.array_equal(first, np.sort(again.order))  # seeded


def test_balanced_weights_make_every_class_weigh_the_same():
    targets = np.array([0, 0, 0, 1, 2, 2])
    weights = train._balanced_weights(targets)
    assert [weights[targets == c].sum() for c in (0, 1, 2)] == pytest.approx([2.0, 2.0, 2.0])


def test_a_window_set_refuses_parts_of_different_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        train.WindowSet(np.zeros((3, 8)), np.zeros((2, 2)), np.zeros(3), np.zeros(3))


def test_training_on_a_file_view_equals_training_on_the_array(small_windows, tmp_path):
    from ecgutils import streams

    X, y, _ = small_windows
    with streams.Spool(tmp_path) as spool:
        spool.append(X)
        path = spool.finish()
    rows = streams.Rows(np.load(path, mmap_mode="r"))
    assert rows.streamed
    cfg = train.TrainConfig(epochs=2, batch_size=16, seed=5)
    in_memory = train.fit(_tiny, X[::2], y[::2], X[1::2], y[1::2], cfg)
    streamed = train.fit(_tiny, rows.take(np.arange(0, 60, 2)), y[::2],
                         rows.take(np.arange(1, 60, 2)), y[1::2], cfg)
    np.testing.assert_array_equal(train.predict(in_memory.model, X),
                                  train.predict(streamed.model, rows))
    assert in_memory.threshold == streamed.threshold


def test_batches_cover_every_row_once_per_epoch_in_a_new_seeded_order():
    X = np.arange(50, dtype=np.float32)[:, None] * np.ones((1, 3), dtype=np.float32)
    y = np.arange(50) % 2
    weights = np.linspace(1, 2, 50)
    feed = train.Batches(X, y, weights, batch_size=8, shuffle=True, seed=4)
    assert len(feed) == 7

    def epoch():
        seen = [feed[i] for i in range(len(feed))]
        for x, target, weight in seen:  # rows stay aligned with their targets and weights
            assert x.shape[1:] == (3, 1)
            np.testing.assert_array_equal(target, x[:, 0, 0].astype(int) % 2)
            np.testing.assert_allclose(weight, weights[x[:, 0, 0].astype(int)], rtol=1e-6)
        return np.concatenate([x[:, 0, 0] for x, _, _ in seen]).astype(int)

    first = epoch()
    feed.on_epoch_end()
    second = epoch()
    assert sorted(first) == sorted(second) == list(range(50))
    assert not np.array_equal(first, second)
    again = train.Batches(X, y, weights, batch_size=8, shuffle=True, seed=4)
    np.testing.assert_array_equal(np.concatenate([again[i][0][:, 0, 0] for i in range(7)]),
                                  first)
    with pytest.raises(ValueError, match="differ in rows"):
        train.Batches(X, y[:10])


def test_a_share_of_the_rows_per_epoch_is_a_new_sample_each_epoch():
    X = np.arange(50, dtype=np.float32)[:, None]
    feed = train.Batches(X, np.zeros(50), batch_size=8, shuffle=True, seed=4, per_epoch=20)
    assert feed.n_per_epoch == 20 and len(feed) == 3

    def epoch():
        return np.concatenate([feed[i][0][:, 0, 0] for i in range(len(feed))]).astype(int)

    first = epoch()
    feed.on_epoch_end()
    second = epoch()
    assert len(set(first)) == len(first) == 20 and len(set(second)) == 20  # no row twice
    assert set(first) != set(second)
    again = train.Batches(X, np.zeros(50), batch_size=8, shuffle=True, seed=4, per_epoch=20)
    np.testing.assert_array_equal(
        np.concatenate([again[i][0][:, 0, 0] for i in range(3)]).astype(int), first)
    with pytest.raises(ValueError, match="per_epoch"):
        train.Batches(X, np.zeros(50), per_epoch=20)  # a share needs shuffling


def test_epoch_fraction_sets_the_steps_of_a_fit(small_windows):
    X, y, _ = small_windows
    cfg = train.TrainConfig(epochs=2, batch_size=8, patience=2, epoch_fraction=0.5)
    half = train.fit(_tiny, X[:40], y[:40], X[40:], y[40:], cfg)
    whole = train.fit(_tiny, X[:40], y[:40], X[40:], y[40:], replace(cfg, epoch_fraction=1.0))
    # The optimizer counts its steps: 3 batches of the 20 sampled windows per epoch, not 5.
    assert int(half.model.optimizer.iterations) == 3 * half.epochs_run
    assert int(whole.model.optimizer.iterations) == 5 * whole.epochs_run
    for fraction in (0.0, 1.5):
        with pytest.raises(ValueError, match="epoch_fraction"):
            train.TrainConfig(epoch_fraction=fraction)


def test_folds_run_as_dask_jobs_are_reproducible_and_learn_what_they_learn_here(small_windows):
    X, y, _ = small_windows
    groups = np.repeat(np.arange(6), 10).astype(str)
    folds = splits.grouped_folds(y, groups, n_splits=3, seed=0)
    cfg = train.TrainConfig(epochs=1, batch_size=16)
    here = train.cross_validate(X, y, groups, folds, _tiny, cfg, workers=1)
    jobs = train.cross_validate(X, y, groups, folds, _tiny, cfg, workers=2)
    again = train.cross_validate(X, y, groups, folds, _tiny, cfg, workers=2)
    assert [f.number for f in jobs.folds] == [f.number for f in here.folds]
    assert [f.partition for f in jobs.folds] == [f.partition for f in here.folds]
    # Same seeds, so the same starting weights and batches: what remains is round-off of
    # TensorFlow's CPU kernels, whose sums depend on the threads a process runs (about 1e-3
    # after an epoch). A different start or batch order moves these by tenths.
    np.testing.assert_allclose(jobs.prob, again.prob, atol=5e-3)
    np.testing.assert_allclose(jobs.prob, here.prob, atol=5e-3)


# In a fresh process (a long-lived heap serves big blocks from its free lists whatever the
# thresholds): 50 blocks of 2 MB, each touched, freed.
_FAULTS = """
import ctypes, ctypes.util, resource, sys
import numpy as np
from ecgutils import cluster

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        block = np.empty(2 * 1024 * 1024, dtype=np.uint8)
        block.fill(1)
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallopt(-3, 128 * 1024)  # what TensorFlow's mallopt(M_TRIM_THRESHOLD, 128 kB) leaves
libc.mallopt(-1, 128 * 1024)
lowered = faults()
assert cluster.malloc_thresholds_back()
faults()  # the heap grows to hold one block
print(lowered, faults())
"""


def test_the_malloc_thresholds_tensorflow_lowers_are_put_back():
    import ctypes.util
    import subprocess

    if sys.platform != "linux" or not ctypes.util.find_library("c"):
        pytest.skip("glibc's mallopt only")
    out = subprocess.run([sys.executable, "-c", _FAULTS], check=True, capture_output=True,
                         text=True).stdout.split()
    lowered, back = int(out[0]), int(out[1])
    # Lowered, every block is mapped afresh and faults in page by page (512 pages each);
    # put back, the blocks come from the heap.
    assert lowered > 10_000
    assert back < 2_000


def test_every_batch_puts_the_malloc_thresholds_back(monkeypatch):
    from ecgutils import cluster

    calls = []
    monkeypatch.setattr(cluster, "malloc_thresholds_back", lambda: calls.append(1) or True)
    batches = train.Batches(np.zeros((8, 100), dtype=np.float32), np.zeros(8), batch_size=4)
    batches[0]
    batches[1]
    assert len(calls) == 2
