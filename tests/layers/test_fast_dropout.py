import keras
import numpy as np
import pytest
import tensorflow as tf

from bertlab.layers import FastDropout
from bertlab.layers.fast_dropout import hashed_uniform_bits, mix32
from tests.harness import run_layer_test


def test_contract():
    run_layer_test(FastDropout, {"rate": 0.3}, np.ones((2, 3, 4), "float32"),
                   expected_output_shape=(2, 3, 4), expected_num_trainable_weights=0)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_drop_rate_and_scaling(rate):
    layer = FastDropout(rate)
    out = layer(np.ones((64, 1001), "float32"), training=True).numpy()
    dropped = np.mean(out == 0)
    assert abs(dropped - rate) < 0.01
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 1.0 / (1.0 - layer.threshold / 2**32), rtol=1e-6)
    assert abs(out.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation


def test_identity_when_not_training_or_rate_zero():
    x = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    np.testing.assert_array_equal(FastDropout(0.5)(x, training=False).numpy(), x)
    np.testing.assert_array_equal(FastDropout(0.0)(x, training=True).numpy(), x)


def test_masks_differ_between_calls_and_runs_reproduce():
    x = np.ones((8, 512), "float32")
    keras.utils.set_random_seed(7)
    layer = FastDropout(0.5)
    a, b = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert (a != b).any()
    keras.utils.set_random_seed(7)
    again = FastDropout(0.5)
    np.testing.assert_array_equal(again(x, training=True).numpy(), a)


def test_gradient_flows_only_through_kept_elements():
    layer = FastDropout(0.5, seed=3)
    x = tf.Variable(tf.ones((4, 64)))
    with tf.GradientTape() as tape:
        y = layer(x, training=True)
        total = tf.reduce_sum(y)
    grad = tape.gradient(total, x).numpy()
    np.testing.assert_array_equal(grad != 0, y.numpy() != 0)


def test_bad_rate():
    with pytest.raises(ValueError, match="rate"):
        FastDropout(1.0)


def test_bfloat16_inputs_keep_their_dtype():
    out = FastDropout(0.2, dtype="mixed_bfloat16")(tf.ones((2, 8), tf.bfloat16), training=True)
    assert out.dtype == tf.bfloat16


def test_mix32_is_a_bijection_on_a_sample():
    values = np.arange(0, 1 << 20, dtype=np.uint32) * np.uint32(4093)
    mixed = mix32(tf.constant(values)).numpy()
    assert len(np.unique(mixed)) == len(values)


def test_hashed_bits_look_uniform_and_independent():
    bits = hashed_uniform_bits(tf.constant([256, 1024]), tf.constant([5, 9])).numpy()
    assert bits.dtype == np.uint32 and bits.shape == (256, 1024)
    u = bits.astype(np.float64) / 2**32
    assert abs(u.mean() - 0.5) < 0.003 and abs(u.var() - 1 / 12) < 0.002
    # Neighbouring elements (rows and columns) and individual bits are uncorrelated.
    assert abs(np.corrcoef(u[:, :-1].ravel(), u[:, 1:].ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(u[:-1].ravel(), u[1:].ravel())[0, 1]) < 0.01
    ones = np.unpackbits(bits.view(np.uint8)).reshape(-1, 32).mean(0)
    assert np.all(np.abs(ones - 0.5) < 0.005)
    # Another seed gives other bits (about half of the positions' top bits change).
    other = hashed_uniform_bits(tf.constant([256, 1024]), tf.constant([5, 10])).numpy()
    assert abs(np.mean((bits >> 31) != (other >> 31)) - 0.5) < 0.01
    np.testing.assert_array_equal(
        hashed_uniform_bits(tf.constant([256, 1024]), tf.constant([5, 9])).numpy(), bits)
