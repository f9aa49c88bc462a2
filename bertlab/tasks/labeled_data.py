"""Labelled examples for the fine-tuning tasks: which split comes from where, and batches.

What text classification and token classification share:
- `check_validation_source`: a validation split from a source or carved from
  the training data (`holdout_every`), never both;
- `select_split`: the examples of "train", "validation" or "report" (the
  official validation set scored once, see `bertlab.tasks.driver`), with
  deterministic subsets for smoke runs;
- `bucketed_dataset`: `({token_ids, segment_ids, padding_mask}, labels)`
  batches bucketed by length, shuffled and repeated for training.

Example:
>>> examples = select_split(config.data, "validation", read, seed=0)
>>> dataset = bucketed_dataset(token_ids, labels, config, 32, training=False, pad_id=0,
...                            label_padding=0)
"""

import os

import numpy as np
import tensorflow as tf

from bertlab.data import bucket_by_length, hold_out_every, is_tfds_source

SPLITS = ("train", "validation", "report")


def check_validation_source(data):
    """Checks a data config's `validation` / `holdout_every` pair: exactly one is set,
    and `holdout_every` is 0 or at least 2 (raises ValueError naming them)."""
    if data.holdout_every == 1 or data.holdout_every < 0:
        raise ValueError(f"`holdout_every` must be 0 or at least 2, got {data.holdout_every}.")
    if bool(data.validation) == bool(data.holdout_every):
        raise ValueError("Set exactly one of `validation` (a source) and `holdout_every` "
                         f"(carve it from `train`); got validation={data.validation!r}, "
                         f"holdout_every={data.holdout_every}.")


def resolve_source(data_dir, source):
    """A data source string as a path under `data_dir` (TFDS names unchanged)."""
    if is_tfds_source(source) or os.path.isabs(source):
        return source
    return os.path.join(data_dir, source)


def subset_indices(num_examples, limit, seed):
    """A deterministic random subset of `limit` indices (all, in order, if `limit` is 0)."""
    if not limit or limit >= num_examples:
        return list(range(num_examples))
    order = np.random.default_rng(seed).permutation(num_examples)[:limit]
    return sorted(order.tolist())


def select_split(data, split, read, seed):
    """The examples of `split` before any label check: read, held out, limited.

    Args:
      data: the task's data config (`train`, `validation`, `holdout_every`,
        `max_train_examples`, `max_validation_examples`).
      split: "train", "validation" or "report" (`data.report`, whole).
      read: `read(source, split_name)` -> examples with `len` and `select`.
      seed: picks the `max_*_examples` subset.
    """
    if split == "report":
        if not data.report:
            raise ValueError("The task has no `data.report` split to evaluate.")
        return read(data.report, "report")
    if data.holdout_every:
        examples = read(data.train, "train")
        examples = examples.select(hold_out_every(len(examples), data.holdout_every, split))
    else:
        examples = read(data.train if split == "train" else data.validation, split)
    limit = data.max_train_examples if split == "train" else data.max_validation_examples
    return examples.select(subset_indices(len(examples), limit, seed))


def bucketed_dataset(token_ids, labels, config, batch_size, training, pad_id, label_padding,
                     input_context=None, segment_ids=None, extra_features=None):
    """`({token_ids, segment_ids, padding_mask}, labels)` batches bucketed by length.

    Args:
      token_ids: ragged int32 `[n, (tokens)]`; labels: `[n]`, ragged
        `[n, (tokens)]`, or a dict of them (`label_padding` then a dict too).
      segment_ids: ragged int32 like `token_ids` (text pairs), or None (all 0).
      extra_features: `{name: ragged int32 like token_ids}` more model inputs
        (e.g. `casing_ids`), padded with 0.
      config: the task config (`seed`, `bucket_boundaries`).
      batch_size: global batch size (per replica with `input_context`).
      training: shuffle (seeded, every epoch) and repeat.
      pad_id, label_padding: padding of the token ids and of the labels.
    """
    if segment_ids is None:
        segment_ids = tf.zeros_like(token_ids)
    extra_features = dict(extra_features or {})
    dataset = tf.data.Dataset.from_tensor_slices((token_ids, segment_ids, extra_features,
                                                  labels))
    if input_context is not None:
        dataset = dataset.shard(input_context.num_input_pipelines,
                                input_context.input_pipeline_id)
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    if training:
        dataset = dataset.shuffle(int(token_ids.nrows()), seed=config.seed,
                                  reshuffle_each_iteration=True).repeat()

    def features(ids, segments, extra, label):
        return ({"token_ids": ids, "segment_ids": segments,
                 "padding_mask": tf.ones_like(ids), **extra}, label)

    dataset = dataset.map(features, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    pad = {"token_ids": pad_id, "segment_ids": 0, "padding_mask": 0,
           **{name: 0 for name in extra_features}}
    dataset = bucket_by_length(dataset, batch_size, config.bucket_boundaries,
                               padding_values=(pad, label_padding))
    return dataset.prefetch(tf.data.AUTOTUNE)
