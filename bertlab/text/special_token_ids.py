"""Dropping special tokens from generated ids before they become text.

Example:
>>> ids = tf.constant([[2, 17, 9, 3, 0, 0]])
>>> without_special_tokens(ids, (0, 2, 3))
<tf.RaggedTensor [[17, 9]]>
"""

import functools

import tensorflow as tf


def without_special_tokens(token_ids, special_ids):
    """`token_ids` (int `[batch, len]`, dense or ragged) as ragged int32 ids with
    every id in `special_ids` (e.g. pad, start, end) removed."""
    if not isinstance(token_ids, tf.RaggedTensor):
        token_ids = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(token_ids))
    token_ids = tf.cast(token_ids, tf.int32)
    special = functools.reduce(tf.logical_or, [token_ids == i for i in special_ids])
    return tf.ragged.boolean_mask(token_ids, tf.logical_not(special))
