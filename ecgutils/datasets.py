"""Dataset registry, fetching (local tarball mirror, else PhysioNet) and SHA-256 verification.

Each dataset lives in ``<data_dir>/<name>/`` (``name`` is the registry key, e.g. ``cinc2017``).
It gets there in one of three ways, tried in order:

1. it is already there (a previous run, or a copy the user placed);
2. ``ECG_MIRROR`` names a folder with the dataset's tarball (``mitdb-1.0.0.tar.xz`` ...): the
   tarball is checked against the mirror's ``SHA256SUMS``, unpacked into a temporary folder,
   its files are checked against the dataset's official ``SHA256SUMS.txt`` and the folder is
   renamed into place — nothing half-unpacked is ever visible;
3. it is downloaded from PhysioNet (pinned version), file by file, verified, renamed into place.

Offline with neither of the first two gives one :class:`DataUnavailableError` saying what to do.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import lzma
import os
import shutil
import tarfile
import tempfile
import types
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ecgutils import config
from ecgutils.errors import (
    ChecksumError,
    DataUnavailableError,
    RecordFormatError,
    UnknownNameError,
)
from ecgutils.progress import progress

SUMS_FILE = "SHA256SUMS.txt"
COMPLETE_MARKER = ".ecgutils-complete"

# CinC 2017 label sets (see README, "Data"): the file name in the dataset folder per set.
CINC_LABEL_FILES = {
    "v3": "REFERENCE-v3.csv",
    "original": "REFERENCE-original.csv",
    "alt": "REFERENCE-alt-Enei7.csv",
}
CINC_CLASSES = ("N", "A", "O", "~")
DOWNLOAD_DISCARDED = "the download was discarded; try again later"
CORRUPT_FILE = "the file is corrupt or from another version — delete it and fetch it again"
CINC_ZIP_URL = "https://physionet.org/files/challenge-2017/1.0.0/training2017.zip"


@dataclass(frozen=True)
class Dataset:
    """What the project knows about one PhysioNet database.

    Attributes
    ----------
    name : registry key and local folder name.
    physionet_slug, version : the PhysioNet project (``https://physionet.org/content/<slug>/<version>/``).
    fs : sampling frequency in Hz every header must state.
    n_signals : number of signals every header must have.
    leads : preferred lead names, in order; empty means "the first signal".
    annotator : reference annotation extension (``atr``), or None.
    records : the official record list, or None when it is read from the local ``RECORDS``.
    no_signal_records : records that have annotations but no signal file.
    same_patient : record -> record of the same person whose name is used as patient id.
    mirror_tarball, mirror_folder : tarball name in ``ECG_MIRROR`` and its top folder.
    """

    name: str
    physionet_slug: str
    version: str
    title: str
    fs: float
    n_signals: int
    leads: tuple[str, ...]
    annotator: str | None
    records: tuple[str, ...] | None
    mirror_tarball: str
    mirror_folder: str
    no_signal_records: frozenset[str] = frozenset()
    same_patient: dict[str, str] = field(default_factory=dict)

    @property
    def physionet_dir(self) -> str:
        return f"{self.physionet_slug}/{self.version}"

    def patient_id(self, record: str) -> str:
        """Patient id, unique across datasets: ``<dataset>:<record of the patient>``."""
        return f"{self.name}:{self.same_patient.get(record, record)}"


MITDB_RECORDS = (
    "100 101 102 103 104 105 106 107 108 109 111 112 113 114 115 116 117 118 119 121 122 123 "
    "124 200 201 202 203 205 207 208 209 210 212 213 214 215 217 219 220 221 222 223 228 230 "
    "231 232 233 234"
).split()
AFDB_RECORDS = (
    "00735 03665 04015 04043 04048 04126 04746 04908 04936 05091 05121 05261 06426 06453 "
    "06995 07162 07859 07879 07910 08215 08219 08378 08405 08434 08455"
).split()

DATASETS: dict[str, Dataset] = {
    "mitdb": Dataset(
        name="mitdb",
        physionet_slug="mitdb",
        version="1.0.0",
        title="MIT-BIH Arrhythmia Database",
        fs=360.0,
        n_signals=2,
        # MLII in 46 records; 102 and 104 have V5 + V2 only.
        leads=("MLII", "V5"),
        annotator="atr",
        records=tuple(MITDB_RECORDS),
        mirror_tarball="mitdb-1.0.0.tar.xz",
        mirror_folder="mitdb",
        # mitdb documentation: records 201 and 202 come from the same subject.
        same_patient={"202": "201"},
    ),
    "afdb": Dataset(
        name="afdb",
        physionet_slug="afdb",
        version="1.0.0",
        title="MIT-BIH Atrial Fibrillation Database",
        fs=250.0,
        n_signals=2,
        leads=("ECG1",),
        annotator="atr",
        records=tuple(AFDB_RECORDS),
        mirror_tarball="afdb-1.0.0-annotations.tar.xz",
        mirror_folder="afdb",
        no_signal_records=frozenset({"00735", "03665"}),
    ),
    "cinc2017": Dataset(
        name="cinc2017",
        physionet_slug="challenge-2017",
        version="1.0.0",
        title="PhysioNet/CinC Challenge 2017 training set",
        fs=300.0,
        n_signals=1,
        leads=(),
        annotator=None,
        records=None,
        mirror_tarball="cinc2017-training.tar.xz",
        mirror_folder="training2017",
    ),
    "nstdb": Dataset(
        name="nstdb",
        physionet_slug="nstdb",
        version="1.0.0",
        title="MIT-BIH Noise Stress Test Database (noise records)",
        fs=360.0,
        n_signals=2,
        leads=(),
        annotator=None,
        # The noise-only records; 'em' is absent from the shared mirror.
        records=("bw", "em", "ma"),
        mirror_tarball="nstdb-1.0.0-bw-ma.tar.xz",
        mirror_folder="nstdb",
    ),
}


def get(name: str) -> Dataset:
    """The registry entry for ``name``; UnknownNameError lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None


def ensure_local(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Make sure the dataset folder exists locally and return it.

    Parameters
    ----------
    name : str
        Registry key (``mitdb``, ``afdb``, ``cinc2017``, ``nstdb``).
    data_dir : path, optional
        Parent folder; see :func:`ecgutils.config.data_dir`.

    Returns
    -------
    Path
        ``<data_dir>/<name>``.
    """
    ds = get(name)
    root = config.data_dir(data_dir) / ds.name
    if _non_empty_dir(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    mirror = config.mirror_dir()
    if mirror is not None and (mirror / ds.mirror_tarball).is_file():
        _unpack_mirror(ds, mirror / ds.mirror_tarball, root)
    else:
        _download_dataset(ds, root)
    return root


def record_names(name: str, data_dir: str | os.PathLike | None = None) -> list[str]:
    """The dataset's records: the registry list, or the local ``RECORDS`` file (CinC 2017)."""
    ds = get(name)
    if ds.records is not None:
        return list(ds.records)
    records_file = ensure_local(name, data_dir) / "RECORDS"
    if not records_file.is_file():
        raise RecordFormatError(
            f"{records_file} is missing; delete {records_file.parent} and fetch again"
        )
    return list(_read_lines_cached(str(records_file), records_file.stat().st_mtime_ns))


def record_files(name: str, record: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Make sure one record's header, signal and annotation files are local; return the folder.

    Missing files are downloaded from PhysioNet (pinned version) and verified against the
    official ``SHA256SUMS.txt``; present files are verified against it when the dataset has one.
    """
    ds = get(name)
    root = ensure_local(name, data_dir)
    if record not in _known_records(name, data_dir):
        raise UnknownNameError(
            f"record {record!r} is not in {ds.name} ({ds.title}); see {root / 'RECORDS'}"
            if ds.records is None
            else f"record {record!r} is not in {ds.name}; records: {', '.join(ds.records)}"
        )
    if record in ds.no_signal_records:
        raise RecordFormatError(
            f"{ds.name} record {record} has annotations only, no signal "
            "(PhysioNet distributes it so)"
        )
    wanted = _files_of_record(ds, record)
    missing = [f for f in wanted if not (root / f).is_file()]
    if missing:
        if ds.name == "cinc2017":
            raise RecordFormatError(
                f"{ds.name} record {record}: {', '.join(missing)} missing in {root}; "
                f"delete {root} to unpack or download the dataset again"
            )
        _download_files(ds, missing, root,
                        why=f"{ds.name} record {record} is incomplete in {root} "
                        f"(missing {', '.join(missing)})")
    _verify_official(ds, root, wanted)
    return root


def official_sums(root: Path) -> dict[str, str]:
    """``{file name: sha256}`` from ``root/SHA256SUMS.txt``, or {} when there is none."""
    path = Path(root) / SUMS_FILE
    if not path.is_file():
        return {}
    return dict(_sums_cached(str(path), path.stat().st_mtime_ns))


def read_sha256sums(path: str | os.PathLike) -> dict[str, str]:
    """Parse a ``sha256sum``-style list (``<hex>  <name>``) into ``{name: hex}``."""
    sums: dict[str, str] = {}
    for line_number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not _is_sha256_hex(parts[0]):
            raise ChecksumError(f"{path}:{line_number}: not a SHA-256 line: {line!r}")
        sums[parts[1].strip().lstrip("*")] = parts[0].lower()
    return sums


def verify_sha256(
    root: str | os.PathLike,
    sums: dict[str, str],
    names: Iterable[str],
    source: str = f"the official {SUMS_FILE}",
    remedy: str = CORRUPT_FILE,
) -> None:
    """Check each named file under ``root`` against ``sums``; raise ChecksumError on a mismatch.

    Files that the list does not name are not checked (CinC 2017 and nstdb have no official
    list). Results are remembered per (path, size, mtime) so that re-reading is free.

    Parameters
    ----------
    source : str
        The checksum list the sums came from, named in the error.
    remedy : str
        What the user should do, appended to the error.
    """
    for name in names:
        expected = sums.get(name)
        if expected is None:
            continue
        path = Path(root) / name
        actual = _sha256_cached(path)
        if actual != expected:
            raise ChecksumError(
                f"{path}: SHA-256 {actual[:16]}… does not match {expected[:16]}… listed in "
                f"{source}; {remedy}"
            )


def cinc_reference_labels(
    label_set: str = "v3", data_dir: str | os.PathLike | None = None
) -> Mapping[str, str]:
    """CinC 2017 labels ``{record: class}`` with class in N, A, O, ~ (a read-only mapping,
    parsed once per file version: reading every record asks for it once per record).

    ``v3`` (default) is PhysioNet's re-labelled REFERENCE-v3.csv; ``original`` the labels of the
    original release; ``alt`` a third relabelling found in a mirror (see README).
    """
    if label_set not in CINC_LABEL_FILES:
        raise UnknownNameError(
            f"unknown CinC 2017 label set {label_set!r}; "
            f"choose one of {', '.join(CINC_LABEL_FILES)}"
        )
    path = ensure_local("cinc2017", data_dir) / CINC_LABEL_FILES[label_set]
    if not path.is_file():
        raise RecordFormatError(f"CinC 2017 label file {path} is missing")
    return _cinc_labels_cached(str(path), path.stat().st_mtime_ns)


# --- helpers -------------------------------------------------------------------------------


def _verify_official(
    ds: Dataset,
    folder: Path,
    names: Iterable[str],
    sums_folder: Path | None = None,
    remedy: str = CORRUPT_FILE,
) -> None:
    """Check files against the dataset's official SHA256SUMS.txt (in ``sums_folder``, default
    ``folder``); a dataset without one (CinC 2017, nstdb) is not checked."""
    sums = official_sums(sums_folder or folder)
    verify_sha256(folder, sums, names, source=f"{ds.name}'s official {SUMS_FILE}", remedy=remedy)


def _is_sha256_hex(text: str) -> bool:
    return len(text) == 64 and all(char in "0123456789abcdefABCDEF" for char in text)


def _non_empty_dir(path: Path) -> bool:
    if not path.is_dir():
        return False
    with os.scandir(path) as entries:  # stops at the first entry: CinC has 15 000 files
        return next(entries, None) is not None


def _known_records(name: str, data_dir: str | os.PathLike | None) -> frozenset[str]:
    """:func:`record_names` as a set, built once per RECORDS file version (a membership test
    per record read, not a list copy: reading all 7675 CinC records stays linear)."""
    ds = get(name)
    if ds.records is not None:
        return frozenset(ds.records)
    records_file = ensure_local(name, data_dir) / "RECORDS"
    if not records_file.is_file():
        record_names(name, data_dir)  # raises the clear error
    return _names_set_cached(str(records_file), records_file.stat().st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _names_set_cached(path: str, mtime_ns: int) -> frozenset[str]:
    return frozenset(_read_lines_cached(path, mtime_ns))


@functools.lru_cache(maxsize=16)
def _read_lines_cached(path: str, mtime_ns: int) -> tuple[str, ...]:
    return tuple(line.strip() for line in Path(path).read_text().splitlines() if line.strip())


@functools.lru_cache(maxsize=8)
def _sums_cached(path: str, mtime_ns: int) -> tuple[tuple[str, str], ...]:
    return tuple(read_sha256sums(path).items())


@functools.lru_cache(maxsize=8)
def _cinc_labels_cached(path: str, mtime_ns: int) -> Mapping[str, str]:
    labels: dict[str, str] = {}
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if not row or row[0] == "data_source":  # header line of the 'alt' file
                continue
            record = row[0].strip().split("/")[-1]
            label = row[1].strip() if len(row) > 1 else ""
            if label not in CINC_CLASSES:
                raise RecordFormatError(f"{path}: record {record} has unknown class {label!r}")
            labels[record] = label
    return types.MappingProxyType(labels)

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _sha256_cached(path: Path) -> str:
    if not path.is_file():
        raise RecordFormatError(f"{path} is missing")
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def _files_of_record(ds: Dataset, record: str) -> list[str]:
    if ds.name == "cinc2017":
        return [f"{record}.hea", f"{record}.mat"]
    files = [f"{record}.hea", f"{record}.dat"]
    if ds.annotator:
        files.append(f"{record}.{ds.annotator}")
    return files


def _unpack_mirror(ds: Dataset, tarball: Path, root: Path) -> None:
    mirror_sums = tarball.parent / "SHA256SUMS"
    if mirror_sums.is_file():
        verify_sha256(tarball.parent, read_sha256sums(mirror_sums), [tarball.name],
                      source=str(mirror_sums),
                      remedy="the mirror's tarball is damaged or not the one listed — replace it")
    staging = Path(tempfile.mkdtemp(prefix=f".{ds.name}-unpack-", dir=root.parent))
    try:
        with tarfile.open(tarball, "r:*") as archive:
            archive.extractall(staging, filter="data")
        unpacked = staging / ds.mirror_folder
        if not unpacked.is_dir():
            raise RecordFormatError(f"{tarball} has no top folder {ds.mirror_folder}/")
        present = [name for name in official_sums(unpacked) if (unpacked / name).is_file()]
        _verify_official(ds, unpacked, present,
                         remedy=f"{tarball} holds a damaged file; nothing was unpacked")
        (unpacked / COMPLETE_MARKER).write_text(f"unpacked from {tarball}\n")
        try:
            os.rename(unpacked, root)
        except OSError:
            if not (root / COMPLETE_MARKER).is_file():
                raise
            # Another process (a concurrent run) unpacked the same tarball first: keep theirs.
    except (tarfile.TarError, lzma.LZMAError, EOFError, OSError) as exc:
        raise RecordFormatError(f"could not unpack {tarball}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download_dataset(ds: Dataset, root: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{ds.name}-download-", dir=root.parent))
    try:
        if ds.name == "cinc2017":
            _download_cinc(ds, staging)
        else:
            metadata = ["RECORDS"] + ([SUMS_FILE] if ds.name in ("mitdb", "afdb") else [])
            _fetch(ds, metadata, staging, why=f"{ds.name} is not in {root}", target=root)
            # AFDB records are fetched one by one when read (~26 MB each); the others whole.
            if ds.name != "afdb":
                records = ds.records or []
                files = [f for r in records for f in _files_of_record(ds, r)]
                _fetch(ds, files, staging, why=f"{ds.name} is not in {root}", target=root)
                _verify_official(ds, staging, files, remedy=DOWNLOAD_DISCARDED)
        (staging / COMPLETE_MARKER).write_text(f"downloaded from PhysioNet {ds.physionet_dir}\n")
        try:
            os.rename(staging, root)
        except OSError:
            if not (root / COMPLETE_MARKER).is_file():
                raise  # a concurrent run's complete download is kept; anything else is an error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download_files(ds: Dataset, files: list[str], root: Path, why: str) -> None:
    """Download ``files`` into a staging folder, verify them, then move each into ``root``."""
    staging = Path(tempfile.mkdtemp(prefix=f".{ds.name}-files-", dir=root))
    try:
        _fetch(ds, files, staging, why=why, target=root)
        _verify_official(ds, staging, files, sums_folder=root, remedy=DOWNLOAD_DISCARDED)
        for name in files:
            os.replace(staging / name, root / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch(ds: Dataset, files: list[str], dest: Path, why: str, target: Path) -> None:
    """Download files from PhysioNet's pinned version folder into ``dest`` (the only network
    call); ``target`` is where they will finally live, named in the offline error."""
    from wfdb.io import download

    try:
        for name in progress(files, f"download {ds.physionet_dir}", disable=len(files) < 5):
            download.dl_pn_file((name, "", ds.physionet_dir, str(dest), False, True))
    except Exception as exc:  # wfdb raises requests/urllib/HTTP errors of several kinds
        raise DataUnavailableError(_offline_message(ds, why, exc, target)) from exc


def _download_cinc(ds: Dataset, staging: Path) -> None:
    import urllib.request

    archive = staging / "training2017.zip"
    try:
        urllib.request.urlretrieve(CINC_ZIP_URL, archive)
        urllib.request.urlretrieve(CINC_ZIP_URL.rsplit("/", 1)[0] + "/REFERENCE-v3.csv",
                                   staging / "REFERENCE-v3.csv")
    except (urllib.error.URLError, OSError) as exc:
        raise DataUnavailableError(
            _offline_message(ds, "cinc2017 is not local", exc, staging.parent / ds.name)
        ) from exc
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(staging)
    archive.unlink()
    for item in (staging / "training2017").iterdir():
        os.replace(item, staging / item.name)
    (staging / "training2017").rmdir()


def _offline_message(ds: Dataset, why: str, exc: Exception, where: Path) -> str:
    # The shared AFDB tarball holds metadata only: pointing ECG_MIRROR at it cannot help.
    mirror_hint = (
        "" if ds.name == "afdb" else f"set ECG_MIRROR to a folder holding {ds.mirror_tarball}, or "
    )
    return (
        f"{why}, and downloading from PhysioNet ({ds.physionet_dir}) failed "
        f"({type(exc).__name__}: {exc}). Either connect to the internet and rerun (files are "
        f"verified against PhysioNet's checksums), or {mirror_hint}copy the files into {where}, "
        f"or set ECG_DATA_DIR (or pass data_dir) to a folder that holds a complete {ds.name}/ copy."
    )
