"""Which devices train a model: ``tf.distribute`` chosen from what is visible.

Several GPUs → ``MirroredStrategy`` over all of them (synchronous data parallelism, one model
copy per GPU); one GPU or none → TensorFlow's default strategy (no distribution). The global
batch is the per-replica batch times the number of replicas, so each device sees the batch
size the recipe was tuned with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf


def strategy(devices: Sequence[Any] | None = None) -> tf.distribute.Strategy:
    """The distribution strategy for ``devices`` (default: the visible GPUs).

    Parameters
    ----------
    devices : sequence of ``tf.config.LogicalDevice`` or None
        The devices to train on; None means every logical GPU TensorFlow sees.

    Returns
    -------
    tf.distribute.Strategy
        ``MirroredStrategy`` over ``devices`` when there are two or more, else the default
        strategy (``tf.distribute.get_strategy()``).
    """
    if devices is None:
        devices = tf.config.list_logical_devices("GPU")
    names = [getattr(device, "name", device) for device in devices]
    if len(names) >= 2:
        return tf.distribute.MirroredStrategy(names)
    return tf.distribute.get_strategy()


def global_batch_size(per_replica: int, chosen: tf.distribute.Strategy | None = None) -> int:
    """``per_replica`` × the strategy's replicas (the batch ``model.fit`` is given)."""
    if per_replica < 1:
        raise ValueError(f"per-replica batch size {per_replica}: expected at least 1")
    chosen = chosen or tf.distribute.get_strategy()
    return per_replica * chosen.num_replicas_in_sync


def describe(chosen: tf.distribute.Strategy) -> str:
    """One line naming the strategy and its devices, for logs and benchmark headers."""
    try:
        devices = tuple(chosen.extended.worker_devices)
    except RuntimeError:  # the default strategy places ops itself and names no devices
        devices = ("TensorFlow's default placement",)
    return (f"{type(chosen).__name__} with {chosen.num_replicas_in_sync} replica(s): "
            + ", ".join(devices))
