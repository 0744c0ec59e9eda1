"""Model bundles: the save/load round trip, atomic saves, and one clear BundleError per fault.

The model is the untrained detector built from seed 0 (deterministic): these tests check how
bundles are stored and refused, not what a model predicts. The inputs fed to it below are
random numbers, used only to compare two copies of one model.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from ecgutils import beats, bundle, feature_model, features, models, release, train
from ecgutils.bundle import BundleError


def make_settings(**changes) -> bundle.Settings:
    """The CNN release's settings (:func:`ecgutils.release.settings`) with ``changes``."""
    return dataclasses.replace(release.settings(0.545, kind="cnn"), **changes)


def _detector(input_samples: int = 2500, n_rr: int = len(beats.FEATURES)) -> keras.Model:
    train.seed_all(0)
    return models.detector(input_samples=input_samples, n_rr_features=n_rr, n_classes=1)


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return _detector()


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory) -> Path:
    """A good bundle; tests that damage one work on a copy (:func:`_copy`)."""
    return bundle.save(tmp_path_factory.mktemp("bundles") / "good", [model], make_settings())


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"ecg": rng.normal(size=(7, 2500)).astype(np.float32),
            "rr": rng.normal(size=(7, len(beats.FEATURES))).astype(np.float32)}


def _copy(saved: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved, tmp_path / "copy"))


def _rewrite_settings(path: Path, edit) -> None:
    values = json.loads((path / bundle.SETTINGS_FILE).read_text())
    edit(values)
    (path / bundle.SETTINGS_FILE).write_text(json.dumps(values))


def _leftovers(folder: Path, name: str) -> list[str]:
    """Staging or backup folders of a save of ``name`` left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}."))


# --- round trip -----------------------------------------------------------------------------


def test_round_trip_keeps_settings_and_predictions(saved, model, inputs):
    loaded = bundle.load(saved)
    assert loaded.settings == make_settings()
    assert loaded.path == saved
    assert sorted(p.name for p in saved.iterdir()) == ["model_0.keras", "preprocessing.json"]
    direct = bundle.Bundle([model], make_settings()).predict(inputs["ecg"], inputs["rr"])
    again = loaded.predict(inputs["ecg"], inputs["rr"])
    assert direct.shape == (7,)
    assert np.array_equal(direct, again)
    # Batching does not change a window's probability.
    assert np.allclose(loaded.predict(inputs["ecg"], inputs["rr"], batch_size=3), again,
                       rtol=0, atol=1e-6)
    assert loaded.predict(inputs["ecg"][:0], inputs["rr"][:0]).shape == (0,)


def test_ensemble_predicts_the_mean_of_its_models(tmp_path, model, inputs):
    other = _detector()
    other.set_weights([w * 0.5 for w in model.get_weights()])
    path = bundle.save(tmp_path / "pair", [model, other], make_settings())
    loaded = bundle.load(path)
    assert len(loaded.models) == 2
    one = bundle.Bundle([model], make_settings()).predict(inputs["ecg"], inputs["rr"])
    two = bundle.Bundle([other], make_settings()).predict(inputs["ecg"], inputs["rr"])
    assert np.allclose(loaded.predict(inputs["ecg"], inputs["rr"]), (one + two) / 2, atol=1e-6)


def test_fused_prediction_equals_the_models_one_by_one(saved, model, inputs, monkeypatch):
    loaded = bundle.load(saved)
    assert loaded._fused is not False  # the detector architecture is fused
    each = loaded.predict_each(inputs["ecg"], inputs["rr"])
    np.testing.assert_allclose(loaded.predict(inputs["ecg"], inputs["rr"]), each,
                               rtol=0, atol=1e-6)
    # Where fusing is impossible, predict is the one-by-one path itself.
    monkeypatch.setattr(bundle, "fuse", lambda models, settings: None)
    plain = bundle.Bundle([model], make_settings())
    assert np.array_equal(plain.predict(inputs["ecg"], inputs["rr"]), each)
    assert plain._fused is False


def test_an_ensemble_fused_equals_the_mean_of_its_members_on_real_windows(mitdb_root, model,
                                                                          tmp_path):
    from ecgutils import detect, records

    train.seed_all(1)
    other = models.detector(input_samples=2500, n_rr_features=len(beats.FEATURES), n_classes=1)
    shipped = bundle.load(bundle.save(tmp_path / "pair", [model, other], make_settings()))
    assert len(shipped.models) == 2 and shipped._fused is not False
    seen = {}

    class Capture(bundle.Bundle):
        def predict(self, ecg, rr, batch_size=512):
            seen["ecg"], seen["rr"] = ecg, rr
            return super().predict(ecg, rr, batch_size)

    rec = records.read("mitdb", "203")  # AF, flutter, noise: varied windows
    detect.analyse(rec, Capture(shipped.models, shipped.settings))
    ecg, rr = seen["ecg"], seen["rr"]
    members = np.mean([np.asarray(m.predict_on_batch({"ecg": ecg[:, :, None], "rr": rr}),
                                  dtype=float)[:, 0] for m in shipped.models], axis=0)
    fused = shipped.predict(ecg, rr)
    assert fused.shape == (len(ecg),) and len(ecg) > 150
    assert np.abs(fused - members).max() < 1e-5
    # Any batch size gives the same probabilities (one traced function for every length).
    np.testing.assert_allclose(shipped.predict(ecg, rr, batch_size=7), fused, rtol=0, atol=1e-6)


# Keras 3 ``clone_model`` copies the compile state (a fresh optimiser with the original's
# slot variables), which would put a compiled model's Adam moments into the bundle.
def test_saved_models_hold_no_optimizer(tmp_path, saved):
    compiled = _detector()
    compiled.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    compiled.optimizer.build(compiled.trainable_variables)  # Adam's moment slots exist
    compiled.save(tmp_path / "compiled.keras")
    path = bundle.save(tmp_path / "from_compiled", [compiled], make_settings())
    size = (path / "model_0.keras").stat().st_size
    assert size < 0.6 * (tmp_path / "compiled.keras").stat().st_size
    assert size == pytest.approx((saved / "model_0.keras").stat().st_size, rel=0.05)
    # Loaded as compiled as the file allows: nothing to compile, no optimiser.
    assert getattr(keras.models.load_model(path / "model_0.keras"), "optimizer", None) is None
    assert getattr(bundle.load(path).models[0], "optimizer", None) is None
    assert compiled.optimizer is not None  # saving did not strip the caller's model


# --- saves that fail ------------------------------------------------------------------------


def test_a_save_refused_by_the_check_leaves_nothing(tmp_path, model):
    # A 40-s window needs 5000 input samples; the model takes 2500.
    with pytest.raises(BundleError, match="takes inputs"):
        bundle.save(tmp_path / "target", [model], make_settings(window_s=40.0))
    assert not (tmp_path / "target").exists()
    assert _leftovers(tmp_path, "target") == []


def test_a_failed_save_keeps_the_bundle_already_there(tmp_path, saved, model, inputs):
    target = _copy(saved, tmp_path)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    with pytest.raises(BundleError, match="takes inputs"):
        bundle.save(target, [model], make_settings(window_s=40.0))
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert _leftovers(tmp_path, target.name) == []
    assert np.array_equal(bundle.load(target).predict(inputs["ecg"], inputs["rr"]),
                          bundle.load(saved).predict(inputs["ecg"], inputs["rr"]))


def test_a_save_that_crashes_midway_leaves_no_half_bundle(tmp_path, saved, model, monkeypatch):
    written = []
    original = keras.Model.save

    def save_once_then_fail(self, filepath, *args, **kwargs):
        if written:
            raise OSError("disk full")
        written.append(filepath)
        return original(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save_once_then_fail)
    with pytest.raises(OSError, match="disk full"):
        bundle.save(tmp_path / "fresh", [model, model], make_settings())
    assert len(written) == 1  # the first model was written (into the staging folder)
    assert not (tmp_path / "fresh").exists()
    assert _leftovers(tmp_path, "fresh") == []

    target = _copy(saved, tmp_path)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    written.clear()
    with pytest.raises(OSError, match="disk full"):
        bundle.save(target, [model, model], make_settings(threshold=0.9))
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert _leftovers(tmp_path, target.name) == []


def test_a_save_replaces_an_existing_bundle(tmp_path, saved, model):
    target = _copy(saved, tmp_path)
    bundle.save(target, [model], make_settings(threshold=0.7))
    assert bundle.load(target).settings.threshold == 0.7
    assert _leftovers(tmp_path, target.name) == []


# --- settings refused -----------------------------------------------------------------------


@pytest.mark.parametrize("changes, problem", [
    ({"schema": 3}, "schema 3"),
    ({"schema": 1, "kind": "features_gb"}, "schema 1"),
    ({"kind": "svm"}, "kind 'svm'"),
    ({"rr_features": list(features.FEATURES)}, "RR features"),  # a cnn reads beats' only
    ({"normalisation": "minmax"}, "normalisation 'minmax'"),
    ({"short_policy": "pad"}, "short_policy 'pad'"),
    ({"aggregation": "max"}, "aggregation 'max'"),
    ({"rr_features": list(beats.FEATURES)[::-1]}, "RR features"),
    ({"high_hz": 70.0}, "band-pass 0.5-70.0 Hz"),
    ({"threshold": 1.0}, "threshold 1.0"),
    ({"step_s": 7.0}, "not a multiple of step_s 7.0"),
    ({"min_record_s": 25.0}, "min_record_s 25.0"),
    ({"block_s": 10.0}, "block_s 10.0"),
    ({"episode": {"hysteresis": 2.0}}, "episode settings"),
    ({"episode": {"smoothing": 1}}, "episode settings"),
    ({"beat_band_hz": [15.0, 5.0]}, "beat_band_hz [15.0, 5.0]"),
    ({"beat_band_hz": [5.0]}, "beat_band_hz [5.0]"),
    ({"beat_band_hz": [0.0, 15.0]}, "beat_band_hz [0.0, 15.0]"),
    ({"beat_band_hz": ["5", 15.0]}, "beat_band_hz"),
    ({"beat_band_gate": 0.95}, "beat_band_gate 0.95"),  # a gate without a band
    ({"beat_band_hz": [5.0, 15.0], "beat_band_gate": 1.5}, "beat_band_gate 1.5"),
])
def test_settings_refuse_what_the_code_cannot_honour(changes, problem):
    with pytest.raises(BundleError, match="cannot honour") as caught:
        make_settings(**changes)
    assert problem in str(caught.value)


# --- bundles refused by load ----------------------------------------------------------------


def test_load_refuses_a_missing_folder(tmp_path):
    with pytest.raises(BundleError, match="no model bundle at .*none"):
        bundle.load(tmp_path / "none")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(BundleError, match="no model bundle at"):
        bundle.load(tmp_path / "file")


def test_load_refuses_a_bundle_without_settings(tmp_path, saved):
    path = _copy(saved, tmp_path)
    (path / bundle.SETTINGS_FILE).unlink()
    with pytest.raises(BundleError, match="has no preprocessing.json"):
        bundle.load(path)


@pytest.mark.parametrize("text, problem", [
    ('{"fs": 125.0,', "is not valid JSON"),
    ("", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
])
def test_load_refuses_settings_that_are_not_a_json_object(tmp_path, saved, text, problem):
    path = _copy(saved, tmp_path)
    (path / bundle.SETTINGS_FILE).write_text(text)
    with pytest.raises(BundleError, match=problem):
        bundle.load(path)


@pytest.mark.parametrize("edit, problem", [
    (lambda v: v.update(dropout=0.3), r"unknown setting\(s\) \['dropout'\], missing \[\]"),
    (lambda v: v.pop("threshold"), r"unknown setting\(s\) \[\], missing \['threshold'\]"),
    (lambda v: v.update(schema=3), r"schema 3 .this code reads schemas \[1, 2\]"),
    (lambda v: v.update(rr_features=v["rr_features"][:-1]), "RR features"),
    (lambda v: v.update(rr_features=["rr_mean"] + v["rr_features"][1:]), "RR features"),
    (lambda v: v.update(threshold="high"), "preprocessing.json"),
    (lambda v: v.update(episode={"min_episode_s": -1}), "episode settings"),
])
def test_load_refuses_bad_settings(tmp_path, saved, edit, problem):
    path = _copy(saved, tmp_path)
    _rewrite_settings(path, edit)
    with pytest.raises(BundleError, match=problem):
        bundle.load(path)


def test_a_bundle_saved_before_the_beat_band_detects_on_the_lead_as_it_is(tmp_path, saved):
    path = _copy(saved, tmp_path)
    _rewrite_settings(path, lambda v: [v.pop("beat_band_hz"), v.pop("beat_band_gate")])
    assert bundle.load(path).settings.beat_band_hz is None
    assert bundle.load(path).settings.beat_band_gate is None
    _rewrite_settings(path, lambda v: v.update(beat_band_hz=[5.0, 15.0], beat_band_gate=0.95))
    loaded = bundle.load(path).settings
    assert (loaded.beat_band_hz, loaded.beat_band_gate) == ([5.0, 15.0], 0.95)


def test_load_refuses_a_bundle_without_models(tmp_path, saved):
    path = _copy(saved, tmp_path)
    (path / "model_0.keras").unlink()
    with pytest.raises(BundleError, match=r"holds no model_\*\.keras"):
        bundle.load(path)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_load_refuses_a_damaged_model_file(tmp_path, saved, damage):
    path = _copy(saved, tmp_path)
    file = path / "model_0.keras"
    if damage == "garbage":
        file.write_bytes(b"\x00not a keras archive\xff" * 100)
    else:
        file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    with pytest.raises(BundleError, match="model_0.keras is damaged or not a Keras model"):
        bundle.load(path)


@pytest.mark.parametrize("input_samples, n_rr, index", [
    (5000, len(beats.FEATURES), 0),   # a 40-s model in a 20-s bundle
    (2500, 5, 0),                     # other RR features
    (5000, len(beats.FEATURES), 1),   # one bad member of an ensemble
])
def test_load_refuses_a_model_whose_inputs_disagree(tmp_path, saved, input_samples, n_rr,
                                                     index):
    path = _copy(saved, tmp_path)
    _detector(input_samples, n_rr).save(path / f"model_{index}.keras")
    with pytest.raises(BundleError, match=f"model {index} of bundle .* takes inputs") as caught:
        bundle.load(path)
    message = str(caught.value)
    assert "(2500, 1)" in message and f"({len(beats.FEATURES)},)" in message
    assert "20 s at 125 Hz" in message


# JSON allows NaN and Infinity; Settings' multiple-of-step check calls round() on them.
@pytest.mark.parametrize("key, value", [("window_s", float("nan")),
                                        ("window_s", float("inf")),
                                        ("step_s", float("inf"))])
def test_load_refuses_non_finite_window_settings(tmp_path, saved, key, value):
    path = _copy(saved, tmp_path)
    _rewrite_settings(path, lambda v: v.update({key: value}))
    with pytest.raises(BundleError, match=key):
        bundle.load(path)


def test_a_schema_1_bundle_still_loads_as_a_cnn(tmp_path, saved, model, inputs):
    path = _copy(saved, tmp_path)
    _rewrite_settings(path, lambda v: (v.pop("kind"), v.update(schema=1)))
    loaded = bundle.load(path)
    assert loaded.settings.kind == "cnn"
    np.testing.assert_allclose(loaded.predict(inputs["ecg"], inputs["rr"]),
                               bundle.load(saved).predict(inputs["ecg"], inputs["rr"]))


# --- features_gb bundles (scikit-learn models stored with skops) ----------------------------


@pytest.fixture(scope="module")
def booster():
    """A four-class gradient boosting fitted to random numbers as the release fits it (its
    bins from KBinsDiscretizer in a pipeline; storage only)."""
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, len(features.FEATURES)))
    fitted = feature_model.fit(X, rng.integers(0, 4, size=400),
                               boosting=feature_model.profile_boosting(5))
    assert isinstance(fitted, Pipeline)  # what the bundle must store without pickle
    return fitted


def _gb_settings() -> bundle.Settings:
    return release.settings(0.4, kind="features_gb")


def test_a_features_bundle_round_trips_without_pickle(tmp_path, booster):
    path = bundle.save(tmp_path / "gb", [booster, booster], _gb_settings())
    assert sorted(p.name for p in path.glob("model_*")) == ["model_0.skops", "model_1.skops"]
    loaded = bundle.load(path)
    rr = np.random.default_rng(1).normal(size=(6, len(features.FEATURES)))
    expected = booster.predict_proba(rr)[:, list(booster.classes_).index(bundle.AF_CLASS)]
    np.testing.assert_allclose(loaded.predict(None, rr), expected)
    assert loaded.predict(None, rr[:0]).shape == (0,)


def test_a_features_bundle_refuses_the_wrong_model(tmp_path, booster, model):
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    narrow = HistGradientBoostingClassifier(max_iter=2).fit(rng.normal(size=(50, 5)),
                                                            rng.integers(0, 4, 50))
    with pytest.raises(BundleError, match="reads 5 features"):
        bundle.save(tmp_path / "narrow", [narrow], _gb_settings())
    no_af = HistGradientBoostingClassifier(max_iter=2).fit(
        rng.normal(size=(50, len(features.FEATURES))), rng.choice([0, 2, 3], 50))
    with pytest.raises(BundleError, match="AF class 1"):
        bundle.save(tmp_path / "no_af", [no_af], _gb_settings())
    path = bundle.save(tmp_path / "gb", [booster], _gb_settings())
    (path / "model_0.skops").write_bytes(b"\x00not a zip" * 50)
    with pytest.raises(BundleError, match="model_0.skops is damaged or not a skops file"):
        bundle.load(path)
    (path / "model_0.skops").unlink()
    model.save(path / "model_0.keras")  # a Keras model in a features bundle
    with pytest.raises(BundleError, match=r"holds no model_\*\.skops \(kind features_gb\)"):
        bundle.load(path)


def test_a_features_bundle_refuses_untrusted_types(tmp_path, booster, monkeypatch):
    path = bundle.save(tmp_path / "gb", [booster], _gb_settings())
    monkeypatch.setattr(bundle, "SKOPS_TRUSTED", ())
    with pytest.raises(BundleError, match="types this code does not trust.*TreePredictor"):
        bundle.load(path)


def test_a_features_bundle_may_read_any_feature_this_code_computes():
    picked = ["cv_nn", "cosen", "p_corr"]
    assert release.feature_settings(tuple(picked)).rr_features == picked
    for wrong in (["cosen", "p_wave"], ["cosen", "cosen"], []):
        with pytest.raises(BundleError, match="features"):
            dataclasses.replace(_gb_settings(), rr_features=wrong)
