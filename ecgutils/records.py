"""Read one record: one lead in physical units (mV), fs, patient id, rhythm intervals, beats.

Every problem with a record gives one clear error (see :mod:`ecgutils.errors`): unknown
dataset or record, missing or truncated file, checksum mismatch, a header whose sampling rate
or signal count disagrees with the registry, a lead with NaN samples or a flat lead.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

with warnings.catch_warnings():
    # wfdb 4.3 calls pandas APIs that pandas 3 deprecates (set_index(inplace=...)); not ours.
    warnings.filterwarnings("ignore", message="The inplace keyword")
    import wfdb

from ecgutils import datasets, rhythm
from ecgutils.errors import RecordFormatError, SignalQualityError, UnknownNameError
from ecgutils.signal import FLAT_PEAK_TO_PEAK_MV

# CinC 2017 classes as rhythm labels, so that every dataset yields rhythm intervals.
CINC_RHYTHM = {"N": "N", "A": rhythm.AF, "O": "OTHER", "~": "NOISY"}

# Bits per sample of WFDB storage formats: the widest range a file can hold, used for the
# clipping limits only when a header leaves the ADC resolution unset.
_FORMAT_BITS = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16,
                "212": 12, "310": 10, "311": 10}


@dataclass
class Record:
    """One lead of one record.

    Attributes
    ----------
    signal : ndarray of float64, shape (n_samples,)
        The lead in mV.
    rhythm : list of rhythm.Interval
        Reference rhythm intervals (CinC 2017: one interval, the record's class).
    beat_samples, beat_symbols : ndarray
        Reference beat annotations (empty where the dataset has none).
    clip_limits_mv : (low, high)
        The lowest and highest value the ADC could store, in mV.
    label : str or None
        CinC 2017 class (N, A, O, ~) from the chosen label file.
    """

    dataset: str
    name: str
    patient_id: str
    fs: float
    lead: str
    signal: np.ndarray
    rhythm: list[rhythm.Interval]
    beat_samples: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    beat_symbols: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="<U1"))
    clip_limits_mv: tuple[float, float] = (-np.inf, np.inf)
    label: str | None = None

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    @property
    def af_episodes(self) -> list[rhythm.Interval]:
        return rhythm.episodes(self.rhythm, rhythm.AF)

    @property
    def beat_times_s(self) -> np.ndarray:
        return self.beat_samples / self.fs


def read(
    dataset: str,
    record: str,
    data_dir: str | os.PathLike | None = None,
    lead: str | None = None,
    cinc_label_set: str = "v3",
) -> Record:
    """Read one record of a registered dataset.

    Parameters
    ----------
    dataset : str
        Registry key: ``mitdb``, ``afdb``, ``cinc2017`` or ``nstdb``.
    record : str
        Record name as in the dataset's RECORDS (``'201'``, ``'A00001'``).
    data_dir : path, optional
        Parent of the dataset folders (default: ``ECG_DATA_DIR`` or ``data/raw``).
    lead : str, optional
        Signal name to read; default the registry's preferred lead (MLII for mitdb).
    cinc_label_set : str
        CinC 2017 label file (see :func:`ecgutils.datasets.cinc_reference_labels`).

    Returns
    -------
    Record
    """
    ds = datasets.get(dataset)
    root = datasets.record_files(dataset, record, data_dir)
    path = root / record
    header = _read_header(path)
    if float(header.fs) != ds.fs:
        raise RecordFormatError(
            f"{path}.hea says {header.fs} Hz but {ds.name} is recorded at {ds.fs:g} Hz"
        )
    if header.n_sig != ds.n_signals:
        raise RecordFormatError(
            f"{path}.hea has {header.n_sig} signal(s) but {ds.name} records have {ds.n_signals}"
        )
    described = len(header.sig_name or [])
    if described != header.n_sig:
        raise RecordFormatError(
            f"{path}.hea declares {header.n_sig} signal(s) but describes {described}"
        )
    channel = _choose_channel(ds, header, path, lead)
    signal = _read_signal(path, header, channel)
    _check_lead_quality(signal, f"{ds.name} record {record} lead {header.sig_name[channel]}")

    n_samples = signal.shape[0]
    beat_samples = np.zeros(0, dtype=np.int64)
    beat_symbols = np.zeros(0, dtype="<U1")
    label = None
    if ds.annotator:
        annotation = _read_annotation(path, ds.annotator)
        intervals = rhythm.intervals_from_annotations(
            annotation.sample, annotation.symbol, annotation.aux_note, ds.fs, n_samples
        )
        symbols = np.asarray(annotation.symbol)
        is_beat = np.isin(symbols, list(rhythm.BEAT_SYMBOLS))
        beat_samples = np.asarray(annotation.sample)[is_beat].astype(np.int64)
        beat_symbols = symbols[is_beat].astype("<U1")
    elif ds.name == "cinc2017":
        labels = datasets.cinc_reference_labels(cinc_label_set, data_dir)
        if record not in labels:
            raise RecordFormatError(f"CinC 2017 record {record} has no label in {cinc_label_set}")
        label = labels[record]
        intervals = [rhythm.Interval(CINC_RHYTHM[label], 0.0, n_samples / ds.fs)]
    else:
        intervals = []
    return Record(
        dataset=ds.name,
        name=record,
        patient_id=ds.patient_id(record),
        fs=ds.fs,
        lead=header.sig_name[channel],
        signal=signal,
        rhythm=intervals,
        beat_samples=beat_samples,
        beat_symbols=beat_symbols,
        clip_limits_mv=_clip_limits_mv(header, channel),
        label=label,
    )


# Leads tried, in order, when a record outside the registry is read without a lead name.
PREFERRED_LEADS = ("MLII", "II", "ECG", "ECG1", "V5", "I")


def read_path(
    path: str | os.PathLike,
    lead: str | int | None = None,
    annotator: str | None = None,
    preferred: tuple[str, ...] | list[str] = PREFERRED_LEADS,
) -> Record:
    """Read one lead of any WFDB record, at its own sampling rate (the scanner's reader).

    Parameters
    ----------
    path : path
        The record without extension (``data/raw/mitdb/203``); a trailing ``.hea``, ``.dat``
        or ``.mat`` is dropped. CinC 2017 ``.mat`` records and ``.dat`` records both work.
    lead : str or int, optional
        Signal name (``"MLII"``) or 0-based index (``1`` or ``"1"``); default the first of
        ``preferred`` the header has, else signal 0.
    annotator : str, optional
        Reference annotation file to read rhythm intervals and beats from (``"atr"``).
    preferred : sequence of str
        Lead names tried in order when ``lead`` is None (a model bundle's ``leads``).

    Returns
    -------
    Record
        ``dataset`` is ``"external"``; ``patient_id`` is the record name.

    Raises
    ------
    RecordFormatError
        No such record, a damaged header, signal or annotation file.
    UnknownNameError
        The header has no such lead.
    SignalQualityError
        NaN samples (the error names their first span in seconds) or a flat lead.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() in (".hea", ".dat", ".mat"):
        path = path.with_suffix("")
    if not Path(f"{path}.hea").is_file():
        raise RecordFormatError(f"no such WFDB record: {path}.hea does not exist")
    header = _read_header(path)
    names = [str(name) for name in (header.sig_name or [])]
    if len(names) != header.n_sig or header.n_sig == 0:
        raise RecordFormatError(f"{path}.hea declares {header.n_sig} signal(s) but describes "
                                f"{len(names)}")
    if not header.fs or float(header.fs) <= 0:
        raise RecordFormatError(f"{path}.hea gives no sampling frequency")
    channel = _channel_of(names, lead, path, preferred)
    fs = float(header.fs)
    signal = _read_signal(path, header, channel)
    what = f"record {path} lead {names[channel]}"
    nan = np.isnan(signal)
    if nan.any():
        first = int(np.argmax(nan))
        last = first + int(np.argmin(nan[first:])) if not nan[first:].all() else signal.size
        raise SignalQualityError(
            f"{what} has {int(nan.sum())} NaN sample(s); the first span runs from "
            f"{first / fs:.2f} s to {last / fs:.2f} s (samples {first}-{last - 1})")
    _check_lead_quality(signal, what)
    intervals: list[rhythm.Interval] = []
    beat_samples = np.zeros(0, dtype=np.int64)
    beat_symbols = np.zeros(0, dtype="<U1")
    if annotator:
        annotation = _read_annotation(path, annotator)
        intervals = rhythm.intervals_from_annotations(
            annotation.sample, annotation.symbol, annotation.aux_note, fs, signal.size)
        symbols = np.asarray(annotation.symbol)
        is_beat = np.isin(symbols, list(rhythm.BEAT_SYMBOLS))
        beat_samples = np.asarray(annotation.sample)[is_beat].astype(np.int64)
        beat_symbols = symbols[is_beat].astype("<U1")
    return Record(dataset="external", name=path.name, patient_id=path.name, fs=fs,
                  lead=names[channel], signal=signal, rhythm=intervals,
                  beat_samples=beat_samples, beat_symbols=beat_symbols,
                  clip_limits_mv=_clip_limits_mv(header, channel))


def _channel_of(names: list[str], lead: str | int | None, path: Path,
                preferred: tuple[str, ...] | list[str]) -> int:
    if lead is None:
        return next((names.index(name) for name in preferred if name in names), 0)
    if isinstance(lead, int) or (isinstance(lead, str) and lead.isdigit()
                                 and lead not in names):
        index = int(lead)
        if not 0 <= index < len(names):
            raise UnknownNameError(f"{path}.hea has no signal {index}: it has {len(names)} "
                                   f"({', '.join(names)})")
        return index
    if lead not in names:
        raise UnknownNameError(f"{path}.hea has no lead {lead!r}; leads: {', '.join(names)}")
    return names.index(lead)


def read_header(dataset: str, record: str, data_dir: str | os.PathLike | None = None):
    """The WFDB header of a record (cheap: for durations of many records)."""
    root = datasets.ensure_local(dataset, data_dir)
    return _read_header(root / record)


# --- helpers -------------------------------------------------------------------------------


def _read_header(path: Path):
    if not Path(f"{path}.hea").is_file():
        raise RecordFormatError(f"{path}.hea is missing")
    try:
        return wfdb.rdheader(str(path))
    except Exception as exc:  # wfdb raises ValueError/IndexError/... on malformed headers
        raise RecordFormatError(f"{path}.hea is not a valid WFDB header: {exc}") from exc


def _choose_channel(ds: datasets.Dataset, header, path: Path, lead: str | None) -> int:
    names = list(header.sig_name)
    if lead is not None:
        if lead not in names:
            raise UnknownNameError(f"{path}.hea has no lead {lead!r}; leads: {', '.join(names)}")
        return names.index(lead)
    for preferred in ds.leads:
        if preferred in names:
            return names.index(preferred)
    if ds.leads:
        raise RecordFormatError(
            f"{path}.hea has none of the leads {', '.join(ds.leads)} (has {', '.join(names)})"
        )
    return 0


def _read_signal(path: Path, header, channel: int) -> np.ndarray:
    try:
        wfdb_record = wfdb.rdrecord(str(path), channels=[channel], physical=True)
    except Exception as exc:  # wfdb reports short files as ValueError with a shape message
        raise RecordFormatError(
            f"{path}: signal file is truncated or corrupt "
            f"(header promises {header.sig_len} samples; wfdb: {exc})"
        ) from exc
    signal = np.asarray(wfdb_record.p_signal[:, 0], dtype=np.float64)
    if signal.shape[0] != header.sig_len:
        raise RecordFormatError(
            f"{path}: read {signal.shape[0]} samples but the header promises {header.sig_len}"
        )
    return signal


def _check_lead_quality(signal: np.ndarray, what: str) -> None:
    n_nan = int(np.isnan(signal).sum())
    if n_nan:
        first = int(np.flatnonzero(np.isnan(signal))[0])
        raise SignalQualityError(f"{what} has {n_nan} NaN sample(s), the first at sample {first}")
    peak_to_peak = float(np.ptp(signal)) if signal.size else 0.0
    if peak_to_peak < FLAT_PEAK_TO_PEAK_MV:
        raise SignalQualityError(
            f"{what} is flat (peak-to-peak {peak_to_peak:.4f} mV < {FLAT_PEAK_TO_PEAK_MV} mV)"
        )


def _read_annotation(path: Path, extension: str):
    if not Path(f"{path}.{extension}").is_file():
        raise RecordFormatError(f"{path}.{extension} is missing")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The inplace keyword")
            return wfdb.rdann(str(path), extension)
    except Exception as exc:
        raise RecordFormatError(
            f"{path}.{extension} is not a valid annotation file: {exc}"
        ) from exc


def _clip_limits_mv(header, channel: int) -> tuple[float, float]:
    """The lowest and highest value the ADC could record on ``channel``, in mV.

    The range is the ADC's (``adc_res`` bits around ``adc_zero``), not the storage format's:
    mitdb stores 11-bit samples (codes 0 ... 2047) in 12-bit format 212, so its rails are
    (0 - 1024) / 200 = -5.12 mV and (2047 - 1024) / 200 = +5.115 mV from the baseline.
    """
    gain = float(header.adc_gain[channel]) or 200.0  # WFDB: gain 0 means 200 adu/mV
    baseline = float(header.baseline[channel])
    bits = _FORMAT_BITS.get(str(header.fmt[channel]))
    # The most negative code of each format is WFDB's "invalid sample" marker (read as NaN),
    # so no valid sample can sit below the next code up.
    format_low = -(2 ** (bits - 1)) + 1 if bits is not None else -np.inf
    format_high = 2 ** (bits - 1) - 1 if bits is not None else np.inf
    adc_res = int(_field(header, "adc_res", channel) or 0)
    if adc_res > 0:
        adc_zero = float(_field(header, "adc_zero", channel) or 0)
        low = max(adc_zero - 2 ** (adc_res - 1), format_low)
        high = min(adc_zero + 2 ** (adc_res - 1) - 1, format_high)
    elif bits is not None:
        # The header leaves the ADC resolution unset (0): WFDB then takes the format's bit
        # depth, the widest range the file can hold, so clipping below it goes unseen.
        low, high = format_low, format_high
    else:
        return (-np.inf, np.inf)
    return ((low - baseline) / gain, (high - baseline) / gain)


def _field(header, name: str, channel: int):
    values = getattr(header, name, None)
    return values[channel] if values is not None and channel < len(values) else None
