import keras
import numpy as np
import pytest

from bertlab.models import Seq2SeqTransformer


def _model(**kwargs):
    args = dict(encoder_vocabulary_size=40, num_encoder_layers=2, num_decoder_layers=2,
                hidden_dim=16, num_heads=2, intermediate_dim=32, max_sequence_length=32,
                dropout=0.0)
    args.update(kwargs)
    return Seq2SeqTransformer(**args)


def _batch(seed=0, vocab=30):
    rng = np.random.default_rng(seed)
    src = rng.integers(1, vocab, (2, 7)).astype("int32")
    src_mask = np.ones_like(src)
    src_mask[1, 5:] = 0
    tgt = rng.integers(1, vocab, (2, 6)).astype("int32")
    return {"encoder_token_ids": src, "encoder_padding_mask": src_mask,
            "decoder_token_ids": tgt, "decoder_padding_mask": np.ones_like(tgt)}


@pytest.mark.parametrize("kwargs", [{}, {"decoder_vocabulary_size": 35},
                                    {"tie_output_embeddings": False, "normalize_first": False,
                                     "position_type": "learned", "embedding_layer_norm": True},
                                    {"per_layer": True}])
def test_cached_decoding_equals_full_forward(kwargs):
    per_layer = kwargs.pop("per_layer", False)
    model = _model(**kwargs)
    x = _batch()
    full = model(x).numpy()
    assert full.shape == (2, 6, kwargs.get("decoder_vocabulary_size", 40))
    enc = model.encode(x["encoder_token_ids"], x["encoder_padding_mask"])
    cross = model.compute_cross_attention_cache(enc, per_layer=per_layer)
    cache = model.init_self_attention_cache(2, 6, per_layer=per_layer)
    steps = []
    for t in range(6):
        logits, cache = model.decode_step(x["decoder_token_ids"][:, t:t + 1], cache, t, cross,
                                          x["encoder_padding_mask"])
        steps.append(logits.numpy())
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-5)


def test_decoder_is_causal_and_source_padding_is_ignored():
    model = _model()
    x = _batch()
    base = model(x).numpy()
    changed = dict(x, decoder_token_ids=x["decoder_token_ids"].copy())
    changed["decoder_token_ids"][:, 4:] = 3
    np.testing.assert_allclose(model(changed).numpy()[:, :4], base[:, :4], atol=1e-5)
    garbage = dict(x, encoder_token_ids=x["encoder_token_ids"].copy())
    garbage["encoder_token_ids"][1, 5:] = 9  # behind the padding mask
    np.testing.assert_allclose(model(garbage).numpy(), base, atol=1e-5)


def test_shared_and_tied_embeddings():
    shared = _model()
    separate = _model(decoder_vocabulary_size=35)
    assert shared.decoder_embeddings.token_embedding is shared.encoder_embeddings.token_embedding
    assert len(separate.trainable_weights) == len(shared.trainable_weights) + 1
    untied = _model(tie_output_embeddings=False)
    assert len(untied.trainable_weights) == len(shared.trainable_weights) + 1


def test_keras_file_round_trip_and_fit(tmp_path):
    model = _model(decoder_vocabulary_size=35)
    x = _batch()
    expected = model(x).numpy()
    path = str(tmp_path / "s2s.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored(x).numpy(), expected, atol=1e-6)
    restored.compile(optimizer=keras.optimizers.Adam(1e-2),
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    y = np.roll(x["decoder_token_ids"], -1, axis=1)
    before = restored.evaluate(x, y, verbose=0)
    restored.fit(x, y, epochs=10, verbose=0)
    assert restored.evaluate(x, y, verbose=0) < before
