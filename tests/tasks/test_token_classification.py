"""TokenClassificationTask: tag names, first-subword labels in batches, masked loss."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from bertlab.data import DataError
from bertlab.tasks import (EncoderConfig, TaggedDataConfig, TokenClassificationConfig,
                           TokenClassificationTask)
from bertlab.tasks.token_classification import tags_from_data
from bertlab.text.word_tokenization import split_whitespace, tokenize_words

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
U.S.-led JJ B-NP B-MISC
talks NNS I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O
"""


@pytest.fixture
def task(tmp_path, minilm_dir):
    path = tmp_path / "train.txt"
    path.write_text(CONLL, encoding="utf-8")
    config = TokenClassificationConfig(
        encoder=EncoderConfig(init="none", num_layers=1, hidden_dim=32, num_heads=2,
                              intermediate_dim=64, max_sequence_length=64,
                              vocabulary=f"{minilm_dir}/vocab.txt"),
        data=TaggedDataConfig(data_dir=str(tmp_path), train="train.txt",
                              validation="train.txt"),
        sequence_length=32, eval_batch_size=2)
    return TokenClassificationTask(config, global_batch_size=2)


def test_tag_names_from_data(task):
    assert task.tag_names == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG",
                              "B-PER", "I-PER"]
    assert tags_from_data([["I-X", "O"]]) == ["O", "B-X", "I-X"]


def test_labels_sit_on_first_subwords(task):
    sentences = task.examples("validation")
    seen = collections.Counter()
    for features, labels in task.build_dataset("validation"):
        ids, labels = features["token_ids"].numpy(), labels.numpy()
        assert ids.shape == labels.shape
        assert np.all(labels[features["padding_mask"].numpy() == 0] == -1)
        for row_ids, row_labels in zip(ids, labels):
            seen[(tuple(row_ids[row_ids != 0]),
                  tuple(task.tag_names[t] for t in row_labels[row_labels >= 0]))] += 1
    expected = collections.Counter()
    for words, tags in zip(sentences.tokens, sentences.tags):
        pieces = tokenize_words(task.tokenizer, split_whitespace(tf.constant([" ".join(words)])))
        flat = [i for word in pieces.to_list()[0] for i in word]
        ids = (task.tokenizer.token_to_id("[CLS]"), *flat, task.tokenizer.token_to_id("[SEP]"))
        expected[(ids, tuple(tags))] += 1
    assert seen == expected
    # "U.S.-led" is 6 subwords with one label: 10 labels for 3 + 6 + ... subwords.
    assert sum(len(t) for t in sentences.tags) == 9


def test_casing_features_reach_the_model(tmp_path, minilm_dir):
    (tmp_path / "train.txt").write_text(CONLL, encoding="utf-8")
    task = TokenClassificationTask(TokenClassificationConfig(
        encoder=EncoderConfig(init="none", num_layers=1, hidden_dim=32, num_heads=2,
                              intermediate_dim=64, max_sequence_length=64,
                              vocabulary=f"{minilm_dir}/vocab.txt"),
        data=TaggedDataConfig(data_dir=str(tmp_path), train="train.txt",
                              validation="train.txt"),
        sequence_length=32, eval_batch_size=8, casing_features=True), global_batch_size=2)
    rows = set()
    for features, labels in task.build_dataset("validation"):
        casing = features["casing_ids"].numpy()
        assert casing.shape == labels.shape == features["token_ids"].shape
        assert np.all(casing[features["padding_mask"].numpy() == 0] == 0)
        rows |= {tuple(int(c) for c in r[r > 0]) for r in casing}
    words = split_whitespace(tf.constant(["EU rejects U.S.-led talks .", "Peter Blackburn",
                                          "BRUSSELS 1996-08-22"]))
    subwords = [[len(w) for w in s] for s in tokenize_words(task.tokenizer, words).to_list()]
    casings = [[3, 1, 4, 1, 6], [2, 2], [3, 5]]  # "U.S.-led" is mixed
    assert rows == {tuple(c for c, n in zip(cs, ns) for _ in range(n))
                    for cs, ns in zip(casings, subwords)}
    model = task.build_model()
    assert model.num_casing_ids == 7 and model(features).shape[:2] == labels.shape


def test_loss_ignores_unlabelled_positions(task):
    labels = tf.constant([[-1, 1, -1, 0, -1]])
    logits = tf.random.normal([1, 5, len(task.tag_names)])
    total, weight = task.compute_loss(labels, logits)
    expected = tf.keras.losses.sparse_categorical_crossentropy(
        tf.constant([1, 0]), tf.gather(logits[0], [1, 3]), from_logits=True)
    np.testing.assert_allclose(float(total), float(tf.reduce_sum(expected)), rtol=1e-5)
    assert float(weight) == 2.0
    metric = task.build_metrics()[0]
    task.update_metrics([metric], labels, tf.one_hot([[0, 1, 0, 0, 0]], len(task.tag_names)))
    assert task.aggregate_eval([metric]) == {"entity_f1": 1.0, "entity_precision": 1.0,
                                             "entity_recall": 1.0}


def test_unknown_tags_and_bad_config(tmp_path, minilm_dir):
    path = tmp_path / "t.txt"
    path.write_text("EU B-ORG\nrejects O\n", encoding="utf-8")
    config = TokenClassificationConfig(
        encoder=EncoderConfig(init="none", vocabulary=f"{minilm_dir}/vocab.txt"),
        data=TaggedDataConfig(train=str(path), validation=str(path)),
        tag_names=["O", "B-PER", "I-PER"])
    with pytest.raises(DataError, match=r"tags \['B-ORG'\]"):
        TokenClassificationTask(config).build_dataset("train")
    with pytest.raises(ValueError, match="'O'"):
        TokenClassificationConfig(tag_names=["B-PER"])
    with pytest.raises(ValueError, match="serving_sequence_length"):
        TokenClassificationConfig(serving_sequence_length=2)


def test_report_split_is_read_whole(tmp_path, minilm_dir):
    # Validation carved from the training file (every 2nd sentence); another file is the
    # report split, read whole, its batches like validation's.
    (tmp_path / "train.txt").write_text(CONLL, encoding="utf-8")
    (tmp_path / "valid.txt").write_text("Peter NNP B-NP B-PER\nsaid VBD B-VP O\n",
                                        encoding="utf-8")
    task = TokenClassificationTask(TokenClassificationConfig(
        encoder=EncoderConfig(init="none", num_layers=1, hidden_dim=32, num_heads=2,
                              intermediate_dim=64, max_sequence_length=64,
                              vocabulary=f"{minilm_dir}/vocab.txt"),
        data=TaggedDataConfig(data_dir=str(tmp_path), train="train.txt", validation="",
                              holdout_every=2, report="valid.txt"),
        sequence_length=32, eval_batch_size=2), global_batch_size=2)
    assert task.examples("train").tokens == [["EU", "rejects", "U.S.-led", "talks", "."],
                                             ["BRUSSELS", "1996-08-22"]]
    assert task.examples("validation").tokens == [["Peter", "Blackburn"]]
    assert task.examples("report").tokens == [["Peter", "said"]]
    features, labels = next(iter(task.build_dataset("report")))
    assert features["token_ids"].shape[0] == 1 and labels.shape == features["token_ids"].shape
