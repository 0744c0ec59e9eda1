"""Noise augmentation of the detector's training windows, on real CinC 2017 records and the
real NSTDB noise: training noise only, nst's SNR, deterministic, and off means no change."""

from __future__ import annotations

import numpy as np
import pytest

from ecgutils import (
    config,
    datasets,
    detector_study,
    noise,
    noise_augment,
    noise_study,
    preprocess,
    records,
    release,
    train,
)

TINY = {"filters": (4, 4), "rr_units": 4, "dropout": 0.1}


# Notebook 08 cuts the noise records with its profile's seed: the same in every profile.
SEED_08 = config.resolve_params("default")["seed"]


@pytest.fixture(scope="module")
def noises(cinc_root):
    """The noise records cut as notebook 08 cuts them (its test segments are 08's)."""
    try:
        datasets.ensure_local("nstdb")
    except Exception as exc:  # noqa: BLE001 - any reason to have no NSTDB here
        pytest.skip(f"nstdb not available: {exc}")
    return noise_study.noise_records(seed=SEED_08)


def test_augmentation_cuts_the_noise_records_as_notebook_08_does():
    aug = noise_augment.NoiseAugmentation()
    for profile in config.PROFILES:
        assert config.resolve_params(profile)["seed"] == aug.split_seed


@pytest.fixture(scope="module")
def cinc(cinc_root):
    params = preprocess.detector_params("cinc2017", max_records=60)
    return params, preprocess.build(params)


def test_noise_records_split_into_disjoint_training_and_test_segments(noises):
    for nr in noises.values():
        train_start, train_end = nr.segment_s("train")
        test_start, test_end = nr.segment_s("test")
        assert min(train_start, test_start) >= 300.0  # N's calibration stretch is left out
        assert train_end <= test_start or test_end <= train_start
        assert nr.train.size == nr.test.size == 270640  # 751.8 s each at 360 Hz


def test_augmentation_uses_only_training_noise_segments(cinc, noises):
    params, entry = cinc
    rows = detector_study.centre_rows(entry)
    copies = noise_augment.training_copies(entry, params, rows,
                                           noise_augment.NoiseAugmentation(fraction=1.0))
    assert len(copies) >= 55  # all 60 records but those without a beat to measure S on
    for name, part in copies.table.groupby("noise"):
        train_start, train_end = noises[name].segment_s("train")
        test_start, test_end = noises[name].segment_s("test")
        assert (part["noise_start_s"] >= train_start).all()
        assert (part["noise_end_s"] <= train_end).all()
        assert ((part["noise_end_s"] <= test_start) | (part["noise_start_s"] >= test_end)).all()
    assert set(copies.table["noise"]) == {"bw", "ma"}
    assert copies.table["snr_db"].between(-6, 24).all()
    # The copies are noisy versions of the same windows: close to, never equal to, the clean.
    clean = np.asarray(entry.arrays["X"])[copies.rows]
    assert not np.array_equal(copies.X, clean)
    assert np.median([np.corrcoef(a, b)[0, 1] for a, b in zip(copies.X, clean, strict=True)]) > 0.5


def test_noise_leaving_the_training_segment_is_refused(noises):
    nr = noises["ma"]
    with pytest.raises(AssertionError, match="leaves the training segment"):
        # A span that runs 1 s past the training segment's end.
        noise_augment._assert_training_noise(nr, nr.train.size / nr.fs - 10.0, 11.0)
    long_lead = np.zeros(int(800 * 300))  # 800 s: longer than the 751.8-s segment
    with pytest.raises(ValueError, match="longer than"):
        noise_augment.noisy_lead(long_lead, 300.0, np.array([1.0]), nr, 6.0, 0.5)


@pytest.mark.parametrize("noise_name, snr_db", [("ma", 6.0), ("bw", -6.0), ("ma", 17.3)])
def test_achieved_snr_matches_the_drawn_one(cinc_root, noises, noise_name, snr_db):
    rec = records.read("cinc2017", "A00001")  # 30 s at 300 Hz; noise at 360 Hz
    found = preprocess.beat_times(preprocess.detector_params("cinc2017", max_records=60))
    nr = noises[noise_name]
    noisy, offset_s = noise_augment.noisy_lead(rec.signal, rec.fs, found["A00001"], nr,
                                               snr_db, where=0.37)
    # nst's S (QRS amplitudes at the beats) and N (the noise record's first 300 s); the gain
    # that was applied is read back from what was added, by least squares on the segment.
    beat_samples = np.round(found["A00001"] * rec.fs).astype(np.int64)
    power = noise.signal_power(rec.signal, rec.fs, beat_samples,
                               np.full(beat_samples.size, "N"))
    segment = noise.noise_at_rate(nr.train, nr.fs, rec.fs, rec.n_samples, offset_s)
    added = noisy - rec.signal
    gain = float(added @ segment / (segment @ segment))
    achieved = noise.snr_for_gain(power, nr.power_mv2, gain)
    assert achieved == pytest.approx(snr_db, abs=0.1)
    # And what was added is that training segment, scaled, nothing else.
    assert np.max(np.abs(added - gain * segment)) < 1e-9
    # S = A² / 8 with A00001's trimmed-mean QRS amplitude A of 0.95 mV peak to peak.
    assert np.sqrt(8 * power) == pytest.approx(0.950, abs=0.005)


def test_the_clean_lead_gives_exactly_the_cached_window_and_features(cinc):
    params, entry = cinc
    manifest = entry.tables["manifest"]
    rows = detector_study.centre_rows(entry)
    short = [row for row in rows if manifest["padded_s"].iloc[row] > 0][:2]
    for row in [*rows[:4], *short]:
        rec = records.read("cinc2017", manifest["record"].iloc[row])
        x, r = noise_augment.window_of(rec.signal, rec.fs, manifest["start_s"].iloc[row], params)
        np.testing.assert_array_equal(x, entry.arrays["X"][row])
        np.testing.assert_array_equal(r, entry.arrays["R"][row])
    assert short, "the first 60 CinC records hold a short (wrapped) one"


def test_augmentation_is_deterministic_for_a_seed(cinc, noises):
    names = [f"A{k:05d}" for k in range(1, 201)]
    aug = noise_augment.NoiseAugmentation(fraction=0.5, seed=7)
    first = noise_augment.augmentation_plan(names, aug)
    again = noise_augment.augmentation_plan(names, aug)
    assert first.equals(again)
    assert 0.4 < first["noisy"].mean() < 0.6
    other = noise_augment.augmentation_plan(names, noise_augment.NoiseAugmentation(seed=8))
    assert not first["snr_db"].equals(other["snr_db"])
    # The same draw gives the same noisy window, bit for bit.
    params, entry = cinc
    rec = records.read("cinc2017", "A00004")
    found = preprocess.beat_times(params)["A00004"]
    windows = [noise_augment.window_of(
        noise_augment.noisy_lead(rec.signal, rec.fs, found, noises["bw"], 0.0, 0.5)[0],
        rec.fs, 0.0, params) for _ in range(2)]
    np.testing.assert_array_equal(windows[0][0], windows[1][0])
    np.testing.assert_array_equal(windows[0][1], windows[1][1])


def test_off_means_the_training_windows_of_today(cinc):
    _, entry = cinc
    windows = detector_study.window_set(entry)
    rows = np.arange(0, len(windows), 3)
    taken = noise_augment.with_noisy(windows, rows, None)
    plain = windows.take(rows)
    np.testing.assert_array_equal(taken.X, plain.X)
    np.testing.assert_array_equal(taken.R, plain.R)
    cfg = train.TrainConfig(epochs=1, batch_size=16)
    dcfg = train.DetectorConfig(crops=False, aggregate=False, n_classes=1)
    today = detector_study.cinc_study(entry, cfg, dcfg, TINY, n_splits=2, dev_fraction=0.0,
                                      centre_only=True)
    off = detector_study.cinc_study(entry, cfg, dcfg, TINY, n_splits=2, dev_fraction=0.0,
                                    centre_only=True, noisy=None)
    np.testing.assert_array_equal(today.scores["prob"], off.scores["prob"])
    assert "noisy_train_windows" not in off.folds[0]


def test_augmentation_replaces_only_training_windows(cinc):
    params, entry = cinc
    rows = detector_study.centre_rows(entry)
    copies = noise_augment.training_copies(entry, params, rows,
                                           noise_augment.NoiseAugmentation(fraction=0.5))
    windows = detector_study.window_set(entry)
    mixed = noise_augment.with_noisy(windows, rows, copies)
    swapped = np.isin(rows, copies.rows)
    assert 0 < swapped.sum() < rows.size
    np.testing.assert_array_equal(mixed.X[~swapped], windows.X[rows[~swapped]])
    np.testing.assert_array_equal(mixed.X[swapped], copies.X)
    np.testing.assert_array_equal(mixed.classes, windows.classes[rows])  # labels unchanged
    cfg = train.TrainConfig(epochs=1, batch_size=16)
    dcfg = train.DetectorConfig(crops=False, aggregate=False, n_classes=1)
    study = detector_study.cinc_study(entry, cfg, dcfg, TINY, n_splits=2, dev_fraction=0.0,
                                      centre_only=True, noisy=copies)
    for fold in study.folds:
        assert 0 < fold["noisy_train_windows"] <= swapped.sum()


def test_a_variant_is_never_saved_over_the_release_fold_models():
    with pytest.raises(ValueError, match="outside the release"):
        release.train_folds(augmentation=noise_augment.NoiseAugmentation())
    with pytest.raises(ValueError, match="outside the release"):
        release.train_folds(epochs=3, folder=release.work_dir())
