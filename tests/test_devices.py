"""Device selection: the default strategy on one device, MirroredStrategy on several, the
batch scaled per replica — run on CPU (two logical CPUs stand in for two GPUs)."""

import subprocess
import sys

import pytest

from ecgutils import devices


def test_one_or_no_gpu_trains_with_the_default_strategy():
    import tensorflow as tf

    chosen = devices.strategy([])
    assert chosen is tf.distribute.get_strategy()
    assert devices.global_batch_size(64, chosen) == 64
    assert "1 replica(s)" in devices.describe(chosen)
    with pytest.raises(ValueError, match="per-replica batch size 0"):
        devices.global_batch_size(0, chosen)


_TWO_DEVICES = """
import sys
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from ecgutils import devices, models
chosen = devices.strategy(tf.config.list_logical_devices("CPU"))
assert type(chosen).__name__ == "MirroredStrategy", chosen
assert devices.global_batch_size(32, chosen) == 64
with chosen.scope():
    model = models.build("cnn1d", input_samples=2500)
    model.compile(optimizer="adam", loss="binary_crossentropy")
# Real ECG: 64 windows of sinus record 100 (label 0) and of AF record 201's AF run (label 1).
from ecgutils import records
root = sys.argv[1]
def windows(name, start):
    signal = records.read_path(f"{root}/{name}").signal[start:start + 64 * 2500]
    return ((signal - signal.mean()) / signal.std()).reshape(64, 2500, 1).astype("float32")
x = np.concatenate([windows("100", 0), windows("201", 360 * 60 * 5)])
y = np.repeat([0, 1], 64)
history = model.fit(x, y, batch_size=devices.global_batch_size(32, chosen), epochs=1, verbose=0)
assert np.isfinite(history.history["loss"][0])
print(devices.describe(chosen))
"""


def test_several_devices_train_the_same_model_with_a_mirrored_strategy(mitdb_root):
    result = subprocess.run([sys.executable, "-c", _TWO_DEVICES, str(mitdb_root)],
                            capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "MirroredStrategy with 2 replica(s)" in result.stdout
