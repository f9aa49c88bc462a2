"""Causal language modelling (GPT-style pretraining on plain text): the task and its config.

`LanguageModelingTask` trains a `TransformerLanguageModel` on the one runner:
- train: the training files tokenized as a stream and packed into sequences
  of `sequence_length` tokens (`bertlab.data.text_packing`: documents joined
  by the end-of-document token, memory bounded, deterministic per seed);
- validation: whole held-out documents scored in sliding windows, every token
  once (`bertlab.models.language_model_scoring`): loss, perplexity per token and
  bits per character (tokenizer-independent);
- export: `LanguageModelModule` (generation, `score_text`, token ids), plus
  the Keras model and the SentencePiece model beside it, so that a later run
  can continue from the export (`--init`, domain adaptation).

The run keeps its last weights (a language model is not chosen by a
validation metric here: the validation documents measure it).

Example:
>>> task = LanguageModelingTask(LanguageModelingConfig(), tokenizer, train_files,
...                             validation_files, global_batch_size=16,
...                             decoding=DecodingConfig(method="sample", top_p=0.9))
>>> train_and_export(task, trainer_config, optimizer_config, "runs/lm/default",
...                  export_dir="saved_models/lm")
"""

import dataclasses
import os
import typing

import keras
import tensorflow as tf

from bertlab.data.text_packing import language_model_dataset, read_line_chunks, tokenize_documents
from bertlab.decoding.seq2seq_generator import DecodingConfig
from bertlab.export.language_model_export import LanguageModelModule
from bertlab.models.dtype_policy_copy import layer_policies
from bertlab.models.language_model_metrics import (bits_per_character, language_model_loss_sum,
                                                   perplexity)
from bertlab.models.language_model_scoring import scoring_windows_dataset
from bertlab.models.transformer_language_model import (LANGUAGE_MODEL_PRESETS,
                                                       TransformerLanguageModel)
from bertlab.export.saved_model_client import resolve_version_dir
from bertlab.text.sentencepiece_tokenizer import SentencePieceTokenizer, save_sentencepiece_model
from bertlab.training.task import Task

# What an export holds beside the SavedModel so that a run can continue from it.
KERAS_MODEL_FILE = "language_model.keras"
SENTENCEPIECE_FILE = "sentencepiece.model"


@dataclasses.dataclass
class LanguageModelConfig:
    """Sizes of the `TransformerLanguageModel`: a `preset` ("tiny", "mini", "small")
    whose sizes the optional fields override, the context window and dropout."""

    preset: str = "mini"
    num_layers: typing.Optional[int] = None
    hidden_dim: typing.Optional[int] = None
    num_heads: typing.Optional[int] = None
    intermediate_dim: typing.Optional[int] = None
    max_sequence_length: int = 256
    dropout: float = 0.1

    def __post_init__(self):
        if self.preset not in LANGUAGE_MODEL_PRESETS:
            raise ValueError(f"`model.preset` must be one of {sorted(LANGUAGE_MODEL_PRESETS)}, "
                             f"got {self.preset!r}.")
        for name in ("num_layers", "hidden_dim", "num_heads", "intermediate_dim"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"`model.{name}` must be positive, got {value}.")
        if self.max_sequence_length < 2:
            raise ValueError(f"`model.max_sequence_length` must be >= 2, got "
                             f"{self.max_sequence_length}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`model.dropout` must be in [0, 1), got {self.dropout}.")

    def sizes(self):
        """The preset's sizes with this config's overrides."""
        sizes = dict(LANGUAGE_MODEL_PRESETS[self.preset])
        sizes.update({k: getattr(self, k) for k in sizes if getattr(self, k) is not None})
        if sizes["hidden_dim"] % sizes["num_heads"]:
            raise ValueError(f"`model.hidden_dim`={sizes['hidden_dim']} is not divisible by "
                             f"`model.num_heads`={sizes['num_heads']}.")
        return sizes


@dataclasses.dataclass
class LanguageModelingConfig:
    """Fields:
      model: `LanguageModelConfig`.
      sequence_length: tokens per training sequence (at most the context window).
      score_stride: tokens between the validation (and `score_text`) windows;
        smaller gives each token more context and costs more.
      shuffle_buffer: training sequences shuffled together.
      validation_batch_size: windows per validation batch.
      seed: the order of the files and the sequences.
    """

    model: LanguageModelConfig = dataclasses.field(default_factory=LanguageModelConfig)
    sequence_length: int = 256
    score_stride: int = 128
    shuffle_buffer: int = 2048
    validation_batch_size: int = 32
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.sequence_length <= self.model.max_sequence_length:
            raise ValueError(f"`sequence_length` must be in [1, model.max_sequence_length="
                             f"{self.model.max_sequence_length}], got {self.sequence_length}.")
        if not 1 <= self.score_stride <= self.model.max_sequence_length:
            raise ValueError(f"`score_stride` must be in [1, model.max_sequence_length="
                             f"{self.model.max_sequence_length}], got {self.score_stride}.")
        for name in ("shuffle_buffer", "validation_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}.")


def count_file_characters(paths):
    """Unicode code points of the files (invalid UTF-8 bytes count one each, as the
    tokenizer sees them), read a chunk of lines at a time."""
    return sum(len(line) for path in paths for chunk in read_line_chunks(path)
               for line in chunk)


class LanguageModelingTask(Task):
    """Next-token prediction on plain text files.

    Args:
      config: `LanguageModelingConfig`.
      tokenizer: a lossless `SentencePieceTokenizer` (`end_token_id` is the
        end-of-document token).
      train_files, validation_files: plain text files, one document each
        (validation: whole held-out documents).
      global_batch_size: sequences per training batch over all replicas.
      decoding: `DecodingConfig` of the export's `serving_default`.
      init_model: a trained `TransformerLanguageModel` to continue from (its
        sizes replace `config.model`'s except dropout, its weights are the
        start; see `load_trained_language_model`), or None.
      export_jit_compile: export generation and scoring XLA-compiled (float32).

    Features: `token_ids`, `padding_mask` int32 `[b, len]`; labels: `labels`
    int32 `[b, len]` (next tokens), `weights` float32 `[b, len]` (1 = scored).
    Validation results: `loss` (nats per token), `perplexity`,
    `bits_per_character` (of the whole validation text: evaluate every batch).
    """

    def __init__(self, config, tokenizer, train_files, validation_files, global_batch_size,
                 decoding=None, init_model=None, export_jit_compile=False):
        if not train_files:
            raise ValueError("No training files.")
        if int(global_batch_size) < 1:
            raise ValueError(f"`global_batch_size` must be positive, got {global_batch_size}.")
        if init_model is not None and init_model.vocabulary_size < tokenizer.vocabulary_size:
            raise ValueError(f"The model to continue from has {init_model.vocabulary_size} "
                             f"token ids but the tokenizer {tokenizer.vocabulary_size} pieces: "
                             "they do not belong together.")
        self.config = config
        self.tokenizer = tokenizer
        self.train_files = [str(p) for p in train_files]
        self.validation_files = [str(p) for p in validation_files]
        self.global_batch_size = int(global_batch_size)
        self.decoding = decoding or DecodingConfig(method="sample", top_p=0.95)
        self.init_model = init_model
        self.export_jit_compile = bool(export_jit_compile)
        self._validation_characters = None
        self.model = None
        if init_model is not None and config.sequence_length > init_model.max_sequence_length:
            raise ValueError(f"`sequence_length`={config.sequence_length} exceeds the context "
                             f"window of the model to continue from "
                             f"({init_model.max_sequence_length}).")

    @property
    def context_window(self):
        return (self.init_model.max_sequence_length if self.init_model is not None
                else self.config.model.max_sequence_length)

    def build_model(self):
        if self.init_model is not None:
            # Rebuilt under this run's dtype policy, with the trained weights.
            config = {**self.init_model.get_config(), "dtype": None,
                      "dropout": self.config.model.dropout,
                      "attention_dropout": self.config.model.dropout}
            self.model = TransformerLanguageModel.from_config(config)
            self.model.set_weights(self.init_model.get_weights())
            return self.model
        model_config = self.config.model
        self.model = TransformerLanguageModel(
            self.tokenizer.vocabulary_size, max_sequence_length=model_config.max_sequence_length,
            dropout=model_config.dropout, **model_config.sizes())
        return self.model

    # -- Data ----------------------------------------------------------------------

    def build_dataset(self, split, input_context=None):
        batch_size = self.global_batch_size
        if input_context is not None:
            batch_size = input_context.get_per_replica_batch_size(self.global_batch_size)
        eod = self.tokenizer.end_token_id
        if split == "train":
            ds = language_model_dataset(
                self.train_files, self.tokenizer, self.config.sequence_length, batch_size,
                eod, seed=self.config.seed, shuffle_buffer_size=self.config.shuffle_buffer)
            ds = ds.repeat()
            if input_context is not None:
                ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
            return ds.map(lambda features, labels: (features, {
                "labels": labels, "weights": tf.ones_like(labels, tf.float32)}))
        if split != "validation":
            raise ValueError(f"Unknown split {split!r}; the task has 'train' and 'validation'.")
        if not self.validation_files:
            raise ValueError("No validation files.")
        ds = scoring_windows_dataset(
            lambda: tokenize_documents(self.validation_files, self.tokenizer), eod,
            self.context_window, self.config.score_stride, self.config.validation_batch_size)
        if input_context is not None:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        return ds.map(lambda features, labels, weights: (
            features, {"labels": labels, "weights": weights}))

    # -- Loss and metrics ------------------------------------------------------------

    def compute_loss(self, labels, outputs):
        return language_model_loss_sum(labels["labels"], outputs, labels["weights"])

    def build_metrics(self):
        return [keras.metrics.Sum(name="nll_sum"), keras.metrics.Sum(name="tokens")]

    def build_train_metrics(self):
        return []  # the training loss is the per-token NLL already; no second softmax

    def update_metrics(self, metrics, labels, outputs):
        nll_sum, tokens = metrics
        loss_sum, weight = language_model_loss_sum(labels["labels"], outputs, labels["weights"])
        nll_sum.update_state(loss_sum)
        tokens.update_state(weight)

    def validation_characters(self):
        """Characters of the validation documents (counted once)."""
        if self._validation_characters is None:
            self._validation_characters = count_file_characters(self.validation_files)
        return self._validation_characters

    def aggregate_eval(self, metrics):
        nll, tokens = (float(m.result()) for m in metrics)
        return {"perplexity": float(perplexity(nll, tokens)),
                "bits_per_character": float(bits_per_character(nll,
                                                               self.validation_characters())),
                "tokens": int(tokens)}

    # -- Export ----------------------------------------------------------------------

    def export(self, model, directory):
        """The `LanguageModelModule` SavedModel, the Keras model (`language_model.keras`)
        and the SentencePiece model (`sentencepiece.model`) in `directory`; returns
        the export's metadata."""
        jit = self.export_jit_compile
        module = LanguageModelModule(model, self.tokenizer, self.decoding,
                                     self.config.score_stride, jit_compile=jit,
                                     dtype_policy="float32" if jit else None)
        module.save(directory)
        model.save(os.path.join(directory, KERAS_MODEL_FILE))
        save_sentencepiece_model(self.tokenizer.proto, os.path.join(directory,
                                                                    SENTENCEPIECE_FILE))
        return {**module.metadata(),
                "decoding": dataclasses.asdict(self.decoding),
                "dtype_policy": ",".join(sorted(layer_policies(module.model))),
                "sequence_length": self.config.sequence_length,
                "model": {"num_layers": model.num_layers, "hidden_dim": model.hidden_dim,
                          "num_heads": model.num_heads,
                          "intermediate_dim": model.intermediate_dim,
                          "parameters": int(model.count_params())}}


def load_trained_language_model(path):
    """`(TransformerLanguageModel, SentencePieceTokenizer)` of a language-model export
    (a version directory, or a base directory: its latest version), for `--init`.

    Raises:
      FileNotFoundError: no export there, or one without the Keras model and the
        SentencePiece model (not a language-model export).
      ValueError: a tokenizer with more pieces than the model has ids.
    """
    directory = resolve_version_dir(path)
    keras_path = os.path.join(directory, KERAS_MODEL_FILE)
    spm_path = os.path.join(directory, SENTENCEPIECE_FILE)
    for needed in (keras_path, spm_path):
        if not os.path.isfile(needed):
            raise FileNotFoundError(f"{directory} is not a language-model export: "
                                    f"{os.path.basename(needed)} is missing.")
    model = keras.saving.load_model(keras_path, compile=False)
    if not isinstance(model, TransformerLanguageModel):
        raise FileNotFoundError(f"{keras_path} holds a {type(model).__name__}, not a "
                                "TransformerLanguageModel.")
    tokenizer = SentencePieceTokenizer(spm_path)
    if tokenizer.vocabulary_size > model.vocabulary_size:
        raise ValueError(f"{spm_path} has {tokenizer.vocabulary_size} pieces but the model "
                         f"only {model.vocabulary_size} token ids: they do not belong together.")
    return model, tokenizer
