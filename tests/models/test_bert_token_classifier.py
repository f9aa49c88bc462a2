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


def test_casing_embedding_starts_at_zero_and_is_learned(tmp_path):
    encoder = _encoder(dropout=0.0)
    plain = BertTokenClassifier(encoder, num_tags=3, dropout=0.0)
    cased = BertTokenClassifier(encoder, num_tags=3, dropout=0.0, num_casing_ids=7)
    cased.tagger.set_weights(plain.tagger.get_weights())
    inputs = dict(_inputs(), casing_ids=np.array([[0, 2, 1, 0, 0], [0, 3, 0, 0, 0]], "int32"))
    # Zero-initialised: a pretrained encoder starts exactly as without casing.
    np.testing.assert_allclose(cased(inputs), plain(_inputs()), atol=1e-6)
    cased.compile(optimizer=keras.optimizers.SGD(1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cased.fit(inputs, np.ones((2, 5), "int32"), epochs=1, verbose=0)
    table = cased.casing_embedding.get_weights()[0]
    assert np.abs(table[[1, 2, 3]]).max() > 0 and np.abs(table[4:]).max() == 0  # unseen ids
    changed = dict(inputs, casing_ids=np.zeros((2, 5), "int32"))
    assert not np.allclose(cased(changed), cased(inputs))

    model_path = tmp_path / "cased.keras"
    cased.save(model_path)
    restored = keras.saving.load_model(model_path)
    assert restored.num_casing_ids == 7
    np.testing.assert_allclose(restored(inputs), cased(inputs), atol=1e-6)
    with pytest.raises(ValueError, match="casing_ids"):
        cased(_inputs())


@pytest.mark.parametrize("kwargs, name", [
    (dict(num_tags=1), "num_tags"),
    (dict(num_tags=3, dropout=-0.1), "dropout"),
    (dict(num_tags=3, num_casing_ids=-1), "num_casing_ids"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        BertTokenClassifier(_encoder(), **kwargs)
