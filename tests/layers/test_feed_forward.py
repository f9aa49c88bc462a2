"""FeedForward: the position-wise feed-forward sublayer of a Transformer block."""

import numpy as np

from bertlab.layers import FeedForward
from tests.harness import run_layer_test


def test_feed_forward_contract():
    run_layer_test(FeedForward, {"intermediate_dim": 16}, np.ones((2, 3, 8), "float32"),
                   expected_output_shape=(2, 3, 8), expected_num_trainable_weights=4)


def test_feed_forward_approximate_gelu_round_trips():
    layer = FeedForward(16, activation="gelu_approximate")
    clone = FeedForward.from_config(layer.get_config())
    assert clone.activation.__name__ == "gelu_approximate"
