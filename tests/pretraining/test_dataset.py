import numpy as np
import pytest
import tensorflow as tf

from bertlab.pretraining import dataset
from bertlab.pretraining.corpus import CorpusError


def _rows(ds):
    return {tuple(row) for features, _ in ds for row in features["token_ids"].numpy().tolist()}


def test_features_labels_names_dtypes_and_values(pretraining_files):
    prefix, stats, examples = pretraining_files
    ds = dataset.build_pretraining_dataset(f"{prefix}-*.tfrecord", batch_size=16, is_training=False)
    features, labels = next(iter(ds))
    assert {k: (v.dtype, tuple(v.shape)) for k, v in features.items()} == {
        "token_ids": (tf.int32, (16, 128)), "segment_ids": (tf.int32, (16, 128)),
        "padding_mask": (tf.int32, (16, 128)), "masked_positions": (tf.int32, (16, 20))}
    assert {k: (v.dtype, tuple(v.shape)) for k, v in labels.items()} == {
        "masked_lm_ids": (tf.int32, (16, 20)), "masked_lm_weights": (tf.float32, (16, 20)),
        "next_sentence_labels": (tf.int32, (16,))}
    # The first record of the first shard, renamed.
    first = next(e for e in examples if e["input_ids"].tolist() == features["token_ids"][0].numpy().tolist())
    np.testing.assert_array_equal(features["padding_mask"][0], first["input_mask"])
    np.testing.assert_array_equal(features["masked_positions"][0], first["masked_lm_positions"])
    np.testing.assert_array_equal(labels["masked_lm_ids"][0], first["masked_lm_ids"])
    np.testing.assert_array_equal(labels["masked_lm_weights"][0], first["masked_lm_weights"])
    assert labels["next_sentence_labels"][0] == first["next_sentence_labels"][0]
    # One evaluation pass sees every record once, the last partial batch included.
    total = sum(int(f["token_ids"].shape[0]) for f, _ in ds)
    assert total == stats["instances"]


def test_training_is_shuffled_repeated_and_deterministic(pretraining_files):
    prefix, stats, _ = pretraining_files

    def first_batches(seed, n=3):
        ds = dataset.build_pretraining_dataset(f"{prefix}-*.tfrecord", batch_size=8, is_training=True,
                                               seed=seed, shuffle_buffer_size=100)
        return [f["token_ids"].numpy() for f, _ in ds.take(n)]

    a, b, c = first_batches(1), first_batches(1), first_batches(2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    ds = dataset.build_pretraining_dataset(f"{prefix}-*.tfrecord", batch_size=64, is_training=True)
    batches = stats["instances"] // 64 + 3
    assert sum(1 for _ in ds.take(batches)) == batches  # repeats past one epoch


def test_input_context_shards_files_or_records(pretraining_files, whole_word_files):
    for prefix, stats, _ in (pretraining_files, whole_word_files):  # 2 files, then 1 file
        pattern = f"{prefix}-*.tfrecord"
        parts = []
        for pipeline in range(2):
            context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline,
                                                 num_replicas_in_sync=2)
            ds = dataset.build_pretraining_dataset(pattern, batch_size=8, is_training=False,
                                                   input_context=context)
            assert next(iter(ds))[0]["token_ids"].shape[0] == 4  # per-replica batch
            parts.append(_rows(ds))
        everything = _rows(dataset.build_pretraining_dataset(pattern, 8, is_training=False))
        assert parts[0] and parts[1] and not parts[0] & parts[1]
        assert parts[0] | parts[1] == everything


def test_errors(tmp_path):
    with pytest.raises(CorpusError, match="No pretraining data files match"):
        dataset.build_pretraining_dataset(str(tmp_path / "none-*.tfrecord"), 8, is_training=True)
    empty = tmp_path / "empty.tfrecord"
    with tf.io.TFRecordWriter(str(empty)):
        pass
    with pytest.raises(CorpusError, match="is empty"):
        dataset.build_pretraining_dataset(str(empty), 8, is_training=True)
