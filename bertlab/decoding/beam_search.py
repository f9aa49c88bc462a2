"""Beam search with a length penalty, per-beam end of sequence and early stopping."""

import tensorflow as tf

from bertlab.decoding.logits_processing import NEG_INF
from bertlab.decoding.step_decoding import (GenerationOutput, initial_token_buffer,
                                            static_while_loop, validate_common)


def length_penalty_factor(length, alpha):
    """GNMT's length normalization (Wu et al., 2016): `((5 + length) / 6) ** alpha`."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def tile_for_beams(tensor, beam_width):
    """`[b, ...]` -> `[b * beam_width, ...]`, each row repeated `beam_width` times
    (the layout `beam_search` expects for `initial_state` and for whatever the
    step function closes over, such as the cross-attention cache). Done once,
    before the search."""
    return tf.repeat(tensor, beam_width, axis=0)


def beam_search(step_fn, initial_state, start_ids, max_length, end_token_id, beam_width,
                length_penalty=0.6, pad_token_id=0, logits_processor=None):
    """Beam search (Sutskever et al., 2014) returning the best finished hypothesis.

    Keeps `beam_width` unfinished ("alive") hypotheses and the `beam_width`
    best finished ones per input. At each step the `2 * beam_width` best
    extensions of the alive hypotheses are scored; those ending with
    `end_token_id` join the finished set with score
    `log_prob / ((5 + length) / 6) ** length_penalty`, the best others stay
    alive. Only extensions ranked among the `beam_width` best may finish (so a
    beam of width 1 is exactly greedy search); at `max_length` those best
    extensions finish whether they ended or not. The loop stops
    early once, for every input, no alive hypothesis can beat the best finished
    one any more (log-probabilities only decrease, and the length penalty is
    largest at `max_length`).

    The only per-step reordering is of `state` (the self-attention cache) along
    its leading dimension: one gather per step. Whatever the step function
    closes over (encoder outputs, cross-attention keys/values) is tiled once
    with `tile_for_beams` and never gathered again.

    Args:
      step_fn: see `bertlab.decoding.step_decoding`; called on
        `n = batch * beam_width` rows, hypotheses of input `i` at rows
        `i * beam_width ... (i + 1) * beam_width - 1`.
      initial_state: nest of tensors with leading dimension `batch * beam_width`.
      start_ids: int32 `[batch]` decoder start tokens.
      max_length: most tokens generated (Python int).
      end_token_id: the end-of-sequence token.
      beam_width: hypotheses kept per input (Python int >= 1).
      length_penalty: GNMT alpha >= 0; 0 ranks by total log-probability.
      pad_token_id: fills positions after the end token.
      logits_processor: optional `LogitsProcessor`.

    Returns:
      `GenerationOutput` of the best finished hypothesis per input
      (`token_ids` `[batch, max_length]`; `scores` are length-penalized).

    Example:
    >>> cache = model.init_self_attention_cache(batch * 4, 32)
    >>> out = beam_search(step_fn, cache, tf.fill([batch], 2), 32, end_token_id=3,
    ...                   beam_width=4)
    """
    validate_common(max_length, end_token_id, pad_token_id)
    if int(beam_width) < 1:
        raise ValueError(f"`beam_width` must be positive, got {beam_width}.")
    if length_penalty < 0:
        raise ValueError(f"`length_penalty` must be >= 0, got {length_penalty}.")
    max_length, k = int(max_length), int(beam_width)
    alpha = float(length_penalty)
    total = max_length + 1
    start_ids = tf.cast(tf.convert_to_tensor(start_ids), tf.int32)
    batch = tf.shape(start_ids)[0]
    pad = tf.cast(pad_token_id, tf.int32)
    positions = tf.range(total)

    alive_ids = tf.reshape(initial_token_buffer(tile_for_beams(start_ids, k), max_length,
                                                pad_token_id), [batch, k, total])
    # All beams start identical: only the first may expand at the first step.
    alive_log_probs = tf.tile(tf.constant([[0.0] + [NEG_INF] * (k - 1)]), [batch, 1])
    finished_ids = tf.fill([batch, k, total], pad)
    finished_scores = tf.fill([batch, k], NEG_INF)
    finished_log_probs = tf.fill([batch, k], NEG_INF)
    finished_lengths = tf.zeros([batch, k], tf.int32)
    finished_flags = tf.zeros([batch, k], tf.bool)
    max_penalty = length_penalty_factor(max_length, alpha)

    def cond(index, alive_ids, alive_log_probs, state, finished_ids, finished_scores,
             finished_log_probs, finished_lengths, finished_flags):
        best_possible = alive_log_probs[:, 0] / max_penalty
        done = finished_flags[:, 0] & (finished_scores[:, 0] >= best_possible)
        return (index < max_length) & tf.logical_not(tf.reduce_all(done))

    def body(index, alive_ids, alive_log_probs, state, finished_ids, finished_scores,
             finished_log_probs, finished_lengths, finished_flags):
        flat_ids = tf.reshape(alive_ids, [batch * k, total])
        logits, state = step_fn(flat_ids, index, state)
        logits = tf.cast(logits, tf.float32)
        if logits_processor is not None:
            logits = logits_processor(logits, flat_ids, index)
        vocabulary_size = logits.shape[-1] or tf.shape(logits)[-1]
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        candidates = alive_log_probs[:, :, None] + tf.reshape(log_probs, [batch, k, -1])
        top_log_probs, top_flat = tf.math.top_k(
            tf.reshape(candidates, [batch, -1]), k=2 * k)
        parents = top_flat // vocabulary_size
        tokens = top_flat % vocabulary_size
        candidate_ids = tf.gather(alive_ids, parents, axis=1, batch_dims=1)
        candidate_ids = tf.where(positions[None, None, :] == index + 1, tokens[:, :, None],
                                 candidate_ids)
        is_end = tf.equal(tokens, end_token_id)
        is_valid = top_log_probs > NEG_INF / 2
        length = index + 1

        # Alive: the best k extensions that did not end.
        alive_candidates = tf.where(is_end, NEG_INF + top_log_probs, top_log_probs)
        alive_log_probs, alive_pick = tf.math.top_k(alive_candidates, k=k)
        alive_ids = tf.gather(candidate_ids, alive_pick, axis=1, batch_dims=1)
        alive_parents = tf.gather(parents, alive_pick, axis=1, batch_dims=1)
        rows = tf.reshape(alive_parents + tf.range(batch)[:, None] * k, [-1])
        state = tf.nest.map_structure(lambda s: tf.gather(s, rows, axis=0), state)

        # Finished: merge extensions that ended (or reached max_length), among
        # the k best extensions only, so that beam width 1 is greedy search.
        in_top_k = tf.range(2 * k)[None, :] < k
        new_flags = (is_end | (length >= max_length)) & is_valid & in_top_k
        new_scores = tf.where(new_flags, top_log_probs / length_penalty_factor(length, alpha),
                              NEG_INF)
        all_scores = tf.concat([finished_scores, new_scores], axis=1)
        all_flags = tf.concat([finished_flags, new_flags], axis=1)
        # Invalid entries rank last, whatever their score.
        ranking = tf.where(all_flags, all_scores, 2.0 * NEG_INF)
        _, pick = tf.math.top_k(ranking, k=k)

        def merged(old, new):
            return tf.gather(tf.concat([old, new], axis=1), pick, axis=1, batch_dims=1)

        finished_ids = merged(finished_ids, candidate_ids)
        finished_scores = merged(finished_scores, new_scores)
        finished_log_probs = merged(finished_log_probs, top_log_probs)
        finished_lengths = merged(finished_lengths, tf.fill([batch, 2 * k], length))
        finished_flags = merged(finished_flags, new_flags)
        return (index + 1, alive_ids, alive_log_probs, state, finished_ids, finished_scores,
                finished_log_probs, finished_lengths, finished_flags)

    loop_vars = (tf.constant(0), alive_ids, alive_log_probs, initial_state, finished_ids,
                 finished_scores, finished_log_probs, finished_lengths, finished_flags)
    outputs = static_while_loop(cond, body, loop_vars, maximum_iterations=max_length)
    finished_ids, finished_scores, finished_log_probs, finished_lengths = outputs[4:8]
    return GenerationOutput(finished_ids[:, 0, 1:], finished_lengths[:, 0],
                            finished_log_probs[:, 0], finished_scores[:, 0])
