"""Tables behind notebook 01: records, AF burden per record and patient, episodes, RR
irregularity, what 20-s windows do to AF labels, and CinC 2017 classes and lengths."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ecgutils import datasets, records, rhythm
from ecgutils.progress import progress
from ecgutils.signal import quality_summary

PathLike = str | os.PathLike | None


def load_records(
    dataset: str, names: Sequence[str] | None = None, data_dir: PathLike = None
) -> list[records.Record]:
    """Read the named records (all records of the dataset when ``names`` is None)."""
    names = list(names) if names is not None else datasets.record_names(dataset, data_dir)
    ds = datasets.get(dataset)
    names = [name for name in names if name not in ds.no_signal_records]
    return [records.read(dataset, name, data_dir) for name in progress(names, f"read {dataset}")]


def record_table(recs: Sequence[records.Record]) -> pd.DataFrame:
    """One row per record: lead, duration, AF/AFL time and episodes, AF burden, quality."""
    rows = []
    for rec in recs:
        quality = quality_summary(rec.signal, rec.fs, rec.clip_limits_mv)
        af_s = rhythm.total_duration_s(rec.rhythm, rhythm.AF)
        rows.append(
            {
                "record": rec.name,
                "patient_id": rec.patient_id,
                "lead": rec.lead,
                "duration_s": round(rec.duration_s, 3),
                "af_s": round(af_s, 3),
                "af_episodes": len(rec.af_episodes),
                "afl_s": round(rhythm.total_duration_s(rec.rhythm, rhythm.AFL), 3),
                "afl_episodes": len(rhythm.episodes(rec.rhythm, rhythm.AFL)),
                "af_burden": af_s / rec.duration_s,
                "rhythms": " ".join(sorted({interval.label for interval in rec.rhythm})),
                "n_beats": int(rec.beat_samples.size),
                "clipped_pct": 100 * quality["clipped_fraction"],
                "flat_pct": 100 * quality["flat_fraction"],
            }
        )
    return pd.DataFrame(rows)


def patient_table(by_record: pd.DataFrame) -> pd.DataFrame:
    """AF burden per patient (mitdb 201 and 202 are one person)."""
    grouped = by_record.groupby("patient_id", sort=True)
    table = grouped.agg(
        records=("record", lambda names: "+".join(names)),
        duration_s=("duration_s", "sum"),
        af_s=("af_s", "sum"),
        af_episodes=("af_episodes", "sum"),
        afl_s=("afl_s", "sum"),
    )
    table["af_burden"] = table["af_s"] / table["duration_s"]
    return table.reset_index()


def episode_table(recs: Sequence[records.Record], label: str = rhythm.AF) -> pd.DataFrame:
    """One row per episode of ``label``: record, patient, start and duration (s)."""
    rows = [
        {
            "record": rec.name,
            "patient_id": rec.patient_id,
            "start_s": episode.start_s,
            "duration_s": episode.duration_s,
        }
        for rec in recs
        for episode in rhythm.episodes(rec.rhythm, label)
    ]
    return pd.DataFrame(rows, columns=["record", "patient_id", "start_s", "duration_s"])


def window_af_fractions(
    rec: records.Record, window_s: float = 20.0, step_s: float = 20.0
) -> np.ndarray:
    """AF fraction of each ``window_s`` window stepped by ``step_s`` over the record."""
    starts = np.arange(0.0, rec.duration_s - window_s + 1e-9, step_s)
    return np.array(
        [rhythm.label_fraction(rec.rhythm, start, start + window_s) for start in starts]
    )


def window_labelling_table(
    recs: Sequence[records.Record], window_s: float = 20.0, threshold: float = 0.5
) -> pd.DataFrame:
    """What non-overlapping windows do to AF labels, per record that contains AF.

    Columns: windows; pure AF (fraction 1), pure non-AF (0), mixed; windows labelled AF under
    ``af_fraction >= threshold``; AF seconds that fall in windows labelled non-AF and non-AF
    seconds inside windows labelled AF.
    """
    rows = []
    for rec in recs:
        if not rec.af_episodes:
            continue
        fractions = window_af_fractions(rec, window_s, window_s)
        labelled_af = fractions >= threshold
        rows.append(
            {
                "record": rec.name,
                "patient_id": rec.patient_id,
                "windows": fractions.size,
                "pure_af": int(np.sum(fractions >= 1 - 1e-9)),
                "pure_non_af": int(np.sum(fractions <= 1e-9)),
                "mixed": int(np.sum((fractions > 1e-9) & (fractions < 1 - 1e-9))),
                "labelled_af": int(labelled_af.sum()),
                "af_s_in_non_af_windows": float(fractions[~labelled_af].sum() * window_s),
                "non_af_s_in_af_windows": float((1 - fractions[labelled_af]).sum() * window_s),
            }
        )
    return pd.DataFrame(rows)


def rr_irregularity_table(recs: Sequence[records.Record]) -> pd.DataFrame:
    """Median RR irregularity (|ΔRR| / mean RR) of beats in AF and outside AF, per AF record.

    Beats come from the reference annotations; a pair counts as AF when its later beat lies in
    an AF interval.
    """
    rows = []
    for rec in recs:
        if not rec.af_episodes:
            continue
        times_s, rr_s = rhythm.rr_intervals(rec.beat_times_s)
        irregularity = rhythm.rr_irregularity(rr_s)
        in_af = rhythm.labels_at(rec.rhythm, times_s[1:]) == rhythm.AF
        rows.append(
            {
                "record": rec.name,
                "beats_af": int(in_af.sum()),
                "beats_non_af": int((~in_af).sum()),
                "irregularity_af": float(np.median(irregularity[in_af])) if in_af.any() else np.nan,
                "irregularity_non_af": (
                    float(np.median(irregularity[~in_af])) if (~in_af).any() else np.nan
                ),
            }
        )
    return pd.DataFrame(rows)


def strip_with_label(
    rec: records.Record, label: str, duration_s: float = 10.0
) -> tuple[float, float]:
    """(start_s, end_s) of a ``duration_s`` strip centred in the longest ``label`` interval."""
    candidates = _intervals_at_least(rec, label, duration_s)
    if not candidates:
        raise ValueError(f"record {rec.name} has no {label} interval of {duration_s} s or more")
    longest = max(candidates, key=lambda iv: iv.duration_s)
    start = longest.start_s + (longest.duration_s - duration_s) / 2
    return start, start + duration_s


def cinc_table(
    label_set: str = "v3", max_records: int | None = None, data_dir: PathLike = None
) -> pd.DataFrame:
    """CinC 2017 records with their class and duration (s) from the headers."""
    labels = datasets.cinc_reference_labels(label_set, data_dir)
    names = datasets.record_names("cinc2017", data_dir)
    if max_records is not None:
        names = names[:max_records]
    fs = datasets.get("cinc2017").fs
    rows = []
    for name in progress(names, "cinc2017 headers"):
        header = records.read_header("cinc2017", name, data_dir)
        rows.append({"record": name, "label": labels[name], "duration_s": header.sig_len / fs})
    return pd.DataFrame(rows)


def cinc_label_sets_table(data_dir: PathLike = None) -> pd.DataFrame:
    """Class counts of each CinC 2017 label file, and agreement with the v3 labels."""
    reference = datasets.cinc_reference_labels("v3", data_dir)
    rows = []
    for label_set in datasets.CINC_LABEL_FILES:
        labels = datasets.cinc_reference_labels(label_set, data_dir)
        counts = pd.Series(labels).value_counts()
        agree = np.mean([labels.get(record) == label for record, label in reference.items()])
        rows.append(
            {
                "label_set": label_set,
                "file": datasets.CINC_LABEL_FILES[label_set],
                "records": len(labels),
                **{cls: int(counts.get(cls, 0)) for cls in datasets.CINC_CLASSES},
                "agreement_with_v3": float(agree),
            }
        )
    return pd.DataFrame(rows)


def pick_strip_record(
    recs: Sequence[records.Record], preferred: str | None = None, duration_s: float = 10.0
) -> records.Record:
    """The record for the AF-vs-sinus figures: ``preferred``, else the first record that has
    both an AF and a sinus (N) interval of at least ``duration_s``."""
    if preferred is not None:
        for rec in recs:
            if rec.name == preferred:
                return rec
        raise ValueError(f"strip record {preferred!r} is not among the records read")
    for rec in recs:
        if all(_intervals_at_least(rec, label, duration_s) for label in (rhythm.AF, "N")):
            return rec
    raise ValueError("no record has both AF and sinus rhythm long enough for a strip")


def headline_metrics(
    dataset: str,
    by_record: pd.DataFrame,
    by_patient: pd.DataFrame,
    labelling: pd.DataFrame,
) -> dict[str, float]:
    """Descriptive numbers of a long-record dataset for the run summary."""
    prefix = f"{dataset}.data"
    return {
        f"{prefix}.n_records": len(by_record),
        f"{prefix}.n_patients": len(by_patient),
        f"{prefix}.n_af_records": int((by_record["af_s"] > 0).sum()),
        f"{prefix}.n_af_patients": int((by_patient["af_s"] > 0).sum()),
        f"{prefix}.af_total_s": float(by_record["af_s"].sum()),
        f"{prefix}.af_episodes": int(by_record["af_episodes"].sum()),
        f"{prefix}.afl_total_s": float(by_record["afl_s"].sum()),
        f"{prefix}.windows_mixed_fraction": (
            float(labelling["mixed"].sum() / labelling["windows"].sum()) if len(labelling) else 0.0
        ),
    }


def cinc_headline_metrics(table: pd.DataFrame, window_s: float = 20.0) -> dict[str, float]:
    """Descriptive numbers of the CinC 2017 records tabulated."""
    short = table["duration_s"] < window_s
    is_af = table["label"] == "A"
    return {
        "cinc2017.data.n_records": len(table),
        "cinc2017.data.n_af": int(is_af.sum()),
        "cinc2017.data.n_shorter_than_window": int(short.sum()),
        "cinc2017.data.af_share_short": float(is_af[short].mean()) if short.any() else 0.0,
        "cinc2017.data.af_share_long": float(is_af[~short].mean()) if (~short).any() else 0.0,
    }


def _intervals_at_least(
    rec: records.Record, label: str, duration_s: float
) -> list[rhythm.Interval]:
    return [iv for iv in rec.rhythm if iv.label == label and iv.duration_s >= duration_s]
