"""PositionEmbedding: learned position embeddings, from a start index."""

import numpy as np

from bertlab.layers import PositionEmbedding
from tests.harness import run_layer_test


def test_position_embedding_contract():
    run_layer_test(PositionEmbedding, {"sequence_length": 10}, np.zeros((2, 6, 4), "float32"),
                   expected_output_shape=(1, 6, 4), expected_num_trainable_weights=1)


def test_position_embedding_start_index_selects_rows():
    layer = PositionEmbedding(10)
    full = layer(np.zeros((1, 6, 4), "float32")).numpy()
    part = layer(np.zeros((1, 2, 4), "float32"), start_index=3).numpy()
    np.testing.assert_allclose(part[0], full[0, 3:5])
