"""Text classification (sentiment, news topics, spam, sentence pairs, scored pairs) as a
`Task` for bertlab's training runner.

The task reads labelled texts (TSV/CSV files or a prepared TFDS dataset), one
text or a text pair per example, tokenizes them once with the in-graph
`BertPreprocessor` (`[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`), and feeds
batches bucketed by length (each padded to its longest example). The model is
a `BertClassifier` over an encoder from `EncoderConfig` (MiniLM, a checkpoint
directory, or a fresh one) with one of two heads:

- "classification": softmax over `class_names` (read from the config or a
  names file, e.g. AG News' `classes.txt`); metric: accuracy. With a
  `positive_class` (a rare class such as `spam`), also its precision, recall
  and F1, at the decision threshold on its probability that maximizes F1 on
  the validation split (the threshold is fixed when the weights are chosen,
  reported on the report split as it is, and exported).
- "regression": one score (STS-B similarity 0-5), mean squared error; metrics:
  Pearson and Spearman correlation (scipy), over the whole split.

The export is a SavedModel taking raw strings (`text`, and `text_pair` for a
pair model) and returning readable results (`label` and `probabilities`, or
`score`), see `bertlab.export.export_text_classifier`.

Example:
>>> config = TextClassificationConfig()              # SST-2 sentiment from MiniLM
>>> task = TextClassificationTask(config, global_batch_size=32)
>>> train_and_export(task, trainer_config, optimizer_config, "runs/sst2",
...                  export_dir="saved_models/sentiment")
"""

import dataclasses
import typing

import keras
import tensorflow as tf
from absl import logging

from bertlab.data import (DataError, is_tfds_source, load_tfds_sentences,
                          read_labeled_sentences, read_text_lines)
from bertlab.data.readers import FILE_FORMATS
from bertlab.export import export_text_classifier
from bertlab.export.keras_model_file import save_exported_keras_model
from bertlab.models.bert_classifier import POOLINGS, BertClassifier
from bertlab.models.dtype_policy_copy import resolve_export_policy
from bertlab.tasks.classification_metrics import (best_f1_threshold, correlations,
                                                  positive_class_scores)
from bertlab.tasks.encoder_config import build_encoder, build_tokenizer
from bertlab.tasks.fine_tuning_config import FineTuningConfig
from bertlab.tasks.example_predictions import ExamplePredictions
from bertlab.tasks.labeled_data import (SPLITS, bucketed_dataset, check_validation_source,
                                        resolve_source, select_split)
from bertlab.text.bert_preprocessor import BertPreprocessor
from bertlab.training.task import Task

HEADS = ("classification", "regression")


@dataclasses.dataclass
class TextDataConfig:
    """Where the labelled texts come from.

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
      file_format: "tsv" (tab-separated, quotes are text) or "csv" (RFC 4180).
      has_header: whether files start with a header naming the columns.
      text_column: the text's column: a header name or 0-based index, or a
        list of them joined with a space (AG News: title and description);
        None: found from the header (`sentence`, `text_a`, `text`, `review`),
        or 0 without a header.
      text_pair_column: the second text's column (sentence pairs), or None.
      label_column: the label's column (None: `label`, or 1 without a header).
      extra_columns: accept rows with more columns than the first (STS-B).
      label_values: the labels as written in the data, in class order (TFDS
        data gives class names, which are accepted too); [] = the class names
        themselves. Unused by the regression head (labels are numbers).
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
    file_format: str = "tsv"
    has_header: bool = True
    text_column: typing.Any = None
    text_pair_column: typing.Any = None
    label_column: typing.Any = None
    extra_columns: bool = False
    label_values: typing.List[str] = dataclasses.field(default_factory=lambda: ["0", "1"])
    max_train_examples: int = 0
    max_validation_examples: int = 0

    def __post_init__(self):
        check_validation_source(self)
        if self.file_format not in FILE_FORMATS:
            raise ValueError(f"`file_format` must be one of {FILE_FORMATS}, got "
                             f"{self.file_format!r}.")


@dataclasses.dataclass
class TextClassificationConfig(FineTuningConfig):
    """A text classification (or scored-pair regression) task: the settings of
    `FineTuningConfig` (encoder, `sequence_length` (pairs: the longer text is
    truncated first), head dropout, batching, seed, export dtype) and:

    Attributes:
      data: see `TextDataConfig`.
      head: "classification" (softmax over `class_names`) or "regression"
        (one score).
      class_names: the name of each class (what the export returns), in the
        order of `data.label_values`.
      class_names_file: a file (under `data.data_dir`, or absolute) with one
        class name per line, replacing `class_names` (AG News `classes.txt`).
      positive_class: a class whose precision, recall and F1 are reported at a
        decision threshold chosen on validation (binary tasks; "" = none).
      main_metric: the validation result that picks the exported weights
        ("" = `f1` with a `positive_class`, `spearman` for regression, else
        `accuracy`).
      pooling: "pooled", "cls" or "mean" (see `BertClassifier`).
    """

    data: TextDataConfig = dataclasses.field(default_factory=TextDataConfig)
    head: str = "classification"
    class_names: typing.List[str] = dataclasses.field(
        default_factory=lambda: ["negative", "positive"])
    class_names_file: str = ""
    positive_class: str = ""
    main_metric: str = ""
    pooling: str = "mean"

    def __post_init__(self):
        super().__post_init__()
        if self.head not in HEADS:
            raise ValueError(f"`head` must be one of {HEADS}, got {self.head!r}.")
        if self.head == "classification" and not self.class_names_file:
            check_class_names(self.class_names, self.data.label_values, self.positive_class)
        if self.head == "regression" and self.positive_class:
            raise ValueError("`positive_class` is for the classification head.")
        if self.pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}, got {self.pooling!r}.")


def check_class_names(class_names, label_values, positive_class):
    """Raises ValueError unless there are 2+ distinct classes, as many label values
    (or none), and `positive_class` ("" or one of two classes) among them."""
    if len(class_names) < 2 or len(set(class_names)) != len(class_names):
        raise ValueError(f"`class_names` needs at least 2 distinct classes, got {class_names}.")
    if label_values and len(label_values) != len(class_names):
        raise ValueError(f"`data.label_values` {label_values} and `class_names` "
                         f"{class_names} must have the same length.")
    if positive_class:
        if positive_class not in class_names:
            raise ValueError(f"`positive_class` {positive_class!r} is not one of "
                             f"{class_names}.")
        if len(class_names) != 2:
            raise ValueError("`positive_class` needs exactly 2 classes (a decision threshold "
                             f"on one probability), got {class_names}.")


def read_source(data, source, split_name="validation"):
    """The `LabeledSentences` (string labels) of one source of a `TextDataConfig`: a file
    in its format and columns, or `tfds:<name>` (the train or validation TFDS split)."""
    if is_tfds_source(source):
        tfds_split = data.tfds_train_split if split_name == "train" else \
            data.tfds_validation_split
        return load_tfds_sentences(source[len("tfds:"):], tfds_split)
    return read_labeled_sentences(
        resolve_source(data.data_dir, source), data.text_column, data.label_column,
        has_header=data.has_header, text_pair_column=data.text_pair_column,
        file_format=data.file_format, extra_columns=data.extra_columns)


class TextClassificationTask(Task):
    """Fine-tunes a `BertClassifier` on labelled texts or text pairs.

    Args:
      config: a `TextClassificationConfig`.
      global_batch_size: training examples per step over all replicas (the
        runner's `TrainerConfig.global_batch_size`).

    Attributes:
      tokenizer, preprocessor: the text pipeline (exported with the model).
      class_names: the classes (classification head).
      main_metric: the validation metric that picks the best checkpoint.
      decision_threshold: with a `positive_class`, the threshold fixed by
        `finalize` (None before: each evaluation chooses its own).
    """

    def __init__(self, config, global_batch_size=32):
        self.config = config
        self.global_batch_size = int(global_batch_size)
        self.regression = config.head == "regression"
        self.class_names = [] if self.regression else self._read_class_names()
        self.label_values = list(config.data.label_values) or list(self.class_names)
        if not self.regression:
            check_class_names(self.class_names, self.label_values, config.positive_class)
        self.positive_index = (self.class_names.index(config.positive_class)
                               if config.positive_class else None)
        self.main_metric = config.main_metric or (
            "spearman" if self.regression else "f1" if config.positive_class else "accuracy")
        self.decision_threshold = None
        self._examples = {}
        self._encoded = {}
        self.tokenizer = self.build_tokenizer()
        self.preprocessor = BertPreprocessor(self.tokenizer, config.sequence_length,
                                             pad_to_longest=True)

    def build_tokenizer(self):
        """The task's `BertTokenizer` (the encoder's vocabulary, or one learned from the
        training texts; see `bertlab.tasks.encoder_config.build_tokenizer`)."""
        return build_tokenizer(self.config.encoder,
                               training_texts=lambda: self._training_texts())

    @property
    def text_pair(self):
        """Whether the examples are text pairs (two inputs in the export)."""
        return self.config.data.text_pair_column is not None

    def _read_class_names(self):
        config = self.config
        if not config.class_names_file:
            return list(config.class_names)
        path = resolve_source(config.data.data_dir, config.class_names_file)
        names = [line.strip() for line in read_text_lines(path) if line.strip()]
        if len(names) < 2:
            raise DataError(f"{path}: expected one class name per line, found {names}.")
        return names

    def _training_texts(self):
        train = self.examples("train")
        return train.texts + (train.pairs or [])

    # ------------------------------------------------------------------ data

    def _read(self, source, split_name):
        return read_source(self.config.data, source, split_name)

    def _label_ids(self, split, labels):
        if self.regression:
            try:
                return [float(label) for label in labels]
            except ValueError:
                bad = next(label for label in labels if not _is_number(label))
                raise DataError(f"{split} data has the label {bad!r}; the regression head "
                                "needs numbers.") from None
        index = {v: i for i, v in enumerate(self.label_values)}
        index.update({name: i for i, name in enumerate(self.class_names)})
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise DataError(f"{split} data has labels {unknown} that are neither in "
                            f"`label_values` {self.label_values} nor in the class names "
                            f"{self.class_names}.")
        return [index[label] for label in labels]

    def examples(self, split):
        """`LabeledSentences` of `split` with class ids (or float scores) as labels."""
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
        if split in self._examples:
            return self._examples[split]
        sentences = select_split(self.config.data, split, self._read, self.config.seed)
        if self.text_pair and sentences.pairs is None:
            raise DataError(f"{split} data has no second text (`text_pair_column`).")
        sentences.labels = self._label_ids(split, sentences.labels)
        self._examples[split] = sentences
        logging.info("%s: %d examples", split, len(sentences))
        return sentences

    def num_examples(self, split):
        return len(self.examples(split))

    def _token_ids(self, split):
        """Ragged int32 `[n, (tokens)]` token and segment ids, tokenized once."""
        if split not in self._encoded:
            examples = self.examples(split)
            encode = tf.function(lambda inputs: self.preprocessor(inputs), reduce_retracing=True)
            tokens, segments = [], []
            for start in range(0, len(examples), 4096):
                inputs = tf.constant(examples.texts[start:start + 4096])
                if self.text_pair:
                    inputs = (inputs, tf.constant(examples.pairs[start:start + 4096]))
                packed = encode(inputs)
                lengths = tf.reduce_sum(packed["padding_mask"], axis=1)
                tokens.append(tf.RaggedTensor.from_tensor(packed["token_ids"], lengths=lengths))
                segments.append(tf.RaggedTensor.from_tensor(packed["segment_ids"],
                                                            lengths=lengths))
            self._encoded[split] = (tf.concat(tokens, axis=0), tf.concat(segments, axis=0))
        return self._encoded[split]

    @property
    def _collects_predictions(self):
        return self.regression or self.positive_index is not None

    def build_dataset(self, split, input_context=None):
        token_ids, segment_ids = self._token_ids(split)
        labels = tf.constant(self.examples(split).labels,
                             tf.float32 if self.regression else tf.int32)
        training = split == "train"
        padding = 0.0 if self.regression else 0
        if self._collects_predictions and not training:
            # Evaluation labels carry each example's index for `ExamplePredictions`.
            labels = {"label": labels, "index": tf.range(tf.size(labels), dtype=tf.int32)}
            padding = {"label": padding, "index": 0}
        labels, padding = self.extra_labels(split, labels, padding)
        batch_size = self.global_batch_size if training else self.config.eval_batch_size
        return bucketed_dataset(token_ids, labels, self.config, batch_size, training,
                                self.preprocessor.pad_id, padding, input_context,
                                segment_ids=segment_ids if self.text_pair else None)

    def extra_labels(self, split, labels, padding):
        """`(labels, padding)` of `split`'s examples with what a subclass adds to them (a
        distillation task: the teacher's logits); this task adds nothing."""
        return labels, padding

    # ----------------------------------------------------------------- model

    def build_model(self):
        encoder = build_encoder(self.config.encoder, self.tokenizer)
        return BertClassifier(encoder, num_classes=1 if self.regression else
                              len(self.class_names), pooling=self.config.pooling,
                              dropout=self.config.head_dropout)

    def compute_loss(self, labels, outputs):
        labels = labels["label"] if isinstance(labels, dict) else labels
        outputs = tf.cast(outputs, tf.float32)
        if self.regression:
            losses = tf.square(outputs[:, 0] - tf.cast(labels, tf.float32))
        else:
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(labels, tf.int32), logits=outputs)
        return tf.reduce_sum(losses), tf.cast(tf.size(labels), tf.float32)

    def build_metrics(self):
        metrics = [] if self.regression else [
            keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if self._collects_predictions:
            capacity = max(self.num_examples("validation"),
                           self.num_examples("report") if self.config.data.report else 1)
            metrics.append(ExamplePredictions(capacity, name="predictions"))
        return metrics

    def update_metrics(self, metrics, labels, outputs):
        indices = labels.get("index") if isinstance(labels, dict) else None
        labels = labels["label"] if isinstance(labels, dict) else labels
        outputs = tf.cast(outputs, tf.float32)
        for metric in metrics:
            if isinstance(metric, ExamplePredictions):
                if indices is None:  # training batches carry no index
                    continue
                if self.regression:
                    metric.update_state(indices, outputs[:, 0], labels)
                else:
                    probabilities = tf.nn.softmax(outputs, axis=-1)[:, self.positive_index]
                    is_positive = tf.cast(tf.equal(tf.cast(labels, tf.int32),
                                                   self.positive_index), tf.float32)
                    metric.update_state(indices, probabilities, is_positive)
            else:
                metric.update_state(labels, outputs)

    def aggregate_eval(self, metrics):
        results = {}
        for metric in metrics:
            if not isinstance(metric, ExamplePredictions):
                results[metric.name] = float(metric.result())
                continue
            predictions, targets = metric.collected()
            if predictions.size == 0:  # training metrics
                continue
            if self.regression:
                results.update(correlations(predictions, targets))
            else:
                threshold = self.decision_threshold
                if threshold is None:
                    threshold, _ = best_f1_threshold(predictions, targets > 0.5)
                results.update(positive_class_scores(predictions, targets > 0.5, threshold))
                results["threshold"] = float(threshold)
        return results

    def finalize(self, validation_results):
        """Fixes what validation chose for the exported weights: with a
        `positive_class`, the decision threshold of their evaluation."""
        if self.positive_index is not None and validation_results:
            self.decision_threshold = float(validation_results["threshold"])

    # ---------------------------------------------------------------- export

    def export(self, model, path):
        """Writes the SavedModel (raw strings in, see `export_text_classifier`), the Keras
        model and its vocabulary (`model.keras`, `vocab.txt`: see
        `bertlab.export.keras_model_file`) at `path`; returns the metadata."""
        exported_policies = export_text_classifier(
            model, self.preprocessor, self.class_names, path,
            dtype_policy=resolve_export_policy(self.config.export_dtype_policy),
            text_pair=self.text_pair, regression=self.regression,
            positive_class=self.config.positive_class or None,
            decision_threshold=self.decision_threshold)
        save_exported_keras_model(model, path, self.tokenizer.vocabulary)
        metadata = {
            "task": "text_classification",
            "head": self.config.head,
            "text_pair": self.text_pair,
            "sequence_length": self.config.sequence_length,
            "lowercase": self.tokenizer.lowercase,
            "dtype_policies": exported_policies,
        }
        data = self.config.data
        if not is_tfds_source(data.train) and data.file_format == "tsv" and data.has_header:
            # Texts to calibrate an int8 conversion with (`apps.export_litert`).
            metadata["train_data"] = resolve_source(data.data_dir, data.train)
        if not self.regression:
            metadata.update(class_names=list(self.class_names),
                            label_values=list(self.label_values))
        if self.positive_index is not None:
            metadata.update(positive_class=self.config.positive_class,
                            decision_threshold=self.decision_threshold)
        return metadata


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False
