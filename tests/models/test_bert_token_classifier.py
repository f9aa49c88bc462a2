"""BertTokenClassifier: per-position logits, round trips, mixed precision, bad args."""

import keras
import numpy as np
import pytest

from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.bert_token_classifier import BertTokenClassifier


def _encoder(**kwargs):
    return BertEncoder(vocabulary_size=50, num_layers=1, hidden_dim=32, num_heads=2,
                       intermediate_dim=64, max_sequence_length=16, **kwargs)


def _inputs():
    return {"token_ids": np.array([[2, 5, 6, 3, 0], [2, 7, 3, 0, 0]], "int32"),
            "segment_ids": np.zeros((2, 5), "int32"),
            "padding_mask": np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], "int32")}


def test_logits_are_the_head_over_the_sequence_output(tmp_path):
    model = BertTokenClassifier(_encoder(), num_tags=9)
    logits = model(_inputs())
    assert logits.shape == (2, 5, 9) and logits.dtype == "float32"
    sequence = model.encoder(_inputs())["sequence_output"].numpy()
    kernel, bias = model.tagger.get_weights()
    np.testing.assert_allclose(logits, sequence @ kernel + bias, atol=1e-5)

    clone = BertTokenClassifier.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(_inputs()), logits, atol=1e-6)
    model.save(tmp_path / "t.keras")
    restored = keras.saving.load_model(tmp_path / "t.keras")
    np.testing.assert_allclose(restored(_inputs()), logits, atol=1e-6)
    assert restored.get_config() == model.get_config()


def test_mixed_precision():
    model = BertTokenClassifier(_encoder(dtype="mixed_bfloat16"), num_tags=3)
    assert model(_inputs()).dtype == "float32"
    assert all(w.dtype == "float32" for w in model.weights)


@pytest.mark.parametrize("kwargs, name", [
    (dict(num_tags=1), "num_tags"),
    (dict(num_tags=3, dropout=-0.1), "dropout"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        BertTokenClassifier(_encoder(), **kwargs)
