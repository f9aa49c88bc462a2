"""Sequence-to-sequence training (translation, summarization): the task, its config and loss.

`Seq2SeqTask` trains a `Seq2SeqTransformer` with teacher forcing and
label-smoothed cross-entropy on pairs of source/target strings. What it needs
from a tokenizer (`SentencePieceTokenizer`, or a WordPiece adapter) is:
calling it on `tf.string [batch]` gives ragged int32 ids, and the attributes
`vocabulary_size`, `pad_token_id`, `start_token_id`, `end_token_id`.

Example formats (ids, `s`/`e` = start/end ids):
- encoder input: `x1 ... xn e` (BERT-style with `source_start_token`: `s x1 ... xn e`);
- decoder input: `s y1 ... ym`; labels: `y1 ... ym e`.

With a `GenerationSetup`, the task also says how the run is judged and
exported: after training, the driver (`bertlab.tasks.driver`) scores the
latest checkpoints by a generation metric (BLEU, ROUGE: computed outside the
graph from decoded text, `evaluate_generation`) and exports the best as a
`TextGenerationModule` (`export`). BERT2BERT initialisation is
`bertlab.models.bert2bert`.

Example:
>>> task = Seq2SeqTask(Seq2SeqTaskConfig(), tokenizer,
...                    {"train": (sources, targets), "validation": (val_sources, val_targets)},
...                    global_batch_size=64,
...                    generation=GenerationSetup(DecodingConfig(beam_width=4), bleu_fn,
...                                               (val_sources, val_references)))
>>> train_and_export(task, trainer_config, optimizer_config, "runs/translation",
...                  export_dir="saved_models/translation")
"""

import dataclasses
import typing

import keras
import numpy as np
import tensorflow as tf
import tqdm

from bertlab.data.length_bucketing import bucket_by_length
from bertlab.decoding.seq2seq_generator import DecodingConfig
from bertlab.export.text_generation_module import TextGenerationModule
from bertlab.models.bert2bert import build_bert2bert
from bertlab.models.dtype_policy_copy import layer_policies
from bertlab.models.seq2seq_transformer import Seq2SeqTransformer
from bertlab.training.checkpoint_selection import CheckpointSelectionConfig
from bertlab.training.task import Task

DEFAULT_BOUNDARIES = [8, 12, 16, 20, 24, 28, 32, 40, 48, 64, 96, 128, 192, 256, 384]


@dataclasses.dataclass
class Seq2SeqModelConfig:
    """Sizes of the `Seq2SeqTransformer`.

    With `init_from_bert` (a BERT checkpoint directory) the model is BERT2BERT
    and BERT fixes the layers, widths, activation and post-norm (the size
    fields are ignored); `bert_decoder_layers` then keeps only the first N
    BERT layers in the decoder (None: all).
    """

    num_encoder_layers: int = 3
    num_decoder_layers: int = 3
    hidden_dim: int = 256
    num_heads: int = 4
    intermediate_dim: int = 1024
    dropout: float = 0.1
    attention_dropout: typing.Optional[float] = None
    activation: str = "relu"
    normalize_first: bool = True
    position_type: str = "sinusoidal"
    max_sequence_length: int = 256
    init_from_bert: typing.Optional[str] = None
    bert_decoder_layers: typing.Optional[int] = None

    def __post_init__(self):
        for name in ("num_encoder_layers", "num_decoder_layers", "hidden_dim", "num_heads",
                     "intermediate_dim", "max_sequence_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"`model.{name}` must be positive, got {getattr(self, name)}.")
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"`model.hidden_dim`={self.hidden_dim} is not divisible by "
                             f"`model.num_heads`={self.num_heads}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`model.dropout` must be in [0, 1), got {self.dropout}.")
        if self.bert_decoder_layers is not None and self.bert_decoder_layers < 1:
            raise ValueError(f"`model.bert_decoder_layers` must be positive, got "
                             f"{self.bert_decoder_layers}.")


@dataclasses.dataclass
class Seq2SeqTaskConfig:
    """Data and loss settings of `Seq2SeqTask`.

    Fields:
      model: `Seq2SeqModelConfig`.
      max_source_length: encoder tokens, special tokens included (longer
        sources are truncated).
      max_target_length: decoder tokens (longer targets are truncated; the end
        token is kept).
      source_start_token: begin sources with the start token (BERT's [CLS]).
      label_smoothing: epsilon of label-smoothed cross-entropy (0 = off).
      bucket_boundaries: length buckets for batching (max of source and target).
      shuffle_buffer: examples in the train shuffle buffer.
      seed: shuffling seed.
    """

    model: Seq2SeqModelConfig = dataclasses.field(default_factory=Seq2SeqModelConfig)
    max_source_length: int = 128
    max_target_length: int = 128
    source_start_token: bool = False
    label_smoothing: float = 0.1
    bucket_boundaries: typing.List[int] = dataclasses.field(
        default_factory=lambda: list(DEFAULT_BOUNDARIES))
    shuffle_buffer: int = 50000
    seed: int = 0

    def __post_init__(self):
        if self.max_source_length < 3:
            raise ValueError(f"`max_source_length` must be >= 3, got {self.max_source_length}.")
        if self.max_target_length < 2:
            raise ValueError(f"`max_target_length` must be >= 2, got {self.max_target_length}.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1), got {self.label_smoothing}.")
        if self.shuffle_buffer < 1:
            raise ValueError(f"`shuffle_buffer` must be positive, got {self.shuffle_buffer}.")
        longest = max(self.max_source_length, self.max_target_length)
        if self.model.position_type == "learned" and longest > self.model.max_sequence_length:
            raise ValueError(
                f"`max_source_length`/`max_target_length` ({longest}) exceed "
                f"`model.max_sequence_length` ({self.model.max_sequence_length}).")


def label_smoothed_cross_entropy(labels, logits, mask, epsilon):
    """Sum over unmasked positions of cross-entropy against `(1 - eps) * one_hot +
    eps / vocab` (Szegedy et al., 2016), and the number of those positions.

    Args:
      labels: int `[b, t]`; logits: float `[b, t, vocab]`; mask: `[b, t]` (1 = token).

    Returns:
      `(loss_sum, weight_sum)` float32 scalars.
    """
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    nll = -tf.gather(log_probs, tf.cast(labels, tf.int32), axis=-1, batch_dims=2)
    loss = nll
    if epsilon > 0:
        loss = (1.0 - epsilon) * nll - epsilon * tf.reduce_mean(log_probs, axis=-1)
    mask = tf.cast(mask, tf.float32)
    return tf.reduce_sum(loss * mask), tf.reduce_sum(mask)


@dataclasses.dataclass
class GenerationSetup:
    """How a seq2seq run generates: to choose its checkpoint, and in its export.

    Fields:
      decoding: `DecodingConfig` used to score checkpoints on validation.
      metric_fn: `(hypotheses, references) -> dict` of metrics (floats, plus
        optional strings such as a metric signature).
      validation_examples: `(sources, references)` scored by `metric_fn`
        (references may be lists of several references).
      selection: `CheckpointSelectionConfig` (which checkpoints, which metric).
      output_key: output name of the export's `serving_default` signature.
      export_decoding: `DecodingConfig` fixed in the export (None: `decoding`).
      export_jit_compile: export the generation XLA-compiled, computing in
        float32 (about 2x faster on CPU; TF Serving then needs
        `--xla_cpu_compilation_enabled=true`).
    """

    decoding: DecodingConfig
    metric_fn: typing.Callable
    validation_examples: tuple
    selection: CheckpointSelectionConfig = dataclasses.field(
        default_factory=CheckpointSelectionConfig)
    output_key: str = "translation"
    export_decoding: typing.Optional[DecodingConfig] = None
    export_jit_compile: bool = False


class Seq2SeqTask(Task):
    """Teacher-forced encoder-decoder training on (source, target) string pairs.

    Args:
      config: `Seq2SeqTaskConfig`.
      tokenizer: see the module docstring (shared by source and target).
      splits: `{"train": (sources, targets), "validation": (sources, targets)}`,
        lists of `str`.
      global_batch_size: sentence pairs per batch over all replicas (the
        runner's `TrainerConfig.global_batch_size`).
      generation: a `GenerationSetup` (None: the task trains, but cannot
        choose its checkpoint by generation or export).

    Features: `encoder_token_ids`, `encoder_padding_mask`, `decoder_token_ids`,
    `decoder_padding_mask` int32 `[b, len]`; labels: `target_ids`,
    `target_mask`. Metrics: token accuracy and perplexity (without smoothing).
    """

    def __init__(self, config, tokenizer, splits, global_batch_size, generation=None):
        if "train" not in splits:
            raise ValueError("`splits` needs a 'train' entry.")
        for name, (sources, targets) in splits.items():
            if len(sources) != len(targets):
                raise ValueError(f"Split {name!r}: {len(sources)} sources but "
                                 f"{len(targets)} targets.")
            if not sources:
                raise ValueError(f"Split {name!r} is empty.")
        if int(global_batch_size) < 1:
            raise ValueError(f"`global_batch_size` must be positive, got {global_batch_size}.")
        self.config = config
        self.tokenizer = tokenizer
        self.global_batch_size = int(global_batch_size)
        self._splits = dict(splits)
        self._encoded = {}
        self.model = None
        self.generation = generation
        self._selection_module = None
        if generation is not None:
            self.checkpoint_selection = generation.selection

    # -- Model ---------------------------------------------------------------------

    def build_model(self):
        model_config = self.config.model
        if model_config.init_from_bert:
            self.model = build_bert2bert(model_config.init_from_bert,
                                         self.tokenizer.vocabulary_size,
                                         dropout=model_config.dropout,
                                         num_decoder_layers=model_config.bert_decoder_layers)
        else:
            self.model = Seq2SeqTransformer(
                self.tokenizer.vocabulary_size,
                num_encoder_layers=model_config.num_encoder_layers,
                num_decoder_layers=model_config.num_decoder_layers,
                hidden_dim=model_config.hidden_dim, num_heads=model_config.num_heads,
                intermediate_dim=model_config.intermediate_dim,
                max_sequence_length=model_config.max_sequence_length,
                dropout=model_config.dropout,
                attention_dropout=model_config.attention_dropout,
                activation=model_config.activation,
                normalize_first=model_config.normalize_first,
                position_type=model_config.position_type)
        return self.model

    # -- Data ----------------------------------------------------------------------

    def encode_sources(self, sources):
        """Strings -> ragged encoder ids (truncated, with the special tokens)."""
        tokenizer, config = self.tokenizer, self.config
        ids = tokenizer(tf.constant(list(sources), tf.string))
        budget = config.max_source_length - 1 - int(config.source_start_token)
        ids = ids[:, :budget]
        n = ids.nrows()
        parts = [ids, tf.fill([n, 1], tokenizer.end_token_id)]
        if config.source_start_token:
            parts.insert(0, tf.fill([n, 1], tokenizer.start_token_id))
        return tf.concat([tf.RaggedTensor.from_tensor(p) if not isinstance(p, tf.RaggedTensor)
                          else p for p in parts], axis=1)

    def encode_targets(self, targets):
        """Strings -> ragged target ids, truncated so that the end token fits."""
        ids = self.tokenizer(tf.constant(list(targets), tf.string))
        return ids[:, :self.config.max_target_length - 1]

    def _encoded_split(self, split):
        if split not in self._encoded:
            if split not in self._splits:
                raise ValueError(f"Unknown split {split!r}; the task has "
                                 f"{sorted(self._splits)}.")
            sources, targets = self._splits[split]
            self._encoded[split] = (self.encode_sources(sources), self.encode_targets(targets))
        return self._encoded[split]

    def _to_example(self, source, target):
        start = tf.constant([self.tokenizer.start_token_id], tf.int32)
        end = tf.constant([self.tokenizer.end_token_id], tf.int32)
        source = tf.cast(source, tf.int32)
        target = tf.cast(target, tf.int32)
        decoder_in = tf.concat([start, target], axis=0)
        features = {
            "encoder_token_ids": source,
            "encoder_padding_mask": tf.ones_like(source),
            "decoder_token_ids": decoder_in,
            "decoder_padding_mask": tf.ones_like(decoder_in),
        }
        labels = {"target_ids": tf.concat([target, end], axis=0),
                  "target_mask": tf.ones_like(decoder_in)}
        return features, labels

    def build_dataset(self, split, input_context=None):
        sources, targets = self._encoded_split(split)
        dataset = tf.data.Dataset.from_tensor_slices((sources, targets))
        batch_size = self.global_batch_size
        if input_context is not None:
            dataset = dataset.shard(input_context.num_input_pipelines,
                                    input_context.input_pipeline_id)
            batch_size = input_context.get_per_replica_batch_size(self.global_batch_size)
        if split == "train":
            dataset = dataset.shuffle(min(self.config.shuffle_buffer, int(sources.nrows())),
                                      seed=self.config.seed, reshuffle_each_iteration=True)
            dataset = dataset.repeat()
        dataset = dataset.map(self._to_example, num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=True)
        pad = self.tokenizer.pad_token_id

        def length_fn(features, labels):
            return tf.maximum(tf.shape(features["encoder_token_ids"])[0],
                              tf.shape(features["decoder_token_ids"])[0])

        padding = ({"encoder_token_ids": pad, "encoder_padding_mask": 0,
                    "decoder_token_ids": pad, "decoder_padding_mask": 0},
                   {"target_ids": pad, "target_mask": 0})
        dataset = bucket_by_length(dataset, batch_size, self.config.bucket_boundaries,
                                   length_fn=length_fn, padding_values=padding)
        return dataset.prefetch(tf.data.AUTOTUNE)

    # -- Loss and metrics ------------------------------------------------------------

    def compute_loss(self, labels, outputs):
        return label_smoothed_cross_entropy(labels["target_ids"], outputs, labels["target_mask"],
                                            self.config.label_smoothing)

    def build_metrics(self):
        return [keras.metrics.Sum(name="correct_tokens"), keras.metrics.Sum(name="tokens"),
                keras.metrics.Sum(name="nll_sum")]

    def update_metrics(self, metrics, labels, outputs):
        correct, tokens, nll_sum = metrics
        mask = tf.cast(labels["target_mask"], tf.float32)
        target = tf.cast(labels["target_ids"], tf.int32)
        predicted = tf.argmax(outputs, axis=-1, output_type=tf.int32)
        correct.update_state(tf.reduce_sum(tf.cast(predicted == target, tf.float32) * mask))
        tokens.update_state(tf.reduce_sum(mask))
        nll, _ = label_smoothed_cross_entropy(target, outputs, mask, 0.0)
        nll_sum.update_state(nll)

    def aggregate_eval(self, metrics):
        correct, tokens, nll_sum = (float(m.result()) for m in metrics)
        if tokens == 0:
            return {"token_accuracy": 0.0, "perplexity": float("nan")}
        return {"token_accuracy": correct / tokens,
                "perplexity": float(np.exp(min(nll_sum / tokens, 50.0)))}

    # -- Generation: choosing the checkpoint, exporting ------------------------------

    def _generation_module(self, model, decoding, jit_compile=False):
        config = self.config
        return TextGenerationModule(
            model, self.tokenizer, decoding, config.max_source_length,
            source_start_token=config.source_start_token,
            output_key=self.generation.output_key, jit_compile=jit_compile,
            dtype_policy="float32" if jit_compile else None)

    def _require_generation(self):
        if self.generation is None:
            raise ValueError("This Seq2SeqTask has no `generation` setup to decode with.")
        return self.generation

    def evaluate_generation(self, model):
        """Decodes the validation sources with `generation.decoding` and scores them
        with `generation.metric_fn` (at most `selection.max_examples`); returns its dict."""
        generation = self._require_generation()
        if self._selection_module is None or self._selection_module.model is not model:
            self._selection_module = self._generation_module(model, generation.decoding)
        sources, references = generation.validation_examples
        limit = generation.selection.max_examples
        sources = list(sources[:limit] if limit else sources)
        references = list(references[:limit] if limit else references)
        with tqdm.tqdm(total=len(sources), desc="validation decoding", unit="text",
                       leave=False) as bar:
            hypotheses = self._selection_module.generate_text(
                sources, generation.selection.batch_size, progress=bar.update)
        return generation.metric_fn(hypotheses, references)

    def export(self, model, directory):
        """Saves the `TextGenerationModule` (raw text in, generated text out) with the
        export's decoding into `directory`; returns its metadata."""
        generation = self._require_generation()
        decoding = generation.export_decoding or generation.decoding
        jit_compile = bool(generation.export_jit_compile)
        module = self._generation_module(model, decoding, jit_compile)
        module.save(directory)
        return {"output_key": generation.output_key,
                "decoding": dataclasses.asdict(decoding),
                "jit_compile": jit_compile,
                "dtype_policy": ",".join(sorted(layer_policies(module.model))),
                "max_source_length": self.config.max_source_length,
                "source_start_token": self.config.source_start_token}
