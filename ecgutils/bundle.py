"""Model bundles: the trained model(s) together with everything needed to use them.

A bundle is one folder::

    preprocessing.json   how a recording becomes the model's input, the decision threshold,
                         the episode settings, the label map, what it was trained on, the
                         library versions and the code commit
    model_0.keras ...    kind ``cnn``: Keras models taking each window's waveform and the
                         RR features of its beats (:data:`ecgutils.beats.FEATURES`)
    model_0.skops ...    kind ``features_gb``: scikit-learn gradient boosting on each
                         window's rhythm and atrial features (:data:`ecgutils.features.FEATURES`),
                         stored with skops (no pickle: loading runs no code from the file)

Several models are an ensemble whose AF probabilities are averaged.

:func:`load` rebuilds exactly the preprocessing the bundle was trained with, and refuses a
bundle whose settings this code cannot honour (another schema, unknown or missing settings,
features other than the kind's, a model whose input shape disagrees with the window length
or the features). :func:`save` writes the whole folder beside its target and renames
it into place, so a failed save never leaves half a bundle.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ecgutils import beats, episodes, features, signal
from ecgutils.errors import ECGDataError

# Schema 2 added ``kind``; a schema-1 bundle is a ``cnn`` bundle.
SCHEMA = 2
READABLE_SCHEMAS = (1, 2)
SETTINGS_FILE = "preprocessing.json"
AGGREGATIONS = ("mean",)
SHORT_POLICIES = ("wrap", "error")
# What a bundle's models are, the file suffix they are stored with and the per-window
# features they read beside (cnn) or instead of (features_gb) the waveform.
KINDS = {"cnn": ("keras", beats.FEATURES), "features_gb": ("skops", features.FEATURES)}
# The only types a features_gb model file may hold beyond what skops trusts by default.
SKOPS_TRUSTED = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)
AF_CLASS = features.AF_CLASS


class BundleError(ECGDataError):
    """A model bundle is missing, damaged, or asks for what this code cannot do."""


@dataclass(frozen=True)
class Settings:
    """Everything between a raw lead and a decision (``preprocessing.json``).

    Attributes
    ----------
    fs : float
        Model input rate (Hz); recordings are resampled to it.
    leads : list of str
        Lead names tried in order when the user names none (else signal 0).
    low_hz, high_hz, filter_order : band-pass (zero-phase Butterworth, as in training)
    normalisation : str
        Per-window normalisation (:func:`ecgutils.signal.normalise`).
    window_s, step_s : float
        Window length and step (s); ``window_s`` is a multiple of ``step_s``.
    short_policy : {"wrap", "error"}
        A recording shorter than one window (but at least ``min_record_s``) is repeated end
        to end to one window, as CinC 2017's short records were in training; ``error``
        refuses it.
    min_record_s : float
        Shorter recordings are an error.
    block_s, margin_s : float
        Recordings are filtered, resampled and beat-detected in blocks of ``block_s`` with
        ``margin_s`` of context on each side (the batch scan and the live stream compute
        the same blocks, so they agree exactly).
    aggregation : {"mean"}
        A recording's AF probability: the mean of its windows'.
    threshold : float
        Decision threshold on window and recording probabilities.
    episode : dict
        :class:`ecgutils.episodes.EpisodeParams` fields.
    rr_features : list of str
        Per-window features of the model's ``rr`` input, in order: the kind's
        (:data:`KINDS`); a ``features_gb`` bundle may name any of
        :data:`ecgutils.features.KNOWN`, which the scanner then computes.
    label_map : dict
        Output meaning, e.g. ``{"AF": 1, "not AF": 0}``.
    training, versions : dict
        What the bundle was trained on (data, labels, protocol, metrics) and library versions.
    commit : str
        Code commit of the build.
    kind : {"cnn", "features_gb"}
        What the models are (:data:`KINDS`); ``features_gb`` models read no waveform.
    beat_band_hz : [low, high] or None
        Beats are detected on the raw lead band-passed to this band
        (:func:`ecgutils.beats.detect`'s ``band_hz``); None (bundles built before it
        existed) detects on the lead as it is.
    beat_band_gate : float or None
        With ``beat_band_hz``: each block's beats are detected both ways and the band's kept
        only where the two agree less than this (:func:`ecgutils.beats.detect`'s ``gate``);
        None keeps the band's always.
    """

    fs: float
    leads: list[str]
    low_hz: float
    high_hz: float
    filter_order: int
    normalisation: str
    window_s: float
    step_s: float
    short_policy: str
    min_record_s: float
    block_s: float
    margin_s: float
    aggregation: str
    threshold: float
    episode: dict[str, Any]
    rr_features: list[str]
    label_map: dict[str, int]
    training: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    commit: str = ""
    schema: int = SCHEMA
    kind: str = "cnn"
    beat_band_hz: list[float] | None = None
    beat_band_gate: float | None = None

    def __post_init__(self) -> None:
        numbers = {name: getattr(self, name) for name in (
            "fs", "low_hz", "high_hz", "filter_order", "window_s", "step_s", "min_record_s",
            "block_s", "margin_s", "threshold")}
        bad = {name: value for name, value in numbers.items()
               if isinstance(value, bool) or not isinstance(value, int | float)
               or not math.isfinite(value)}
        if bad or not isinstance(self.filter_order, int) or self.filter_order < 1:
            raise BundleError(f"bundle settings must be finite numbers: {bad or numbers}"
                              if bad else f"filter_order must be a positive integer, got "
                              f"{self.filter_order!r}")
        if not (isinstance(self.leads, list) and all(isinstance(x, str) for x in self.leads)
                and isinstance(self.episode, dict) and isinstance(self.label_map, dict)):
            raise BundleError("bundle settings: leads must be a list of names, episode and "
                              "label_map objects")
        problems = []
        if self.schema not in READABLE_SCHEMAS or (self.schema == 1 and self.kind != "cnn"):
            problems.append(f"schema {self.schema} (this code reads schemas "
                            f"{list(READABLE_SCHEMAS)}; kind before schema 2: cnn)")
        if self.kind not in KINDS:
            problems.append(f"kind {self.kind!r} (known: {sorted(KINDS)})")
        if self.normalisation not in signal.NORMALISATIONS:
            problems.append(f"normalisation {self.normalisation!r}")
        if self.short_policy not in SHORT_POLICIES:
            problems.append(f"short_policy {self.short_policy!r}")
        if self.aggregation not in AGGREGATIONS:
            problems.append(f"aggregation {self.aggregation!r}")
        expected = list(KINDS[self.kind][1]) if self.kind in KINDS else []
        if self.kind == "features_gb":  # it reads features by name: any this code computes
            rr = list(self.rr_features)
            if not rr or set(rr) - set(features.KNOWN) or len(set(rr)) != len(rr):
                problems.append(f"features {rr} (this code computes {list(features.KNOWN)}, "
                                "each once)")
        elif list(self.rr_features) != expected:
            problems.append(f"RR features {list(self.rr_features)} (this code computes "
                            f"{expected} for kind {self.kind!r})")
        if not 0 < self.low_hz < self.high_hz < self.fs / 2:
            problems.append(f"band-pass {self.low_hz}-{self.high_hz} Hz at {self.fs} Hz")
        band = self.beat_band_hz
        if band is not None and not (
                isinstance(band, list) and len(band) == 2
                and all(isinstance(x, int | float) and not isinstance(x, bool)
                        and math.isfinite(x) for x in band) and 0 < band[0] < band[1]):
            problems.append(f"beat_band_hz {band!r} (None or [low, high], 0 < low < high)")
        gate = self.beat_band_gate
        if gate is not None and (band is None or isinstance(gate, bool)
                                 or not isinstance(gate, int | float) or not 0 < gate <= 1):
            problems.append(f"beat_band_gate {gate!r} (None, or in (0, 1] with a "
                            "beat_band_hz)")
        if not 0 < self.threshold < 1:
            problems.append(f"threshold {self.threshold}")
        ratio = self.window_s / self.step_s if self.step_s > 0 else np.nan
        if not (self.step_s > 0 and abs(ratio - round(ratio)) < 1e-9):
            problems.append(f"window_s {self.window_s} not a multiple of step_s {self.step_s}")
        if not 0 < self.min_record_s <= self.window_s or self.block_s < self.window_s \
                or self.margin_s < 0:
            problems.append(f"min_record_s {self.min_record_s}, block_s {self.block_s}, "
                            f"margin_s {self.margin_s}")
        try:
            self.episode_params()
        except (TypeError, ValueError) as exc:
            problems.append(f"episode settings {self.episode} ({exc})")
        if problems:
            raise BundleError("bundle settings this code cannot honour: " + "; ".join(problems))

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.fs))

    def scan_key(self) -> dict[str, Any]:
        """The settings that decide a scan's windows and features: all but the threshold,
        the episode settings and the records of how the models were trained."""
        skip = {"threshold", "training", "versions", "commit", "episode"}
        return {key: value for key, value in asdict(self).items() if key not in skip}

    def episode_params(self) -> episodes.EpisodeParams:
        return episodes.EpisodeParams(**self.episode)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "settings") -> Settings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        missing = sorted(_REQUIRED - set(values))
        if unknown or missing:
            raise BundleError(f"{where}: unknown setting(s) {unknown}, missing {missing}")
        try:
            return cls(**values)
        except (TypeError, BundleError) as exc:
            raise BundleError(f"{where}: {exc}") from exc


_REQUIRED = {f.name for f in fields(Settings)} - {"training", "versions", "commit", "schema",
                                                  "kind", "beat_band_hz", "beat_band_gate"}


@dataclass
class Bundle:
    """Loaded models and their settings; ``path`` is where it was read from (or None)."""

    models: list[Any]
    settings: Settings
    path: Path | None = None
    # The ensemble as one traced TensorFlow function (:func:`fuse`), built on first use;
    # False where it cannot be built.
    _fused: Any = field(default=None, init=False, repr=False, compare=False)

    def predict(self, ecg: np.ndarray | None, rr: np.ndarray, batch_size: int = 512
                ) -> np.ndarray:
        """Mean AF probability of the models for windows ``ecg`` (n, samples) and their
        features ``rr`` (n, features); a ``features_gb`` bundle reads ``rr`` only.

        Keras models run as one fused function (:func:`fuse`): the same probabilities as
        :meth:`predict_each` to float32 rounding (< 1e-6), about twice as fast.
        """
        n = len(rr)
        if n == 0:
            return np.zeros(0)
        if self.settings.kind == "features_gb":
            return self.predict_each(ecg, rr, batch_size)
        if self._fused is None:
            self._fused = fuse(self.models, self.settings) or False
        if self._fused is False:
            return self.predict_each(ecg, rr, batch_size)
        ecg = np.asarray(ecg, dtype=np.float32)
        rr = np.asarray(rr, dtype=np.float32)
        return np.concatenate([
            self._fused(ecg[lo:lo + batch_size, :, None], rr[lo:lo + batch_size])
            for lo in range(0, n, batch_size)]).astype(float)

    def predict_each(self, ecg: np.ndarray | None, rr: np.ndarray,
                     batch_size: int = 512) -> np.ndarray:
        """:meth:`predict` one model at a time (Keras ``predict_on_batch``), as trained; a
        ``features_gb`` bundle reads ``rr`` only (``ecg`` may be None)."""
        n = len(rr)
        if n == 0:
            return np.zeros(0)
        total = np.zeros(n)
        if self.settings.kind == "features_gb":
            # One OpenMP thread: the scanner predicts a few windows per block, where
            # scikit-learn's threads only wait for each other (2x slower on 2 busy cores;
            # benchmarks/bench_scanner.py), and archives parallelise over records instead.
            with threadpool_limits(limits=1, user_api="openmp"):
                for model in self.models:
                    total += features.af_prob(model, rr)
            return total / len(self.models)
        for model in self.models:
            for lo in range(0, n, batch_size):
                out = model.predict_on_batch({"ecg": ecg[lo:lo + batch_size, :, None],
                                              "rr": rr[lo:lo + batch_size]})
                out = np.asarray(out, dtype=float)
                total[lo:lo + batch_size] += _af_column(out)
        return total / len(self.models)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir()) if self.path else 0


def save(path: str | os.PathLike, models: list[Any], settings: Settings) -> Path:
    """Write a bundle folder (Keras models without optimiser state, or skops files)
    atomically; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        for index, model in enumerate(models):
            _write_model(model, staging / f"model_{index}.{_suffix(settings)}", settings)
        (staging / SETTINGS_FILE).write_text(json.dumps(asdict(settings), indent=2) + "\n")
        _check(staging, settings, _read_models(staging, settings))
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        try:
            os.replace(staging, path)
        except BaseException:
            if old.exists():  # put the previous bundle back
                os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def load(path: str | os.PathLike) -> Bundle:
    """Read a bundle folder; :class:`BundleError` says what is wrong with a bad one."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise BundleError(f"no model bundle at {path} (expected a folder holding "
                          f"{SETTINGS_FILE} and model_*.keras or model_*.skops)")
    settings_path = path / SETTINGS_FILE
    if not settings_path.is_file():
        raise BundleError(f"model bundle {path} has no {SETTINGS_FILE}")
    try:
        values = json.loads(settings_path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{settings_path} is not valid JSON: {exc}") from exc
    if not isinstance(values, dict):
        raise BundleError(f"{settings_path} must hold a JSON object")
    settings = Settings.from_dict(values, str(settings_path))
    loaded = _read_models(path, settings)
    _check(path, settings, loaded)
    loaded_bundle = Bundle(loaded, settings, path)
    if settings.kind == "cnn":
        loaded_bundle._fused = fuse(loaded, settings) or False  # traced once, here
    return loaded_bundle


def _suffix(settings: Settings) -> str:
    return KINDS[settings.kind][0]


def _write_model(model: Any, file: Path, settings: Settings) -> None:
    if settings.kind == "features_gb":
        import skops.io

        skops.io.dump(model, file, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
        return
    import keras

    # Rebuilt from its config: uncompiled, so no optimiser state goes into the file
    # (keras.models.clone_model keeps the compile state in Keras 3).
    plain = keras.Model.from_config(model.get_config())
    plain.set_weights(model.get_weights())
    plain.save(file)


def _read_models(path: Path, settings: Settings) -> list[Any]:
    files = sorted(path.glob(f"model_*.{_suffix(settings)}"))
    if not files:
        raise BundleError(f"model bundle {path} holds no model_*.{_suffix(settings)} "
                          f"(kind {settings.kind})")
    return [_read_model(file, settings.kind) for file in files]


def _read_model(file: Path, kind: str) -> Any:
    if kind == "features_gb":
        import skops.io

        try:
            untrusted = skops.io.get_untrusted_types(file=file)
        except Exception as exc:  # zip and format errors alike
            raise BundleError(f"{file} is damaged or not a skops file: {exc}") from exc
        unexpected = sorted(set(untrusted) - set(SKOPS_TRUSTED))
        if unexpected:
            raise BundleError(f"{file} holds types this code does not trust: {unexpected}")
        try:
            return skops.io.load(file, trusted=list(untrusted))
        except Exception as exc:
            raise BundleError(f"{file} could not be loaded: {exc}") from exc
    import keras

    try:
        return keras.models.load_model(file, compile=False)
    except Exception as exc:  # zip, h5 and deserialisation errors alike
        raise BundleError(f"{file} is damaged or not a Keras model: {exc}") from exc


def _af_column(out: Any) -> Any:
    """The AF probability of a model's output: its one column, or column 1 of classes."""
    return out[:, 1] if out.shape[1] > 1 else out[:, 0]


def fuse(models: list[Any], settings: Settings) -> Any:
    """The ensemble's mean AF probability as one traced TensorFlow function of ``(ecg, rr)``
    batches of any length, or None under another Keras backend.

    One traced graph runs every model: no per-model, per-call Keras overhead and no retracing
    for a new batch length (the scanner's last batch of each recording is shorter), which
    made the ensemble about 1.5x faster in ``benchmarks/bench_scanner.py``. The arithmetic is
    the models' own, so the probabilities equal :meth:`Bundle.predict_each` to float32
    rounding (tests/test_bundle.py).
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    @tf.function(input_signature=[
        tf.TensorSpec([None, settings.window_samples, 1], tf.float32),
        tf.TensorSpec([None, len(settings.rr_features)], tf.float32)])
    def mean_af(ecg: Any, rr: Any) -> Any:
        outs = [_af_column(model({"ecg": ecg, "rr": rr}, training=False)) for model in models]
        return tf.add_n(outs) / len(outs)

    return lambda ecg, rr: mean_af(ecg, rr).numpy()


def _check(path: Path, settings: Settings, models: list[Any]) -> None:
    """A ``cnn`` model takes ``ecg`` (window samples, 1) and ``rr`` (n features) and gives one
    probability (or classes with AF at index 1); a ``features_gb`` model reads the kind's
    features and has an AF class."""
    if settings.kind == "features_gb":
        for index, model in enumerate(models):
            n_in = getattr(model, "n_features_in_", None)
            classes = list(getattr(model, "classes_", []))
            if n_in != len(settings.rr_features) or AF_CLASS not in classes:
                raise BundleError(f"model {index} of bundle {path} reads {n_in} features with "
                                  f"classes {classes}; its settings need "
                                  f"{len(settings.rr_features)} features and AF class "
                                  f"{AF_CLASS}")
        return
    expected = {"ecg": (settings.window_samples, 1), "rr": (len(settings.rr_features),)}
    for index, model in enumerate(models):
        shapes = {layer.name: tuple(layer.shape[1:]) for layer in model.inputs}
        if shapes != expected:
            raise BundleError(f"model {index} of bundle {path} takes inputs {shapes}; its "
                              f"settings need {expected} ({settings.window_s:g} s at "
                              f"{settings.fs:g} Hz and {len(settings.rr_features)} RR features)")
