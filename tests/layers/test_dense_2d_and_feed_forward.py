import keras
import numpy as np

from bertlab.layers import Dense2D, FeedForward
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


def test_feed_forward_contract():
    run_layer_test(FeedForward, {"intermediate_dim": 16}, np.ones((2, 3, 8), "float32"),
                   expected_output_shape=(2, 3, 8), expected_num_trainable_weights=4)


def test_feed_forward_approximate_gelu_round_trips():
    layer = FeedForward(16, activation="gelu_approximate")
    clone = FeedForward.from_config(layer.get_config())
    assert clone.activation.__name__ == "gelu_approximate"
