"""ExampleEmbeddings: each pair's two embeddings kept at its index, whatever the batch order, and
under two replicas the whole set (the replicas' buffers summed)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bertlab.tasks.example_embeddings import ExampleEmbeddings


def test_rows_are_kept_at_their_index_in_any_order():
    metric = ExampleEmbeddings(capacity=5, dim=3)
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    for batch in ([4, 0], [2, 1]):  # index 3 never seen
        metric.update_state(batch, first[batch], second[batch])
    indices, got_first, got_second = metric.collected()
    assert indices.tolist() == [0, 1, 2, 4] and float(metric.result()) == 4.0
    np.testing.assert_allclose(got_first, first[[0, 1, 2, 4]], rtol=1e-6)
    np.testing.assert_allclose(got_second, second[[0, 1, 2, 4]], rtol=1e-6)
    metric.reset_state()
    assert metric.collected()[0].size == 0
    assert metric.get_config()["capacity"] == 5 and metric.get_config()["dim"] == 3


def test_bad_sizes_and_indices_are_refused():
    with pytest.raises(ValueError, match="`capacity` and `dim`"):
        ExampleEmbeddings(capacity=0, dim=3)
    metric = ExampleEmbeddings(capacity=2, dim=1)
    with pytest.raises(Exception, match="capacity"):
        metric.update_state([2], [[0.0]], [[0.0]])


MIRRORED = """
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from bertlab.tasks.example_embeddings import ExampleEmbeddings
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    metric = ExampleEmbeddings(capacity=10, dim=2)
index = np.array([7, 2, 9, 0, 5, 1, 3, 8, 4, 6], "int32")
vectors = np.stack([index, -index], axis=1).astype("float32")
dataset = tf.data.Dataset.from_tensor_slices((index, vectors)).batch(4)

@tf.function
def step(batch):
    strategy.run(lambda i, v: metric.update_state(i, v, 2.0 * v), args=batch)

for batch in strategy.experimental_distribute_dataset(dataset):
    step(batch)
indices, first, second = metric.collected()
print(json.dumps({"indices": indices.tolist(), "first": first.tolist(),
                  "second": second.tolist(), "count": float(metric.result())}))
"""


def test_two_replicas_collect_the_whole_set():
    result = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    expected = np.stack([np.arange(10), -np.arange(10)], axis=1)
    assert out["indices"] == list(range(10)) and out["count"] == 10
    np.testing.assert_allclose(out["first"], expected)
    np.testing.assert_allclose(out["second"], 2 * expected)
