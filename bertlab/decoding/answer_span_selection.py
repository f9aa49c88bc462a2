"""Extractive question answering: the best answer span over all windows of an example.

A span model (`bertlab.models.BertQuestionAnswerer`) gives every position of
every window (`bertlab.text.pack_question_windows`) a start and an end logit.
`select_answer_spans` picks, for each example, the span `[i, j]` of one window
with the highest score `start_logits[i] + end_logits[j]` (the log-probability of
the span, up to the window's normalizers, as in BERT's `run_squad.py`) among the
spans that

- start and end on context tokens (`token_starts >= 0`: not `[CLS]`, the
  question, a `[SEP]` or padding), in the same window;
- have `i <= j` and at most `max_answer_length` tokens (`j - i + 1`).

The span's text is `context[token_starts[i]:token_ends[j]]`
(`answer_text`). A span that several overlapping windows hold is one answer
with its best score among them (google's `run_squad.py` also lists an answer
text once in its n-best; its "max context" rule, which lets a token start or
end a span only in the window where it is most central, is not applied: as in
Hugging Face's `postprocess_qa_predictions` with a fast tokenizer, the spans of
all windows compete).

There is no "no answer" (SQuAD v1.1, CMRC 2018): an example with any context
token always gets a span, whatever the logits at `[CLS]`. An example without
one (empty context, or no window) gets `start = end = 0` (the empty answer)
and score `NEG_INF` (-1e9, finite, so that it survives JSON).

Memory and time: per window, the scores of the band `i <= j < i +
max_answer_length` (`[windows, seq, max_answer_length]` floats), then the
`n_best` best of each window and one sort of those `windows * n_best`
candidates: linear in the number of windows. A 20,000-character context at
`sequence_length=384`, `doc_stride=128` is 77 windows, 0.9M scores; windows
and selection take 27 ms in a `tf.function` on the 2-core CPU machine,
200,000 characters 244 ms. (Two token spans of one window with the same code
points, possible only where word pieces share a decomposed character such as a
Hangul syllable, take two of that window's `n_best` places before they merge.)

Example:
>>> tokenizer = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "who", "won", "?", "the",
...                            "denver", "broncos", "."])
>>> context = tf.constant(["The Denver Broncos won."])
>>> windows = pack_question_windows(tokenizer, tf.constant(["Who won?"]), context, 16,
...                                 max_query_length=4)
>>> logits = tf.one_hot([6], 11), tf.one_hot([7], 11)  # at "denver", "broncos"
>>> spans = select_answer_spans(*logits, windows["token_starts"], windows["token_ends"],
...                             windows["example_index"], tf.size(context))
>>> spans.start.numpy(), spans.end.numpy(), spans.score.numpy()
(array([4], dtype=int32), array([18], dtype=int32), array([2.], dtype=float32))
>>> answer_text(context, spans.start, spans.end).numpy()
array([b'Denver Broncos'], dtype=object)
"""

from typing import NamedTuple

import tensorflow as tf

from bertlab.decoding.logits_processing import NEG_INF
from bertlab.text.bert_tokenizer import replace_invalid_utf8


class SelectedSpans(NamedTuple):
    """The answers of `select_answer_spans`, for `num_examples` examples.

    Fields (shape `[num_examples]`, or `[num_examples, n_best]`, best first,
    when `n_best > 1`):
      start, end: int32 code-point span in the example's context (`end` exclusive);
        0 and 0 where there is no (further) span.
      score: float32 `start_logit + end_logit` of the span, `NEG_INF` where there
        is no (further) span.
    """

    start: tf.Tensor
    end: tf.Tensor
    score: tf.Tensor


def _band(values, length, fill):
    """`[w, s]` -> `[w, s, length]`, `[:, i, d]` = `values[:, i + d]` (`fill` past the end)."""
    padding = tf.fill([tf.shape(values)[0], length - 1], tf.constant(fill, values.dtype))
    return tf.signal.frame(tf.concat([values, padding], axis=1), length, 1, axis=1)


def _stable_sort(order, key, direction="ASCENDING"):
    """`order` re-sorted by `key[order]`, ties kept in `order`'s order."""
    return tf.gather(order, tf.argsort(tf.gather(key, order), direction=direction, stable=True))


def select_answer_spans(start_logits, end_logits, token_starts, token_ends, example_index,
                        num_examples, max_answer_length=30, n_best=1):
    """The best answer span (or `n_best` spans) of each example over all its windows.

    Args:
      start_logits, end_logits: float `[windows, seq]`; finite on context tokens
        (other positions are ignored, whatever they hold).
      token_starts, token_ends: int32 `[windows, seq]` code-point spans of the
        context tokens, -1 elsewhere (`pack_question_windows`).
      example_index: int `[windows]`, the example of each window, in
        `[0, num_examples)`, in any order.
      num_examples: int scalar (Python or tensor), e.g. `tf.size(context)`.
      max_answer_length: Python int, the most tokens of a span.
      n_best: Python int, how many spans to return per example.

    Returns:
      `SelectedSpans` (`start`, `end`, `score`; `[num_examples]`, or
      `[num_examples, n_best]` when `n_best > 1`): distinct code-point spans,
      best score first (ties: the span that starts first, then ends first);
      `(0, 0, NEG_INF)` where an example has fewer spans.

    Raises:
      ValueError: `max_answer_length` or `n_best` below 1.
    """
    max_answer_length, n_best = int(max_answer_length), int(n_best)
    if max_answer_length < 1:
        raise ValueError(f"`max_answer_length` must be at least 1, got {max_answer_length}.")
    if n_best < 1:
        raise ValueError(f"`n_best` must be at least 1, got {n_best}.")
    start_logits = tf.cast(start_logits, tf.float32)
    end_logits = tf.cast(end_logits, tf.float32)
    token_starts = tf.cast(token_starts, tf.int32)
    token_ends = tf.cast(token_ends, tf.int32)
    example_index = tf.cast(example_index, tf.int32)
    num_examples = tf.cast(num_examples, tf.int32)
    windows = tf.shape(start_logits)[0]

    # Scores of the band [windows, seq, max_answer_length]: span (i, i + d).
    is_context = token_starts >= 0
    valid = is_context[:, :, None] & _band(is_context, max_answer_length, False)
    scores = start_logits[:, :, None] + _band(end_logits, max_answer_length, 0.0)
    # The n best of each window; n columns of invalid candidates make `top_k` always work.
    flat_valid = tf.concat([tf.reshape(valid, [windows, -1]),
                            tf.zeros([windows, n_best], tf.bool)], axis=1)
    flat_scores = tf.where(flat_valid, tf.concat(
        [tf.reshape(scores, [windows, -1]), tf.zeros([windows, n_best])], axis=1), -float("inf"))
    best_scores, best = tf.math.top_k(flat_scores, k=n_best)  # [windows, n_best]
    found = tf.gather(flat_valid, best, batch_dims=1)
    first = best // max_answer_length
    last = first + best % max_answer_length
    # (One column of -1 to gather from, also when `seq` is 0; `found` discards what it reads.)
    width = tf.shape(token_starts)[1]
    starts = tf.concat([token_starts, -tf.ones([windows, 1], tf.int32)], axis=1)
    ends = tf.concat([token_ends, -tf.ones([windows, 1], tf.int32)], axis=1)
    span_start = tf.gather(starts, tf.minimum(first, width), batch_dims=1)
    span_end = tf.gather(ends, tf.minimum(last, width), batch_dims=1)
    span_example = tf.broadcast_to(example_index[:, None], tf.shape(best))

    # All windows' candidates: one per distinct (example, start, end), its best score.
    span_example, span_start, span_end, span_score = (
        tf.boolean_mask(t, found) for t in (span_example, span_start, span_end, best_scores))
    order = tf.argsort(span_score, direction="DESCENDING", stable=True)
    for key in (span_end, span_start, span_example):
        order = _stable_sort(order, key)
    span_example, span_start, span_end, span_score = (
        tf.gather(t, order) for t in (span_example, span_start, span_end, span_score))
    repeated = ((span_example[1:] == span_example[:-1]) & (span_start[1:] == span_start[:-1])
                & (span_end[1:] == span_end[:-1]))
    keep = tf.concat([[True], ~repeated], axis=0)[:tf.size(span_score)]
    span_example, span_start, span_end, span_score = (
        tf.boolean_mask(t, keep) for t in (span_example, span_start, span_end, span_score))

    # Best first within each example (ties stay in (start, end) order), then the n first.
    order = _stable_sort(tf.argsort(span_score, direction="DESCENDING", stable=True),
                         span_example)
    span_example, span_start, span_end, span_score = (
        tf.gather(t, order) for t in (span_example, span_start, span_end, span_score))
    index = tf.range(tf.size(span_example))
    rank = index - tf.gather(
        tf.math.unsorted_segment_min(index, span_example, num_examples), span_example)
    chosen = rank < n_best
    where = tf.boolean_mask(tf.stack([span_example, rank], axis=1), chosen)
    shape = tf.stack([num_examples, n_best])

    def place(values, default):
        return tf.tensor_scatter_nd_update(tf.fill(shape, tf.constant(default, values.dtype)),
                                           where, tf.boolean_mask(values, chosen))

    spans = SelectedSpans(place(span_start, 0), place(span_end, 0), place(span_score, NEG_INF))
    if n_best == 1:
        spans = SelectedSpans(*(t[:, 0] for t in spans))
    return spans


def answer_text(context, start, end):
    """`context[start:end]` in code points, as Python slices a `str`.

    The context is first decoded as `tokenize_with_offsets` decodes it (each
    invalid UTF-8 sequence -> one U+FFFD), so offsets from
    `pack_question_windows` cut it exactly. Offsets are clipped to
    `0 <= start <= end <= len(context)`, so an out-of-range or reversed span
    gives a shorter or empty string, never an error.

    Args:
      context: `tf.string` `[batch]`.
      start, end: int `[batch]`, or `[batch, n]` (e.g. `n_best` spans).

    Returns:
      `tf.string` with the shape of `start`.
    """
    context = replace_invalid_utf8(tf.convert_to_tensor(context, tf.string))
    start = tf.cast(start, tf.int32)
    end = tf.cast(end, tf.int32)
    if start.shape.rank == 2:
        context = tf.broadcast_to(context[:, None], tf.shape(start))
    length = tf.strings.length(context, unit="UTF8_CHAR")
    start = tf.clip_by_value(start, 0, length)
    end = tf.clip_by_value(end, start, length)
    return tf.strings.substr(context, start, end - start, unit="UTF8_CHAR")
