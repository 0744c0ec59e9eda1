"""Explore tables on the real mitdb and CinC 2017 records."""

import pytest

from ecgutils import explore


@pytest.fixture(scope="module")
def af_records(mitdb_root):
    return explore.load_records("mitdb", ["100", "201", "202", "217", "222"])


def test_record_table_has_real_af_seconds_episodes_and_burden(af_records):
    table = explore.record_table(af_records).set_index("record")
    assert table.loc["201", "af_episodes"] == 3
    assert table.loc["201", "af_s"] == pytest.approx(605.8, abs=0.05)
    assert table.loc["202", "afl_s"] == pytest.approx(47.9, abs=0.05)
    assert table.loc["100", "af_s"] == 0
    assert table.loc["201", "af_burden"] == pytest.approx(605.8 / 1805.556, abs=1e-4)
    assert table.loc["201", "lead"] == "MLII"


def test_patient_table_merges_records_201_and_202(af_records):
    by_patient = explore.patient_table(explore.record_table(af_records)).set_index("patient_id")
    assert len(by_patient) == 4
    assert by_patient.loc["mitdb:201", "records"] == "201+202"
    assert by_patient.loc["mitdb:201", "af_episodes"] == 7
    assert by_patient.loc["mitdb:201", "af_s"] == pytest.approx(605.8 + 586.3, abs=0.1)


def test_short_af_episodes_leave_record_222_without_af_windows_under_the_half_rule(af_records):
    table = explore.window_labelling_table(af_records, window_s=20.0, threshold=0.5)
    table = table.set_index("record")
    assert "100" not in table.index  # no AF, no row
    assert table.loc["222", "windows"] == 90
    assert table.loc["222", "pure_af"] == 0
    assert table.loc["222", "labelled_af"] <= 3
    # Every window is pure AF, pure non-AF or mixed.
    assert (table["pure_af"] + table["pure_non_af"] + table["mixed"] == table["windows"]).all()


def test_episode_table_lists_every_af_episode(af_records):
    episodes = explore.episode_table(af_records)
    assert len(episodes) == 3 + 4 + 24 + 24
    assert episodes["duration_s"].min() > 0


def test_af_beats_are_more_irregular_than_sinus_in_record_202(af_records):
    table = explore.rr_irregularity_table(af_records).set_index("record")
    assert table.loc["202", "irregularity_af"] > 3 * table.loc["202", "irregularity_non_af"]


def test_strip_record_has_af_and_sinus_strips(af_records):
    rec = explore.pick_strip_record(af_records)
    assert rec.name == "201"
    start, end = explore.strip_with_label(rec, "AFIB", 10.0)
    assert end - start == pytest.approx(10.0)
    with pytest.raises(ValueError, match="no AFL interval"):
        explore.strip_with_label(rec, "AFL", 10.0)
    with pytest.raises(ValueError, match="not among the records"):
        explore.pick_strip_record(af_records, "999")


def test_cinc_table_gives_classes_and_header_durations(cinc_root):
    table = explore.cinc_table("v3", max_records=50)
    assert len(table) == 50
    first = table.iloc[0]
    assert (first["record"], first["label"], first["duration_s"]) == ("A00001", "N", 30.0)
    metrics = explore.cinc_headline_metrics(table)
    assert metrics["cinc2017.data.n_records"] == 50


def test_cinc_label_sets_disagree_on_about_five_percent(cinc_root):
    table = explore.cinc_label_sets_table().set_index("label_set")
    assert table.loc["v3", "A"] == 681
    assert table.loc["original", "~"] == 41
    assert table.loc["original", "agreement_with_v3"] == pytest.approx(0.9509, abs=1e-4)
