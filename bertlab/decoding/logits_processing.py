"""Logit transformations shared by greedy, beam and sampling decoders.

Every function here takes next-token logits `[n, vocab]` (float32) and returns
logits of the same shape. Those that look at the history take the decoder's
token buffer `token_ids` `[n, T]` (position 0 holds the start token, positions
`1 ... index` the tokens generated so far) and the int32 scalar `index` of the
last written position. Shapes are static and only standard ops are used, so all
of them run inside `tf.while_loop`, under XLA and in a SavedModel.
"""

import dataclasses
from typing import Optional, Sequence

import tensorflow as tf

# A logit that no softmax, top-k or categorical draw will ever pick; finite, so
# sums and differences of such scores never produce NaN.
NEG_INF = -1e9


def _token_presence(token_ids, valid, vocabulary_size):
    """Float `[n, vocab]`: 1 where a token occurs at a `valid` `[n, T]` position."""
    n = tf.shape(token_ids)[0]
    length = tf.shape(token_ids)[1]
    rows = tf.tile(tf.range(n)[:, None], [1, length])
    ids = tf.clip_by_value(token_ids, 0, vocabulary_size - 1)
    indices = tf.reshape(tf.stack([rows, ids], axis=-1), [-1, 2])
    counts = tf.tensor_scatter_nd_add(tf.zeros([n, vocabulary_size], tf.float32), indices,
                                      tf.reshape(tf.cast(valid, tf.float32), [-1]))
    return counts > 0.0


def _generated_positions(token_ids, index):
    """Bool `[1, T]`: positions `1 ... index` (the generated tokens, not the start token)."""
    positions = tf.range(tf.shape(token_ids)[1])
    return ((positions >= 1) & (positions <= index))[None, :]


def apply_repetition_penalty(logits, token_ids, index, penalty):
    """CTRL's repetition penalty (Keskar et al., 2019): the logit of every token
    generated so far is divided by `penalty` when positive and multiplied by it
    when negative (`penalty > 1` discourages repeats).

    Example:
    >>> apply_repetition_penalty(tf.constant([[2.0, -1.0, 3.0]]),
    ...                          tf.constant([[9, 0, 1]]), 2, 2.0).numpy()
    array([[ 1., -2.,  3.]], dtype=float32)
    """
    if penalty <= 0:
        raise ValueError(f"`repetition_penalty` must be positive, got {penalty}.")
    vocabulary_size = logits.shape[-1]
    valid = tf.broadcast_to(_generated_positions(token_ids, index), tf.shape(token_ids))
    present = _token_presence(token_ids, valid, vocabulary_size)
    penalized = tf.where(logits > 0, logits / penalty, logits * penalty)
    return tf.where(present, penalized, logits)


def apply_no_repeat_ngram(logits, token_ids, index, ngram_size):
    """Bans every token that would repeat an n-gram of `ngram_size` tokens
    already generated (Paulus et al., 2018): if the last `ngram_size - 1` tokens
    occurred before, the token that followed them then gets `NEG_INF`.

    Example (bigrams: after "5 7 ... 5", the token 7 is banned):
    >>> ids = tf.constant([[1, 5, 7, 5, 0]])  # start token, then 5 7 5
    >>> apply_no_repeat_ngram(tf.zeros([1, 9]), ids, 3, 2).numpy()[0, 7]
    -1e9
    """
    if ngram_size < 1:
        raise ValueError(f"`no_repeat_ngram_size` must be positive, got {ngram_size}.")
    vocabulary_size = logits.shape[-1]
    length = token_ids.shape[1]
    if length is None:
        length = tf.shape(token_ids)[1]
    n = ngram_size
    # Candidate n-grams start at j = 1 ... index - n + 1 (all n tokens generated);
    # the new one would be ids[index - n + 2 ... index] + next token.
    num_starts = length - n + 1
    if isinstance(num_starts, int) and num_starts <= 0:
        return logits
    starts = tf.range(num_starts)
    match = tf.ones([tf.shape(token_ids)[0], num_starts], tf.bool)
    for k in range(n - 1):
        window = token_ids[:, k:k + num_starts]
        tail = tf.gather(token_ids, tf.maximum(index - n + 2 + k, 0), axis=1)
        match &= tf.equal(window, tail[:, None])
    valid = (starts >= 1) & (starts <= index - n + 1)
    match &= valid[None, :]
    banned = _token_presence(token_ids[:, n - 1:n - 1 + num_starts], match, vocabulary_size)
    return tf.where(banned, tf.cast(NEG_INF, logits.dtype), logits)


def suppress_tokens(logits, token_ids_to_suppress):
    """Sets the logits of the given token ids to `NEG_INF` (e.g. padding)."""
    if not token_ids_to_suppress:
        return logits
    vocabulary_size = logits.shape[-1]
    mask = tf.reduce_sum(tf.one_hot(list(token_ids_to_suppress), vocabulary_size), axis=0) > 0
    return tf.where(mask[None, :], tf.cast(NEG_INF, logits.dtype), logits)


def apply_temperature(logits, temperature):
    """`logits / temperature` (`temperature > 0`; lower is greedier)."""
    if temperature <= 0:
        raise ValueError(f"`temperature` must be positive, got {temperature}.")
    return logits / temperature


def top_k_filter(logits, k):
    """Keeps the `k` largest logits of each row (ties at the k-th value are kept),
    the others become `NEG_INF` (Fan et al., 2018)."""
    if k < 1:
        raise ValueError(f"`top_k` must be positive, got {k}.")
    vocabulary_size = logits.shape[-1]
    if k >= vocabulary_size:
        return logits
    kth = tf.math.top_k(logits, k=k, sorted=True).values[:, -1:]
    return tf.where(logits < kth, tf.cast(NEG_INF, logits.dtype), logits)


def top_p_filter(logits, p):
    """Nucleus filtering (Holtzman et al., 2020): keeps the smallest set of most
    probable tokens whose probability reaches `p` (at least one token), the
    others become `NEG_INF`."""
    if not 0.0 < p <= 1.0:
        raise ValueError(f"`top_p` must be in (0, 1], got {p}.")
    if p >= 1.0:
        return logits
    sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
    probs = tf.nn.softmax(sorted_logits, axis=-1)
    # Probability mass strictly before each sorted token: keep while it is < p.
    mass_before = tf.math.cumsum(probs, axis=-1, exclusive=True)
    keep = mass_before < p
    threshold = tf.reduce_min(tf.where(keep, sorted_logits, tf.float32.max), axis=-1,
                              keepdims=True)
    return tf.where(logits < threshold, tf.cast(NEG_INF, logits.dtype), logits)


def _is_static(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def sampling_filter(logits, temperature=1.0, top_k=0, top_p=1.0):
    """Temperature, then top-k, then top-p (the order of `sample`), for settings that
    are Python numbers (checked, and skipped when off) or scalar tensors (a
    served request's own settings: `top_k` 0 and `top_p` 1.0 are off, one sort
    of the logits serves both filters).

    Args:
      logits: float32 `[n, vocab]`.
      temperature: > 0 (a tensor is clipped to >= 1e-6).
      top_k: int, 0 = off.
      top_p: in (0, 1], 1.0 = off.

    Returns:
      float32 `[n, vocab]`, filtered tokens at `NEG_INF`.

    Example:
    >>> sampling_filter(tf.constant([[1.0, 3.0, 2.0]]), tf.constant(1.0),
    ...                 tf.constant(2), tf.constant(1.0)).numpy()
    array([[-1.e+09,  3.e+00,  2.e+00]], dtype=float32)
    """
    if _is_static(temperature):
        if temperature != 1.0:
            logits = apply_temperature(logits, temperature)
    else:
        logits = logits / tf.maximum(tf.cast(temperature, logits.dtype), 1e-6)
    if _is_static(top_k) and _is_static(top_p):
        if top_k < 0:
            raise ValueError(f"`top_k` must be >= 0 (0 = off), got {top_k}.")
        if top_k > 0:
            logits = top_k_filter(logits, top_k)
        return top_p_filter(logits, top_p)
    vocabulary_size = tf.shape(logits)[-1]
    k = tf.cast(top_k, tf.int32)
    k = tf.where(k > 0, tf.minimum(k, vocabulary_size), vocabulary_size)
    p = tf.cast(top_p, tf.float32)
    sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
    in_top_k = tf.range(vocabulary_size)[None, :] < k
    probs = tf.nn.softmax(tf.where(in_top_k, sorted_logits, NEG_INF), axis=-1)
    keep = in_top_k & (tf.math.cumsum(probs, axis=-1, exclusive=True) < p)
    threshold = tf.reduce_min(tf.where(keep, sorted_logits, tf.float32.max), axis=-1,
                              keepdims=True)
    return tf.where(logits < threshold, tf.cast(NEG_INF, logits.dtype), logits)


@dataclasses.dataclass(frozen=True)
class LogitsProcessor:
    """History-dependent logit rules applied before every decoding choice.

    Args:
      repetition_penalty: CTRL penalty on tokens already generated; 1.0 = off.
      no_repeat_ngram_size: ban repeating any n-gram of this size; 0 = off.
      suppressed_token_ids: ids never generated (padding, the start token).
      min_length: the end token is banned until this many tokens exist.
      end_token_id: needed with `min_length`.

    Call: `processor(logits [n, vocab], token_ids [n, T], index) -> logits`.
    """

    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    suppressed_token_ids: Sequence[int] = ()
    min_length: int = 0
    end_token_id: Optional[int] = None

    def __post_init__(self):
        if self.repetition_penalty <= 0:
            raise ValueError(
                f"`repetition_penalty` must be positive, got {self.repetition_penalty}.")
        if self.no_repeat_ngram_size < 0:
            raise ValueError(
                f"`no_repeat_ngram_size` must be >= 0, got {self.no_repeat_ngram_size}.")
        if self.min_length < 0:
            raise ValueError(f"`min_length` must be >= 0, got {self.min_length}.")
        if self.min_length > 0 and self.end_token_id is None:
            raise ValueError("`min_length` needs `end_token_id`.")
        object.__setattr__(self, "suppressed_token_ids",
                           tuple(int(i) for i in self.suppressed_token_ids))

    @property
    def is_identity(self):
        return (self.repetition_penalty == 1.0 and self.no_repeat_ngram_size == 0
                and not self.suppressed_token_ids and self.min_length == 0)

    def __call__(self, logits, token_ids, index):
        logits = suppress_tokens(logits, self.suppressed_token_ids)
        if self.min_length > 0:
            # `index` tokens exist (start token excluded) once position `index` is written.
            too_short = index < self.min_length
            end_mask = tf.one_hot(self.end_token_id, logits.shape[-1], on_value=True,
                                  off_value=False)
            logits = tf.where(too_short & end_mask[None, :],
                              tf.cast(NEG_INF, logits.dtype), logits)
        if self.repetition_penalty != 1.0:
            logits = apply_repetition_penalty(logits, token_ids, index, self.repetition_penalty)
        if self.no_repeat_ngram_size > 0:
            logits = apply_no_repeat_ngram(logits, token_ids, index, self.no_repeat_ngram_size)
        return logits
