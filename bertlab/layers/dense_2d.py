"""A Dense layer that always runs as one 2-D MatMul + BiasAdd."""

import keras
import tensorflow as tf

from bertlab.layers.xla_fusion import auto_clustering_enabled


@tf.custom_gradient
def add_bias_matmul_gradient(outputs, bias):
    """`tf.nn.bias_add(outputs, bias)` on `[rows, units]` whose bias gradient
    is `ones[1, rows] @ grad`.

    For bfloat16/float16 this matters: TensorFlow's CPU `BiasAddGrad` sums in
    the 16-bit type, so a bias gradient over a few thousand rows stalls (a
    bfloat16 sum of 4,096 values near 1 stops at 1,024; compare
    tensorflow/tensorflow#86378). The matmul is oneDNN's: it accumulates in
    float32, reads the gradient once and is about 2x faster than `BiasAddGrad`
    on a BERT layer's activations.
    """
    def grad(upstream):
        ones = tf.ones([1, tf.shape(upstream)[0]], upstream.dtype)
        return upstream, tf.reshape(tf.matmul(ones, upstream), [-1])
    return tf.nn.bias_add(outputs, bias), grad


def _xla_sums_bias():
    """Whether XLA auto-clustering (bertlab's `xla_fusion`) is on: it compiles
    `BiasAddGrad` with a float32 sum, fused with neighbouring element-wise
    work, which is then as exact and no slower than the matmul gradient."""
    return auto_clustering_enabled()


@keras.saving.register_keras_serializable(package="bertlab")
class Dense2D(keras.layers.Dense):
    """`keras.layers.Dense` computed as a single 2-D `MatMul` + `BiasAdd`.

    Keras' `Dense` on a `[batch, seq, dim]` input emits a broadcasting batched
    matmul; flattening the leading axes first lets oneDNN fuse the bias and the
    activation (GELU included) into the matmul, which is markedly faster on CPU.
    Same weights (`kernel` `[in, units]`, `bias` `[units]`), same config and
    results as `Dense`; any input rank >= 2. When training in bfloat16 or
    float16 the bias gradient is summed in float32 (`add_bias_matmul_gradient`;
    TensorFlow's own 16-bit `BiasAddGrad` loses most of it over long batches).

    Example:
    >>> Dense2D(8, activation="gelu")(np.zeros((2, 5, 4))).shape
    (2, 5, 8)
    """

    def call(self, inputs, training=None, columns=None):
        """`columns=(start, stop)` computes only those output units (the layer's
        kernel and bias sliced), e.g. the query part of a fused projection."""
        inputs = tf.convert_to_tensor(inputs)
        shape = tf.shape(inputs)
        flat = tf.reshape(inputs, [-1, inputs.shape[-1]])
        kernel, bias, units = self.kernel, self.bias, self.units
        if columns is not None:
            start, stop = columns
            kernel, units = kernel[:, start:stop], stop - start
            bias = None if bias is None else bias[start:stop]
        outputs = tf.matmul(flat, tf.cast(kernel, flat.dtype))
        if self.use_bias:
            bias = tf.cast(bias, outputs.dtype)
            if training and outputs.dtype in (tf.bfloat16, tf.float16) and not _xla_sums_bias():
                outputs = add_bias_matmul_gradient(outputs, bias)
            else:
                outputs = tf.nn.bias_add(outputs, bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        out_shape = tf.concat([shape[:-1], [units]], axis=0)
        outputs = tf.reshape(outputs, out_shape)
        static = inputs.shape[:-1].as_list() + [units]
        outputs.set_shape(static)
        return outputs
