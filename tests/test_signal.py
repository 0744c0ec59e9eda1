import numpy as np
import pytest

from ecgutils import records
from ecgutils.signal import quality_summary


def test_quality_summary_counts_flat_segments_and_clipped_samples():
    fs = 100.0
    lead = np.sin(np.linspace(0, 40 * np.pi, 1000))  # 10 s
    lead[:400] = 0.2  # first 4 s flat: 2 of 5 two-second segments
    lead[900:910] = 1.5  # 10 samples at the upper ADC limit
    summary = quality_summary(lead, fs, clip_limits_mv=(-1.5, 1.5))
    assert summary["flat_fraction"] == 0.4
    assert summary["clipped_fraction"] == 10 / 1000
    assert summary["nan_samples"] == 0


def test_real_mitdb_record_116_has_clipped_samples_and_100_has_none(mitdb_root):
    clipped = {}
    for name in ("100", "116"):
        rec = records.read("mitdb", name)
        clipped[name] = quality_summary(rec.signal, rec.fs, rec.clip_limits_mv)["clipped_fraction"]
    assert clipped["100"] == 0.0
    assert clipped["116"] == pytest.approx(0.000408, abs=2e-6)
