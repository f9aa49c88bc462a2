import keras
import numpy as np
import pytest

from bertlab.layers.masked_lm_head import MaskedLMHead
from tests.harness import run_layer_test

RNG = np.random.default_rng(0)
HIDDEN = RNG.normal(size=(2, 7, 16)).astype("float32")
POSITIONS = np.array([[1, 3, 0], [6, 2, 2]], "int32")


def test_untied_contract():
    run_layer_test(MaskedLMHead, {"vocabulary_size": 23}, [HIDDEN, POSITIONS],
                   expected_output_shape=(2, 3, 23), expected_num_trainable_weights=6)


def test_tied_contract_with_an_embedding_in_the_config():
    emb = keras.layers.Embedding(23, 16)
    emb.build((None,))
    # dense (2) + layer norm (2) + own bias (1) + the tied table (1)
    run_layer_test(MaskedLMHead, {"token_embedding": emb}, [HIDDEN, POSITIONS],
                   expected_output_shape=(2, 3, 23), expected_num_trainable_weights=6,
                   run_saving=False)


def _reference(head, emb, hidden, positions):
    gathered = np.take_along_axis(hidden, positions[..., None], axis=1)
    x = gathered @ head.transform_dense.kernel.numpy() + head.transform_dense.bias.numpy()
    x = np.asarray(keras.activations.gelu(x, approximate=False))
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    ln = head.transform_layer_norm
    x = (x - mean) / np.sqrt(var + ln.epsilon) * ln.gamma.numpy() + ln.beta.numpy()
    return x @ emb.embeddings.numpy().T + head.output_projection.bias.numpy()


def test_tied_projection_gathers_and_uses_the_embedding_table():
    emb = keras.layers.Embedding(23, 16)
    emb.build((None,))
    head = MaskedLMHead(token_embedding=emb)
    head(HIDDEN, POSITIONS)  # builds
    head.output_projection.bias.assign(RNG.normal(size=(23,)).astype("float32"))
    logits = head(HIDDEN, POSITIONS).numpy()
    np.testing.assert_allclose(logits, _reference(head, emb, HIDDEN, POSITIONS), atol=1e-4)
    # Only the masked positions matter: changing other positions changes nothing.
    other = HIDDEN.copy()
    other[0, 5] += 10.0
    np.testing.assert_allclose(head(other, POSITIONS).numpy(), logits, atol=1e-6)
    # The projection reads the embedding variable itself.
    emb.embeddings.assign(emb.embeddings * 3.0)
    changed = head(HIDDEN, POSITIONS).numpy()
    assert not np.allclose(changed, logits, atol=1e-3)
    np.testing.assert_allclose(changed, _reference(head, emb, HIDDEN, POSITIONS), atol=1e-4)
    own = [w.path for w in head.trainable_weights if w is not emb.embeddings]
    assert not any("kernel" in p and "output_projection" in p for p in own)


def test_mixed_precision_projection_in_bfloat16_logits_float32():
    emb = keras.layers.Embedding(23, 16)
    emb.build((None,))
    head = MaskedLMHead(token_embedding=emb, dtype="mixed_bfloat16")
    out = head(HIDDEN, POSITIONS)
    assert head.compute_dtype == "bfloat16" and out.dtype == "float32"
    reference = MaskedLMHead(token_embedding=emb)
    reference(HIDDEN, POSITIONS)
    reference.set_weights(head.get_weights())
    np.testing.assert_allclose(out.numpy(), reference(HIDDEN, POSITIONS).numpy(), atol=0.1, rtol=0.05)


def test_bad_arguments():
    with pytest.raises(ValueError, match="vocabulary_size"):
        MaskedLMHead()
    emb = keras.layers.Embedding(23, 16)
    with pytest.raises(ValueError, match="vocabulary_size"):
        MaskedLMHead(vocabulary_size=24, token_embedding=emb)
    with pytest.raises(ValueError, match="token_embedding"):
        MaskedLMHead(token_embedding=keras.layers.Dense(3))
