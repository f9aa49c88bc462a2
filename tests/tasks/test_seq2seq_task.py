import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from bertlab.models import BertEncoder
from bertlab.models.bert2bert import build_bert2bert
from bertlab.tasks.seq2seq import (Seq2SeqModelConfig, Seq2SeqTask, Seq2SeqTaskConfig,
                                   label_smoothed_cross_entropy)
from bertlab.text.sentencepiece_tokenizer import SubwordConfig, subword_tokenizer
from bertlab.training.checkpoint_selection import (CheckpointSelectionConfig,
                                                   average_checkpoint_weights, run_checkpoints,
                                                   select_checkpoint)
from bertlab.text.sentencepiece_tokenizer import BOS_ID, EOS_ID, PAD_ID
from bertlab.training import OptimizerConfig, TrainerConfig, run_experiment


@pytest.fixture(scope="module")
def pairs(data_dir):
    en = (data_dir / "multi30k" / "train.en").read_text(encoding="utf-8").splitlines()[:300]
    de = (data_dir / "multi30k" / "train.de").read_text(encoding="utf-8").splitlines()[:300]
    return en, de


@pytest.fixture(scope="module")
def spm_path(pairs, tmp_path_factory):
    return str(tmp_path_factory.mktemp("spm") / "spm.model")


def _tiny_config(**task):
    model = Seq2SeqModelConfig(num_encoder_layers=1, num_decoder_layers=1, hidden_dim=32,
                               num_heads=2, intermediate_dim=64)
    return Seq2SeqTaskConfig(model=model, **task)


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


def test_subword_tokenizer_reuses_a_saved_model(pairs, spm_path):
    first = subword_tokenizer(SubwordConfig(vocabulary_size=500), pairs[0] + pairs[1], spm_path)
    # A resumed run reloads the file instead of training on (different) text.
    again = subword_tokenizer(SubwordConfig(vocabulary_size=300), ["other text"], spm_path)
    assert again.proto == first.proto


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


def test_training_selection_and_averaging(pairs, spm_path, tmp_path):
    tokenizer = subword_tokenizer(SubwordConfig(), pairs[0] + pairs[1], spm_path)
    task = Seq2SeqTask(_tiny_config(), tokenizer, {"train": pairs, "validation": pairs}, 16)
    model_dir = str(tmp_path / "run")
    summary = run_experiment(task, TrainerConfig(train_steps=6, global_batch_size=16,
                                                 steps_per_loop=3, log_interval=3,
                                                 checkpoint_interval=2, keep_checkpoints=3),
                             OptimizerConfig(learning_rate=1e-3), model_dir)
    assert summary["final_eval"]["perplexity"] > 1
    paths = run_checkpoints(model_dir)
    assert [os.path.basename(p) for p in paths] == ["ckpt-2", "ckpt-4", "ckpt-6"]
    model = task.model
    snapshots = {}
    for path in paths:
        tf.train.Checkpoint(model=model).restore(path).expect_partial()
        snapshots[os.path.basename(path)] = [w.copy() for w in model.get_weights()]
    average_checkpoint_weights(model, paths[1:])
    for got, a, b in zip(model.get_weights(), snapshots["ckpt-4"], snapshots["ckpt-6"]):
        np.testing.assert_allclose(got, (a + b) / 2, rtol=1e-5, atol=1e-7)
    # The metric decides: make ckpt-4 the best and check the model ends there.
    scores = iter([1.0, 5.0, 2.0, 3.0])
    config = CheckpointSelectionConfig(num_checkpoints=3, average_last=2, metric="score")
    best, results = select_checkpoint(model, model_dir, config,
                                      lambda: {"score": next(scores)}, log_fn=lambda _: None)
    assert best == "ckpt-4" and len(results) == 4
    assert "average(ckpt-4..ckpt-6)" in results
    for got, want in zip(model.get_weights(), snapshots["ckpt-4"]):
        np.testing.assert_array_equal(got, want)


def test_bert2bert_encoder_is_bert(minilm_dir):
    model = build_bert2bert(minilm_dir, dropout=0.0, num_decoder_layers=2)
    bert = BertEncoder.from_pretrained(minilm_dir)
    ids = np.array([[101, 7592, 2088, 999, 102, 0], [101, 2307, 102, 0, 0, 0]], "int32")
    mask = (ids > 0).astype("int32")
    expected = bert({"token_ids": ids, "segment_ids": np.zeros_like(ids),
                     "padding_mask": mask})["sequence_output"].numpy()
    got = model.encode(ids, mask).numpy()
    np.testing.assert_allclose(got[mask == 1], expected[mask == 1], atol=2e-5)
    # The decoder reuses BERT's layers: self-attention and feed-forward weights match,
    # and the output projection is tied to the shared token embedding.
    block, bert_block = model.decoder_blocks[1], bert.transformer_layers[1]
    for a, b in zip(block.feed_forward.get_weights(), bert_block.feed_forward.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(block.cross_attention.query_dense.get_weights()[0],
                                  bert_block.attention.qkv_dense.get_weights()[0][:, :384])
    logits = model({"encoder_token_ids": ids, "encoder_padding_mask": mask,
                    "decoder_token_ids": ids[:, :3], "decoder_padding_mask": mask[:, :3]})
    assert logits.shape == (2, 3, 30522)
    with pytest.raises(ValueError, match="vocabulary_size"):
        build_bert2bert(minilm_dir, vocabulary_size=1000)
