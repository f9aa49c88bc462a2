"""`ExamplePredictions`: one prediction and one target per evaluation example, kept in the
graph, for metrics that need the whole set (Spearman's rank correlation, the best
decision threshold).

Counts such as accuracy or entity F1 are sums over batches; a rank correlation
or a threshold sweep needs every prediction at once. This metric keeps them in
two fixed-size buffers indexed by each example's position in the split
(`index` in the evaluation labels): every example writes its own slot, so the
order of batches does not matter and, under a multi-replica strategy, the
replicas' buffers (zero where another replica wrote) sum to the whole set, as
Keras sums metric variables across replicas.

Example:
>>> metric = ExamplePredictions(capacity=1500)
>>> metric.update_state(index=[0, 1], prediction=[4.2, 0.3], target=[5.0, 0.0])
>>> predictions, targets = metric.collected()
>>> predictions
array([4.2, 0.3], dtype=float32)
"""

import keras
import numpy as np
import tensorflow as tf


class ExamplePredictions(keras.metrics.Metric):
    """Collects `prediction` and `target` floats at each example's `index`.

    Args:
      capacity: the largest split evaluated (indices are `0 .. capacity - 1`).
      name: the metric's name.

    `result()` is the number of examples collected; `collected()` returns the
    numpy `(predictions, targets)` of the examples seen, in index order.
    """

    def __init__(self, capacity, name="example_predictions", **kwargs):
        super().__init__(name=name, **kwargs)
        if int(capacity) < 1:
            raise ValueError(f"`capacity` must be positive, got {capacity}.")
        self.capacity = int(capacity)
        self.predictions = self.add_variable((self.capacity,), initializer="zeros",
                                             name="predictions")
        self.targets = self.add_variable((self.capacity,), initializer="zeros", name="targets")
        self.seen = self.add_variable((self.capacity,), initializer="zeros", name="seen")

    def update_state(self, index, prediction, target):
        index = tf.reshape(tf.cast(index, tf.int32), [-1, 1])
        tf.debugging.assert_less(index, self.capacity,
                                 message="ExamplePredictions: example index >= capacity")

        def add(variable, values):
            values = tf.reshape(tf.cast(values, variable.dtype), [-1])
            variable.assign(tf.tensor_scatter_nd_add(tf.convert_to_tensor(variable), index,
                                                     values))

        add(self.predictions, prediction)
        add(self.targets, target)
        add(self.seen, tf.ones_like(index[:, 0]))

    def result(self):
        return tf.reduce_sum(tf.cast(self.seen > 0, tf.float32))

    def reset_state(self):
        for variable in (self.predictions, self.targets, self.seen):
            variable.assign(tf.zeros_like(variable))

    def collected(self):
        """`(predictions, targets)` float32 numpy arrays of the examples seen."""
        seen = np.asarray(self.seen) > 0
        return np.asarray(self.predictions)[seen], np.asarray(self.targets)[seen]

    def get_config(self):
        return {**super().get_config(), "capacity": self.capacity}
