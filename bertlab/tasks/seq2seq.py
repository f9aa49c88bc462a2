"""Sequence-to-sequence training (translation, summarization) for the training runner.

`Seq2SeqTask` trains a `Seq2SeqTransformer` with teacher forcing and
label-smoothed cross-entropy on pairs of source/target strings. What it needs
from a tokenizer (`SentencePieceTokenizer`, or a WordPiece adapter) is:
calling it on `tf.string [batch]` gives ragged int32 ids, and the attributes
`vocabulary_size`, `pad_token_id`, `start_token_id`, `end_token_id`.

Example formats (ids, `s`/`e` = start/end ids):
- encoder input: `x1 ... xn e` (BERT-style with `source_start_token`: `s x1 ... xn e`);
- decoder input: `s y1 ... ym`; labels: `y1 ... ym e`.

`initialize_from_bert` turns a pretrained BERT checkpoint into the encoder and
decoder of a `Seq2SeqTransformer` (BERT2BERT, Rothe et al., 2020).

After training, `select_checkpoint` scores the latest checkpoints of the run
(and optionally their average) with a generation metric on the validation
split (BLEU, ROUGE: computed outside the graph, from decoded text) and leaves
the best weights in the model, ready to export.

Example:
>>> task = Seq2SeqTask(Seq2SeqTaskConfig(), tokenizer,
...                    {"train": (sources, targets), "validation": (val_sources, val_targets)},
...                    global_batch_size=64)
>>> run_experiment(task, trainer_config, optimizer_config, "runs/translation")
"""

import dataclasses
import os
import typing

import keras
import numpy as np
import tensorflow as tf

from bertlab.data.length_bucketing import bucket_by_length
from bertlab.models.seq2seq_transformer import Seq2SeqTransformer
from bertlab.training.task import Task
from bertlab.text.sentencepiece_tokenizer import (SentencePieceTokenizer,
                                                  load_sentencepiece_model,
                                                  save_sentencepiece_model, train_sentencepiece)

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
class SubwordConfig:
    """The SentencePiece model an app trains on its training split (one
    vocabulary shared by source and target).

    Fields: `vocabulary_size` (soft limit), `model_type` ("unigram", "bpe"),
    `character_coverage` (1.0 for Latin scripts, 0.9995 for Chinese),
    `input_sentence_size` (sample this many sentences; 0 = all).
    """

    vocabulary_size: int = 8000
    model_type: str = "unigram"
    character_coverage: float = 1.0
    input_sentence_size: int = 0


def subword_tokenizer(config, texts, model_path):
    """The run's `SentencePieceTokenizer`: loaded from `model_path` when a
    (resumed) run already has one, otherwise trained on `texts` and saved there
    atomically."""
    if os.path.isfile(model_path):
        proto, _ = load_sentencepiece_model(model_path)
    else:
        proto = train_sentencepiece(
            texts, config.vocabulary_size, model_type=config.model_type,
            character_coverage=config.character_coverage,
            input_sentence_size=config.input_sentence_size)
        save_sentencepiece_model(proto, model_path)
    return SentencePieceTokenizer(proto)


class Seq2SeqTask(Task):
    """Teacher-forced encoder-decoder training on (source, target) string pairs.

    Args:
      config: `Seq2SeqTaskConfig`.
      tokenizer: see the module docstring (shared by source and target).
      splits: `{"train": (sources, targets), "validation": (sources, targets)}`,
        lists of `str`.
      global_batch_size: sentence pairs per batch over all replicas (the
        runner's `TrainerConfig.global_batch_size`).

    Features: `encoder_token_ids`, `encoder_padding_mask`, `decoder_token_ids`,
    `decoder_padding_mask` int32 `[b, len]`; labels: `target_ids`,
    `target_mask`. Metrics: token accuracy and perplexity (without smoothing).
    """

    def __init__(self, config, tokenizer, splits, global_batch_size):
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


# -- BERT2BERT ---------------------------------------------------------------------


def build_bert2bert(bert_dir, vocabulary_size=None, dropout=0.1, num_decoder_layers=None):
    """A `Seq2SeqTransformer` whose encoder and decoder start from a pretrained BERT.

    The encoder is BERT; each decoder layer copies the BERT layer of the same
    index (self-attention, feed-forward, LayerNorms), and its cross-attention
    starts from that layer's self-attention weights (query from the query
    projection, keys/values from the key/value projections). Token, position
    and embedding-LayerNorm weights are shared BERT's; BERT's segment-0
    embedding is folded into the position table (the sum is the same). The
    output projection is tied to the token embedding.

    Args:
      bert_dir: a Hugging Face-layout BERT directory (`BertEncoder.from_pretrained`).
      vocabulary_size: must equal BERT's if given.
      dropout: dropout of the new model.
      num_decoder_layers: decoder depth (default: BERT's; at most BERT's).
    """
    from bertlab.models.bert_encoder import BertEncoder

    bert = BertEncoder.from_pretrained(bert_dir)
    if vocabulary_size is not None and int(vocabulary_size) != bert.vocabulary_size:
        raise ValueError(f"`vocabulary_size`={vocabulary_size} differs from the BERT "
                         f"checkpoint's {bert.vocabulary_size} ({bert_dir}).")
    num_decoder_layers = num_decoder_layers or bert.num_layers
    if num_decoder_layers > bert.num_layers:
        raise ValueError(f"`num_decoder_layers`={num_decoder_layers} exceeds BERT's "
                         f"{bert.num_layers} layers.")
    model = Seq2SeqTransformer(
        bert.vocabulary_size, num_encoder_layers=bert.num_layers,
        num_decoder_layers=num_decoder_layers, hidden_dim=bert.hidden_dim,
        num_heads=bert.num_heads, intermediate_dim=bert.intermediate_dim,
        max_sequence_length=bert.max_sequence_length, dropout=dropout,
        activation=bert.activation, layer_norm_epsilon=bert.layer_norm_epsilon,
        normalize_first=bert.normalize_first, position_type=bert.position_type,
        tie_output_embeddings=True, embedding_layer_norm=True)
    initialize_from_bert(model, bert)
    return model


def initialize_from_bert(model, bert):
    """Copies a `BertEncoder`'s weights into `model` (see `build_bert2bert`)."""
    if model.hidden_dim != bert.hidden_dim or model.num_encoder_layers != bert.num_layers:
        raise ValueError("The Seq2SeqTransformer does not have the BERT encoder's shape.")
    if not model.embedding_layer_norm or model.position_type != bert.position_type:
        raise ValueError("BERT2BERT needs `embedding_layer_norm=True` and BERT's position type.")
    source = bert.embeddings
    for target in (model.encoder_embeddings, model.decoder_embeddings):
        target.token_embedding.set_weights(source.token_embedding.get_weights())
        positions = source.position_embedding.get_weights()[0]
        if source.segment_embedding is not None:
            positions = positions + source.segment_embedding.get_weights()[0][0][None, :]
        target.position_embedding.set_weights([positions])
        target.layer_norm.set_weights(source.layer_norm.get_weights())
    for bert_block, block in zip(bert.transformer_layers, model.encoder_blocks):
        block.set_weights(bert_block.get_weights())
    dim = bert.hidden_dim
    for bert_block, block in zip(bert.transformer_layers, model.decoder_blocks):
        attention = bert_block.attention
        block.self_attention.set_weights(attention.get_weights())
        block.self_attention_layer_norm.set_weights(bert_block.attention_layer_norm.get_weights())
        kernel, bias = attention.qkv_dense.get_weights()
        block.cross_attention.query_dense.set_weights([kernel[:, :dim], bias[:dim]])
        block.cross_attention.key_value_dense.set_weights([kernel[:, dim:], bias[dim:]])
        block.cross_attention.output_dense.set_weights(attention.output_dense.get_weights())
        block.cross_attention_layer_norm.set_weights(bert_block.attention_layer_norm.get_weights())
        block.feed_forward.set_weights(bert_block.feed_forward.get_weights())
        block.output_layer_norm.set_weights(bert_block.output_layer_norm.get_weights())
    return model


# -- Checkpoint selection by a generation metric -----------------------------------------


@dataclasses.dataclass
class CheckpointSelectionConfig:
    """Which weights of a run get exported.

    Fields:
      num_checkpoints: score the latest N checkpoints of the run (keep at least
        that many: `trainer.keep_checkpoints`).
      average_last: also score the element-wise average of the latest N
        checkpoints' weights (0 = no averaging).
      metric: the result key to maximize ("bleu", "rougeL", ...).
      batch_size: texts per generation batch.
      max_examples: validation examples used for selection (None = all).
    """

    num_checkpoints: int = 1
    average_last: int = 0
    metric: str = "bleu"
    batch_size: int = 64
    max_examples: typing.Optional[int] = None

    def __post_init__(self):
        if self.num_checkpoints < 1:
            raise ValueError(f"`num_checkpoints` must be positive, got {self.num_checkpoints}.")
        if self.average_last < 0 or self.average_last == 1:
            raise ValueError(f"`average_last` must be 0 or >= 2, got {self.average_last}.")
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be positive, got {self.batch_size}.")
        if self.max_examples is not None and self.max_examples < 1:
            raise ValueError(f"`max_examples` must be positive, got {self.max_examples}.")


def run_checkpoints(model_dir):
    """The run's complete checkpoints, oldest first (what the runner kept)."""
    state = tf.train.get_checkpoint_state(model_dir)
    if state is None:
        return []
    return [p for p in state.all_model_checkpoint_paths if tf.io.gfile.exists(p + ".index")]


def checkpoint_step(path):
    """The step of a runner checkpoint path (`.../ckpt-1200` -> 1200)."""
    try:
        return int(path.rsplit("-", 1)[-1])
    except ValueError:
        return None


def restore_model_weights(model, checkpoint_path):
    """Loads only the model's weights from a runner checkpoint (no optimizer)."""
    tf.train.Checkpoint(model=model).restore(checkpoint_path).expect_partial()


def average_checkpoint_weights(model, checkpoint_paths):
    """Sets `model`'s weights to the mean of the checkpoints' (Vaswani et al., 2017)."""
    if not checkpoint_paths:
        raise ValueError("No checkpoints to average.")
    total = None
    for path in checkpoint_paths:
        restore_model_weights(model, path)
        weights = [np.asarray(w, np.float64) for w in model.get_weights()]
        total = weights if total is None else [t + w for t, w in zip(total, weights)]
    model.set_weights([t / len(checkpoint_paths) for t in total])


def select_checkpoint(model, model_dir, config, evaluate_fn, log_fn=print):
    """Scores checkpoints of the run with `evaluate_fn` and keeps the best in `model`.

    Args:
      model: the run's model (its weights are replaced).
      model_dir: the runner's model directory.
      config: `CheckpointSelectionConfig`.
      evaluate_fn: `() -> dict of metrics` for the model's current weights;
        must contain `config.metric`.
      log_fn: called with a line per candidate.

    Returns:
      `(best_name, {name: metrics})`: names are checkpoint basenames
      (`ckpt-3000`) or `average(ckpt-2600..ckpt-3000)`. The model is left
      holding the best candidate's weights.
    """
    paths = run_checkpoints(model_dir)
    if not paths:
        raise ValueError(f"No checkpoints in {model_dir} to select from.")
    candidates = [(os.path.basename(p), [p]) for p in paths[-config.num_checkpoints:]]
    if config.average_last:
        if len(paths) < config.average_last:
            log_fn(f"Only {len(paths)} checkpoint(s) kept: averaging those.")
        averaged = paths[-config.average_last:]
        if len(averaged) > 1:
            name = (f"average({os.path.basename(averaged[0])}.."
                    f"{os.path.basename(averaged[-1])})")
            candidates.append((name, averaged))
    results, best_name, best_value = {}, None, None
    for name, group in candidates:
        if len(group) == 1:
            restore_model_weights(model, group[0])
        else:
            average_checkpoint_weights(model, group)
        metrics = evaluate_fn()
        if config.metric not in metrics:
            raise ValueError(f"Selection metric {config.metric!r} is not among the "
                             f"evaluation results {sorted(metrics)}.")
        results[name] = metrics
        log_fn(f"{name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in metrics.items()))
        if best_value is None or metrics[config.metric] > best_value:
            best_name, best_value = name, metrics[config.metric]
    group = dict(candidates)[best_name]
    if len(group) == 1:
        restore_model_weights(model, group[0])
    else:
        average_checkpoint_weights(model, group)
    return best_name, results


# -- The whole app pipeline: train, select, export ------------------------------------


def export_generation_module(module, export_dir, metadata):
    """Saves a `TextGenerationModule` as the next version under `export_dir`
    (atomically; TF Serving layout), with `metadata` in `assets.extra`, TF
    Serving warm-up requests and the check that its custom ops are ones TF
    Serving's tensorflow-text has (before the version appears); then rewrites
    `models.config` beside `export_dir` (`bertlab.export.export_hooks`).
    Returns `(version, path, models_config_path)`."""
    from bertlab.export.versioned_export import export_new_version, write_metadata
    from bertlab.export.export_hooks import prepare_for_serving, update_models_config

    def write(directory):
        module.save(directory)
        write_metadata(directory, metadata)
        prepare_for_serving(directory)

    version, path = export_new_version(export_dir, write)
    return version, path, update_models_config(export_dir)


def train_and_export(config, tokenizer, splits, validation_examples, metric_fn, model_dir,
                     export_dir=None, strategy=None, output_key="translation",
                     export_decoding=None, export_jit_compile=False, metadata=None,
                     extra_summary=None, log_fn=print):
    """Trains with the runner, picks the best checkpoint by a generation metric,
    exports it, and completes `model_dir/summary.json`.

    Args:
      config: an app config with sections `task` (`Seq2SeqTaskConfig`),
        `trainer`, `optimizer`, `decoding` (`DecodingConfig`, used for
        selection) and `selection` (`CheckpointSelectionConfig`).
      tokenizer: the run's tokenizer (see `Seq2SeqTask`).
      splits: `{"train": (sources, targets), "validation": (sources, targets)}`
        for teacher-forced training and validation loss.
      validation_examples: `(sources, references)` scored by `metric_fn`
        (references may be lists of several references).
      metric_fn: `(hypotheses, references) -> dict` of metrics (floats, plus
        optional strings such as a metric signature).
      model_dir: the runner's directory.
      export_dir: base directory of the exported versions (None: no export).
      strategy: a `tf.distribute.Strategy` or name (in a multi-worker run only
        the chief selects, exports and writes the summary).
      output_key: output name of the `serving_default` signature.
      export_decoding: `DecodingConfig` fixed in the export (default: `config.decoding`).
      export_jit_compile: export the generation XLA-compiled, computing in
        float32 (about 2x faster on CPU; TF Serving then needs
        `--xla_cpu_compilation_enabled=true`).
      metadata: dict stored with the export.
      extra_summary: dict added to the summary (e.g. a baseline's scores).
      log_fn: progress lines.

    Returns:
      The summary dict (also in `model_dir/summary.json`).
    """
    import tqdm

    from bertlab.export.text_generation_module import TextGenerationModule
    from bertlab.models.dtype_policy_copy import layer_policies
    from bertlab.training import run_experiment
    from bertlab.training import strategy as strategy_lib
    from bertlab.training.runner import resolve_strategy
    from bertlab.training.summary import SUMMARY_FILE, SummaryWriters, write_json_atomic

    if config.trainer.weight_average_decay:
        raise ValueError("`trainer.weight_average_decay` is for classification and "
                         "pretraining runs; a seq2seq run picks (and with "
                         "`selection.average_last`, averages) its checkpoints by the "
                         "generation metric instead.")
    strategy = resolve_strategy(strategy, config.trainer)
    task = Seq2SeqTask(config.task, tokenizer, splits, config.trainer.global_batch_size)
    summary = run_experiment(task, config.trainer, config.optimizer, model_dir, strategy)
    if strategy is not None and not strategy_lib.is_chief(strategy):
        # Only the chief selects, exports and writes the summary.
        return summary
    model = task.model
    sources, references = validation_examples
    limit = config.selection.max_examples
    selection_sources = list(sources[:limit] if limit else sources)
    selection_references = list(references[:limit] if limit else references)
    source_start = config.task.source_start_token
    module = TextGenerationModule(model, tokenizer, config.decoding,
                                  config.task.max_source_length,
                                  source_start_token=source_start, output_key=output_key)

    def evaluate_fn():
        with tqdm.tqdm(total=len(selection_sources), desc="validation decoding",
                       unit="text", leave=False) as bar:
            hypotheses = module.generate_text(selection_sources, config.selection.batch_size,
                                              progress=bar.update)
        return metric_fn(hypotheses, selection_references)

    best, results = select_checkpoint(model, model_dir, config.selection, evaluate_fn, log_fn)
    writers = SummaryWriters(model_dir)
    try:
        for name, metrics in results.items():
            step = checkpoint_step(name) or summary["steps"]
            scalars = {f"generation/{k}": v for k, v in metrics.items()
                       if isinstance(v, (int, float))}
            writers.scalars("validation", scalars, step)
    finally:
        writers.close()
    summary["checkpoint_selection"] = {"metric": config.selection.metric, "best": best,
                                       "examples": len(selection_sources),
                                       "candidates": results}
    summary["validation_generation"] = results[best]
    summary.update(extra_summary or {})
    if export_dir:
        export_decoding = export_decoding or config.decoding
        export_module = module
        if export_decoding != config.decoding or export_jit_compile:
            export_module = TextGenerationModule(
                model, tokenizer, export_decoding, config.task.max_source_length,
                source_start_token=source_start, output_key=output_key,
                jit_compile=export_jit_compile,
                dtype_policy="float32" if export_jit_compile else None)
        info = dict(metadata or {})
        info.update(output_key=output_key, checkpoint=best,
                    validation_generation=results[best],
                    decoding=dataclasses.asdict(export_decoding),
                    jit_compile=bool(export_jit_compile),
                    dtype_policy=",".join(sorted(layer_policies(export_module.model))),
                    max_source_length=config.task.max_source_length,
                    source_start_token=source_start)
        version, path, models_config = export_generation_module(export_module, export_dir,
                                                                info)
        summary["export"] = {"version": version, "path": os.path.abspath(path),
                             "models_config": models_config,
                             "decoding": dataclasses.asdict(export_decoding),
                             "jit_compile": bool(export_jit_compile)}
        log_fn(f"Exported version {version} to {path}")
    write_json_atomic(os.path.join(model_dir, SUMMARY_FILE), summary)
    return summary
