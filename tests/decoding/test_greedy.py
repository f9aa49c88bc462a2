import numpy as np
import tensorflow as tf

from bertlab.decoding import DecodingConfig, Seq2SeqGenerator, greedy_search
from tests.decoding.helpers import END, PAD, START, score_sequences


def _generate(model, source, cache=True, **config):
    generator = Seq2SeqGenerator(model, DecodingConfig(**{"method": "greedy",
                                                          "max_length": 10, **config}),
                                 START, END, PAD, use_cache=cache)
    return generator, generator.generate(*source)


def test_cached_greedy_equals_uncached(tiny_model, source_batch):
    _, cached = _generate(tiny_model, source_batch)
    _, uncached = _generate(tiny_model, source_batch, cache=False)
    np.testing.assert_array_equal(cached.token_ids, uncached.token_ids)
    np.testing.assert_allclose(cached.log_probs, uncached.log_probs, atol=1e-4)
    # The source matters: rows differ.
    assert len({tuple(r) for r in cached.token_ids.numpy()}) > 1


def test_greedy_log_probs_and_padding(tiny_model, source_batch):
    generator, out = _generate(tiny_model, source_batch, max_length=12)
    ids, lengths = out.token_ids.numpy(), out.lengths.numpy()
    for row, length in zip(ids, lengths):
        assert (row[length:] == PAD).all()
        assert END not in row[:length - 1]
        assert length == 12 or row[length - 1] == END
    expected = score_sequences(tiny_model, *source_batch, ids, lengths,
                               generator.logits_processor)
    np.testing.assert_allclose(out.log_probs, expected, atol=1e-4)
    np.testing.assert_allclose(out.scores, out.log_probs)


def test_greedy_stops_at_end_token():
    # A step function that emits tokens 5, 6, END for row 0 and 7, END for row 1.
    script = tf.constant([[5, 6, END, 9, 9], [7, END, 9, 9, 9]])
    calls = []

    def step_fn(token_ids, index, state):
        calls.append(1)
        return tf.one_hot(script[:, index], 10) * 10.0, state

    out = greedy_search(step_fn, tf.zeros([2, 1]), tf.fill([2], START), 5, END, PAD)
    np.testing.assert_array_equal(out.token_ids, [[5, 6, END, PAD, PAD], [7, END, PAD, PAD, PAD]])
    np.testing.assert_array_equal(out.lengths, [3, 2])
    assert len(calls) == 3  # the loop ends when every row has ended


def test_greedy_under_xla_equals_eager(tiny_model, source_batch):
    generator, eager = _generate(tiny_model, source_batch)
    compiled = tf.function(generator.generate, jit_compile=True)
    xla = compiled(*source_batch)
    np.testing.assert_array_equal(eager.token_ids, xla.token_ids)
    np.testing.assert_allclose(eager.log_probs, xla.log_probs, atol=1e-4)


def test_processor_options_change_greedy_output(tiny_model, source_batch):
    _, plain = _generate(tiny_model, source_batch, max_length=16)
    generator, no_repeat = _generate(tiny_model, source_batch, max_length=16,
                                     no_repeat_ngram_size=2)
    for row, length in zip(no_repeat.token_ids.numpy(), no_repeat.lengths.numpy()):
        bigrams = [tuple(row[i:i + 2]) for i in range(length - 1)]
        assert len(bigrams) == len(set(bigrams))
    assert not np.array_equal(plain.token_ids, no_repeat.token_ids)
