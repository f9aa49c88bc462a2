"""One Transformer encoder block: self-attention and feed-forward with residuals."""

import keras
import tensorflow as tf

from bertlab.layers.activations import get_activation
from bertlab.layers.fast_dropout import FastDropout
from bertlab.layers.feed_forward import FeedForward
from bertlab.layers.multi_head_attention import MultiHeadAttention


@keras.saving.register_keras_serializable(package="bertlab")
class TransformerEncoderBlock(keras.layers.Layer):
    """Self-attention + feed-forward, each with a residual connection and LayerNorm.

    Post-norm (BERT, the original Transformer): `x = LN(x + Sublayer(x))`.
    Pre-norm (`normalize_first=True`, more stable for deep stacks):
    `x = x + Sublayer(LN(x))`.

    Args:
      num_heads: attention heads.
      intermediate_dim: feed-forward inner width.
      activation: feed-forward activation ("gelu" for BERT).
      dropout: dropout after attention and feed-forward outputs.
      attention_dropout: dropout on attention probabilities.
      layer_norm_epsilon: LayerNorm epsilon (1e-12 in BERT).
      normalize_first: pre-norm instead of post-norm.
      kernel_initializer: initializer of all kernels.

    Call: `inputs` `[batch, seq, dim]`, `padding_mask` `[batch, seq]` (1 = token),
    optional `attention_mask` `[batch, seq, seq]`, `use_causal_mask` ->
    `[batch, seq, dim]`. Outputs at padded positions are computed but never
    influence real positions. With `query_positions` int `[batch, p]`, the
    block's output at those positions only, `[batch, p, dim]` (every position
    is still attended to): the same values as gathering the full output, for
    a fraction of the work when a last layer feeds heads that read a few
    positions.

    Example:
    >>> block = TransformerEncoderBlock(num_heads=2, intermediate_dim=32)
    >>> block(np.zeros((2, 5, 16)), padding_mask=np.ones((2, 5))).shape
    (2, 5, 16)

    Reference: Devlin et al., 2019, "BERT"; Vaswani et al., 2017.
    """

    def __init__(self, num_heads, intermediate_dim, activation="gelu", dropout=0.1,
                 attention_dropout=0.1, layer_norm_epsilon=1e-12, normalize_first=False,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.activation = get_activation(activation)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.normalize_first = bool(normalize_first)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True
        policy = self.dtype_policy
        self.attention = MultiHeadAttention(
            self.num_heads, dropout=self.attention_dropout, self_attention=True,
            kernel_initializer=self.kernel_initializer, dtype=policy, name="self_attention")
        self.attention_dropout_layer = FastDropout(self.dropout, dtype=policy)
        self.attention_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="attention_layer_norm")
        self.feed_forward = FeedForward(
            self.intermediate_dim, activation=self.activation, dropout=self.dropout,
            kernel_initializer=self.kernel_initializer, dtype=policy, name="feed_forward")
        self.output_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="output_layer_norm")

    def build(self, inputs_shape):
        self.attention.build(inputs_shape)
        self.attention_layer_norm.build(inputs_shape)
        self.feed_forward.build(inputs_shape)
        self.output_layer_norm.build(inputs_shape)
        self.built = True

    def call(self, inputs, padding_mask=None, attention_mask=None, use_causal_mask=False,
             query_positions=None, training=None, mask=None):
        if padding_mask is None and mask is not None:
            padding_mask = mask
        x = inputs
        residual = x
        if query_positions is not None:
            residual = tf.gather(x, tf.cast(query_positions, tf.int32), batch_dims=1)
        if self.normalize_first:
            x = self.attention_layer_norm(x)
        x = self.attention(x, padding_mask=padding_mask, attention_mask=attention_mask,
                           use_causal_mask=use_causal_mask, query_positions=query_positions,
                           training=training)
        x = residual + self.attention_dropout_layer(x, training=training)
        if not self.normalize_first:
            x = self.attention_layer_norm(x)
        residual = x
        if self.normalize_first:
            x = self.output_layer_norm(x)
        x = residual + self.feed_forward(x, training=training)
        if not self.normalize_first:
            x = self.output_layer_norm(x)
        return x

    def attention_probabilities(self, inputs, padding_mask=None):
        """float32 `[batch, heads, seq, seq]`: the block's self-attention distributions
        for `inputs` `[batch, seq, dim]` (the block's input; see
        `MultiHeadAttention.attention_probabilities`)."""
        x = self.attention_layer_norm(inputs) if self.normalize_first else inputs
        return self.attention.attention_probabilities(x, padding_mask=padding_mask)

    def compute_output_spec(self, inputs, query_positions=None, **kwargs):
        shape = tuple(inputs.shape)
        if query_positions is not None:
            shape = tuple(query_positions.shape) + shape[-1:]
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads, intermediate_dim=self.intermediate_dim,
            activation=keras.activations.serialize(self.activation), dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            layer_norm_epsilon=self.layer_norm_epsilon, normalize_first=self.normalize_first,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
