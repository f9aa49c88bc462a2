"""Length bucketing: batches padded to their own longest example, nothing lost."""

import numpy as np
import pytest
import tensorflow as tf

from bertlab.data import bucket_by_length


def _dataset(lengths):
    ids = tf.ragged.constant([[i + 1] * n for i, n in enumerate(lengths)], dtype=tf.int32)
    labels = tf.ragged.constant([[7] * n for n in lengths], dtype=tf.int32)
    return tf.data.Dataset.from_tensor_slices((ids, labels)).map(
        lambda x, y: ({"token_ids": x}, y))


def test_batches_are_padded_to_their_longest_and_keep_every_example():
    lengths = [3, 17, 4, 30, 5, 16, 2, 29, 18, 6]
    batches = list(bucket_by_length(_dataset(lengths), batch_size=3, boundaries=(8, 20),
                                    padding_values=({"token_ids": 0}, -1)))
    seen = []
    for features, labels in batches:
        ids = features["token_ids"].numpy()
        real = (ids != 0).sum(axis=1)
        assert ids.shape[1] == real.max()  # padded to the longest in the batch only
        # One bucket per batch: all lengths on the same side of each boundary.
        assert len({int(np.searchsorted([8, 20], n, side="right")) for n in real}) == 1
        np.testing.assert_array_equal(labels.numpy() == -1, ids == 0)
        seen.extend(ids[:, 0].tolist())
    assert sorted(seen) == list(range(1, len(lengths) + 1))


@pytest.mark.parametrize("kwargs, name", [
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=2, boundaries=(8, 8)), "boundaries"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        bucket_by_length(_dataset([1, 2]), **kwargs)
