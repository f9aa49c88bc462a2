"""SinusoidalPositionEncoding: the fixed sine/cosine position encoding, from a start
index."""

import math

import numpy as np
import pytest

from bertlab.layers import PositionEmbedding, SinusoidalPositionEncoding
from tests.harness import run_layer_test


def test_sinusoidal_matches_formula():
    out = run_layer_test(SinusoidalPositionEncoding, {}, np.zeros((1, 7, 6), "float32"),
                         expected_output_shape=(1, 7, 6), expected_num_trainable_weights=0)[0][0]
    for p in range(7):
        for i in range(3):
            angle = p / (10000 ** (2 * i / 6))
            assert math.isclose(out[p, 2 * i], math.sin(angle), abs_tol=1e-5)
            assert math.isclose(out[p, 2 * i + 1], math.cos(angle), abs_tol=1e-5)


def test_sinusoidal_start_index_and_errors():
    layer = SinusoidalPositionEncoding()
    full = layer(np.zeros((1, 8, 4), "float32")).numpy()
    np.testing.assert_allclose(layer(np.zeros((1, 1, 4), "float32"), start_index=5).numpy()[0, 0],
                               full[0, 5], atol=1e-6)
    with pytest.raises(ValueError, match="even"):
        SinusoidalPositionEncoding()(np.zeros((1, 3, 5), "float32"))
    with pytest.raises(ValueError, match="sequence_length"):
        PositionEmbedding(0)
