import keras
import numpy as np
import pytest

from bertlab.layers import OutputProjection
from tests.harness import run_layer_test


def test_untied_contract():
    run_layer_test(OutputProjection, {"vocabulary_size": 11}, np.ones((2, 3, 4), "float32"),
                   expected_output_shape=(2, 3, 11), expected_num_trainable_weights=2)


def test_tied_projection_uses_embedding_table():
    emb = keras.layers.Embedding(11, 4)
    emb.build((None,))
    proj = OutputProjection(11, token_embedding=emb)
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    out = proj(x).numpy()
    np.testing.assert_allclose(out, x @ emb.embeddings.numpy().T, atol=1e-5)
    emb.embeddings.assign(emb.embeddings * 2.0)
    np.testing.assert_allclose(proj(x).numpy(), 2 * out, atol=1e-5)
    own = [w for w in proj.trainable_weights if w is not emb.embeddings]
    assert [w.name for w in own] == ["bias"]  # the kernel is the embedding table


def test_mixed_precision_returns_float32_logits():
    emb = keras.layers.Embedding(11, 4)
    emb.build((None,))
    proj = OutputProjection(11, token_embedding=emb, dtype="mixed_bfloat16")
    assert proj(np.ones((1, 2, 4), "float32")).dtype == "float32"
    with pytest.raises(ValueError, match="rows"):
        OutputProjection(12, token_embedding=emb)
