"""Shared fixtures. Data tests read the real shared PhysioNet records.

The datasets are unpacked once into the project's ``data/raw`` (or ``ECG_DATA_DIR``) from
``ECG_MIRROR`` (``../shared/data`` by default when it exists). Without any source the data
tests are skipped with the reason — CI always has ``../shared``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

if "ECG_MIRROR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["ECG_MIRROR"] = str(SHARED_DATA)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """No test reaches PhysioNet: the two network calls of the package refuse."""
    import urllib.request

    from wfdb.io import download

    def refuse(*args, **kwargs):
        raise ConnectionError("network disabled in tests")

    monkeypatch.setattr(download, "dl_pn_file", refuse)
    monkeypatch.setattr(urllib.request, "urlretrieve", refuse)


@pytest.fixture(autouse=True)
def _reports_in_tmp(tmp_path_factory, monkeypatch):
    """Figures and metrics written by tests go to a temporary folder, never to reports/."""
    monkeypatch.setenv("ECGUTILS_REPORTS_DIR", str(tmp_path_factory.getbasetemp() / "reports"))
    monkeypatch.delenv("ECGUTILS_RUN_DIR", raising=False)  # not a run_all run's folder


@pytest.fixture(autouse=True, scope="session")
def _processed_in_tmp(tmp_path_factory):
    """The processed-array cache of a test session lives in its temporary folder (session
    scope, so that module-scoped fixtures building windows use it too)."""
    previous = os.environ.get("ECGUTILS_PROCESSED_DIR")
    os.environ["ECGUTILS_PROCESSED_DIR"] = str(tmp_path_factory.getbasetemp() / "processed")
    yield
    if previous is None:
        os.environ.pop("ECGUTILS_PROCESSED_DIR", None)
    else:
        os.environ["ECGUTILS_PROCESSED_DIR"] = previous


def _local_dataset(name: str) -> Path:
    from ecgutils import config, datasets
    from ecgutils.errors import DataUnavailableError

    try:
        return datasets.ensure_local(name)
    except DataUnavailableError as exc:
        pytest.skip(f"{name} not available here (no ECG_MIRROR, no copy in "
                    f"{config.data_dir()}): {exc}")


@pytest.fixture(scope="session")
def mitdb_root() -> Path:
    return _local_dataset("mitdb")


@pytest.fixture(scope="session")
def cinc_root() -> Path:
    return _local_dataset("cinc2017")


@pytest.fixture(scope="session")
def afdb_root() -> Path:
    return _local_dataset("afdb")


@pytest.fixture(scope="session")
def nstdb_root() -> Path:
    return _local_dataset("nstdb")


BUILD_SCRIPT = SHARED_DATA.parent / "tools" / "build-wfdb-tools.sh"


@pytest.fixture(scope="session")
def wfdb_tools(tmp_path_factory) -> Path:
    """WFDB 10.7.0's reference programs (epicmp, sumstats, nst, sigamp, bxb; GPL), built from
    the shared source tarball as test oracles (~30 s); skipped where they cannot be built."""
    if not BUILD_SCRIPT.is_file():
        pytest.skip(f"{BUILD_SCRIPT} is absent: cannot build the WFDB reference programs")
    missing = [tool for tool in ("gcc", "make", "tar", "xz") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"cannot build the WFDB reference programs without {', '.join(missing)}")
    out = tmp_path_factory.mktemp("wfdbtools")
    built = subprocess.run(["bash", str(BUILD_SCRIPT), str(out)], capture_output=True,
                           text=True, timeout=600)
    assert built.returncode == 0, f"building WFDB tools failed:\n{built.stdout}{built.stderr}"
    return out
