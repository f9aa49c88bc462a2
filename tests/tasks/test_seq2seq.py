"""Seq2SeqTask: shifted and truncated examples, label-smoothed loss, bad arguments."""


import keras
import numpy as np
import pytest
import tensorflow as tf

from bertlab.tasks.seq2seq import (Seq2SeqModelConfig, Seq2SeqTask, Seq2SeqTaskConfig,
                                   label_smoothed_cross_entropy)
from bertlab.text.sentencepiece_tokenizer import (BOS_ID, EOS_ID, PAD_ID, SubwordConfig,
                                                  subword_tokenizer)
from bertlab.training.checkpoint_selection import CheckpointSelectionConfig
from tests.tasks.helpers import tiny_seq2seq_config as _tiny_config


def test_label_smoothing_matches_keras():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 11)).astype("float32")
    labels = rng.integers(0, 11, size=(2, 5))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    for epsilon in (0.0, 0.1):
        reference = keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=epsilon, reduction=None)(
                tf.one_hot(labels, 11), logits).numpy()
        loss_sum, weight = label_smoothed_cross_entropy(labels, logits, mask, epsilon)
        np.testing.assert_allclose(loss_sum, (reference * mask).sum(), rtol=1e-5)
        assert float(weight) == mask.sum()


def test_examples_are_shifted_and_truncated(pairs, spm_path):
    tokenizer = subword_tokenizer(SubwordConfig(vocabulary_size=500), pairs[0] + pairs[1],
                                  spm_path)
    config = _tiny_config(max_source_length=6, max_target_length=5, bucket_boundaries=[4, 8])
    task = Seq2SeqTask(config, tokenizer, {"train": pairs, "validation": pairs}, 4)
    features, labels = next(iter(task.build_dataset("validation")))
    source = tokenizer(tf.constant(pairs[0][:4])).to_list()
    target = tokenizer(tf.constant(pairs[1][:4])).to_list()
    for row in range(4):
        encoder = features["encoder_token_ids"][row].numpy()
        length = int(features["encoder_padding_mask"][row].numpy().sum())
        assert list(encoder[:length]) == source[row][:5] + [EOS_ID]
        assert (encoder[length:] == PAD_ID).all()
        decoder = features["decoder_token_ids"][row].numpy()
        label = labels["target_ids"][row].numpy()
        n = int(labels["target_mask"][row].numpy().sum())
        assert list(decoder[:n]) == [BOS_ID] + target[row][:4]
        assert list(label[:n]) == target[row][:4] + [EOS_ID]
    # BERT-style sources start with the start token.
    bert_style = Seq2SeqTask(_tiny_config(source_start_token=True), tokenizer,
                             {"train": pairs}, 2)
    ids = bert_style.encode_sources(["A dog."]).to_list()[0]
    assert ids[0] == BOS_ID and ids[-1] == EOS_ID
    # Training batches repeat and stay in the configured shapes.
    train = task.build_dataset("train", tf.distribute.InputContext(1, 0, 1))
    for features, _ in train.take(3):
        assert features["encoder_token_ids"].shape[0] == 4


def test_bad_task_arguments(pairs, spm_path):
    tokenizer = subword_tokenizer(SubwordConfig(), pairs[0], spm_path)
    with pytest.raises(ValueError, match="label_smoothing"):
        Seq2SeqTaskConfig(label_smoothing=1.0)
    with pytest.raises(ValueError, match="max_sequence_length"):
        Seq2SeqTaskConfig(model=Seq2SeqModelConfig(position_type="learned",
                                                   max_sequence_length=32),
                          max_source_length=64)
    with pytest.raises(ValueError, match="2 sources but 1 targets"):
        Seq2SeqTask(_tiny_config(), tokenizer, {"train": (["a", "b"], ["c"])}, 2)
    with pytest.raises(ValueError, match="average_last"):
        CheckpointSelectionConfig(average_last=1)


