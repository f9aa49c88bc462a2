"""BERT's input embedding block: token + segment + position, LayerNorm, dropout."""

import math

import keras
import tensorflow as tf

from bertlab.layers.fast_dropout import FastDropout
from bertlab.layers.position_embedding import PositionEmbedding
from bertlab.layers.sinusoidal_position_encoding import SinusoidalPositionEncoding

POSITION_TYPES = ("learned", "sinusoidal")


@keras.saving.register_keras_serializable(package="bertlab")
class BertEmbeddings(keras.layers.Layer):
    """Sums token, segment and position embeddings, then LayerNorm and dropout.

    Args:
      vocabulary_size: number of token ids.
      hidden_dim: embedding width.
      max_sequence_length: positions of the learned table.
      num_segments: segment (token type) ids; 0 disables segment embeddings.
      position_type: "learned" (BERT) or "sinusoidal" (fixed).
      scale_token_embeddings: multiply token vectors by sqrt(hidden_dim)
        (the original Transformer's convention with sinusoidal positions).
      use_layer_norm: apply LayerNorm after the sum (BERT: yes).
      dropout: dropout rate after the LayerNorm.
      layer_norm_epsilon: LayerNorm epsilon.
      initializer: initializer of the embedding tables.

    Call: `token_ids` int `[batch, seq]`, optional `segment_ids` int
    `[batch, seq]`, optional `start_index` (positions offset, for decoding) ->
    `[batch, seq, hidden_dim]`.

    Example:
    >>> emb = BertEmbeddings(100, 16, max_sequence_length=32)
    >>> emb(np.ones((2, 7), "int32"), np.zeros((2, 7), "int32")).shape
    (2, 7, 16)
    """

    def __init__(self, vocabulary_size, hidden_dim, max_sequence_length=512, num_segments=2,
                 position_type="learned", scale_token_embeddings=False, use_layer_norm=True,
                 dropout=0.1, layer_norm_epsilon=1e-12, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if position_type not in POSITION_TYPES:
            raise ValueError(f"`position_type` must be one of {POSITION_TYPES}, got {position_type!r}.")
        for name, value in (("vocabulary_size", vocabulary_size), ("hidden_dim", hidden_dim),
                            ("max_sequence_length", max_sequence_length)):
            if int(value) < 1:
                raise ValueError(f"`{name}` must be positive, got {value}.")
        self.vocabulary_size = int(vocabulary_size)
        self.hidden_dim = int(hidden_dim)
        self.max_sequence_length = int(max_sequence_length)
        self.num_segments = int(num_segments)
        self.position_type = position_type
        self.scale_token_embeddings = bool(scale_token_embeddings)
        self.use_layer_norm = bool(use_layer_norm)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.initializer = keras.initializers.get(initializer)

        policy = self.dtype_policy
        self.token_embedding = keras.layers.Embedding(
            self.vocabulary_size, self.hidden_dim, embeddings_initializer=self.initializer,
            dtype=policy, name="token_embedding")
        self.segment_embedding = None
        if self.num_segments > 0:
            self.segment_embedding = keras.layers.Embedding(
                self.num_segments, self.hidden_dim, embeddings_initializer=self.initializer,
                dtype=policy, name="segment_embedding")
        if position_type == "learned":
            self.position_embedding = PositionEmbedding(
                self.max_sequence_length, initializer=self.initializer, dtype=policy,
                name="position_embedding")
        else:
            self.position_embedding = SinusoidalPositionEncoding(dtype=policy,
                                                                 name="position_encoding")
        self.layer_norm = None
        if self.use_layer_norm:
            self.layer_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=policy, name="layer_norm")
        self.dropout_layer = FastDropout(self.dropout, dtype=policy, name="dropout")

    def build(self, token_ids_shape, segment_ids_shape=None):
        self.token_embedding.build(token_ids_shape)
        if self.segment_embedding is not None:
            self.segment_embedding.build(token_ids_shape)
        embedded_shape = tuple(token_ids_shape) + (self.hidden_dim,)
        self.position_embedding.build(embedded_shape)
        if self.layer_norm is not None:
            self.layer_norm.build(embedded_shape)
        self.built = True

    def call(self, token_ids, segment_ids=None, start_index=0, training=None):
        x = tf.cast(self.token_embedding(token_ids), self.compute_dtype)
        if self.scale_token_embeddings:
            x = x * tf.cast(math.sqrt(self.hidden_dim), x.dtype)
        if self.segment_embedding is not None:
            if segment_ids is None:
                segment_ids = tf.zeros_like(token_ids)
            x = x + tf.cast(self.segment_embedding(segment_ids), x.dtype)
        x = x + self.position_embedding(x, start_index=start_index)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return self.dropout_layer(x, training=training)

    def compute_output_shape(self, token_ids_shape, segment_ids_shape=None):
        return tuple(token_ids_shape) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size, hidden_dim=self.hidden_dim,
            max_sequence_length=self.max_sequence_length, num_segments=self.num_segments,
            position_type=self.position_type,
            scale_token_embeddings=self.scale_token_embeddings,
            use_layer_norm=self.use_layer_norm, dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            initializer=keras.initializers.serialize(self.initializer),
        )
        return config
