"""The pieces every decoder shares: the step-function contract, the output type,
and the one-path loop used by greedy search and sampling.

The step-function contract (what `greedy_search`, `beam_search` and `sample`
call once per generated token):

    logits, state = step_fn(token_ids, index, state)

- `token_ids`: int32 `[n, max_length + 1]`, the token buffer of every
  hypothesis; position 0 holds the decoder start token, positions
  `1 ... index` the tokens chosen so far, later positions padding.
- `index`: int32 scalar, the position whose token is fed now (the step
  predicts the token at `index + 1`).
- `state`: any nest of tensors whose leading dimension is `n` (for a cached
  Transformer, the self-attention key/value cache). Beam search reorders it
  along that dimension when hypotheses are reordered, and nothing else:
  anything that does not change between steps (encoder outputs, the
  cross-attention cache, the source mask) belongs in the step function's
  closure, not in `state`.
- `logits`: float32 `[n, vocab]`, next-token logits.

A cached step reads only `token_ids[:, index]`, so each step costs one
position; an uncached step may re-run the whole prefix (tests do that to check
the cache).
"""

from typing import NamedTuple

import tensorflow as tf


class GenerationOutput(NamedTuple):
    """Result of a decoder, for a batch of `n` inputs.

    Fields:
      token_ids: int32 `[n, max_length]` generated tokens (start token not
        included); the end token is included when generated, positions after it
        hold the padding id.
      lengths: int32 `[n]` number of generated tokens, end token included.
      log_probs: float32 `[n]` sum of the tokens' log-probabilities (under the
        processed distribution each token was chosen from).
      scores: float32 `[n]`: `log_probs` divided by the length penalty for beam
        search, equal to `log_probs` otherwise.
    """

    token_ids: tf.Tensor
    lengths: tf.Tensor
    log_probs: tf.Tensor
    scores: tf.Tensor


def validate_common(max_length, end_token_id, pad_token_id):
    if int(max_length) < 1:
        raise ValueError(f"`max_length` must be positive, got {max_length}.")
    if end_token_id is None or int(end_token_id) < 0:
        raise ValueError(f"`end_token_id` must be a token id, got {end_token_id}.")
    if int(pad_token_id) < 0:
        raise ValueError(f"`pad_token_id` must be a token id, got {pad_token_id}.")


def initial_token_buffer(start_ids, max_length, pad_token_id):
    """`[n]` start ids -> `[n, max_length + 1]` buffer: start ids, then padding."""
    start_ids = tf.cast(tf.convert_to_tensor(start_ids), tf.int32)
    n = tf.shape(start_ids)[0]
    return tf.concat([start_ids[:, None], tf.fill([n, max_length], tf.cast(pad_token_id,
                                                                           tf.int32))], axis=1)


def write_position(token_ids, position, values):
    """Returns `token_ids` `[n, T]` with column `position` replaced by `values` `[n]`."""
    column = tf.range(token_ids.shape[1] or tf.shape(token_ids)[1]) == position
    return tf.where(column[None, :], values[:, None], token_ids)


def static_while_loop(cond, body, loop_vars, maximum_iterations):
    """`tf.while_loop` whose loop variables keep the static shapes they enter
    with (reshapes by a dynamic batch size would otherwise lose them)."""
    shapes = tf.nest.map_structure(lambda t: t.shape, loop_vars)

    def shaped_body(*args):
        outputs = body(*args)
        return tf.nest.map_structure(lambda t, s: tf.ensure_shape(t, s), outputs, shapes)

    return tf.while_loop(cond, shaped_body, loop_vars, maximum_iterations=maximum_iterations)


def decode_one_path(step_fn, initial_state, start_ids, max_length, end_token_id,
                    pad_token_id, logits_processor, choose_fn):
    """Shared loop of greedy search and sampling: one hypothesis per input.

    `choose_fn(logits [n, vocab], index) -> (token ids [n], log-probabilities
    [n])` picks the next token. The loop stops after `max_length` tokens or
    once every row has produced `end_token_id`; finished rows are padded.
    """
    validate_common(max_length, end_token_id, pad_token_id)
    max_length = int(max_length)
    token_ids = initial_token_buffer(start_ids, max_length, pad_token_id)
    n = tf.shape(token_ids)[0]
    pad = tf.cast(pad_token_id, tf.int32)

    def cond(index, token_ids, state, finished, log_probs, lengths):
        return (index < max_length) & tf.logical_not(tf.reduce_all(finished))

    def body(index, token_ids, state, finished, log_probs, lengths):
        logits, state = step_fn(token_ids, index, state)
        logits = tf.cast(logits, tf.float32)
        if logits_processor is not None:
            logits = logits_processor(logits, token_ids, index)
        next_ids, next_log_probs = choose_fn(logits, index)
        next_ids = tf.where(finished, pad, tf.cast(next_ids, tf.int32))
        log_probs += tf.where(finished, 0.0, next_log_probs)
        lengths += tf.cast(tf.logical_not(finished), tf.int32)
        token_ids = write_position(token_ids, index + 1, next_ids)
        finished |= tf.equal(next_ids, end_token_id)
        return index + 1, token_ids, state, finished, log_probs, lengths

    loop_vars = (tf.constant(0), token_ids, initial_state, tf.zeros([n], tf.bool),
                 tf.zeros([n], tf.float32), tf.zeros([n], tf.int32))
    _, token_ids, _, _, log_probs, lengths = static_while_loop(
        cond, body, loop_vars, maximum_iterations=max_length)
    return GenerationOutput(token_ids[:, 1:], lengths, log_probs, log_probs)
