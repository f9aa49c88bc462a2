"""The BERT encoder: embeddings, a stack of Transformer encoder blocks, a pooler."""

import keras
import tensorflow as tf

from bertlab.models import bert_checkpoint
from bertlab.layers.bert_embeddings import BertEmbeddings
from bertlab.layers.dense_2d import Dense2D
from bertlab.layers.transformer_encoder_block import TransformerEncoderBlock

# Sizes of Google's BERT releases (the small ones are the "BERT miniatures",
# Turc et al., 2019).
BERT_PRESETS = {
    "tiny": dict(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=512),
    "mini": dict(num_layers=4, hidden_dim=256, num_heads=4, intermediate_dim=1024),
    "small": dict(num_layers=4, hidden_dim=512, num_heads=8, intermediate_dim=2048),
    "medium": dict(num_layers=8, hidden_dim=512, num_heads=8, intermediate_dim=2048),
    "base": dict(num_layers=12, hidden_dim=768, num_heads=12, intermediate_dim=3072),
    "large": dict(num_layers=24, hidden_dim=1024, num_heads=16, intermediate_dim=4096),
}

INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask")


def token_inputs(names=INPUT_NAMES):
    """`{name: keras.Input}` int32 `[batch, seq]` for each of `names` (a model's inputs)."""
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in names}


def as_bert_encoder(encoder):
    """`encoder` itself, or the `BertEncoder` its serialized config (a dict, as in a
    head model's `get_config`) describes.

    Raises:
      ValueError: `encoder` is not a `BertEncoder`.
    """
    if isinstance(encoder, dict):
        encoder = keras.saving.deserialize_keras_object(encoder)
    if not isinstance(encoder, BertEncoder):
        raise ValueError(f"`encoder` must be a BertEncoder, got {type(encoder).__name__}.")
    return encoder


def select_inputs(inputs, names, model_name):
    """The entries `names` of an input dict (extra entries are ignored; Keras would
    otherwise match a dict of another structure by position). Missing entries
    raise a `ValueError` that names them."""
    if not isinstance(inputs, dict):
        raise ValueError(f"{model_name} takes a dict with {', '.join(names)}; got "
                         f"{type(inputs).__name__}.")
    missing = [n for n in names if n not in inputs]
    if missing:
        raise ValueError(f"{model_name} inputs lack {', '.join(missing)} "
                         f"(got {', '.join(sorted(inputs))}).")
    return {n: inputs[n] for n in names}


def _encode(embeddings, blocks, final_layer_norm, pooler, inputs, output_positions=None,
            training=None, added_embeddings=None):
    """The encoder's forward pass: `{sequence_output, pooled_output}` of the input
    dict. Builds the functional graph (symbolic inputs) and runs the
    `output_positions` path (the last block only at those positions and at the
    first token, which the pooler reads). `added_embeddings` `[batch, seq, hidden]`
    are added to the embedding block's output."""
    padding_mask = inputs["padding_mask"]
    last_positions = None
    if output_positions is not None:
        positions = tf.cast(output_positions, tf.int32)
        last_positions = tf.concat([tf.zeros_like(positions[:, :1]), positions], 1)
    x = embeddings(inputs["token_ids"], inputs["segment_ids"], training=training)
    if added_embeddings is not None:
        x = x + keras.ops.cast(added_embeddings, x.dtype)
    for block in blocks[:-1]:
        x = block(x, padding_mask=padding_mask, training=training)
    x = blocks[-1](x, padding_mask=padding_mask, query_positions=last_positions,
                   training=training)
    if final_layer_norm is not None:
        x = final_layer_norm(x)
    sequence = x if output_positions is None else x[:, 1:]
    return {"sequence_output": sequence, "pooled_output": pooler(x[:, 0, :])}


def _output_positions(inputs):
    """The optional `output_positions` entry of an encoder input dict, or None."""
    return inputs.get("output_positions") if isinstance(inputs, dict) else None


@keras.saving.register_keras_serializable(package="bertlab")
class BertEncoder(keras.Model):
    """BERT (Devlin et al., 2019): a bidirectional Transformer encoder.

    Args:
      vocabulary_size: number of token ids.
      num_layers, hidden_dim, num_heads, intermediate_dim: sizes (see
        `BERT_PRESETS` and `from_preset`).
      max_sequence_length: positions of the learned position table.
      num_segments: segment (token type) vocabulary size.
      dropout: hidden dropout; `attention_dropout` defaults to it.
      activation: feed-forward activation.
      layer_norm_epsilon: LayerNorm epsilon.
      normalize_first: pre-norm blocks (plus a final LayerNorm) instead of BERT's
        post-norm.
      position_type: "learned" or "sinusoidal".
      initializer_range: stddev of the truncated-normal initializer.
      dtype: dtype policy, e.g. "mixed_bfloat16".

    Inputs: dict of int32 `[batch, seq]` `token_ids`, `segment_ids`,
    `padding_mask` (1 = token, 0 = padding); optionally int32 `output_positions`
    `[batch, p]`.
    Outputs: dict with `sequence_output` `[batch, seq, hidden_dim]` and
    `pooled_output` `[batch, hidden_dim]` (tanh dense over the first token).
    With `output_positions`, `sequence_output` is `[batch, p, hidden_dim]`, the
    final states at those positions, and the last block computes its
    attention output and feed-forward only there (and at the first token, for
    the pooler): for BERT's pretraining heads (`p` = 20 masked positions of
    128) that removes most of the last layer's work. The values equal
    `tf.gather(sequence_output, output_positions, batch_dims=1)`.

    Example:
    >>> encoder = BertEncoder.from_preset("tiny", vocabulary_size=1000)
    >>> out = encoder({"token_ids": ids, "segment_ids": zeros, "padding_mask": ones})
    >>> out["pooled_output"].shape
    (batch, 128)

    Pretrained weights: `BertEncoder.from_pretrained(model_dir)` for a directory
    in the Hugging Face layout (`config.json`, `model.safetensors`), which is also
    what `save_pretrained` and bertlab's pretraining runner write.
    """

    def __init__(self, vocabulary_size, num_layers, hidden_dim, num_heads, intermediate_dim,
                 max_sequence_length=512, num_segments=2, dropout=0.1, attention_dropout=None,
                 activation="gelu", layer_norm_epsilon=1e-12, normalize_first=False,
                 position_type="learned", initializer_range=0.02, dtype=None, **kwargs):
        if int(num_layers) < 1:
            raise ValueError(f"`num_layers` must be positive, got {num_layers}.")
        if int(hidden_dim) % int(num_heads):
            raise ValueError(f"`hidden_dim`={hidden_dim} is not divisible by `num_heads`={num_heads}.")
        attention_dropout = dropout if attention_dropout is None else attention_dropout
        initializer = keras.initializers.TruncatedNormal(stddev=initializer_range)

        # Layers.
        embeddings = BertEmbeddings(
            vocabulary_size, hidden_dim, max_sequence_length=max_sequence_length,
            num_segments=num_segments, position_type=position_type, dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon, initializer=initializer, dtype=dtype,
            name="embeddings")
        blocks = [
            TransformerEncoderBlock(
                num_heads, intermediate_dim, activation=activation, dropout=dropout,
                attention_dropout=attention_dropout, layer_norm_epsilon=layer_norm_epsilon,
                normalize_first=normalize_first, kernel_initializer=initializer, dtype=dtype,
                name=f"transformer_layer_{i}")
            for i in range(num_layers)
        ]
        final_layer_norm = None
        if normalize_first:
            final_layer_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=dtype, name="final_layer_norm")
        pooler = Dense2D(hidden_dim, activation="tanh", kernel_initializer=initializer,
                         dtype=dtype, name="pooler_dense")

        # Functional graph.
        inputs = token_inputs()
        super().__init__(inputs=inputs,
                         outputs=_encode(embeddings, blocks, final_layer_norm, pooler, inputs),
                         dtype=dtype, **kwargs)

        self._policy_name = keras.dtype_policies.get(dtype).name if dtype else None
        self.embeddings = embeddings
        self.transformer_layers = blocks
        self.final_layer_norm = final_layer_norm
        self.pooler_dense = pooler
        self.vocabulary_size = int(vocabulary_size)
        self.num_layers = int(num_layers)
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.max_sequence_length = int(max_sequence_length)
        self.num_segments = int(num_segments)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.activation = activation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.normalize_first = bool(normalize_first)
        self.position_type = position_type
        self.initializer_range = float(initializer_range)

    def call(self, inputs, training=None, mask=None):
        positions = _output_positions(inputs)
        inputs = select_inputs(inputs, INPUT_NAMES, type(self).__name__)
        if positions is not None:
            return self._call_at_positions(inputs, positions, training)
        return super().call(inputs, training=training, mask=mask)

    def _call_at_positions(self, inputs, positions, training):
        return _encode(self.embeddings, self.transformer_layers, self.final_layer_norm,
                       self.pooler_dense, inputs, positions, training)

    def call_with_added_embeddings(self, inputs, added_embeddings, training=None):
        """The encoder's outputs with `added_embeddings` (`[batch, seq, hidden_dim]`,
        e.g. an extra input feature's embedding) added to the embedding block's
        output, before the first Transformer block. Works on symbolic inputs, so a
        functional head model can be built on it."""
        inputs = select_inputs(inputs, INPUT_NAMES, type(self).__name__)
        return _encode(self.embeddings, self.transformer_layers, self.final_layer_norm,
                       self.pooler_dense, inputs, training=training,
                       added_embeddings=added_embeddings)

    def compute_output_spec(self, inputs, training=None, mask=None):
        positions = _output_positions(inputs)
        spec = super().compute_output_spec(
            select_inputs(inputs, INPUT_NAMES, type(self).__name__), training=training, mask=mask)
        if positions is not None:
            sequence = spec["sequence_output"]
            spec = dict(spec, sequence_output=keras.KerasTensor(
                tuple(positions.shape[:2]) + (self.hidden_dim,), dtype=sequence.dtype))
        return spec

    @property
    def token_embedding(self):
        """The `[vocabulary_size, hidden_dim]` word embedding layer (for tied heads)."""
        return self.embeddings.token_embedding

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "dtype": self._policy_name,
            "vocabulary_size": self.vocabulary_size, "num_layers": self.num_layers,
            "hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "max_sequence_length": self.max_sequence_length,
            "num_segments": self.num_segments, "dropout": self.dropout,
            "attention_dropout": self.attention_dropout, "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "normalize_first": self.normalize_first, "position_type": self.position_type,
            "initializer_range": self.initializer_range,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_preset(cls, preset, vocabulary_size=30522, **kwargs):
        """A randomly initialised encoder of a named size (`BERT_PRESETS`)."""
        if preset not in BERT_PRESETS:
            raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(BERT_PRESETS)}.")
        return cls(vocabulary_size=vocabulary_size, **{**BERT_PRESETS[preset], **kwargs})

    @classmethod
    def from_pretrained(cls, path, dtype=None, **overrides):
        """Loads a pretrained encoder from a Hugging Face-layout directory, or a
        checkpoint name of `bertlab.pretrained` ("bertlab-zh-mini", "minilm").

        The directory holds `config.json` (a BERT config) and `model.safetensors`
        (a `BertModel` or `BertForPreTraining` state dict); a `vocab.txt`, when
        present, must have `vocab_size` lines. `overrides` replace config values
        that do not change weight shapes (dropout, for instance).
        """
        return bert_checkpoint.load_bert_encoder(cls, path, dtype=dtype, **overrides)

    def save_pretrained(self, path, vocabulary=None, lowercase=True, weights_dtype="float32"):
        """Writes the encoder (and optionally its vocabulary) in the layout that
        `from_pretrained` and `BertPreprocessor.from_pretrained` read. Atomic:
        written to a temporary directory, then renamed into place; a non-empty
        `path` that is not a checkpoint is refused (`FileExistsError`).
        `weights_dtype="bfloat16"` writes bf16 weights (half the size)."""
        bert_checkpoint.save_bert_encoder(self, path, vocabulary=vocabulary, lowercase=lowercase,
                                          weights_dtype=weights_dtype)
