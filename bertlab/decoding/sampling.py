"""Random sampling with temperature, top-k and top-p (nucleus) filtering."""

import tensorflow as tf

from bertlab.decoding.logits_processing import sampling_filter
from bertlab.decoding.step_decoding import decode_one_path


def sample(step_fn, initial_state, start_ids, max_length, end_token_id, pad_token_id=0,
           temperature=1.0, top_k=0, top_p=1.0, seed=(0, 0), logits_processor=None):
    """Generates by drawing each token from the model's (filtered) distribution.

    The logits go through `logits_processor`, then temperature, top-k and top-p,
    in that order; the token is drawn with a stateless random op whose seed is
    `seed` folded with the step index, so the same seed gives the same output
    (eagerly, in a `tf.function`, under XLA).

    Args:
      step_fn, initial_state, start_ids, max_length, end_token_id, pad_token_id,
      logits_processor: as in `greedy_search`.
      temperature: > 0; the logits are divided by it.
      top_k: keep only the k most probable tokens (0 = off; 1 = greedy).
      top_p: keep the smallest set of tokens with probability >= top_p (1.0 = off).
      seed: int32 pair (a Python pair or a `[2]` tensor).

    Returns:
      `GenerationOutput`; `log_probs` are under the distribution sampled from.

    Example:
    >>> out = sample(step_fn, cache, tf.fill([2], 2), 16, end_token_id=3,
    ...              top_k=40, top_p=0.9, temperature=0.8, seed=(1, 2))
    """
    if temperature <= 0:
        raise ValueError(f"`temperature` must be positive, got {temperature}.")
    if top_k < 0:
        raise ValueError(f"`top_k` must be >= 0 (0 = off), got {top_k}.")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"`top_p` must be in (0, 1], got {top_p}.")
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int32)
    if seed.shape.rank != 1 or seed.shape[0] != 2:
        raise ValueError(f"`seed` must be a pair of integers, got shape {seed.shape}.")

    choose = sampling_choice(temperature, top_k, top_p, seed)
    return decode_one_path(step_fn, initial_state, start_ids, max_length, end_token_id,
                           pad_token_id, logits_processor, choose)


def sampling_choice(temperature, top_k, top_p, seed):
    """The choice of `sample` as a `choose_fn(logits, index) -> (ids, log_probs)`
    (see `decode_one_path`): filtered by `sampling_filter` (Python numbers or
    scalar tensors), drawn with the seed folded with `index`."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int32)

    def choose(logits, index):
        logits = sampling_filter(logits, temperature, top_k, top_p)
        step_seed = tf.random.experimental.stateless_fold_in(seed, index)
        next_ids = tf.random.stateless_categorical(logits, 1, seed=step_seed,
                                                   dtype=tf.int32)[:, 0]
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        return next_ids, tf.gather(log_probs, next_ids, axis=1, batch_dims=1)

    return choose
