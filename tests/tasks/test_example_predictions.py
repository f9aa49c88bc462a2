"""ExamplePredictions: every evaluation example's prediction at its index, in any batch order,
and the whole set under a two-replica strategy."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bertlab.tasks.example_predictions import ExamplePredictions


def test_collects_by_index_in_any_order():
    metric = ExamplePredictions(capacity=6)
    metric.update_state([4, 1], [0.4, 0.1], [1.0, 0.0])
    metric.update_state([0], [0.5], [2.0])
    predictions, targets = metric.collected()
    np.testing.assert_allclose(predictions, [0.5, 0.1, 0.4])  # index order 0, 1, 4
    np.testing.assert_allclose(targets, [2.0, 0.0, 1.0])
    assert float(metric.result()) == 3
    metric.reset_state()
    assert metric.collected()[0].size == 0
    assert ExamplePredictions.from_config(metric.get_config()).capacity == 6


def test_bad_capacity_and_index():
    with pytest.raises(ValueError, match="capacity"):
        ExamplePredictions(capacity=0)
    metric = ExamplePredictions(capacity=2)
    with pytest.raises(Exception, match="capacity"):
        metric.update_state([2], [0.0], [0.0])


MIRRORED = """
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from bertlab.tasks.example_predictions import ExamplePredictions
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    metric = ExamplePredictions(capacity=10)
index = np.array([7, 2, 9, 0, 5, 1, 3, 8, 4, 6], "int32")
dataset = tf.data.Dataset.from_tensor_slices((index, index * 0.5)).batch(4)

@tf.function
def step(batch):
    strategy.run(lambda i, v: metric.update_state(i, v * 2.0, v), args=batch)

for batch in strategy.experimental_distribute_dataset(dataset):
    step(batch)
predictions, targets = metric.collected()
print(json.dumps({"predictions": predictions.tolist(), "targets": targets.tolist(),
                  "count": float(metric.result())}))
"""


def test_two_replicas_collect_the_whole_set():
    result = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(out["targets"], np.arange(10) * 0.5)
    np.testing.assert_allclose(out["predictions"], np.arange(10) * 1.0)
    assert out["count"] == 10
