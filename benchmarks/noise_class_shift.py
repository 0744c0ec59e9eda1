"""Where muscle noise moves the shipped model's AF windows: its four class probabilities.

    .venv/bin/python benchmarks/noise_class_shift.py

A diagnostic (nothing is chosen here): the packaged feature detector (four classes N / A / O /
~, AF read as P(A)) on the reference-AF windows of the mitdb records with AF, clean and with
NSTDB muscle noise (``ma``) at 6 and 0 dB, mixed as notebook 08 mixes it (nst's SNR, the
noise records' *test* segments). For each condition: the mean probability of each class over
those windows and the share of windows whose most probable class it is; and the features
(:data:`ecgutils.features.FEATURES`) whose mean over those windows moves most at 6 dB, in
clean standard deviations. Notebook 08 measured that muscle noise lowers Se first; this says
to which class the probability goes, and which inputs carry it there.
Writes reports/benchmarks-noise-class-shift.md and .json.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgutils import bundle, config, detect, features, noise_study, reporting, windows  # noqa: E402
from ecgutils.fileio import atomic_write_json, atomic_write_text  # noqa: E402

RECORDS = ("201", "202", "203", "210", "217", "219", "221", "222")  # mitdb records with AF
SNRS_DB = (6, 0)
OUT = config.published_dir()
# The docstring's protocol paragraph (its third; the last line names the outputs), for the report.
PROTOCOL = " ".join(__doc__.split("\n\n")[2].splitlines()[:-1])


def main() -> None:
    began = time.perf_counter()
    shipped = bundle.load(ROOT / "ecgutils" / "release" / "detector")
    model = shipped.models[0]
    names = [windows.CLASSES[int(c)] for c in model.classes_]
    noises = noise_study.noise_records(seed=config.DEFAULT_SEED)  # as notebook 08
    rows, inputs = [], []
    # noise_study's own mixing and window labelling, so the conditions are notebook 08's.
    for rec, common, signal_mv in noise_study._noisy_versions(  # noqa: SLF001
            list(RECORDS), {"ma": noises["ma"]}, SNRS_DB, None, "noise class shift"):
        starts, X = detect.window_inputs(dataclasses.replace(rec, signal=signal_mv),
                                         shipped.settings)
        grid, y = noise_study._scored({}, rec, starts, shipped.settings.window_s)  # noqa: SLF001
        af = y[grid] == 1
        if not af.any():
            continue
        X_af = X[grid][af]
        prob = model.predict_proba(X_af)
        inputs.append(pd.DataFrame(X_af, columns=list(features.FEATURES)).assign(
            condition=common["condition"]))
        rows.append(pd.DataFrame(prob, columns=[f"p_{n}" for n in names]).assign(
            condition=common["condition"], record=common["record"],
            top=[names[i] for i in prob.argmax(axis=1)]))
    table = pd.concat(rows, ignore_index=True)
    out = table.groupby("condition", sort=False).agg(
        windows=("record", "size"), **{f"mean_p_{n}": (f"p_{n}", "mean") for n in names},
        **{f"top_{n}": ("top", lambda s, n=n: float((s == n).mean())) for n in names})
    shifts = feature_shifts(pd.concat(inputs, ignore_index=True), "noise_ma_6db")
    payload = {"run": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "records": RECORDS,
               "threshold": shipped.settings.threshold,
               "rows": out.reset_index().to_dict(orient="records"),
               "feature_shift_6db": shifts.to_dict(orient="records"),
               "wall_s": round(time.perf_counter() - began, 1)}
    atomic_write_json(OUT / "benchmarks-noise-class-shift.json", payload)
    text = (f"# Where muscle noise moves the shipped model's AF windows\n\n"
            f"`benchmarks/noise_class_shift.py`, run {payload['run']}: {PROTOCOL}\n\n"
            f"Records {', '.join(RECORDS)}; the reference-AF windows that notebook 08 scores "
            f"(flutter left out); shipped threshold on P(A) {payload['threshold']:.3f}. "
            "`mean p(X)`: the class's mean probability; `top X`: the share of windows whose "
            "most probable class is X.\n\n"
            + reporting.markdown_table(out.reset_index())
            + "\n\nThe features that move most at ma 6 dB on these windows (shift of the mean in "
            "clean standard deviations; NaN features left out of the means):\n\n"
            + reporting.markdown_table(shifts.head(10))
            + f"\n\nWall time {payload['wall_s']:.0f} s.\n")
    atomic_write_text(OUT / "benchmarks-noise-class-shift.md", text)
    print(text)


def feature_shifts(table: pd.DataFrame, condition: str) -> pd.DataFrame:
    """Each feature's mean under ``condition`` minus its clean mean, in clean standard
    deviations, largest first (``table``: one row per window, ``condition`` column)."""
    clean = table[table["condition"] == "clean"].drop(columns="condition")
    noisy = table[table["condition"] == condition].drop(columns="condition")
    spread = clean.std().replace(0.0, float("nan"))
    shift = ((noisy.mean() - clean.mean()) / spread).rename("shift_sd")
    out = pd.DataFrame({"feature": shift.index, "clean_mean": clean.mean().to_numpy(),
                        "noisy_mean": noisy.mean().to_numpy(), "shift_sd": shift.to_numpy()})
    return out.reindex(out["shift_sd"].abs().sort_values(ascending=False).index).reset_index(
        drop=True)


if __name__ == "__main__":
    main()
