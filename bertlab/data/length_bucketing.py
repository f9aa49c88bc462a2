"""Batching by length: each batch is padded to its own longest example.

Padding every batch to the model's maximum length wastes most of the compute on
short-sentence data (SST-2 sentences average ~13 tokens with a maximum above
60). Grouping examples of similar length into a batch and padding to the
longest one in it keeps the work close to the real token count.

Example:
>>> ds = tf.data.Dataset.from_tensor_slices(ragged_ids).map(lambda x: ({"token_ids": x}, 0))
>>> batches = bucket_by_length(ds, batch_size=32, boundaries=(16, 32, 64))
"""

import tensorflow as tf

DEFAULT_BOUNDARIES = (8, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128, 192, 256)


def _default_length(features, labels):
    del labels
    return tf.shape(features["token_ids"])[0]


def bucket_by_length(dataset, batch_size, boundaries=DEFAULT_BOUNDARIES, length_fn=None,
                     padding_values=None, drop_remainder=False):
    """Groups the (unbatched) examples of `dataset` by length and pads per batch.

    Args:
      dataset: a `tf.data.Dataset` of `(features, labels)` with 1-D variable
        length tensors (and scalars).
      batch_size: examples per batch in every bucket.
      boundaries: increasing length boundaries of the buckets; the final
        bucket holds everything longer than the last one.
      length_fn: `(features, labels) -> int32` length; default the length of
        `features["token_ids"]`.
      padding_values: a structure like the elements with the padding value of
        each component (default 0 everywhere), e.g. -1 for ignored labels.
      drop_remainder: drop partial batches (a bucket flushed at the end of a
        finite dataset).

    Returns:
      A dataset of batches padded to the longest example in each batch.
    """
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
    boundaries = [int(b) for b in boundaries]
    if any(b <= 0 for b in boundaries) or sorted(set(boundaries)) != boundaries:
        raise ValueError(f"`boundaries` must be positive and strictly increasing, got "
                         f"{boundaries}.")
    length_fn = length_fn or _default_length
    return dataset.bucket_by_sequence_length(
        element_length_func=length_fn,
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[int(batch_size)] * (len(boundaries) + 1),
        padding_values=padding_values,
        pad_to_bucket_boundary=False,
        drop_remainder=drop_remainder,
    )
