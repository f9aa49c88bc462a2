"""Extractive question answering (SQuAD v1.1, CMRC 2018, DRCD) as a `Task` for the runner.

Questions come from SQuAD-format JSON (`bertlab.data.read_squad_json`). Each
question and its context are packed in the graph into `[CLS] question [SEP]
context-slice [SEP]` windows (`bertlab.text.pack_question_windows`: long
contexts give several windows, `doc_stride` tokens apart); a window is one
training example, labelled with the first answer's start and end token
positions, or `[CLS]` (0, 0) where the window does not hold the whole answer.
The model is a `BertQuestionAnswerer`.

Validation scores what a user gets: for every window the best span inside it
is found in the graph (`bertlab.decoding.select_answer_spans`), kept with its
score and character offsets (`ExamplePredictions`, exact under a multi-replica
strategy); `aggregate_eval` then takes, for each question, its best window's
span as the answer text and scores it against all reference answers with the
official SQuAD v1.1 metric (or CMRC 2018's, for Chinese): `exact_match` and
`f1` (0-100), the latter choosing the exported weights. The export takes raw
`question` and `context` strings (`bertlab.export.export_question_answerer`).

Example:
>>> task = QuestionAnsweringTask(QuestionAnsweringConfig(), global_batch_size=32)
>>> train_and_export(task, trainer_config, optimizer_config, "runs/squad", "saved_models/qa")
"""

import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging

from bertlab.data import DataError, answer_spans, read_squad_json, split_by_article
from bertlab.decoding import select_answer_spans
from bertlab.export import export_question_answerer
from bertlab.models.bert_question_answerer import BertQuestionAnswerer
from bertlab.models.dtype_policy_copy import resolve_export_policy
from bertlab.tasks.encoder_config import build_encoder, build_tokenizer
from bertlab.tasks.example_predictions import ExamplePredictions
from bertlab.tasks.fine_tuning_config import FineTuningConfig
from bertlab.tasks.labeled_data import (SPLITS, bucketed_dataset, check_validation_source,
                                        resolve_source, subset_indices)
from bertlab.tasks.squad_metrics import cmrc_scores, squad_scores
from bertlab.text.question_context_windows import answer_token_positions, pack_question_windows
from bertlab.training.task import Task

METRICS = {"squad": squad_scores, "cmrc": cmrc_scores}
# Questions packed per call of the windowing graph when a split is encoded.
_ENCODE_CHUNK = 512


@dataclasses.dataclass
class QuestionDataConfig:
    """Where the questions come from (SQuAD-format JSON files).

    Attributes:
      data_dir: the folder relative file names are read from.
      train, validation: a JSON file under `data_dir` (or an absolute path).
        `validation` is "" when `holdout_every` carves it from `train`.
      holdout_every: > 1: every n-th article (by title) of `train`, with all
        its questions, is the validation split; 0: off.
      report: a file evaluated once, with the weights chosen on `validation`
        (e.g. the official validation questions); "" = none.
      metric: "squad" (SQuAD v1.1's EM/F1, English) or "cmrc" (CMRC 2018's
        character-level EM/F1, Chinese).
      max_train_examples, max_validation_examples: > 0: a deterministic random
        subset of this many questions; 0: all.
    """

    data_dir: str = "../shared/data"
    train: str = "squad_v1.1/train.json"
    validation: str = ""
    holdout_every: int = 8
    report: str = "squad_v1.1/validation.json"
    metric: str = "squad"
    max_train_examples: int = 0
    max_validation_examples: int = 0

    def __post_init__(self):
        check_validation_source(self)
        if self.metric not in METRICS:
            raise ValueError(f"`metric` must be one of {sorted(METRICS)}, got {self.metric!r}.")


@dataclasses.dataclass
class QuestionAnsweringConfig(FineTuningConfig):
    """An extractive QA task: the settings of `FineTuningConfig` (encoder,
    `sequence_length` of a window, head dropout, batching, seed, export dtype) and:

    Attributes:
      data: see `QuestionDataConfig`.
      max_query_length: question tokens kept (the rest is cut).
      doc_stride: context tokens between the starts of two windows of a long
        context.
      max_answer_length: the longest answer, in tokens.
    """

    data: QuestionDataConfig = dataclasses.field(default_factory=QuestionDataConfig)
    sequence_length: int = 384
    max_query_length: int = 64
    doc_stride: int = 128
    max_answer_length: int = 30

    def __post_init__(self):
        super().__post_init__()
        if self.max_query_length < 1:
            raise ValueError(f"`max_query_length` must be positive, got {self.max_query_length}.")
        if self.sequence_length < self.max_query_length + 4:
            raise ValueError(f"`sequence_length` ({self.sequence_length}) must leave room for "
                             f"the question (`max_query_length` {self.max_query_length}), three "
                             "special tokens and one context token.")
        if self.doc_stride < 1:
            raise ValueError(f"`doc_stride` must be positive, got {self.doc_stride}.")
        if self.max_answer_length < 1:
            raise ValueError(f"`max_answer_length` must be positive, got "
                             f"{self.max_answer_length}.")


@dataclasses.dataclass
class EncodedWindows:
    """The windows of a split, ragged `[windows, (tokens)]`, with per-window labels."""

    token_ids: tf.RaggedTensor
    segment_ids: tf.RaggedTensor
    token_starts: tf.RaggedTensor
    token_ends: tf.RaggedTensor
    start_positions: np.ndarray
    end_positions: np.ndarray
    example_index: np.ndarray  # the question (index in the split) of each window

    def __len__(self):
        return len(self.example_index)


class QuestionAnsweringTask(Task):
    """Fine-tunes a `BertQuestionAnswerer` on SQuAD-format questions.

    Args:
      config: a `QuestionAnsweringConfig`.
      global_batch_size: training windows per step over all replicas.

    Attributes:
      tokenizer: the `BertTokenizer` (exported with the model).
      main_metric: "f1".
    """

    main_metric = "f1"

    def __init__(self, config, global_batch_size=32):
        self.config = config
        self.global_batch_size = int(global_batch_size)
        self._examples = {}
        self._windows = {}
        self.tokenizer = build_tokenizer(config.encoder, training_texts=self._training_texts)

    def _training_texts(self):
        train = self.examples("train")
        return sorted({e.context for e in train}) + [e.question for e in train]

    # ------------------------------------------------------------------ data

    def _read(self, source):
        return read_squad_json(resolve_source(self.config.data.data_dir, source))

    def examples(self, split):
        """The `QuestionExample`s of `split` (all reference answers kept)."""
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
        if split in self._examples:
            return self._examples[split]
        data = self.config.data
        if split == "report":
            if not data.report:
                raise ValueError("The task has no `data.report` split to evaluate.")
            examples = self._read(data.report)
        elif split == "validation" and data.validation:
            examples = self._read(data.validation)
        elif split == "validation" and not data.holdout_every:
            raise ValueError("The task has no validation split (a final fit trains on all of "
                             "`data.train`).")
        elif data.holdout_every:
            examples = split_by_article(self._read(data.train), data.holdout_every, split)
        else:
            examples = self._read(data.train)
        limit = {"train": data.max_train_examples,
                 "validation": data.max_validation_examples}.get(split, 0)
        examples = [examples[i] for i in subset_indices(len(examples), limit, self.config.seed)]
        if not examples:
            raise DataError(f"The {split} split has no questions.")
        self._examples[split] = examples
        logging.info("%s: %d questions", split, len(examples))
        return examples

    def num_examples(self, split):
        """The windows of `split`: what a batch counts (one question may have several)."""
        return len(self.windows(split))

    def windows(self, split):
        """The split's `EncodedWindows` (encoded once)."""
        if split in self._windows:
            return self._windows[split]
        examples = self.examples(split)
        if split == "train":
            # Questions whose answer is not found in the context cannot be trained on.
            labelled = answer_spans(examples, source=split)
            examples, spans = list(labelled.examples), list(labelled.spans)
            if not examples:
                raise DataError("No training question has an answer found in its context.")
            self._examples[split] = examples
        else:
            # Labels for the validation loss only (answers are scored as text).
            labelled = answer_spans(examples, source=split)
            found = {e.id: span for e, span in zip(labelled.examples, labelled.spans)}
            spans = [found.get(e.id, (0, 0)) for e in examples]
        config = self.config

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2 +
                     [tf.TensorSpec([None], tf.int32)] * 2)
        def encode(questions, contexts, starts, ends):
            packed = pack_question_windows(self.tokenizer, questions, contexts,
                                           config.sequence_length, config.max_query_length,
                                           config.doc_stride)
            start_positions, end_positions = answer_token_positions(
                packed["token_starts"], packed["token_ends"], starts, ends,
                packed["example_index"])
            return packed, start_positions, end_positions

        columns = {name: [] for name in ("token_ids", "segment_ids", "token_starts",
                                         "token_ends")}
        starts, ends, indices = [], [], []
        for first in range(0, len(examples), _ENCODE_CHUNK):
            chunk = examples[first:first + _ENCODE_CHUNK]
            chunk_spans = np.array(spans[first:first + _ENCODE_CHUNK], np.int32).reshape(-1, 2)
            packed, start_positions, end_positions = encode(
                tf.constant([e.question for e in chunk]), tf.constant([e.context for e in chunk]),
                tf.constant(chunk_spans[:, 0]), tf.constant(chunk_spans[:, 1]))
            lengths = tf.reduce_sum(packed["padding_mask"], axis=1)
            for name in columns:
                columns[name].append(tf.RaggedTensor.from_tensor(packed[name], lengths=lengths))
            starts.append(start_positions.numpy())
            ends.append(end_positions.numpy())
            indices.append(packed["example_index"].numpy() + first)
        windows = EncodedWindows(
            **{name: tf.concat(parts, axis=0) for name, parts in columns.items()},
            start_positions=np.concatenate(starts), end_positions=np.concatenate(ends),
            example_index=np.concatenate(indices))
        logging.info("%s: %d windows of %d questions (%d without the answer)", split,
                     len(windows), len(examples), int(np.sum(windows.start_positions == 0)))
        self._windows[split] = windows
        return windows

    def build_dataset(self, split, input_context=None):
        windows = self.windows(split)
        training = split == "train"
        labels = {"start_position": tf.constant(windows.start_positions),
                  "end_position": tf.constant(windows.end_positions)}
        padding = {"start_position": 0, "end_position": 0}
        if not training:
            # Each window's index and token offsets, for the answers `update_metrics` keeps.
            first = self._first_window_index(split)
            labels.update(index=tf.range(first, first + len(windows), dtype=tf.int32),
                          token_starts=windows.token_starts, token_ends=windows.token_ends)
            padding.update(index=0, token_starts=-1, token_ends=-1)
        batch_size = self.global_batch_size if training else self.config.eval_batch_size
        return bucketed_dataset(windows.token_ids, labels, self.config, batch_size, training,
                                self.tokenizer.token_to_id("[PAD]"), padding, input_context,
                                segment_ids=windows.segment_ids)

    # ----------------------------------------------------------------- model

    def build_model(self):
        encoder = build_encoder(self.config.encoder, self.tokenizer)
        return BertQuestionAnswerer(encoder, dropout=self.config.head_dropout)

    def compute_loss(self, labels, outputs):
        losses = 0.0
        for position, logits in (("start_position", "start_logits"),
                                 ("end_position", "end_logits")):
            losses += tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(labels[position], tf.int32),
                logits=tf.cast(outputs[logits], tf.float32))
        windows = tf.cast(tf.size(labels["start_position"]), tf.float32)
        return tf.reduce_sum(losses) / 2.0, windows

    def _evaluated_splits(self):
        data = self.config.data
        return ((["validation"] if data.validation or data.holdout_every else [])
                + (["report"] if data.report else []))

    def _first_window_index(self, split):
        """Evaluated splits number their windows one after the other (validation's,
        then the report's), so that the collected answers tell which split they are."""
        splits = self._evaluated_splits()
        return sum(len(self.windows(s)) for s in splits[:splits.index(split)])

    def build_metrics(self):
        capacity = sum(len(self.windows(split)) for split in self._evaluated_splits())
        if not capacity:
            return []  # a final fit without a report split evaluates nothing
        return [ExamplePredictions(capacity, name=f"window_{name}")
                for name in ("score", "start", "end")]

    def update_metrics(self, metrics, labels, outputs):
        if "index" not in labels:  # training batches keep no answers
            return
        batch = tf.shape(labels["index"])[0]
        # The best span inside each window (each window its own "example").
        spans = select_answer_spans(
            outputs["start_logits"], outputs["end_logits"], labels["token_starts"],
            labels["token_ends"], tf.range(batch), batch, self.config.max_answer_length)
        for metric in metrics:
            value = {"window_score": spans.score, "window_start": spans.start,
                     "window_end": spans.end}[metric.name]
            # The target slot holds the window's own index: `aggregate_eval` reads it back.
            metric.update_state(labels["index"], value, labels["index"])

    def aggregate_eval(self, metrics):
        collected = {m.name: m.collected() for m in metrics}
        if not collected or collected["window_score"][0].size == 0:
            return {}  # training metrics
        indices = collected["window_score"][1].astype(np.int64)
        split = next(s for s in reversed(self._evaluated_splits())
                     if indices[0] >= self._first_window_index(s))
        local = indices - self._first_window_index(split)
        windows = len(self.windows(split))
        if local.size != windows or local[-1] != windows - 1:
            raise ValueError(f"Collected {local.size} answers of the {windows} {split} windows.")
        answers = self.answers(split, collected["window_score"][0],
                               collected["window_start"][0], collected["window_end"][0])
        examples = self.examples(split)
        scores = METRICS[self.config.data.metric](
            {e.id: answer for e, answer in zip(examples, answers)}, examples)
        return {"exact_match": scores["exact_match"], "f1": scores["f1"]}

    def answers(self, split, window_scores, window_starts, window_ends):
        """The answer text of each question of `split`: the span of its best window."""
        windows = self.windows(split)
        examples = self.examples(split)
        best = {}
        for w, example in enumerate(windows.example_index):
            if example not in best or window_scores[w] > window_scores[best[example]]:
                best[example] = w
        answers = []
        for i, example in enumerate(examples):
            w = best.get(i)
            start, end = (int(window_starts[w]), int(window_ends[w])) if w is not None else (0, 0)
            answers.append(example.context[start:end])
        return answers

    # ---------------------------------------------------------------- export

    def export(self, model, path):
        """Writes the SavedModel (raw `question` and `context` in, see
        `export_question_answerer`) at `path`; returns its metadata."""
        config = self.config
        exported_policies = export_question_answerer(
            model, self.tokenizer, path, sequence_length=config.sequence_length,
            max_query_length=config.max_query_length, doc_stride=config.doc_stride,
            max_answer_length=config.max_answer_length,
            dtype_policy=resolve_export_policy(config.export_dtype_policy))
        return {
            "task": "question_answering",
            "sequence_length": config.sequence_length,
            "max_query_length": config.max_query_length,
            "doc_stride": config.doc_stride,
            "max_answer_length": config.max_answer_length,
            "metric": config.data.metric,
            "lowercase": self.tokenizer.lowercase,
            "dtype_policies": exported_policies,
        }
