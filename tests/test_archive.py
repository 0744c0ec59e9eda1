"""Archive scanning on Dask (ecgutils.archive): the same results and annotation files as
``ecgutils.detect.scan``, failed records reported while the rest are scanned, a scheduler
given by its address, and the command line.

The records are 10-minute excerpts of real mitdb records (203 and 201 hold AF, 100 none),
scanned with the packaged bundle. The cluster's workers are threads of the test process
(``processes=False``): it starts in a second where two worker processes would each import
TensorFlow and load the bundle for many seconds on a busy 2-core CI machine, and the code
path of a task is the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb

from ecgutils import archive, detect
from ecgutils.bundle import BundleError

pytest.importorskip("distributed")

EXCERPT_S = 600.0
COMPARED = ["record", "lead", "fs", "duration_s", "n_windows", "record_prob", "af",
            "af_burden", "n_episodes", "episodes"]


def _write_record(folder: Path, name: str, column: np.ndarray) -> Path:
    wfdb.wrsamp(name, fs=360.0, units=["mV"], sig_name=["MLII"], p_signal=column[:, None],
                fmt=["16"], write_dir=str(folder))
    return folder / name


def _lead(mitdb_root: Path, name: str, seconds: float) -> np.ndarray:
    return wfdb.rdrecord(str(mitdb_root / name), channels=[0],
                         sampto=int(seconds * 360)).p_signal[:, 0].copy()


@pytest.fixture(scope="module")
def excerpts(mitdb_root, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("records")
    paths = {name: _write_record(folder, name, _lead(mitdb_root, name, EXCERPT_S))
             for name in ("203", "201", "100")}
    gap = _lead(mitdb_root, "100", EXCERPT_S)
    gap[3600:3960] = np.nan                     # 10.00 s to 11.00 s
    paths["gap"] = _write_record(folder, "gap", gap)
    paths["short"] = _write_record(folder, "short", _lead(mitdb_root, "100", 5.0))
    return paths


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0", scheduler_kwargs={"dashboard": False}) as local:
        yield local


@pytest.fixture(scope="module")
def reference(excerpts, tmp_path_factory) -> pd.DataFrame:
    """``detect.scan`` on the three good excerpts, one after the other in this process."""
    out = tmp_path_factory.mktemp("reference")
    return detect.scan([excerpts[n] for n in ("203", "201", "100")], out_dir=out,
                       show_progress=False)


def test_archive_scan_matches_detect_scan_and_writes_one_file_per_record(
        excerpts, cluster, reference, tmp_path):
    paths = [excerpts[n] for n in ("203", "201", "100")]
    table, failures = archive.scan_archive(paths, scheduler=cluster.scheduler_address,
                                           out_dir=tmp_path)
    assert failures.empty
    assert table["record"].tolist() == ["203", "201", "100"]  # the order given
    pd.testing.assert_frame_equal(table[COMPARED], reference[COMPARED])
    assert table["af"].tolist() == [True, True, False]        # both decisions occur
    assert (table["n_episodes"].iloc[:2] > 0).all()
    # One annotation file per record, byte for byte the file detect.scan wrote.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["100.afx", "201.afx", "203.afx"]
    for row, ref in zip(table.to_dict("records"), reference.to_dict("records"), strict=True):
        assert row["annotation"] == str(tmp_path / f"{row['record']}.afx")
        assert Path(row["annotation"]).read_bytes() == Path(ref["annotation"]).read_bytes()


def test_each_worker_loads_the_bundle_once_and_every_task_reuses_it(excerpts, cluster):
    from distributed import Client

    def plugin_state(dask_worker):
        bundle = dask_worker.plugins[archive.PLUGIN_NAME].bundle
        return id(bundle), bundle is detect.packaged_bundle()

    paths = [excerpts[n] for n in ("203", "201", "100")] * 2
    table, _ = archive.scan_archive(paths, scheduler=cluster.scheduler_address,
                                    extension=None)
    assert table["bundle_reused"].tolist() == [True] * 6
    # The address given was used: every task ran on one of that cluster's two workers.
    assert set(table["worker"]) <= set(cluster.scheduler_info["workers"])
    with Client(cluster.scheduler_address) as client:
        before = client.run(plugin_state)
        again, _ = archive.scan_archive(paths[:2], scheduler=client, extension=None)
        after = client.run(plugin_state)
    assert [loaded for _, loaded in before.values()] == [True, True]
    # Used again, each worker keeps the very bundle object it loaded: nothing is reloaded.
    assert after == before
    assert again["bundle_reused"].tolist() == [True, True]


def test_failed_records_are_reported_and_the_others_are_scanned(excerpts, cluster, reference,
                                                               tmp_path):
    missing = excerpts["203"].parent / "nowhere"
    paths = [excerpts["gap"], excerpts["203"], missing, excerpts["short"], excerpts["100"]]
    table, failures = archive.scan_archive(paths, scheduler=cluster.scheduler_address,
                                           out_dir=tmp_path)
    assert table["record"].tolist() == ["203", "100"]
    expected = reference.set_index("record").loc[["203", "100"]].reset_index()
    pd.testing.assert_frame_equal(table[COMPARED], expected[COMPARED])
    assert failures["record"].tolist() == ["gap", "nowhere", "short"]
    assert failures["path"].tolist() == [str(excerpts["gap"]), str(missing),
                                         str(excerpts["short"])]
    assert failures["error"].tolist() == ["SignalQualityError", "RecordFormatError",
                                          "RecordFormatError"]
    messages = failures["message"].tolist()
    assert "the first span runs from 10.00 s to 11.00 s" in messages[0]
    assert messages[1] == f"no such WFDB record: {missing}.hea does not exist"
    assert "lasts 5.0 s, shorter than the 9 s this model needs" in messages[2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["100.afx", "203.afx"]


def test_reference_scoring_and_live_replay_are_passed_to_detect_scan(mitdb_root, cluster):
    options = {"extension": None, "reference": "atr", "stream": True, "chunk_s": 5.0}
    table, failures = archive.scan_archive([mitdb_root / "203"],
                                           scheduler=cluster.scheduler_address, **options)
    expected = detect.scan([mitdb_root / "203"], show_progress=False, **options)
    assert failures.empty
    scored = ["episode_se", "episode_ppv", "duration_se", "duration_ppv", "onset_delays_s"]
    pd.testing.assert_frame_equal(table[COMPARED + scored], expected[COMPARED + scored])
    assert table["episode_se"].iloc[0] > 0.5   # 203 is mostly AF: the scorer saw its episodes


def test_a_local_cluster_is_started_when_no_scheduler_is_given(excerpts, reference):
    table, failures = archive.scan_archive([excerpts["201"]], n_workers=1, processes=False,
                                           extension=None)
    assert failures.empty
    expected = reference[reference["record"] == "201"].reset_index(drop=True)
    pd.testing.assert_frame_equal(table[COMPARED], expected[COMPARED])
    assert "annotation" not in table


def test_a_bundle_the_workers_cannot_load_fails_before_any_record(excerpts, cluster, tmp_path):
    with pytest.raises(BundleError, match=r"no model bundle at .*nowhere"):
        archive.scan_archive([excerpts["203"]], scheduler=cluster.scheduler_address,
                             model=tmp_path / "nowhere", out_dir=tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())


def test_records_that_would_share_an_annotation_file_are_refused(excerpts, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    twin = _write_record(other, "203", np.zeros(3600))
    with pytest.raises(ValueError, match=r"records .*203 and .*203 would write the same "
                                         r"annotation file"):
        archive.scan_archive([excerpts["203"], twin], out_dir=tmp_path / "out")
    with pytest.raises(ValueError, match="n_workers applies to a local cluster"):
        archive.scan_archive([excerpts["203"]], scheduler="tcp://127.0.0.1:1", n_workers=2)
    with pytest.raises(ValueError, match="no records to scan"):
        archive.scan_archive([])


def test_cli_scans_on_the_given_scheduler_and_exits_1_when_a_record_failed(
        excerpts, cluster, reference, tmp_path, capsys):
    csv, failed = tmp_path / "table.csv", tmp_path / "failures.csv"
    code = archive.main([str(excerpts["203"]), str(excerpts["gap"]), str(excerpts["100"]),
                         "--scheduler", cluster.scheduler_address, "--out-dir",
                         str(tmp_path / "ann"), "--csv", str(csv), "--failures", str(failed)])
    captured = capsys.readouterr()
    assert code == 1
    rows = pd.read_csv(csv)
    assert rows["record"].astype(str).tolist() == ["203", "100"]
    expected = reference.set_index("record").loc[["203", "100"]]
    assert rows["record_prob"].tolist() == expected["record_prob"].tolist()
    assert pd.read_csv(failed)["record"].tolist() == ["gap"]
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == ["100.afx", "203.afx"]
    assert f"FAILED {excerpts['gap']}: SignalQualityError:" in captured.err
    assert "scanned 2 of 3 record(s)" in captured.err
    assert captured.out.startswith("203: AF probability ")


def test_cli_refuses_workers_with_a_scheduler(capsys):
    with pytest.raises(SystemExit) as exc:
        archive.main(["rec", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"])
    assert exc.value.code == 2
    assert "--workers sets the local cluster's size; not with --scheduler" in \
        capsys.readouterr().err


def test_ecg_af_scan_with_a_scheduler_reports_a_bad_record_and_writes_the_others(
        excerpts, cluster, tmp_path, capsys):
    code = detect.main(["scan", str(excerpts["203"]), str(excerpts["gap"]), "--scheduler",
                        cluster.scheduler_address, "--out-dir", str(tmp_path), "--json"])
    captured = capsys.readouterr()
    assert code == 1  # one record failed, the other was scanned and written
    assert "gap" in captured.err and "NaN" in captured.err
    rows = json.loads(captured.out)
    assert [row["record"] for row in rows] == ["203"] and rows[0]["af"]
    assert (tmp_path / "203.afx").is_file() and not (tmp_path / "gap.afx").exists()
    with pytest.raises(SystemExit) as refused:
        detect.main(["scan", str(excerpts["203"]), "--workers", "0"])
    assert refused.value.code == 2
