"""TextClassificationTask: data splits, bucketed batches, loss, learned vocabularies."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from bertlab.data import DataError
from bertlab.tasks import (EncoderConfig, TextClassificationConfig,
                           TextClassificationTask, TextDataConfig)


def _tiny_encoder(vocabulary, **kwargs):
    return EncoderConfig(init="none", num_layers=1, hidden_dim=32, num_heads=2,
                         intermediate_dim=64, max_sequence_length=64, vocabulary=vocabulary,
                         **kwargs)


def _write_tsv(tmp_path, rows, name="data.tsv"):
    path = tmp_path / name
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in rows),
                    encoding="utf-8")
    return str(path)


@pytest.fixture
def small_task(tmp_path, minilm_dir):
    rows = [(f"{'very ' * (i % 7)}good film number {i}", i % 2) for i in range(50)]
    train = _write_tsv(tmp_path, rows, "train.tsv")
    dev = _write_tsv(tmp_path, rows[:13], "dev.tsv")
    config = TextClassificationConfig(
        encoder=_tiny_encoder(f"{minilm_dir}/vocab.txt"),
        data=TextDataConfig(data_dir=str(tmp_path), train="train.tsv", validation=dev),
        sequence_length=16, eval_batch_size=4, bucket_boundaries=[6, 9])
    return TextClassificationTask(config, global_batch_size=8)


def test_validation_batches_cover_every_sentence_once_padded_to_their_longest(small_task):
    seen = []
    for features, labels in small_task.build_dataset("validation"):
        ids = features["token_ids"].numpy()
        mask = features["padding_mask"].numpy()
        assert ids.shape[1] == mask.sum(axis=1).max()
        assert np.all(ids[:, 0] == small_task.preprocessor.cls_id)
        assert np.all((ids == 0) == (mask == 0))
        assert np.all(features["segment_ids"].numpy() == 0)
        seen.extend(zip(map(tuple, [row[m == 1] for row, m in zip(ids, mask)]),
                        labels.numpy().tolist()))
    expected = small_task.preprocessor(tf.constant(small_task.examples("validation").texts))
    expected = [(tuple(r[m == 1]), l) for r, m, l in zip(
        expected["token_ids"].numpy(), expected["padding_mask"].numpy(),
        small_task.examples("validation").labels)]
    assert collections.Counter(seen) == collections.Counter(expected)


def test_train_split_repeats_and_is_deterministic(small_task):
    def first_batches():
        return [b[0]["token_ids"].numpy().tolist()
                for b in small_task.build_dataset("train").take(10)]
    batches = first_batches()
    assert len(batches) == 10  # 50 sentences / 8 per batch: it repeats
    assert batches == first_batches()
    assert all(len(b) == 8 for b in batches)


def test_loss_is_the_summed_cross_entropy(small_task):
    labels = tf.constant([0, 1, 1])
    logits = tf.constant([[2.0, -1.0], [0.5, 0.5], [-3.0, 1.0]])
    total, weight = small_task.compute_loss(labels, logits)
    expected = tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    np.testing.assert_allclose(float(total), float(tf.reduce_sum(expected)), rtol=1e-6)
    assert float(weight) == 3.0
    model = small_task.build_model()
    assert model.num_classes == 2 and model.pooling == "mean"


def test_holdout_split_of_chnsenticorp_and_learned_chinese_vocabulary(data_dir):
    config = TextClassificationConfig(
        encoder=_tiny_encoder("learn", vocabulary_size=3000),
        data=TextDataConfig(data_dir=str(data_dir), train="chnsenticorp/train.tsv",
                                validation="", holdout_every=10, max_train_examples=1500),
        sequence_length=64)
    task = TextClassificationTask(config)
    assert task.num_examples("validation") == 960
    assert task.num_examples("train") == 1500
    from bertlab.data import read_labeled_sentences
    rows = read_labeled_sentences(data_dir / "chnsenticorp" / "train.tsv").texts
    assert task.examples("validation").texts == rows[9::10]
    assert set(task.examples("train").texts) <= set(rows[i] for i in range(9600) if i % 10 != 9)
    # The vocabulary was learned from the training text: Chinese characters are not [UNK].
    ids = task.tokenizer(tf.constant(task.examples("validation").texts[:20])).flat_values.numpy()
    assert np.mean(ids == task.tokenizer.unknown_token_id) < 0.1
    assert task.tokenizer.vocabulary_size <= 3000


def test_bad_labels_and_configs(tmp_path, minilm_dir):
    train = _write_tsv(tmp_path, [("good", 0), ("bad", 2)])
    config = TextClassificationConfig(
        encoder=_tiny_encoder(f"{minilm_dir}/vocab.txt"),
        data=TextDataConfig(train=train, validation=train))
    with pytest.raises(DataError, match=r"labels \['2'\]"):
        TextClassificationTask(config).examples("train")
    with pytest.raises(ValueError, match="label_values"):
        TextClassificationConfig(class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="exactly one of `validation`"):
        TextDataConfig(validation="dev.tsv", holdout_every=10)
    with pytest.raises(ValueError, match="pooling"):
        TextClassificationConfig(pooling="max")
    with pytest.raises(ValueError, match="export_dtype_policy"):
        TextClassificationConfig(export_dtype_policy="float8")
    with pytest.raises(ValueError, match="init"):
        TextClassificationTask(TextClassificationConfig(
            encoder=EncoderConfig(init="/no/such/checkpoint")))
