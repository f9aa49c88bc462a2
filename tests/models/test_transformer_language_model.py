"""TransformerLanguageModel: causality and padding, the cache against the full forward pass,
decoding through bertlab.decoding, presets, config and `.keras` round trips, fit/evaluate/
predict, mixed bfloat16."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bertlab.decoding import greedy_search, sample
from bertlab.models import LANGUAGE_MODEL_PRESETS, TransformerLanguageModel

VOCAB = 50


def _model(**kwargs):
    args = dict(vocabulary_size=VOCAB, num_layers=2, hidden_dim=16, num_heads=2,
                intermediate_dim=32, max_sequence_length=24, dropout=0.0)
    args.update(kwargs)
    return TransformerLanguageModel(**args)


def _batch(seed=0, length=9):
    ids = np.random.default_rng(seed).integers(4, VOCAB, (2, length)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    ids[1, 6:] = 0
    return {"token_ids": ids, "padding_mask": mask}


def test_logits_are_causal_and_ignore_right_padding():
    model = _model()
    x = _batch()
    logits = model(x).numpy()
    assert logits.shape == (2, 9, VOCAB) and logits.dtype == np.float32
    changed = {k: v.copy() for k, v in x.items()}
    changed["token_ids"][:, 5:] = 7
    np.testing.assert_allclose(model(changed).numpy()[:, :5], logits[:, :5], atol=1e-5)
    garbage = {k: v.copy() for k, v in x.items()}
    garbage["token_ids"][1, 6:] = 9  # behind the padding mask
    np.testing.assert_allclose(model(garbage).numpy()[1, :6], logits[1, :6], atol=1e-5)
    # The second row's real tokens alone give the same logits.
    alone = model({"token_ids": x["token_ids"][1:, :6], "padding_mask": np.ones((1, 6))})
    np.testing.assert_allclose(alone.numpy()[0], logits[1, :6], atol=1e-5)


@pytest.mark.parametrize("per_layer", [False, True])
def test_cache_equals_no_cache(per_layer):
    model = _model()
    ids = _batch(length=10)["token_ids"][:1].repeat(2, 0)
    full = model({"token_ids": ids, "padding_mask": np.ones_like(ids)}).numpy()
    cache = model.init_cache(2, 10, per_layer=per_layer)
    prompt_logits, cache = model.decode_step(ids[:, :4], cache, 0)
    steps = [prompt_logits.numpy()]
    for t in range(4, 10):
        logits, cache = model.decode_step(ids[:, t:t + 1], cache, t)
        steps.append(logits.numpy())
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-5)
    if per_layer:
        assert len(cache) == model.num_layers and cache[0][0].shape == (2, 2, 10, 8)
    # A prefill without logits fills the same cache.
    none, filled = model.decode_step(ids[:, :4], model.init_cache(2, 10, per_layer=per_layer),
                                     0, compute_logits=False)
    _, reference = model.decode_step(ids[:, :4], model.init_cache(2, 10, per_layer=per_layer), 0)
    assert none is None
    tf.nest.map_structure(lambda a, b: np.testing.assert_array_equal(a.numpy(), b.numpy()),
                          filled, reference)


def test_greedy_search_with_the_cache_equals_recomputing_the_prefix():
    model = _model()
    prompt = tf.constant(_batch()["token_ids"][:, :5])  # [2, 5]
    new_tokens = 8
    # Prompt minus its last token into the cache, then search from the last token.
    cache = model.init_cache(2, 4 + new_tokens)
    _, cache = model.decode_step(prompt[:, :-1], cache, 0)
    out = greedy_search(model.step_function(position_offset=4), cache, prompt[:, -1],
                        new_tokens, end_token_id=3)

    def uncached(token_ids, index, state):
        ids = tf.concat([prompt[:, :-1], token_ids[:, :-1]], axis=1)
        logits = model({"token_ids": ids, "padding_mask": tf.ones_like(ids)})
        return tf.gather(logits, index + 4, axis=1), state

    reference = greedy_search(uncached, tf.zeros([2, 1]), prompt[:, -1], new_tokens,
                              end_token_id=3)
    np.testing.assert_array_equal(out.token_ids.numpy(), reference.token_ids.numpy())
    np.testing.assert_allclose(out.log_probs.numpy(), reference.log_probs.numpy(), atol=1e-4)


def test_seeded_sampling_is_reproducible_in_a_graph():
    model = _model()

    @tf.function
    def generate(seed):
        return sample(model.step_function(), model.init_cache(3, 12), tf.fill([3], 3), 12,
                      end_token_id=3, top_k=10, top_p=0.9, seed=seed).token_ids

    first = generate(tf.constant([5, 6])).numpy()
    np.testing.assert_array_equal(generate(tf.constant([5, 6])).numpy(), first)
    assert not np.array_equal(generate(tf.constant([7, 6])).numpy(), first)


def test_presets_tied_weights_and_bad_arguments():
    assert set(LANGUAGE_MODEL_PRESETS) >= {"tiny", "mini", "small"}
    model = TransformerLanguageModel.from_preset("tiny", vocabulary_size=100,
                                                 max_sequence_length=64)
    model(_batch())
    size = LANGUAGE_MODEL_PRESETS["tiny"]
    d, f, layers = size["hidden_dim"], size["intermediate_dim"], size["num_layers"]
    per_block = 4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d  # attention, MLP, 2 LayerNorms
    expected = 100 * d + 64 * d + layers * per_block + 2 * d  # tied output, final LayerNorm
    assert model.count_params() == expected
    assert model.output_projection.token_embedding is model.embeddings.token_embedding
    with pytest.raises(ValueError, match="Unknown preset"):
        TransformerLanguageModel.from_preset("huge", vocabulary_size=100)
    with pytest.raises(ValueError, match="not divisible"):
        _model(num_heads=3)
    with pytest.raises(ValueError, match="max_length"):
        _model().init_cache(1, 25)


def test_keras_file_round_trip_and_fit_evaluate_predict(tmp_path):
    model = _model(dropout=0.1)
    x = _batch()
    expected = model(x).numpy()
    path = str(tmp_path / "lm.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.get_config() == model.get_config()
    np.testing.assert_allclose(restored(x).numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, atol=1e-5)
    inputs = {k: v[:, :-1] for k, v in x.items()}
    labels, weights = x["token_ids"][:, 1:], x["padding_mask"][:, 1:]
    restored.compile(optimizer=keras.optimizers.Adam(1e-2),
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = restored.evaluate(inputs, labels, sample_weight=weights, verbose=0)
    restored.fit(inputs, labels, sample_weight=weights, epochs=10, verbose=0)
    assert restored.evaluate(inputs, labels, sample_weight=weights, verbose=0) < before


def test_mixed_bfloat16_has_float32_logits_and_loss():
    model = _model(dtype="mixed_bfloat16")
    assert model.get_config()["dtype"] == "mixed_bfloat16"
    assert model.embeddings.token_embedding.embeddings.dtype == "float32"
    x = _batch()
    logits = model(x)
    assert logits.dtype == tf.float32
    reference = _model()
    reference.set_weights(model.get_weights())
    np.testing.assert_allclose(logits.numpy(), reference(x).numpy(), atol=0.1)
    cache = model.init_cache(2, 9)
    assert cache.dtype == tf.bfloat16
    step_logits, _ = model.decode_step(x["token_ids"][:, :3], cache, 0)
    assert step_logits.dtype == tf.float32
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit({k: v[:, :-1] for k, v in x.items()}, x["token_ids"][:, 1:],
                        epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
