"""One Transformer decoder block: causal self-attention, cross-attention, feed-forward."""

import keras
import tensorflow as tf

from bertlab.layers.activations import get_activation
from bertlab.layers.fast_dropout import FastDropout
from bertlab.layers.feed_forward import FeedForward
from bertlab.layers.multi_head_attention import MultiHeadAttention


@keras.saving.register_keras_serializable(package="bertlab")
class TransformerDecoderBlock(keras.layers.Layer):
    """Causal self-attention, cross-attention over the encoder, feed-forward.

    Each sublayer has a residual connection and LayerNorm (post-norm by default,
    pre-norm with `normalize_first=True`). Without `encoder_outputs` (and no
    cross-attention cache) the cross-attention sublayer is skipped.

    Args: as `TransformerEncoderBlock`, and
      use_cross_attention: False makes a decoder-only block (GPT: causal
        self-attention and feed-forward only) that has no cross-attention
        weights at all.

    Call arguments:
      inputs: `[batch, tgt_len, dim]` decoder states.
      encoder_outputs: `[batch, src_len, dim]`.
      decoder_padding_mask: `[batch, tgt_len]` (1 = token).
      encoder_padding_mask: `[batch, src_len]`.
      self_attention_cache: `[batch, 2, heads, max_len, head_dim]` or a `(keys,
        values)` pair of `[batch, heads, max_len, head_dim]` (returned so); with
        `cache_update_index`, for step-by-step decoding (returned updated).
      cross_attention_cache: precomputed encoder keys/values, see
        `compute_cross_attention_cache`.

    Returns `[batch, tgt_len, dim]`, or `(outputs, self_attention_cache)` when a
    self-attention cache is given.

    Example:
    >>> block = TransformerDecoderBlock(num_heads=2, intermediate_dim=32)
    >>> block(np.zeros((2, 5, 16)), encoder_outputs=np.zeros((2, 7, 16))).shape
    (2, 5, 16)
    """

    def __init__(self, num_heads, intermediate_dim, activation="gelu", dropout=0.1,
                 attention_dropout=0.1, layer_norm_epsilon=1e-6, normalize_first=False,
                 kernel_initializer="glorot_uniform", use_cross_attention=True, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.use_cross_attention = bool(use_cross_attention)
        self.intermediate_dim = int(intermediate_dim)
        self.activation = get_activation(activation)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.normalize_first = bool(normalize_first)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        policy = self.dtype_policy

        def layer_norm(name):
            return keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                   dtype=policy, name=name)

        self.self_attention = MultiHeadAttention(
            self.num_heads, dropout=self.attention_dropout, self_attention=True,
            kernel_initializer=self.kernel_initializer, dtype=policy, name="self_attention")
        self.self_attention_layer_norm = layer_norm("self_attention_layer_norm")
        self.cross_attention = self.cross_attention_layer_norm = None
        if self.use_cross_attention:
            self.cross_attention = MultiHeadAttention(
                self.num_heads, dropout=self.attention_dropout, self_attention=False,
                kernel_initializer=self.kernel_initializer, dtype=policy,
                name="cross_attention")
            self.cross_attention_layer_norm = layer_norm("cross_attention_layer_norm")
        self.feed_forward = FeedForward(
            self.intermediate_dim, activation=self.activation, dropout=self.dropout,
            kernel_initializer=self.kernel_initializer, dtype=policy, name="feed_forward")
        self.output_layer_norm = layer_norm("output_layer_norm")
        self.dropout_layer = FastDropout(self.dropout, dtype=policy)

    def build(self, inputs_shape, encoder_outputs_shape=None):
        self.self_attention.build(inputs_shape)
        self.self_attention_layer_norm.build(inputs_shape)
        if self.use_cross_attention:
            self.cross_attention.build(inputs_shape, encoder_outputs_shape or inputs_shape)
            self.cross_attention_layer_norm.build(inputs_shape)
        self.feed_forward.build(inputs_shape)
        self.output_layer_norm.build(inputs_shape)
        self.built = True

    def compute_cross_attention_cache(self, encoder_outputs):
        """Encoder keys/values for this block: `[batch, 2, heads, src_len, head_dim]`."""
        if not self.use_cross_attention:
            raise ValueError("This block has no cross-attention (`use_cross_attention=False`).")
        return self.cross_attention.compute_key_value(encoder_outputs)

    def _sublayer(self, x, layer_norm, fn):
        residual = x
        if self.normalize_first:
            x = layer_norm(x)
        x = residual + fn(x)
        if not self.normalize_first:
            x = layer_norm(x)
        return x

    def call(self, inputs, encoder_outputs=None, decoder_padding_mask=None,
             encoder_padding_mask=None, self_attention_cache=None, cache_update_index=None,
             cross_attention_cache=None, training=None):
        if not self.use_cross_attention and (encoder_outputs is not None
                                             or cross_attention_cache is not None):
            raise ValueError("This block has no cross-attention (`use_cross_attention=False`); "
                             "it takes no `encoder_outputs` or `cross_attention_cache`.")
        new_cache = None

        def self_attend(x):
            nonlocal new_cache
            out = self.self_attention(
                x, padding_mask=decoder_padding_mask, use_causal_mask=True,
                cache=self_attention_cache, cache_update_index=cache_update_index,
                training=training)
            if self_attention_cache is not None:
                out, new_cache = out
            return self.dropout_layer(out, training=training)

        x = self._sublayer(inputs, self.self_attention_layer_norm, self_attend)
        if encoder_outputs is not None or cross_attention_cache is not None:
            def cross_attend(y):
                out = self.cross_attention(
                    y, value=encoder_outputs, padding_mask=encoder_padding_mask,
                    cache=cross_attention_cache, training=training)
                if cross_attention_cache is not None:
                    out = out[0]
                return self.dropout_layer(out, training=training)

            x = self._sublayer(x, self.cross_attention_layer_norm, cross_attend)
        x = self._sublayer(x, self.output_layer_norm,
                           lambda y: self.feed_forward(y, training=training))
        if self_attention_cache is not None:
            return x, new_cache
        return x

    def compute_output_spec(self, inputs, encoder_outputs=None, self_attention_cache=None,
                            **kwargs):
        out = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if self_attention_cache is not None:
            return out, tf.nest.map_structure(
                lambda c: keras.KerasTensor(c.shape, dtype=self.compute_dtype),
                self_attention_cache)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads, intermediate_dim=self.intermediate_dim,
            activation=keras.activations.serialize(self.activation), dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            layer_norm_epsilon=self.layer_norm_epsilon, normalize_first=self.normalize_first,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            use_cross_attention=self.use_cross_attention,
        )
        return config
