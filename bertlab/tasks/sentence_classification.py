"""Sentence classification (sentiment, topic) as a `Task` for bertlab's training runner.

The task reads labelled sentences (a TSV file or a prepared TFDS dataset),
tokenizes them once with the in-graph `BertPreprocessor`, and feeds batches
bucketed by length (each padded to its longest sentence). The model is a
`BertClassifier` over an encoder from `EncoderConfig` (MiniLM, a checkpoint
directory, or a fresh one); the metric is accuracy; the export is a SavedModel
taking raw strings (`bertlab.export.export_text_classifier`).

Example:
>>> config = SentenceClassificationConfig()             # SST-2 from MiniLM
>>> task = SentenceClassificationTask(config, global_batch_size=32)
>>> run_experiment(task, trainer_config, optimizer_config, "runs/sst2")
"""

import dataclasses
import os
import typing

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bertlab.data import (DEFAULT_BOUNDARIES, DataError, bucket_by_length, hold_out_every,
                          is_tfds_source, load_tfds_sentences, read_labeled_sentences)
from bertlab.export import export_text_classifier
from bertlab.models.bert_classifier import POOLINGS, BertClassifier
from bertlab.models.dtype_policy_copy import resolve_export_policy
from bertlab.tasks.encoder_config import EncoderConfig, build_encoder, build_tokenizer
from bertlab.text.bert_preprocessor import BertPreprocessor
from bertlab.training.task import Task

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


@dataclasses.dataclass
class SentenceDataConfig:
    """Where the labelled sentences come from.

    Attributes:
      data_dir: the folder relative file names are read from.
      train, validation: a file under `data_dir` (or an absolute path), or
        `tfds:<name>` (e.g. `tfds:glue/sst2`, a prepared TFDS dataset).
        `validation` is "" when `holdout_every` carves it from `train`.
      tfds_train_split, tfds_validation_split: TFDS split names.
      holdout_every: > 1: every n-th training example is held out as the
        validation split (deterministic; 10 -> 10 %); 0: off.
      report: a source evaluated once, with the weights chosen on
        `validation` (e.g. the official validation set when `holdout_every`
        carves the split that chooses them); "" = none.
      text_column, label_column: TSV columns (default: found from the header).
      label_values: the labels as written in the data, in class order (TFDS
        data gives class names, which are accepted too).
      max_train_examples, max_validation_examples: > 0: use a deterministic
        random subset of this size (smoke runs); 0: everything.
    """

    data_dir: str = "../shared/data"
    train: str = "sst2/train.tsv"
    validation: str = "sst2/dev.tsv"
    tfds_train_split: str = "train"
    tfds_validation_split: str = "validation"
    holdout_every: int = 0
    report: str = ""
    text_column: typing.Optional[str] = None
    label_column: typing.Optional[str] = None
    label_values: typing.List[str] = dataclasses.field(default_factory=lambda: ["0", "1"])
    max_train_examples: int = 0
    max_validation_examples: int = 0

    def __post_init__(self):
        check_validation_source(self)


@dataclasses.dataclass
class SentenceClassificationConfig:
    """A sentence classification task.

    Attributes:
      encoder: see `EncoderConfig`.
      data: see `SentenceDataConfig`.
      class_names: the name of each class (what the export returns), in the
        order of `data.label_values`.
      sequence_length: longest token sequence (`[CLS]`/`[SEP]` included);
        longer sentences are truncated, in training and in the export.
      pooling: "pooled", "cls" or "mean" (see `BertClassifier`).
      head_dropout: dropout before the classification layer.
      eval_batch_size: global batch size of the validation split.
      bucket_boundaries: length buckets of `bucket_by_length`.
      seed: data order and subset seed.
      export_dtype_policy: what the export computes in: "auto" (a
        `mixed_bfloat16` model is exported with bfloat16 weights), "as_trained",
        "float32", "bfloat16" or "mixed_bfloat16".
    """

    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    data: SentenceDataConfig = dataclasses.field(default_factory=SentenceDataConfig)
    class_names: typing.List[str] = dataclasses.field(
        default_factory=lambda: ["negative", "positive"])
    sequence_length: int = 128
    pooling: str = "mean"
    head_dropout: float = 0.1
    eval_batch_size: int = 64
    bucket_boundaries: typing.List[int] = dataclasses.field(
        default_factory=lambda: list(DEFAULT_BOUNDARIES))
    seed: int = 0
    export_dtype_policy: str = "auto"

    def __post_init__(self):
        resolve_export_policy(self.export_dtype_policy)
        if len(self.class_names) < 2:
            raise ValueError(f"`class_names` needs at least 2 classes, got {self.class_names}.")
        if len(self.data.label_values) != len(self.class_names):
            raise ValueError(f"`data.label_values` {self.data.label_values} and `class_names` "
                             f"{self.class_names} must have the same length.")
        if self.sequence_length < 3:
            raise ValueError(f"`sequence_length` must be at least 3, got {self.sequence_length}.")
        if self.pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}, got {self.pooling!r}.")
        if self.eval_batch_size < 1:
            raise ValueError(f"`eval_batch_size` must be positive, got {self.eval_batch_size}.")


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
                     input_context=None):
    """`({token_ids, segment_ids, padding_mask}, labels)` batches bucketed by length.

    Args:
      token_ids: ragged int32 `[n, (tokens)]`; labels: `[n]` or ragged `[n, (tokens)]`.
      config: the task config (`seed`, `bucket_boundaries`).
      batch_size: global batch size (per replica with `input_context`).
      training: shuffle (seeded, every epoch) and repeat.
      pad_id, label_padding: padding of the token ids and of the labels.
    """
    dataset = tf.data.Dataset.from_tensor_slices((token_ids, labels))
    if input_context is not None:
        dataset = dataset.shard(input_context.num_input_pipelines,
                                input_context.input_pipeline_id)
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    if training:
        dataset = dataset.shuffle(int(token_ids.nrows()), seed=config.seed,
                                  reshuffle_each_iteration=True).repeat()

    def features(ids, label):
        return ({"token_ids": ids, "segment_ids": tf.zeros_like(ids),
                 "padding_mask": tf.ones_like(ids)}, label)

    dataset = dataset.map(features, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    pad = {"token_ids": pad_id, "segment_ids": 0, "padding_mask": 0}
    dataset = bucket_by_length(dataset, batch_size, config.bucket_boundaries,
                               padding_values=(pad, label_padding))
    return dataset.prefetch(tf.data.AUTOTUNE)


class SentenceClassificationTask(Task):
    """Fine-tunes a `BertClassifier` on labelled sentences.

    Args:
      config: a `SentenceClassificationConfig`.
      global_batch_size: training examples per step over all replicas (the
        runner's `TrainerConfig.global_batch_size`).

    Attributes:
      tokenizer, preprocessor: the text pipeline (exported with the model).
      main_metric: "accuracy", the validation metric that picks the best
        checkpoint.
    """

    main_metric = "accuracy"

    def __init__(self, config, global_batch_size=32):
        self.config = config
        self.global_batch_size = int(global_batch_size)
        self._examples = {}
        self._encoded = {}
        self.tokenizer = build_tokenizer(config.encoder,
                                         training_texts=lambda: self.examples("train").texts)
        self.preprocessor = BertPreprocessor(self.tokenizer, config.sequence_length,
                                             pad_to_longest=True)

    # ------------------------------------------------------------------ data

    def _read(self, source, split_name):
        data = self.config.data
        if is_tfds_source(source):
            tfds_split = data.tfds_train_split if split_name == "train" else \
                data.tfds_validation_split
            return load_tfds_sentences(source[len("tfds:"):], tfds_split)
        return read_labeled_sentences(resolve_source(data.data_dir, source), data.text_column,
                                      data.label_column)

    def examples(self, split):
        """`(texts, class ids)` of `split`: `LabeledSentences` with int labels."""
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
        if split in self._examples:
            return self._examples[split]
        data = self.config.data
        sentences = select_split(data, split, self._read, self.config.seed)
        index = {v: i for i, v in enumerate(data.label_values)}
        index.update({name: i for i, name in enumerate(self.config.class_names)})
        unknown = sorted(set(sentences.labels) - set(index))
        if unknown:
            raise DataError(f"{split} data has labels {unknown} that are neither in "
                            f"`label_values` {data.label_values} nor in `class_names`.")
        sentences.labels = [index[label] for label in sentences.labels]
        self._examples[split] = sentences
        logging.info("%s: %d sentences", split, len(sentences))
        return sentences

    def num_examples(self, split):
        return len(self.examples(split))

    def _token_ids(self, split):
        """Ragged int32 `[n, (tokens)]` ids of every sentence, tokenized once."""
        if split not in self._encoded:
            texts = self.examples(split).texts
            encode = tf.function(lambda t: self.preprocessor(t), reduce_retracing=True)
            rows = []
            for start in range(0, len(texts), 4096):
                packed = encode(tf.constant(texts[start:start + 4096]))
                lengths = tf.reduce_sum(packed["padding_mask"], axis=1)
                rows.append(tf.RaggedTensor.from_tensor(packed["token_ids"], lengths=lengths))
            self._encoded[split] = tf.concat(rows, axis=0)
        return self._encoded[split]

    def build_dataset(self, split, input_context=None):
        token_ids = self._token_ids(split)
        labels = tf.constant(self.examples(split).labels, tf.int32)
        training = split == "train"
        batch_size = self.global_batch_size if training else self.config.eval_batch_size
        return bucketed_dataset(token_ids, labels, self.config, batch_size, training,
                                self.preprocessor.pad_id, 0, input_context)

    # ----------------------------------------------------------------- model

    def build_model(self):
        encoder = build_encoder(self.config.encoder, self.tokenizer)
        return BertClassifier(encoder, num_classes=len(self.config.class_names),
                              pooling=self.config.pooling, dropout=self.config.head_dropout)

    def compute_loss(self, labels, outputs):
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(labels, tf.int32), logits=tf.cast(outputs, tf.float32))
        return tf.reduce_sum(losses), tf.cast(tf.size(labels), tf.float32)

    def build_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def update_metrics(self, metrics, labels, outputs):
        for metric in metrics:
            metric.update_state(labels, outputs)

    # ---------------------------------------------------------------- export

    def export(self, model, path):
        """Writes the SavedModel (raw strings in, see `export_text_classifier`) at `path`;
        returns its metadata."""
        exported_policies = export_text_classifier(
            model, self.preprocessor, self.config.class_names, path,
            dtype_policy=resolve_export_policy(self.config.export_dtype_policy))
        return {
            "task": "sentence_classification",
            "class_names": list(self.config.class_names),
            "label_values": list(self.config.data.label_values),
            "sequence_length": self.config.sequence_length,
            "lowercase": self.tokenizer.lowercase,
            "dtype_policies": exported_policies,
        }
