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
        # Keras runs the models eagerly: on fits this small, graph tracing is most of the time.
        "keras_eager": True,
        # Trees per class of the feature detector's gradient boosting (03c, 07): a few, to
        # check the code quickly; None: the chosen setting (feature_model.BOOSTING).
        "boosting_max_iter": 40,
        # Noise stress (08): SNRs (dB, as nst defines them); two here, one of them negative.
        "snrs_db": (6, -6),
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
        "keras_eager": False,
        "boosting_max_iter": None,
        "snrs_db": (24, 18, 12, 6, 0, -6),
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
        "keras_eager": False,
        "boosting_max_iter": None,
        "snrs_db": (24, 18, 12, 6, 0, -6),
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
        "keras_eager": False,
        "boosting_max_iter": None,
        "snrs_db": (24, 18, 12, 6, 0, -6),
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


# Set by run_all.py for the notebooks of one run: the run's own output folder
# (``<published>/runs/<profile>/<run id>/``, see ``ecgutils.runs``).
RUN_DIR_ENV = "ECGUTILS_RUN_DIR"


def published_dir() -> Path:
    """The published reports folder (``ECGUTILS_REPORTS_DIR`` overrides ``reports/``): the
    committed summary and benchmarks, the run folders under ``runs/``, and the outputs of
    tools run outside ``run_all.py`` (``make model``, benchmarks, notebooks opened by hand)."""
    env = os.environ.get("ECGUTILS_REPORTS_DIR")
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "reports"


def reports_dir() -> Path:
    """Where this process writes metrics, figures, predictions, models and executed notebooks:
    the current run's folder under ``run_all.py`` (``ECGUTILS_RUN_DIR``), else
    :func:`published_dir`."""
    env = os.environ.get(RUN_DIR_ENV)
    return Path(env).expanduser().resolve() if env else published_dir()


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


# Allowed ranges of numeric notebook parameters, checked by run_all.py before anything runs
# ("[lo, hi]" closed, "(lo, hi)" open; inf for no bound). A value outside is one clear error.
PARAMETER_RANGES: dict[str, str] = {
    "n_splits": "[2, inf)", "epochs": "[1, inf)", "finetune_epochs": "[0, inf)",
    "detector_epochs": "[1, inf)", "n_boot": "[1, inf)", "n_seeds": "[1, inf)",
    "cinc_max_records": "[1, inf)", "probe_max_patients": "[1, inf)", "cinc_sample": "[1, inf)",
    "patience": "[0, inf)", "kernel_size": "[1, inf)", "seed": "[0, inf)",
    "cosen_window_rr": "[2, inf)", "learning_rate": "(0, inf)",
    "finetune_learning_rate": "(0, inf)", "overlap_step_s": "(0, inf)", "window_s": "(0, inf)",
    "step_s": "(0, inf)", "low_hz": "(0, inf)", "high_hz": "(0, inf)", "l2": "[0, inf)",
    "dropout": "[0, 1)", "dev_fraction": "[0, 1)", "af_threshold": "[0, 1]",
    "hysteresis": "[0, 1)", "min_episode_s": "[0, inf)", "merge_gap_s": "[0, inf)",
    "cosen_min_episode_s": "[0, inf)", "ec57_start_s": "[0, inf)",
}
# The values a string parameter can take (the notebooks' parameter comments list them).
PARAMETER_CHOICES: dict[str, tuple[str, ...]] = {
    "cinc_label_set": ("v3", "original", "alt"), "normalisation": ("zscore", "robust", "none"),
    "cinc_short_policy": ("pad", "drop"), "monitor": ("val_pr_auc", "val_loss"),
    "threshold": ("validation", "fixed"), "kind": ("cnn1d", "cnn2d"),
}
# The type of parameters whose notebook default and profile value may both be None.
PARAMETER_EXAMPLES: dict[str, Any] = {
    "records": ["100"], "cinc_max_records": 1, "strip_record": "201", "data_dir": "data/raw",
}


def check_parameter(name: str, value: Any, example: Any, where: str = "",
                    none_allowed: bool = True) -> None:
    """Raise ValueError unless ``value`` has the type of ``example`` (the notebook's default,
    else the profile's value, else :data:`PARAMETER_EXAMPLES`) and lies in
    :data:`PARAMETER_RANGES`.

    Parameters
    ----------
    name : str
        Parameter name, as in the notebooks' ``parameters`` cells.
    value : object
        The value asked for (a parsed Python literal).
    example : object
        A value of the expected type; None when nothing says what is expected (then any type
        passes).
    where : str
        Where the example comes from, for the message (``"03_cnn1d's default"``).
    none_allowed : bool
        Whether ``None`` is a valid value: it is where the notebook's default is None ("take
        it from the profile"), not where the notebook needs a value of its own.
    """
    if example is None:
        example = PARAMETER_EXAMPLES.get(name)
    if value is None and not none_allowed and example is not None:
        shown = f" ({where}: {example!r})" if where else ""
        raise ValueError(f"parameter {name}=None: expected {_type_name(example)}{shown}")
    if value is None or example is None:
        return
    problem = _type_problem(value, example)
    if problem is None and isinstance(value, (int, float)) and name in PARAMETER_RANGES:
        problem = _range_problem(value, PARAMETER_RANGES[name])
    if problem is None and isinstance(value, str) and value not in PARAMETER_CHOICES.get(
            name, (value,)):
        problem = f"expected one of {', '.join(PARAMETER_CHOICES[name])}"
    if problem is not None:
        shown = f" ({where}: {example!r})" if where else ""
        raise ValueError(f"parameter {name}={value!r}: {problem}{shown}")


def _type_name(example: Any) -> str:
    if isinstance(example, bool):
        return "True or False"
    if isinstance(example, float):
        return "a number"
    if isinstance(example, (list, tuple)):
        inner = f" of {_type_name(example[0])}" if example else ""
        return f"a list{inner}"
    return {int: "an integer", str: "a string (quote it: '\"text\"')", dict: "a dict"}.get(
        type(example), type(example).__name__)


def _type_problem(value: Any, example: Any) -> str | None:
    expected = f"expected {_type_name(example)}, got {type(value).__name__}"
    if isinstance(example, bool) or isinstance(value, bool):
        return None if isinstance(value, bool) and isinstance(example, bool) else expected
    if isinstance(example, float):
        ok = isinstance(value, (int, float)) and bool(np.isfinite(value))
        return None if ok else expected
    if isinstance(example, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return expected
        if example:
            for index, item in enumerate(value):
                problem = _type_problem(item, example[0])
                if problem is not None:
                    return f"item {index}: {problem}"
        return None
    return None if isinstance(value, type(example)) else expected


def _range_problem(value: float, interval: str) -> str | None:
    low_text, high_text = (part.strip() for part in interval[1:-1].split(","))
    low, high = float(low_text), float(high_text)
    below = value < low or (interval[0] == "(" and value == low)
    above = value > high or (interval[-1] == ")" and value == high)
    return f"out of range, expected a value in {interval}" if below or above else None
