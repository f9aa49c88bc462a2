import numpy as np
import pytest

from bertlab.layers import BertEmbeddings
from tests.harness import run_layer_test

IDS = np.array([[5, 6, 7, 0], [1, 2, 3, 4]], "int32")
SEGMENTS = np.array([[0, 0, 1, 1], [0, 1, 1, 1]], "int32")


@pytest.mark.parametrize("position_type,weights", [("learned", 5), ("sinusoidal", 4)])
def test_contract(position_type, weights):
    run_layer_test(BertEmbeddings,
                   {"vocabulary_size": 20, "hidden_dim": 8, "max_sequence_length": 16,
                    "position_type": position_type},
                   [IDS, SEGMENTS], expected_output_shape=(2, 4, 8),
                   expected_num_trainable_weights=weights)


def test_sum_before_layer_norm():
    emb = BertEmbeddings(20, 8, max_sequence_length=16, use_layer_norm=False, dropout=0.0)
    out = emb(IDS, SEGMENTS).numpy()
    tok = emb.token_embedding.embeddings.numpy()
    seg = emb.segment_embedding.embeddings.numpy()
    pos = emb.position_embedding.embeddings.numpy()
    expected = tok[IDS] + seg[SEGMENTS] + pos[None, :4]
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_start_index_offsets_positions():
    emb = BertEmbeddings(20, 8, max_sequence_length=16, dropout=0.0)
    full = emb(IDS, SEGMENTS).numpy()
    step = emb(IDS[:, 2:3], SEGMENTS[:, 2:3], start_index=2).numpy()
    np.testing.assert_allclose(step[:, 0], full[:, 2], atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="position_type"):
        BertEmbeddings(20, 8, position_type="rotary")
    with pytest.raises(ValueError, match="vocabulary_size"):
        BertEmbeddings(0, 8)
