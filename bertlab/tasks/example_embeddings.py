"""`ExampleEmbeddings`: both embeddings of every evaluated sentence pair, kept in the graph, for
scores over a whole split (the rank correlation of STS, a retrieval ranking): what
`ExamplePredictions` is for one scalar per example, for two `[dim]` vectors per pair.

Example:
>>> metric = ExampleEmbeddings(capacity=1500, dim=384)
>>> metric.update_state(index=[0, 1], first=first, second=second)   # [2, 384] each
>>> indices, first, second = metric.collected()
>>> indices
array([0, 1])
"""

import keras
import numpy as np
import tensorflow as tf


class ExampleEmbeddings(keras.metrics.Metric):
    """Collects both embeddings of each evaluated pair at the pair's `index`, for
    scores over a whole split (a rank correlation, a retrieval ranking).

    Every pair writes its own rows of two `[capacity, dim]` buffers, so the order of
    batches does not matter and, under a multi-replica strategy, the replicas'
    buffers (zero where another replica wrote) sum to the whole set, as Keras
    sums metric variables across replicas (as `ExamplePredictions`).

    Args:
      capacity: the pairs of all evaluated splits (indices `0 .. capacity - 1`).
      dim: the embedding size.

    `result()` is the number of pairs collected; `collected()` returns numpy
    `(indices, first, second)` of the pairs seen, in index order.

    Example:
    >>> metric = ExampleEmbeddings(capacity=1500, dim=384)
    >>> metric.update_state(index=[0, 1], first=e1, second=e2)   # e1, e2: [2, 384]
    """

    def __init__(self, capacity, dim, name="pair_embeddings", **kwargs):
        super().__init__(name=name, **kwargs)
        if int(capacity) < 1 or int(dim) < 1:
            raise ValueError(f"`capacity` and `dim` must be positive, got {capacity} and {dim}.")
        self.capacity, self.dim = int(capacity), int(dim)
        self.first = self.add_variable((self.capacity, self.dim), initializer="zeros",
                                       name="first")
        self.second = self.add_variable((self.capacity, self.dim), initializer="zeros",
                                        name="second")
        self.seen = self.add_variable((self.capacity,), initializer="zeros", name="seen")

    def update_state(self, index, first, second):
        index = tf.reshape(tf.cast(index, tf.int32), [-1, 1])
        tf.debugging.assert_less(index, self.capacity,
                                 message="ExampleEmbeddings: pair index >= capacity")
        for variable, values in ((self.first, first), (self.second, second),
                                 (self.seen, tf.ones_like(index[:, 0]))):
            values = tf.cast(values, variable.dtype)
            variable.assign(tf.tensor_scatter_nd_add(tf.convert_to_tensor(variable), index,
                                                     values))

    def result(self):
        return tf.reduce_sum(tf.cast(self.seen > 0, tf.float32))

    def reset_state(self):
        for variable in (self.first, self.second, self.seen):
            variable.assign(tf.zeros_like(variable))

    def collected(self):
        seen = np.asarray(self.seen) > 0
        return (np.flatnonzero(seen), np.asarray(self.first)[seen],
                np.asarray(self.second)[seen])

    def get_config(self):
        return {**super().get_config(), "capacity": self.capacity, "dim": self.dim}
