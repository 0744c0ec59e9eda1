from pathlib import Path

import numpy as np
import pytest

from ecgutils import config
from ecgutils.errors import UnknownNameError


def test_data_dir_precedence_is_argument_then_environment_then_default(monkeypatch, tmp_path):
    monkeypatch.delenv("ECG_DATA_DIR", raising=False)
    assert config.data_dir() == config.PROJECT_ROOT / "data" / "raw"
    monkeypatch.setenv("ECG_DATA_DIR", str(tmp_path / "env"))
    assert config.data_dir() == tmp_path / "env"
    assert config.data_dir(tmp_path / "arg") == tmp_path / "arg"


def test_mirror_dir_is_none_when_unset_or_missing(monkeypatch, tmp_path):
    monkeypatch.delenv("ECG_MIRROR", raising=False)
    assert config.mirror_dir() is None
    monkeypatch.setenv("ECG_MIRROR", str(tmp_path / "absent"))
    assert config.mirror_dir() is None
    monkeypatch.setenv("ECG_MIRROR", str(tmp_path))
    assert config.mirror_dir() == Path(tmp_path)


def test_profile_comes_from_argument_then_environment_then_default(monkeypatch):
    monkeypatch.delenv("ECGUTILS_PROFILE", raising=False)
    assert config.profile_name() == "default"
    monkeypatch.setenv("ECGUTILS_PROFILE", "smoke")
    assert config.profile_name() == "smoke"
    assert config.profile_name("afdb") == "afdb"


def test_unknown_profile_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("ECGUTILS_PROFILE", "fast")
    with pytest.raises(UnknownNameError, match="unknown profile 'fast'; choose one of afdb, "):
        config.profile_name()


def test_resolve_params_keeps_profile_values_unless_overridden():
    params = config.resolve_params("smoke", records=None, cinc_max_records=10, window_s=20.0)
    assert params["records"] == config.PROFILES["smoke"]["records"]
    assert params["cinc_max_records"] == 10
    assert params["window_s"] == 20.0
    assert params["profile"] == "smoke"


def test_seed_everything_makes_numpy_draws_repeat():
    config.seed_everything(7)
    first = np.random.rand(3)  # noqa: NPY002
    config.seed_everything(7)
    assert np.array_equal(first, np.random.rand(3))  # noqa: NPY002
