"""Strings to BERT model inputs (`token_ids`, `segment_ids`, `padding_mask`) in the graph."""

import json
import os

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from bertlab.pretrained import resolve_checkpoint
from bertlab.text.bert_tokenizer import BertTokenizer


@keras.saving.register_keras_serializable(package="bertlab")
class BertPreprocessor(keras.layers.Layer):
    """Tokenizes one or two `tf.string` segments and packs them for a BERT encoder.

    Output rows are `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, with segment ids 0
    for `a` (and its `[CLS]`/`[SEP]`) and 1 for `b`. Pairs that are too long are
    trimmed round-robin (the longer segment loses tokens first, as in BERT).

    Args:
      tokenizer: a `BertTokenizer`.
      sequence_length: the maximum (and, unless `pad_to_longest`, the fixed)
        output length.
      pad_to_longest: pad each batch only to its longest row (at most
        `sequence_length`) instead of to `sequence_length`.

    Call: `tf.string` `[batch]`, or a tuple/list of two of them ->
      dict of int32 `[batch, seq]` tensors `token_ids`, `segment_ids`, `padding_mask`
      (1 at real tokens, 0 at padding).

    Example:
    >>> pre = BertPreprocessor.from_pretrained(model_dir, sequence_length=16)
    >>> pre(tf.constant(["a sentence"]))["token_ids"].shape
    TensorShape([1, 16])
    """

    def __init__(self, tokenizer, sequence_length=128, pad_to_longest=False, **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs["dtype"] = "int32"
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if not isinstance(tokenizer, BertTokenizer):
            raise ValueError(f"`tokenizer` must be a BertTokenizer, got {type(tokenizer).__name__}.")
        if int(sequence_length) < 3:
            raise ValueError(f"`sequence_length` must be at least 3, got {sequence_length}.")
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.pad_to_longest = bool(pad_to_longest)
        self.cls_id = tokenizer.token_to_id("[CLS]")
        self.sep_id = tokenizer.token_to_id("[SEP]")
        self.pad_id = tokenizer.token_to_id("[PAD]")
        self.built = True

    @classmethod
    def from_vocabulary(cls, vocabulary, lowercase=True, sequence_length=128, **kwargs):
        """Builds from a `vocab.txt` path (or token list) and a lowercase flag."""
        return cls(BertTokenizer(vocabulary, lowercase=lowercase), sequence_length, **kwargs)

    @classmethod
    def from_pretrained(cls, path, sequence_length=128, **kwargs):
        """Builds from a model directory holding `vocab.txt`, or a checkpoint name
        of `bertlab.pretrained` ("bertlab-zh-mini", "minilm").

        Lower-casing is read from `tokenizer_config.json` (`do_lower_case`) when
        present, else from bertlab's `bertlab_config.json`, else assumed uncased.
        """
        path = resolve_checkpoint(path)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"Model directory not found: {path}")
        lowercase = read_lowercase_flag(path)
        return cls.from_vocabulary(
            os.path.join(path, "vocab.txt"), lowercase, sequence_length, **kwargs
        )

    def segment_lengths_budget(self, num_segments):
        return self.sequence_length - (num_segments + 1)

    def call(self, inputs):
        if isinstance(inputs, dict):
            raise ValueError("BertPreprocessor takes a string tensor or a tuple of two.")
        segments = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if not 1 <= len(segments) <= 2:
            raise ValueError(f"Expected 1 or 2 text segments, got {len(segments)}.")
        tokenized = [self.tokenizer(tf.reshape(s, [-1])) for s in segments]
        trimmed = trim_segments(tokenized, self.segment_lengths_budget(len(tokenized)))
        token_ids, segment_ids = tf_text.combine_segments(
            trimmed, start_of_sequence_id=self.cls_id, end_of_segment_id=self.sep_id
        )
        return pack_ragged(token_ids, segment_ids, self.sequence_length,
                           self.pad_to_longest, self.pad_id)

    def compute_output_spec(self, inputs):
        first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        shape = (first.shape[0], None if self.pad_to_longest else self.sequence_length)
        return {k: keras.KerasTensor(shape, dtype="int32")
                for k in ("token_ids", "segment_ids", "padding_mask")}

    def get_config(self):
        config = super().get_config()
        config.update(
            tokenizer=keras.saving.serialize_keras_object(self.tokenizer),
            sequence_length=self.sequence_length,
            pad_to_longest=self.pad_to_longest,
        )
        return config


def _keep_first(ragged, lengths):
    """Row i of `ragged` cut to its first `lengths[i]` values."""
    positions = tf.ragged.range(ragged.row_lengths())
    return tf.ragged.boolean_mask(ragged, positions < tf.cast(lengths, positions.dtype)[:, None])


def trim_segments(segments, budget):
    """Trims one or two ragged `[batch, (len)]` segments to `budget` values per row.

    One segment is cut at the end. A pair follows google-research/bert's
    `_truncate_seq_pair` (drop from the longer segment, from the second on a
    tie), in closed form: the first keeps `min(len_a, max(ceil(budget / 2),
    budget - len_b))`. Plain TF ops only (no tensorflow-text trimmer op), so
    exported models load in TF Serving's bundled tensorflow-text.
    """
    if len(segments) == 1:
        return [segments[0][:, :budget]]
    a, b = segments
    len_a = a.row_lengths()
    len_b = b.row_lengths()
    half = tf.cast((budget + 1) // 2, len_a.dtype)
    keep_a = tf.minimum(len_a, tf.maximum(half, budget - len_b))
    keep_b = tf.minimum(len_b, budget - keep_a)
    return [_keep_first(a, keep_a), _keep_first(b, keep_b)]


def pack_ragged(token_ids, segment_ids, sequence_length, pad_to_longest=False, pad_id=0):
    """Pads ragged `[batch, (len)]` ids to dense model inputs.

    Returns a dict of int32 `[batch, seq]` `token_ids`, `segment_ids`, `padding_mask`,
    `seq = sequence_length` or, with `pad_to_longest`, the longest row.
    """
    width = None if pad_to_longest else sequence_length
    token_ids = tf.cast(token_ids, tf.int32)
    shape = [None, width]
    return {
        "token_ids": token_ids.to_tensor(default_value=pad_id, shape=shape),
        "segment_ids": tf.cast(segment_ids, tf.int32).to_tensor(shape=shape),
        "padding_mask": tf.ones_like(token_ids).to_tensor(shape=shape),
    }


def read_lowercase_flag(model_dir):
    """Whether the checkpoint in `model_dir` is uncased (see `from_pretrained`)."""
    for name, key in (("tokenizer_config.json", "do_lower_case"),
                      ("bertlab_config.json", "lowercase")):
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                try:
                    config = json.load(f)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path} is not valid JSON: {e}") from e
            if key in config:
                return bool(config[key])
    return True
