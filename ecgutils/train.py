"""Fitting and patient-grouped cross-validation of the Keras models.

Every fit uses class weights (AF is the minority), early stopping with the best epoch's
weights restored, monitored on a validation set of *training* patients, and fixed seeds.
:func:`cross_validate` runs one fit per fold, checks that train, validation and test patients
are disjoint before each fit, and returns out-of-fold probabilities: every window's
probability comes from the fold model that never saw its patient.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ecgutils import cluster, config, metrics, splits, streams
from ecgutils.errors import UnknownNameError

# Each fold builds a fresh model, which TensorFlow reports as "retracing" — expected here.
logging.getLogger("tensorflow").setLevel(logging.ERROR)

MONITORS = ("val_pr_auc", "val_loss")
SCHEDULES = ("cosine", "constant")
THRESHOLDS = ("validation", "fixed")
PREDICT_BATCH = 256


@dataclass(frozen=True)
class TrainConfig:
    """How one model is fitted.

    Attributes
    ----------
    epochs : int
        Most epochs per fit.
    batch_size : int
    learning_rate : float
        Adam's initial learning rate.
    schedule : {"cosine", "constant"}
        Cosine decay of the learning rate over ``epochs`` (to 5 %), or constant.
    patience : int
        Early stopping: epochs without improvement of ``monitor`` before stopping.
    monitor : {"val_pr_auc", "val_loss"}
        What early stopping (and the restored epoch) is chosen on. PR-AUC of the AF class
        tracks what matters for a minority class better than the loss.
    class_weight : bool
        Weight classes inversely to their frequency in the training windows.
    augment : bool
        Random amplitude scaling (×0.8–1.25), circular time shift and Gaussian noise
        (σ = 0.05 of a z-scored window) during training only (1D inputs only).
    threshold : {"validation", "fixed"}
        Decision threshold: the one maximising F1 on the validation patients, or 0.5.
    epoch_fraction : float
        Share of the training windows each epoch trains on, in (0, 1]: a fresh seeded random
        sample without replacement every epoch (1: every window). The leakage study's
        overlapping-window splits use it to take as many steps per epoch as the split without
        overlap (:func:`ecgutils.leakage.overlap_epoch_fraction`), so that only what the
        batches hold differs between the splits, not how long the model trains.
    seed : int
    run_eagerly : bool
        Keras runs the model op by op instead of tracing it into graphs: the same arithmetic,
        for fits of a few hundred windows where tracing takes longer than the training (the
        smoke profile: a 1-epoch fit of 120 windows takes 2 s instead of 6). Off otherwise.
    """

    epochs: int = 15
    batch_size: int = 64
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    patience: int = 5
    monitor: str = "val_pr_auc"
    class_weight: bool = True
    augment: bool = False
    threshold: str = "validation"
    epoch_fraction: float = 1.0
    seed: int = config.DEFAULT_SEED
    run_eagerly: bool = False

    def __post_init__(self) -> None:
        for name, value, allowed in (("monitor", self.monitor, MONITORS),
                                     ("schedule", self.schedule, SCHEDULES),
                                     ("threshold", self.threshold, THRESHOLDS)):
            if value not in allowed:
                raise UnknownNameError(
                    f"unknown {name} {value!r}; choose one of {', '.join(allowed)}"
                )
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError(
                f"epochs, batch_size and learning_rate must be positive; got {self.epochs}, "
                f"{self.batch_size}, {self.learning_rate}"
            )
        if not 0 < self.epoch_fraction <= 1:
            raise ValueError(f"epoch_fraction must be in (0, 1]; got {self.epoch_fraction}")


@dataclass
class FitResult:
    """A fitted model and how the fit went."""

    model: keras.Model
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    fit_s: float
    train_windows_per_s: float
    threshold: float
    validation: dict[str, Any]
    validation_prob: np.ndarray


@dataclass
class FoldResult:
    number: int
    test: np.ndarray
    prob: np.ndarray
    threshold: float
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    fit_s: float
    train_windows_per_s: float
    predict_windows_per_s: float
    validation: dict[str, Any]
    partition: str
    validation_y: np.ndarray
    validation_prob: np.ndarray
    model_path: str | None = None


@dataclass
class CVResult:
    """Out-of-fold predictions of a cross-validation.

    ``prob`` and ``threshold`` hold, for every window, the probability and the decision
    threshold of the fold whose test part it was in (NaN for windows in no test part).
    """

    prob: np.ndarray
    threshold: np.ndarray
    fold_of: np.ndarray
    folds: list[FoldResult] = field(default_factory=list)

    @property
    def tested(self) -> np.ndarray:
        return ~np.isnan(self.prob)

    @property
    def pred(self) -> np.ndarray:
        return (self.prob >= self.threshold).astype(np.int8)


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and Keras (TensorFlow) generators."""
    _initialise_keras()
    config.seed_everything(seed)
    keras.utils.set_random_seed(seed)


def _build_seeded(build_model: Callable[[], keras.Model], seed: int) -> keras.Model:
    """``build_model()`` with Keras drawing its initialisers' seeds from a generator of its
    own, seeded with ``seed``.

    Keras draws a seed for every initialiser and dropout layer from Python's shared
    ``random`` generator. In a Dask worker, other threads of the worker draw from it too, at
    times that vary from run to run, so a fold's starting weights would vary. A private
    generator seeded like the shared one (:func:`seed_all`) draws the same numbers here and
    the same numbers there.
    """
    import random

    from keras.src.random import seed_generator

    shared = seed_generator.python_random
    seed_generator.python_random = random.Random(seed)
    try:
        return build_model()
    finally:
        seed_generator.python_random = shared


_INITIALISED_THREADS: set[int] = set()


def _initialise_keras() -> None:
    """Build and drop one small model, once per thread, before the first seeding.

    The first model a fresh Dask worker builds draws once more from Python's generator than
    later ones do (lazy set-up inside Keras/TensorFlow), so without this a fold fitted as a
    job would start from other weights than the same fold fitted here.
    """
    import threading

    thread = threading.get_ident()
    if thread in _INITIALISED_THREADS:
        return
    keras.Sequential([keras.Input((8, 1)), keras.layers.Conv1D(1, 3), keras.layers.Dropout(0.1)])
    _INITIALISED_THREADS.add(thread)


def as_input(X: np.ndarray) -> np.ndarray:
    """Add the trailing channel axis Keras expects: (n, 5000) → (n, 5000, 1)."""
    return np.asarray(X, dtype=np.float32)[..., None]


def fit(
    build_model: Callable[[], keras.Model],
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    cfg: TrainConfig = TrainConfig(),
    initial_weights: Sequence[np.ndarray] | None = None,
    verbose: int = 0,
) -> FitResult:
    """Fit a fresh model with class weights and early stopping on the validation set.

    Parameters
    ----------
    build_model : callable
        Returns an uncompiled Keras model (one sigmoid output).
    X_train, X_val : ndarray or streams.Rows
        Windows (n, 5000) or spectrograms (n, n_freqs, n_times); a channel axis is added.
        A :class:`~ecgutils.streams.Rows` view of a cache entry is read batch by batch
        (:class:`Batches`), so that memory does not grow with the data.
    y_train, y_val : ndarray of {0, 1}
    cfg : TrainConfig
    initial_weights : list of ndarray, optional
        Start from these weights (e.g. a model pre-trained on CinC 2017) instead of random.
    verbose : int
        Keras verbosity.

    Returns
    -------
    FitResult
        The model holds the weights of the best epoch by ``cfg.monitor``.
    """
    y_train, y_val, chosen, cfg = _start(y_train, y_val, np.float32, cfg)
    with chosen.scope():
        model = _build_seeded(build_model, cfg.seed)
        if initial_weights is not None:
            model.set_weights(initial_weights)
        trained = _with_augmentation(model, cfg) if cfg.augment else model
        batches = _training_batches(X_train, y_train, cfg)
        trained.compile(
            optimizer=_adam(cfg, batches.n_per_epoch),
            loss="binary_crossentropy",
            metrics=[keras.metrics.AUC(curve="PR", name="pr_auc"),
                     keras.metrics.AUC(name="auroc")],
            run_eagerly=cfg.run_eagerly,
        )
    # PR-AUC means nothing on a validation set without AF: fall back to the loss there.
    monitor = cfg.monitor if y_val.any() else "val_loss"
    stopper = keras.callbacks.EarlyStopping(
        monitor=monitor, mode="min" if monitor == "val_loss" else "max",
        patience=cfg.patience, restore_best_weights=True,
    )
    began = time.perf_counter()
    history = trained.fit(
        batches,
        validation_data=Batches(X_val, y_val, batch_size=PREDICT_BATCH),
        epochs=cfg.epochs, callbacks=[stopper], verbose=verbose, shuffle=False,
    ).history
    fit_s = time.perf_counter() - began
    epochs_run = len(history["loss"])
    monitored = np.asarray(history[monitor])
    best_epoch = int(np.argmin(monitored) if monitor == "val_loss" else np.argmax(monitored))
    prob_val = predict(model, X_val)
    threshold = (metrics.best_threshold(y_val, prob_val)
                 if cfg.threshold == "validation" else 0.5)
    validation = metrics.binary_metrics(y_val.astype(int), prob_val, threshold)
    validation["monitor"] = monitor
    return FitResult(
        model=model,
        history={key: [float(v) for v in values] for key, values in history.items()},
        best_epoch=best_epoch + 1,
        epochs_run=epochs_run,
        fit_s=fit_s,
        train_windows_per_s=batches.n_per_epoch * epochs_run / fit_s,
        threshold=float(threshold),
        validation={key: _plain(value) for key, value in validation.items()},
        validation_prob=prob_val,
    )


def _start(y_train: Any, y_val: Any, dtype: type, cfg: TrainConfig
           ) -> tuple[np.ndarray, np.ndarray, Any, TrainConfig]:
    """What every fit does first: the labels as ``dtype`` arrays (ValueError when the
    training or the validation set is empty), every seed set, and the device strategy with
    ``cfg``'s batch size scaled to its replicas (:func:`_on_devices`)."""
    y_train = np.asarray(y_train, dtype=dtype)
    y_val = np.asarray(y_val, dtype=dtype)
    if y_train.size == 0 or y_val.size == 0:
        raise ValueError(f"empty training ({y_train.size}) or validation ({y_val.size}) set")
    seed_all(cfg.seed)
    chosen, cfg = _on_devices(cfg)
    return y_train, y_val, chosen, cfg


def fit_classes(
    build_model: Callable[[], keras.Model],
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    cfg: TrainConfig = TrainConfig(),
    verbose: int = 0,
) -> tuple[keras.Model, dict[str, list[float]], int]:
    """Fit a fresh softmax model to integer class labels (the leakage study's patient probe),
    with the schedule, seed and early stopping of ``cfg`` on validation accuracy.

    Returns
    -------
    (model, history, epochs_run)
        The model holds the weights of the best validation-accuracy epoch.
    """
    y_train, y_val, chosen, cfg = _start(y_train, y_val, np.int64, cfg)
    with chosen.scope():
        model = _build_seeded(build_model, cfg.seed)
        model.compile(optimizer=_adam(cfg, _per_epoch(cfg, y_train.size) or y_train.size),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      run_eagerly=cfg.run_eagerly)
    stopper = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                            patience=cfg.patience, restore_best_weights=True)
    history = model.fit(Batches(X_train, y_train, batch_size=cfg.batch_size, shuffle=True,
                                seed=cfg.seed, per_epoch=_per_epoch(cfg, y_train.size)),
                        validation_data=Batches(X_val, y_val, batch_size=PREDICT_BATCH),
                        epochs=cfg.epochs, callbacks=[stopper], verbose=verbose,
                        shuffle=False).history
    history = {key: [float(v) for v in values] for key, values in history.items()}
    return model, history, len(history["loss"])


def predict_classes(model: keras.Model, X: np.ndarray | streams.Rows,
                    batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Most probable class of each window, shape (n,)."""
    if len(X) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.argmax(model.predict(Batches(X, batch_size=batch_size), verbose=0), axis=1)


def predict(model: keras.Model, X: np.ndarray | streams.Rows,
            batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """AF probability of each window, shape (n,); ``X`` as in :func:`fit`."""
    if len(X) == 0:
        return np.zeros(0, dtype=np.float64)
    return np.asarray(model.predict(Batches(X, batch_size=batch_size), verbose=0),
                      dtype=np.float64).ravel()


def cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    folds: Sequence[splits.Fold],
    build_model: Callable[[], keras.Model],
    cfg: TrainConfig = TrainConfig(),
    extra_train: tuple[np.ndarray, np.ndarray] | None = None,
    initial_weights: Sequence[np.ndarray] | None = None,
    save_dir: str | os.PathLike | None = None,
    name: str = "model",
    verbose: int = 0,
    workers: int | None = None,
    scheduler: str | None = None,
) -> CVResult:
    """One fit per fold; out-of-fold probabilities for every tested window.

    Parameters
    ----------
    X : ndarray or streams.Rows
        Windows (a :class:`~ecgutils.streams.Rows` view of a cache entry is read batch by
        batch; folds are views of it, never copies).
    y, groups : ndarray
        Binary labels (1 AF, 0 non-AF) and patient id of each window.
    folds : sequence of splits.Fold
        Index sets. For grouped folds, patient disjointness of train / validation / test is
        asserted before each fit (``splits.LeakageError`` otherwise).
    build_model : callable
        Returns a fresh uncompiled model.
    cfg : TrainConfig
    extra_train : (X, y), optional
        Windows of *other patients* (another database) added to every fold's training set —
        e.g. CinC 2017 when testing on mitdb. Never tested on.
    initial_weights : list of ndarray, optional
        Weights every fold starts from (a pre-trained model).
    save_dir : path, optional
        Save each fold's model as ``<save_dir>/<name>_fold<k>.keras``.
    name : str
        Prefix of the saved models and the progress bar.
    workers, scheduler : optional
        Run the folds as independent jobs on a Dask cluster
        (:func:`ecgutils.cluster.run_jobs`): ``workers`` local worker processes, or the
        cluster at ``scheduler``. Default :func:`ecgutils.cluster.fold_workers` (set by
        ``run_all.py --parallel N``; one worker: the folds run here, in order). Each fold
        has its own seed, so where it runs does not change what it learns.

    Returns
    -------
    CVResult
    """
    X = streams.as_rows(X)
    y = np.asarray(y)
    groups = np.asarray(groups)
    prob = np.full(y.size, np.nan)
    threshold = np.full(y.size, np.nan)
    fold_of = np.full(y.size, -1, dtype=np.int16)
    jobs = []
    for fold in folds:  # every fold checked before any is fitted
        if fold.kind == "grouped":
            partition = splits.assert_disjoint(
                train=groups[fold.train], validation=groups[fold.validation],
                test=groups[fold.test],
            )
        else:
            partition = (f"random split (NOT patient-disjoint): train {fold.train.size}, "
                         f"validation {fold.validation.size}, test {fold.test.size} windows")
        jobs.append((fold, partition, X, y, build_model, cfg, extra_train, initial_weights,
                     None if save_dir is None else str(save_dir), name, verbose))
    results = cluster.run_jobs(_fit_fold, jobs, f"{name} folds", workers, scheduler)
    for fold, result in zip(folds, results, strict=True):
        prob[fold.test] = result.prob
        threshold[fold.test] = result.threshold
        fold_of[fold.test] = fold.number
    return CVResult(prob=prob, threshold=threshold, fold_of=fold_of, folds=results)


class Batches(keras.utils.PyDataset):
    """Batches of ``inputs`` (with ``targets`` and ``weights`` when given) for Keras.

    Fit with ``shuffle=False``: the rows are shuffled here, with a seeded NumPy generator.
    Keras's own shuffle of a PyDataset reorders batches with Python's shared ``random``
    generator, which other threads (a Dask worker's) also draw from, so the order would vary.

    Parameters
    ----------
    inputs : Rows, ndarray, or mapping of name → Rows/ndarray
        One input, or a model's named inputs (rows aligned).
    targets, weights : ndarray, optional
        Per row; ``weights`` are Keras sample weights (class weights per window).
    batch_size : int
    shuffle : bool
        A new seeded permutation of the rows every epoch (:meth:`on_epoch_end`, which a
        subclass may override to draw another order); otherwise rows in order.
    seed : int
    channel_axis : bool or set of names
        Add a trailing channel axis of 1 (Keras convolutions' ``(n, samples, 1)``) to every
        input (True) or to the named ones.
    per_epoch : int, optional
        With ``shuffle``, each epoch takes only this many rows: the first ones of its
        permutation (a fresh sample without replacement every epoch). Default: every row.
    """

    def __init__(self, inputs: streams.Rows | np.ndarray | Mapping[str, streams.Rows | np.ndarray],
                 targets: np.ndarray | None = None, weights: np.ndarray | None = None,
                 batch_size: int = 64, shuffle: bool = False, seed: int = 0,
                 channel_axis: bool | set[str] = True, per_epoch: int | None = None):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if per_epoch is not None and (per_epoch < 1 or not shuffle):
            raise ValueError(f"per_epoch must be at least 1 and needs shuffle; got {per_epoch}")
        self.named = isinstance(inputs, Mapping)
        self.inputs = ({name: streams.as_rows(x) for name, x in inputs.items()} if self.named
                       else {"": streams.as_rows(inputs)})
        lengths = {name: len(rows) for name, rows in self.inputs.items()}
        self.n = next(iter(lengths.values()))
        for name, values in (("targets", targets), ("weights", weights)):
            if values is not None:
                lengths[name] = len(values)
        if len(set(lengths.values())) > 1:
            raise ValueError(f"inputs, targets and weights differ in rows: {lengths}")
        self.targets = None if targets is None else np.asarray(targets)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float32)
        self.batch_size, self.shuffle = int(batch_size), shuffle
        self.channel = (set(self.inputs) if channel_axis is True
                        else set(channel_axis or ()))
        self.n_per_epoch = self.n if per_epoch is None else min(int(per_epoch), self.n)
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(self.n)
        self.on_epoch_end()

    def on_epoch_end(self) -> None:
        """The next epoch's order of rows (Keras calls this after every epoch)."""
        if self.shuffle:
            self.order = self.rng.permutation(self.n)[:self.n_per_epoch]

    def __len__(self) -> int:
        return int(np.ceil(len(self.order) / self.batch_size))

    def __getitem__(self, index: int):
        cluster.malloc_thresholds_back()  # TensorFlow lowers them (see there)
        # Sorted within the batch: reads from a file go forward (the batch is a set anyway).
        rows = np.sort(self.order[index * self.batch_size:(index + 1) * self.batch_size])
        x = {name: self._input(name, view, rows) for name, view in self.inputs.items()}
        x = x if self.named else x[""]
        if self.targets is None:
            return (x,)
        if self.weights is None:
            return x, self.targets[rows]
        return x, self.targets[rows], self.weights[rows]

    def _input(self, name: str, view: streams.Rows, rows: np.ndarray) -> np.ndarray:
        values = view.read(rows)
        return as_input(values) if name in self.channel else values.astype(np.float32)


def _fit_fold(fold: splits.Fold, partition: str, X: streams.Rows, y: np.ndarray,
              build_model: Callable[[], keras.Model], cfg: TrainConfig,
              extra_train: tuple[Any, np.ndarray] | None,
              initial_weights: Sequence[np.ndarray] | None, save_dir: str | None, name: str,
              verbose: int) -> FoldResult:
    """One fold of :func:`cross_validate`: fit, predict its test part, save the model (a job
    that may run in another process, :func:`ecgutils.cluster.run_jobs`)."""
    X_train, y_train = X.take(fold.train), y[fold.train]
    X_val, y_val = X.take(fold.validation), y[fold.validation]
    if extra_train is not None:
        X_train = streams.Rows.concat([X_train, extra_train[0]])
        y_train = np.concatenate([y_train, extra_train[1]])
    result = fit(build_model, X_train, y_train, X_val, y_val,
                 replace(cfg, seed=cfg.seed + fold.number), initial_weights, verbose)
    began = time.perf_counter()
    prob_test = predict(result.model, X.take(fold.test))
    predict_s = time.perf_counter() - began
    model_path = None
    if save_dir is not None:
        model_path = str(save_model(result.model,
                                    Path(save_dir) / f"{name}_fold{fold.number}.keras"))
    return FoldResult(
        number=fold.number, test=np.asarray(fold.test), prob=prob_test,
        threshold=result.threshold, history=result.history, best_epoch=result.best_epoch,
        epochs_run=result.epochs_run, fit_s=result.fit_s,
        train_windows_per_s=result.train_windows_per_s,
        predict_windows_per_s=fold.test.size / max(predict_s, 1e-9),
        validation=result.validation, partition=partition, validation_y=y_val.astype(int),
        validation_prob=result.validation_prob, model_path=model_path,
    )


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save as ``.keras`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _on_devices(cfg: TrainConfig) -> tuple[Any, TrainConfig]:
    """The ``tf.distribute`` strategy for the visible devices (:mod:`ecgutils.devices`) and
    ``cfg`` with its batch size as the global batch (per-replica batch × replicas); on one
    device or none the default strategy and ``cfg`` unchanged."""
    from ecgutils import devices

    chosen = devices.strategy()
    return chosen, replace(cfg, batch_size=devices.global_batch_size(cfg.batch_size, chosen))


def _adam(cfg: TrainConfig, n_train: int) -> keras.optimizers.Optimizer:
    """Adam at ``cfg.learning_rate``, cosine-decayed to 5 % over all steps of ``cfg.epochs``."""
    steps = int(np.ceil(n_train / cfg.batch_size)) * cfg.epochs
    rate = (keras.optimizers.schedules.CosineDecay(cfg.learning_rate, steps, alpha=0.05)
            if cfg.schedule == "cosine" else cfg.learning_rate)
    return keras.optimizers.Adam(rate)


def _class_weights(y: np.ndarray) -> dict[int, float]:
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.asarray(y).astype(int)
    present = np.unique(labels)
    # scikit-learn's "balanced" weight is n / (n_classes * count) over the classes present in
    # y (it refuses an absent one); rescaled to n / (2 * count), a training set that lacks a
    # class keeps the weights it always had. An absent class has no window to weigh: n / 2.
    balanced = compute_class_weight("balanced", classes=present, y=labels) * present.size / 2
    weights = dict.fromkeys((0, 1), labels.size / 2)
    weights.update(zip(present.tolist(), balanced.tolist(), strict=True))
    return weights


def _training_batches(X: np.ndarray | streams.Rows, y: np.ndarray, cfg: TrainConfig) -> Batches:
    """Shuffled batches of ``cfg.batch_size``, each window weighted by its class's weight
    when ``cfg.class_weight`` (Keras's ``class_weight`` as per-window sample weights); each
    epoch a fresh ``cfg.epoch_fraction`` of the windows."""
    from sklearn.utils.class_weight import compute_sample_weight

    weights = None
    if cfg.class_weight:
        labels = np.asarray(y).astype(int)
        weights = compute_sample_weight(_class_weights(labels), labels).astype(np.float32)
    return Batches(X, y, weights, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                   per_epoch=_per_epoch(cfg, len(y)))


def _per_epoch(cfg: TrainConfig, n: int) -> int | None:
    """Rows per epoch of ``n`` training rows under ``cfg.epoch_fraction`` (None: all)."""
    return max(1, round(cfg.epoch_fraction * n)) if cfg.epoch_fraction < 1 else None


def _with_augmentation(model: keras.Model, cfg: TrainConfig) -> keras.Model:
    if len(model.input_shape) != 3:
        raise ValueError("augmentation is implemented for 1D windows only")
    inputs = keras.Input(model.input_shape[1:])
    augmented = _Augment(seed=cfg.seed)(inputs)
    return keras.Model(inputs, model(augmented))


class _Augment(keras.layers.Layer):
    """Training-time amplitude scaling, circular shift and Gaussian noise of 1D windows."""

    def __init__(self, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        ops = keras.ops
        batch = ops.shape(inputs)[0]
        log_scale = keras.random.uniform((batch, 1, 1), -0.223, 0.223,
                                         seed=self.seed_generator)
        # One seeded shift per batch, drawn in the graph (a Python draw would be frozen into
        # the traced function and differ between processes).
        shift = keras.random.randint((), 0, ops.shape(inputs)[1], seed=self.seed_generator)
        shifted = ops.roll(inputs, shift=shift, axis=1)
        noise = keras.random.normal(ops.shape(inputs), stddev=0.05, seed=self.seed_generator)
        return shifted * ops.exp(log_scale) + noise


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


# --- The detector: two inputs, four classes, whole records --------------------------------


@dataclass
class WindowSet:
    """Windows a detector reads, with their labels and groups.

    Attributes
    ----------
    X : streams.Rows (n, samples)
        Normalised waveform windows, read batch by batch (an array given is wrapped in a
        :class:`~ecgutils.streams.Rows` view).
    R : ndarray (n, n_features)
        RR features per window (:mod:`ecgutils.beats`).
    classes : ndarray of int (n,)
        Rhythm class index (:data:`ecgutils.windows.CLASSES`; AF = 1).
    groups : ndarray (n,)
        Record (CinC) or patient (mitdb) of each window.
    """

    X: np.ndarray
    R: np.ndarray
    classes: np.ndarray
    groups: np.ndarray

    def __post_init__(self) -> None:
        self.X = streams.as_rows(self.X)  # one kind of X: a view, whatever was given
        n = len(self.X)
        if not (len(self.R) == len(self.classes) == len(self.groups) == n):
            raise ValueError(f"WindowSet parts differ in length: X {n}, R {len(self.R)}, "
                             f"classes {len(self.classes)}, groups {len(self.groups)}")

    def __len__(self) -> int:
        return len(self.X)

    @property
    def af(self) -> np.ndarray:
        """1 where the window is AF (class A), else 0."""
        return (np.asarray(self.classes) == AF_CLASS).astype(np.int8)

    def take(self, rows: np.ndarray) -> WindowSet:
        return WindowSet(self.X.take(rows), self.R[rows], self.classes[rows], self.groups[rows])

    @staticmethod
    def concat(parts: Sequence[WindowSet]) -> WindowSet:
        return WindowSet(streams.Rows.concat([p.X for p in parts]),
                         *(np.concatenate([getattr(p, name) for p in parts])
                           for name in ("R", "classes", "groups")))


AF_CLASS = 1  # index of A in ecgutils.windows.CLASSES


@dataclass(frozen=True)
class DetectorConfig:
    """How a detector is fitted (beside :class:`TrainConfig`'s optimiser settings).

    Attributes
    ----------
    crops : bool
        Each epoch draws one random window of every training record (group) — random crops on
        the 5-s grid — instead of every window. Records count equally and an epoch is short.
    n_classes : int
        4: softmax over N/A/O/~ (AF read out as class A); 1: AF vs rest (sigmoid).
    aggregate : bool
        Validation (early stopping, threshold) scores records — the mean AF probability of a
        record's windows — rather than windows.
    """

    crops: bool = True
    n_classes: int = 4
    aggregate: bool = True


def fit_detector(
    build_model: Callable[[], keras.Model],
    train_set: WindowSet,
    val_set: WindowSet,
    cfg: TrainConfig = TrainConfig(),
    dcfg: DetectorConfig = DetectorConfig(),
    initial_weights: Sequence[np.ndarray] | None = None,
    verbose: int = 0,
) -> FitResult:
    """Fit a detector (inputs ``ecg`` and ``rr``) with class weights and early stopping on the
    validation AF PR-AUC (of records when ``dcfg.aggregate``, else of windows).

    Returns
    -------
    FitResult
        ``threshold`` maximises F1 on the validation records (or windows); ``validation_prob``
        holds the validation *windows'* AF probabilities.
    """
    if len(train_set) == 0 or len(val_set) == 0:
        raise ValueError(f"empty training ({len(train_set)}) or validation ({len(val_set)}) set")
    if cfg.epoch_fraction != 1:
        raise ValueError("fit_detector sizes its epochs with dcfg.crops; epoch_fraction must "
                         f"be 1, got {cfg.epoch_fraction}")
    seed_all(cfg.seed)
    chosen, cfg = _on_devices(cfg)
    targets = (np.asarray(train_set.classes, dtype=np.int64) if dcfg.n_classes > 1
               else train_set.af.astype(np.float32))
    weights = _balanced_weights(targets) if cfg.class_weight else None
    feed = _WindowFeed(train_set, targets, weights, cfg.batch_size, dcfg.crops, cfg.seed)
    with chosen.scope():
        model = _build_seeded(build_model, cfg.seed)
        if initial_weights is not None:
            model.set_weights(initial_weights)
        model.compile(optimizer=_adam(cfg, feed.n_per_epoch),
                      loss=("sparse_categorical_crossentropy" if dcfg.n_classes > 1
                            else "binary_crossentropy"), run_eagerly=cfg.run_eagerly)
    scorer = _ValidationAF(val_set, dcfg)
    stopper = keras.callbacks.EarlyStopping(monitor="val_af_pr_auc", mode="max",
                                            patience=cfg.patience, restore_best_weights=True)
    began = time.perf_counter()
    history = model.fit(feed, epochs=cfg.epochs, callbacks=[scorer, stopper], shuffle=False,
                        verbose=verbose).history
    fit_s = time.perf_counter() - began
    epochs_run = len(history["loss"])
    prob_val = predict_af(model, val_set)
    y_val, scored = val_set.af, prob_val
    if dcfg.aggregate:
        table = metrics.record_level(val_set.af, prob_val, val_set.groups)
        y_val, scored = table["y"].to_numpy(), table["prob"].to_numpy()
    threshold = metrics.best_threshold(y_val, scored) if cfg.threshold == "validation" else 0.5
    validation = metrics.binary_metrics(y_val, scored, threshold)
    validation["monitor"] = "val_af_pr_auc (records)" if dcfg.aggregate else "val_af_pr_auc"
    return FitResult(
        model=model,
        history={key: [float(v) for v in values] for key, values in history.items()},
        best_epoch=int(np.argmax(history["val_af_pr_auc"])) + 1,
        epochs_run=epochs_run,
        fit_s=fit_s,
        train_windows_per_s=feed.n_per_epoch * epochs_run / fit_s,
        threshold=float(threshold),
        validation={key: _plain(value) for key, value in validation.items()},
        validation_prob=prob_val,
    )


def predict_af(model: keras.Model | Sequence[keras.Model], windows: WindowSet,
               batch_size: int = 256) -> np.ndarray:
    """AF probability of each window (class A of a softmax, or the sigmoid); a sequence of
    models is an ensemble whose probabilities are averaged."""
    if len(windows) == 0:
        return np.zeros(0, dtype=np.float64)
    ensemble = list(model) if isinstance(model, Sequence) else [model]
    inputs = Batches({"ecg": windows.X, "rr": windows.R}, batch_size=batch_size,
                     channel_axis={"ecg"})
    total = np.zeros(len(windows))
    for member in ensemble:
        out = np.asarray(member.predict(inputs, verbose=0), dtype=float)
        total += out[:, AF_CLASS] if out.shape[1] > 1 else out[:, 0]
    return total / len(ensemble)


def _balanced_weights(targets: np.ndarray) -> np.ndarray:
    """Per-window weights that balance the classes present (scikit-learn's "balanced")."""
    from sklearn.utils.class_weight import compute_sample_weight

    return compute_sample_weight("balanced", targets).astype(np.float32)


class _WindowFeed(Batches):
    """Batches of (inputs, target, weight); with ``crops`` each epoch takes one random window
    per group (record), else every window, in a seeded order that changes every epoch."""

    def __init__(self, windows: WindowSet, targets: np.ndarray, weights: np.ndarray | None,
                 batch_size: int, crops: bool, seed: int):
        self.crops = crops
        _, self.group_index = np.unique(np.asarray(windows.groups).astype(str),
                                        return_inverse=True)
        self.n_groups = int(self.group_index.max()) + 1
        super().__init__({"ecg": windows.X, "rr": windows.R}, targets, weights, batch_size,
                         shuffle=True, seed=seed, channel_axis={"ecg"})
        self.n_per_epoch = self.n_groups if crops else len(windows)

    def on_epoch_end(self) -> None:
        if not self.crops:
            super().on_epoch_end()
            return
        # One window per group: a random key per window, the smallest key of each group.
        keys = self.rng.random(self.n)
        order = np.lexsort((keys, self.group_index))
        first = np.r_[True, np.diff(self.group_index[order]) != 0]
        self.order = self.rng.permutation(order[first])


class _ValidationAF(keras.callbacks.Callback):
    """Adds ``val_af_pr_auc`` (average precision of AF on the validation records or windows)
    to the epoch logs, before early stopping reads them."""

    def __init__(self, windows: WindowSet, dcfg: DetectorConfig):
        super().__init__()
        self.windows, self.dcfg = windows, dcfg

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from sklearn.metrics import average_precision_score

        prob = predict_af(self.model, self.windows)
        y = self.windows.af
        if self.dcfg.aggregate:
            table = metrics.record_level(y, prob, self.windows.groups)
            y, prob = table["y"].to_numpy(), table["prob"].to_numpy()
        score = average_precision_score(y, prob) if y.any() else 0.0
        if logs is not None:
            logs["val_af_pr_auc"] = float(score)
