import numpy as np
import pytest

from ecgutils import preprocess, records, signal
from ecgutils.errors import RecordFormatError, UnknownNameError

SMOKE_MITDB = ("100", "201", "203")


@pytest.fixture(scope="module")
def mitdb_entry(mitdb_root):
    return preprocess.build(preprocess.default_params("mitdb", records=SMOKE_MITDB))


def test_mitdb_records_become_5000_sample_windows_with_a_manifest(mitdb_entry):
    X, S = mitdb_entry.arrays["X"], mitdb_entry.arrays["S"]
    manifest = mitdb_entry.tables["manifest"]
    # 1805.6 s per record → 90 consecutive 20-s windows each.
    assert X.shape == (270, 5000) and S.shape == (270, 21, 77)
    assert manifest["record"].value_counts().to_dict() == {"100": 90, "201": 90, "203": 90}
    assert manifest.loc[manifest["record"] == "201", "start_s"].iloc[1] == pytest.approx(20.0)
    assert np.allclose(np.asarray(X).mean(axis=1), 0, atol=1e-4)
    assert np.allclose(np.asarray(X).std(axis=1), 1, atol=1e-3)
    assert set(manifest.loc[manifest["record"] == "100", "label"]) == {"non-AF"}
    # 203 holds AFL (314.3 s): some windows are set aside under the default policy.
    assert (manifest["label"] == "AFL").sum() > 0
    assert (manifest.loc[manifest["label"] == "AFL", "y"] == -1).all()


def test_window_labels_agree_with_the_af_time_of_record_201(mitdb_entry):
    manifest = mitdb_entry.tables["manifest"]
    rec201 = manifest[manifest["record"] == "201"]
    # 605.8 s of AF in 201; windows cover the first 1800 s.
    assert rec201["af_fraction"].sum() * 20.0 == pytest.approx(605.8, abs=6.0)
    assert rec201["patient_id"].unique().tolist() == ["mitdb:201"]


def test_a_window_is_the_filtered_resampled_record_at_its_start(mitdb_root, mitdb_entry):
    params = preprocess.default_params("mitdb", records=SMOKE_MITDB)
    rec = records.read("mitdb", "201")
    conditioned = signal.resample(signal.bandpass(rec.signal, rec.fs), rec.fs)
    expected = signal.normalise(conditioned[None, 5000 * 7: 5000 * 8], params.normalisation)[0]
    index = np.flatnonzero((mitdb_entry.tables["manifest"]["record"] == "201").to_numpy())[7]
    assert np.allclose(mitdb_entry.arrays["X"][index], expected, atol=1e-5)


def test_rerun_reuses_the_cache_and_a_changed_parameter_rebuilds(mitdb_entry):
    again = preprocess.build(preprocess.default_params("mitdb", records=SMOKE_MITDB))
    assert again.reused and again.path == mitdb_entry.path
    other = preprocess.build(preprocess.default_params("mitdb", records=("100",), high_hz=30.0))
    assert other.path != mitdb_entry.path and not other.reused


def test_cinc_short_records_are_wrapped_and_keep_their_class(cinc_root):
    params = preprocess.default_params("cinc2017", max_records=60)
    entry = preprocess.build(params)
    manifest = entry.tables["manifest"]
    assert len(manifest) == 60  # one centred window per record
    assert set(manifest["cinc_class"]) <= {"N", "A", "O", "~"}
    assert (manifest["y"] == (manifest["cinc_class"] == "A")).all()
    padded = manifest[manifest["padded_s"] > 0]
    assert len(padded) > 0
    for row in padded.itertuples():
        # The record is repeated end to end: the window continues with its own beginning.
        length = int(round((20.0 - row.padded_s) * 250))
        window = np.asarray(entry.arrays["X"][row.Index])
        assert np.array_equal(window[length:2 * length], window[:length][:5000 - length])
    zero_padded = preprocess.build(preprocess.default_params("cinc2017", max_records=60,
                                                             short_policy="pad"))
    for row in padded.itertuples():
        tail = int(round((20.0 - row.padded_s) * 250))
        assert np.all(zero_padded.arrays["X"][row.Index, tail + 1:] == 0)


def test_dropping_short_cinc_records_is_counted_with_the_reason(cinc_root):
    entry = preprocess.build(preprocess.default_params("cinc2017", max_records=60,
                                                       short_policy="drop"))
    padded = preprocess.build(preprocess.default_params("cinc2017", max_records=60))
    n_short = int((padded.tables["manifest"]["padded_s"] > 0).sum())
    summary = preprocess.drop_summary(entry)
    assert len(entry.tables["manifest"]) == 60 - n_short
    if n_short:
        assert summary.loc[0, "reason"] == "shorter than 20 s"
        assert summary.loc[0, "count"] == n_short


def test_a_mitdb_record_shorter_than_a_window_is_an_error(mitdb_root):
    with pytest.raises(RecordFormatError, match="shorter than one window"):
        preprocess.build(preprocess.default_params("mitdb", records=("100",), window_s=2000.0))


def test_unknown_records_and_parameters_get_one_clear_error(mitdb_root):
    with pytest.raises(UnknownNameError, match="999"):
        preprocess.build(preprocess.default_params("mitdb", records=("999",)))
    with pytest.raises(UnknownNameError, match="minmax"):
        preprocess.default_params("mitdb", normalisation="minmax")
    with pytest.raises(TypeError, match="windw_s"):
        preprocess.default_params("mitdb", windw_s=10.0)


def test_clipped_windows_are_dropped_and_counted(mitdb_root):
    # Record 116 clips at +5.115 mV; a strict limit drops the window(s) holding clipped samples.
    entry = preprocess.build(preprocess.default_params("mitdb", records=("116",),
                                                       max_clipped_fraction=0.0))
    summary = preprocess.drop_summary(entry)
    assert summary["reason"].tolist() == ["clipped"]
    assert len(entry.tables["manifest"]) + summary["count"].sum() == 90
