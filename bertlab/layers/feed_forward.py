"""The position-wise feed-forward sublayer of a Transformer block."""

import keras

from bertlab.layers.activations import get_activation
from bertlab.layers.dense_2d import Dense2D
from bertlab.layers.fast_dropout import FastDropout


@keras.saving.register_keras_serializable(package="bertlab")
class FeedForward(keras.layers.Layer):
    """`Dense(intermediate_dim, activation) -> Dense(dim) -> Dropout`.

    Args:
      intermediate_dim: inner width (4x the model width in BERT).
      activation: inner activation; "gelu" is BERT's exact (erf) GELU.
      dropout: dropout rate on the output.
      kernel_initializer: initializer of both kernels.

    Call: `[batch, seq, dim]` -> `[batch, seq, dim]`.
    """

    def __init__(self, intermediate_dim, activation="gelu", dropout=0.0,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if int(intermediate_dim) < 1:
            raise ValueError(f"`intermediate_dim` must be positive, got {intermediate_dim}.")
        self.intermediate_dim = int(intermediate_dim)
        self.activation = get_activation(activation)
        self.dropout = float(dropout)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        common = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.intermediate_dense = Dense2D(self.intermediate_dim, activation=self.activation,
                                          name="intermediate", **common)
        self.intermediate_dense.build(inputs_shape)
        self.output_dense = Dense2D(inputs_shape[-1], name="output", **common)
        self.output_dense.build(tuple(inputs_shape[:-1]) + (self.intermediate_dim,))
        self.dropout_layer = FastDropout(self.dropout, dtype=self.dtype_policy)
        self.built = True

    def call(self, inputs, training=None):
        x = self.intermediate_dense(inputs)
        x = self.output_dense(x)
        return self.dropout_layer(x, training=training)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            intermediate_dim=self.intermediate_dim,
            activation=keras.activations.serialize(self.activation),
            dropout=self.dropout,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
