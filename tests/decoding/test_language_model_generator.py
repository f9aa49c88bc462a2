"""LanguageModelGenerator: prompts of different lengths in one batch continue exactly as
each would alone (against a full forward pass per step, no cache), seeded sampling is
reproducible, per-request tensor settings work in a graph, beam of width 1 is greedy."""

import numpy as np
import pytest
import tensorflow as tf

from bertlab.decoding import DecodingConfig
from bertlab.decoding.language_model_generator import LanguageModelGenerator, keep_last_tokens
from bertlab.models import TransformerLanguageModel

VOCAB, EOD, PAD = 30, 3, 0
PROMPTS = [[EOD, 5, 6, 7, 8], [EOD], [EOD, 9, 10], [EOD, 11, 12, 13, 14, 15, 16]]


@pytest.fixture(scope="module")
def model():
    # A wide initializer gives peaked, prompt-dependent next-token distributions.
    tf.keras.utils.set_random_seed(5)
    return TransformerLanguageModel(VOCAB, num_layers=2, hidden_dim=32, num_heads=2,
                                    intermediate_dim=64, max_sequence_length=24, dropout=0.0,
                                    initializer_range=0.5)


def _batch(generator, prompts):
    return generator.prompt_batch(tf.ragged.constant(prompts, dtype=tf.int32))


def _completions(out):
    ids, lengths = out.token_ids.numpy(), out.lengths.numpy()
    return [ids[i, :lengths[i]].tolist() for i in range(len(lengths))]


def _reference_greedy(model, prompt, max_new_tokens, suppressed=(PAD,)):
    """Greedy continuation by a full forward pass over the whole prefix at every step."""
    ids, out = list(prompt), []
    for _ in range(max_new_tokens):
        x = tf.constant([ids])
        logits = model({"token_ids": x, "padding_mask": tf.ones_like(x)})[0, -1].numpy()
        logits[list(suppressed)] = -np.inf
        token = int(np.argmax(logits))
        out.append(token)
        ids.append(token)
        if token == EOD:
            break
    return out


def test_batched_greedy_equals_each_prompt_alone_without_cache(model):
    generator = LanguageModelGenerator(model, DecodingConfig(method="greedy", max_length=6), EOD)
    got = _completions(generator.generate(*_batch(generator, PROMPTS)))
    expected = [_reference_greedy(model, p, 6) for p in PROMPTS]
    assert got == expected
    assert any(len(c) == 6 for c in got)  # not every row stops at once
    alone = [_completions(generator.generate(*_batch(generator, [p])))[0] for p in PROMPTS]
    assert alone == got


def test_completions_are_padded_after_their_length(model):
    generator = LanguageModelGenerator(model, DecodingConfig(method="greedy", max_length=6), EOD)
    out = generator.generate(*_batch(generator, PROMPTS))
    ids, lengths = out.token_ids.numpy(), out.lengths.numpy()
    for row, length in zip(ids, lengths):
        assert (row[length:] == PAD).all()
        assert length == 6 or row[length - 1] == EOD


def test_log_probs_are_the_models_for_the_chosen_tokens(model):
    generator = LanguageModelGenerator(model, DecodingConfig(method="greedy", max_length=4), EOD)
    out = generator.generate(*_batch(generator, PROMPTS[:1]))
    prompt, completion = PROMPTS[0], _completions(out)[0]
    x = tf.constant([prompt + completion])
    logits = model({"token_ids": x, "padding_mask": tf.ones_like(x)})[0].numpy()
    logits[:, PAD] = -1e9  # suppressed before the choice
    log_probs = tf.nn.log_softmax(logits).numpy()
    positions = range(len(prompt) - 1, len(prompt) - 1 + len(completion))
    expected = sum(log_probs[t, token] for t, token in zip(positions, completion))
    np.testing.assert_allclose(out.log_probs.numpy()[0], expected, rtol=1e-4)


def test_seeded_sampling_is_reproducible_and_the_seed_matters(model):
    config = DecodingConfig(method="sample", max_length=8, top_k=10, top_p=0.9, temperature=1.5,
                            seed=1)
    generator = LanguageModelGenerator(model, config, EOD)
    ids, lengths = _batch(generator, PROMPTS)
    first = _completions(generator.generate(ids, lengths))
    assert _completions(generator.generate(ids, lengths)) == first
    draws = {str(_completions(generator.generate(ids, lengths, seed=s))) for s in range(4)}
    assert len(draws) > 1


def test_per_request_tensor_settings_in_a_graph(model):
    generator = LanguageModelGenerator(model, DecodingConfig(method="sample", max_length=8), EOD)
    greedy = LanguageModelGenerator(model, DecodingConfig(method="greedy", max_length=8), EOD)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32),
                                  tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32),
                                  tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int32),
                                  tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int32)])
    def generate(ids, lengths, max_new_tokens, temperature, top_k, top_p, seed):
        out = generator.generate(ids, lengths, max_new_tokens=max_new_tokens,
                                 temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
        return out.token_ids, out.lengths

    ids, lengths = _batch(generator, PROMPTS)
    # Temperature 0 is greedy search.
    token_ids, new_lengths = generate(ids, lengths, 5, 0.0, 0, 1.0, 0)
    expected = _completions(greedy.generate(ids, lengths, max_new_tokens=5))
    got = [row[:n].tolist() for row, n in zip(token_ids.numpy(), new_lengths.numpy())]
    assert got == expected and max(new_lengths.numpy()) <= 5
    # top_k=1 samples the arg-max too, whatever the temperature.
    token_ids, new_lengths = generate(ids, lengths, 5, 2.0, 1, 1.0, 9)
    assert [row[:n].tolist() for row, n in zip(token_ids.numpy(), new_lengths.numpy())] == got
    # A request's max_new_tokens bounds every row.
    _, new_lengths = generate(ids, lengths, 2, 1.0, 0, 1.0, 3)
    assert max(new_lengths.numpy()) <= 2


def test_beam_of_width_one_is_greedy_and_beam_scores_at_least_greedy(model):
    greedy = LanguageModelGenerator(model, DecodingConfig(method="greedy", max_length=5), EOD)
    beam1 = LanguageModelGenerator(model, DecodingConfig(method="beam", beam_width=1,
                                                         max_length=5, length_penalty=0.0), EOD)
    beam3 = LanguageModelGenerator(model, DecodingConfig(method="beam", beam_width=3,
                                                         max_length=5, length_penalty=0.0), EOD)
    ids, lengths = _batch(greedy, PROMPTS)
    expected = greedy.generate(ids, lengths)
    assert _completions(beam1.generate(ids, lengths)) == _completions(expected)
    wide = beam3.generate(ids, lengths)
    assert (wide.log_probs.numpy() >= expected.log_probs.numpy() - 1e-4).all()


def test_long_prompts_keep_their_last_tokens():
    ragged = tf.ragged.constant([[1, 2, 3, 4, 5], [6], []], dtype=tf.int32)
    assert keep_last_tokens(ragged, 3).to_list() == [[3, 4, 5], [6], []]


def test_prompt_batch_makes_room_for_the_new_tokens(model):
    generator = LanguageModelGenerator(model, DecodingConfig(method="greedy", max_length=8), EOD)
    assert generator.max_prompt_length == 24 - 8
    long_prompt = [EOD] + list(range(4, 30)) * 2
    ids, lengths = _batch(generator, [long_prompt, [EOD, 5]])
    assert lengths.numpy().tolist() == [16, 2]
    assert ids.numpy()[0].tolist() == long_prompt[-16:]
    out = generator.generate(ids, lengths)
    assert out.lengths.numpy()[0] >= 1


def test_bad_settings_are_refused(model):
    with pytest.raises(ValueError, match="no room for a prompt"):
        LanguageModelGenerator(model, DecodingConfig(method="greedy", max_length=24), EOD)
    with pytest.raises(ValueError, match="end_of_document_id"):
        LanguageModelGenerator(model, DecodingConfig(method="greedy", max_length=4), VOCAB)
    generator = LanguageModelGenerator(model, DecodingConfig(method="greedy", max_length=4), EOD)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generator.generate(*_batch(generator, PROMPTS), max_new_tokens=5)
