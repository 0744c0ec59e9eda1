"""Keras 3 model builders: a 1D CNN on raw windows and a 2D CNN on spectrograms.

Both end in global average pooling and one sigmoid unit (probability of AF), with dropout
before the output and L2 on every kernel. Sizes were chosen for a 2-core CPU: a strided first
convolution and pooling by 4 keep the 1D model fast (see benchmarks/). The default depth (five
blocks) gives a receptive field of about 18 s (four blocks: under 5 s): AF is an irregular
rhythm, and features that span many beats beat features that see 4–5 of them
(``benchmarks/levers.py``: record-grouped CinC F1 0.43 → 0.70 on two folds).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, regularizers

from ecgutils.errors import UnknownNameError


def cnn1d(
    input_samples: int = 5000,
    filters: Sequence[int] = (16, 32, 64, 64, 128),
    kernel_size: int = 7,
    first_stride: int = 2,
    pool: int = 4,
    dropout: float = 0.3,
    l2: float = 1e-4,
    residual: bool = False,
    n_classes: int = 1,
) -> keras.Model:
    """1D CNN on one normalised lead.

    Parameters
    ----------
    input_samples : int
        Window length in samples (5000 = 20 s at 250 Hz). ``None`` accepts any length
        (global pooling makes the model length-agnostic).
    filters : sequence of int
        Filters per convolution block; each block after the first starts with max pooling
        (five blocks: receptive field ≈ 18 s at 250 Hz).
    kernel_size : int
        Convolution width in samples (7 samples = 28 ms at 250 Hz).
    first_stride : int
        Stride of the first convolution (2 halves the cost of everything after it).
    pool : int
        Max-pooling factor between blocks.
    dropout : float
        Dropout rate before the output unit, and (halved) after each block.
    l2 : float
        L2 penalty on every kernel.
    residual : bool
        Two convolutions per block with a 1×1-projected skip connection instead of one.
    n_classes : int
        1: one sigmoid unit, the probability of AF. More: a softmax over that many classes
        (the leakage study's patient-identification probe).

    Returns
    -------
    keras.Model
        Input (input_samples, 1), output (1,) sigmoid or (n_classes,) softmax.
    """
    reg = regularizers.L2(l2) if l2 else None
    inputs = keras.Input((input_samples, 1), name="ecg")
    pooled = _trunk1d(inputs, filters, kernel_size, first_stride, pool, dropout, reg, residual)
    outputs = _head(pooled, dropout, reg, n_classes)
    return keras.Model(inputs, outputs, name="cnn1d_res" if residual else "cnn1d")


def detector(
    input_samples: int = 2500,
    n_rr_features: int = 11,
    n_classes: int = 4,
    waveform: bool = True,
    rhythm: bool = True,
    filters: Sequence[int] = (16, 32, 64, 64, 128),
    kernel_size: int = 7,
    first_stride: int = 2,
    pool: int = 4,
    dropout: float = 0.3,
    l2: float = 1e-4,
    rr_units: int = 32,
    residual: bool = False,
) -> keras.Model:
    """The AF detector: the 1D CNN on the waveform beside a small dense network on the window's
    RR features (:mod:`ecgutils.beats`), concatenated before one softmax over rhythm classes.

    Parameters
    ----------
    input_samples : int
        Window length in samples (2500 = 20 s at 125 Hz).
    n_rr_features : int
        RR features per window.
    n_classes : int
        Output classes (4: N, A, O, ~; AF is class 1). 1 gives one sigmoid unit (AF vs rest).
    waveform, rhythm : bool
        Which branches to build (the lever study switches one off); at least one.
    filters, kernel_size, first_stride, pool, dropout, l2, residual
        The waveform branch, as in :func:`cnn1d` (five blocks at 125 Hz see ~36 s: the whole
        window).
    rr_units : int
        Width of the two dense layers of the rhythm branch (its input is batch-normalised, so
        the features need no scaler).

    Returns
    -------
    keras.Model
        Inputs ``ecg`` (input_samples, 1) and ``rr`` (n_rr_features,) — both always present, so
        one calling convention serves every variant; output (n_classes,) softmax.
    """
    if not (waveform or rhythm):
        raise ValueError("the detector needs the waveform branch, the rhythm branch or both")
    reg = regularizers.L2(l2) if l2 else None
    ecg = keras.Input((input_samples, 1), name="ecg")
    rr = keras.Input((n_rr_features,), name="rr")
    parts = []
    if waveform:
        parts.append(_trunk1d(ecg, filters, kernel_size, first_stride, pool, dropout, reg,
                              residual))
    if rhythm:
        x = layers.BatchNormalization()(rr)
        for _ in range(2):
            x = layers.Dense(rr_units, activation="relu", kernel_regularizer=reg)(x)
        parts.append(x)
    joined = parts[0] if len(parts) == 1 else layers.Concatenate()(parts)
    outputs = _head(joined, dropout, reg, n_classes)
    name = "detector" if waveform and rhythm else ("detector_waveform" if waveform
                                                   else "detector_rhythm")
    return keras.Model({"ecg": ecg, "rr": rr}, outputs, name=name)


def cnn2d(
    input_shape: tuple[int, int] = (21, 77),
    filters: Sequence[int] = (16, 32, 64, 64, 128),
    kernel_size: int = 3,
    dropout: float = 0.3,
    l2: float = 1e-4,
    residual: bool = False,
    n_classes: int = 1,
) -> keras.Model:
    """2D CNN on one log-magnitude spectrogram (frequency × time).

    Parameters
    ----------
    input_shape : (n_freqs, n_times)
        21 × 77 for 20-s windows at 250 Hz with a 128-sample Hann STFT, hop 64, 0–40 Hz.
    filters : sequence of int
        Filters per block; blocks are separated by 2×2 pooling (time only once the frequency
        axis is down to 5 bins or fewer).
    kernel_size, dropout, l2, residual, n_classes
        As in :func:`cnn1d`.

    Returns
    -------
    keras.Model
        Input (n_freqs, n_times, 1), output (1,) sigmoid or (n_classes,) softmax.
    """
    reg = regularizers.L2(l2) if l2 else None
    inputs = keras.Input((*input_shape, 1), name="spectrogram")
    # Log magnitudes are far from zero-mean; normalise per frequency over the batch.
    x = layers.BatchNormalization(axis=1)(inputs)
    n_freqs = input_shape[0]
    for index, width in enumerate(filters):
        if index:
            pooling = (2, 2) if n_freqs > 5 else (1, 2)
            x = layers.MaxPooling2D(pooling, padding="same")(x)
            n_freqs = -(-n_freqs // pooling[0])
        x = _block(x, width, kernel_size, reg, residual, layers.Conv2D)
        if dropout:
            x = layers.SpatialDropout2D(dropout / 2)(x)
    outputs = _head(layers.GlobalAveragePooling2D()(x), dropout, reg, n_classes)
    return keras.Model(inputs, outputs, name="cnn2d_res" if residual else "cnn2d")


BUILDERS = {"cnn1d": cnn1d, "cnn2d": cnn2d, "detector": detector}


def build(kind: str, **hyper) -> keras.Model:
    """``build('cnn1d', dropout=0.5)`` → a fresh model of that kind."""
    if kind not in BUILDERS:
        raise UnknownNameError(f"unknown model {kind!r}; choose one of {', '.join(BUILDERS)}")
    return BUILDERS[kind](**hyper)


def _head(pooled, dropout: float, reg, n_classes: int = 1):
    """Dropout and one sigmoid unit (the probability of AF), or a softmax over classes."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be at least 1; got {n_classes}")
    x = layers.Dropout(dropout)(pooled)
    if n_classes == 1:
        return layers.Dense(1, activation="sigmoid", kernel_regularizer=reg, name="p_af")(x)
    return layers.Dense(n_classes, activation="softmax", kernel_regularizer=reg,
                        name="p_class")(x)


def _trunk1d(inputs, filters, kernel_size, first_stride, pool, dropout, reg, residual):
    """Strided convolution, then blocks separated by max pooling; globally average-pooled."""
    x = layers.Conv1D(filters[0], kernel_size, strides=first_stride, padding="same",
                      use_bias=False, kernel_regularizer=reg)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for width in filters[1:]:
        x = layers.MaxPooling1D(pool, padding="same")(x)
        x = _block(x, width, kernel_size, reg, residual, layers.Conv1D)
        if dropout:
            x = layers.SpatialDropout1D(dropout / 2)(x)
    return layers.GlobalAveragePooling1D()(x)


def _block(x, width: int, kernel_size: int, reg, residual: bool, conv):
    """conv → BN → ReLU, or with ``residual`` two of them plus a projected skip."""
    if not residual:
        x = conv(width, kernel_size, padding="same", use_bias=False, kernel_regularizer=reg)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x)
    skip = conv(width, 1, padding="same", use_bias=False, kernel_regularizer=reg)(x)
    y = conv(width, kernel_size, padding="same", use_bias=False, kernel_regularizer=reg)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = conv(width, kernel_size, padding="same", use_bias=False, kernel_regularizer=reg)(y)
    y = layers.BatchNormalization()(y)
    return layers.ReLU()(layers.Add()([y, skip]))
