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
        (["--parallel", "0"], "--parallel 0: expected at least 1 worker"),
        (["--parallel", "2", "--scheduler", "tcp://h:8786"], "not both"),
        (["--notebooks", "0"], "--notebooks 0: expected at least 1"),
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


def _toy_notebooks(tmp_path, monkeypatch, cells_by_name):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir(exist_ok=True)
    for name, cells in cells_by_name.items():
        _write_notebook(notebooks / f"{name}.ipynb", cells)
    monkeypatch.setattr(run_all, "NOTEBOOK_DIR", notebooks)
    return notebooks


def _export(name, value):
    """A notebook cell exporting one metric (into its run's folder, ECGUTILS_RUN_DIR)."""
    return (f"from ecgutils import reporting\n"
            f"reporting.export_metrics({name!r}, {{'mitdb.data.n_records': {value}}})")


def _only_run(reports, profile):
    (run,) = (reports / "runs" / profile).glob("*/run.json")
    return run.parent, json.loads(run.read_text())


def test_failing_cell_stops_the_run_and_names_notebook_and_cell(reports, tmp_path, monkeypatch,
                                                                 capsys):
    _toy_notebooks(tmp_path, monkeypatch, {
        "01_fine": ["x = 1"], "02_broken": ["y = 2", "raise ValueError('bad record')"],
        "03_never": ["z = 3"]})

    assert run_all.main(["--profile", "smoke"]) == 1
    err = capsys.readouterr().err
    assert "02_broken failed: cell 3 of the executed notebook" in err  # after papermill's
    assert "starting \"raise ValueError('bad record')\"" in err  # injected-parameters cell
    assert "ValueError: bad record" in err
    folder, record = _only_run(reports, "smoke")
    assert f"this run's partial outputs: {folder}" in err
    assert record["status"] == "failed"
    summary = json.loads((folder / "summary.json").read_text())
    statuses = {nb["name"]: nb["status"] for nb in summary["notebooks"]}
    assert statuses == {"01_fine": "ok", "02_broken": "failed", "03_never": "not run"}
    assert summary["run_id"] == folder.name
    assert (folder / "notebooks" / "02_broken.ipynb").exists()
    assert not (reports / "runs" / "smoke" / "LATEST").exists()  # nothing published


def test_a_failed_or_mistyped_run_leaves_the_published_results_intact(reports, tmp_path,
                                                                      monkeypatch, capsys):
    # The issue's sequence, with toy notebooks: a default run succeeds, then a mistyped run and
    # a failing run of another profile change none of its outputs.
    notebooks = _toy_notebooks(tmp_path, monkeypatch, {
        "01_a": [_export("01_a", 48)], "03_c": ["epochs = 1", _export("03_c", 7)]})
    assert run_all.main(["--profile", "default"]) == 0
    published = {name: (reports / name).read_text() for name in ("summary.json", "summary.md")}
    first, _ = _only_run(reports, "default")
    outputs = {path: path.read_bytes() for path in first.rglob("*") if path.is_file()}
    summary = json.loads(published["summary.json"])
    assert summary["run_id"] == first.name and summary["reports_dir"] == str(first)
    assert summary["metrics"] == {"mitdb.data.n_records": 7}
    assert (reports / "runs" / "default" / "LATEST").read_text().strip() == first.name

    _write_notebook(notebooks / "03_c.ipynb", ["epochs = None", "epochs < 3"])
    (notebooks / "03_c.ipynb").write_text((notebooks / "03_c.ipynb").read_text().replace(
        '"profile = None"', '"profile = None\\nepochs = None"'))
    assert run_all.main(["--profile", "smoke", "--only", "03", "-p", "epochs", '"many"']) == 2
    assert "parameter epochs='many': expected an integer, got str (smoke profile: 1)" \
        in capsys.readouterr().err
    assert not (reports / "runs" / "smoke").exists()  # nothing written
    _write_notebook(notebooks / "03_c.ipynb", ["raise RuntimeError('broken')"])
    assert run_all.main(["--profile", "default", "--only", "03"]) == 1
    assert {name: (reports / name).read_text() for name in published} == published
    assert {path: path.read_bytes() for path in first.rglob("*") if path.is_file()} == outputs
    assert (reports / "runs" / "default" / "LATEST").read_text().strip() == first.name


def test_keep_earlier_starts_from_a_copy_of_the_last_run_of_the_same_profile_and_commit(
        reports, tmp_path, monkeypatch, capsys):
    # 02_b reads 01_a's output: it finds it in its own run's folder, copied from the base run.
    reads_a = ("from ecgutils import reporting\n"
               "assert reporting.load_metrics('01_a') == {'mitdb.data.n_records': 48}")
    _toy_notebooks(tmp_path, monkeypatch, {"01_a": [_export("01_a", 48)],
                                           "02_b": [reads_a, "x = 1"]})
    assert run_all.main(["--profile", "smoke"]) == 0
    first, _ = _only_run(reports, "smoke")
    assert run_all.main(["--profile", "smoke", "--only", "02", "--keep-earlier"]) == 0
    second = next(path for path in (reports / "runs" / "smoke").iterdir()
                  if path.is_dir() and path != first)
    record = json.loads((second / "run.json").read_text())
    assert record["base_run"] == first.name and record["notebooks"] == ["02_b"]
    summary = json.loads((second / "summary.json").read_text())
    statuses = {nb["name"]: nb["status"] for nb in summary["notebooks"]}
    assert statuses["01_a"].startswith("ok (earlier run, commit ")
    assert statuses["02_b"] == "ok"
    assert summary["metrics"] == {"mitdb.data.n_records": 48}
    # Rebuilt (--summary-only), the summary still tells what this run ran from what it carried.
    assert run_all.main(["--profile", "smoke", "--summary-only"]) == 0
    rebuilt = json.loads((second / "summary.json").read_text())
    assert {nb["name"]: nb["status"] for nb in rebuilt["notebooks"]} == statuses
    # Without --keep-earlier 02_b finds nothing of 01_a: no shared folder is read.
    assert run_all.main(["--profile", "smoke", "--only", "02"]) == 1
    # An earlier run made by other code is not mixed in unless asked for.
    monkeypatch.setattr("ecgutils.reporting.git_commit", lambda: "0123456789ab")
    capsys.readouterr()
    assert run_all.main(["--profile", "smoke", "--only", "02", "--keep-earlier"]) == 2
    assert "pass --any-commit" in capsys.readouterr().err
    assert run_all.main(["--profile", "smoke", "--only", "02", "--base-run", first.name,
                         "--any-commit"]) == 0
    # Another profile has no earlier run to start from.
    assert run_all.main(["--profile", "default", "--only", "02", "--keep-earlier"]) == 2


def test_parallel_tells_the_notebooks_kernels_where_folds_run(reports, tmp_path, monkeypatch):
    from ecgutils import cluster

    monkeypatch.setenv(cluster.WORKERS_ENV, "1")  # restored after the test
    _toy_notebooks(tmp_path, monkeypatch, {"01_workers": [
        "import os\nfrom ecgutils import cluster, reporting\n"
        "reporting.export_metrics('01_workers', "
        "{'mitdb.folds.workers': cluster.fold_workers()[0]})"]})
    assert run_all.main(["--profile", "smoke", "--parallel", "3"]) == 0
    run, _ = _only_run(reports, "smoke")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["metrics"]["mitdb.folds.workers"] == 3


def _stamp(name, seconds=0.0):
    """A cell that sleeps ``seconds`` between writing ``<name>.start`` and ``<name>.end`` (each
    holding time.time()) into the run's folder."""
    return (f"import os, time\nfrom pathlib import Path\n"
            f"folder = Path(os.environ['ECGUTILS_RUN_DIR'])\n"
            f"(folder / '{name}.start').write_text(repr(time.time()))\n"
            f"time.sleep({seconds})\n"
            f"(folder / '{name}.end').write_text(repr(time.time()))")


def test_notebooks_at_once_run_side_by_side_and_wait_for_what_they_need(reports, tmp_path,
                                                                         monkeypatch, capsys):
    _toy_notebooks(tmp_path, monkeypatch, {
        "01_slow": [_stamp("01_slow", 4.0), _export("01_slow", 1)],
        "02_quick": [_stamp("02_quick")], "03_after": [_stamp("03_after")]})
    monkeypatch.setattr(run_all, "NEEDS", {"03_after": ("01_slow",)})
    assert run_all.main(["--profile", "smoke", "--notebooks", "2"]) == 0
    folder, record = _only_run(reports, "smoke")
    at = {f"{name}.{edge}": float((folder / f"{name}.{edge}").read_text())
          for name in ("01_slow", "02_quick", "03_after") for edge in ("start", "end")}
    assert at["02_quick.start"] < at["01_slow.end"]  # side by side
    assert at["03_after.start"] > at["01_slow.end"]  # after what it needs
    summary = json.loads((folder / "summary.json").read_text())
    assert {nb["name"]: nb["status"] for nb in summary["notebooks"]} == {
        "01_slow": "ok", "02_quick": "ok", "03_after": "ok"}
    assert summary["metrics"]["mitdb.data.n_records"] == 1  # metrics come back from the child
    assert record["status"] == "ok"


def test_a_failing_notebook_stops_the_notebooks_running_beside_it(reports, tmp_path,
                                                                  monkeypatch, capsys):
    _toy_notebooks(tmp_path, monkeypatch, {
        "01_slow": [_stamp("01_slow", 120.0)],
        "02_broken": ["import time\ntime.sleep(2)", "raise ValueError('bad record')"],
        "03_after": ["x = 1"]})
    monkeypatch.setattr(run_all, "NEEDS", {"03_after": ("02_broken",)})
    assert run_all.main(["--profile", "smoke", "--notebooks", "2"]) == 1
    err = capsys.readouterr().err
    assert "02_broken failed: cell 3 of the executed notebook" in err
    assert "ValueError: bad record" in err
    folder, record = _only_run(reports, "smoke")
    assert record["status"] == "failed"
    assert not (folder / "01_slow.end").exists()  # stopped, not waited for
    summary = json.loads((folder / "summary.json").read_text())
    assert {nb["name"]: nb["status"] for nb in summary["notebooks"]} == {
        "01_slow": "interrupted", "02_broken": "failed", "03_after": "not run"}
    assert not (reports / "runs" / "smoke" / "LATEST").exists()


def test_list_and_prune_show_and_remove_only_what_is_asked(reports, tmp_path, monkeypatch,
                                                           capsys):
    _toy_notebooks(tmp_path, monkeypatch, {"01_a": ["x = 1"]})
    for _ in range(3):
        assert run_all.main(["--profile", "smoke"]) == 0
    capsys.readouterr()
    assert run_all.main(["--list"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("\nsmoke ") == 3 and listing.count("(published)") == 1
    runs_before = sorted((reports / "runs" / "smoke").glob("*/run.json"))
    assert run_all.main(["--prune", "1"]) == 0
    kept = sorted((reports / "runs" / "smoke").glob("*/run.json"))
    assert kept == runs_before[-1:]  # the newest, which is also the published one
    assert run_all.main(["--prune", "-1"]) == 2


def test_an_unwritable_reports_folder_is_one_clear_error(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the reports folder should be")
    monkeypatch.setenv("ECGUTILS_REPORTS_DIR", str(blocker / "reports"))
    _toy_notebooks(tmp_path, monkeypatch, {"01_a": ["x = 1"]})
    assert run_all.main(["--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "cannot write this run's outputs under" in err and "Traceback" not in err


@pytest.mark.slow
def test_smoke_profile_runs_every_notebook_and_writes_the_summary(reports, mitdb_root, cinc_root):
    # Two at a time, as `make smoke` runs them: run_all.NEEDS must hold every notebook's
    # inputs, or a notebook here starts before what it reads exists and fails.
    assert run_all.main(["--profile", "smoke", "--notebooks", "2"]) == 0
    folder = reports / "runs" / "smoke" / (reports / "runs" / "smoke" / "LATEST").read_text(
        ).strip()
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary) == {"profile", "run_id", "reports_dir", "git_commit", "generated_at",
                            "python", "tensorflow", "notebooks", "metrics", "tables", "elapsed",
                            "targets"}
    assert summary["elapsed"]["notebooks_at_once"] == 2
    assert len(summary["elapsed"]["notebooks"]) == len(summary["notebooks"])
    assert not (reports / "summary.json").exists()  # only the default profile's is published
    assert summary["profile"] == "smoke"
    names = [nb["name"] for nb in summary["notebooks"]]
    assert names == sorted(p.stem for p in run_all.NOTEBOOK_DIR.glob("[0-9][0-9]*_*.ipynb"))
    assert all(nb["status"] == "ok" for nb in summary["notebooks"])
    # The smoke records 201+202 are one patient: 6 records, 5 patients.
    assert summary["metrics"]["mitdb.data.n_records"] == 6
    assert summary["metrics"]["mitdb.data.n_patients"] == 5
    assert summary["metrics"]["mitdb.data.af_episodes"] == 3 + 4 + 21 + 9
    markdown = (folder / "summary.md").read_text()
    assert "| 01_explore | ok |" in markdown
    assert (folder / "figures" / "01_af_vs_sinus_strip.png").stat().st_size > 10_000


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


def test_notebooks_heading_the_longest_chain_of_work_start_first(tmp_path):
    jobs = [run_all.Job(tmp_path / f"{name}.ipynb", {}) for name in
            ("01_explore", "02_preprocess", "03_cnn1d", "03b_detector", "03c_features",
             "04_cnn2d", "05_leakage_study")]
    names = lambda ordered: [job.name for job in ordered]  # noqa: E731
    assert names(run_all.critical_order(jobs, {})) == names(jobs)  # no times: notebook order
    times = {"01_explore": 10, "02_preprocess": 80, "03_cnn1d": 1100, "03b_detector": 800,
             "03c_features": 400, "04_cnn2d": 800, "05_leakage_study": 700}
    # 02 precedes all; 03 (1100 + 700) and 04 (800 + 700) lead to 05, 03b only to 03c (1200).
    assert names(run_all.critical_order(jobs, times)) == [
        "02_preprocess", "03_cnn1d", "04_cnn2d", "03b_detector", "05_leakage_study",
        "03c_features", "01_explore"]
    # A notebook without a time counts as the median one; ties keep notebook order.
    del times["04_cnn2d"]
    assert names(run_all.critical_order(jobs, times))[:3] == [
        "02_preprocess", "03_cnn1d", "04_cnn2d"]


def test_a_fresh_clone_takes_the_wall_times_from_the_committed_summary_of_its_profile(reports):
    reports.mkdir()
    assert run_all._published_wall_times("default") == {}  # no run, no summary: notebook order
    summary = {"profile": "default", "notebooks": [
        {"name": "03_cnn1d", "status": "ok", "wall_s": 1100.0},
        {"name": "05_leakage_study", "status": "ok (earlier run, commit abc)", "wall_s": 700.0},
        {"name": "04_cnn2d", "status": "failed", "wall_s": 5.0}]}
    (reports / "summary.json").write_text(json.dumps(summary))
    assert run_all._published_wall_times("default") == {"03_cnn1d": 1100.0,
                                                        "05_leakage_study": 700.0}
    assert run_all._published_wall_times("smoke") == {}  # another profile's times are not used


def test_a_run_record_without_its_wall_time_gives_its_start_to_end_time():
    record = {"status": "ok", "started": "2026-12-02T09:48:04+00:00",
              "ended": "2026-12-02T10:40:10+00:00", "notebooks": ["01_explore", "02_preprocess"],
              "argv": ["run_all.py", "--profile", "default", "--notebooks", "2"]}
    assert run_all.run_elapsed(record) == {"elapsed_s": 3126.0, "notebooks_at_once": 2,
                                        "notebooks": ["01_explore", "02_preprocess"]}
    assert run_all.run_elapsed({**record, "argv": ["run_all.py"]})["notebooks_at_once"] == 1
    assert run_all.run_elapsed({**record, "argv": ["run_all.py", "--notebooks=3"]})[
        "notebooks_at_once"] == 3
    assert run_all.run_elapsed({**record, "elapsed_s": 12.5})["elapsed_s"] == 12.5
    assert run_all.run_elapsed({**record, "status": "running"}) is None
    assert run_all.run_elapsed({"status": "ok"}) is None


def test_summary_only_runs_nothing_and_merges_the_steps_latest_results(reports, tmp_path,
                                                                      monkeypatch):
    from ecgutils import reporting

    notebooks = _toy_notebooks(tmp_path, monkeypatch, {"01_a": [_export("01_a", 48)]})
    assert run_all.main(["--profile", "smoke"]) == 0
    folder, _ = _only_run(reports, "smoke")
    first = json.loads((folder / "summary.json").read_text())
    # The run's own wall time: this run's notebooks, how many at once.
    assert first["elapsed"]["notebooks"] == ["01_a"]
    assert first["elapsed"]["notebooks_at_once"] == 1
    assert 0 < first["elapsed"]["elapsed_s"] < 600
    assert "This run's wall time: **" in (folder / "summary.md").read_text()
    _write_notebook(notebooks / "01_a.ipynb", ["raise RuntimeError('must not run')"])
    # A step outside the notebooks (make model) left its record in the published folder.
    reporting.export_metrics("release", {"release.detector.cv.f1": 0.7})
    run_all.run_record_path("release").write_text(json.dumps(
        {"name": "release", "profile": "smoke", "status": "ok", "wall_s": 2.0, "commit": "abc"}))
    assert run_all.main(["--profile", "smoke", "--summary-only"]) == 0
    folder, _ = _only_run(reports, "smoke")
    summary = json.loads((folder / "summary.json").read_text())
    statuses = {nb["name"]: nb["status"] for nb in summary["notebooks"]}
    assert statuses["release"] == "ok (earlier run, commit abc)"
    # The run's own notebook is its own, not an earlier run's, when its summary is rebuilt.
    assert statuses["01_a"] == "ok"
    assert summary["metrics"] == {"mitdb.data.n_records": 48, "release.detector.cv.f1": 0.7}
    assert summary["elapsed"] == first["elapsed"]  # the rebuild keeps the run's wall time
    assert run_all.main(["--profile", "default", "--summary-only"]) == 2  # no default run


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-p", "epochs", '"many"'], "parameter epochs='many': expected an integer, got str"),
        (["-p", "epochs", "-1"], "parameter epochs=-1: out of range, expected a value in [1, "),
        (["-p", "n_splits", "0"], "parameter n_splits=0: out of range"),
        (["-p", "records", "[201]"], "parameter records=[201]: item 0: expected a string"),
        (["-p", "four_classes", "1"], "expected True or False, got int (default in 03b"),
        (["-p", "threshold", "0.5"], "expected a string"),
        (["-p", "monitor", '"val_auc"'], "expected one of val_pr_auc, val_loss"),
        (["-p", "learning_rate", "0"], "out of range, expected a value in (0, inf)"),
        (["-p", "learning_rate", "None"], "parameter learning_rate=None: expected a number"),
    ],
)
def test_mistyped_or_out_of_range_parameters_fail_before_anything_is_written(reports, capsys,
                                                                             argv, message):
    assert run_all.main(["--profile", "smoke", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not reports.exists()


def test_every_parameter_line_of_every_notebook_is_seen_by_papermill():
    import papermill

    for notebook in sorted(run_all.NOTEBOOK_DIR.glob("[0-9][0-9]*_*.ipynb")):
        cell = next(c for c in nbformat.read(notebook, as_version=4).cells
                    if "parameters" in c.metadata.get("tags", []))
        assigned = [line.split("=")[0].strip() for line in cell.source.splitlines()
                    if line and not line.startswith("#")]
        assert list(papermill.inspect_notebook(str(notebook))) == assigned, notebook.name


def _run_all_process(reports, *argv):
    """``python run_all.py ARGV`` in a subprocess writing into ``reports``."""
    import os
    import subprocess

    env = dict(os.environ, ECGUTILS_REPORTS_DIR=str(reports))
    return subprocess.Popen([sys.executable, str(config.PROJECT_ROOT / "run_all.py"), *argv],
                            env=env, cwd=config.PROJECT_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_a_real_notebook_failing_on_a_bad_record_leaves_earlier_runs_intact(reports, mitdb_root):
    earlier = _run_all_process(reports, "--profile", "smoke", "--only", "01")
    assert earlier.wait(timeout=600) == 0, earlier.stdout.read()
    first, _ = _only_run(reports, "smoke")
    before = {path: path.read_bytes() for path in first.rglob("*") if path.is_file()}
    failing = _run_all_process(reports, "--profile", "smoke", "--only", "01",
                               "-p", "records", "['100', '999']")
    output = failing.communicate(timeout=600)[0]
    assert failing.returncode == 1
    assert "01_explore failed: cell" in output and "999" in output
    assert {path: path.read_bytes() for path in first.rglob("*") if path.is_file()} == before
    assert (reports / "runs" / "smoke" / "LATEST").read_text().strip() == first.name


@pytest.mark.slow
def test_sigterm_marks_the_run_interrupted_and_publishes_nothing(reports, mitdb_root):
    import signal
    import time

    reports.mkdir(parents=True, exist_ok=True)
    (reports / "summary.json").write_text('{"published": "before"}')
    process = _run_all_process(reports, "--profile", "smoke", "--only", "01")
    deadline = time.monotonic() + 300
    # Wait until the notebook is executing (papermill saves it after each cell).
    while not list((reports / "runs" / "smoke").glob("*/notebooks/01_explore.ipynb")):
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 130, output
    folder, record = _only_run(reports, "smoke")
    assert record["status"] == "interrupted"
    assert f"this run's partial outputs: {folder}" in output
    statuses = {nb["name"]: nb["status"] for nb in
                json.loads((folder / "summary.json").read_text())["notebooks"]}
    assert statuses == {"01_explore": "interrupted"}
    assert not (reports / "runs" / "smoke" / "LATEST").exists()
    assert (reports / "summary.json").read_text() == '{"published": "before"}'


@pytest.mark.slow
def test_two_runs_of_different_profiles_at_once_do_not_collide(reports, mitdb_root, cinc_root):
    smoke = _run_all_process(reports, "--profile", "smoke", "--only", "01")
    default = _run_all_process(reports, "--profile", "default", "--only", "01",
                               "-p", "records", "['100', '201', '203']",
                               "-p", "cinc_max_records", "40")
    assert smoke.wait(timeout=600) == 0, smoke.stdout.read()
    assert default.wait(timeout=600) == 0, default.stdout.read()
    smoke_run, _ = _only_run(reports, "smoke")
    default_run, _ = _only_run(reports, "default")
    assert json.loads((smoke_run / "summary.json").read_text())["metrics"][
        "mitdb.data.n_records"] == 6
    published = json.loads((reports / "summary.json").read_text())
    assert published["run_id"] == default_run.name and published["profile"] == "default"
    assert published["metrics"]["mitdb.data.n_records"] == 3
    for folder in (smoke_run, default_run):
        assert (folder / "figures" / "01_af_vs_sinus_strip.png").stat().st_size > 10_000


def _export_table(name, title):
    return (f"from ecgutils import reporting\n"
            f"reporting.export_table({name!r}, {title!r}, '| a |\\n|---|\\n| 1 |')")


def test_base_run_committed_carries_the_committed_summary_of_a_fresh_clone(
        reports, tmp_path, monkeypatch, capsys):
    import shutil

    notebooks = _toy_notebooks(tmp_path, monkeypatch, {
        "01_a": [_export("01_a", 48), _export_table("01_a", "Table of 01")],
        "02_b": ["from ecgutils import reporting\n"
                 "reporting.export_metrics('02_b', {'cinc2017.data.n_records': 5})"]})
    assert run_all.main(["--profile", "default"]) == 0
    shutil.rmtree(reports / "runs")  # a fresh clone: the committed summary, no run folders
    assert run_all.main(["--profile", "default", "--only", "02", "--keep-earlier"]) == 2
    assert "--base-run committed" in capsys.readouterr().err
    assert run_all.main(["--profile", "smoke", "--only", "02", "--base-run", "committed"]) == 2
    assert "is of profile 'default', not 'smoke'" in capsys.readouterr().err

    _write_notebook(notebooks / "01_a.ipynb", ["raise RuntimeError('must not run')"])
    _write_notebook(notebooks / "02_b.ipynb", [
        "from ecgutils import reporting\n"
        "reporting.export_metrics('02_b', {'cinc2017.data.n_records': 6})"])
    assert run_all.main(["--profile", "default", "--only", "02", "--base-run", "committed"]) == 0
    folder, record = _only_run(reports, "default")
    assert record["base_run"] == "committed"
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["run_id"] == folder.name
    entries = {nb["name"]: nb for nb in summary["notebooks"]}
    assert entries["01_a"]["status"].startswith("ok (earlier run, commit ")
    assert entries["01_a"]["metric_keys"] == ["mitdb.data.n_records"]
    assert entries["02_b"]["status"] == "ok"
    assert summary["metrics"] == {"mitdb.data.n_records": 48, "cinc2017.data.n_records": 6}
    assert "unattributed" not in summary
    assert "## Table of 01" in (reports / "summary.md").read_text()


def test_an_older_committed_summary_is_carried_as_one_unattributed_block(
        reports, tmp_path, monkeypatch):
    # A summary written before entries named their metrics: what a notebook exports again
    # replaces its carried value; the rest stays, said so, until a whole run replaces it.
    reports.mkdir()
    (reports / "summary.json").write_text(json.dumps({
        "profile": "default", "run_id": "old", "git_commit": "abc",
        "notebooks": [{"name": "01_a", "status": "ok", "wall_s": 3.0, "commit": "abc"},
                      {"name": "02_b", "status": "ok", "wall_s": 4.0, "commit": "abc"}],
        "metrics": {"mitdb.data.n_records": 48, "cinc2017.data.n_records": 5}}))
    (reports / "summary.md").write_text(
        "# Latest\n\n## Old table\n\n| a |\n|---|\n| 1 |\n\n## Table of 02\n\nstale\n\n"
        "All exported metrics:\n\n| metric | value |\n")
    _toy_notebooks(tmp_path, monkeypatch, {
        "01_a": ["raise RuntimeError('must not run')"],
        "02_b": ["from ecgutils import reporting\n"
                 "reporting.export_metrics('02_b', {'cinc2017.data.n_records': 6})",
                 _export_table("02_b", "Table of 02")]})
    assert run_all.main(["--profile", "default", "--only", "02", "--base-run", "committed"]) == 0
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["metrics"] == {"mitdb.data.n_records": 48, "cinc2017.data.n_records": 6}
    assert summary["unattributed"] == {"source": "summary of run old, commit abc",
                                       "metrics": ["mitdb.data.n_records"],
                                       "tables": ["Old table"]}
    assert summary["tables"]["Table of 02"] == "| a |\n|---|\n| 1 |"
    markdown = (reports / "summary.md").read_text()
    assert "1 metric(s) and 1 table(s) that no notebook of this run exported again" in markdown
    assert "## Old table" in markdown and "stale" not in markdown
    # A later run on top of this summary carries the block on, again less what is re-exported.
    assert run_all.main(["--profile", "default", "--only", "02", "--base-run", "committed"]) == 0
    again = json.loads((reports / "summary.json").read_text())
    assert again["unattributed"] == summary["unattributed"]
    assert again["metrics"] == summary["metrics"]


def test_the_summary_scores_the_issues_targets_from_its_metrics_and_the_benchmarks(reports,
                                                                                  tmp_path):
    reports.mkdir(exist_ok=True)
    job = run_all.Job(tmp_path / "03b_detector.ipynb", {}, status="ok", wall_s=1.0,
                      metrics={"cinc2017.detector.grouped.f1": 0.9})
    path = run_all.write_summary("smoke", [job])
    text = path.with_suffix(".md").read_text()
    assert "## Against the issues' targets" in text
    assert ("| 10 | CinC 2017 record-level AF F1, record-grouped out of fold | detector | 0.9 "
            "| ≥ 0.85 | yes |") in text
    assert "scanner, × real time" not in text  # no reports/benchmarks.json yet
    (reports / "benchmarks.json").write_text(json.dumps(
        {"keys": {"scanner.detector.realtime_factor": 4000.0}}))
    summary = json.loads(run_all.write_summary("smoke", [job]).read_text())
    assert summary["targets"][-1]["measured"] == "4,000" and summary["targets"][-1]["met"] == "no"
