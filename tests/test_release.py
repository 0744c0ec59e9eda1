"""The release bundle shipped in the package: it loads, its settings are the code's, and it
reproduces the reference outputs committed with it on two real records."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from ecgutils import (
    bundle,
    config,
    detect,
    feature_model,
    features,
    metrics,
    noise_augment,
    preprocess,
    records,
    release,
)


@pytest.fixture(scope="module")
def shipped() -> bundle.Bundle:
    return bundle.load(release.RELEASE_DIR)


def test_packaged_bundle_is_small_and_complete(shipped):
    files = {path.name for path in release.RELEASE_DIR.iterdir()}
    assert {"preprocessing.json", "MODEL_CARD.md", release.REFERENCE_FILE} <= files
    assert shipped.settings.kind == release.KIND
    assert len(shipped.models) == 1  # one model on every record (a fold ensemble: 5x the size)
    assert shipped.size_bytes() <= 5_000_000
    assert not list(release.RELEASE_DIR.glob("*.keras"))  # nothing of another kind
    recipe = release.FEATURE_RECIPE["boosting"]
    for model in shipped.models:  # the recipe's boosting, on the recipe's bins
        assert feature_model.booster_of(model).get_params()["learning_rate"] == \
            recipe["learning_rate"]
        assert (feature_model.booster_of(model) is not model) == \
            (recipe["binning"] == "unweighted")
        assert model.n_features_in_ == len(features.FEATURES)


def test_packaged_settings_are_what_the_code_builds(shipped):
    s = shipped.settings
    expected = release.settings(s.threshold, s.training, s.kind)
    same = {field.name for field in dataclasses.fields(s)} - {"versions", "commit"}
    assert {name: getattr(s, name) for name in same} == \
        {name: getattr(expected, name) for name in same}
    params = preprocess.detector_params("cinc2017")
    assert (s.fs, s.window_s, s.low_hz, s.high_hz) == (params.fs, params.window_s,
                                                       params.low_hz, params.high_hz)
    assert s.rr_features == list(features.FEATURES)
    assert 0 < s.threshold < 1
    assert "853" in s.training["data"]  # the held-out CinC records are named as such
    # Trained as the recipe says, noise augmentation included (JSON keeps tuples as lists).
    assert s.training["recipe"] == json.loads(json.dumps(release.FEATURE_RECIPE))
    assert s.training["noisy_train_windows"] > 0


@pytest.mark.parametrize("key", ["mitdb/203", "cinc2017/A00001"])
def test_packaged_bundle_reproduces_reference_outputs(shipped, key, mitdb_root, cinc_root):
    reference = json.loads((release.RELEASE_DIR / release.REFERENCE_FILE).read_text())[key]
    dataset, name = key.split("/")
    root = mitdb_root if dataset == "mitdb" else cinc_root
    result = detect.analyse(records.read_path(root / name), shipped)
    np.testing.assert_allclose(result.prob, reference["prob"], atol=1e-4)
    assert result.record_prob == pytest.approx(reference["record_prob"], abs=1e-4)
    assert [[e.start_s, e.end_s] for e in result.episodes] == reference["episodes"]


def test_scan_uses_the_packaged_bundle_by_default(mitdb_root, tmp_path):
    table = detect.scan([mitdb_root / "203"], out_dir=tmp_path, show_progress=False)
    reference = json.loads((release.RELEASE_DIR / release.REFERENCE_FILE).read_text())
    assert table.loc[0, "record_prob"] == pytest.approx(
        reference["mitdb/203"]["record_prob"], abs=1e-4)
    assert (tmp_path / "203.afx").is_file()


def test_feature_folds_score_each_record_once_by_a_model_that_never_saw_it(cinc_root):
    table = release.scanner_windows(max_records=300)
    assert table["record"].nunique() == 300
    assert (table.groupby("record")["start_s"].min() == 0).all()
    oof, models, folds = release.feature_folds(table)
    assert sorted(oof["record"]) == sorted(table["record"].unique())
    assert len(models) == len(folds) == release.FEATURE_RECIPE["n_splits"]
    assert all(fold["partition"].startswith("disjoint") for fold in folds)
    # A record's probability is the mean of its windows' under its own fold's model.
    row = oof.iloc[7]
    windows = table[table["record"] == row["record"]]
    X = windows[list(features.FEATURES)].to_numpy(dtype=float)
    expected = feature_model.af_prob(models[int(row["fold"])], X).mean()
    assert row["prob"] == pytest.approx(expected)
    assert set(oof["y"]) == {0, 1} and oof["fold_threshold"].between(0, 1).all()
    # Deterministic: the same folds, models and probabilities again.
    again, _, _ = release.feature_folds(table)
    pd.testing.assert_frame_equal(oof, again)
    # Another seed (the seed spread of make model) draws other folds; its F1 is each record
    # at its own fold's threshold.
    other, _, _ = release.feature_folds(table, seed=config.DEFAULT_SEED + 1)
    assert sorted(other["record"]) == sorted(oof["record"])
    assert not (other.set_index("record")["fold"] == oof.set_index("record")["fold"]).all()
    called = other["prob"] >= other["fold_threshold"]
    true_pos = int((called & (other["y"] == 1)).sum())
    assert release.seed_spread_f1(other) == pytest.approx(
        2 * true_pos / (called.sum() + other["y"].sum()))
    # The first seed's F1 in the spread is the cross-validation's own (make model reads it
    # off the evaluation instead of computing it again).
    cv = metrics.evaluate(oof["y"], oof["prob"], oof["record"],
                          threshold=oof["fold_threshold"].to_numpy(), n_boot=1)
    assert release.seed_spread_f1(oof) == pytest.approx(cv["f1"])


def test_the_cnn_release_refuses_seeds_it_would_ignore():
    with pytest.raises(ValueError, match="n_seeds 3: the cnn release reuses one"):
        release.build(kind="cnn", n_seeds=3)


def test_the_model_card_states_the_seed_spread_only_when_measured():
    assert release._seed_line([0.8]) == ""
    line = release._seed_line([0.80, 0.82, 0.81])
    assert "3 seeds" in line and "mean 0.810" in line and "SD 0.010" in line


def test_noisy_copies_are_trained_on_with_their_record_and_never_scored(cinc_root):
    table = release.scanner_windows(max_records=200).assign(noisy=False)
    # Copies of every record's windows with the class written as noise ("~"): were they
    # scored, or trained on with a held-out record, the probabilities would change.
    copies = table.assign(noisy=True, rhythm_class="~")
    oof, models, folds = release.feature_folds(pd.concat([table, copies], ignore_index=True))
    assert len(oof) == 200
    for fold in folds:  # each fold trains on its own records' windows and their copies
        held = oof.loc[oof["fold"] == fold["fold"], "record"]
        own = (~table["record"].isin(held)).sum()
        assert fold["train_windows"] == 2 * own
    row = oof.iloc[3]
    clean = table[table["record"] == row["record"]]
    expected = features.af_prob(models[int(row["fold"])],
                                clean[list(features.FEATURES)].to_numpy(dtype=float)).mean()
    assert row["prob"] == pytest.approx(expected)


def test_noisy_scanner_windows_are_the_records_windows_with_training_noise(cinc_root, nstdb_root):
    names = release.scanner_windows(max_records=3)["record"].unique()
    clean = release.scanner_windows(max_records=3).set_index(["record", "start_s"])
    plan = pd.DataFrame({"record": names, "noise": ["ma", "bw", "ma"],
                         "snr_db": [40.0, 40.0, -6.0], "where": [0.0, 0.5, 0.99]})
    noisy = release.noisy_scanner_windows(plan).set_index(["record", "start_s"])
    assert noisy.index.equals(clean.index)  # the same windows of the same records
    assert (noisy["rhythm_class"] == clean["rhythm_class"]).all()
    quiet = noisy.index.get_level_values("record") != names[2]
    # At 40 dB the beats are the clean lead's; at -6 dB muscle noise changes the features.
    assert np.allclose(noisy.loc[quiet, "beats_per_s"], clean.loc[quiet, "beats_per_s"])
    loud = ~quiet
    assert not np.allclose(noisy.loc[loud, list(features.FEATURES)],
                           clean.loc[loud, list(features.FEATURES)])
    # Training-augmentation rows: the clean windows plus the drawn records' copies.
    aug = release.training_windows(max_records=3, augmentation=noise_augment.NoiseAugmentation(
        fraction=1.0))
    assert aug["noisy"].sum() == len(clean) and (~aug["noisy"]).sum() == len(clean)


def test_the_model_cards_noise_paragraph_is_rewritten_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGUTILS_REPORTS_DIR", str(tmp_path / "reports"))  # no 08 run here
    target = tmp_path / "bundle"
    shutil.copytree(release.RELEASE_DIR, target)
    before = (target / "MODEL_CARD.md").read_text().splitlines()
    line = release.refresh_noise_section(target)
    after = (target / "MODEL_CARD.md").read_text().splitlines()
    assert line.startswith("Not measured yet") and "--noise-card" in line
    at = before.index(release.NOISE_HEADING) + 1
    assert after[at] == line and after[:at] == before[:at] and after[at + 1:] == before[at + 1:]
    (target / "MODEL_CARD.md").write_text("# a card without the section\n")
    with pytest.raises(ValueError, match="no line"):
        release.refresh_noise_section(target)


def test_a_window_length_lever_scans_longer_windows_and_leaves_the_release_alone(cinc_root):
    # benchmarks/window_length.py measures 30-s windows on development records with these.
    default = release.feature_settings()
    longer = release.feature_settings(scan_changes={"window_s": 30.0})
    assert default.window_s == preprocess.detector_params("cinc2017").window_s
    assert longer.window_s == 30.0 and longer.step_s == default.step_s
    assert longer.scan_key() != default.scan_key()  # its own cache entries
    short = release.scanner_windows(max_records=3)
    long_ = release.scanner_windows(max_records=3, scan_changes={"window_s": 30.0})
    assert set(long_["record"]) == set(short["record"])
    for name in short["record"].unique():  # a 30-s window every 10 s: fewer per record
        assert (long_["record"] == name).sum() <= (short["record"] == name).sum()
    assert len(long_) < len(short) and (long_["beats_per_s"] > 0).all()
