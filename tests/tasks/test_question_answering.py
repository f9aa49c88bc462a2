"""QuestionAnsweringTask on small SQuAD-format files: questions per split (carved by article
or from a file, or all of them in a final fit), windows and their answer-token labels, batches, the loss, EM/F1 of the answer
text from crafted logits (SQuAD and CMRC metrics), bad configs and data."""

import json
import math
import types

import numpy as np
import pytest
import tensorflow as tf

from bertlab.data import DataError
from bertlab.tasks import (EncoderConfig, QuestionAnsweringConfig, QuestionAnsweringTask,
                           QuestionDataConfig)
from bertlab.tasks.fine_tuning_cli import apply_final_fit
from bertlab.training import ScheduleConfig

SEQUENCE_LENGTH, MAX_QUERY_LENGTH, DOC_STRIDE = 24, 6, 4

ALPHA = ("The Denver Broncos defeated the Carolina Panthers 24 to 10 in Super Bowl 50 , played "
         "on February 7 , 2016 at Levi's Stadium in Santa Clara , California .")
BETA = ("Warsaw is the capital and largest city of Poland . It stands on the Vistula River in "
        "east-central Poland , roughly 260 kilometres from the Baltic Sea .")
GAMMA = "Marie Curie won the Nobel Prize in Physics in 1903 ."
DELTA = ("The Eiffel Tower was completed in 1889 . It was designed by the engineering firm of "
         "Gustave Eiffel .")


def _qa(qid, question, answers):
    """`answers`: (text, start) pairs; start None = the right one (absent text: 0)."""
    return {"id": qid, "question": question,
            "answers": [{"text": t, "answer_start": s} for t, s in answers]}


def _article(title, context, qas):
    answers = []
    for qa in qas:
        for answer in qa["answers"]:
            if answer["answer_start"] is None:
                answer["answer_start"] = max(context.find(answer["text"]), 0)
        answers.append(qa)
    return {"title": title, "paragraphs": [{"context": context, "qas": answers}]}


TRAIN = {"version": "1.1", "data": [
    _article("Alpha", ALPHA, [
        _qa("a1", "Who won Super Bowl 50?", [("Denver Broncos", None)]),
        _qa("a2", "Where was the game played?", [("Santa Clara", 3)]),  # wrong start
        _qa("a3", "Which city hosted the Olympics?", [("Paris", 12)]),  # not in the context
    ]),
    _article("Beta", BETA, [
        _qa("b1", "What river is Warsaw on?", [("Vistula River", None),
                                               ("the Vistula River", None)]),
        _qa("b2", "How far is Warsaw from the sea?", [("260 kilometres", 100)]),  # wrong start
        _qa("b3", "Who founded Warsaw?", [("King Sigismund", 5)]),  # not in the context
    ]),
    _article("Gamma", GAMMA, [_qa("c1", "What did Curie win?", [("Nobel Prize", None)])]),
]}
REPORT = {"data": [_article("Delta", DELTA, [
    _qa("d1", "When was the tower completed?", [("1889", None)]),
    _qa("d2", "Whose firm designed it?", [("Gustave Eiffel", None),
                                          ("the engineering firm of Gustave Eiffel", None)]),
])]}
# Where each answer really is (the training label): the first answer's text, found.
GOLD = {"a1": (ALPHA, "Denver Broncos"), "a2": (ALPHA, "Santa Clara"), "a3": None,
        "b1": (BETA, "Vistula River"), "b2": (BETA, "260 kilometres"), "b3": None,
        "c1": (GAMMA, "Nobel Prize"), "d1": (DELTA, "1889"), "d2": (DELTA, "Gustave Eiffel")}


def _write(path, document):
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path.name


def _task(directory, minilm_dir, data=None, global_batch_size=4, **config):
    data = {"data_dir": str(directory), "train": "train.json", "validation": "",
            "holdout_every": 2, "report": "report.json", **(data or {})}
    config = {"sequence_length": SEQUENCE_LENGTH, "max_query_length": MAX_QUERY_LENGTH,
              "doc_stride": DOC_STRIDE, "eval_batch_size": 4, **config}
    return QuestionAnsweringTask(QuestionAnsweringConfig(
        encoder=EncoderConfig(init="none", num_layers=1, hidden_dim=32, num_heads=2,
                              intermediate_dim=64, max_sequence_length=64,
                              vocabulary=f"{minilm_dir}/vocab.txt"),
        data=QuestionDataConfig(**data), **config), global_batch_size=global_batch_size)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("squad")
    _write(directory / "train.json", TRAIN)
    _write(directory / "report.json", REPORT)
    _write(directory / "valid.json", REPORT)
    return directory


@pytest.fixture(scope="module")
def task(files, minilm_dir):
    """Shared by the tests below (each split is encoded once). One length bucket: batches
    mix windows of different lengths, so some are padded."""
    return _task(files, minilm_dir, bucket_boundaries=[100])


@pytest.fixture(scope="module")
def eval_batches(task):
    """The batches of the evaluated splits (not shuffled: the same on every pass)."""
    return {split: list(task.build_dataset(split)) for split in ("validation", "report")}


def _expected_windows(task, example):
    """`pack_question_windows`' count, from its documented layout."""
    tokenizer = task.tokenizer
    q = min(len(tokenizer(tf.constant([example.question])).to_list()[0]), MAX_QUERY_LENGTH)
    length = len(tokenizer(tf.constant([example.context])).to_list()[0])
    max_doc = SEQUENCE_LENGTH - 3 - q
    stride = min(DOC_STRIDE, max_doc)
    return 1 + max(0, math.ceil((length - max_doc) / stride))


def test_splits_by_article_and_from_files(files, minilm_dir):
    task = _task(files, minilm_dir)  # fresh: training questions not yet filtered
    # Every 2nd article (Beta) is validation, with all its questions.
    assert [e.id for e in task.examples("train")] == ["a1", "a2", "a3", "c1"]
    assert [e.id for e in task.examples("validation")] == ["b1", "b2", "b3"]
    assert [e.id for e in task.examples("report")] == ["d1", "d2"]
    assert task.examples("report")[1].answer_texts == ("Gustave Eiffel",
                                                       "the engineering firm of Gustave Eiffel")
    with pytest.raises(ValueError, match="split"):
        task.examples("test")

    from_file = _task(files, minilm_dir, data=dict(validation="valid.json", holdout_every=0,
                                                   report="", max_train_examples=3))
    assert [e.title for e in from_file.examples("validation")] == ["Delta", "Delta"]
    train = from_file.examples("train")
    assert len(train) == 3 and {e.title for e in train} <= {"Alpha", "Beta", "Gamma"}
    with pytest.raises(ValueError, match="no `data.report`"):
        from_file.examples("report")
    assert from_file.build_metrics()[0].capacity == from_file.num_examples("validation")


def test_final_fit_trains_on_the_carved_split_too_and_has_no_validation(files, minilm_dir):
    """`schedule.final_fit` folds the every-2nd-article validation split back into training:
    every training question is trained on, no validation split is evaluated (the metrics
    hold the report's windows only), a config with a separate validation file is refused."""
    config = types.SimpleNamespace(
        schedule=ScheduleConfig(final_fit=True),
        task=types.SimpleNamespace(data=QuestionDataConfig(
            data_dir=str(files), train="train.json", validation="", holdout_every=2,
            report="report.json")))
    assert apply_final_fit(config) and config.task.data.holdout_every == 0
    task = _task(files, minilm_dir)
    task.config.data = config.task.data  # as the app builds it: the config changed in place
    assert [e.id for e in task.examples("train")] == ["a1", "a2", "a3", "b1", "b2", "b3", "c1"]
    with pytest.raises(ValueError, match="no validation split"):
        task.examples("validation")
    assert task.build_metrics()[0].capacity == task.num_examples("report")
    config.task.data = QuestionDataConfig(data_dir=str(files), train="train.json",
                                          validation="valid.json", holdout_every=0)
    with pytest.raises(ValueError, match="holdout_every"):
        apply_final_fit(config)
    config.schedule = ScheduleConfig()
    assert not apply_final_fit(config)


def test_windows_and_their_answer_labels(task):
    for split in ("train", "validation", "report"):
        windows = task.windows(split)
        examples = task.examples(split)
        assert task.num_examples(split) == len(windows)
        assert len(windows) == sum(_expected_windows(task, e) for e in examples)
        assert windows.example_index.tolist() == sorted(windows.example_index.tolist())
        starts, ends = windows.token_starts.to_list(), windows.token_ends.to_list()
        held = {e.id: 0 for e in examples}
        for w, i in enumerate(windows.example_index):
            example = examples[i]
            sp, ep = int(windows.start_positions[w]), int(windows.end_positions[w])
            context_starts = [s for s in starts[w] if s >= 0]
            context_ends = [e for e in ends[w] if e >= 0]
            gold = GOLD[example.id]
            if gold is None:
                assert sp == ep == 0
                continue
            begin = gold[0].index(gold[1])
            end = begin + len(gold[1])
            holds = context_starts[0] <= begin and context_ends[-1] >= end
            if holds:
                assert 0 < sp <= ep and example.context[starts[w][sp]:ends[w][ep]] == gold[1]
                held[example.id] += 1
            else:
                assert sp == ep == 0
        # Every answerable question has a window holding its answer.
        assert all(held[e.id] for e in examples if GOLD[e.id] is not None)
    # Training drops the question whose answer is not in its context; validation keeps it.
    assert [e.id for e in task.examples("train")] == ["a1", "a2", "c1"]
    assert [e.id for e in task.examples("validation")] == ["b1", "b2", "b3"]
    validation = task.windows("validation")
    # Beta is long enough for several windows, some of them without the answer.
    assert np.sum(validation.example_index == 0) > 2
    assert 0 in validation.start_positions[validation.example_index == 0]


def test_train_batches_have_labels_only(task):
    windows = task.windows("train")
    known = {}
    for w, ids in enumerate(windows.token_ids.to_list()):
        known[tuple(ids)] = (int(windows.start_positions[w]), int(windows.end_positions[w]),
                             tuple(windows.segment_ids[w].numpy()))
    seen = set()
    for features, labels in task.build_dataset("train").take(20):
        assert set(labels) == {"start_position", "end_position"}
        assert set(features) == {"token_ids", "segment_ids", "padding_mask"}
        assert features["token_ids"].shape[0] == 4
        for row, (ids, mask) in enumerate(zip(features["token_ids"].numpy(),
                                              features["padding_mask"].numpy())):
            key = tuple(ids[mask == 1])
            assert np.all(ids[mask == 0] == 0)
            start, end, segments = known[key]
            assert (int(labels["start_position"][row]), int(labels["end_position"][row])) == (
                start, end)
            assert tuple(features["segment_ids"][row].numpy()[mask == 1]) == segments
            seen.add(key)
    assert len(seen) == len(known)  # 80 draws: every window, whatever its bucket


def test_evaluation_batches_carry_window_index_and_offsets(task, eval_batches):
    first = task.num_examples("validation")
    padded = 0
    for split, offset in (("validation", 0), ("report", first)):
        windows = task.windows(split)
        indices = []
        for features, labels in eval_batches[split]:
            assert set(labels) == {"start_position", "end_position", "index", "token_starts",
                                   "token_ends"}
            mask = features["padding_mask"].numpy()
            for row, index in enumerate(labels["index"].numpy()):
                w = index - offset
                indices.append(int(index))
                n = int(mask[row].sum())
                padded += n < mask.shape[1]
                assert features["token_ids"][row, :n].numpy().tolist() == \
                    windows.token_ids[w].numpy().tolist()
                for key in ("token_starts", "token_ends"):
                    row_values = labels[key][row].numpy()
                    assert row_values[:n].tolist() == getattr(windows, key)[w].numpy().tolist()
                    assert np.all(row_values[n:] == -1)
                assert int(labels["start_position"][row]) == windows.start_positions[w]
                assert int(labels["end_position"][row]) == windows.end_positions[w]
        # The report's windows are numbered after validation's.
        assert sorted(indices) == list(range(offset, offset + len(windows)))
    assert padded  # (-1 on padding: no span can start or end there)


def test_loss_is_the_mean_of_start_and_end_cross_entropy(task):
    rng = np.random.default_rng(0)
    start_logits, end_logits = (rng.normal(size=(3, 7)).astype("float32") for _ in range(2))
    labels = {"start_position": tf.constant([2, 0, 5]), "end_position": tf.constant([4, 0, 5])}
    total, weight = task.compute_loss(labels, {"start_logits": tf.constant(start_logits),
                                               "end_logits": tf.constant(end_logits)})

    def nll(logits, targets):
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -log_p[np.arange(len(targets)), targets]

    expected = (nll(start_logits, [2, 0, 5]) + nll(end_logits, [4, 0, 5])).sum() / 2.0
    np.testing.assert_allclose(float(total), expected, rtol=1e-5)
    assert float(weight) == 3.0


def _logits(labels, width, shift_end):
    """10 at each answer-holding window's gold start and end (end moved right by
    `shift_end` tokens when that is still a context token); 0 elsewhere."""
    batch = labels["index"].shape[0]
    starts, ends = np.zeros((batch, width), "float32"), np.zeros((batch, width), "float32")
    token_starts = labels["token_starts"].numpy()
    for row in range(batch):
        sp, ep = int(labels["start_position"][row]), int(labels["end_position"][row])
        ep += shift_end
        if sp > 0 and ep < token_starts.shape[1] and token_starts[row, ep] >= 0:
            starts[row, sp] = ends[row, ep] = 10.0
    return {"start_logits": tf.constant(starts), "end_logits": tf.constant(ends)}


def _evaluate(task, split, shift_end=0, metrics=None, batches=None, dataset=None):
    metrics = metrics or task.build_metrics()
    dataset = dataset if dataset is not None else list(task.build_dataset(split))
    for features, labels in dataset[:batches]:
        width = features["token_ids"].shape[1]
        task.update_metrics(metrics, labels, _logits(labels, width, shift_end))
    return task.aggregate_eval(metrics)


def test_exact_match_and_f1_of_the_answer_text(task, eval_batches):
    validation, report = eval_batches["validation"], eval_batches["report"]
    # Report: the gold spans are the answers.
    assert _evaluate(task, "report", dataset=report) == {"exact_match": 100.0, "f1": 100.0}
    # Validation: b3's answer is not in its context (all logits 0: the first token,
    # "Warsaw", scores 0), the other two are right.
    result = _evaluate(task, "validation", dataset=validation)
    assert result["exact_match"] == pytest.approx(200 / 3)
    assert result["f1"] == pytest.approx(200 / 3)
    # One token too many: "Vistula River in", "260 kilometres from" (F1 0.8 each), "Warsaw".
    result = _evaluate(task, "validation", shift_end=1, dataset=validation)
    assert result["exact_match"] == 0.0
    assert result["f1"] == pytest.approx(100 * 1.6 / 3)
    # "1889 ." and "Gustave Eiffel ." normalize to the references.
    result = _evaluate(task, "report", shift_end=1, dataset=report)
    assert result["exact_match"] == pytest.approx(100.0)


def test_evaluation_tells_the_splits_apart_and_needs_every_window(task, eval_batches):
    metrics = task.build_metrics()
    assert sorted(m.name for m in metrics) == ["window_end", "window_score", "window_start"]
    assert metrics[0].capacity == task.num_examples("validation") + task.num_examples("report")
    # Training batches (no index) keep nothing; nothing collected: no results.
    features, labels = next(iter(task.build_dataset("train")))
    task.update_metrics(metrics, labels, {"start_logits": tf.zeros_like(features["token_ids"],
                                                                        tf.float32),
                                          "end_logits": tf.zeros_like(features["token_ids"],
                                                                      tf.float32)})
    assert task.aggregate_eval(metrics) == {}
    # The same metric objects, reset between splits, as the runner does.
    assert _evaluate(task, "report", metrics=metrics, dataset=eval_batches["report"]) == {
        "exact_match": 100.0, "f1": 100.0}
    for m in metrics:
        m.reset_state()
    result = _evaluate(task, "validation", metrics=metrics, dataset=eval_batches["validation"])
    assert result["exact_match"] == pytest.approx(200 / 3)
    for m in metrics:
        m.reset_state()
    with pytest.raises(ValueError, match=r"Collected \d+ answers of the \d+ validation windows"):
        _evaluate(task, "validation", metrics=metrics, batches=1,
                  dataset=eval_batches["validation"])


def test_cmrc_metric_scores_characters(tmp_path, minilm_dir):
    context = "北京大学是中国的一所大学，位于北京市海淀区。"
    document = {"data": [_article("北大", context, [
        _qa("z1", "哪所大学位于海淀区？", [("北京大学", None)]),
        _qa("z2", "北京大学位于哪个区？", [("海淀区", 7)]),  # wrong start
    ])]}
    _write(tmp_path / "cmrc.json", document)
    task = _task(tmp_path, minilm_dir, data=dict(train="cmrc.json", validation="cmrc.json",
                                                 holdout_every=0, report="", metric="cmrc"))
    batches = list(task.build_dataset("validation"))
    assert _evaluate(task, "validation", dataset=batches) == {"exact_match": 100.0, "f1": 100.0}
    # One character too many: "北京大学是" (4 of 5 and 4 of 4: F1 8/9), "海淀区。"
    # (the script drops "。": exact).
    result = _evaluate(task, "validation", shift_end=1, dataset=batches)
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(100 * (8 / 9 + 1) / 2)
    # The same answers under SQuAD's metric (read when scoring): whitespace tokens, and
    # "。" is not punctuation to it.
    task.config.data.metric = "squad"
    assert _evaluate(task, "validation", dataset=batches) == {"exact_match": 100.0, "f1": 100.0}
    assert _evaluate(task, "validation", shift_end=1, dataset=batches) == {
        "exact_match": 0.0, "f1": 0.0}


@pytest.mark.parametrize("fields, name", [
    (dict(max_query_length=0), "max_query_length"),
    (dict(doc_stride=0), "doc_stride"),
    (dict(sequence_length=67, max_query_length=64), "sequence_length"),
    (dict(max_answer_length=0), "max_answer_length"),
])
def test_bad_task_config_names_the_field(fields, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        QuestionAnsweringConfig(**fields)
    QuestionAnsweringConfig(sequence_length=68, max_query_length=64)  # just room enough


@pytest.mark.parametrize("fields, names", [
    (dict(metric="bleu"), ["metric"]),
    (dict(validation="v.json", holdout_every=8), ["validation", "holdout_every"]),
    (dict(validation="", holdout_every=0), ["validation", "holdout_every"]),
    (dict(holdout_every=1), ["holdout_every"]),
])
def test_bad_data_config_names_the_field(fields, names):
    with pytest.raises(ValueError) as error:
        QuestionDataConfig(**fields)
    for name in names:
        assert f"`{name}`" in str(error.value)


def test_train_split_without_any_found_answer_is_a_data_error(tmp_path, minilm_dir):
    document = {"data": [_article("Only", GAMMA, [
        _qa("x1", "What did Curie win?", [("the Oscar", 3)]),
        _qa("x2", "When?", [("   ", 0)]),  # blank
    ])]}
    _write(tmp_path / "none.json", document)
    task = _task(tmp_path, minilm_dir, data=dict(train="none.json", validation="none.json",
                                                 holdout_every=0, report=""))
    assert len(task.examples("validation")) == 2  # evaluation would still read them
    with pytest.raises(DataError, match="No training question has an answer"):
        task.num_examples("train")
