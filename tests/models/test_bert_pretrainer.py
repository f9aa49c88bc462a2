import os

import keras
import numpy as np
import pytest

from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.bert_pretrainer import BertPretrainer
from bertlab.models import pretraining_losses as losses

VOCAB, SEQ, PRED, BATCH = 50, 16, 4, 8


def _encoder(**kwargs):
    kwargs = {"num_layers": 1, **kwargs}
    return BertEncoder(vocabulary_size=VOCAB, hidden_dim=32, num_heads=2,
                       intermediate_dim=64, max_sequence_length=SEQ, **kwargs)


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    x = {"token_ids": rng.integers(5, VOCAB, (BATCH, SEQ)).astype("int32"),
         "segment_ids": np.repeat([[0] * 8 + [1] * 8], BATCH, 0).astype("int32"),
         "padding_mask": np.ones((BATCH, SEQ), "int32"),
         "masked_positions": np.sort(rng.integers(1, SEQ, (BATCH, PRED)), -1).astype("int32")}
    weights = np.ones((BATCH, PRED), "float32")
    weights[:, -1] = 0.0  # a padded prediction slot
    y = {"masked_lm_ids": rng.integers(5, VOCAB, (BATCH, PRED)).astype("int32"),
         "masked_lm_weights": weights,
         "next_sentence_labels": rng.integers(0, 2, (BATCH,)).astype("int32")}
    return x, y


def test_shapes_dtypes_and_tied_head():
    model = BertPretrainer(_encoder())
    x, _ = _batch()
    out = model(x)
    assert out["mlm_logits"].shape == (BATCH, PRED, VOCAB) and out["mlm_logits"].dtype == "float32"
    assert out["nsp_logits"].shape == (BATCH, 2) and out["nsp_logits"].dtype == "float32"
    assert model.mlm_head.token_embedding is model.encoder.token_embedding
    # The embedding table is one variable of the model, not two.
    table = model.encoder.token_embedding.embeddings
    assert sum(v is table for v in model.trainable_variables) == 1
    assert model.trainable_variables and len({id(v) for v in model.weights}) == len(model.weights)


def test_mlm_only_model():
    model = BertPretrainer(_encoder(), use_next_sentence_prediction=False)
    x, y = _batch()
    out = model(x)
    assert set(out) == {"mlm_logits"}
    model.compile(optimizer="adam")
    result = model.evaluate(x, y, return_dict=True, verbose=0)
    assert "nsp_accuracy" not in result and result["loss"] > 0


def test_fit_lowers_the_loss_and_reports_metrics():
    keras.utils.set_random_seed(0)
    model = BertPretrainer(_encoder(dropout=0.0))
    x, y = _batch()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(x, y, return_dict=True, verbose=0)
    expected = float(losses.pretraining_loss(y, model(x, training=False)))
    assert before["loss"] == pytest.approx(expected, rel=1e-4)
    model.fit(x, y, epochs=20, batch_size=BATCH, verbose=0)
    after = model.evaluate(x, y, return_dict=True, verbose=0)
    assert after["loss"] < 0.5 * before["loss"]
    assert after["mlm_accuracy"] > before["mlm_accuracy"]
    assert after["mlm_perplexity"] < before["mlm_perplexity"]
    assert set(after) == {"loss", "mlm_accuracy", "mlm_perplexity", "nsp_accuracy"}


def test_config_and_keras_round_trip(tmp_path):
    model = BertPretrainer(_encoder(), name="pretrainer")
    x, y = _batch()
    model.compile(optimizer="adam")
    model.fit(x, y, epochs=1, verbose=0)  # weights differ from initialization
    expected = model(x, training=False)

    clone = BertPretrainer.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.mlm_head.token_embedding is clone.encoder.token_embedding

    path = os.path.join(tmp_path, "pretrainer.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    out = restored(x, training=False)
    for name in ("mlm_logits", "nsp_logits"):
        np.testing.assert_array_equal(out[name].numpy(), expected[name].numpy())
    assert restored.mlm_head.token_embedding is restored.encoder.token_embedding
    # Still tied after loading: moving the table moves the logits.
    table = restored.encoder.token_embedding.embeddings
    table.assign(table * 2.0)
    assert not np.allclose(restored(x, training=False)["mlm_logits"].numpy(),
                           expected["mlm_logits"].numpy())


def test_mixed_bfloat16_trains():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = BertPretrainer(_encoder(dropout=0.0))
    x, y = _batch()
    assert model.encoder.compute_dtype == "bfloat16" and model.mlm_head.compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in model.weights)
    out = model(x)
    assert out["mlm_logits"].dtype == "float32" and out["nsp_logits"].dtype == "float32"
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(x, y, epochs=8, batch_size=BATCH, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < history[0]


def test_rejects_a_non_encoder():
    with pytest.raises(ValueError, match="encoder"):
        BertPretrainer(keras.layers.Dense(3))


def test_last_layer_at_masked_positions_equals_the_full_computation(monkeypatch):
    """The encoder's last layer runs only at the masked positions and the first token;
    logits and every gradient equal those of the full sequence output, gathered."""
    import tensorflow as tf

    model = BertPretrainer(_encoder(dropout=0.0, num_layers=2))
    x, y = _batch()
    x["padding_mask"][:2, 12:] = 0
    last = model.encoder.transformer_layers[-1]
    query_rows = []
    original_call = last.call

    def recording_call(*args, query_positions=None, **kwargs):
        query_rows.append(None if query_positions is None else query_positions.shape[1])
        return original_call(*args, query_positions=query_positions, **kwargs)

    monkeypatch.setattr(last, "call", recording_call)

    def full_outputs():
        encoded = model.encoder({k: x[k] for k in ("token_ids", "segment_ids", "padding_mask")})
        return {"mlm_logits": model.mlm_head(encoded["sequence_output"], x["masked_positions"]),
                "nsp_logits": model.nsp_head(encoded["pooled_output"])}

    results = []
    for forward in (lambda: model(x), full_outputs):
        with tf.GradientTape() as tape:
            outputs = forward()
            loss = losses.pretraining_loss(y, outputs)
        grads = tape.gradient(loss, model.trainable_variables)
        results.append((outputs, loss, grads))
    (sparse, sparse_loss, sparse_grads), (full, full_loss, full_grads) = results
    assert query_rows == [1 + PRED, None]  # the first token and the masked positions
    for name in ("mlm_logits", "nsp_logits"):
        np.testing.assert_allclose(sparse[name].numpy(), full[name].numpy(), atol=1e-5)
    assert float(sparse_loss) == pytest.approx(float(full_loss), rel=1e-6)
    for variable, a, b in zip(model.trainable_variables, sparse_grads, full_grads):
        np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy(),
                                   atol=1e-6, err_msg=variable.path)


def test_dropout_reaches_the_encoder_in_training():
    model = BertPretrainer(_encoder(dropout=0.3, num_layers=2))
    x, _ = _batch()
    inference = [model(x, training=False)["mlm_logits"].numpy() for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    training = model(x, training=True)["mlm_logits"].numpy()
    assert np.abs(training - inference[0]).max() > 1e-3
