import numpy as np
import pytest

from ecgutils import records, rhythm, windows
from ecgutils.errors import RecordFormatError, UnknownNameError


@pytest.fixture(scope="module")
def record_201(mitdb_root):
    return records.read("mitdb", "201")


def _first_af_onset_after_sinus(rec) -> float:
    for previous, interval in zip(rec.rhythm, rec.rhythm[1:], strict=False):
        if interval.label == rhythm.AF and previous.label == "N" and previous.duration_s > 20:
            if interval.duration_s > 20:
                return interval.start_s
    raise AssertionError("record 201 has no sinus → AF transition with 20 s either side")


def test_window_straddling_af_onset_takes_the_label_of_its_majority(record_201):
    onset = _first_af_onset_after_sinus(record_201)
    starts = np.array([onset - 8.0, onset - 12.0, onset - 10.0])  # 60 %, 40 %, 50 % AF
    table = windows.label_windows(record_201.rhythm, starts, 20.0, record_201.duration_s)
    assert table["af_fraction"].to_numpy() == pytest.approx([0.6, 0.4, 0.5])
    assert table["label"].tolist() == ["AF", "non-AF", "AF"]
    assert table["y"].tolist() == [1, 0, 1]


def test_a_stricter_policy_relabels_a_mostly_af_window(record_201):
    onset = _first_af_onset_after_sinus(record_201)
    policy = windows.LabelPolicy(af_threshold=0.9)
    table = windows.label_windows(record_201.rhythm, np.array([onset - 8.0]), 20.0,
                                  record_201.duration_s, policy)
    assert table["label"].tolist() == ["non-AF"]


def test_flutter_windows_are_left_out_unless_the_policy_folds_them_into_af(mitdb_root):
    rec = records.read("mitdb", "203")  # 2 AFL episodes, 314.3 s
    flutter = max(rhythm.episodes(rec.rhythm, rhythm.AFL), key=lambda iv: iv.duration_s)
    start = np.array([flutter.start_s + 1.0])
    default = windows.label_windows(rec.rhythm, start, 20.0, rec.duration_s)
    folded = windows.label_windows(rec.rhythm, start, 20.0, rec.duration_s,
                                   windows.LabelPolicy(fold_afl=True))
    assert default["afl_fraction"].iloc[0] == pytest.approx(1.0)
    assert default["label"].tolist() == ["AFL"] and default["y"].tolist() == [-1]
    assert folded["label"].tolist() == ["AF"] and folded["y"].tolist() == [1]


def test_a_padded_short_record_is_labelled_by_its_recorded_part():
    intervals = [rhythm.Interval(rhythm.AF, 0.0, 9.0)]  # a 9-s CinC record of class A
    table = windows.label_windows(intervals, np.array([0.0]), 20.0, record_duration_s=9.0)
    assert table["af_fraction"].iloc[0] == pytest.approx(1.0)
    assert table["label"].iloc[0] == "AF"


def test_window_starts_cover_only_full_windows():
    assert windows.window_starts(12000, 5000, 5000).tolist() == [0, 5000]
    assert windows.window_starts(12000, 5000, 2500).tolist() == [0, 2500, 5000]
    assert windows.window_starts(4999, 5000, 5000).size == 0
    assert windows.centre_start(7500, 5000).tolist() == [1250]


def test_cut_returns_the_samples_at_each_start():
    lead = np.arange(20.0)
    cut = windows.cut(lead, np.array([0, 7]), 5)
    assert cut.tolist() == [[0, 1, 2, 3, 4], [7, 8, 9, 10, 11]]
    with pytest.raises(ValueError, match="do not fit"):
        windows.cut(lead, np.array([18]), 5)


def test_short_record_policies():
    starts, padding = windows.plan_windows(3000, 5000, 5000, "pad")
    assert starts.tolist() == [0] and padding == 2000
    starts, padding = windows.plan_windows(3000, 5000, 5000, "drop")
    assert starts.size == 0 and padding == 0
    with pytest.raises(RecordFormatError, match="shorter than one window"):
        windows.plan_windows(3000, 5000, 5000, "error", "mitdb record X")
    with pytest.raises(UnknownNameError, match="stretch"):
        windows.plan_windows(3000, 5000, 5000, "stretch")
    assert windows.pad_to(np.ones(3), 5).tolist() == [1, 1, 1, 0, 0]


def test_label_policy_rejects_a_threshold_outside_0_1():
    with pytest.raises(ValueError, match="af_threshold"):
        windows.LabelPolicy(af_threshold=0.0)


def test_wrap_to_repeats_a_short_signal_end_to_end():
    out = windows.wrap_to(np.array([[1.0, 2.0, 3.0]]), 8)
    assert out.tolist() == [[1, 2, 3, 1, 2, 3, 1, 2]]
    assert windows.wrap_to(np.arange(10.0), 4).tolist() == [0, 1, 2, 3]


def _flat_tail(window: np.ndarray) -> int:
    changes = np.flatnonzero(np.abs(np.diff(window)) > 1e-6)
    return len(window) - 1 - (changes[-1] + 1 if changes.size else 0)


def test_padding_length_predicts_the_cinc_label_with_zeros_but_not_when_wrapped(cinc_root):
    from sklearn.metrics import roc_auc_score

    from ecgutils import datasets, records, signal

    tails = {"pad": [], "wrap": []}
    is_af = []
    for name in datasets.record_names("cinc2017")[:1500]:
        rec = records.read("cinc2017", name)
        lead = signal.normalise(signal.resample(rec.signal, rec.fs, 125.0)[None, :], "zscore")
        for policy, extend in (("pad", windows.pad_to), ("wrap", windows.wrap_to)):
            tails[policy].append(_flat_tail(extend(lead, 2500)[0]))
        is_af.append(rec.label == "A")
    is_af = np.array(is_af)
    padded = np.array(tails["pad"]) > 0
    # Zero padding leaks: short records are AF more often, and the flat tail shows how short.
    assert is_af[padded].mean() > 1.2 * is_af[~padded].mean()  # 14 % vs 10 %
    assert roc_auc_score(is_af, tails["pad"]) > 0.51
    # Wrapping leaves no flat tail at all, so its length cannot carry the label.
    assert max(tails["wrap"]) == 0
    assert roc_auc_score(is_af, tails["wrap"]) == 0.5


def test_rhythm_classes_of_long_record_windows():
    from ecgutils.rhythm import Interval

    intervals = [Interval("N", 0, 30), Interval("AFIB", 30, 60), Interval("B", 60, 100)]
    starts = np.array([0.0, 20.0, 40.0, 60.0])
    labels = windows.label_windows(intervals, starts, 20.0, 100.0)["label"].to_numpy()
    classes = windows.rhythm_classes(intervals, starts, 20.0, 100.0, labels)
    # 0–20 sinus; 20–40 half AF (AF by the 50 % rule); 40–60 AF; 60–80 bigeminy → other.
    assert classes.tolist() == ["N", "A", "A", "O"]
