"""run_all.py: argument errors stop before anything runs; a failing cell is named; the smoke
profile runs every notebook and writes the summary."""

import json
import sys

import nbformat
import pytest

from ecgutils import config

sys.path.insert(0, str(config.PROJECT_ROOT))
import run_all  # noqa: E402


@pytest.fixture
def reports(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGUTILS_REPORTS_DIR", str(tmp_path / "reports"))
    return tmp_path / "reports"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--profile", "fast"], "unknown profile 'fast'"),
        (["--only", "42"], "--only 42 matches no notebook"),
        (["-p", "learning_rat", "0.1"], "unknown parameter 'learning_rat'"),
    ],
)
def test_bad_arguments_fail_before_any_notebook_runs(reports, capsys, argv, message):
    assert run_all.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not reports.exists()


def _write_notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = None", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def test_failing_cell_stops_the_run_and_names_notebook_and_cell(reports, tmp_path, monkeypatch,
                                                                 capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _write_notebook(notebooks / "01_fine.ipynb", ["x = 1"])
    _write_notebook(notebooks / "02_broken.ipynb", ["y = 2", "raise ValueError('bad record')"])
    _write_notebook(notebooks / "03_never.ipynb", ["z = 3"])
    monkeypatch.setattr(run_all, "NOTEBOOK_DIR", notebooks)

    assert run_all.main(["--profile", "smoke"]) == 1
    err = capsys.readouterr().err
    assert "02_broken failed: cell 3 of the executed notebook" in err  # after papermill's
    assert "starting \"raise ValueError('bad record')\"" in err  # injected-parameters cell
    assert "ValueError: bad record" in err
    summary = json.loads((reports / "summary.json").read_text())
    statuses = {nb["name"]: nb["status"] for nb in summary["notebooks"]}
    assert statuses == {"01_fine": "ok", "02_broken": "failed", "03_never": "not run"}
    assert (reports / "notebooks" / "02_broken.ipynb").exists()


@pytest.mark.slow
def test_smoke_profile_runs_every_notebook_and_writes_the_summary(reports, mitdb_root, cinc_root):
    assert run_all.main(["--profile", "smoke"]) == 0
    summary = json.loads((reports / "summary.json").read_text())
    assert set(summary) == {"profile", "git_commit", "generated_at", "python", "tensorflow",
                            "notebooks", "metrics"}
    assert summary["profile"] == "smoke"
    names = [nb["name"] for nb in summary["notebooks"]]
    assert names == sorted(p.stem for p in run_all.NOTEBOOK_DIR.glob("[0-9][0-9]*_*.ipynb"))
    assert all(nb["status"] == "ok" for nb in summary["notebooks"])
    # The smoke records 201+202 are one patient: 6 records, 5 patients.
    assert summary["metrics"]["mitdb.data.n_records"] == 6
    assert summary["metrics"]["mitdb.data.n_patients"] == 5
    assert summary["metrics"]["mitdb.data.af_episodes"] == 3 + 4 + 21 + 9
    markdown = (reports / "summary.md").read_text()
    assert "| 01_explore | ok |" in markdown
    assert (reports / "figures" / "01_af_vs_sinus_strip.png").stat().st_size > 10_000


def test_every_notebook_declares_profile_and_data_dir_parameters():
    import papermill

    notebooks = sorted(run_all.NOTEBOOK_DIR.glob("[0-9][0-9]*_*.ipynb"))
    assert notebooks
    for notebook in notebooks:
        declared = papermill.inspect_notebook(str(notebook))
        assert {"profile", "data_dir"} <= set(declared), notebook.name
        assert declared["profile"]["default"] == "None", notebook.name


def test_summary_markdown_has_one_headline_row_per_evaluated_model():
    metrics = {"mitdb.data.n_windows": 4320}
    for name in run_all.HEADLINE:
        metrics[f"mitdb.cnn1d.grouped.{name}"] = 0.5
        metrics[f"mitdb.cnn1d.grouped.{name}_ci95"] = [0.25, 0.75]
    metrics.update({"mitdb.cnn1d.grouped.n_patients": 47, "mitdb.cnn1d.grouped.n_windows_af": 400,
                    "mitdb.cnn1d.grouped.n_windows_non_af": 3885})
    lines = run_all._headline_table(metrics)
    rows = [line for line in lines if line.startswith("| mitdb")]
    assert rows == ["| mitdb | cnn1d | grouped | 47 | 400 | 3885 | "
                    + " | ".join(["0.500 [0.25, 0.75]"] * 6) + " |"]
    assert run_all._headline_table({"mitdb.data.n_windows": 1}) == []


def test_summary_markdown_shows_exported_tables_and_keeps_gaps_out_of_the_headline():
    metrics = {"mitdb.cnn1d.gap_random.f1": 0.3, "mitdb.cnn1d.gap_random.f1_ci95": [0.1, 0.5]}
    assert run_all._headline_table(metrics) == []
    summary = {"profile": "smoke", "git_commit": "abc", "generated_at": "now", "python": "3.11",
               "tensorflow": "2", "notebooks": [], "metrics": metrics}
    text = run_all._markdown(summary, {"Leakage study (cnn1d)": "| a |\n|---|\n| 1 |"})
    assert "## Leakage study (cnn1d)\n\n| a |\n|---|\n| 1 |" in text


def test_keep_earlier_carries_other_notebooks_of_the_same_profile(reports, tmp_path,
                                                                  monkeypatch):
    from ecgutils import reporting

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("01_a", "02_b"):
        _write_notebook(notebooks / f"{name}.ipynb", ["x = 1"])
    monkeypatch.setattr(run_all, "NOTEBOOK_DIR", notebooks)
    reporting.export_metrics("01_a", {"mitdb.data.n_records": 48})
    reports.mkdir(exist_ok=True)
    (reports / "summary.json").write_text(json.dumps({
        "profile": "smoke", "git_commit": "old1234",
        "notebooks": [{"name": "01_a", "status": "ok", "wall_s": 3.0},
                      {"name": "02_b", "status": "failed", "wall_s": 1.0}]}))
    jobs = run_all.plan("smoke", "02", None, None)
    carried = run_all.earlier_jobs("smoke", jobs)
    assert [job.name for job in carried] == ["01_a"]  # 02_b runs now; failures are not kept
    assert carried[0].status == "ok (earlier run, commit old1234)"
    assert carried[0].metrics == {"mitdb.data.n_records": 48}
    assert run_all.earlier_jobs("default", jobs) == []  # another profile's run is not mixed in


def test_keep_earlier_merges_notebooks_run_by_separate_invocations(reports, tmp_path,
                                                                   monkeypatch):
    from ecgutils import reporting

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("01_a", "02_b", "03_c"):
        _write_notebook(notebooks / f"{name}.ipynb", ["x = 1"])
    monkeypatch.setattr(run_all, "NOTEBOOK_DIR", notebooks)
    reporting.export_metrics("02_b", {"mitdb.data.n_windows": 10})
    reports.mkdir(exist_ok=True)
    # The last summary was written by a run of 01_a alone; 02_b ran in another invocation and
    # left only its run record.
    (reports / "summary.json").write_text(json.dumps({
        "profile": "smoke", "git_commit": "old1234",
        "notebooks": [{"name": "01_a", "status": "ok", "wall_s": 3.0}]}))
    run_all.run_record_path("02_b").write_text(json.dumps(
        {"name": "02_b", "profile": "smoke", "status": "ok", "wall_s": 7.5, "commit": "new5678"}))
    carried = run_all.earlier_jobs("smoke", run_all.plan("smoke", "03", None, None))
    assert sorted(job.name for job in carried) == ["01_a", "02_b"]
    second = next(job for job in carried if job.name == "02_b")
    assert second.status == "ok (earlier run, commit new5678)" and second.wall_s == 7.5
    assert second.metrics == {"mitdb.data.n_windows": 10}
    # A record of another profile is not mixed in.
    assert run_all.earlier_jobs("default", run_all.plan("smoke", "03", None, None)) == []


def test_the_summary_shows_the_lever_table_the_detector_was_chosen_on(reports, tmp_path):
    reports.mkdir(exist_ok=True)
    (reports / "benchmarks-levers.md").write_text("# Detector levers\n\nProtocol.\n\n| a |\n")
    job = run_all.Job(tmp_path / "03b_detector.ipynb", {}, status="ok", wall_s=1.0)
    path = run_all.write_summary("smoke", [job])
    text = path.with_suffix(".md").read_text()
    assert f"## {run_all.LEVERS_TITLE}\n\nProtocol.\n\n| a |" in text
    other = run_all.Job(tmp_path / "01_explore.ipynb", {}, status="ok", wall_s=1.0)
    assert run_all.LEVERS_TITLE not in run_all.write_summary(
        "smoke", [other]).with_suffix(".md").read_text()


def test_summary_only_runs_nothing_and_merges_the_latest_runs(reports, tmp_path, monkeypatch):
    from ecgutils import reporting

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _write_notebook(notebooks / "01_a.ipynb", ["raise RuntimeError('must not run')"])
    monkeypatch.setattr(run_all, "NOTEBOOK_DIR", notebooks)
    reporting.export_metrics("01_a", {"mitdb.data.n_records": 48})
    run_all.run_record_path("01_a").write_text(json.dumps(
        {"name": "01_a", "profile": "smoke", "status": "ok", "wall_s": 2.0, "commit": "abc"}))
    assert run_all.main(["--profile", "smoke", "--summary-only"]) == 0
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["notebooks"][0]["status"] == "ok (earlier run, commit abc)"
    assert summary["metrics"] == {"mitdb.data.n_records": 48}
