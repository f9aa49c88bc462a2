"""BertQuestionAnswerer: start/end logits, masked outside the context, round trips, fit."""

import keras
import numpy as np
import pytest

from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.bert_question_answerer import (MASKED_LOGIT, BertQuestionAnswerer,
                                                   answer_position_mask)


def _encoder(**kwargs):
    return BertEncoder(vocabulary_size=50, num_layers=1, hidden_dim=32, num_heads=2,
                       intermediate_dim=64, max_sequence_length=16, **kwargs)


def _inputs():
    # [CLS] q q [SEP] c c c [SEP] pad   and   [CLS] q [SEP] c [SEP] pad pad pad pad
    return {"token_ids": np.array([[2, 5, 6, 3, 7, 8, 9, 3, 0], [2, 5, 3, 7, 3, 0, 0, 0, 0]],
                                  "int32"),
            "segment_ids": np.array([[0, 0, 0, 0, 1, 1, 1, 1, 0], [0, 0, 0, 1, 1, 0, 0, 0, 0]],
                                    "int32"),
            "padding_mask": np.array([[1] * 8 + [0], [1] * 5 + [0] * 4], "int32")}


ALLOWED = np.array([[1, 0, 0, 0, 1, 1, 1, 0, 0], [1, 0, 0, 1, 0, 0, 0, 0, 0]], bool)


def test_mask_keeps_cls_and_context_only():
    inputs = _inputs()
    mask = answer_position_mask(inputs["segment_ids"], inputs["padding_mask"])
    np.testing.assert_array_equal(np.asarray(mask), ALLOWED)


def test_logits_are_the_span_layer_where_allowed_and_masked_elsewhere(tmp_path):
    model = BertQuestionAnswerer(_encoder(), dropout=0.0)
    out = model(_inputs())
    assert set(out) == {"start_logits", "end_logits"}
    assert out["start_logits"].shape == (2, 9) and out["end_logits"].dtype == "float32"
    sequence = model.encoder(_inputs())["sequence_output"].numpy()
    kernel, bias = model.span_layer.get_weights()
    expected = sequence @ kernel + bias
    for k, name in enumerate(("start_logits", "end_logits")):
        logits = out[name].numpy()
        np.testing.assert_allclose(logits[ALLOWED], expected[..., k][ALLOWED], atol=1e-5)
        assert np.all(logits[~ALLOWED] == MASKED_LOGIT)

    clone = BertQuestionAnswerer.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(_inputs())["start_logits"], out["start_logits"], atol=1e-6)
    model.save(tmp_path / "qa.keras")
    restored = keras.saving.load_model(tmp_path / "qa.keras")
    np.testing.assert_allclose(restored(_inputs())["end_logits"], out["end_logits"], atol=1e-6)
    assert restored.get_config() == model.get_config()


def test_fit_learns_the_answer_positions():
    model = BertQuestionAnswerer(_encoder(dropout=0.0), dropout=0.0)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss={"start_logits": loss, "end_logits": loss})
    labels = {"start_logits": np.array([5, 0]), "end_logits": np.array([6, 0])}
    history = model.fit(_inputs(), labels, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
    out = model.predict(_inputs(), verbose=0)
    assert np.argmax(out["start_logits"], axis=1).tolist() == [5, 0]
    assert np.argmax(out["end_logits"], axis=1).tolist() == [6, 0]


def test_mixed_precision():
    model = BertQuestionAnswerer(_encoder(dtype="mixed_bfloat16"))
    out = model(_inputs())
    assert out["start_logits"].dtype == "float32"
    assert np.all(out["start_logits"].numpy()[~ALLOWED] == MASKED_LOGIT)


def test_bad_arguments():
    with pytest.raises(ValueError, match="dropout"):
        BertQuestionAnswerer(_encoder(), dropout=1.5)
    with pytest.raises(ValueError, match="BertEncoder"):
        BertQuestionAnswerer("not an encoder")
