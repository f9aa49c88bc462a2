"""SentenceEmbeddingTask on a handful of pairs: splits (carved by pair or by group, a report in
another format), the stacked two-sided batches, CoSENT and in-batch-negative losses against
NumPy, Spearman x 100 and MRR@10 over a whole split from collected embeddings, a short run of the
runner on query pairs, bad configs."""

import json

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from bertlab.data import DataError
from bertlab.tasks import EncoderConfig
from bertlab.tasks.sentence_embedding import (PairDataConfig, SentenceEmbeddingConfig,
                                              SentenceEmbeddingTask, retrieval_scores)
from bertlab.training import OptimizerConfig, Trainer, TrainerConfig

SENTENCES = ["a man plays a guitar", "a woman is slicing an onion", "the cat sleeps",
             "two dogs run on the beach", "a plane is taking off", "someone rides a horse",
             "children play football in a park", "a chef cooks pasta"]


def _stsb_line(i, score, a, b):
    return f"main-captions\tMSRvid\t2012test\t{i:04d}\t{score:.3f}\t{a}\t{b}\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(0)
    lines = [_stsb_line(i, rng.uniform(0, 5), SENTENCES[i % 8], SENTENCES[(3 * i + 1) % 8])
             for i in range(20)]
    (directory / "train.csv").write_text("".join(lines), encoding="utf-8")
    (directory / "dev.csv").write_text("".join(lines[:6]), encoding="utf-8")
    papers = [{"paper_id": f"p{i}", "source": [SENTENCES[i], "More words here."],
               "target": [f"tldr {SENTENCES[i]}"] + ([f"also {SENTENCES[i]}"] if i < 2 else [])}
              for i in range(8)]
    (directory / "papers.jsonl").write_text("\n".join(json.dumps(p) for p in papers),
                                            encoding="utf-8")
    return directory


def _config(directory, minilm_dir, data=None, **config):
    data = {"data_dir": str(directory), "train": "train.csv", "holdout_every": 4,
            "report": "dev.csv", **(data or {})}
    return SentenceEmbeddingConfig(
        encoder=EncoderConfig(init="none", num_layers=1, hidden_dim=32, num_heads=2,
                              intermediate_dim=64, max_sequence_length=64,
                              vocabulary=f"{minilm_dir}/vocab.txt"),
        data=PairDataConfig(**data), sequence_length=16, eval_batch_size=4,
        bucket_boundaries=[6], **config)


@pytest.fixture(scope="module")
def task(files, minilm_dir):
    return SentenceEmbeddingTask(_config(files, minilm_dir), global_batch_size=4)


def test_splits_carved_by_pair_or_by_group(task, files, minilm_dir):
    train, validation = task.pairs("train"), task.pairs("validation")
    assert len(train) == 15 and len(validation) == 5 and len(task.pairs("report")) == 6
    assert validation.first[0] == SENTENCES[3]  # pairs 3, 7, 11, ...: every 4th
    assert task.main_metric == "spearman"
    with pytest.raises(ValueError, match="`split`"):
        task.pairs("test")
    # Query data: every 4th paper, with all its TLDRs (p3, p7), reported on STS pairs.
    papers = SentenceEmbeddingTask(_config(files, minilm_dir, data=dict(
        format="scitldr", train="papers.jsonl", report_format="stsb"),
        loss="multiple_negatives_ranking"))
    assert papers.main_metric == "mrr@10"
    assert papers.pairs("validation").groups == ["p3", "p7"]
    assert len(papers.pairs("train")) == 8 and papers.pairs("report").scored
    subset = SentenceEmbeddingTask(_config(files, minilm_dir, data=dict(max_train_examples=5)))
    assert len(subset.pairs("train")) == 5


def test_batches_stack_first_then_second_texts(task):
    pairs = task.pairs("validation")
    encode = task.preprocessor
    expected = [(tuple(encode(tf.constant([a]))["token_ids"].numpy()[0]),
                 tuple(encode(tf.constant([b]))["token_ids"].numpy()[0]), score)
                for a, b, score in zip(pairs.first, pairs.second, pairs.scores)]
    seen = []
    for features, labels in task.build_dataset("validation"):
        ids, mask = features["token_ids"].numpy(), features["padding_mask"].numpy()
        n = ids.shape[0] // 2
        assert ids.shape[0] == 2 * n == 2 * labels["index"].shape[0]
        assert np.all((ids == 0) == (mask == 0)) and not features["segment_ids"].numpy().any()
        for row in range(n):
            first, second, score = expected[int(labels["index"][row])]
            assert tuple(ids[row][mask[row] == 1]) == first
            assert tuple(ids[n + row][mask[n + row] == 1]) == second
            assert labels["score"][row].numpy() == pytest.approx(score)
            seen.append(int(labels["index"][row]))
    assert sorted(seen) == list(range(5))
    # The report's pairs are numbered after validation's.
    report = [int(i) for _, labels in task.build_dataset("report") for i in labels["index"]]
    assert sorted(report) == list(range(5, 11))
    features, labels = next(iter(task.build_dataset("train")))
    assert set(labels) == {"score"} and features["token_ids"].shape[0] == 8


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_cosent_loss_against_numpy(task):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    scores = np.array([4.0, 1.0, 2.5, 1.0, 0.0])
    total, weight = task.compute_loss({"score": tf.constant(scores, tf.float32)},
                                      tf.constant(np.concatenate([a, b]), tf.float32))
    cosines = 20.0 * np.sum(_unit(a) * _unit(b), axis=1)
    terms = [cosines[j] - cosines[i] for i in range(5) for j in range(5)
             if scores[i] > scores[j]]
    expected = np.log1p(np.sum(np.exp(terms)))
    assert float(weight) == 5.0
    np.testing.assert_allclose(float(total) / 5.0, expected, rtol=1e-5)


def test_in_batch_negatives_loss_against_numpy(files, minilm_dir):
    task = SentenceEmbeddingTask(_config(files, minilm_dir, data=dict(
        format="scitldr", train="papers.jsonl", report=""), loss="multiple_negatives_ranking",
        scale=10.0))
    rng = np.random.default_rng(2)
    q, p = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    total, weight = task.compute_loss({"score": tf.zeros([4])},
                                      tf.constant(np.concatenate([q, p]), tf.float32))
    logits = 10.0 * _unit(q) @ _unit(p).T
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(float(total), -np.trace(log_p), rtol=1e-5)
    assert float(weight) == 4.0


def _evaluate(task, split, embed, metrics):
    for metric in metrics:
        metric.reset_state()
    for features, labels in task.build_dataset(split):
        task.update_metrics(metrics, labels, tf.constant(embed(features), tf.float32))
    return task.aggregate_eval(metrics)


def test_spearman_over_the_split_from_collected_embeddings(task):
    task.build_model()
    metrics = task.build_metrics()
    assert metrics[0].capacity == 11 and metrics[0].dim == 32
    rng = np.random.default_rng(3)
    vectors = {}  # one random vector per distinct token sequence

    def embed(features):
        ids, mask = features["token_ids"].numpy(), features["padding_mask"].numpy()
        return np.stack([vectors.setdefault(tuple(row[m == 1]), rng.normal(size=32))
                         for row, m in zip(ids, mask)])

    result = _evaluate(task, "validation", embed, metrics)
    pairs = task.pairs("validation")
    encode = task.preprocessor
    cosines = []
    for a, b in zip(pairs.first, pairs.second):
        va, vb = (vectors[tuple(encode(tf.constant([t]))["token_ids"].numpy()[0])]
                  for t in (a, b))
        cosines.append(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb))
    assert set(result) == {"spearman", "pearson"}
    assert result["spearman"] == pytest.approx(
        100 * scipy.stats.spearmanr(cosines, pairs.scores)[0], abs=1e-4)
    assert result["pearson"] == pytest.approx(
        100 * scipy.stats.pearsonr(cosines, pairs.scores)[0], abs=1e-4)
    # The report split is told apart by its indices; a partial pass is refused.
    assert _evaluate(task, "report", embed, metrics)["spearman"] != result["spearman"]
    for metric in metrics:
        metric.reset_state()
    features, labels = next(iter(task.build_dataset("validation")))
    task.update_metrics(metrics, labels, tf.constant(embed(features), tf.float32))
    with pytest.raises(ValueError, match=r"Collected 4 pairs of the 5 validation pairs"):
        task.aggregate_eval(metrics)
    # Training batches collect nothing.
    for metric in metrics:
        metric.reset_state()
    assert task.aggregate_eval(metrics) == {}


def test_retrieval_scores_rank_each_query_among_distinct_positives():
    positives = ["doc A", "doc B", "doc A"]  # queries 0 and 2 share doc A: 2 documents
    q = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    d = np.array([[1.0, 0.0], [0.0, 1.0], [-5.0, 0.0]])  # the duplicate's row is not used
    result = retrieval_scores(positives, q, d)
    # q0: A first (rank 1); q1: A above B (B rank 2); q2: B above A (A rank 2).
    assert result["mrr@10"] == pytest.approx(100 * (1 + 0.5 + 0.5) / 3)
    assert result["recall@1"] == pytest.approx(100 / 3)
    assert result["recall@10"] == pytest.approx(100.0)
    np.testing.assert_array_equal(q[0], [1.0, 0.0])  # the caller's arrays are left alone


@pytest.mark.parametrize("fields, data, name", [
    (dict(loss="triplet"), {}, "loss"),
    (dict(loss="cosent"), dict(format="scitldr"), "loss: cosent"),
    (dict(loss="multiple_negatives_ranking"), {}, "loss: multiple_negatives_ranking"),
    (dict(scale=0.0), {}, "scale"),
    (dict(pooling="max"), {}, "pooling"),
])
def test_bad_task_config_names_the_field(fields, data, name):
    with pytest.raises(ValueError, match=f"`{name}"):
        SentenceEmbeddingConfig(data=PairDataConfig(**data), **fields)


@pytest.mark.parametrize("fields, name", [
    (dict(format="tsv"), "format"),
    (dict(report_format="json"), "report_format"),
    (dict(validation="dev.csv"), "holdout_every"),
    (dict(holdout_every=1), "holdout_every"),
    (dict(max_train_examples=-1), "max_train_examples"),
])
def test_bad_data_config_names_the_field(fields, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        PairDataConfig(**fields)


def test_a_split_of_one_pair_is_a_data_error(files, minilm_dir):
    task = SentenceEmbeddingTask(_config(files, minilm_dir, data=dict(max_validation_examples=1)))
    with pytest.raises(DataError, match="validation split has 1 pair"):
        task.pairs("validation")


def test_the_runner_trains_on_query_pairs_and_scores_retrieval(files, minilm_dir, tmp_path):
    """In-batch negatives through the one runner: 6 steps of 4 (TLDR, abstract) pairs, the
    validation papers (with all their TLDRs) ranked among their distinct abstracts, the
    STS report scored by Spearman."""
    task = SentenceEmbeddingTask(_config(files, minilm_dir, data=dict(
        format="scitldr", train="papers.jsonl", report_format="stsb"),
        loss="multiple_negatives_ranking"), global_batch_size=4)
    trainer = Trainer(task, TrainerConfig(train_steps=6, global_batch_size=4, steps_per_loop=3,
                                          log_interval=3, checkpoint_interval=0),
                      OptimizerConfig(learning_rate=1e-3), str(tmp_path / "run"))
    summary = trainer.train()
    validation = summary["final_eval"]
    assert set(validation) == {"loss", "mrr@10", "recall@1", "recall@10", "ndcg@10"}
    assert validation["recall@10"] == 100.0  # 2 documents: always in the top 10
    assert 50.0 <= validation["mrr@10"] <= 100.0
    assert set(trainer.evaluate("report")) == {"loss", "spearman", "pearson"}
