"""BertClassifier: poolings, config and `.keras` round trips, mixed precision, bad args."""

import keras
import numpy as np
import pytest

from bertlab.models.bert_classifier import BertClassifier
from bertlab.models.bert_encoder import BertEncoder


def _encoder(**kwargs):
    kwargs = {"num_layers": 1, **kwargs}
    return BertEncoder(vocabulary_size=50, hidden_dim=32, num_heads=2,
                       intermediate_dim=64, max_sequence_length=16, **kwargs)


def _inputs():
    return {"token_ids": np.array([[2, 5, 6, 3, 0, 0], [2, 7, 3, 0, 0, 0]], "int32"),
            "segment_ids": np.zeros((2, 6), "int32"),
            "padding_mask": np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]], "int32")}


@pytest.mark.parametrize("pooling", ["pooled", "cls", "mean"])
def test_round_trips(tmp_path, pooling):
    model = BertClassifier(_encoder(), num_classes=3, pooling=pooling, dropout=0.2)
    logits = model(_inputs())
    assert logits.shape == (2, 3) and logits.dtype == "float32"
    clone = BertClassifier.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(_inputs()), logits, atol=1e-6)
    assert clone.get_config() == model.get_config()
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(restored(_inputs()), logits, atol=1e-6)
    assert restored.pooling == pooling


@pytest.mark.parametrize("pooling", ["pooled", "cls"])
def test_first_token_poolings_equal_the_full_encoder_output(pooling):
    """With "pooled"/"cls" the last layer runs at [CLS] only, with the same logits."""
    model = BertClassifier(_encoder(dropout=0.0, num_layers=2), num_classes=3, pooling=pooling,
                           dropout=0.0)
    inputs = _inputs()
    full = model.encoder(inputs)
    features = (full["pooled_output"] if pooling == "pooled"
                else full["sequence_output"][:, 0, :]).numpy()
    kernel, bias = model.classifier.get_weights()
    np.testing.assert_allclose(model(inputs), features @ kernel + bias, atol=1e-5)


def test_mean_pooling_ignores_padding():
    model = BertClassifier(_encoder(dropout=0.0), num_classes=2, pooling="mean", dropout=0.0)
    inputs = _inputs()
    padded = {k: np.concatenate([v, np.zeros((2, 4), "int32") + (7 if k == "token_ids" else 0)],
                                axis=1) for k, v in inputs.items()}
    np.testing.assert_allclose(model(padded), model(inputs), atol=1e-5)
    # ... and is the mean of the encoder's real positions, through the head.
    sequence = model.encoder(inputs)["sequence_output"].numpy()
    mask = inputs["padding_mask"][..., None]
    mean = (sequence * mask).sum(1) / mask.sum(1)
    kernel, bias = model.classifier.get_weights()
    np.testing.assert_allclose(model(inputs), mean @ kernel + bias, atol=1e-5)


def test_mixed_precision_keeps_float32_logits_and_weights():
    model = BertClassifier(_encoder(dtype="mixed_bfloat16"), num_classes=2)
    logits = model(_inputs())
    assert logits.dtype == "float32"
    assert all(w.dtype == "float32" for w in model.weights)
    assert model.encoder.transformer_layers[0].compute_dtype == "bfloat16"


def test_one_output_is_a_regression_head():
    model = BertClassifier(_encoder(), num_classes=1)
    assert model(_inputs()).shape == (2, 1)
    assert BertClassifier.from_config(model.get_config()).num_classes == 1


@pytest.mark.parametrize("kwargs, name", [
    (dict(num_classes=0), "num_classes"),
    (dict(num_classes=2, pooling="max"), "pooling"),
    (dict(num_classes=2, dropout=1.0), "dropout"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        BertClassifier(_encoder(), **kwargs)
    with pytest.raises(ValueError, match="encoder"):
        BertClassifier(keras.layers.Dense(2), num_classes=2)


def test_unused_pooler_is_frozen():
    pooled = BertClassifier(_encoder(), num_classes=2, pooling="pooled")
    mean = BertClassifier(_encoder(), num_classes=2, pooling="mean")
    names = lambda m: {v.path for v in m.trainable_variables}  # noqa: E731
    assert any("pooler" in n for n in names(pooled))
    assert not any("pooler" in n for n in names(mean))
    assert len(mean.trainable_variables) == len(pooled.trainable_variables) - 2
