"""TextClassificationTask: data splits, bucketed batches, loss, learned vocabularies."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from bertlab.data import DataError
from bertlab.tasks import (EncoderConfig, TextClassificationConfig, TextClassificationTask,
                           TextDataConfig)
from bertlab.tasks.classification_metrics import best_f1_threshold


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


# ---------------------------------------------------------------- decision threshold

def _binary_task(tmp_path, minilm_dir, **config):
    rows = [(f"{'free prize ' * (i % 3)}message {i}", "spam" if i % 3 == 0 else "ham")
            for i in range(40)]
    path = tmp_path / "sms.tsv"
    path.write_text("".join(f"{l}\t{t}\n" for t, l in rows), encoding="utf-8")
    return TextClassificationTask(TextClassificationConfig(
        encoder=_tiny_encoder(f"{minilm_dir}/vocab.txt"),
        data=TextDataConfig(data_dir=str(tmp_path), train="sms.tsv", validation="",
                            holdout_every=4, has_header=False, text_column=1,
                            label_column="0", label_values=[]),
        class_names=["ham", "spam"], positive_class="spam", sequence_length=16, **config),
        global_batch_size=8)


def _evaluate_by_hand(task, model, split="validation"):
    metrics = task.build_metrics()
    for features, labels in task.build_dataset(split):
        task.update_metrics(metrics, labels, model(features, training=False))
    return task.aggregate_eval(metrics)


def test_positive_class_threshold_is_chosen_then_fixed(tmp_path, minilm_dir):
    task = _binary_task(tmp_path, minilm_dir)
    assert task.main_metric == "f1" and task.class_names == ["ham", "spam"]
    model = task.build_model()
    results = _evaluate_by_hand(task, model)
    # The same numbers from the model's probabilities, computed here without the task.
    examples = task.examples("validation")
    inputs = task.preprocessor(tf.constant(examples.texts))
    spam = tf.nn.softmax(model(inputs, training=False), axis=-1)[:, 1].numpy()
    gold = np.array(examples.labels) == 1
    threshold, f1 = best_f1_threshold(spam, gold)
    assert results["threshold"] == pytest.approx(threshold, abs=1e-5)
    assert results["f1"] == pytest.approx(f1)
    assert results["accuracy"] == pytest.approx(np.mean((spam >= 0.5) == gold))
    # Once fixed (the chosen weights' threshold), an evaluation scores at it.
    task.finalize({"threshold": 0.999})
    fixed = _evaluate_by_hand(task, model)
    assert fixed["threshold"] == 0.999
    assert fixed["recall"] == pytest.approx(np.sum((spam >= 0.999) & gold) / gold.sum())


def test_bad_positive_class_and_regression_settings():
    with pytest.raises(ValueError, match="positive_class"):
        TextClassificationConfig(class_names=["a", "b"],
                                 positive_class="c")
    with pytest.raises(ValueError, match="exactly 2 classes"):
        TextClassificationConfig(class_names=["a", "b", "c"],
                                 data=TextDataConfig(label_values=[]), positive_class="a")
    with pytest.raises(ValueError, match="classification head"):
        TextClassificationConfig(head="regression", positive_class="a")
    with pytest.raises(ValueError, match="head"):
        TextClassificationConfig(head="ranking")


# ---------------------------------------------------------------- pairs and regression

def _pair_task(tmp_path, minilm_dir, **config):
    rows = [(f"{i / 10:.3f}", f"a man plays number {i}", f"{'someone ' * (i % 4)}plays {i}")
            for i in range(50)]
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"g\tf\ty\t{i}\t{s}\t{a}\t{b}\n" for i, (s, a, b) in enumerate(rows)),
                    encoding="utf-8")
    return TextClassificationTask(TextClassificationConfig(
        encoder=_tiny_encoder(f"{minilm_dir}/vocab.txt"),
        data=TextDataConfig(data_dir=str(tmp_path), train="pairs.tsv", validation="pairs.tsv",
                            has_header=False, text_column=5, text_pair_column=6,
                            label_column="4"),
        head="regression", sequence_length=16, eval_batch_size=8, **config),
        global_batch_size=8)


def test_pair_batches_hold_both_segments(tmp_path, minilm_dir):
    task = _pair_task(tmp_path, minilm_dir)
    assert task.text_pair and task.main_metric == "spearman"
    examples = task.examples("validation")
    expected = task.preprocessor((tf.constant(examples.texts), tf.constant(examples.pairs)))
    expected = {(tuple(t[m == 1]), tuple(s[m == 1])) for t, s, m in zip(
        expected["token_ids"].numpy(), expected["segment_ids"].numpy(),
        expected["padding_mask"].numpy())}
    seen = set()
    for features, labels in task.build_dataset("validation"):
        mask = features["padding_mask"].numpy()
        for t, s, m in zip(features["token_ids"].numpy(), features["segment_ids"].numpy(), mask):
            seen.add((tuple(t[m == 1]), tuple(s[m == 1])))
        assert set(labels) == {"label", "index"}
    assert seen == expected
    assert any(1 in s for _, s in seen)  # second segments are there


def test_regression_loss_and_correlations(tmp_path, minilm_dir):
    from scipy import stats

    task = _pair_task(tmp_path, minilm_dir)
    total, weight = task.compute_loss({"label": tf.constant([1.0, 3.0])},
                                      tf.constant([[1.5], [2.0]]))
    assert float(total) == pytest.approx(0.25 + 1.0) and float(weight) == 2.0
    model = task.build_model()
    assert model.num_classes == 1
    results = _evaluate_by_hand(task, model)
    examples = task.examples("validation")
    inputs = task.preprocessor((tf.constant(examples.texts), tf.constant(examples.pairs)))
    scores = model(inputs, training=False).numpy()[:, 0]
    assert results["spearman"] == pytest.approx(stats.spearmanr(scores, examples.labels)[0],
                                                abs=1e-4)
    assert results["pearson"] == pytest.approx(stats.pearsonr(scores, examples.labels)[0],
                                               abs=1e-4)
    assert results["mse"] == pytest.approx(np.mean((scores - examples.labels) ** 2), rel=1e-4)


def test_regression_labels_must_be_numbers(tmp_path, minilm_dir):
    task = _pair_task(tmp_path, minilm_dir)
    (tmp_path / "pairs.tsv").write_text("g\tf\ty\t1\tfive\ta\tb\n", encoding="utf-8")
    with pytest.raises(DataError, match="'five'.*needs numbers"):
        task.examples("train")


def test_class_names_from_a_file(data_dir, minilm_dir):
    task = TextClassificationTask(TextClassificationConfig(
        encoder=_tiny_encoder(f"{minilm_dir}/vocab.txt"),
        data=TextDataConfig(data_dir=str(data_dir), train="ag_news/train.csv", validation="",
                            holdout_every=10, file_format="csv", has_header=False,
                            text_column=[1, 2], label_column="0",
                            label_values=["1", "2", "3", "4"], max_train_examples=20),
        class_names_file="ag_news/classes.txt"))
    assert task.class_names == ["World", "Sports", "Business", "Sci/Tech"]
    assert task.num_examples("validation") == 600
    assert set(task.examples("validation").labels) == {0, 1, 2, 3}
