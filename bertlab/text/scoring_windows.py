"""Sliding windows that let a language model score a text longer than its context.

A causal language model sees at most `window_length` tokens. To score a longer
token sequence, windows of `window_length` inputs start every `stride` tokens;
the first window scores all its targets, each later window only the `stride`
targets past the previous window's end, so every token is scored exactly once
and (after the first window) with at least `window_length - stride` tokens of
context. `stride == window_length` cuts the text into independent chunks (the
cheapest, the least context); a smaller stride costs `window_length / stride`
times more computation for more context.

Example (a context token, then 10 targets; windows of 4 inputs, stride 2):
>>> w = scoring_windows(tf.range(11), window_length=4, stride=2)
>>> w.token_ids.numpy()          # model inputs
array([[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]])
>>> w.weights.numpy()            # which of the targets (ids shifted left) count
array([[1., 1., 1., 1.], [0., 0., 1., 1.], [0., 0., 1., 1.], [0., 0., 1., 1.]])
"""

from typing import NamedTuple

import tensorflow as tf


class ScoringWindows(NamedTuple):
    """The windows of one token sequence, `w` windows of `window_length`.

    Fields:
      token_ids: int32 `[w, window_length]` model inputs (`pad_id` past the end).
      padding_mask: int32 `[w, window_length]`, 1 at real input tokens.
      labels: int32 `[w, window_length]`, the next token of each input position.
      weights: float32 `[w, window_length]`, 1 where the label is scored: every
        target of the sequence has weight 1 in exactly one window.
    """

    token_ids: tf.Tensor
    padding_mask: tf.Tensor
    labels: tf.Tensor
    weights: tf.Tensor


def num_scoring_windows(num_targets, window_length, stride):
    """Windows needed for `num_targets` targets: `1 + ceil(max(0, num_targets -
    window_length) / stride)` (int32 scalar; works on tensors)."""
    extra = tf.maximum(tf.cast(num_targets, tf.int32) - window_length, 0)
    return 1 + (extra + stride - 1) // stride


def scoring_windows(token_ids, window_length, stride, pad_id=0):
    """Cuts a token sequence into the windows that score each of its targets once.

    Args:
      token_ids: int `[n]`, n >= 1: position 0 is context only (the
        end-of-document token a language model's text starts from), positions
        `1 ... n - 1` are the `n - 1` targets to score.
      window_length: inputs per window, at most the model's context (Python int).
      stride: tokens between window starts, `1 <= stride <= window_length`
        (Python int).
      pad_id: fills inputs and labels past the end of the sequence.

    Returns:
      `ScoringWindows`; window k holds inputs `token_ids[k * stride :
      k * stride + window_length]` and their next tokens as labels. Works
      eagerly and in `tf.function` (the number of windows is dynamic).

    Raises:
      ValueError: naming `window_length` or `stride` when out of range.
    """
    token_ids = tf.cast(tf.reshape(token_ids, [-1]), tf.int32)
    windows, _ = batch_scoring_windows(tf.RaggedTensor.from_tensor(token_ids[None, :]),
                                       window_length, stride, pad_id)
    return windows


def batch_scoring_windows(token_ids, window_length, stride, pad_id=0):
    """`scoring_windows` of every row of a ragged batch, the windows of all rows in one
    batch (so one model call scores texts of any lengths together).

    Args:
      token_ids: int ragged `[n, None]`, each row as `scoring_windows`'s
        `token_ids` (a context token, then the targets; at least one token).
      window_length, stride, pad_id: as `scoring_windows`.

    Returns:
      `(ScoringWindows with [w_total, window_length] fields, row int32
      [w_total])`: the windows of row 0, then of row 1, ...; `row` says whose
      each window is (sum a window's scored log-probabilities into that row).
    """
    window_length, stride = int(window_length), int(stride)
    if window_length < 1:
        raise ValueError(f"`window_length` must be positive, got {window_length}.")
    if not 1 <= stride <= window_length:
        raise ValueError(f"`stride` must be in [1, window_length={window_length}], "
                         f"got {stride}.")
    token_ids = tf.cast(token_ids, tf.int32)
    lengths = tf.cast(token_ids.row_lengths(), tf.int32)  # [n]
    counts = num_scoring_windows(lengths - 1, window_length, stride)  # [n]
    row = tf.repeat(tf.range(tf.shape(lengths)[0]), counts)  # [w]
    window_in_row = tf.ragged.range(counts).flat_values  # [w]
    offsets = tf.range(window_length)  # [L]
    positions = window_in_row[:, None] * stride + offsets[None, :]  # input positions, [w, L]
    padded = tf.concat([token_ids.to_tensor(default_value=pad_id),
                        tf.fill([tf.shape(lengths)[0], window_length + 1],
                                tf.cast(pad_id, tf.int32))], axis=1)
    inputs = tf.gather(tf.gather(padded, row), positions, batch_dims=1)
    labels = tf.gather(tf.gather(padded, row), positions + 1, batch_dims=1)
    row_length = tf.gather(lengths, row)[:, None]
    # Window k > 0 scores the targets past the end of window k - 1: offsets >= L - stride.
    first_scored = tf.where(window_in_row > 0, window_length - stride, 0)
    scored = (offsets[None, :] >= first_scored[:, None]) & (positions + 1 < row_length)
    windows = ScoringWindows(inputs, tf.cast(positions < row_length, tf.int32), labels,
                             tf.cast(scored, tf.float32))
    return windows, row
