import json

import numpy as np
import pytest

from ecgutils import reporting


def test_exported_metrics_merge_and_become_plain_json(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGUTILS_REPORTS_DIR", str(tmp_path))
    reporting.export_metrics("03_cnn1d", {"mitdb.cnn1d.grouped.f1": np.float32(0.5)})
    reporting.export_metrics(
        "03_cnn1d",
        {"mitdb.cnn1d.grouped.f1_ci95": np.array([0.25, 0.75]),
         "mitdb.cnn1d.grouped.n_patients": np.int64(47)},
    )
    stored = json.loads((tmp_path / "metrics" / "03_cnn1d.json").read_text())
    assert stored == {
        "mitdb.cnn1d.grouped.f1": 0.5,
        "mitdb.cnn1d.grouped.f1_ci95": [0.25, 0.75],
        "mitdb.cnn1d.grouped.n_patients": 47,
    }
    assert reporting.load_metrics("03_cnn1d") == stored


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("f1", 0.5, ValueError),  # no dataset prefix
        ("ptbxl.cnn1d.f1", 0.5, ValueError),  # unknown dataset
        ("mitdb.cnn1d.f1", float("nan"), ValueError),
        ("mitdb.cnn1d.f1", {"a": 1}, TypeError),
    ],
)
def test_bad_metric_is_rejected_and_nothing_is_written(tmp_path, monkeypatch, key, value, error):
    monkeypatch.setenv("ECGUTILS_REPORTS_DIR", str(tmp_path))
    with pytest.raises(error):
        reporting.export_metrics("01_explore", {key: value})
    assert not (tmp_path / "metrics" / "01_explore.json").exists()


def test_exported_tables_merge_by_title_and_keep_the_note(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.setenv("ECGUTILS_REPORTS_DIR", str(tmp_path))
    reporting.export_table("05_x", "Leakage", pd.DataFrame({"split": ["random"], "f1": [0.91]}),
                           note="CIs over patients.")
    reporting.export_table("05_x", "Probe", "| a |\n|---|\n| 1 |")
    tables = reporting.load_tables("05_x")
    assert list(tables) == ["Leakage", "Probe"]
    assert "| random | 0.910 |" in tables["Leakage"]
    assert tables["Leakage"].endswith("\n\nCIs over patients.")
    with pytest.raises(ValueError, match="title"):
        reporting.export_table("05_x", " ", "x")


def test_evaluation_keys_name_metrics_cis_and_counts_and_drop_undefined_values():
    ev = {"f1": 0.5, "f1_ci95": [0.4, 0.6], "se": float("nan"), "se_ci95": [0.1, 0.2],
          "n_patients": 3, "n_windows_af": 4, "n_windows_non_af": 5}
    keys = reporting.evaluation_keys("mitdb.x.grouped", ev, ("f1", "se"))
    assert keys == {"mitdb.x.grouped.f1": 0.5, "mitdb.x.grouped.f1_ci95": [0.4, 0.6],
                    "mitdb.x.grouped.se_ci95": [0.1, 0.2], "mitdb.x.grouped.n_patients": 3,
                    "mitdb.x.grouped.n_windows_af": 4, "mitdb.x.grouped.n_windows_non_af": 5}
