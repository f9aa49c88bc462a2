"""Dense2D: equal to `keras.layers.Dense`, its bfloat16 bias gradient summed in float32,
a slice of its columns computed alone."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bertlab.layers import Dense2D
from tests.harness import run_layer_test


def test_dense_2d_equals_keras_dense():
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
    ours = Dense2D(6, activation="gelu")
    ref = keras.layers.Dense(6, activation="gelu")
    ours(x)
    ref(x)
    ref.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x).numpy(), ref(x).numpy(), atol=1e-6)
    run_layer_test(Dense2D, {"units": 6}, x, expected_output_shape=(3, 5, 6),
                   expected_num_trainable_weights=2)


@pytest.mark.parametrize("graph", [False, True])
def test_bfloat16_bias_gradient_is_summed_in_float32(graph):
    # TensorFlow's bfloat16 BiasAddGrad stalls at 1,024 on this sum (4,096 rows near 1).
    layer = Dense2D(8, dtype="mixed_bfloat16")
    x = np.random.default_rng(0).normal(size=(16, 256, 4)).astype("float32")
    upstream = np.random.default_rng(1).uniform(0.5, 1.5, (16, 256, 8)).astype("float32")
    layer(x)

    def bias_gradient():
        with tf.GradientTape() as tape:
            y = tf.cast(layer(x, training=True), tf.float32)
            loss = tf.reduce_sum(y * upstream)
        return tape.gradient(loss, layer.bias)

    grad = (tf.function(bias_gradient) if graph else bias_gradient)().numpy()
    expected = tf.cast(tf.cast(upstream, tf.bfloat16), tf.float32).numpy().sum((0, 1))
    np.testing.assert_allclose(grad, expected, rtol=2 ** -8)
    # Not training: plain BiasAdd, the same outputs.
    np.testing.assert_array_equal(layer(x, training=False).numpy(), layer(x, training=True).numpy())


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_dense_2d_columns_equal_slicing_the_output(dtype):
    layer = Dense2D(6, activation="gelu", dtype=dtype)
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    full = np.asarray(layer(x), "float32")
    part = layer(x, columns=(2, 5))
    assert part.shape == (2, 3, 3)
    np.testing.assert_allclose(np.asarray(part, "float32"), full[..., 2:5], atol=1e-6)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.cast(layer(x, columns=(2, 5), training=True), tf.float32))
    kernel_grad, bias_grad = tape.gradient(y, [layer.kernel, layer.bias])
    assert np.all(kernel_grad.numpy()[:, [0, 1, 5]] == 0) and np.all(bias_grad.numpy()[[0, 1, 5]] == 0)
    assert np.all(bias_grad.numpy()[2:5] != 0)
