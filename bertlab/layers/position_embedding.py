"""Learned absolute position embeddings (BERT, GPT)."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="bertlab")
class PositionEmbedding(keras.layers.Layer):
    """A trainable `[sequence_length, dim]` table, one row per position.

    Args:
      sequence_length: the largest number of positions.
      initializer: initializer of the table.

    Call: `inputs` `[batch, seq, dim]` (only its shape is used), optional
    `start_index` (int scalar, for step-by-step decoding) -> `[1, seq, dim]`
    position vectors for positions `start_index ... start_index + seq - 1`,
    broadcastable against `inputs`.

    Example:
    >>> PositionEmbedding(16)(np.zeros((2, 5, 8))).shape
    (1, 5, 8)
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if int(sequence_length) < 1:
            raise ValueError(f"`sequence_length` must be positive, got {sequence_length}.")
        self.sequence_length = int(sequence_length)
        self.initializer = keras.initializers.get(initializer)

    def build(self, inputs_shape):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.sequence_length, inputs_shape[-1]),
            initializer=self.initializer,
        )
        self.built = True

    def call(self, inputs, start_index=0):
        length = tf.shape(inputs)[1]
        table = tf.convert_to_tensor(self.embeddings)
        rows = tf.slice(table, [start_index, 0], [length, -1])
        return tf.cast(rows, self.compute_dtype)[None]

    def compute_output_shape(self, inputs_shape):
        return (1,) + tuple(inputs_shape[1:])

    def get_config(self):
        config = super().get_config()
        config.update(sequence_length=self.sequence_length,
                      initializer=keras.initializers.serialize(self.initializer))
        return config
