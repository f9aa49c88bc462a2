"""Sentence embedding (semantic search, STS) as a `Task` for bertlab's training runner.

The model is a `SentenceEmbedder` (pooled, L2-normalized encoder states; by
default all-MiniLM-L6-v2) fine-tuned on sentence pairs
(`bertlab.data.read_sentence_pairs`) with one of two losses
(`bertlab.models.contrastive_losses`):

- "cosent": scored pairs (STS Benchmark, Chinese STS-B): the cosines of the
  batch's pairs must be ordered as their gold scores;
- "multiple_negatives_ranking": (query, positive) pairs (SciTLDR TLDR ->
  abstract, SQuAD question -> paragraph): each query must find its positive
  among every positive of the (global) batch.

A batch of n pairs is embedded in one call of the embedder: the features are
the `2n` texts (`[CLS] text [SEP]`, the pairs' first texts, then their second
texts, padded to the longest of both), the output `[2n, dim]`, and the loss
splits it in halves. Batches are bucketed by the longer text of each pair.

Evaluation embeds both sides of every pair of a split (`ExampleEmbeddings`)
and scores the split as a whole, x 100: scored pairs by the Spearman (and
Pearson) correlation of the pairs' cosines with the gold scores (the STS
Benchmark figure, e.g. 82.0 for all-MiniLM-L6-v2 on its test split);
(query, positive) pairs by retrieval of each query's positive among the
split's distinct positives: MRR@10 (the main metric), recall@1, recall@10,
nDCG@10. The weights are chosen on `validation` (carved from the training
pairs, `holdout_every`); the `report` split (STS-B dev) is scored once with
them. The export is `bertlab.export.sentence_embedder_export`'s SavedModel,
raw strings in, embeddings out.

Example:
>>> task = SentenceEmbeddingTask(SentenceEmbeddingConfig(), global_batch_size=32)   # STS-B
>>> train_and_export(task, trainer_config, optimizer_config, "runs/search",
...                  export_dir="saved_models/search_embedder", report_split="report")
"""

import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging

from bertlab.data import (PAIR_FORMATS, SCORED_FORMATS, DataError, bucket_by_length,
                          hold_out_every, read_sentence_pairs)
from bertlab.export.sentence_embedder_export import export_sentence_embedder
from bertlab.models.contrastive_losses import (DEFAULT_SCALE, cosent_loss_sum,
                                               multiple_negatives_ranking_loss_sum)
from bertlab.models.dtype_policy_copy import resolve_export_policy
from bertlab.models.sentence_embedder import EMBEDDER_POOLINGS, SentenceEmbedder
from bertlab.tasks.embedding_metrics import pair_correlations, retrieval_metrics
from bertlab.tasks.encoder_config import build_encoder, build_tokenizer
from bertlab.tasks.example_embeddings import ExampleEmbeddings
from bertlab.tasks.fine_tuning_config import FineTuningConfig
from bertlab.tasks.labeled_data import (SPLITS, check_validation_source, resolve_source,
                                        subset_indices)
from bertlab.text.bert_preprocessor import BertPreprocessor
from bertlab.training.task import Task

LOSSES = ("cosent", "multiple_negatives_ranking")
# Texts tokenized per call of the preprocessor when a split is encoded.
_ENCODE_CHUNK = 4096


@dataclasses.dataclass
class PairDataConfig:
    """Where the sentence pairs come from.

    Attributes:
      data_dir: the folder relative file names are read from.
      format: the files' format (`bertlab.data.PAIR_FORMATS`): "stsb" or
        "cnsd" (scored pairs), "scitldr" or "squad" ((query, positive) pairs).
      train, validation: a file under `data_dir` (or an absolute path).
        `validation` is "" when `holdout_every` carves it from `train`.
      holdout_every: > 1: every n-th training pair is the validation split
        (for data with groups, every n-th group with all its pairs: a SQuAD
        article, a SciTLDR paper, so that no paragraph is in both splits);
        0: off.
      report: a file scored once with the chosen weights (STS-B dev); "" =
        none.
      report_format: the report file's format ("" = `format`); e.g. "stsb" to
        report STS-B dev Spearman of a model trained on query/positive data.
      max_train_examples, max_validation_examples: > 0: a deterministic random
        subset of this many pairs (smoke runs); 0: all.
    """

    data_dir: str = "../shared/data"
    format: str = "stsb"
    train: str = "stsbenchmark/sts-train.csv"
    validation: str = ""
    holdout_every: int = 10
    report: str = "stsbenchmark/sts-dev.csv"
    report_format: str = ""
    max_train_examples: int = 0
    max_validation_examples: int = 0

    def __post_init__(self):
        check_validation_source(self)
        if self.format not in PAIR_FORMATS:
            raise ValueError(f"`format` must be one of {PAIR_FORMATS}, got {self.format!r}.")
        if self.report_format and self.report_format not in PAIR_FORMATS:
            raise ValueError(f"`report_format` must be '' or one of {PAIR_FORMATS}, got "
                             f"{self.report_format!r}.")
        for name in ("max_train_examples", "max_validation_examples"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0, got {getattr(self, name)}.")

    def source_format(self, split):
        """The file format of `split` ("report" may differ)."""
        return (self.report_format or self.format) if split == "report" else self.format


@dataclasses.dataclass
class SentenceEmbeddingConfig(FineTuningConfig):
    """A sentence-embedding task: the settings of `FineTuningConfig` (encoder,
    `sequence_length` of one text, batching, seed, export dtype; `head_dropout`
    is unused: there is no head) and:

    Attributes:
      data: see `PairDataConfig`.
      loss: "cosent" (scored pairs) or "multiple_negatives_ranking" ((query,
        positive) pairs, in-batch negatives).
      scale: the losses' inverse temperature on cosines (20, as
        sentence-transformers).
      pooling: "mean" or "cls" (see `SentenceEmbedder`); all-MiniLM-L6-v2 was
        trained with "mean".
      normalize: L2-normalize the embeddings (a dot product is then a cosine).
    """

    data: PairDataConfig = dataclasses.field(default_factory=PairDataConfig)
    loss: str = "cosent"
    scale: float = DEFAULT_SCALE
    pooling: str = "mean"
    normalize: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.loss not in LOSSES:
            raise ValueError(f"`loss` must be one of {LOSSES}, got {self.loss!r}.")
        scored = self.data.format in SCORED_FORMATS
        if self.loss == "cosent" and not scored:
            raise ValueError(f"`loss: cosent` needs scored pairs (`data.format` one of "
                             f"{SCORED_FORMATS}), got `data.format` {self.data.format!r}; use "
                             "`loss: multiple_negatives_ranking` for (query, positive) pairs.")
        if self.loss == "multiple_negatives_ranking" and scored:
            raise ValueError(f"`loss: multiple_negatives_ranking` needs (query, positive) pairs, "
                             f"but `data.format` {self.data.format!r} holds scored pairs "
                             "(whose low-scored pairs are not positives); use `loss: cosent`.")
        if not self.scale > 0:
            raise ValueError(f"`scale` must be positive, got {self.scale}.")
        if self.pooling not in EMBEDDER_POOLINGS:
            raise ValueError(f"`pooling` must be one of {EMBEDDER_POOLINGS}, got "
                             f"{self.pooling!r}.")


def retrieval_scores(positives, query_embeddings, positive_embeddings):
    """Retrieval of each query's positive among the distinct positives, x 100.

    Args:
      positives: the texts of the pairs' positives (a list of `n` strings);
        equal texts are one document (SQuAD's paragraphs, a SciTLDR abstract
        with several TLDRs), embedded once (its first row).
      query_embeddings, positive_embeddings: `[n, dim]` arrays, row i the
        i-th pair's query and positive.

    Returns:
      `{"mrr@10", "recall@1", "recall@10", "ndcg@10"}` (see
      `bertlab.tasks.embedding_metrics.retrieval_metrics`) over the `n`
      queries, x 100.

    Example:
    >>> retrieval_scores(["doc A", "doc B"], queries, documents)["mrr@10"]   # [2, dim] each
    100.0
    """
    first_row = {}
    for i, text in enumerate(positives):
        first_row.setdefault(text, i)
    column = {text: j for j, text in enumerate(first_row)}
    queries = np.asarray(query_embeddings, np.float64)
    documents = np.asarray(positive_embeddings, np.float64)[list(first_row.values())]
    queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    documents = documents / np.maximum(np.linalg.norm(documents, axis=1, keepdims=True), 1e-12)
    results = retrieval_metrics(queries @ documents.T, [column[text] for text in positives])
    return {name: 100.0 * value for name, value in results.items()}


class SentenceEmbeddingTask(Task):
    """Fine-tunes a `SentenceEmbedder` on sentence pairs.

    Args:
      config: a `SentenceEmbeddingConfig`.
      global_batch_size: pairs per training step over all replicas (the
        in-batch negatives of the ranking loss).

    Attributes:
      tokenizer, preprocessor: the text pipeline (exported with the model).
      main_metric: "spearman" (scored validation pairs) or "mrr@10".
      embedding_dim: the embedding size, set by `build_model`.
    """

    def __init__(self, config, global_batch_size=32):
        self.config = config
        self.global_batch_size = int(global_batch_size)
        self.main_metric = "spearman" if config.data.format in SCORED_FORMATS else "mrr@10"
        self.embedding_dim = None  # known once `build_model` ran
        self._pairs = {}
        self._encoded = {}
        self.tokenizer = build_tokenizer(config.encoder, training_texts=self._training_texts)
        self.preprocessor = BertPreprocessor(self.tokenizer, config.sequence_length,
                                             pad_to_longest=True)

    def _training_texts(self):
        train = self.pairs("train")
        return train.first + sorted(set(train.second))

    # ------------------------------------------------------------------ data

    def _read(self, source, split):
        path = resolve_source(self.config.data.data_dir, source)
        return read_sentence_pairs(path, self.config.data.source_format(split))

    def pairs(self, split):
        """The `SentencePairs` of `split` ("train", "validation" or "report")."""
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
        if split in self._pairs:
            return self._pairs[split]
        data = self.config.data
        if split == "report":
            if not data.report:
                raise ValueError("The task has no `data.report` split to evaluate.")
            pairs = self._read(data.report, split)
        elif split == "validation" and data.validation:
            pairs = self._read(data.validation, split)
        elif split == "validation" and not data.holdout_every:
            raise ValueError("The task has no validation split (a final fit trains on all of "
                             "`data.train`).")
        elif data.holdout_every:
            pairs = self._read(data.train, split)
            pairs = pairs.select(_carve(pairs, data.holdout_every, split))
        else:
            pairs = self._read(data.train, split)
        limit = {"train": data.max_train_examples,
                 "validation": data.max_validation_examples}.get(split, 0)
        pairs = pairs.select(subset_indices(len(pairs), limit, self.config.seed))
        if len(pairs) < 2:
            raise DataError(f"The {split} split has {len(pairs)} pair(s); it needs at least 2.")
        self._pairs[split] = pairs
        logging.info("%s: %d pairs", split, len(pairs))
        return pairs

    def num_examples(self, split):
        return len(self.pairs(split))

    def _token_ids(self, split):
        """Ragged int32 `[n, (tokens)]` token ids of both sides of the pairs, tokenized once."""
        if split not in self._encoded:
            pairs = self.pairs(split)
            encode = tf.function(lambda texts: self.preprocessor(texts), reduce_retracing=True)

            def ragged(texts):
                parts = []
                for start in range(0, len(texts), _ENCODE_CHUNK):
                    packed = encode(tf.constant(texts[start:start + _ENCODE_CHUNK]))
                    lengths = tf.reduce_sum(packed["padding_mask"], axis=1)
                    parts.append(tf.RaggedTensor.from_tensor(packed["token_ids"],
                                                             lengths=lengths))
                return tf.concat(parts, axis=0)

            self._encoded[split] = (ragged(pairs.first), ragged(pairs.second))
        return self._encoded[split]

    def _evaluated_splits(self):
        data = self.config.data
        return ((["validation"] if data.validation or data.holdout_every else [])
                + (["report"] if data.report else []))

    def _first_index(self, split):
        """Evaluated splits number their pairs one after the other (validation's, then
        the report's), so that the collected embeddings tell which split they are."""
        splits = self._evaluated_splits()
        return sum(self.num_examples(s) for s in splits[:splits.index(split)])

    def build_dataset(self, split, input_context=None):
        """Batches of `({token_ids, segment_ids, padding_mask} [2n, length], labels)`: rows
        `0..n-1` the pairs' first texts, `n..2n-1` their second texts. `labels`: `score`
        float32 `[n]` (0 for query data), and for evaluation `index` int32 `[n]`."""
        first, second = self._token_ids(split)
        pairs = self.pairs(split)
        training = split == "train"
        labels = {"score": tf.constant(pairs.scores if pairs.scored else [0.0] * len(pairs),
                                       tf.float32)}
        if not training:
            start = self._first_index(split)
            labels["index"] = tf.range(start, start + len(pairs), dtype=tf.int32)
        # (A ragged row sliced out of a dataset element is a 1-D tensor once mapped.)
        dataset = tf.data.Dataset.from_tensor_slices((first, second, labels)).map(
            lambda a, b, label: ({"first": a, "second": b}, label))
        batch_size = self.global_batch_size if training else self.config.eval_batch_size
        if input_context is not None:
            dataset = dataset.shard(input_context.num_input_pipelines,
                                    input_context.input_pipeline_id)
            batch_size = input_context.get_per_replica_batch_size(batch_size)
        if training:
            dataset = dataset.shuffle(len(pairs), seed=self.config.seed,
                                      reshuffle_each_iteration=True).repeat()
        pad_id = self.preprocessor.pad_id
        dataset = bucket_by_length(
            dataset, batch_size, self.config.bucket_boundaries,
            length_fn=lambda features, _: tf.maximum(tf.shape(features["first"])[0],
                                                     tf.shape(features["second"])[0]),
            padding_values=({"first": pad_id, "second": pad_id},
                            {name: tf.constant(0, labels[name].dtype) for name in labels}))
        dataset = dataset.map(lambda features, batch_labels: (
            _stack_sides(features["first"], features["second"], pad_id), batch_labels),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return dataset.prefetch(tf.data.AUTOTUNE)

    # ----------------------------------------------------------------- model

    def build_model(self):
        encoder = build_encoder(self.config.encoder, self.tokenizer)
        model = SentenceEmbedder(encoder, pooling=self.config.pooling,
                                 normalize=self.config.normalize)
        self.embedding_dim = model.embedding_dim
        return model

    def compute_loss(self, labels, outputs):
        """`(loss_sum, weight_sum)` of the batch's pairs: `outputs` `[2n, dim]` split into
        the first texts' and the second texts' embeddings."""
        first, second = _halves(outputs)
        if self.config.loss == "cosent":
            return cosent_loss_sum(first, second, labels["score"], scale=self.config.scale)
        return multiple_negatives_ranking_loss_sum(first, second, scale=self.config.scale)

    def build_metrics(self):
        capacity = sum(self.num_examples(split) for split in self._evaluated_splits())
        if not capacity:
            return []  # a final fit without a report split evaluates nothing
        if self.embedding_dim is None:
            raise ValueError("`build_model` must run before `build_metrics` (the embedding "
                             "size sizes the buffers).")
        return [ExampleEmbeddings(capacity, self.embedding_dim)]

    def update_metrics(self, metrics, labels, outputs):
        if "index" not in labels:  # training batches keep nothing
            return
        first, second = _halves(outputs)
        for metric in metrics:
            metric.update_state(labels["index"], first, second)

    def aggregate_eval(self, metrics):
        """Spearman and Pearson x 100 of scored pairs, retrieval scores x 100 of (query,
        positive) pairs, over the whole split evaluated."""
        if not metrics:
            return {}
        indices, first, second = metrics[0].collected()
        if indices.size == 0:
            return {}  # training metrics
        split = next(s for s in reversed(self._evaluated_splits())
                     if indices[0] >= self._first_index(s))
        pairs = self.pairs(split)
        local = indices - self._first_index(split)
        if local.size != len(pairs) or local[-1] != len(pairs) - 1:
            raise ValueError(f"Collected {local.size} pairs of the {len(pairs)} {split} pairs.")
        return self.scores(pairs, first, second)

    @staticmethod
    def scores(pairs, first, second):
        """The evaluation results of `SentencePairs` with their embeddings `[n, dim]`:
        `{"spearman", "pearson"}` (scored pairs) or `retrieval_scores`, x 100."""
        if pairs.scored:
            correlations = pair_correlations(first, second, pairs.scores)
            return {name: 100.0 * value for name, value in correlations.items()}
        return retrieval_scores(pairs.second, first, second)

    # ---------------------------------------------------------------- export

    def export(self, model, path):
        """Writes the SavedModel (raw strings in, embeddings out, see
        `export_sentence_embedder`) at `path`; returns its metadata."""
        written = export_sentence_embedder(
            model, self.preprocessor, path,
            dtype_policy=resolve_export_policy(self.config.export_dtype_policy))
        config = self.config
        return {
            "task": "sentence_embedding",
            "loss": config.loss,
            "data_format": config.data.format,
            "pooling": config.pooling,
            "normalize": config.normalize,
            "sequence_length": config.sequence_length,
            "lowercase": self.tokenizer.lowercase,
            **(written or {}),
        }


def _carve(pairs, every, split):
    """The indices of `split` when every `every`-th pair (or group of pairs) is held out."""
    if pairs.groups is None:
        return hold_out_every(len(pairs), every, split)
    groups = list(dict.fromkeys(pairs.groups))
    chosen = {groups[i] for i in hold_out_every(len(groups), every, split)}
    return [i for i, group in enumerate(pairs.groups) if group in chosen]


def _stack_sides(first, second, pad_id):
    """`{token_ids, segment_ids, padding_mask}` int32 `[2n, length]`: the padded
    `[n, a]` first and `[n, b]` second token ids stacked, padded to the longer."""
    width = tf.maximum(tf.shape(first)[1], tf.shape(second)[1])

    def widen(ids):
        return tf.pad(ids, [[0, 0], [0, width - tf.shape(ids)[1]]], constant_values=pad_id)

    token_ids = tf.concat([widen(first), widen(second)], axis=0)
    mask = tf.cast(tf.not_equal(token_ids, pad_id), tf.int32)
    return {"token_ids": token_ids, "segment_ids": tf.zeros_like(token_ids),
            "padding_mask": mask}


def _halves(outputs):
    """`[2n, dim]` -> the first `n` rows and the last `n`."""
    outputs = tf.cast(outputs, tf.float32)
    n = tf.shape(outputs)[0] // 2
    return outputs[:n], outputs[n:]

