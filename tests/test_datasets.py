"""Dataset registry, SHA-256 checks, mirror unpacking and the download path, on the real data.

No test touches the network: ``wfdb.io.download.dl_pn_file`` (the only PhysioNet call) and
``urllib.request.urlretrieve`` (the CinC 2017 zip) are replaced in every test.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from wfdb.io import download

from ecgutils import config, datasets, records
from ecgutils.errors import (
    ChecksumError,
    DataUnavailableError,
    RecordFormatError,
    UnknownNameError,
)

NSTDB_TARBALL = "nstdb-1.0.0-bw-ma.tar.xz"
AFDB_TARBALL = "afdb-1.0.0-annotations.tar.xz"


class _Recorder:
    """Stands in for ``dl_pn_file``: remembers each call, then raises or writes a file."""

    def __init__(self, content: bytes | None = None):
        self.calls: list[tuple] = []
        self.content = content

    def __call__(self, inputs):
        self.calls.append(inputs)
        basefile, _subdir, _db, dl_dir, _keep_subdirs, _overwrite = inputs
        if self.content is None:
            raise ConnectionError("network disabled in tests")
        Path(dl_dir, basefile).write_bytes(self.content + basefile.encode())


@pytest.fixture
def shared_mirror(monkeypatch) -> Path:
    """The real shared tarball folder, set as ECG_MIRROR."""
    mirror = config.mirror_dir()
    if mirror is None or not all(
        (mirror / name).is_file() for name in ("SHA256SUMS", NSTDB_TARBALL, AFDB_TARBALL)
    ):
        pytest.skip("ECG_MIRROR with the shared tarballs is not available")
    monkeypatch.setenv("ECG_MIRROR", str(mirror))
    return mirror


def _hidden_entries(folder: Path) -> list[str]:
    """Staging folders are created with names starting with '.'."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _subfolders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


# --- registry ------------------------------------------------------------------------------


def test_afdb_registry_records_equal_real_records_file(afdb_root):
    lines = (afdb_root / "RECORDS").read_text().split()
    assert len(lines) == 25
    assert datasets.get("afdb").records == tuple(lines)
    assert datasets.record_names("afdb") == lines


def test_mitdb_registry_records_equal_real_records_file(mitdb_root):
    lines = (mitdb_root / "RECORDS").read_text().split()
    assert len(lines) == 48
    assert datasets.get("mitdb").records == tuple(lines)


def test_mitdb_records_201_and_202_share_a_patient_id_but_203_does_not():
    mitdb = datasets.get("mitdb")
    assert mitdb.patient_id("201") == mitdb.patient_id("202") == "mitdb:201"
    assert mitdb.patient_id("203") == "mitdb:203"
    assert mitdb.patient_id("203") != mitdb.patient_id("201")


def test_unknown_dataset_name_gives_unknown_name_error_listing_known_datasets():
    with pytest.raises(UnknownNameError, match=r"'nope'.*afdb, cinc2017, mitdb, nstdb"):
        datasets.get("nope")


def test_afdb_physionet_dir_is_pinned_version():
    assert datasets.get("afdb").physionet_dir == "afdb/1.0.0"


# --- SHA-256 --------------------------------------------------------------------------------


def test_real_afdb_sums_file_has_155_entries(afdb_root):
    sums = datasets.read_sha256sums(afdb_root / "SHA256SUMS.txt")
    assert len(sums) == 155
    assert all(len(digest) == 64 for digest in sums.values())
    assert {"RECORDS", "ANNOTATORS", "notes.txt", "04015.dat"} <= set(sums)


def test_real_afdb_metadata_files_pass_sha256_check(afdb_root):
    sums = datasets.read_sha256sums(afdb_root / "SHA256SUMS.txt")
    datasets.verify_sha256(afdb_root, sums, ["RECORDS", "ANNOTATORS", "notes.txt"])


def test_records_file_with_one_changed_byte_gives_checksum_error(afdb_root, tmp_path):
    sums = datasets.read_sha256sums(afdb_root / "SHA256SUMS.txt")
    data = bytearray((afdb_root / "RECORDS").read_bytes())
    data[0] ^= 0x01  # '0' -> '1'
    (tmp_path / "RECORDS").write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"RECORDS: SHA-256 .* does not match .* the official"):
        datasets.verify_sha256(tmp_path, sums, ["RECORDS"])


def test_malformed_sums_line_gives_checksum_error(afdb_root, tmp_path):
    lines = (afdb_root / "SHA256SUMS.txt").read_text().splitlines()
    lines.insert(3, "deadbeef  RECORDS")
    sums_file = tmp_path / "SHA256SUMS.txt"
    sums_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(ChecksumError, match=r"SHA256SUMS\.txt:4: not a SHA-256 line"):
        datasets.read_sha256sums(sums_file)


# --- local mirror ---------------------------------------------------------------------------


def test_mirror_tarball_is_unpacked_into_data_dir_without_leftovers(shared_mirror, tmp_path):
    root = datasets.ensure_local("nstdb", tmp_path)
    assert root == tmp_path / "nstdb"
    assert {"bw.hea", "bw.dat", "ma.hea", "ma.dat"} <= {p.name for p in root.iterdir()}
    assert (root / "bw.dat").stat().st_size == 1_950_000
    assert _hidden_entries(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == ["nstdb"]


def test_mirror_tarball_with_wrong_checksum_gives_checksum_error_and_no_dataset(
    shared_mirror, tmp_path, monkeypatch
):
    fake_mirror = tmp_path / "mirror"
    fake_mirror.mkdir()
    (fake_mirror / NSTDB_TARBALL).symlink_to(shared_mirror / NSTDB_TARBALL)
    (fake_mirror / "SHA256SUMS").write_text(f"{'0' * 64}  {NSTDB_TARBALL}\n")
    monkeypatch.setenv("ECG_MIRROR", str(fake_mirror))
    data_dir = tmp_path / "data"
    with pytest.raises(ChecksumError, match=r"nstdb-1\.0\.0-bw-ma\.tar\.xz: SHA-256"):
        datasets.ensure_local("nstdb", data_dir)
    assert not (data_dir / "nstdb").exists()
    assert _hidden_entries(data_dir) == []


def test_mirror_checksum_error_names_the_mirror_sums_file(shared_mirror, tmp_path, monkeypatch):
    fake_mirror = tmp_path / "mirror"
    fake_mirror.mkdir()
    (fake_mirror / NSTDB_TARBALL).symlink_to(shared_mirror / NSTDB_TARBALL)
    (fake_mirror / "SHA256SUMS").write_text(f"{'0' * 64}  {NSTDB_TARBALL}\n")
    monkeypatch.setenv("ECG_MIRROR", str(fake_mirror))
    with pytest.raises(ChecksumError, match=r"SHA256SUMS(?!\.txt)"):
        datasets.ensure_local("nstdb", tmp_path / "data")


# --- download path --------------------------------------------------------------------------


def test_afdb_record_offline_gives_data_unavailable_error_saying_what_to_do(
    shared_mirror, tmp_path, monkeypatch
):
    recorder = _Recorder()
    monkeypatch.setattr(download, "dl_pn_file", recorder)
    with pytest.raises(DataUnavailableError, match=r"connect to the internet.*ECG_DATA_DIR"):
        records.read("afdb", "04015", data_dir=tmp_path)
    # The metadata came from the mirror; only the record's files were asked for.
    assert len(recorder.calls) == 1
    basefile, subdir, db, dl_dir, keep_subdirs, overwrite = recorder.calls[0]
    assert (basefile, subdir, db) == ("04015.hea", "", "afdb/1.0.0")
    assert Path(dl_dir).parent == tmp_path / "afdb"
    afdb = tmp_path / "afdb"
    assert (afdb / "RECORDS").is_file()
    assert list(afdb.glob("04015*")) == []
    assert _subfolders(afdb) == []
    assert _hidden_entries(tmp_path) == []


def test_afdb_record_downloaded_with_wrong_content_gives_checksum_error(
    shared_mirror, tmp_path, monkeypatch
):
    recorder = _Recorder(content=b"not the PhysioNet file ")
    monkeypatch.setattr(download, "dl_pn_file", recorder)
    expected = r"04015\.hea: SHA-256 .* does not match 71bc68d08d79f6e1.* official .*discarded"
    with pytest.raises(ChecksumError, match=expected):
        records.read("afdb", "04015", data_dir=tmp_path)
    assert [call[0] for call in recorder.calls] == ["04015.hea", "04015.dat", "04015.atr"]
    afdb = tmp_path / "afdb"
    assert list(afdb.glob("04015*")) == []
    assert _subfolders(afdb) == []


def test_annotation_only_afdb_record_gives_record_format_error(shared_mirror, tmp_path):
    with pytest.raises(RecordFormatError, match=r"00735 has annotations only, no signal"):
        records.read("afdb", "00735", data_dir=tmp_path)


def test_offline_without_mirror_gives_data_unavailable_error_and_no_dataset(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("ECG_MIRROR", raising=False)
    recorder = _Recorder()
    monkeypatch.setattr(download, "dl_pn_file", recorder)
    with pytest.raises(DataUnavailableError, match=r"mitdb is not in .*ECG_MIRROR"):
        datasets.ensure_local("mitdb", tmp_path)
    assert recorder.calls[0][:3] == ("RECORDS", "", "mitdb/1.0.0")
    assert list(tmp_path.iterdir()) == []


def test_offline_cinc_without_mirror_gives_data_unavailable_error(tmp_path, monkeypatch):
    monkeypatch.delenv("ECG_MIRROR", raising=False)
    urls = []

    def offline(url, filename=None, *args, **kwargs):
        urls.append(url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    with pytest.raises(DataUnavailableError, match=r"cinc2017 is not local.*ECG_MIRROR"):
        datasets.ensure_local("cinc2017", tmp_path)
    assert urls == [datasets.CINC_ZIP_URL]
    assert list(tmp_path.iterdir()) == []


# --- CinC 2017 labels -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label_set", "expected"),
    [
        ("v3", {"N": 4567, "A": 681, "O": 2168, "~": 259}),
        ("original", {"N": 4639, "A": 694, "O": 2301, "~": 41}),
        ("alt", {"N": 4541, "A": 664, "O": 2206, "~": 264}),
    ],
)
def test_cinc_label_sets_have_real_class_counts(cinc_root, label_set, expected):
    labels = datasets.cinc_reference_labels(label_set, cinc_root.parent)
    assert len(labels) == 7675
    assert Counter(labels.values()) == expected
    assert labels["A00001"] == "N"


def test_unknown_cinc_label_set_gives_unknown_name_error():
    with pytest.raises(UnknownNameError, match=r"'v2'.*v3, original, alt"):
        datasets.cinc_reference_labels("v2")


def test_cinc_record_names_are_the_7675_present_records(cinc_root):
    names = datasets.record_names("cinc2017", cinc_root.parent)
    assert len(names) == 7675
    assert names[0] == "A00001"
    assert names == sorted(names)
    assert set(names) == set(datasets.cinc_reference_labels("v3", cinc_root.parent))


def test_copied_dataset_folder_is_used_as_is(mitdb_root, tmp_path, monkeypatch):
    monkeypatch.delenv("ECG_MIRROR", raising=False)
    (tmp_path / "mitdb").mkdir()
    shutil.copyfile(mitdb_root / "RECORDS", tmp_path / "mitdb" / "RECORDS")
    assert datasets.ensure_local("mitdb", tmp_path) == tmp_path / "mitdb"
    assert [p.name for p in (tmp_path / "mitdb").iterdir()] == ["RECORDS"]
