"""Question + long context -> overlapping BERT windows with code-point offsets, in the graph.

Extractive question answering (SQuAD, CMRC 2018) reads a context that may be
far longer than the encoder's `sequence_length`. `pack_question_windows` cuts
the context's tokens into overlapping slices and packs each as

    [CLS] question [SEP] context-slice [SEP]

with, for every context token, the code-point span (`tokenize_with_offsets`)
of the original characters it came from, so that a predicted token span maps
back to `context[start:end]`. `answer_token_positions` turns an answer's
character span into the start/end token positions each window is trained on.

Windowing, as google-research/bert's `run_squad.py` (and Hugging Face's
`squad_convert_examples_to_features`; not the `stride` of its fast tokenizers,
which counts overlapping tokens):

- the question is cut to its first `max_query_length` tokens (`q` left);
- a window holds at most `max_doc = sequence_length - 3 - q` context tokens, so
  it is at most `sequence_length` long (a short question leaves more room);
- with `L` context tokens and `stride = min(doc_stride, max_doc)`, window `k`
  holds context tokens `[k * stride, min(k * stride + max_doc, L))`, for
  `k = 0 ... n - 1`, `n = 1 + max(0, ceil((L - max_doc) / stride))`: windows
  start `stride` tokens apart and stop at the first one that reaches the
  context's end. They cover every token; the last one ends at the last token
  (it may hold fewer than `max_doc`, never none);
- a context of at most `max_doc` tokens is one window, and so is an empty
  context (or one BERT finds no token in): `[CLS] question [SEP] [SEP]`
  (google's loop would give none); an empty question gives
  `[CLS] [SEP] context-slice [SEP]` windows (refusing to answer it is the
  caller's choice).

Cost: the tokens of all windows, about `L * max_doc / stride`, after one
`tokenize_with_offsets` of the whole context: linear in the context length. A
20,000-character context of SQuAD and CMRC paragraphs (`sequence_length=384`,
`doc_stride=128`: 77 windows) takes 17 ms in a `tf.function` on the 2-core CPU
machine, 200,000 characters 159 ms.

Example:
>>> tokenizer = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "who", "a", "b", "c", "d"])
>>> windows = pack_question_windows(tokenizer, tf.constant(["who"]),
...                                 tf.constant(["a b c d"]), sequence_length=7,
...                                 max_query_length=3, doc_stride=2)
>>> windows["token_ids"].numpy().tolist()  # 3 context tokens per window, 2 apart
[[2, 4, 3, 5, 6, 7, 3], [2, 4, 3, 7, 8, 3, 0]]
>>> windows["token_starts"].numpy().tolist()
[[-1, -1, -1, 0, 2, 4, -1], [-1, -1, -1, 4, 6, -1, -1]]
>>> windows["example_index"].numpy().tolist()
[0, 0]
"""

import tensorflow as tf
import tensorflow_text as tf_text

from bertlab.text.bert_preprocessor import pack_ragged
from bertlab.text.offset_tokenization import tokenize_with_offsets


def _as_batch(text, name):
    text = tf.convert_to_tensor(text, dtype=tf.string)
    if text.shape.rank is not None and text.shape.rank != 1:
        raise ValueError(f"`{name}` must have shape [batch], got shape {text.shape}.")
    return text


def _window_layout(question_lengths, context_lengths, sequence_length, doc_stride):
    """Where each window's context slice lies (the convention of the module docstring).

    Args:
      question_lengths: int64 `[batch]` question tokens (already truncated).
      context_lengths: int64 `[batch]` context tokens.
      sequence_length: Python int, the longest window.
      doc_stride: Python int, the distance between consecutive slice starts.

    Returns:
      `(example_index, slice_start, slice_length)`, int64 `[windows]`: the input row
      of each window (rows in order, the windows of a row consecutive and in
      context order), and its slice of that row's context tokens.
    """
    max_doc = sequence_length - 3 - question_lengths
    stride = tf.minimum(tf.constant(doc_stride, tf.int64), max_doc)
    extra = tf.maximum((context_lengths - max_doc + stride - 1) // stride, 0)
    counts = 1 + extra  # every row gives at least one window
    example_index = tf.repeat(tf.range(tf.size(counts, out_type=tf.int64)), counts)
    k = tf.ragged.range(counts).flat_values  # the window's number within its row
    slice_start = k * tf.gather(stride, example_index)
    slice_length = tf.minimum(tf.gather(context_lengths, example_index) - slice_start,
                              tf.gather(max_doc, example_index))
    return example_index, slice_start, slice_length


def pack_question_windows(tokenizer, question, context, sequence_length, max_query_length=64,
                          doc_stride=128, pad_to_longest=True):
    """Packs each (question, context) pair into one or more overlapping windows.

    Args:
      tokenizer: a `bertlab.text.BertTokenizer` (with `[CLS]`, `[SEP]`, `[PAD]`).
      question: `tf.string` `[batch]`.
      context: `tf.string` `[batch]` (the same batch size), any length.
      sequence_length: the longest window, `[CLS]` and both `[SEP]` included
        (Python int, at least `max_query_length + 4`).
      max_query_length: question tokens kept (the first ones).
      doc_stride: context tokens between the starts of consecutive windows
        (at least 1; a stride above a window's context room acts as that room:
        windows then touch without overlapping).
      pad_to_longest: pad to the longest window of the batch (`seq` <=
        `sequence_length`) instead of to `sequence_length`.

    Returns:
      dict of
      - int32 `[windows, seq]` `token_ids`, `segment_ids` (0 on `[CLS] question
        [SEP]`, 1 on the context slice and its `[SEP]`), `padding_mask` (1 on
        real tokens);
      - int32 `[windows, seq]` `token_starts`, `token_ends`: the code-point span
        in `context[example]` (after invalid UTF-8 is replaced by U+FFFD, see
        `tokenize_with_offsets`) of each context token, -1 on `[CLS]`, the
        question, the `[SEP]`s and padding;
      - int32 `[windows]` `example_index`: the row of `question`/`context` each
        window comes from; rows in order, a row's windows consecutive, in
        context order; every row has at least one.

    Raises:
      ValueError: `sequence_length`, `max_query_length` or `doc_stride` out of
        range, or `question`/`context` of a known rank other than 1.
    """
    sequence_length, max_query_length, doc_stride = (
        int(sequence_length), int(max_query_length), int(doc_stride))
    if max_query_length < 0:
        raise ValueError(f"`max_query_length` must be at least 0, got {max_query_length}.")
    if sequence_length < max_query_length + 4:
        raise ValueError(
            f"`sequence_length` must be at least `max_query_length` + 4 = "
            f"{max_query_length + 4} (room for one context token), got {sequence_length}.")
    if doc_stride < 1:
        raise ValueError(f"`doc_stride` must be at least 1, got {doc_stride}.")
    question = _as_batch(question, "question")
    context = _as_batch(context, "context")
    checks = [tf.debugging.assert_equal(
        tf.size(question), tf.size(context),
        message="`question` and `context` must have the same batch size")]
    with tf.control_dependencies(checks):
        question = tf.identity(question)

    question_ids = tokenizer(question)[:, :max_query_length]  # [batch, (q)]
    context_ids, starts, ends = tokenize_with_offsets(tokenizer, context)  # [batch, (L)]
    question_lengths = question_ids.row_lengths()
    example_index, slice_start, slice_length = _window_layout(
        question_lengths, context_ids.row_lengths(), sequence_length, doc_stride)

    # Each window's context slice, gathered from the flat context tokens.
    first = tf.gather(context_ids.row_starts(), example_index) + slice_start
    flat_index = tf.ragged.range(first, first + slice_length)  # [windows, (slice)]
    window_context = flat_index.with_flat_values(
        tf.gather(context_ids.flat_values, flat_index.flat_values))
    window_question = tf.gather(question_ids, example_index)
    token_ids, segment_ids = tf_text.combine_segments(
        [window_question, window_context], start_of_sequence_id=tokenizer.token_to_id("[CLS]"),
        end_of_segment_id=tokenizer.token_to_id("[SEP]"))
    packed = pack_ragged(token_ids, segment_ids, sequence_length, pad_to_longest,
                         tokenizer.token_to_id("[PAD]"))

    # Offsets: position p of a window holds context token p - (question + 2) of its slice.
    width = tf.shape(packed["token_ids"], out_type=tf.int64)[1]
    index = (tf.range(width)[None, :]
             - (tf.gather(question_lengths, example_index) + 2)[:, None])  # [windows, seq]
    in_slice = (index >= 0) & (index < slice_length[:, None])
    # Other positions read a trailing -1 (also when no row has any context token).
    sentinel = tf.size(starts.flat_values, out_type=tf.int64)
    source = tf.where(in_slice, first[:, None] + index, sentinel)
    minus_one = tf.constant([-1], tf.int32)
    packed["token_starts"] = tf.gather(tf.concat([starts.flat_values, minus_one], 0), source)
    packed["token_ends"] = tf.gather(tf.concat([ends.flat_values, minus_one], 0), source)
    packed["example_index"] = tf.cast(example_index, tf.int32)
    return packed


def answer_token_positions(token_starts, token_ends, answer_start, answer_end, example_index):
    """Training labels: the start and end token position of the answer in each window.

    The tokens of an answer are the context tokens whose span overlaps its code
    points `[answer_start, answer_end)`, a run of consecutive tokens (a token
    only partly inside, such as "fourth" for the answer "four", is one of them;
    spaces around the answer are in no token). A window that holds all of them
    gets the positions of the first and the last; a window that misses any of
    them, and every window of an answer that overlaps no token (empty, or only
    spaces), gets `(0, 0)`: `[CLS]`, "not in this window".

    Whether a window holds all of them is decided from the window alone. Where
    the answer's first overlapping token is the window's first context token,
    the token before it (in the previous window) is taken not to overlap only
    if the answer starts at or after the first token's start, or the window is
    the example's first (likewise at the end). So an answer that starts (or
    ends) with spaces counts as held only by windows that also hold the token
    before (after) it: strip answers for an exact count.

    Args:
      token_starts, token_ends: int32 `[windows, seq]` from `pack_question_windows`.
      answer_start, answer_end: int `[batch]` code-point span of each example's
        answer in its context (`context[answer_start:answer_end]` in Python, on
        the text with invalid UTF-8 replaced).
      example_index: int `[windows]` from `pack_question_windows`.

    Returns:
      `(start_positions, end_positions)`, int32 `[windows]`; `start <= end`.
    """
    token_starts = tf.convert_to_tensor(token_starts, tf.int32)
    token_ends = tf.convert_to_tensor(token_ends, tf.int32)
    example_index = tf.convert_to_tensor(example_index, tf.int32)
    answer_start = tf.cast(answer_start, tf.int32)
    answer_end = tf.cast(answer_end, tf.int32)
    width = tf.shape(token_starts)[1]
    positions = tf.range(width)[None, :]
    begin = tf.gather(answer_start, example_index)[:, None]
    end = tf.gather(answer_end, example_index)[:, None]

    is_context = token_starts >= 0
    overlaps = is_context & (token_starts < end) & (token_ends > begin)
    first = tf.reduce_min(tf.where(overlaps, positions, width), axis=1)
    last = tf.reduce_max(tf.where(overlaps, positions, -1), axis=1)
    first_context = tf.reduce_min(tf.where(is_context, positions, width), axis=1)
    last_context = tf.reduce_max(tf.where(is_context, positions, -1), axis=1)

    def at(values, index):
        return tf.gather(values, tf.clip_by_value(index, 0, tf.maximum(width - 1, 0)),
                         batch_dims=1)

    # The example's first (last) window: its first (last) context token starts (ends) at
    # the example's smallest start (largest end).
    num_examples = tf.size(answer_start)
    window_begin = tf.where(last_context >= 0, at(token_starts, first_context), tf.int32.max)
    window_end = tf.where(last_context >= 0, at(token_ends, last_context), -1)
    is_first = window_begin <= tf.gather(
        tf.math.unsorted_segment_min(window_begin, example_index, num_examples), example_index)
    is_last = window_end >= tf.gather(
        tf.math.unsorted_segment_max(window_end, example_index, num_examples), example_index)
    # No token before `first` (after `last`) outside the window overlaps the answer.
    complete_left = (first > first_context) | (begin[:, 0] >= at(token_starts, first)) | is_first
    complete_right = (last < last_context) | (end[:, 0] <= at(token_ends, last)) | is_last
    held = (last >= 0) & complete_left & complete_right
    return tf.where(held, first, 0), tf.where(held, last, 0)
