"""Token classification (NER with BIO tags) as a `Task` for bertlab's training runner.

Sentences are lists of words with one tag each (CoNLL column files or a
prepared TFDS dataset). Each word is tokenized into subwords in the graph
(`bertlab.text.word_tokenization.pack_words`); its tag is learned and predicted
at its first subword, the other subwords are ignored (label -1). Batches are
bucketed by length. The validation metric is seqeval's entity F1 (exact span
match), computed in the graph by `EntitySpanF1`. The export takes raw strings
and returns one tag per whitespace-separated word
(`bertlab.export.export_token_classifier`).

Example:
>>> task = TokenClassificationTask(TokenClassificationConfig(), global_batch_size=32)
>>> run_experiment(task, trainer_config, optimizer_config, "runs/conll")
"""

import dataclasses
import typing

import tensorflow as tf
from absl import logging

from bertlab.data import (DataError, is_tfds_source, load_tfds_tagged,
                          read_conll)
from bertlab.export import export_token_classifier
from bertlab.export.keras_model_file import save_exported_keras_model
from bertlab.models.bert_token_classifier import BertTokenClassifier
from bertlab.models.dtype_policy_copy import resolve_export_policy
from bertlab.tasks.encoder_config import build_encoder, build_tokenizer
from bertlab.tasks.fine_tuning_config import FineTuningConfig
from bertlab.tasks.entity_span_f1 import EntitySpanF1
from bertlab.tasks.labeled_data import (SPLITS, bucketed_dataset, check_validation_source,
                                        resolve_source, select_split)
from bertlab.text.word_casing import NUM_CASING_IDS
from bertlab.text.word_tokenization import pack_words, scatter_word_labels
from bertlab.training.task import Task

IGNORE_LABEL = -1


@dataclasses.dataclass
class TaggedDataConfig:
    """Where the tagged sentences come from.

    Attributes:
      data_dir: the folder relative file names are read from.
      train, validation: a CoNLL file under `data_dir` (or an absolute path),
        or `tfds:<name>` (e.g. `tfds:conll2003`). `validation` is "" when
        `holdout_every` carves it from `train`.
      tfds_train_split, tfds_validation_split, tfds_tags_feature: TFDS names.
      token_column, tag_column: CoNLL columns (0-based; negative from the end).
      holdout_every: > 1: every n-th training sentence is the validation
        split (deterministic); 0: off.
      report: a source evaluated once, with the weights chosen on
        `validation` (e.g. CoNLL's official validation file when
        `holdout_every` carves the split that chooses them); "" = none.
      max_train_examples, max_validation_examples: > 0: a deterministic
        random subset of this many sentences; 0: all.
    """

    data_dir: str = "../shared/data"
    train: str = "conll2003/train.txt"
    validation: str = "conll2003/valid.txt"
    tfds_train_split: str = "train"
    tfds_validation_split: str = "validation"
    tfds_tags_feature: str = "ner"
    token_column: int = 0
    tag_column: int = -1
    holdout_every: int = 0
    report: str = ""
    max_train_examples: int = 0
    max_validation_examples: int = 0

    def __post_init__(self):
        check_validation_source(self)


@dataclasses.dataclass
class TokenClassificationConfig(FineTuningConfig):
    """A BIO tagging task: the settings of `FineTuningConfig` (encoder,
    `sequence_length` in subwords (the words beyond it are not trained on), head
    dropout, batching, seed, export dtype) and:

    Attributes:
      data: see `TaggedDataConfig`.
      tag_names: the tags, "O" included; empty: "O", then `B-`/`I-` of every
        entity type found in the training and validation data, sorted.
      serving_sequence_length: the longest subword sequence of the export (0:
        `sequence_length`); words beyond it are tagged `O`.
      casing_features: give the model each subword's word capitalisation
        (`bertlab.text.word_casing`) as an extra embedding: what an uncased
        encoder cannot see. The export computes it from the raw text.
    """

    data: TaggedDataConfig = dataclasses.field(default_factory=TaggedDataConfig)
    tag_names: typing.List[str] = dataclasses.field(default_factory=list)
    sequence_length: int = 256
    serving_sequence_length: int = 0
    casing_features: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.tag_names and "O" not in self.tag_names:
            raise ValueError(f"`tag_names` must contain 'O', got {self.tag_names}.")
        if self.serving_sequence_length and self.serving_sequence_length < 3:
            raise ValueError("`serving_sequence_length` must be 0 or at least 3, got "
                             f"{self.serving_sequence_length}.")


def tags_from_data(*tag_lists):
    """"O" then B-/I- of every entity type in the given tag sequences, sorted by type."""
    types = sorted({tag[2:] for tags in tag_lists for sentence in tags for tag in sentence
                    if tag != "O"})
    return ["O"] + [f"{prefix}-{kind}" for kind in types for prefix in ("B", "I")]


class TokenClassificationTask(Task):
    """Fine-tunes a `BertTokenClassifier` on BIO-tagged sentences.

    Args:
      config: a `TokenClassificationConfig`.
      global_batch_size: training sentences per step over all replicas.

    Attributes:
      tokenizer: the `BertTokenizer` (exported with the model).
      tag_names: the tag of each class id.
      main_metric: "entity_f1".
    """

    main_metric = "entity_f1"

    def __init__(self, config, global_batch_size=32):
        self.config = config
        self.global_batch_size = int(global_batch_size)
        self._examples = {}
        self._encoded = {}
        self.tokenizer = self.build_tokenizer()
        if config.tag_names:
            self.tag_names = list(config.tag_names)
        else:
            self.tag_names = tags_from_data(self.examples("train").tags,
                                            self.examples("validation").tags)
        self._tag_ids = {tag: i for i, tag in enumerate(self.tag_names)}

    def build_tokenizer(self):
        """The task's `BertTokenizer` (the encoder's vocabulary, or one learned from the
        training sentences; see `bertlab.tasks.encoder_config.build_tokenizer`)."""
        return build_tokenizer(
            self.config.encoder,
            training_texts=lambda: [" ".join(words) for words in self.examples("train").tokens])

    # ------------------------------------------------------------------ data

    def _read(self, source, split_name):
        data = self.config.data
        if is_tfds_source(source):
            tfds_split = data.tfds_train_split if split_name == "train" else \
                data.tfds_validation_split
            return load_tfds_tagged(source[len("tfds:"):], tfds_split,
                                    tags_feature=data.tfds_tags_feature)
        return read_conll(resolve_source(data.data_dir, source), data.token_column,
                          data.tag_column)

    def examples(self, split):
        """`TaggedSentences` of `split` (words and tag names)."""
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
        if split in self._examples:
            return self._examples[split]
        sentences = select_split(self.config.data, split, self._read, self.config.seed)
        for words in sentences.tokens:
            for word in words:
                if not word or len(word.split()) != 1:
                    raise DataError(f"{split} data has the word {word!r}: words must be "
                                    "non-empty and hold no whitespace.")
        self._examples[split] = sentences
        logging.info("%s: %d sentences", split, len(sentences))
        return sentences

    def num_examples(self, split):
        return len(self.examples(split))

    def _encode(self, split):
        """Ragged `[n, (subwords)]` token ids and labels (-1 off first subwords)."""
        if split in self._encoded:
            return self._encoded[split]
        sentences = self.examples(split)
        unknown = sorted({t for tags in sentences.tags for t in tags} - set(self._tag_ids))
        if unknown:
            raise DataError(f"{split} data has tags {unknown} that are not in `tag_names` "
                            f"{self.tag_names}.")

        casing = self.config.casing_features

        @tf.function(input_signature=[
            tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1),
            tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1)])
        def encode(words, tags):
            packed = pack_words(self.tokenizer, words, self.config.sequence_length,
                                pad_to_longest=True, with_casing=casing)
            width = tf.shape(packed["token_ids"])[1]
            labels = scatter_word_labels(tags, packed["word_positions"], width, IGNORE_LABEL)
            lengths = tf.reduce_sum(packed["padding_mask"], axis=1)
            truncated = tf.reduce_sum(tf.cast(packed["word_positions"].flat_values < 0,
                                              tf.int32))
            extra = {"casing_ids": packed["casing_ids"]} if casing else {}
            return packed["token_ids"], labels, extra, lengths, truncated

        columns, cut = {"token_ids": [], "labels": [], "casing_ids": []}, 0
        for start in range(0, len(sentences), 2048):
            words = tf.ragged.constant(sentences.tokens[start:start + 2048], dtype=tf.string)
            tags = tf.ragged.constant([[self._tag_ids[t] for t in s]
                                       for s in sentences.tags[start:start + 2048]],
                                      dtype=tf.int32, ragged_rank=1)
            token_ids, label_ids, extra, lengths, truncated = encode(words, tags)
            for name, dense in dict(token_ids=token_ids, labels=label_ids, **extra).items():
                columns[name].append(tf.RaggedTensor.from_tensor(dense, lengths=lengths))
            cut += int(truncated)
        if cut:
            logging.warning("%s: %d words lie beyond sequence_length=%d subwords and are "
                            "not used.", split, cut, self.config.sequence_length)
        self._encoded[split] = {name: tf.concat(parts, axis=0)
                                for name, parts in columns.items() if parts}
        return self._encoded[split]

    def build_dataset(self, split, input_context=None):
        encoded = dict(self._encode(split))
        token_ids, labels = encoded.pop("token_ids"), encoded.pop("labels")
        training = split == "train"
        batch_size = self.global_batch_size if training else self.config.eval_batch_size
        return bucketed_dataset(token_ids, labels, self.config, batch_size, training,
                                self.tokenizer.token_to_id("[PAD]"), IGNORE_LABEL, input_context,
                                extra_features=encoded)

    # ----------------------------------------------------------------- model

    def build_model(self):
        encoder = build_encoder(self.config.encoder, self.tokenizer)
        return BertTokenClassifier(
            encoder, num_tags=len(self.tag_names), dropout=self.config.head_dropout,
            num_casing_ids=NUM_CASING_IDS if self.config.casing_features else 0)

    def compute_loss(self, labels, outputs):
        labels = tf.cast(labels, tf.int32)
        weights = tf.cast(labels != IGNORE_LABEL, tf.float32)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.maximum(labels, 0), logits=tf.cast(outputs, tf.float32))
        return tf.reduce_sum(losses * weights), tf.reduce_sum(weights)

    def build_metrics(self):
        return [EntitySpanF1(self.tag_names, ignore_id=IGNORE_LABEL, name="entity_f1")]

    def update_metrics(self, metrics, labels, outputs):
        for metric in metrics:
            metric.update_state(labels, outputs)

    def aggregate_eval(self, metrics):
        results = {}
        for metric in metrics:
            results[metric.name] = float(metric.result())
            if isinstance(metric, EntitySpanF1):
                results["entity_precision"] = float(metric.precision())
                results["entity_recall"] = float(metric.recall())
        return results

    # ---------------------------------------------------------------- export

    @property
    def serving_sequence_length(self):
        return self.config.serving_sequence_length or self.config.sequence_length

    def export(self, model, path):
        """Writes the SavedModel (raw strings in, see `export_token_classifier`), the Keras
        model and its vocabulary (`model.keras`, `vocab.txt`: see
        `bertlab.export.keras_model_file`) at `path`; returns the metadata."""
        exported_policies = export_token_classifier(
            model, self.tokenizer, self.tag_names, self.serving_sequence_length, path,
            dtype_policy=resolve_export_policy(self.config.export_dtype_policy))
        save_exported_keras_model(model, path, self.tokenizer.vocabulary)
        return {
            "task": "token_classification",
            "tag_names": list(self.tag_names),
            "sequence_length": self.serving_sequence_length,
            "lowercase": self.tokenizer.lowercase,
            "casing_features": bool(self.config.casing_features),
            "dtype_policies": exported_policies,
        }
