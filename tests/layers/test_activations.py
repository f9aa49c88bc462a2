"""Activations: the tanh-approximated GELU by name, computed in float32 for bf16/f16."""

import keras
import numpy as np
import tensorflow as tf

from bertlab.layers.activations import gelu_approximate, get_activation


def _reference(x):
    x = np.asarray(x, "float64")
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def test_gelu_approximate_by_name_is_gpt2s():
    x = np.linspace(-6, 6, 101).astype("float32")
    assert get_activation("gelu_approximate") is gelu_approximate
    np.testing.assert_allclose(gelu_approximate(tf.constant(x)).numpy(), _reference(x),
                               rtol=1e-5, atol=1e-6)


def test_gelu_approximate_half_precision_is_the_float32_value_rounded_once():
    x = tf.cast(tf.linspace(-6.0, 6.0, 1001), tf.bfloat16)
    y = gelu_approximate(x)
    assert y.dtype == tf.bfloat16
    expected = tf.cast(keras.activations.gelu(tf.cast(x, tf.float32), approximate=True),
                       tf.bfloat16)
    np.testing.assert_array_equal(y.numpy(), expected.numpy())
    grad = tf.function(lambda v: tf.gradients(tf.reduce_sum(gelu_approximate(v)), v)[0])(x)
    assert grad.dtype == tf.bfloat16
