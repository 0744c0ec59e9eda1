"""Reading records: real values of the shared records, and one clear error per bad input.

Every fault is made in a ``tmp_path`` copy of real mitdb record 100; no test touches the
network (``dl_pn_file`` and ``urlretrieve`` are replaced in every test).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb
from wfdb.io import download

from ecgutils import records, rhythm, signal
from ecgutils.errors import (
    ChecksumError,
    DataUnavailableError,
    RecordFormatError,
    SignalQualityError,
    UnknownNameError,
)

# DATA.md, "AF / AFL content": record -> (AFIB episodes, AFIB s, AFL episodes, AFL s).
MITDB_AF_TABLE = {
    "201": (3, 605.8, 0, 0.0),
    "202": (4, 586.3, 1, 47.9),
    "203": (21, 1455.0, 2, 314.3),
    "210": (9, 1769.9, 0, 0.0),
    "217": (24, 252.4, 0, 0.0),
    "219": (10, 1426.7, 0, 0.0),
    "221": (12, 1756.6, 0, 0.0),
    "222": (24, 103.7, 42, 423.0),
}


@pytest.fixture
def record_100_copy(mitdb_root, tmp_path) -> Path:
    """``tmp_path/mitdb`` holding copies of 100.hea/.dat/.atr and RECORDS (no sums file)."""
    folder = tmp_path / "mitdb"
    folder.mkdir()
    for name in ("100.hea", "100.dat", "100.atr", "RECORDS"):
        shutil.copyfile(mitdb_root / name, folder / name)
    return folder


def _read_100(folder: Path) -> records.Record:
    return records.read("mitdb", "100", data_dir=folder.parent)


def _two_leads_of_100(mitdb_root: Path, n_samples: int = 3600) -> np.ndarray:
    return wfdb.rdrecord(str(mitdb_root / "100"), sampto=n_samples).p_signal


# --- real values ----------------------------------------------------------------------------


@pytest.mark.parametrize("record", sorted(MITDB_AF_TABLE))
def test_mitdb_af_and_afl_content_matches_data_md(mitdb_root, record):
    n_af, af_s, n_afl, afl_s = MITDB_AF_TABLE[record]
    rec = records.read("mitdb", record, data_dir=mitdb_root.parent)
    assert len(rec.af_episodes) == n_af
    assert round(rhythm.total_duration_s(rec.rhythm, rhythm.AF), 1) == af_s
    assert len(rhythm.episodes(rec.rhythm, rhythm.AFL)) == n_afl
    assert round(rhythm.total_duration_s(rec.rhythm, rhythm.AFL), 1) == afl_s


def test_mitdb_record_100_has_no_af(mitdb_root):
    rec = records.read("mitdb", "100", data_dir=mitdb_root.parent)
    assert rec.af_episodes == []
    assert rhythm.total_duration_s(rec.rhythm, rhythm.AFL) == 0.0
    assert {interval.label for interval in rec.rhythm} == {"N"}


def test_mitdb_record_reads_mlii_at_360_hz_full_length(mitdb_root):
    rec = records.read("mitdb", "201", data_dir=mitdb_root.parent)
    assert (rec.lead, rec.fs, rec.n_samples) == ("MLII", 360.0, 650_000)
    assert rec.signal.dtype == np.float64
    assert rec.duration_s == pytest.approx(1805.56, abs=0.01)
    assert rec.patient_id == "mitdb:201"
    assert rec.beat_samples.size == rec.beat_symbols.size > 1500


def test_mitdb_record_202_has_the_patient_id_of_201(mitdb_root):
    assert records.read("mitdb", "202", data_dir=mitdb_root.parent).patient_id == "mitdb:201"


@pytest.mark.parametrize("record", ["102", "104"])
def test_mitdb_records_without_mlii_read_v5(mitdb_root, record):
    rec = records.read("mitdb", record, data_dir=mitdb_root.parent)
    assert rec.lead == "V5"
    assert rec.n_samples == 650_000


@pytest.mark.parametrize(("record", "lead"), [("100", "V5"), ("101", "V1")])
def test_explicit_lead_is_read(mitdb_root, record, lead):
    # Record 100 has MLII + V5 (no V1); record 101 has MLII + V1.
    rec = records.read("mitdb", record, data_dir=mitdb_root.parent, lead=lead)
    mlii = records.read("mitdb", record, data_dir=mitdb_root.parent)
    assert rec.lead == lead
    assert rec.n_samples == 650_000
    assert not np.array_equal(rec.signal, mlii.signal)


def test_absent_lead_gives_unknown_name_error(mitdb_root):
    with pytest.raises(UnknownNameError, match=r"no lead 'V9'; leads: MLII, V5"):
        records.read("mitdb", "100", data_dir=mitdb_root.parent, lead="V9")


def test_afdb_style_record_reads_through_wfdb_rhythm_annotations(mitdb_root, afdb_root, tmp_path):
    n_samples = 30_000  # 120 s at 250 Hz
    source = wfdb.rdrecord(str(mitdb_root / "201"), sampto=n_samples, physical=False)
    expected_ecg1 = wfdb.rdrecord(str(mitdb_root / "201"), sampto=n_samples).p_signal[:, 0]
    folder = tmp_path / "afdb"
    folder.mkdir()
    shutil.copyfile(afdb_root / "RECORDS", folder / "RECORDS")
    wfdb.wrsamp(
        "04015",
        fs=250,
        units=["mV", "mV"],
        sig_name=["ECG1", "ECG2"],
        d_signal=source.d_signal,
        fmt=["212", "212"],
        adc_gain=list(source.adc_gain),
        baseline=list(source.baseline),
        write_dir=str(folder),
    )
    wfdb.wrann(
        "04015",
        "atr",
        sample=np.array([0, 7_500, 20_000]),
        symbol=["+", "+", "+"],
        aux_note=["(N", "(AFIB", "(N"],
        write_dir=str(folder),
    )
    assert not (folder / "SHA256SUMS.txt").exists()

    rec = records.read("afdb", "04015", data_dir=tmp_path)

    assert (rec.fs, rec.lead, rec.n_samples) == (250.0, "ECG1", n_samples)
    assert rec.patient_id == "afdb:04015"
    np.testing.assert_allclose(rec.signal, expected_ecg1, atol=1e-9)
    assert rec.af_episodes == [rhythm.Interval(rhythm.AF, 30.0, 80.0)]
    assert rec.rhythm == [
        rhythm.Interval("N", 0.0, 30.0),
        rhythm.Interval(rhythm.AF, 30.0, 80.0),
        rhythm.Interval("N", 80.0, 120.0),
    ]


def test_cinc_record_a00001_is_normal_with_one_whole_record_interval(cinc_root):
    rec = records.read("cinc2017", "A00001", data_dir=cinc_root.parent)
    assert rec.label == "N"
    assert (rec.n_samples, rec.fs) == (9000, 300.0)
    assert rec.rhythm == [rhythm.Interval("N", 0.0, 30.0)]
    assert rec.patient_id == "cinc2017:A00001"


def test_cinc_af_labelled_record_gives_an_afib_interval(cinc_root):
    rec = records.read("cinc2017", "A00004", data_dir=cinc_root.parent)
    assert rec.label == "A"
    assert rec.rhythm == [rhythm.Interval(rhythm.AF, 0.0, rec.n_samples / 300.0)]
    assert rec.af_episodes == rec.rhythm


def test_mitdb_clip_limits_are_the_11_bit_adc_rails_not_the_212_format(mitdb_root):
    # 116.hea: "212 200 11 1024": gain 200 adu/mV, 11-bit ADC, adc_zero 1024 (= baseline), so
    # codes 0 ... 2047: (0 - 1024) / 200 = -5.12 mV, (2047 - 1024) / 200 = +5.115 mV.
    # Format 212's 12 bits would give (-2047 - 1024) / 200 = -15.355 mV, a rail never reached.
    for name in ("100", "116"):
        rec = records.read("mitdb", name, data_dir=mitdb_root.parent)
        assert rec.clip_limits_mv == (-5.12, 5.115)


def test_record_116_mlii_samples_at_both_adc_rails_are_counted(mitdb_root):
    rec = records.read("mitdb", "116", data_dir=mitdb_root.parent)
    low, high = rec.clip_limits_mv
    assert (rec.signal.min(), rec.signal.max()) == (low, high)
    assert (int(np.sum(rec.signal == low)), int(np.sum(rec.signal == high))) == (663, 265)
    window = int(20 * rec.fs)
    n_windows = rec.n_samples // window
    quality = signal.window_quality(
        rec.signal[: n_windows * window].reshape(n_windows, window), rec.clip_limits_mv
    )
    clipped_samples = np.round(quality["clipped_fraction"] * window).astype(int)
    # The lower rail in 1000-1020 s and 1380-1400 s, the upper one in 1400-1420 s.
    assert np.flatnonzero(clipped_samples).tolist() == [50, 69, 70]
    assert clipped_samples[[50, 69, 70]].tolist() == [407, 256, 265]


def test_header_without_adc_resolution_falls_back_to_the_format_range(record_100_copy):
    header = record_100_copy / "100.hea"
    header.write_text(header.read_text().replace("212 200 11 1024", "212 200 0 1024"))
    # Format 212: codes -2047 ... 2047 (-2048 marks an invalid sample), baseline 1024.
    assert _read_100(record_100_copy).clip_limits_mv == (-15.355, 5.115)


# --- bad input ------------------------------------------------------------------------------


def test_unknown_record_gives_unknown_name_error(record_100_copy):
    with pytest.raises(UnknownNameError, match=r"record '999' is not in mitdb"):
        records.read("mitdb", "999", data_dir=record_100_copy.parent)


def test_missing_annotation_file_offline_gives_data_unavailable_error(
    record_100_copy, monkeypatch
):
    calls = []

    def offline(inputs):
        calls.append(inputs)
        raise ConnectionError("network disabled in tests")

    monkeypatch.setattr(download, "dl_pn_file", offline)
    (record_100_copy / "100.atr").unlink()
    with pytest.raises(DataUnavailableError, match=r"record 100 is incomplete.*ECG_MIRROR"):
        _read_100(record_100_copy)
    assert [call[:3] for call in calls] == [("100.atr", "", "mitdb/1.0.0")]
    assert sorted(p.name for p in record_100_copy.iterdir()) == ["100.dat", "100.hea", "RECORDS"]


def test_truncated_dat_file_gives_record_format_error(record_100_copy):
    dat = record_100_copy / "100.dat"
    dat.write_bytes(dat.read_bytes()[:100_001])
    with pytest.raises(RecordFormatError, match=r"truncated.*650000 samples"):
        _read_100(record_100_copy)


def test_corrupted_dat_byte_with_official_sums_gives_checksum_error(record_100_copy, mitdb_root):
    shutil.copyfile(mitdb_root / "SHA256SUMS.txt", record_100_copy / "SHA256SUMS.txt")
    dat = record_100_copy / "100.dat"
    data = bytearray(dat.read_bytes())
    data[5_000] ^= 0xFF
    dat.write_bytes(bytes(data))
    expected = r"100\.dat: SHA-256 .* does not match b2ea3c250e56e48f.* official SHA256SUMS"
    with pytest.raises(ChecksumError, match=expected):
        _read_100(record_100_copy)


def test_header_with_wrong_sampling_rate_gives_record_format_error(record_100_copy):
    header = record_100_copy / "100.hea"
    header.write_text(header.read_text().replace("100 2 360 650000", "100 2 250 650000", 1))
    with pytest.raises(RecordFormatError, match=r"says 250 Hz but mitdb is recorded at 360 Hz"):
        _read_100(record_100_copy)


def test_header_with_one_signal_gives_record_format_error(record_100_copy, mitdb_root):
    mlii = _two_leads_of_100(mitdb_root)[:, :1]
    wfdb.wrsamp("100", fs=360, units=["mV"], sig_name=["MLII"], p_signal=mlii, fmt=["212"],
                write_dir=str(record_100_copy))
    with pytest.raises(RecordFormatError, match=r"has 1 signal\(s\) but mitdb records have 2"):
        _read_100(record_100_copy)


def test_lead_with_nan_samples_gives_signal_quality_error(record_100_copy, mitdb_root):
    leads = _two_leads_of_100(mitdb_root).copy()
    leads[1_000:1_100, 0] = np.nan
    wfdb.wrsamp("100", fs=360, units=["mV", "mV"], sig_name=["MLII", "V5"], p_signal=leads,
                fmt=["212", "212"], write_dir=str(record_100_copy))
    with pytest.raises(SignalQualityError, match=r"MLII has 100 NaN sample\(s\).*sample 1000"):
        _read_100(record_100_copy)


def test_flat_lead_gives_signal_quality_error(record_100_copy, mitdb_root):
    digital = wfdb.rdrecord(str(mitdb_root / "100"), sampto=3600, physical=False).d_signal
    digital = digital.copy()
    digital[:, 0] = 1024  # MLII at its baseline: 0 mV throughout
    wfdb.wrsamp("100", fs=360, units=["mV", "mV"], sig_name=["MLII", "V5"], d_signal=digital,
                fmt=["212", "212"], adc_gain=[200.0, 200.0], baseline=[1024, 1024],
                write_dir=str(record_100_copy))
    with pytest.raises(SignalQualityError, match=r"lead MLII is flat"):
        _read_100(record_100_copy)


def test_malformed_header_text_gives_record_format_error(record_100_copy):
    (record_100_copy / "100.hea").write_text("this is not a header\n")
    with pytest.raises(RecordFormatError, match=r"100\.hea is not a valid WFDB header"):
        _read_100(record_100_copy)


def test_header_without_signal_lines_gives_record_format_error(record_100_copy):
    (record_100_copy / "100.hea").write_text("100 2 360 650000\n")
    with pytest.raises(RecordFormatError, match=r"100\.hea"):
        _read_100(record_100_copy)


def test_header_missing_one_signal_line_blames_the_header(record_100_copy):
    header = record_100_copy / "100.hea"
    header.write_text("\n".join(header.read_text().splitlines()[:2]) + "\n")
    with pytest.raises(RecordFormatError, match=r"100\.hea"):
        _read_100(record_100_copy)


@pytest.mark.parametrize(
    ("record", "lead", "rms_mv"),
    [("bw", "noise1", 0.466), ("bw", "noise2", 0.178), ("ma", "noise1", 0.193),
     ("ma", "noise2", 0.192)],
)
def test_nstdb_noise_records_have_the_documented_rms(nstdb_root, record, lead, rms_mv):
    # Header gain field 0 means WFDB's default 200 adu/mV; DATA.md lists these RMS values.
    noise = records.read("nstdb", record, lead=lead)
    assert noise.fs == 360.0
    assert noise.n_samples == 650_000
    assert np.sqrt(np.mean(noise.signal**2)) == pytest.approx(rms_mv, abs=5e-4)
    assert noise.rhythm == []
