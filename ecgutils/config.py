"""Paths, run profiles and seeding.

Data location precedence: an explicit ``data_dir`` argument > the ``ECG_DATA_DIR`` environment
variable > ``data/raw/`` under the project root. ``ECG_MIRROR`` names an optional folder of
PhysioNet tarballs (``mitdb-1.0.0.tar.xz`` ...) that is unpacked instead of downloading.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from ecgutils.errors import UnknownNameError

PACKAGE_DIR = Path(__file__).resolve().parent
# An editable install or a checkout keeps the project root next to the package; otherwise fall
# back to the working directory so that data/ and reports/ land somewhere predictable.
PROJECT_ROOT = (
    PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").exists() else Path.cwd()
)

DEFAULT_SEED = 20170101

# Parameters shared by the notebooks, per profile. A notebook's `parameters` cell sets each
# of these to None, meaning "take it from the profile"; run_all.py -p overrides one.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "dataset": "mitdb",
        # A handful of records: AF (201, 202 = one patient, 203, 210), sinus (100), bigeminy (119).
        "records": ["100", "119", "201", "202", "203", "210"],
        "cinc_max_records": 300,
        "seed": DEFAULT_SEED,
        # CNN notebooks: folds, epochs (CinC and mitdb-only fits), fine-tuning epochs (mitdb
        # folds that start from the CinC model), bootstrap resamples for the CIs.
        "n_splits": 2,
        "epochs": 1,
        "finetune_epochs": 1,
        "n_boot": 200,
        # Leakage study: step of the overlapping windows (s); patients in the CinC probe.
        "overlap_step_s": 10.0,
        "probe_max_patients": 50,
        # Detector (03b): most epochs of a CinC fit (one random window per record each) and
        # how many seeds the CinC cross-validation is repeated with (the seed spread).
        "detector_epochs": 1,
        "n_seeds": 1,
    },
    "default": {
        "dataset": "mitdb",
        "records": None,  # all records of the dataset
        "cinc_max_records": None,  # all CinC 2017 records present
        "seed": DEFAULT_SEED,
        "n_splits": 5,
        "epochs": 15,
        "finetune_epochs": 5,
        "n_boot": 1000,
        "overlap_step_s": 10.0,
        "probe_max_patients": 200,
        "detector_epochs": 24,
        "n_seeds": 1,
    },
    # The default study with longer training (the CNN notebooks take about 3x as long).
    "full": {
        "dataset": "mitdb",
        "records": None,
        "cinc_max_records": None,
        "seed": DEFAULT_SEED,
        "n_splits": 5,
        "epochs": 40,
        "finetune_epochs": 10,
        "n_boot": 1000,
        "overlap_step_s": 10.0,
        "probe_max_patients": 200,
        "detector_epochs": 40,
        "n_seeds": 3,
    },
    "afdb": {
        "dataset": "afdb",
        "records": None,
        "cinc_max_records": None,
        "seed": DEFAULT_SEED,
        "n_splits": 5,
        "epochs": 15,
        "finetune_epochs": 5,
        "n_boot": 1000,
        "overlap_step_s": 10.0,
        "probe_max_patients": 200,
        "detector_epochs": 24,
        "n_seeds": 1,
    },
}


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Folder that holds one sub-folder per dataset (``mitdb/``, ``cinc2017/`` ...)."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("ECG_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return PROJECT_ROOT / "data" / "raw"


def mirror_dir() -> Path | None:
    """Folder of PhysioNet tarballs named by ``ECG_MIRROR``, or None when unset or absent."""
    env = os.environ.get("ECG_MIRROR")
    if not env:
        return None
    path = Path(env).expanduser().resolve()
    return path if path.is_dir() else None


def processed_dir() -> Path:
    """Cache of processed arrays (``ECGUTILS_PROCESSED_DIR`` overrides ``data/processed``)."""
    env = os.environ.get("ECGUTILS_PROCESSED_DIR")
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "data" / "processed"


def reports_dir() -> Path:
    """Where metrics, figures and executed notebooks go (``ECGUTILS_REPORTS_DIR`` overrides)."""
    env = os.environ.get("ECGUTILS_REPORTS_DIR")
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "reports"


def figures_dir() -> Path:
    path = reports_dir() / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def profile_name(profile: str | None = None) -> str:
    """The profile to use: explicit > ``ECGUTILS_PROFILE`` > ``default``; validated."""
    name = profile or os.environ.get("ECGUTILS_PROFILE") or "default"
    if name not in PROFILES:
        raise UnknownNameError(
            f"unknown profile {name!r}; choose one of {', '.join(sorted(PROFILES))}"
        )
    return name


def resolve_params(profile: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Profile values with every non-None override applied.

    Parameters
    ----------
    profile : str or None
        Profile name; None means ``ECGUTILS_PROFILE`` or ``default``.
    **overrides
        Parameter values; None keeps the profile's value. Names that are not profile
        parameters are kept as given (notebook-specific parameters).

    Returns
    -------
    dict
        The resolved parameters, with ``profile`` set to the profile used.
    """
    name = profile_name(profile)
    params = dict(PROFILES[name])
    for key, value in overrides.items():
        if value is not None or key not in params:
            params[key] = value
    params["profile"] = name
    return params


def seed_everything(seed: int = DEFAULT_SEED) -> None:
    """Seed Python's and NumPy's global generators (Keras is seeded by ``ecgutils.train``)."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - libraries (Keras, sklearn defaults) draw from it
