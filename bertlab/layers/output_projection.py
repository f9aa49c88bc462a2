"""Projection of hidden states onto a vocabulary, optionally tied to an embedding."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="bertlab")
class OutputProjection(keras.layers.Layer):
    """Hidden states `[..., dim]` -> logits `[..., vocabulary_size]`.

    With `token_embedding` (a `keras.layers.Embedding`), the kernel is that
    embedding's transposed table (weight tying, Press & Wolf 2017); otherwise
    the layer owns a `[dim, vocabulary_size]` kernel. Either way it has its own
    bias. The matmul runs in the compute dtype (bf16 under `mixed_bfloat16`:
    Keras embedding tables do not autocast, so they are cast here) and logits
    are returned in float32 for a stable softmax.

    Args:
      vocabulary_size: output classes.
      token_embedding: an Embedding layer to tie to, or None.
      use_bias: add a `[vocabulary_size]` bias.
      kernel_initializer: for the untied kernel.
    """

    def __init__(self, vocabulary_size, token_embedding=None, use_bias=True,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.token_embedding = token_embedding
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        if token_embedding is not None and token_embedding.input_dim != self.vocabulary_size:
            raise ValueError(
                f"Tied embedding has {token_embedding.input_dim} rows, "
                f"`vocabulary_size` is {self.vocabulary_size}.")

    def build(self, inputs_shape):
        if self.token_embedding is None:
            self.kernel = self.add_weight(name="kernel",
                                          shape=(inputs_shape[-1], self.vocabulary_size),
                                          initializer=self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.vocabulary_size,),
                                        initializer="zeros")
        self.built = True

    def call(self, inputs):
        x = tf.cast(inputs, self.compute_dtype)
        flat = tf.reshape(x, [-1, x.shape[-1]])
        if self.token_embedding is not None:
            table = tf.cast(self.token_embedding.embeddings, self.compute_dtype)
            logits = tf.matmul(flat, table, transpose_b=True)
        else:
            logits = tf.matmul(flat, tf.cast(self.kernel, self.compute_dtype))
        logits = tf.cast(logits, tf.float32)
        if self.use_bias:
            logits = logits + tf.cast(self.bias, tf.float32)
        shape = tf.concat([tf.shape(x)[:-1], [self.vocabulary_size]], axis=0)
        logits = tf.reshape(logits, shape)
        logits.set_shape(x.shape[:-1].as_list() + [self.vocabulary_size])
        return logits

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(tuple(inputs.shape[:-1]) + (self.vocabulary_size,),
                                 dtype="float32")

    def get_config(self):
        # The tied embedding belongs to the parent model, which re-ties it on load.
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, use_bias=self.use_bias,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config
