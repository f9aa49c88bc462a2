"""A tiny deterministic `Task` for the runner's tests: a 2-layer MLP classifier on
synthetic data, with per-example weights (every fifth example has weight 0) so
that global loss normalization matters."""


import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.data.experimental.ops import testing as tf_data_testing

from bertlab.layers.fast_dropout import FastDropout
from bertlab.training.task import Task

NUM_FEATURES = 8
NUM_CLASSES = 3


def make_data(num_examples, seed):
    w = np.random.RandomState(0).normal(size=(NUM_FEATURES, NUM_CLASSES)).astype("float32")
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(num_examples, NUM_FEATURES)).astype("float32")
    y = np.argmax(x @ w + 0.3 * rng.normal(size=(num_examples, NUM_CLASSES)), axis=-1)
    weights = np.where(np.arange(num_examples) % 5 == 4, 0.0, 1.0).astype("float32")
    return x, y.astype("int32"), weights


class ToyTask(Task):
    """Classifies 8 features into 3 classes: Dense(16) -> LayerNorm -> relu [-> dropout]
    -> Dense(3)."""

    def __init__(self, global_batch_size=16, num_train=256, num_validation=40, hidden=16,
                 regularization=0.0, slow_seconds=0.0, dropout=0.0):
        self.global_batch_size = global_batch_size
        self.dropout = dropout
        self.hidden = hidden
        self.regularization = regularization
        self.slow_seconds = slow_seconds
        self.train = make_data(num_train, seed=1)
        self.validation = make_data(num_validation, seed=2)

    def build_model(self):
        regularizer = keras.regularizers.L2(self.regularization) if self.regularization else None
        inputs = keras.Input(shape=(NUM_FEATURES,), name="x")
        h = keras.layers.Dense(self.hidden, name="hidden", kernel_regularizer=regularizer)(inputs)
        h = keras.layers.LayerNormalization(name="layer_norm")(h)
        h = keras.layers.Activation("relu")(h)
        if self.dropout:
            h = FastDropout(self.dropout, name="dropout")(h)
        logits = keras.layers.Dense(NUM_CLASSES, name="logits")(h)
        return keras.Model({"x": inputs}, {"logits": logits}, name="toy")

    def build_dataset(self, split, input_context=None):
        x, y, w = self.train if split == "train" else self.validation
        dataset = tf.data.Dataset.from_tensor_slices(({"x": x}, {"label": y, "weight": w}))
        batch_size = self.global_batch_size
        if input_context is not None:
            dataset = dataset.shard(input_context.num_input_pipelines,
                                    input_context.input_pipeline_id)
            batch_size = input_context.get_per_replica_batch_size(self.global_batch_size)
        if split != "train":
            return dataset.batch(batch_size)
        dataset = dataset.repeat().batch(batch_size, drop_remainder=True)
        if self.slow_seconds:
            # A C++ sleep per batch, so a test can stop a run mid-way. Not a Python
            # `tf.numpy_function`: Python in tf.data's threads can hang the exit after a
            # preemption save.
            dataset = dataset.apply(
                tf_data_testing.sleep(int(self.slow_seconds * 1_000_000)))
        return dataset

    def compute_loss(self, labels, outputs):
        logits = tf.cast(outputs["logits"], tf.float32)
        per_example = tf.keras.losses.sparse_categorical_crossentropy(
            labels["label"], logits, from_logits=True)
        weights = labels["weight"]
        return tf.reduce_sum(per_example * weights), tf.reduce_sum(weights)

    def build_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def update_metrics(self, metrics, labels, outputs):
        metrics[0].update_state(labels["label"], outputs["logits"], sample_weight=labels["weight"])
