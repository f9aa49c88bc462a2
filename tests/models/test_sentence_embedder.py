"""SentenceEmbedder: poolings, padding, normalization, round trips, mixed precision,
sentence-transformers settings, bad args."""

import json

import keras
import numpy as np
import pytest

from bertlab.models import CheckpointError
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.sentence_embedder import (SentenceEmbedder,
                                              read_sentence_transformers_settings)


def _encoder(**kwargs):
    kwargs = {"num_layers": 2, "dropout": 0.0, **kwargs}
    return BertEncoder(vocabulary_size=50, hidden_dim=32, num_heads=2,
                       intermediate_dim=64, max_sequence_length=16, **kwargs)


def _inputs():
    return {"token_ids": np.array([[2, 5, 6, 3, 0, 0], [2, 7, 3, 0, 0, 0]], "int32"),
            "segment_ids": np.zeros((2, 6), "int32"),
            "padding_mask": np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]], "int32")}


def _padded(inputs, extra=5):
    """The same inputs with `extra` more padded positions holding arbitrary token ids."""
    return {k: np.concatenate([v, np.full((2, extra), 9 if k == "token_ids" else 0, "int32")], 1)
            for k, v in inputs.items()}


@pytest.mark.parametrize("pooling, normalize", [("mean", True), ("cls", False)])
def test_round_trips(tmp_path, pooling, normalize):
    model = SentenceEmbedder(_encoder(), pooling=pooling, normalize=normalize)
    embeddings = model(_inputs())
    assert embeddings.shape == (2, 32) and embeddings.dtype == "float32"
    clone = SentenceEmbedder.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(_inputs()), embeddings, atol=1e-6)
    assert clone.get_config() == model.get_config()
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(restored(_inputs()), embeddings, atol=1e-6)
    assert (restored.pooling, restored.normalize) == (pooling, normalize)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_does_not_change_an_embedding(pooling):
    model = SentenceEmbedder(_encoder(), pooling=pooling)
    np.testing.assert_allclose(model(_padded(_inputs())), model(_inputs()), atol=1e-5)
    # A row alone equals the same row in a batch padded to a longer neighbour.
    alone = {k: v[1:, :3] for k, v in _inputs().items()}
    np.testing.assert_allclose(model(alone)[0], model(_inputs())[1], atol=1e-5)


def test_poolings_and_normalization_are_what_they_say():
    encoder = _encoder()
    inputs = _inputs()
    sequence = encoder(inputs)["sequence_output"].numpy()
    mask = inputs["padding_mask"][..., None]
    mean = (sequence * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(SentenceEmbedder(encoder, "mean", normalize=False)(inputs), mean,
                               atol=1e-5)
    np.testing.assert_allclose(SentenceEmbedder(encoder, "cls", normalize=False)(inputs),
                               sequence[:, 0], atol=1e-5)
    unit = SentenceEmbedder(encoder, "mean", normalize=True)(inputs).numpy()
    np.testing.assert_allclose(np.linalg.norm(unit, axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(unit, mean / np.linalg.norm(mean, axis=-1, keepdims=True),
                               atol=1e-5)


def test_mixed_precision_keeps_float32_embeddings_and_weights():
    model = SentenceEmbedder(_encoder(dtype="mixed_bfloat16"))
    embeddings = model(_inputs())
    assert embeddings.dtype == "float32"
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=-1), 1.0, atol=1e-5)
    assert all(w.dtype == "float32" for w in model.weights)
    assert model.encoder.transformer_layers[0].compute_dtype == "bfloat16"


def test_unused_pooler_is_frozen():
    model = SentenceEmbedder(_encoder())
    assert not any("pooler" in v.path for v in model.trainable_variables)
    assert model.embedding_dim == 32


@pytest.mark.parametrize("kwargs, name", [
    (dict(pooling="pooled"), "pooling"),
    (dict(pooling="max"), "pooling"),
    (dict(normalize="yes"), "normalize"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SentenceEmbedder(_encoder(), **kwargs)
    with pytest.raises(ValueError, match="encoder"):
        SentenceEmbedder(keras.layers.Dense(2))


def _write_modules(path, modules, pooling=None):
    (path / "modules.json").write_text(json.dumps(modules))
    if pooling is not None:
        (path / "1_Pooling").mkdir()
        (path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))


def test_reads_sentence_transformers_settings(tmp_path, minilm_dir):
    assert read_sentence_transformers_settings(minilm_dir) == ("mean", True)
    assert read_sentence_transformers_settings(str(tmp_path)) == (None, None)
    transformer = {"path": "", "type": "sentence_transformers.models.Transformer"}
    pooling = {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
    _write_modules(tmp_path, [transformer, pooling],
                   {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    assert read_sentence_transformers_settings(str(tmp_path)) == ("cls", False)
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_max_tokens": True}))
    with pytest.raises(CheckpointError, match="pooling_mode_max_tokens"):
        read_sentence_transformers_settings(str(tmp_path))
    (tmp_path / "modules.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="modules.json"):
        read_sentence_transformers_settings(str(tmp_path))
