"""The scanner: reading any WFDB record, batch scan versus live stream on real records,
annotation files, EC57 scoring and the ``ecg-af scan`` command line.

The bundle is the untrained detector built from seed 0 (deterministic), with its threshold at
the median window probability of mitdb 203 so that both decisions occur: these tests check
that the pieces agree with each other, not how well an untrained model finds AF. Synthetic
signals appear only in the pure episode-tracker test and in tiny WFDB records that exercise
error paths.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy import signal as scipy_signal
from scipy import stats

from ecgutils import (
    beats,
    bundle,
    detect,
    ec57,
    episodes,
    models,
    records,
    release,
    rhythm,
    signal,
    train,
)
from ecgutils.errors import (
    ECGDataError,
    RecordFormatError,
    SignalQualityError,
    UnknownNameError,
)

ERROR_PREFIX = "ecg-af scan: error:"


def make_settings(**changes) -> bundle.Settings:
    """The CNN release's settings (:func:`ecgutils.release.settings`) with ``changes``."""
    return dataclasses.replace(release.settings(0.5, kind="cnn"), **changes)


# Hysteresis 0 and a merge gap: several episodes per record, so offsets happen mid-record.
CHOPPY_EPISODES = {"on_threshold": None, "hysteresis": 0.0, "min_episode_s": 30.0,
                   "merge_gap_s": 20.0}


@pytest.fixture(scope="module")
def recs(mitdb_root) -> dict[str, records.Record]:
    return {name: records.read_path(mitdb_root / name, annotator="atr")
            for name in ("203", "201")}


@pytest.fixture(scope="module")
def bundle_path(recs, tmp_path_factory) -> Path:
    train.seed_all(0)
    model = models.detector(input_samples=2500, n_rr_features=len(beats.FEATURES),
                            n_classes=1)
    probe = detect.analyse(recs["203"], bundle.Bundle([model], make_settings()))
    settings = make_settings(threshold=float(np.median(probe.prob)))
    return bundle.save(tmp_path_factory.mktemp("bundle") / "detector", [model], settings)


@pytest.fixture(scope="module")
def test_bundle(bundle_path) -> bundle.Bundle:
    """The saved bundle, loaded once: the very object :func:`detect.scan` uses for it."""
    return detect.bundle_at(bundle_path)


@pytest.fixture(scope="module")
def choppy_bundle(test_bundle) -> bundle.Bundle:
    settings = dataclasses.replace(test_bundle.settings, episode=CHOPPY_EPISODES)
    return bundle.Bundle(test_bundle.models, settings)


@pytest.fixture(scope="module")
def batch(recs, test_bundle) -> dict[str, detect.ScanResult]:
    return {name: detect.analyse(rec, test_bundle) for name, rec in recs.items()}


def _write_record(folder: Path, name: str, column: np.ndarray, fs: float = 360.0) -> Path:
    wfdb.wrsamp(name, fs=fs, units=["mV"], sig_name=["MLII"], p_signal=column[:, None],
                fmt=["16"], write_dir=str(folder))
    return folder / name


def _lead_100(mitdb_root: Path, seconds: float) -> np.ndarray:
    """The first seconds of mitdb 100's MLII (a real ECG) for small records of error tests."""
    return wfdb.rdrecord(str(mitdb_root / "100"), channels=[0],
                         sampto=int(seconds * 360)).p_signal[:, 0].copy()


# --- reading any record ---------------------------------------------------------------------


def test_read_path_by_index_name_and_suffix(mitdb_root):
    both = wfdb.rdrecord(str(mitdb_root / "203")).p_signal
    default = records.read_path(mitdb_root / "203")
    assert (default.name, default.lead, default.fs, default.dataset) == \
        ("203", "MLII", 360.0, "external")
    assert np.array_equal(default.signal, both[:, 0])
    assert default.rhythm == [] and default.beat_samples.size == 0
    for lead in (1, "1", "V1"):
        rec = records.read_path(mitdb_root / "203", lead=lead)
        assert rec.lead == "V1"
        assert np.array_equal(rec.signal, both[:, 1])
    for suffix in (".hea", ".dat"):
        rec = records.read_path(str(mitdb_root / "203") + suffix, lead="MLII")
        assert rec.name == "203" and np.array_equal(rec.signal, both[:, 0])


def test_read_path_with_annotator_reads_rhythm_and_beats(recs, mitdb_root):
    ann = wfdb.rdann(str(mitdb_root / "203"), "atr")
    rec = recs["203"]
    assert rec.af_episodes and all(e.label == rhythm.AF for e in rec.af_episodes)
    assert rec.rhythm[-1].end_s == rec.duration_s
    assert 0 < rec.beat_samples.size < len(ann.sample)
    assert set(rec.beat_samples) <= set(ann.sample)


def test_read_path_errors(mitdb_root, tmp_path):
    with pytest.raises(RecordFormatError, match="no such WFDB record"):
        records.read_path(tmp_path / "missing")
    with pytest.raises(UnknownNameError, match="no lead 'V9'; leads: MLII, V1"):
        records.read_path(mitdb_root / "203", lead="V9")
    for lead in (2, "2"):
        with pytest.raises(UnknownNameError, match="no signal 2: it has 2"):
            records.read_path(mitdb_root / "203", lead=lead)
    with pytest.raises(RecordFormatError, match="203.xyz is missing"):
        records.read_path(mitdb_root / "203", annotator="xyz")


def test_read_path_names_the_first_nan_span(mitdb_root, tmp_path):
    lead = _lead_100(mitdb_root, 12.0)
    lead[720:1080] = np.nan         # 2.00 s to 3.00 s
    lead[2000:2010] = np.nan        # a second, later span
    path = _write_record(tmp_path, "gap", lead)
    with pytest.raises(SignalQualityError,
                       match=r"370 NaN sample\(s\); the first span runs from 2\.00 s to 3\.00 s "
                             r"\(samples 720-1079\)"):
        records.read_path(path)
    lead = _lead_100(mitdb_root, 12.0)
    lead[-360:] = np.nan            # NaN to the end
    with pytest.raises(SignalQualityError, match=r"from 11\.00 s to 12\.00 s"):
        records.read_path(_write_record(tmp_path, "tail", lead))


def test_read_path_refuses_a_flat_lead(tmp_path):
    with pytest.raises(SignalQualityError, match="is flat"):
        records.read_path(_write_record(tmp_path, "flat", np.full(3600, 0.2)))


# --- batch scan -----------------------------------------------------------------------------


def test_analyse_real_records(batch, recs, test_bundle):
    s = test_bundle.settings
    for name, result in batch.items():
        rec = recs[name]
        assert result.record == name and result.lead == "MLII" and result.fs == 360.0
        # 30:05.6 at 360 Hz: windows every 10 s while a whole 20-s window fits.
        n_windows = math.floor((rec.duration_s - s.window_s) / s.step_s) + 1
        assert np.array_equal(result.starts_s, np.arange(n_windows) * s.step_s)
        assert np.all((result.prob > 0) & (result.prob < 1))
        assert result.record_prob == pytest.approx(result.prob.mean())
        # Episodes are episodes.detect on the windows, with the bundle's settings.
        assert result.episodes == episodes.detect(result.starts_s, result.prob, s.threshold,
                                                  s.window_s, s.step_s, rec.duration_s,
                                                  s.episode_params())
        assert 0 < result.af_burden <= 1
    # The threshold splits the windows: both decisions occur.
    both = np.concatenate([r.prob for r in batch.values()])
    assert 0 < np.mean(both >= test_bundle.settings.threshold) < 1


def test_cinc_mat_record(cinc_root, test_bundle):
    rec = records.read_path(cinc_root / "A00001.mat")
    assert (rec.name, rec.fs, rec.lead, rec.n_samples) == ("A00001", 300.0, "ECG", 9000)
    assert np.array_equal(rec.signal, records.read_path(cinc_root / "A00001").signal)
    result = detect.analyse(rec, test_bundle)
    assert np.array_equal(result.starts_s, [0.0, 10.0])  # 30 s: windows at 0 and 10 s


def test_short_cinc_record_is_wrapped_to_one_window(cinc_root, test_bundle):
    names = (cinc_root / "RECORDS").read_text().split()[:400]
    short = next(name for name in names
                 if 9 * 300 <= wfdb.rdheader(str(cinc_root / name)).sig_len < 6000)
    rec = records.read_path(cinc_root / short)
    assert 9.0 <= rec.duration_s < 20.0
    result = detect.analyse(rec, test_bundle)
    assert result.row()["n_windows"] == 1 and np.array_equal(result.starts_s, [0.0])
    assert result.episodes == []  # shorter than min_episode_s
    live, _ = detect.stream_record(rec, test_bundle, chunk_s=1.0)
    assert np.array_equal(live.prob, result.prob) and live.events == []
    refusing = bundle.Bundle(test_bundle.models,
                             dataclasses.replace(test_bundle.settings, short_policy="error"))
    with pytest.raises(RecordFormatError, match="shorter than one 20-s window"):
        detect.analyse(rec, refusing)


# --- live stream ----------------------------------------------------------------------------


def _check_events(result: detect.ScanResult, s: bundle.Settings, chunk_s: float) -> None:
    """Events pair up with the episodes; each comes once it is certain, never before, never
    after the record's end, and at most a window, a block, a margin and a chunk after the
    slot that decides it."""
    p = s.episode_params()
    end = result.duration_s
    kinds = [e.kind for e in result.events]
    assert kinds == ["onset", "offset"] * len(result.episodes)
    emitted = [e.emitted_at_s for e in result.events]
    assert emitted == sorted(emitted) and emitted[-1:] <= [end]
    lag = s.window_s + s.block_s + s.margin_s + chunk_s + 1e-6
    for episode, onset, offset in zip(result.episodes, result.events[::2],
                                      result.events[1::2], strict=True):
        assert (onset.time_s, offset.time_s) == (episode.start_s, episode.end_s)
        assert onset.emitted_at_s >= episode.start_s + p.min_episode_s - 1e-9
        assert offset.emitted_at_s >= min(episode.end_s + p.merge_gap_s, end) - 1e-9
        # The onset is decided by the slot in which the run reaches min_episode_s, the
        # offset by the slot in which the gap reaches merge_gap_s (or at the record's end).
        onset_slot = episode.start_s + (max(1, math.ceil(p.min_episode_s / s.step_s)) - 1) \
            * s.step_s
        offset_slot = episode.end_s + (max(1, math.ceil(p.merge_gap_s / s.step_s)) - 1) \
            * s.step_s
        assert onset.emitted_at_s <= onset_slot + lag or onset.emitted_at_s == end
        assert offset.emitted_at_s <= offset_slot + lag or offset.emitted_at_s == end


@pytest.mark.parametrize("name, chunk_s, choppy", [
    ("203", 1.0, False), ("203", 7.3, False), ("201", 1.0, False), ("201", 7.3, False),
    ("203", 7.3, True), ("201", 1.0, True),
])
def test_stream_equals_batch(name, chunk_s, choppy, recs, batch, test_bundle, choppy_bundle):
    rec, whole = recs[name], batch[name]
    used = choppy_bundle if choppy else test_bundle
    s = used.settings
    expected = episodes.detect(whole.starts_s, whole.prob, s.threshold, s.window_s, s.step_s,
                               rec.duration_s, s.episode_params())
    assert expected
    if choppy:
        assert len(expected) >= 2 and expected[0].end_s < rec.duration_s
    live, stream = detect.stream_record(rec, used, chunk_s)
    assert np.array_equal(live.starts_s, whole.starts_s)
    # The same windows and features; the CNN sees them in other batches, and oneDNN's kernels
    # may round float32 differently per batch size on some CPUs (1e-7 here, exact on others).
    np.testing.assert_allclose(live.prob, whole.prob, rtol=0, atol=1e-5)
    assert live.episodes == expected
    assert stream.closed and stream.close() == []
    _check_events(live, s, chunk_s)
    with pytest.raises(ValueError, match="closed"):
        stream.push(np.zeros(10))


@pytest.fixture(scope="module")
def features_bundle(recs) -> bundle.Bundle:
    """A features_gb bundle: gradient boosting fitted to the scanner's own features of mitdb
    201 and 203 with the windows' AF labels from the reference rhythm (agreement tests only),
    its threshold at the mean window probability of 201."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    settings = release.settings(0.5, kind="features_gb")
    X, y = [], []
    for rec in recs.values():
        starts, inputs = detect.window_inputs(rec, settings)
        af = np.zeros(starts.size, dtype=int)
        for interval in rec.rhythm:
            if interval.label == rhythm.AF:
                middle = starts + settings.window_s / 2
                af |= ((middle >= interval.start_s) & (middle < interval.end_s)).astype(int)
        X.append(inputs)
        y.append(af)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(
        np.vstack(X), np.concatenate(y))
    probe = bundle.Bundle([model], settings)
    threshold = float(np.mean(detect.analyse(recs["201"], probe).prob))
    return bundle.Bundle([model], dataclasses.replace(settings, threshold=threshold))


def test_features_bundle_reads_what_window_inputs_gives(recs, features_bundle):
    rec = recs["201"]
    result = detect.analyse(rec, features_bundle)
    starts, inputs = detect.window_inputs(rec, features_bundle.settings)
    assert np.array_equal(result.starts_s, starts)
    assert inputs.shape == (starts.size, len(features_bundle.settings.rr_features))
    np.testing.assert_array_equal(result.prob, features_bundle.predict(None, inputs))
    assert result.prob.min() < features_bundle.settings.threshold < result.prob.max()


def test_the_scanner_detects_beats_on_the_bundles_beat_band(recs, monkeypatch):
    rec = recs["201"]
    shipped = release.settings(0.5, kind="features_gb")
    assert (shipped.beat_band_hz, shipped.beat_band_gate) == (list(beats.BAND_HZ),
                                                              beats.BAND_GATE)
    assert release.settings(0.5, kind="cnn").beat_band_hz is None  # as its RR input trained
    settings = dataclasses.replace(shipped, beat_band_hz=None, beat_band_gate=None)
    banded = dataclasses.replace(settings, beat_band_hz=list(beats.BAND_HZ))
    asked = []
    detect_beats = beats.detect

    def spy(signal_mv, fs, band_hz=None, gate=None):
        asked.append((band_hz, gate))
        return detect_beats(signal_mv, fs, band_hz, gate)

    monkeypatch.setattr(beats, "detect", spy)
    plain_starts, plain = detect.window_inputs(rec, settings)
    assert asked and set(asked) == {(None, None)}
    asked.clear()
    starts, inputs = detect.window_inputs(rec, banded)
    assert asked and all(list(band) == list(beats.BAND_HZ) and gate is None
                         for band, gate in asked)
    asked.clear()
    detect.window_inputs(rec, dataclasses.replace(banded, beat_band_gate=0.95))
    assert asked and {gate for _, gate in asked} == {0.95}
    # The same windows; their features read other beats.
    assert np.array_equal(starts, plain_starts)
    assert not np.array_equal(inputs, plain)


@pytest.mark.parametrize("chunk_s", [1.0, 7.3])
def test_features_bundle_stream_equals_batch(chunk_s, recs, features_bundle):
    """The atrial features of a window come from that window's samples only, on the
    recording's clock: the stream's pieces of signal give exactly the batch's numbers."""
    rec = recs["201"]
    whole = detect.analyse(rec, features_bundle)
    live, _ = detect.stream_record(rec, features_bundle, chunk_s)
    assert np.array_equal(live.starts_s, whole.starts_s)
    assert np.array_equal(live.prob, whole.prob)
    assert live.episodes == whole.episodes and whole.episodes


def test_features_bundle_on_a_short_cinc_record(cinc_root, features_bundle):
    names = (cinc_root / "RECORDS").read_text().split()[:400]
    short = next(name for name in names
                 if 9 * 300 <= wfdb.rdheader(str(cinc_root / name)).sig_len < 6000)
    rec = records.read_path(cinc_root / short)
    starts, inputs = detect.window_inputs(rec, features_bundle.settings)
    assert np.array_equal(starts, [0.0])
    named = dict(zip(features_bundle.settings.rr_features, inputs[0], strict=True))
    assert named["n_beats"] >= 4  # the atrial features read the record's own beats


def test_stream_events_arrive_while_the_record_plays(recs, choppy_bundle):
    rec = recs["203"]
    stream = detect.Stream(rec.fs, choppy_bundle, "203")
    chunk = int(30 * rec.fs)
    seen = []
    for lo in range(0, rec.n_samples, chunk):
        for event in stream.push(rec.signal[lo:lo + chunk]):
            seen.append(event)
            assert event.emitted_at_s == min(lo + chunk, rec.n_samples) / rec.fs
    assert seen and seen[0].emitted_at_s < rec.duration_s / 2
    seen += stream.close()
    assert seen == stream.events


def test_stream_refuses_nan_samples(test_bundle):
    stream = detect.Stream(360.0, test_bundle, "live")
    stream.push(np.zeros(720))
    with pytest.raises(ECGDataError, match=r"live: NaN sample at 2\.50 s"):
        stream.push(np.r_[np.zeros(180), np.nan])


@pytest.mark.parametrize("fs", [80.0, 50.0])
def test_a_recording_sampled_too_slowly_for_the_filters_is_one_clear_error(test_bundle, fs):
    # The scanner band-passes to 40 Hz at the recording's own rate: 80 Hz cannot hold it.
    with pytest.raises(RecordFormatError, match=f"live: sampling rate {fs:g} Hz is too low "
                                                r"for this model, whose filters reach 40 Hz"):
        detect.Stream(fs, test_bundle, "live")


def test_stream_of_a_too_short_recording(test_bundle):
    stream = detect.Stream(360.0, test_bundle, "live")
    stream.push(np.sin(np.arange(5 * 360) / 20))
    with pytest.raises(RecordFormatError, match="lasts 5.0 s, shorter than the 9 s"):
        stream.close()


def test_onset_delays():
    reference = [rhythm.Interval("N", 0, 100), rhythm.Interval(rhythm.AF, 100, 400),
                 rhythm.Interval("N", 400, 600), rhythm.Interval(rhythm.AF, 600, 700),
                 rhythm.Interval(rhythm.AF, 800, 900)]
    detected = [rhythm.Interval(rhythm.AF, 80, 300), rhythm.Interval(rhythm.AF, 650, 750)]
    events = [detect.Event("onset", 80, 190), detect.Event("offset", 300, 330),
              detect.Event("onset", 650, 760), detect.Event("offset", 750, 800)]
    # AF from 100 s was called at 190 s (90 s late); AF from 600 s at 760 s; AF from 800 s
    # was never detected and has no delay.
    assert detect.onset_delays(reference, events, detected) == [90.0, 160.0]
    early = [detect.Event("onset", 80, 95), detect.Event("offset", 300, 330)]
    assert detect.onset_delays(reference[:2], early, detected[:1]) == [-5.0]  # already AF


# --- the episode tracker against episodes.detect --------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_episode_tracker_equals_episodes_detect(seed):
    """Pure function test on synthetic probability sequences: fed the windows a few at a time,
    the live tracker finds exactly :func:`episodes.detect`'s episodes, with an onset and an
    offset event for each, never before they are certain."""
    rng = np.random.default_rng(seed)
    grids = [(20.0, 10.0), (20.0, 5.0), (30.0, 10.0), (10.0, 10.0), (20.0, 20.0)]
    n_episodes = 0
    for _ in range(150):
        window_s, step_s = grids[rng.integers(len(grids))]
        if rng.random() < 0.1:  # a short record wrapped to one window
            n_windows, end_s = 1, float(rng.uniform(0.45, 1.0) * window_s)
        else:
            n_windows = int(rng.integers(1, 80))
            tail = 0.0 if rng.random() < 0.2 else float(rng.uniform(0, step_s))
            end_s = (n_windows - 1) * step_s + window_s + tail
        starts = np.arange(n_windows) * step_s
        prob = 1 / (1 + np.exp(-np.cumsum(rng.normal(0, 0.8, n_windows))))
        threshold = float(rng.uniform(0.2, 0.8))
        params = {"on_threshold": None if rng.random() < 0.5 else float(rng.uniform(0.2, 0.8)),
                  "hysteresis": float(rng.choice([0.0, 0.05, 0.2])),
                  "min_episode_s": float(rng.choice([0.0, 10.0, 25.0, 30.0, 60.0])),
                  "merge_gap_s": float(rng.choice([0.0, 5.0, 10.0, 20.0, 35.0]))}
        s = make_settings(window_s=window_s, step_s=step_s, threshold=threshold,
                          episode=params, block_s=max(60.0, window_s))
        expected = episodes.detect(starts, prob, threshold, window_s, step_s, end_s,
                                   s.episode_params())
        tracker = detect._EpisodeTracker(s)
        events, seen = [], 0
        while n_windows > 1 and seen < n_windows:
            seen = min(n_windows, seen + int(rng.integers(0, 5)))
            now = starts[seen - 1] + window_s if seen else 0.0
            events += tracker.update(starts[:seen].tolist(), prob[:seen].tolist(), False,
                                     now, now)
        events += tracker.update(starts.tolist(), prob.tolist(), True, end_s, end_s)
        assert tracker.episodes == expected, (window_s, step_s, end_s, threshold, params)
        assert [e.kind for e in events] == ["onset", "offset"] * len(expected)
        for episode, onset, offset in zip(expected, events[::2], events[1::2], strict=True):
            assert (onset.time_s, offset.time_s) == (episode.start_s, episode.end_s)
            assert onset.emitted_at_s >= episode.start_s + params["min_episode_s"] - 1e-9
            assert offset.emitted_at_s >= episode.end_s - 1e-9
            assert max(onset.emitted_at_s, offset.emitted_at_s) <= end_s
        n_episodes += len(expected)
    assert n_episodes > 50  # the sequences did exercise episodes


def test_hysteresis_mask_start_active():
    values = np.array([0.45, 0.42, 0.3, 0.55, np.nan, 0.45])
    assert episodes.hysteresis_mask(values, 0.5, 0.4).tolist() == \
        [False, False, False, True, False, False]
    assert episodes.hysteresis_mask(values, 0.5, 0.4, start_active=True).tolist() == \
        [True, True, False, True, False, False]
    # Split anywhere and carried over, the mask is the same.
    whole = episodes.hysteresis_mask(values, 0.5, 0.4, start_active=True)
    for cut in range(values.size + 1):
        head = episodes.hysteresis_mask(values[:cut], 0.5, 0.4, start_active=True)
        carry = bool(head[-1]) if head.size else True
        tail = episodes.hysteresis_mask(values[cut:], 0.5, 0.4, start_active=carry)
        assert np.concatenate([head, tail]).tolist() == whole.tolist()


# --- RR features ----------------------------------------------------------------------------


def test_window_features_mad_equals_the_per_window_formula(recs):
    rec = recs["203"]
    beat_s = beats.detect(rec.signal, rec.fs) / rec.fs
    starts = np.arange(0, rec.duration_s - 20, 10.0)
    features = beats.window_features(beat_s, starts, 20.0)
    expected = np.zeros(starts.size)
    enough = np.zeros(starts.size, dtype=bool)
    for row, start in enumerate(starts):
        inside = beat_s[(beat_s >= start) & (beat_s < start + 20.0)]
        rr = np.diff(inside)
        rr = rr[(rr >= beats.RR_RANGE_S[0]) & (rr <= beats.RR_RANGE_S[1])]
        enough[row] = rr.size >= beats.MIN_RR
        if enough[row]:
            expected[row] = stats.median_abs_deviation(rr) / np.median(rr)
    mad = features[:, beats.FEATURES.index("mad_rel")]
    assert np.count_nonzero(expected) > 0.9 * starts.size
    np.testing.assert_allclose(mad, expected.astype(np.float32), rtol=1e-6, atol=0)
    assert np.array_equal(features[:, beats.FEATURES.index("rr_valid")] == 1, enough)


# --- resampling: the low-pass designed once per ratio ---------------------------------------


def test_resampling_with_the_cached_low_pass_equals_scipys_own_design(recs):
    x = recs["203"].signal[:360 * 80]
    for n in (1000, 3599, 360 * 70 + 1, x.size):
        assert np.array_equal(signal.resample(x[:n], 360.0, 125.0),
                              scipy_signal.resample_poly(x[:n], 25, 72))
        assert np.array_equal(signal.resample(x[:n], 300.0, 250.0),
                              scipy_signal.resample_poly(x[:n], 5, 6))
    assert np.array_equal(signal.resample(x[:10], 125.0, 125.0), x[:10])


# --- files: scan, annotations, EC57 ---------------------------------------------------------


@pytest.fixture(scope="module")
def scanned_203(mitdb_root, bundle_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("scan")
    table = detect.scan([mitdb_root / "203"], model=bundle_path, out_dir=out, extension="afx",
                        reference="atr", show_progress=False)
    return table, out


def test_scan_writes_annotations_that_read_back(scanned_203, batch, mitdb_root):
    table, out = scanned_203
    assert len(table) == 1
    row = table.iloc[0]
    assert row["annotation"] == str(out / "203.afx")
    assert sorted(p.name for p in out.iterdir()) == ["203.afx"]
    found = batch["203"].episodes
    assert row["episodes"] == [(round(e.start_s, 3), round(e.end_s, 3)) for e in found]
    intervals, end_s = ec57.read_rhythm("203", "afx", out, record_directory=mitdb_root)
    assert end_s == 650000 / 360
    back = rhythm.episodes(intervals, rhythm.AF)
    assert len(back) == len(found) > 0
    for a, b in zip(back, found, strict=True):
        assert abs(a.start_s - b.start_s) <= 1 / 360 and abs(a.end_s - b.end_s) <= 1 / 360
    ann = wfdb.rdann(str(out / "203"), "afx")
    assert set(ann.symbol) == {"+"}
    assert [note.rstrip("\x00") for note in ann.aux_note].count("(AFIB") == len(found)


def test_scan_reference_columns_are_the_ec57_scores(scanned_203, batch, mitdb_root):
    table, _ = scanned_203
    row = table.iloc[0]
    reference, duration = ec57.read_rhythm("203", "atr", mitdb_root)
    score = ec57.compare(reference, batch["203"].episodes, duration, record="203")
    assert score.ref_episodes > 0
    for name in (*ec57.COUNTS, *ec57.DURATIONS):
        assert row[name] == pytest.approx(getattr(score, name), abs=1e-9), name
    for name, value in ec57.gross([score]).items():
        assert row[name] == pytest.approx(value, nan_ok=True), name
    assert row["ec57_variant"] == score.variant


def test_scan_stream_and_plot(mitdb_root, bundle_path, batch, tmp_path):
    table = detect.scan(str(mitdb_root / "201"), model=bundle_path, extension=None,
                        reference="atr", plot_dir=tmp_path / "figs", stream=True, chunk_s=7.3,
                        show_progress=False)
    row = table.iloc[0]
    assert "annotation" not in table.columns
    assert row["n_windows"] == batch["201"].prob.size
    assert row["episodes"] == batch["201"].row()["episodes"]
    assert isinstance(row["onset_delays_s"], list)
    assert all(np.isfinite(delay) for delay in row["onset_delays_s"])
    assert Path(row["plot"]) == tmp_path / "figs" / "201_scan.png"
    assert Path(row["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- command line ---------------------------------------------------------------------------


def test_cli_scans_a_record(mitdb_root, bundle_path, batch, tmp_path, capsys):
    code = detect.main(["scan", str(mitdb_root / "201"), "--model", str(bundle_path),
                        "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("201: 30.1 min, lead MLII at 360 Hz")
    assert "x real time" in out
    assert f"annotations: {tmp_path / '201.afx'}" in out
    assert f"{len(batch['201'].episodes)} episode(s)" in out
    assert (tmp_path / "201.afx").is_file()


def test_cli_json_and_csv(cinc_root, bundle_path, tmp_path, capsys):
    records_ = [str(cinc_root / "A00001"), str(cinc_root / "A00002.hea")]
    common = ["--model", str(bundle_path), "--no-annotations", "--lead", "0"]
    assert detect.main([*records_, *common, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["record"] for r in rows] == ["A00001", "A00002"]
    assert [r["lead"] for r in rows] == ["ECG", "ECG"]
    assert rows[0]["n_windows"] == 2 and rows[0]["duration_s"] == 30.0
    assert detect.main([*records_, *common, "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("record,lead,fs,duration_s,n_windows") and len(lines) == 3
    assert not list(tmp_path.iterdir())


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(ERROR_PREFIX)
    assert captured.out == ""
    return lines[0]


@pytest.fixture
def short_records(mitdb_root, tmp_path) -> Path:
    folder = tmp_path / "records"
    folder.mkdir()
    _write_record(folder, "five", _lead_100(mitdb_root, 5.0))
    gap = _lead_100(mitdb_root, 12.0)
    gap[1800:2160] = np.nan                     # 5.00 s to 6.00 s
    _write_record(folder, "gap", gap)
    _write_record(folder, "flat", np.full(int(12 * 360), -0.1))
    _write_record(folder, "twelve", _lead_100(mitdb_root, 12.0))
    return folder


@pytest.mark.parametrize("record, extra, problem", [
    ("records/none", [], r"no such WFDB record: .*none\.hea does not exist"),
    ("records/twelve", ["--lead", "V9"], "has no lead 'V9'; leads: MLII"),
    ("records/twelve", ["--lead", "3"], "has no signal 3"),
    ("records/five", [], r"lasts 5\.0 s, shorter than the 9 s this model needs"),
    ("records/gap", [], r"the first span runs from 5\.00 s to 6\.00 s"),
    ("records/flat", [], r"lead MLII is flat"),
    ("records/twelve", ["--model", "{tmp}/none"], r"no model bundle at .*none"),
    ("records/twelve", ["--out-dir", "{tmp}/file/sub"], "cannot create the output folder"),
    ("records/twelve", ["--reference", "atr"], r"twelve\.atr is missing"),
])
def test_cli_bad_input_gives_one_error_line(record, extra, problem, short_records,
                                            bundle_path, tmp_path, capsys):
    (tmp_path / "file").write_text("a regular file")
    out_dir = tmp_path / "out"
    argv = ["scan", str(tmp_path / record), "--model", str(bundle_path),
            "--out-dir", str(out_dir), *[arg.format(tmp=tmp_path) for arg in extra]]
    assert detect.main(argv) == 2
    line = _one_error_line(capsys)
    assert len(re.findall(problem, line)) == 1, line
    assert not out_dir.exists() or not list(out_dir.iterdir())
    assert (tmp_path / "file").read_text() == "a regular file"


def test_cli_good_short_record_is_one_window(short_records, bundle_path, tmp_path, capsys):
    assert detect.main(["scan", str(short_records / "twelve"), "--model", str(bundle_path),
                        "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["n_windows"] == 1 and row["duration_s"] == 12.0
    assert (short_records / "twelve.afx").is_file()  # beside the record by default


def test_cli_failed_annotation_write_leaves_nothing(short_records, bundle_path, tmp_path,
                                                    capsys, monkeypatch):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "twelve.afx").write_bytes(b"previous")

    def half_written(record, extension, sample, write_dir, **kwargs):
        Path(write_dir, f"{record}.{extension}").write_bytes(b"\x00\x01")
        raise OSError("No space left on device")

    monkeypatch.setattr(ec57.wfdb, "wrann", half_written)
    assert detect.main(["scan", str(short_records / "twelve"), "--model", str(bundle_path),
                        "--out-dir", str(out_dir)]) == 2
    assert "No space left on device" in _one_error_line(capsys)
    assert sorted(p.name for p in out_dir.iterdir()) == ["twelve.afx"]
    assert (out_dir / "twelve.afx").read_bytes() == b"previous"


def test_cli_damaged_bundle_gives_one_error_line(short_records, bundle_path, tmp_path, capsys):
    damaged = Path(shutil.copytree(bundle_path, tmp_path / "damaged"))
    (damaged / "model_0.keras").write_bytes(b"garbage" * 50)
    assert detect.main(["scan", str(short_records / "twelve"), "--model", str(damaged)]) == 2
    assert "model_0.keras is damaged" in _one_error_line(capsys)


# The output folder is checked before the scan: a long record fails at once, with one line.
def test_cli_unwritable_out_dir_on_a_long_record(mitdb_root, bundle_path, tmp_path, capsys,
                                                 monkeypatch):
    (tmp_path / "file").write_text("a regular file")
    monkeypatch.setattr(detect, "analyse", lambda *a, **k: pytest.fail("scanned first"))
    assert detect.main(["scan", str(mitdb_root / "203"), "--model", str(bundle_path),
                        "--out-dir", str(tmp_path / "file" / "sub")]) == 2
    assert "cannot create the output folder" in _one_error_line(capsys)
