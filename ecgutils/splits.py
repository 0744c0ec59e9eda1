"""Train / validation / test splits of windows: grouped by patient (honest) or random (leaky).

Windows of one patient are far more alike than windows of two patients. A random split puts
windows of the same patient on both sides, so the test score measures how well the model
recognises patients it has already seen, not how it detects AF in a new patient — the leak
behind many near-perfect AF results. The grouped split keeps every patient on one side, and
:func:`assert_disjoint` checks it; :func:`random_folds` exists to show the leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import (
    GroupShuffleSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from ecgutils import metrics

PARTS = ("train", "validation", "test")
GROUPED = "grouped"
RANDOM = "random"
# Share of a fold's training part held out as validation (early stopping, thresholds).
VALIDATION_FRACTION = 0.2


class LeakageError(AssertionError):
    """A patient has windows in two parts of a split that must be disjoint by patient."""


@dataclass(frozen=True, eq=False)
class Fold:
    """One fold: integer indices into the window arrays for each part.

    ``eq=False``: the parts are arrays, which ``==`` would compare elementwise; folds compare
    (and hash) by identity.

    Attributes
    ----------
    number : int
        Fold number, from 0.
    train, validation, test : numpy.ndarray of int64
        Sorted window indices of each part.
    kind : str
        ``"grouped"`` (disjoint by patient) or ``"random"`` (windows shuffled, patients shared).
    """

    number: int
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    kind: str

    def parts(self) -> dict[str, np.ndarray]:
        """``{"train": …, "validation": …, "test": …}``."""
        return {"train": self.train, "validation": self.validation, "test": self.test}


def assert_disjoint(**parts: np.ndarray) -> str:
    """Check that no patient has windows in two of the parts.

    Parameters
    ----------
    **parts : numpy.ndarray
        Part name → patient id of each window in that part, e.g.
        ``assert_disjoint(train=groups[fold.train], test=groups[fold.test])``.

    Returns
    -------
    str
        A one-line summary, e.g. ``"disjoint by patient: train 30 patients (2900 windows),
        validation 8 (700), test 9 (800)"``.

    Raises
    ------
    LeakageError
        Naming the two parts and up to 5 of the patients they share.
    """
    if not parts:
        raise ValueError("assert_disjoint needs at least one part")
    patients = {name: np.unique(np.asarray(ids)) for name, ids in parts.items()}
    names = list(patients)
    for first_index, first in enumerate(names):
        for second in names[first_index + 1 :]:
            shared = np.intersect1d(patients[first], patients[second])
            if len(shared):
                shown = ", ".join(str(patient) for patient in shared[:5])
                more = f" and {len(shared) - 5} more" if len(shared) > 5 else ""
                raise LeakageError(
                    f"{first} and {second} share {len(shared)} patient(s): {shown}{more}"
                )
    counts = [
        f"{name} {len(patients[name])}"
        + ((" patient" if len(patients[name]) == 1 else " patients") if index == 0 else "")
        + f" ({len(np.asarray(parts[name]))}"
        + (" windows)" if index == 0 else ")")
        for index, name in enumerate(names)
    ]
    return "disjoint by patient: " + ", ".join(counts)


def grouped_folds(
    y: Any,
    groups: Any,
    n_splits: int = 5,
    validation_fraction: float = VALIDATION_FRACTION,
    seed: int = 0,
) -> list[Fold]:
    """Cross-validation folds disjoint by patient, stratified by AF as far as patients allow.

    The outer split is ``StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)``;
    each fold's validation patients are carved from its training patients only, by an inner
    ``StratifiedGroupKFold`` with ``round(1 / validation_fraction)`` splits (at least 2). Its
    first split whose training part keeps both classes gives the validation part, so training
    never loses its only AF patients to validation when another choice exists; if the inner
    split cannot be made, a seeded ``GroupShuffleSplit`` is used instead.

    Parameters
    ----------
    y : array-like of int, shape (n_windows,)
        Window labels, 1 = AF, 0 = non-AF.
    groups : array-like, shape (n_windows,)
        Patient id of each window.
    n_splits : int
        Number of folds, at least 2 and at most the number of patients.
    validation_fraction : float
        Approximate share of each fold's training patients set aside for validation, in (0, 1).
    seed : int
        Random state of every split; the same seed gives the same folds.

    Returns
    -------
    list of Fold
        ``kind="grouped"``; each window is in exactly one test part.
    """
    labels, ids = _validate_groups(y, groups)
    _validate_split_args(n_splits, validation_fraction)
    n_patients = len(np.unique(ids))
    if n_patients < n_splits:
        raise ValueError(
            f"grouped split needs at least n_splits={n_splits} patients; got {n_patients}"
        )
    outer = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    n_inner = max(2, round(1 / validation_fraction))
    folds = []
    for number, (train_validation, test) in enumerate(outer.split(labels, labels, ids)):
        train, validation = _carve_grouped_validation(
            train_validation, labels, ids, n_inner, validation_fraction, seed
        )
        fold = Fold(number, np.sort(train), np.sort(validation), np.sort(test), GROUPED)
        assert_disjoint(train=ids[fold.train], validation=ids[fold.validation], test=ids[fold.test])
        folds.append(fold)
    return folds


def random_folds(
    y: Any,
    n_splits: int = 5,
    validation_fraction: float = VALIDATION_FRACTION,
    seed: int = 0,
) -> list[Fold]:
    """Cross-validation folds of shuffled windows, ignoring patients — the leaky split.

    The outer split is ``StratifiedKFold(n_splits, shuffle=True, random_state=seed)``; the
    validation windows are a stratified random ``validation_fraction`` of each fold's training
    windows (unstratified when a class has too few windows to stratify).

    Parameters
    ----------
    y : array-like of int, shape (n_windows,)
        Window labels, 1 = AF, 0 = non-AF.
    n_splits, validation_fraction, seed
        As for :func:`grouped_folds`.

    Returns
    -------
    list of Fold
        ``kind="random"``; a patient's windows are typically in every part.
    """
    labels = metrics.validate_labels(y, "y")
    _validate_split_args(n_splits, validation_fraction)
    if len(labels) < n_splits:
        raise ValueError(
            f"random split needs at least n_splits={n_splits} windows; got {len(labels)}"
        )
    outer = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    folds = []
    for number, (train_validation, test) in enumerate(outer.split(labels, labels)):
        stratify = labels[train_validation]
        if np.bincount(stratify, minlength=2).min() < 2:
            stratify = None
        train, validation = train_test_split(
            train_validation,
            test_size=validation_fraction,
            random_state=seed,
            stratify=stratify,
        )
        folds.append(Fold(number, np.sort(train), np.sort(validation), np.sort(test), RANDOM))
    return folds


def shared_patient_fraction(fold: Fold, groups: Any) -> float:
    """Share of the fold's test windows whose patient also has windows in its training part.

    0 for a grouped fold; close to 1 for a random fold of patients with many windows — the
    leak, as a number.

    Parameters
    ----------
    fold : Fold
    groups : array-like
        Patient id of each window.

    Returns
    -------
    float
        In [0, 1]; ``nan`` for an empty test part.
    """
    ids = np.asarray(groups)
    test_ids = ids[fold.test]
    if len(test_ids) == 0:
        return float("nan")
    return float(np.mean(np.isin(test_ids, ids[fold.train])))


# --- helpers -------------------------------------------------------------------------------


def _carve_grouped_validation(
    train_validation: np.ndarray,
    labels: np.ndarray,
    ids: np.ndarray,
    n_inner: int,
    validation_fraction: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Split a fold's training windows into train and validation, disjoint by patient."""
    inner_labels, inner_ids = labels[train_validation], ids[train_validation]
    n_patients = len(np.unique(inner_ids))
    if n_patients < 2:
        raise ValueError(
            f"a fold has {n_patients} training patient(s), too few to carve validation patients "
            "from; use fewer splits or more patients"
        )
    inner = StratifiedGroupKFold(n_splits=n_inner, shuffle=True, random_state=seed)
    try:
        candidates = [
            (inner_train, inner_validation)
            for inner_train, inner_validation in inner.split(inner_labels, inner_labels, inner_ids)
            if len(inner_train) and len(inner_validation)
        ]
    except ValueError:
        # Fewer training patients than inner splits.
        candidates = []
    if not candidates:
        # Draw the validation patients at random instead.
        shuffle = GroupShuffleSplit(n_splits=1, test_size=validation_fraction, random_state=seed)
        candidates = list(shuffle.split(inner_labels, inner_labels, inner_ids))

    def has_both_classes(index: np.ndarray) -> bool:
        return len(np.unique(inner_labels[index])) == 2

    # With few AF patients (mitdb: 6 of 47) the first inner split may hold all of a fold's AF
    # patients in validation (training learns no AF) or none (no threshold can be tuned); take
    # the first split that avoids the former, then the latter, when there is one.
    chosen = max(
        candidates,
        key=lambda split: (has_both_classes(split[0]), has_both_classes(split[1])),
    )
    inner_train, inner_validation = chosen
    return train_validation[inner_train], train_validation[inner_validation]


def _validate_split_args(n_splits: int, validation_fraction: float) -> None:
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer of at least 2; got {n_splits!r}")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1); got {validation_fraction}")


def _validate_groups(y: Any, groups: Any) -> tuple[np.ndarray, np.ndarray]:
    labels = metrics.validate_labels(y, "y")
    ids = np.asarray(groups)
    if ids.ndim != 1:
        raise ValueError(f"groups must be one-dimensional; got shape {ids.shape}")
    if len(ids) != len(labels):
        raise ValueError(f"groups has {len(ids)} entries but y has {len(labels)}")
    return labels, ids
