"""Run folders: unique per run, published only when ok, pruned only as asked."""

import json

import pytest

from ecgutils import runs


def test_two_runs_started_in_the_same_second_get_their_own_folders():
    first = runs.start("smoke", "abc123", ["run_all.py"])
    second = runs.start("smoke", "abc123", ["run_all.py"])
    assert first.path != second.path and first.path.parent == second.path.parent
    assert json.loads((second.path / "run.json").read_text())["status"] == "running"


def test_a_run_whose_process_is_gone_reads_interrupted_and_is_never_published():
    run = runs.start("smoke", "abc123", ["run_all.py"])
    run.record["pid"] = 2**22 + 12345  # above Linux's pid_max: no such process
    assert run.status == "interrupted"
    runs.finish(run, "failed")
    with pytest.raises(ValueError, match="only a successful run is published"):
        runs.publish(run)
    with pytest.raises(ValueError, match="expected ok, failed or interrupted"):
        runs.finish(run, "done")


def test_only_the_default_profile_replaces_the_committed_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGUTILS_REPORTS_DIR", str(tmp_path))
    for profile in ("smoke", "default"):
        run = runs.start(profile, "abc123", ["run_all.py"])
        (run.path / "summary.json").write_text(f'{{"profile": "{profile}"}}')
        (run.path / "summary.md").write_text(profile)
        runs.finish(run, "ok")
        runs.publish(run)
        assert runs.latest(profile).path == run.path
    assert json.loads((tmp_path / "summary.json").read_text()) == {"profile": "default"}


def test_prune_keeps_the_published_run_and_running_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGUTILS_REPORTS_DIR", str(tmp_path))
    published = runs.start("smoke", "abc123", ["run_all.py"])
    runs.finish(published, "ok")
    runs.publish(published)
    running = runs.start("smoke", "abc123", ["run_all.py"])  # this process: alive
    old = runs.start("smoke", "abc123", ["run_all.py"])
    runs.finish(old, "failed")
    newest = runs.start("smoke", "abc123", ["run_all.py"])
    runs.finish(newest, "ok")
    assert runs.prune(1) == [old.path]
    assert [run.path for run in runs.list_runs("smoke")] == [published.path, running.path,
                                                            newest.path]
