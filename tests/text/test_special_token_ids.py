"""`without_special_tokens`: the special ids go, everything else stays in order."""

import tensorflow as tf

from bertlab.text.special_token_ids import without_special_tokens


def test_dense_and_ragged_ids_lose_only_the_special_ones():
    dense = tf.constant([[2, 17, 0, 9, 3, 0], [2, 3, 0, 0, 0, 0]], tf.int64)
    got = without_special_tokens(dense, (0, 2, 3))
    assert got.dtype == tf.int32 and got.to_list() == [[17, 9], []]
    ragged = tf.ragged.constant([[5, 3, 5], [2]])
    assert without_special_tokens(ragged, (2, 3)).to_list() == [[5, 5], []]
