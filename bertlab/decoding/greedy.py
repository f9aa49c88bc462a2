"""Greedy decoding: the most probable next token at every step."""

import tensorflow as tf

from bertlab.decoding.step_decoding import decode_one_path


def greedy_search(step_fn, initial_state, start_ids, max_length, end_token_id,
                  pad_token_id=0, logits_processor=None):
    """Generates by taking the arg-max token at each step.

    Runs a `tf.while_loop` with static shapes (usable inside `tf.function`,
    under XLA and in a SavedModel); each step calls `step_fn` once.

    Args:
      step_fn: `(token_ids [n, max_length + 1], index, state) -> (logits [n, vocab], state)`,
        see `bertlab.decoding.step_decoding`.
      initial_state: nest of tensors with leading dimension `n` (e.g. an empty
        self-attention cache).
      start_ids: int32 `[n]` decoder start token of each row.
      max_length: most tokens generated (a Python int; fixes the loop's shapes).
      end_token_id: generation of a row stops after this token.
      pad_token_id: fills positions after the end token.
      logits_processor: optional `LogitsProcessor` (repetition penalty,
        no-repeat n-grams, ...).

    Returns:
      `GenerationOutput` (`token_ids` `[n, max_length]`, `lengths`, `log_probs`,
      `scores`).

    Example:
    >>> out = greedy_search(step_fn, cache, tf.fill([2], 2), 16, end_token_id=3)
    >>> out.token_ids.shape
    TensorShape([2, 16])
    """

    def choose(logits, index):
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        next_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return next_ids, tf.gather(log_probs, next_ids, axis=1, batch_dims=1)

    return decode_one_path(step_fn, initial_state, start_ids, max_length, end_token_id,
                           pad_token_id, logits_processor, choose)
