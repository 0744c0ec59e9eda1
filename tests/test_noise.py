"""Noise stress: S, N, the gain and the mix, checked against WFDB's own nst and sigamp.

nst (WFDB 10.7.0, GPL) is built into a temporary folder and run as an oracle on real mitdb
records with the real nstdb noise; nothing of it is copied. Record 100 is mostly N beats;
record 217 is mostly paced ('/'), fusion of paced and normal ('f') and PVCs, so it checks
which beats nst counts as "normal".
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy import signal as scipy_signal

from ecgutils import noise

FS = 360.0
MITDB_ADC_ZERO = 1024  # nst subtracts the ECG's ADC zero and writes ADC zero 0
GAIN = 200.0  # adu/mV of mitdb and (by WFDB's default) of nstdb
NOISE_ON_S = (300.0, 420.0)  # nst's first noise-on segment: 5:00-7:00
NST_CASES = [(record, noise_name, snr)
             for record in ("100", "217") for noise_name in ("ma", "bw") for snr in (6.0, 0.0)]


@pytest.fixture(scope="session")
def noise_root(nstdb_root) -> Path:
    """The nstdb folder, with the two noise records the shared mirror holds."""
    missing = [f"{name}{ext}" for name in ("bw", "ma") for ext in (".hea", ".dat")
               if not (nstdb_root / f"{name}{ext}").is_file()]
    if missing:
        pytest.skip(f"nstdb noise record file(s) {', '.join(missing)} absent from {nstdb_root}")
    return nstdb_root


@lru_cache(maxsize=8)
def _record(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(ADC codes, physical mV) of every signal of a record."""
    digital = wfdb.rdrecord(path, physical=False).d_signal.astype(np.int64)
    physical = wfdb.rdrecord(path).p_signal
    return digital, physical


@lru_cache(maxsize=4)
def _beats(path: str) -> tuple[np.ndarray, np.ndarray]:
    annotation = wfdb.rdann(path, "atr")
    return np.asarray(annotation.sample), np.asarray(annotation.symbol)


def _run(tools: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}",
           "WFDB": "."}
    done = subprocess.run([str(tools / args[0]), *args[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done


def _link_records(folder: Path, mitdb_root: Path, noise_root: Path, record: str,
                  noise_name: str) -> None:
    for source in (mitdb_root / f"{record}.hea", mitdb_root / f"{record}.dat",
                   mitdb_root / f"{record}.atr", noise_root / f"{noise_name}.hea",
                   noise_root / f"{noise_name}.dat"):
        target = folder / source.name
        if not target.exists():
            target.symlink_to(source)


def _ours(mitdb_root: Path, noise_root: Path, record: str, noise_name: str, channel: int):
    """(S, N) in mV² of one channel, by this package."""
    _, clean_mv = _record(str(mitdb_root / record))
    _, noise_mv = _record(str(noise_root / noise_name))
    samples, symbols = _beats(str(mitdb_root / record))
    return (noise.signal_power(clean_mv[:, channel], FS, samples, symbols),
            noise.noise_power(noise_mv[:, channel], FS))


# --- against the real nst ---------------------------------------------------------------------


@pytest.mark.parametrize("record, noise_name, snr", NST_CASES)
def test_gain_snr_and_mix_match_nst(wfdb_tools, mitdb_root, noise_root, tmp_path, record,
                                    noise_name, snr):
    _link_records(tmp_path, mitdb_root, noise_root, record, noise_name)
    done = _run(wfdb_tools, ["nst", "-i", record, noise_name, "-o", "noisy", "-s", f"{snr:g}"],
                tmp_path)
    # nst prints "[rec noisy, sig 0] = [rec 100, sig 0] + 3.28714 * [rec ma, sig 0]".
    nst_gains = {int(sig): float(gain) for sig, gain in re.findall(
        r"\[rec noisy, sig (\d+)\] = \[rec \S+, sig \d+\] \+ (\S+) \*", done.stderr)}
    assert sorted(nst_gains) == [0, 1], done.stderr
    header = wfdb.rdheader(str(tmp_path / "noisy"))
    # The output keeps the ECG's baseline (1024) but has ADC zero 0 and codes with the zero
    # removed: its physical signal is the ECG shifted by -1024/200 = -5.12 mV.
    assert header.baseline == [MITDB_ADC_ZERO] * 2 and header.adc_zero == [0, 0]
    noisy_adc = wfdb.rdrecord(str(tmp_path / "noisy"), physical=False).d_signal.astype(np.int64)
    clean_adc, clean_mv = _record(str(mitdb_root / record))
    noise_adc, noise_mv = _record(str(noise_root / noise_name))
    on, off = (round(t * FS) for t in NOISE_ON_S)
    for channel in (0, 1):
        signal_power_mv2, noise_power_mv2 = _ours(mitdb_root, noise_root, record, noise_name,
                                                  channel)
        gain = noise.gain_for_snr(signal_power_mv2, noise_power_mv2, snr)
        nst_gain = nst_gains[channel]  # adu per adu; both records are at 200 adu/mV
        assert abs(20 * math.log10(gain / nst_gain)) < 0.1
        added = noisy_adc[:, channel] - (clean_adc[:, channel] - MITDB_ADC_ZERO)
        # Noise off before 5:00 and constant (a continuity offset) during 7:00-9:00.
        assert not added[:on].any()
        assert np.ptp(added[off: off + (off - on)]) == 0
        # The gain nst used, from its output: regress what it added on the noise it added.
        # nst truncates each output code toward zero, half a code on average, against the
        # sign of the output, which correlates with the noise: add that half code back, or
        # the slope is up to 0.015 dB low.
        design = np.column_stack([noise_adc[on:off, channel], np.ones(off - on)])
        untruncated = added[on:off] + 0.5 * np.sign(noisy_adc[on:off, channel])
        slope = np.linalg.lstsq(design, untruncated, rcond=None)[0][0]
        assert abs(20 * math.log10(slope / nst_gain)) < 0.01
        assert abs(noise.snr_for_gain(signal_power_mv2, noise_power_mv2, slope) - snr) < 0.1
        # mix on the same stretch, with the same noise segment (nst adds noise sample t to ECG
        # sample t). nst's offset at the switch keeps its output continuous: it subtracts
        # int(r × noise[on - 1]) codes, and truncates each sample to an integer code.
        ours = noise.mix(clean_mv[on:off, channel], FS, noise_mv[:, channel], FS, snr,
                         signal_power_mv2, noise_power_mv2, offset_s=NOISE_ON_S[0])
        offset = math.trunc(nst_gain * noise_adc[on - 1, channel])
        nst_mv = (noisy_adc[on:off, channel] + offset) / GAIN
        assert np.max(np.abs(ours - nst_mv)) <= 1.5 / GAIN


@pytest.mark.parametrize("record", ["100", "217"])
def test_signal_power_matches_sigamp_qrs_amplitude(wfdb_tools, mitdb_root, noise_root,
                                                   tmp_path, record):
    _link_records(tmp_path, mitdb_root, noise_root, record, "ma")
    printed = _run(wfdb_tools, ["sigamp", "-a", "atr", "-r", record], tmp_path).stdout.split()
    for channel, amplitude_adc in enumerate(map(float, printed)):
        signal_power_mv2, _ = _ours(mitdb_root, noise_root, record, "ma", channel)
        assert math.sqrt(8 * signal_power_mv2) * GAIN == pytest.approx(amplitude_adc, rel=1e-5)


@pytest.mark.parametrize("noise_name", ["ma", "bw"])
def test_noise_power_matches_sigamp_rms(wfdb_tools, mitdb_root, noise_root, tmp_path,
                                        noise_name):
    _link_records(tmp_path, mitdb_root, noise_root, "100", noise_name)
    printed = _run(wfdb_tools, ["sigamp", "-r", noise_name], tmp_path).stdout.split()
    _, noise_mv = _record(str(noise_root / noise_name))
    for channel, rms_adc in enumerate(map(float, printed)):
        _, noise_power_mv2 = _ours(mitdb_root, noise_root, "100", noise_name, channel)
        assert math.sqrt(noise_power_mv2) * GAIN == pytest.approx(rms_adc, rel=1e-5)
        # Without sigamp's truncation to whole codes N would be 0.18-0.38 dB higher.
        untruncated = noise.noise_power(noise_mv[:, channel], FS, adc_gain=None)
        assert 0.15 < 10 * math.log10(untruncated / noise_power_mv2) < 0.4


# --- pure functions on synthetic signals ------------------------------------------------------


def _synthetic_ecg(fs: float, duration_s: float, symbols: str = "N"):
    """Unit spikes (1 mV) once a second, labelled cyclically with ``symbols``."""
    clean = np.zeros(round(duration_s * fs))
    beats = np.arange(round(0.5 * fs), clean.size - round(0.5 * fs), round(fs))
    clean[beats] = 1.0
    labels = np.array([symbols[k % len(symbols)] for k in range(beats.size)])
    return clean, beats, labels


def _band_limited_noise(fs: float, duration_s: float, seed: int = 0) -> np.ndarray:
    white = np.random.default_rng(seed).normal(0.0, 0.1, round(duration_s * fs))
    return scipy_signal.sosfiltfilt(scipy_signal.butter(4, 40.0, fs=fs, output="sos"), white)


def test_signal_power_of_unit_spikes_is_one_eighth():
    clean, beats, labels = _synthetic_ecg(FS, 400.0)
    assert noise.signal_power(clean, FS, beats, labels) == pytest.approx(1 / 8)


def test_signal_power_counts_paced_and_supraventricular_beats_not_ventricular():
    clean, beats, labels = _synthetic_ecg(FS, 400.0, symbols="/VfAEL")
    clean[beats[np.isin(labels, ["V", "E"])]] = 5.0  # ventricular beats would raise S
    assert noise.signal_power(clean, FS, beats, labels) == pytest.approx(1 / 8)
    with pytest.raises(ValueError, match="no normal beat"):
        noise.signal_power(clean, FS, beats, np.full(beats.size, "V"))


def test_noise_power_of_a_sine_is_half_its_squared_amplitude():
    sine = 0.3 * np.sin(2 * np.pi * 5.0 * np.arange(round(400 * FS)) / FS)
    assert noise.noise_power(sine, FS, adc_gain=None) == pytest.approx(0.045, rel=1e-9)


@pytest.mark.parametrize("snr", [-6.0, 0.0, 6.0, 24.0])
def test_mix_gives_the_requested_snr(snr):
    clean, beats, labels = _synthetic_ecg(FS, 400.0)
    noise_mv = np.random.default_rng(1).normal(0.0, 0.2, round(400 * FS))
    signal_power_mv2 = noise.signal_power(clean, FS, beats, labels)
    noise_power_mv2 = noise.noise_power(noise_mv, FS, adc_gain=None)
    noisy = noise.mix(clean, FS, noise_mv, FS, snr, signal_power_mv2, noise_power_mv2)
    measured = 10 * math.log10(signal_power_mv2
                               / noise.noise_power(noisy - clean, FS, adc_gain=None))
    assert measured == pytest.approx(snr, abs=0.01)
    gain = noise.gain_for_snr(signal_power_mv2, noise_power_mv2, snr)
    assert noise.snr_for_gain(signal_power_mv2, noise_power_mv2, gain) == pytest.approx(snr)


@pytest.mark.parametrize("fs", [300.0, 250.0, 125.0])
def test_mix_with_resampled_noise_keeps_the_snr(fs):
    clean, beats, labels = _synthetic_ecg(fs, 400.0)
    noise_mv = _band_limited_noise(FS, 400.0)
    signal_power_mv2 = noise.signal_power(clean, fs, beats, labels)
    noise_power_mv2 = noise.noise_power(noise_mv, FS, adc_gain=None)
    noisy = noise.mix(clean, fs, noise_mv, FS, 6.0, signal_power_mv2, noise_power_mv2)
    assert noisy.shape == clean.shape
    measured = 10 * math.log10(signal_power_mv2
                               / noise.noise_power(noisy - clean, fs, adc_gain=None))
    assert measured == pytest.approx(6.0, abs=0.02)  # band-limited noise keeps its power


@pytest.mark.parametrize("fs", [300.0, 125.0])
def test_noise_resampled_to_another_rate_keeps_its_timing(fs):
    # A 3-Hz sine at 360 Hz, 10 s from 2.5 s: at the new rate it must still be that sine at
    # the same times (a wrong duration would shift the phase by the end).
    sine = np.sin(2 * np.pi * 3.0 * np.arange(round(20 * FS)) / FS)
    resampled = noise.noise_at_rate(sine, FS, fs, round(10 * fs), offset_s=2.5)
    expected = np.sin(2 * np.pi * 3.0 * (np.arange(round(10 * fs)) / fs + 2.5))
    assert resampled.shape == expected.shape
    assert np.max(np.abs(resampled - expected)[20:-20]) < 1e-3
    assert np.max(np.abs(resampled - expected)) < 0.02  # mirror padding at the two ends


def test_noise_shorter_than_needed_is_repeated_from_the_record_start():
    ramp = np.arange(100.0)
    assert list(noise.noise_at_rate(ramp, FS, FS, 150, offset_s=90 / FS)) == (
        list(range(90, 100)) + list(range(100)) + list(range(40)))


def test_mix_rejects_bad_input():
    clean, beats, labels = _synthetic_ecg(FS, 20.0)
    noise_mv = np.random.default_rng(2).normal(0.0, 0.2, round(20 * FS))
    good = dict(clean_mv=clean, fs=FS, noise_mv=noise_mv, noise_fs=FS, snr_db=6.0,
                signal_power_mv2=0.125, noise_power_mv2=0.04)
    with_nan = clean.copy()
    with_nan[5] = np.nan
    bad_inputs = [
        ({"clean_mv": with_nan}, "clean_mv has 1 non-finite"),
        ({"noise_mv": np.where(np.arange(noise_mv.size) == 7, np.inf, noise_mv)},
         "noise_mv has 1 non-finite"),
        ({"clean_mv": np.zeros(0)}, "clean_mv is empty"),
        ({"noise_mv": np.zeros(0)}, "noise_mv is empty"),
        ({"clean_mv": np.zeros((2, 100))}, r"clean_mv must be one signal \(1-D\)"),
        ({"snr_db": np.nan}, "snr_db must be finite"),
        ({"snr_db": np.inf}, "snr_db must be finite"),
        ({"snr_db": "high"}, "snr_db must be a number"),
        ({"signal_power_mv2": 0.0}, "signal_power_mv2 must be positive"),
        ({"fs": -360.0}, "fs must be positive"),
        ({"offset_s": -1.0}, "noise segment out of range"),
        ({"offset_s": 20.0}, "noise segment out of range"),
        ({"noise_power_mv2": None}, "not on the code grid"),  # synthetic noise: N needs None
    ]
    for change, message in bad_inputs:
        with pytest.raises(ValueError, match=message):
            noise.mix(**{**good, **change})


def test_power_functions_reject_bad_input():
    with pytest.raises(ValueError, match="shorter than one 360-sample"):
        noise.noise_power(np.zeros(359), FS)
    with pytest.raises(ValueError, match="same length"):
        noise.signal_power(np.zeros(1000), FS, np.array([100, 200]), np.array(["N"]))
    with pytest.raises(ValueError, match="noise_power_mv2 must be positive"):
        noise.gain_for_snr(0.1, 0.0, 6.0)


def test_noise_segments_are_disjoint_and_inside_the_record_after_300_s():
    n_samples, segment_s = 650_000, 10.0
    parts = noise.noise_segments(n_samples, FS, segment_s)
    assert set(parts) == {"train", "test"}
    starts = np.sort(np.concatenate(list(parts.values())))
    assert starts.size == math.floor((n_samples / FS - 300.0) / segment_s) == 150
    assert len(parts["train"]) == len(parts["test"]) == 75
    assert starts[0] >= 300.0 and starts[-1] + segment_s <= n_samples / FS
    assert np.all(np.diff(starts) >= segment_s)  # no two segments overlap
    assert not set(parts["train"]) & set(parts["test"])
    again = noise.noise_segments(n_samples, FS, segment_s)
    assert all(np.array_equal(parts[name], again[name]) for name in parts)
    other_seed = noise.noise_segments(n_samples, FS, segment_s, seed=1)
    assert not np.array_equal(parts["test"], other_seed["test"])


def test_noise_segments_follow_the_shares_and_refuse_too_few_segments():
    parts = noise.noise_segments(650_000, FS, 10.0, exclude_first_s=0.0,
                                 parts={"train": 0.8, "test": 0.2})
    assert (len(parts["train"]), len(parts["test"])) == (144, 36)
    assert min(map(min, parts.values())) == 0.0
    with pytest.raises(ValueError, match="fewer than the 2 parts"):
        noise.noise_segments(round(310 * FS), FS, 10.0)
