"""`pack_question_windows` and `answer_token_positions`: window layout against google's
`run_squad.py` loop, exact ids on a toy vocabulary, offsets that map every context token back
to its characters (several scripts), training labels against a whole-context reference, and
the empty cases."""

import random

import numpy as np
import pytest
import tensorflow as tf

from bertlab.text import (BertTokenizer, answer_token_positions, pack_question_windows,
                          tokenize_with_offsets)
from tests.text.test_offset_tokenization import bert_normalize

WORDS = ["a", "b", "c", "d", "e", "f", "g", "h", "who", "what", "is"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + WORDS
CLS, SEP = 2, 3
CLS_ID, SEP_ID = 101, 102  # MiniLM's
ID = {w: i for i, w in enumerate(VOCAB)}


@pytest.fixture(scope="module")
def toy():
    return BertTokenizer(VOCAB)


@pytest.fixture(scope="module")
def uncased(minilm_dir):
    return BertTokenizer(f"{minilm_dir}/vocab.txt", lowercase=True)


def google_windows(question_tokens, context_tokens, sequence_length, max_query_length,
                   doc_stride):
    """google-research/bert `run_squad.py` (`convert_examples_to_features`), verbatim in
    spirit: `[(slice_start, slice_length)]` of the context tokens, plus our one rule that an
    empty context still gives one window."""
    query = question_tokens[:max_query_length]
    max_tokens_for_doc = sequence_length - len(query) - 3
    spans, start_offset = [], 0
    while start_offset < len(context_tokens):
        length = min(len(context_tokens) - start_offset, max_tokens_for_doc)
        spans.append((start_offset, length))
        if start_offset + length == len(context_tokens):
            break
        start_offset += min(length, doc_stride)
    return query, spans or [(0, 0)]


def expected_windows(questions, contexts, sequence_length, max_query_length, doc_stride):
    """Rows `(token_ids, segment_ids, token_starts, token_ends, example)` for one-token words
    separated by single or double spaces: ids and offsets computed by hand in Python."""
    rows = []
    for example, (question, context) in enumerate(zip(questions, contexts)):
        words, offsets, position = [], [], 0
        for word in context.split(" "):
            if word:
                words.append(word)
                offsets.append((position, position + len(word)))
            position += len(word) + 1
        query, spans = google_windows(question.split(), words, sequence_length,
                                      max_query_length, doc_stride)
        for start, length in spans:
            ids = [CLS] + [ID[w] for w in query] + [SEP] + [
                ID[w] for w in words[start:start + length]] + [SEP]
            segments = [0] * (len(query) + 2) + [1] * (length + 1)
            pad = [-1] * (len(query) + 2)
            starts = pad + [s for s, _ in offsets[start:start + length]] + [-1]
            ends = pad + [e for _, e in offsets[start:start + length]] + [-1]
            rows.append((ids, segments, starts, ends, example))
    return rows


def as_rows(windows):
    """The packed windows back as rows without padding (checking the padding on the way)."""
    out = {k: v.numpy() for k, v in windows.items()}
    rows = []
    for w, mask in enumerate(out["padding_mask"]):
        n = int(mask.sum())
        assert mask.tolist() == [1] * n + [0] * (len(mask) - n)
        assert out["token_ids"][w, n:].tolist() == [0] * (len(mask) - n)
        assert out["segment_ids"][w, n:].tolist() == [0] * (len(mask) - n)
        assert out["token_starts"][w, n:].tolist() == [-1] * (len(mask) - n)
        assert out["token_ends"][w, n:].tolist() == [-1] * (len(mask) - n)
        rows.append(tuple(out[k][w, :n].tolist() for k in (
            "token_ids", "segment_ids", "token_starts", "token_ends")) +
            (int(out["example_index"][w]),))
    return rows


def test_window_layout_by_hand(toy):
    # Question "who is" (2 tokens), sequence_length 10: 5 context tokens a window, starts 3 apart.
    windows = pack_question_windows(toy, tf.constant(["who is", "what"]),
                                    tf.constant(["a b c d e f g h", "a  b"]),
                                    sequence_length=10, max_query_length=4, doc_stride=3)
    who, is_, what = ID["who"], ID["is"], ID["what"]
    a, b, c, d, e, f, g, h = (ID[x] for x in "abcdefgh")
    assert windows["token_ids"].numpy().tolist() == [
        [CLS, who, is_, SEP, a, b, c, d, e, SEP],
        [CLS, who, is_, SEP, d, e, f, g, h, SEP],  # reaches the end: the last window
        [CLS, what, SEP, a, b, SEP, 0, 0, 0, 0]]
    assert windows["segment_ids"].numpy().tolist() == [
        [0, 0, 0, 0, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
        [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]]
    assert windows["padding_mask"].numpy().tolist()[2] == [1] * 6 + [0] * 4
    assert windows["token_starts"].numpy().tolist() == [
        [-1, -1, -1, -1, 0, 2, 4, 6, 8, -1], [-1, -1, -1, -1, 6, 8, 10, 12, 14, -1],
        [-1, -1, -1, 0, 3, -1, -1, -1, -1, -1]]  # two spaces before "b"
    assert windows["token_ends"].numpy().tolist()[1] == [-1, -1, -1, -1, 7, 9, 11, 13, 15, -1]
    assert windows["example_index"].numpy().tolist() == [0, 0, 1]
    assert all(v.dtype == tf.int32 for v in windows.values())

    # One token more: a third window, shorter, ending at the last token (google's rule).
    windows = pack_question_windows(toy, tf.constant(["who is"]),
                                    tf.constant(["a b c d e f g h a"]), 10, 4, 3)
    assert windows["token_ids"].numpy().tolist()[2] == [CLS, who, is_, SEP, g, h, a, SEP, 0, 0]
    # A stride above the room (5) acts as the room: windows touch, none overlap or skip.
    windows = pack_question_windows(toy, tf.constant(["who is"]),
                                    tf.constant(["a b c d e f g h"]), 10, 4, 100)
    assert windows["token_ids"].numpy().tolist() == [
        [CLS, who, is_, SEP, a, b, c, d, e, SEP], [CLS, who, is_, SEP, f, g, h, SEP, 0, 0]]


def test_question_truncation_gives_the_context_more_room(toy):
    windows = pack_question_windows(toy, tf.constant(["who is a b c d"]),
                                    tf.constant(["a b c d e f g h"]), sequence_length=10,
                                    max_query_length=3, doc_stride=2, pad_to_longest=False)
    # 3 question tokens kept: 4 context tokens a window.
    rows = as_rows(windows)
    assert [r[0] for r in rows] == [
        [CLS, ID["who"], ID["is"], ID["a"], SEP] + [ID[x] for x in "abcd"] + [SEP],
        [CLS, ID["who"], ID["is"], ID["a"], SEP] + [ID[x] for x in "cdef"] + [SEP],
        [CLS, ID["who"], ID["is"], ID["a"], SEP] + [ID[x] for x in "efgh"] + [SEP]]
    assert windows["token_ids"].shape == (3, 10)


@pytest.mark.parametrize("sequence_length,max_query_length,doc_stride",
                         [(12, 4, 3), (9, 3, 1), (16, 5, 7), (20, 64 - 48, 128)])
def test_layout_matches_google_run_squad(toy, sequence_length, max_query_length, doc_stride):
    rng = random.Random(sequence_length * 100 + doc_stride)
    questions, contexts = [], []
    for _ in range(40):
        questions.append(" ".join(rng.choices(WORDS, k=rng.randint(0, 7))))
        words = rng.choices(WORDS, k=rng.choice([0, 1, 3, 8, rng.randint(0, 60)]))
        contexts.append("".join(w + rng.choice([" ", "  "]) for w in words))
    windows = pack_question_windows(toy, tf.constant(questions), tf.constant(contexts),
                                    sequence_length, max_query_length, doc_stride,
                                    pad_to_longest=False)
    expected = expected_windows(questions, contexts, sequence_length, max_query_length,
                                doc_stride)
    assert as_rows(windows) == expected
    assert windows["token_ids"].shape[1] == sequence_length
    assert max(len(r[0]) for r in expected) <= sequence_length


def test_bad_arguments(toy):
    q, c = tf.constant(["who"]), tf.constant(["a"])
    with pytest.raises(ValueError, match="sequence_length"):
        pack_question_windows(toy, q, c, sequence_length=67)  # max_query_length 64
    with pytest.raises(ValueError, match="doc_stride"):
        pack_question_windows(toy, q, c, 16, max_query_length=4, doc_stride=0)
    with pytest.raises(ValueError, match="max_query_length"):
        pack_question_windows(toy, q, c, 16, max_query_length=-1)
    with pytest.raises(ValueError, match="context"):
        pack_question_windows(toy, q, tf.constant([["a"]]), 16, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="batch size"):
        pack_question_windows(toy, q, tf.constant(["a", "b"]), 16, 4)


MIXED_CONTEXTS = [
    "Crème brûlée at the Café Ñandú costs $3,000.50 — naïve Ångström.",
    "北京是中华人民共和国的首都，位于华北平原。2008年举办了奥运会。",
    "ＡＢＣ１２３！ ｆｕｌｌ（テスト）　全角文字",
    "emoji 😀👍🏽 here 👨\u200d👩\u200d👧 and 🇫🇷 flags",
    "multiple    spaces\t\tand\n\nnew lines   end   ",
    "He\u0301llo cafe\u0301s zero\u200bwidth",
]


def test_offsets_round_trip_in_every_window(uncased):
    questions = ["What is it?", "", "全角", "😀?", "how  many spaces", "x"]
    windows = pack_question_windows(uncased, tf.constant(questions),
                                    tf.constant(MIXED_CONTEXTS), sequence_length=16,
                                    max_query_length=5, doc_stride=4)
    ids, starts, ends = (t.to_list() for t in tokenize_with_offsets(
        uncased, tf.constant(MIXED_CONTEXTS)))
    checked = 0
    seen = [dict() for _ in MIXED_CONTEXTS]  # context token index -> (id, start, end)
    for token_ids, segments, token_starts, token_ends, example in as_rows(windows):
        context = MIXED_CONTEXTS[example]
        question = uncased(tf.constant([questions[example]])).to_list()[0][:5]
        assert token_ids[:len(question) + 2] == [CLS_ID, *question, SEP_ID]
        assert token_ids[-1] == SEP_ID and segments[-1] == 1
        body = range(len(question) + 2, len(token_ids) - 1)
        assert segments == [0] * (len(question) + 2) + [1] * (len(body) + 1)
        for p in body:
            token, s, e = uncased.id_to_token(token_ids[p]), token_starts[p], token_ends[p]
            assert 0 <= s < e <= len(context)
            if token != "[UNK]":
                assert bert_normalize(context[s:e], True) == token.removeprefix("##"), (
                    token, context[s:e])
            k = ids[example].index(token_ids[p], starts[example].index(s))
            seen[example][k] = (token_ids[p], s, e)
            checked += 1
    # Together the windows hold every context token, with its whole-context offsets.
    for example in range(len(MIXED_CONTEXTS)):
        assert [seen[example][k] for k in sorted(seen[example])] == list(
            zip(ids[example], starts[example], ends[example]))
    assert checked > sum(map(len, ids))  # windows overlap


def reference_labels(windows, token_starts, token_ends, answers):
    """Whole-context reference: the answer's tokens are the context tokens overlapping it;
    a window gets their positions only if its slice holds all of them."""
    labels = []
    rows = as_rows(windows)
    for w, (ids, segments, starts, ends, example) in enumerate(rows):
        begin, end = answers[example]
        tokens = [k for k, (s, e) in enumerate(zip(token_starts[example], token_ends[example]))
                  if s < end and e > begin]
        body = [p for p, s in enumerate(starts) if s >= 0]
        # The window's slice, as whole-context token indices.
        first = token_starts[example].index(starts[body[0]]) if body else 0
        held = [first + i for i in range(len(body))]
        if tokens and tokens[0] in held and tokens[-1] in held:
            labels.append((body[0] + tokens[0] - first, body[0] + tokens[-1] - first))
        else:
            labels.append((0, 0))
    return labels


@pytest.fixture(scope="module")
def squad_context(data_dir):
    import json

    articles = json.loads((data_dir / "squad_v1.1" / "validation.json").read_text("utf-8"))
    return " ".join(p["context"] for p in articles["data"][0]["paragraphs"][:3])


def test_answer_labels_match_the_whole_context_reference(uncased, squad_context):
    contexts = [squad_context, MIXED_CONTEXTS[1] * 3, MIXED_CONTEXTS[0]]
    ids, starts, ends = (t.to_list() for t in tokenize_with_offsets(
        uncased, tf.constant(contexts)))
    # (The reference finds a window's slice by the start of its first token.)
    assert all(len(set(row)) == len(row) for row in starts)
    rng = random.Random(5)
    for trial in range(12):
        answers = []
        for row_starts, row_ends in zip(starts, ends):
            i = rng.randrange(len(row_starts))
            j = min(len(row_starts) - 1, i + rng.randint(0, 14))
            begin = rng.randrange(row_starts[i], row_ends[i])  # may cut into a token
            end = rng.randrange(max(row_starts[j], begin) + 1, row_ends[j] + 1)
            answers.append((begin, end))
        windows = pack_question_windows(uncased, tf.constant(["q"] * 3), tf.constant(contexts),
                                        sequence_length=40, max_query_length=4,
                                        doc_stride=rng.choice([8, 15, 35]))
        begin, end = (tf.constant(x, tf.int32) for x in zip(*answers))
        start_positions, end_positions = answer_token_positions(
            windows["token_starts"], windows["token_ends"], begin, end,
            windows["example_index"])
        got = list(zip(start_positions.numpy().tolist(), end_positions.numpy().tolist()))
        assert got == reference_labels(windows, starts, ends, answers), (trial, answers)
        assert sum(s > 0 for s, _ in got) >= 1


def test_answer_labels_by_hand(toy):
    # Windows of "a b c d e f g h" (starts 0 2 4 6 8 ...): tokens a..e at 4-8, d..h at 4-8.
    windows = pack_question_windows(toy, tf.constant(["who is"] * 6),
                                    tf.constant(["a b c d e f g h"] * 6), 10, 4, 3)
    answers = [(2, 5),    # "b c": first window only
               (6, 9),    # "d e": both
               (9, 15),   # " f g h": a leading space, last window
               (12, 16),  # "g h" (end past the text): last window
               (7, 7),    # empty: no window
               (3, 4)]    # only a space: no window
    begin, end = (tf.constant(x) for x in zip(*answers))
    start_positions, end_positions = answer_token_positions(
        windows["token_starts"], windows["token_ends"], begin, end, windows["example_index"])
    assert windows["example_index"].numpy().tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert list(zip(start_positions.numpy().tolist(), end_positions.numpy().tolist())) == [
        (5, 6), (0, 0), (7, 8), (4, 5), (0, 0), (6, 8), (0, 0), (7, 8),
        (0, 0), (0, 0), (0, 0), (0, 0)]
    # A leading space before the window's first token: not counted as held by that window
    # (documented); " d" is held by the first window, which also holds the token before it.
    windows = pack_question_windows(toy, tf.constant(["who is"]),
                                    tf.constant(["a b c d e f g h"]), 10, 4, 3)
    start_positions, end_positions = answer_token_positions(
        windows["token_starts"], windows["token_ends"], tf.constant([5]), tf.constant([7]),
        windows["example_index"])
    assert start_positions.numpy().tolist() == [7, 0] and end_positions.numpy().tolist() == [7, 0]
    # ... but nothing comes before the first window: spaces that open the context are fine.
    windows = pack_question_windows(toy, tf.constant(["who is"]),
                                    tf.constant(["  a b c d e f g h"]), 10, 4, 3)
    start_positions, end_positions = answer_token_positions(
        windows["token_starts"], windows["token_ends"], tf.constant([0]), tf.constant([5]),
        windows["example_index"])
    assert start_positions.numpy().tolist() == [4, 0] and end_positions.numpy().tolist() == [5, 0]


def test_empty_question_context_and_batch(toy):
    windows = pack_question_windows(toy, tf.constant(["", "who", "", "who"]),
                                    tf.constant(["a", "", "", " \u200b "]), 10, 4, 3)
    assert windows["token_ids"].numpy().tolist() == [
        [CLS, SEP, ID["a"], SEP], [CLS, ID["who"], SEP, SEP], [CLS, SEP, SEP, 0],
        [CLS, ID["who"], SEP, SEP]]
    assert windows["token_starts"].numpy().tolist() == [[-1, -1, 0, -1]] + [[-1] * 4] * 3
    assert windows["example_index"].numpy().tolist() == [0, 1, 2, 3]
    positions = answer_token_positions(windows["token_starts"], windows["token_ends"],
                                       tf.constant([0, 0, 0, 0]), tf.constant([1, 0, 0, 2]),
                                       windows["example_index"])
    assert [p.numpy().tolist() for p in positions] == [[2, 0, 0, 0], [2, 0, 0, 0]]

    empty = tf.constant([], tf.string)
    for pad_to_longest, width in ((True, 0), (False, 10)):
        windows = pack_question_windows(toy, empty, empty, 10, 4, 3, pad_to_longest)
        assert {k: tuple(v.shape) for k, v in windows.items()} == {
            **{k: (0, width) for k in ("token_ids", "segment_ids", "padding_mask",
                                       "token_starts", "token_ends")}, "example_index": (0,)}
    positions = answer_token_positions(windows["token_starts"], windows["token_ends"],
                                       tf.constant([], tf.int32), tf.constant([], tf.int32),
                                       windows["example_index"])
    assert [tuple(p.shape) for p in positions] == [(0,), (0,)]


def test_tf_function_with_unknown_batch(uncased):
    spec = tf.TensorSpec([None], tf.string)

    offsets = tf.TensorSpec([None], tf.int32)

    @tf.function(input_signature=[spec, spec, offsets, offsets])
    def pack_and_label(question, context, begin, end):
        windows = pack_question_windows(uncased, question, context, 24, 6, 5)
        windows["start_positions"], windows["end_positions"] = answer_token_positions(
            windows["token_starts"], windows["token_ends"], begin, end,
            windows["example_index"])
        return windows

    questions = ["Which city?", "", "多少？", "emoji", "spaces", "q"]
    begin, end = [0, 3, 0, 6, 0, 0], [9, 7, 2, 8, 9, 0]
    args = (tf.constant(questions), tf.constant(MIXED_CONTEXTS), tf.constant(begin),
            tf.constant(end))
    graph = {k: v.numpy() for k, v in pack_and_label(*args).items()}
    eager = {k: v.numpy() for k, v in pack_and_label.python_function(*args).items()}
    assert graph.keys() == eager.keys()
    for key in graph:
        np.testing.assert_array_equal(graph[key], eager[key], err_msg=key)
    assert len(set(graph["example_index"].tolist())) == 6 and len(graph["example_index"]) > 6
    # One row alone gives the same windows as inside the batch.
    for k in (1, 3):
        one = pack_and_label(*(a[k:k + 1] for a in args))
        rows = graph["example_index"] == k
        width = int(graph["padding_mask"][rows].sum(axis=1).max())
        np.testing.assert_array_equal(one["token_starts"].numpy()[:, :width],
                                      graph["token_starts"][rows][:, :width])
        np.testing.assert_array_equal(one["start_positions"].numpy(),
                                      graph["start_positions"][rows])
