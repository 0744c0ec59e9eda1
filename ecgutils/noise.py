"""Noise stress: add recorded noise to a clean ECG at a chosen SNR, as WFDB's ``nst`` does.

The SNR is the one of the MIT-BIH Noise Stress Test (Moody, Muldrow & Mark 1984), measured as
WFDB 10.7.0's ``nst`` measures it (through ``sigamp``); the tests check every number here
against those programs on real mitdb and nstdb records::

    noisy = clean + a * noise
    SNR   = 10 log10(S / (N a²))
    S     = (trimmed mean of the peak-to-peak amplitudes of the first 300 "normal" beats)² / 8
    N     = (trimmed mean of the RMS of the first 300 one-second windows of the noise)²

Details of ``nst``/``sigamp`` kept here:

- "Normal" beats are WFDB's ``map1`` class NORMAL, every beat that is not ventricular:
  ``N L R a J A S j / Q B e n f`` (:data:`NST_NORMAL_SYMBOLS`); ``V E r F !`` are left out.
- A beat's amplitude is max - min over ``round(0.05 fs)`` samples either side of its
  annotation (37 samples at 360 Hz). A window that would start before the record start is
  mirrored to ``|t - half|`` (WFDB seeks to ``-t`` for a negative ``t``); collection stops at
  the first window that runs past the record end.
- The noise RMS of a window is taken about the window's mean, and each deviation is
  truncated toward zero to a whole ADC unit before squaring (C's ``int``). The per-second
  RMS is only 9-20 ADC units on nstdb's ``bw`` and ``ma``, so this lowers N by 0.18-0.38 dB.
- ``sigamp`` prints A and R with ``%g`` (6 significant digits) and ``nst`` passes its gain
  on the same way: differences of about 1e-5 dB, nothing more.
- The trimmed mean drops ``n // 20`` values at each end (15 of 300).
- ``nst`` works in ADC units on each signal separately (signal ``i`` gets noise signal
  ``i mod n_noise_signals``), but the gains cancel: the physical gain ``a`` applied to noise
  in mV equals ``nst``'s ``r × noise_gain / ecg_gain`` and depends only on S/N in mV². Only
  the truncation above depends on the noise record's ADC gain (200 adu/mV for nstdb).

What ``nst`` also does and this module does not (see :func:`mix`): it adds the noise in
alternating 2-min segments from 5:00 (noise on 5-7 min, off 7-9, on 9-11, ...), the noise
sample at the same time index as the ECG sample, adding integer offsets that keep the output
continuous at each switch, and restarting the noise record (with such an offset) if it is
shorter than the ECG; it truncates each output sample toward zero to an integer code, and it
writes the output header with ADC zero 0 but the ECG's baseline (1024 for mitdb) while
removing the ADC zero from the codes, so that the physical signal read back is the ECG
shifted by -1024/200 = -5.12 mV. For noise at another rate it uses a record ``<noise>_<fs>``
if one exists, else resamples with ``xform``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np

from ecgutils.signal import resample

# Beats that WFDB's map1() puts in class NORMAL (ecgmap.h): all but the ventricular ones.
NST_NORMAL_SYMBOLS = frozenset("NLRaJASj/QBenf")

# sigamp's defaults, used by nst.
QRS_HALF_WINDOW_S = 0.05
MAX_BEATS = 300
NOISE_WINDOW_S = 1.0
MAX_NOISE_WINDOWS = 300

# The nstdb noise records are stored at WFDB's default gain (gain field 0 = 200 adu/mV).
NSTDB_ADC_GAIN = 200.0


def signal_power(
    signal_mv: np.ndarray,
    fs: float,
    beat_samples: np.ndarray,
    beat_symbols: np.ndarray,
    max_beats: int = MAX_BEATS,
) -> float:
    """The signal power S of the noise stress test, as ``nst`` measures it, in mV².

    S = A² / 8, where A is the mean of the peak-to-peak amplitudes (max - min within
    ±``round(0.05 fs)`` samples of the annotation) of the first ``max_beats`` beats in
    :data:`NST_NORMAL_SYMBOLS`, after dropping ``n // 20`` amplitudes at each end. (A/2 is
    the amplitude of a sine of the same peak-to-peak, whose power is A²/8.)

    ``nst`` (``sigamp -a atr``) measures A in ADC units of the ECG record; on the physical
    signal A is that value divided by the record's ADC gain, exactly (max - min of whole
    codes), so S here is (nst's A / gain)² / 8. The SNR and the gain ``a`` on noise in mV do
    not depend on the gains: see the module notes.

    Parameters
    ----------
    signal_mv : ndarray, shape (n_samples,)
        One lead in mV.
    fs : float
        Sampling frequency in Hz.
    beat_samples : ndarray of int, shape (n_beats,)
        Annotation sample indices (any annotations; only the NORMAL class is used).
    beat_symbols : ndarray of str, shape (n_beats,)
        Their WFDB symbols (``'N'``, ``'V'``, ``'/'`` ...).
    max_beats : int
        Number of beats measured (nst: 300).

    Returns
    -------
    float
        S in mV².
    """
    signal_mv = _finite_1d(signal_mv, "signal_mv")
    fs = _positive(fs, "fs")
    beat_samples = np.asarray(beat_samples)
    beat_symbols = np.asarray(beat_symbols)
    if beat_samples.ndim != 1 or beat_symbols.shape != beat_samples.shape:
        raise ValueError(
            f"beat_samples and beat_symbols must be 1-D of the same length; got shapes "
            f"{beat_samples.shape} and {beat_symbols.shape}"
        )
    if beat_samples.size and not np.issubdtype(beat_samples.dtype, np.integer):
        raise ValueError(f"beat_samples must be integer sample indices, got {beat_samples.dtype}")
    if max_beats < 1:
        raise ValueError(f"max_beats must be at least 1, got {max_beats}")
    order = np.argsort(beat_samples, kind="stable")
    normal = np.isin(beat_symbols[order].astype(str), list(NST_NORMAL_SYMBOLS))
    times = beat_samples[order][normal][:max_beats].astype(np.int64)
    half = _wfdb_samples(QRS_HALF_WINDOW_S, fs)
    width = 2 * half + 1
    starts = np.abs(times - half)
    past_end = np.flatnonzero(starts + width > signal_mv.size)
    if past_end.size:  # sigamp stops at the first window it cannot read
        starts = starts[: past_end[0]]
    if starts.size == 0:
        raise ValueError(
            f"no normal beat (symbols {''.join(sorted(NST_NORMAL_SYMBOLS))}) with a full "
            f"±{half}-sample window among {beat_samples.size} annotations: cannot measure the "
            "QRS amplitude"
        )
    windows = signal_mv[starts[:, np.newaxis] + np.arange(width)]
    amplitude_mv = _trimmed_mean(np.ptp(windows, axis=1))
    return float(amplitude_mv**2 / 8.0)


def noise_power(
    noise_mv: np.ndarray,
    fs: float,
    adc_gain: float | None = NSTDB_ADC_GAIN,
    max_windows: int = MAX_NOISE_WINDOWS,
) -> float:
    """The noise power N of the noise stress test, as ``nst`` measures it, in mV².

    N = R², where R is the mean of the RMS values (about each window's mean) of the first
    ``max_windows`` whole windows of ``round(1 fs)`` samples, after dropping ``n // 20``
    values at each end: the first 300 s of the noise record for nst.

    Parameters
    ----------
    noise_mv : ndarray, shape (n_samples,)
        One noise signal in mV, at its own rate (the nstdb record, not a resampled copy).
    fs : float
        Its sampling frequency in Hz.
    adc_gain : float or None
        ADC gain (adu/mV) of the noise record. nst works on the ADC codes and truncates each
        deviation from the window mean toward zero to a whole code before squaring; with a gain
        the noise is put back on its code grid and that truncation is done, so N equals
        nst's (0.18-0.38 dB below the untruncated value on nstdb's ``bw`` and ``ma``).
        ``None``: plain RMS, for noise that is not a stored record (synthetic or filtered).
    max_windows : int
        Number of one-second windows (nst: 300).

    Returns
    -------
    float
        N in mV².
    """
    noise_mv = _finite_1d(noise_mv, "noise_mv")
    fs = _positive(fs, "fs")
    if max_windows < 1:
        raise ValueError(f"max_windows must be at least 1, got {max_windows}")
    window = _wfdb_samples(NOISE_WINDOW_S, fs)
    n_windows = min(max_windows, noise_mv.size // window)
    if n_windows == 0:
        raise ValueError(
            f"noise of {noise_mv.size} samples is shorter than one {window}-sample "
            f"({NOISE_WINDOW_S:g} s) RMS window at {fs:g} Hz"
        )
    blocks = noise_mv[: n_windows * window].reshape(n_windows, window)
    if adc_gain is None:
        deviations = blocks - blocks.mean(axis=1, keepdims=True)
        scale = 1.0
    else:
        scale = _positive(adc_gain, "adc_gain")
        codes = blocks * scale
        off_grid = float(np.max(np.abs(codes - np.round(codes))))
        if off_grid > 1e-6:
            raise ValueError(
                f"noise_mv is not on the code grid of adc_gain={scale:g} adu/mV (a sample is "
                f"{off_grid:.3f} code off): pass the noise record's own ADC gain, or "
                "adc_gain=None for noise that is not a stored record"
            )
        codes = np.round(codes)
        # C: int v = vv - vmean, truncation toward zero.
        deviations = np.trunc(codes - codes.mean(axis=1, keepdims=True))
    rms = np.sqrt(np.mean(deviations**2, axis=1)) / scale
    return float(_trimmed_mean(rms) ** 2)


def gain_for_snr(signal_power_mv2: float, noise_power_mv2: float, snr_db: float) -> float:
    """The noise gain ``a`` giving ``snr_db``: ``a = sqrt(S / (N 10^(snr_db / 10)))``.

    Same as nst's ``r = 10^(-snr/20) √2/4 × A / R`` (A, R as in :func:`signal_power` and
    :func:`noise_power`), here with A and R in mV so that ``a`` scales noise in mV.
    """
    s = _positive(signal_power_mv2, "signal_power_mv2")
    n = _positive(noise_power_mv2, "noise_power_mv2")
    snr_db = _finite(snr_db, "snr_db")
    return math.sqrt(s / (n * 10.0 ** (snr_db / 10.0)))


def snr_for_gain(signal_power_mv2: float, noise_power_mv2: float, gain: float) -> float:
    """The SNR (dB) of ``clean + gain × noise``: ``10 log10(S / (N gain²))``."""
    s = _positive(signal_power_mv2, "signal_power_mv2")
    n = _positive(noise_power_mv2, "noise_power_mv2")
    gain = _positive(gain, "gain")
    return 10.0 * math.log10(s / (n * gain**2))


def mix(
    clean_mv: np.ndarray,
    fs: float,
    noise_mv: np.ndarray,
    noise_fs: float,
    snr_db: float,
    signal_power_mv2: float,
    noise_power_mv2: float | None = None,
    offset_s: float = 0.0,
) -> np.ndarray:
    """``clean + a × noise`` with ``a`` from :func:`gain_for_snr`, over the whole record.

    Unlike nst, the noise is added everywhere (no 2-min on/off protocol), in floating point,
    with no offsets; the noise segment starts at ``offset_s`` in the noise record (nst: at
    the same time as the ECG sample). The segment is :func:`noise_at_rate`: resampled to
    ``fs`` and repeated from the noise record's start (a jump at the seam) when it runs
    past the record's end.

    Parameters
    ----------
    clean_mv : ndarray, shape (n_samples,)
        Clean lead in mV.
    fs : float
        Its sampling frequency in Hz.
    noise_mv : ndarray, shape (n_noise_samples,)
        A whole noise signal in mV (an nstdb record's ``bw`` or ``ma`` signal).
    noise_fs : float
        Its sampling frequency in Hz.
    snr_db : float
        Wanted SNR in dB.
    signal_power_mv2 : float
        S of the clean record (:func:`signal_power` on the whole record, mV²).
    noise_power_mv2 : float, optional
        N of the noise record (mV²); default :func:`noise_power` of ``noise_mv`` at
        ``noise_fs`` with the nstdb gain. Pass it when ``noise_mv`` is only a part of the
        record, so that N stays the record's.
    offset_s : float
        Start of the noise segment in the noise record (s), ``0 <= offset_s < duration``.

    Returns
    -------
    ndarray of float64, shape (n_samples,)
        The noisy lead in mV.
    """
    clean_mv = _finite_1d(clean_mv, "clean_mv")
    if noise_power_mv2 is None:
        noise_power_mv2 = noise_power(noise_mv, noise_fs)
    gain = gain_for_snr(signal_power_mv2, noise_power_mv2, snr_db)
    segment = noise_at_rate(noise_mv, noise_fs, fs, clean_mv.size, offset_s)
    return clean_mv + gain * segment


def noise_at_rate(
    noise_mv: np.ndarray,
    noise_fs: float,
    fs: float,
    n_samples: int,
    offset_s: float = 0.0,
) -> np.ndarray:
    """``n_samples`` of noise at ``fs`` Hz, from ``offset_s`` s into the noise record.

    The segment ``[offset_s, offset_s + n_samples / fs)`` is cut at the noise rate,
    repeated from the record's start where it runs past the end, then resampled with
    :func:`ecgutils.signal.resample` (``scipy.signal.resample_poly``) after mirror-padding by
    one second, so that the filter has no zero-padded edges and no noise outside the
    segment is read (segments from :func:`noise_segments` stay disjoint).

    Returns
    -------
    ndarray of float64, shape (n_samples,)
        Noise in mV at ``fs``.
    """
    noise_mv = _finite_1d(noise_mv, "noise_mv")
    noise_fs = _positive(noise_fs, "noise_fs")
    fs = _positive(fs, "fs")
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive whole number, got {n_samples}")
    n_samples = int(n_samples)
    offset_s = _finite(offset_s, "offset_s")
    duration_s = noise_mv.size / noise_fs
    start = int(round(offset_s * noise_fs))
    if offset_s < 0 or start >= noise_mv.size:
        raise ValueError(
            f"noise segment out of range: offset_s={offset_s:g} s, but the noise record "
            f"runs from 0 to {duration_s:g} s"
        )
    ratio = Fraction(fs / noise_fs).limit_denominator(1000)
    n_in = math.ceil(n_samples / float(ratio) - 1e-9)
    segment = noise_mv[(start + np.arange(n_in)) % noise_mv.size]
    if ratio == 1:
        return segment[:n_samples].copy()
    # One second of mirror padding, in whole steps of the ratio's denominator so that the
    # padding maps to a whole number of output samples.
    steps = max(1, math.ceil(noise_fs / ratio.denominator))
    pad_in = steps * ratio.denominator
    pad_out = steps * ratio.numerator
    padded = np.pad(segment, pad_in, mode="symmetric")
    resampled = resample(padded, noise_fs, fs)
    return resampled[pad_out: pad_out + n_samples]


def noise_segments(
    n_noise_samples: int,
    fs: float,
    segment_s: float,
    exclude_first_s: float = MAX_NOISE_WINDOWS * NOISE_WINDOW_S,
    parts: Sequence[str] | Mapping[str, float] = ("train", "test"),
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Disjoint noise segments per part, so that training noise never overlaps test noise.

    The record after ``exclude_first_s`` is cut into consecutive ``segment_s`` segments
    (a remainder shorter than one segment is dropped); they are shuffled with ``seed`` and
    dealt to the parts in proportion to their shares. By default the first 300 s, where
    :func:`noise_power` measures N, are left out of every part: N is a property of the
    record used to set the gain, and keeping its calibration stretch out of the noise that
    is added keeps the added noise independent of the calibration (nst itself adds noise
    only from 5:00 on).

    Use each start as ``offset_s`` in :func:`mix` with a clean lead no longer than
    ``segment_s``; for a longer one, pass that segment's samples as ``noise_mv`` (mix then
    repeats it) with the whole record's N as ``noise_power_mv2``.

    Parameters
    ----------
    n_noise_samples : int
        Length of the noise record (samples).
    fs : float
        Its sampling frequency in Hz.
    segment_s : float
        Segment length (s).
    exclude_first_s : float
        Start of the usable stretch (s).
    parts : sequence of str, or mapping str -> float
        Part names (equal shares) or names with their shares (normalised to sum to 1).
    seed : int
        Seed of the shuffle (``numpy.random.default_rng``).

    Returns
    -------
    dict of str -> ndarray of float64
        Sorted segment start times (s) of each part; segment ``k`` spans
        ``[start_k, start_k + segment_s)``.
    """
    if int(n_noise_samples) != n_noise_samples or n_noise_samples < 1:
        raise ValueError(f"n_noise_samples must be a positive whole number, got "
                         f"{n_noise_samples}")
    fs = _positive(fs, "fs")
    segment_s = _positive(segment_s, "segment_s")
    exclude_first_s = _finite(exclude_first_s, "exclude_first_s")
    if exclude_first_s < 0:
        raise ValueError(f"exclude_first_s must be >= 0, got {exclude_first_s}")
    shares = _part_shares(parts)
    duration_s = n_noise_samples / fs
    n_segments = int(math.floor((duration_s - exclude_first_s) / segment_s + 1e-9))
    if n_segments < len(shares):
        raise ValueError(
            f"a {duration_s:g}-s noise record holds {max(n_segments, 0)} segment(s) of "
            f"{segment_s:g} s after {exclude_first_s:g} s, fewer than the {len(shares)} "
            "parts: shorten segment_s or exclude_first_s"
        )
    starts = exclude_first_s + segment_s * np.arange(n_segments)
    shuffled = np.random.default_rng(seed).permutation(starts)
    # Largest-remainder rounding, every part at least one segment.
    exact = np.array(list(shares.values())) * n_segments
    counts = np.maximum(np.floor(exact).astype(int), 1)
    while counts.sum() > n_segments:
        counts[np.argmax(counts)] -= 1
    for index in np.argsort(-(exact - np.floor(exact)), kind="stable"):
        if counts.sum() == n_segments:
            break
        counts[index] += 1
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return {name: np.sort(shuffled[bounds[k]: bounds[k + 1]])
            for k, name in enumerate(shares)}


# --- helpers -------------------------------------------------------------------------------


def _wfdb_samples(seconds: float, fs: float) -> int:
    """A duration in samples as WFDB's strtim() gives it: rounded half up."""
    return int(seconds * fs + 0.5)


def _trimmed_mean(values: np.ndarray) -> float:
    """sigamp's trimmed mean: drop n // 20 values at each end of the sorted values."""
    ordered = np.sort(values)
    drop = ordered.size // 20
    return float(np.mean(ordered[drop: ordered.size - drop]))


def _finite_1d(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one signal (1-D), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(f"{name} has {int(bad.sum())} non-finite sample(s) (NaN or inf), the "
                         f"first at sample {int(np.argmax(bad))}")
    return array


def _finite(value: float, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _positive(value: float, name: str) -> float:
    value = _finite(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def _part_shares(parts: Sequence[str] | Mapping[str, float]) -> dict[str, float]:
    if isinstance(parts, str):
        raise ValueError(f"parts must be several names, got the string {parts!r}")
    if isinstance(parts, Mapping):
        shares = {str(name): _positive(share, f"share of part {name!r}")
                  for name, share in parts.items()}
    else:
        names = [str(name) for name in parts]
        if len(set(names)) != len(names):
            raise ValueError(f"part names must be distinct, got {names}")
        shares = {name: 1.0 for name in names}
    if not shares:
        raise ValueError("parts is empty: name at least one part")
    total = sum(shares.values())
    return {name: share / total for name, share in shares.items()}
