"""Noise stress (notebook 08): conditions named as the summary keys expect, test noise from
the test half of each NSTDB record, and the clean condition equal to a plain scan."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ecgutils import bundle, config, datasets, detect, feature_model, noise, noise_study, records


def test_condition_names_match_the_key_format():
    assert noise_study.condition_name("ma", 6) == "noise_ma_6db"
    assert noise_study.condition_name("bw", -6) == "noise_bw_m6db"
    assert noise_study.condition_name("bw", 0) == "noise_bw_0db"


@pytest.fixture(scope="module")
def noises(mitdb_root):
    try:
        root = datasets.ensure_local("nstdb")
    except Exception as exc:  # noqa: BLE001 - any reason to have no NSTDB here
        pytest.skip(f"nstdb not available: {exc}")
    return root, noise_study.noise_records()


def test_test_noise_is_the_test_half_after_the_first_300_s(noises):
    root, found = noises
    assert set(found) == {"bw", "ma"}  # 'em' is absent from the shared copy
    for name, nr in found.items():
        full = records.read_path(root / name, lead=0).signal
        parts = noise.noise_segments(full.size, nr.fs, nr.test.size / nr.fs,
                                     parts={"train": 0.5, "test": 0.5},
                                     seed=config.DEFAULT_SEED)
        start = int(round(parts["test"][0] * nr.fs))
        assert start >= 300 * nr.fs
        np.testing.assert_array_equal(nr.test, full[start:start + nr.test.size])
        train_start = int(round(parts["train"][0] * nr.fs))
        assert train_start + nr.test.size <= start or start + nr.test.size <= train_start
        assert nr.power_mv2 == pytest.approx(noise.noise_power(full, nr.fs))


def test_run_scores_clean_as_a_plain_scan_and_noise_lowers_snr(noises, mitdb_root):
    _, found = noises
    shipped = detect.packaged_bundle()
    table = noise_study.run(shipped, ["201"], {"ma": found["ma"]}, snrs_db=(0,))
    assert set(table["condition"]) == {"clean", "noise_ma_0db"}
    assert set(table["model"]) == {"release", "cosen"}
    clean = table[(table["condition"] == "clean") & (table["model"] == "release")]
    plain = detect.analyse(records.read_path(mitdb_root / "201"), shipped)
    on_grid = np.isclose(np.mod(plain.starts_s, 20.0), 0.0)
    assert len(clean) <= on_grid.sum()
    assert set(np.round(clean["prob"], 10)) <= set(np.round(plain.prob[on_grid], 10))
    noisy = table[(table["condition"] == "noise_ma_0db") & (table["model"] == "release")]
    assert not np.allclose(noisy["prob"].to_numpy(), clean["prob"].to_numpy())
    results = noise_study.evaluate(table, n_boot=20)
    keys = noise_study.keys(results)
    assert "mitdb.release.noise_ma_0db.f1" in keys and "mitdb.cosen.clean.f1" in keys


def _other_model(shipped: bundle.Bundle, rec: records.Record):
    """A second, smaller gradient boosting fitted to the shipped model's own four-class
    calls on ``rec``'s windows: the same features, other probabilities."""
    _, inputs = detect.window_inputs(rec, shipped.settings)
    calls = shipped.models[0].predict(inputs)
    return feature_model.fit(inputs, calls, boosting=feature_model.profile_boosting(10))


def test_shared_scan_gives_each_bundle_what_its_own_scan_gives(mitdb_root):
    shipped = detect.packaged_bundle()
    rec = records.read_path(mitdb_root / "201")
    one = bundle.Bundle([_other_model(shipped, rec)], shipped.settings)
    result, probs = noise_study.SharedScan({"all": shipped, "one": one}).analyse(rec)
    np.testing.assert_allclose(probs["all"], detect.analyse(rec, shipped).prob, atol=1e-6)
    np.testing.assert_allclose(probs["one"], detect.analyse(rec, one).prob, atol=1e-6)
    assert probs["all"].size == result.starts_s.size == 179  # 30:05 min, 20-s windows, 10-s step
    assert not np.allclose(probs["all"], probs["one"])


def test_scan_conditions_scores_each_bundle_as_run_does(noises, mitdb_root):
    _, found = noises
    shipped = detect.packaged_bundle()
    one = bundle.Bundle([_other_model(shipped, records.read_path(mitdb_root / "201"))],
                        dataclasses.replace(shipped.settings, threshold=0.3))
    table = noise_study.scan_conditions({"release": shipped, "one": one}, ["201"],
                                        {"ma": found["ma"]}, snrs_db=(0,))
    alone = noise_study.run(shipped, ["201"], {"ma": found["ma"]}, snrs_db=(0,))
    mine = table[table["model"] == "release"].reset_index(drop=True)
    theirs = alone[alone["model"] == "release"].reset_index(drop=True)
    np.testing.assert_allclose(mine["prob"], theirs["prob"], atol=1e-6)
    assert mine[["condition", "y"]].equals(theirs[["condition", "y"]])
    assert set(table.loc[table["model"] == "one", "threshold"]) == {0.3}
