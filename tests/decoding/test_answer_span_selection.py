"""`select_answer_spans` and `answer_text`: a hand-checked case, a brute-force Python reference on
random logits and windows, the empty cases, and the whole question-answering path (windows,
labels, selection, text) on a 20,000-character context inside a `tf.function` and a SavedModel
that uses only TF Serving's ops."""

import json

import numpy as np
import pytest
import tensorflow as tf

from bertlab.decoding import NEG_INF, answer_text, select_answer_spans
from bertlab.text import (BertTokenizer, answer_token_positions, pack_question_windows,
                          tokenize_with_offsets)


def reference_spans(start_logits, end_logits, token_starts, token_ends, example_index,
                    num_examples, max_answer_length, n_best):
    """Brute force: every (window, i, j) span, its code points and float32 score; per
    example the best score of each distinct span, best first (ties: smaller start, end)."""
    best = [dict() for _ in range(num_examples)]
    for w, example in enumerate(example_index):
        seq = len(start_logits[w])
        for i in range(seq):
            for j in range(seq):
                if (token_starts[w][i] < 0 or token_starts[w][j] < 0 or j < i
                        or j - i + 1 > max_answer_length):
                    continue
                span = (int(token_starts[w][i]), int(token_ends[w][j]))
                score = np.float32(start_logits[w][i]) + np.float32(end_logits[w][j])
                best[example][span] = max(score, best[example].get(span, -np.inf))
    out = []
    for spans in best:
        ranked = sorted(spans.items(), key=lambda item: (-item[1], item[0]))[:n_best]
        ranked += [((0, 0), np.float32(NEG_INF))] * (n_best - len(ranked))
        out.append([(s, e, float(score)) for (s, e), score in ranked])
    return out


def as_lists(spans, n_best):
    start, end, score = (t.numpy() for t in spans)
    if n_best == 1:
        start, end, score = start[:, None], end[:, None], score[:, None]
    return [[(int(s), int(e), float(c)) for s, e, c in zip(*row)]
            for row in zip(start, end, score)]


def test_hand_checked_window():
    # [CLS] q [SEP] t0 t1 [SEP] [PAD]; t0 = text[0:3], t1 = text[4:7].
    starts = tf.constant([[-1, -1, -1, 0, 4, -1, -1]])
    ends = tf.constant([[-1, -1, -1, 3, 7, -1, -1]])
    # [CLS], the question and padding have the largest logits, and (t1, t0) would score 8:
    # all of them are not spans.
    start_logits = tf.constant([[100.0, 50.0, 9.0, 1.0, 3.0, 9.0, 70.0]])
    end_logits = tf.constant([[100.0, 60.0, 9.0, 5.0, 0.0, 9.0, 80.0]])
    args = (start_logits, end_logits, starts, ends, tf.constant([0]), 1)
    spans = select_answer_spans(*args)
    assert [t.numpy().tolist() for t in spans] == [[0], [3], [6.0]]
    spans = select_answer_spans(*args, n_best=4)
    assert as_lists(spans, 4) == [[(0, 3, 6.0), (4, 7, 3.0), (0, 7, 1.0), (0, 0, NEG_INF)]]
    spans = select_answer_spans(*args, max_answer_length=1, n_best=3)
    assert as_lists(spans, 3) == [[(0, 3, 6.0), (4, 7, 3.0), (0, 0, NEG_INF)]]

    # Two windows of one example hold the span (4, 7): listed once, with its better score.
    both = [tf.concat([x, x], axis=0) for x in (start_logits, end_logits, starts, ends)]
    both[0] = tf.tensor_scatter_nd_update(both[0], [[1, 4]], [8.0])  # second window: 8 + 0
    spans = select_answer_spans(*both, tf.constant([0, 0]), 1, n_best=4)
    assert as_lists(spans, 4) == [[(4, 7, 8.0), (0, 3, 6.0), (0, 7, 1.0), (0, 0, NEG_INF)]]


def random_windows(rng, windows_per_example, seq):
    """Windows of random documents, as `pack_question_windows` lays them out (a question,
    overlapping context slices, padding), with some context positions masked to -1."""
    token_starts, token_ends, example_index = [], [], []
    for example, count in enumerate(windows_per_example):
        lengths = rng.integers(1, 4, size=80)
        gaps = rng.integers(0, 3, size=80)
        doc_starts = np.cumsum(gaps + np.concatenate([[0], lengths[:-1]]))
        doc_ends = doc_starts + lengths
        question = int(rng.integers(0, 4))
        room = seq - question - 3
        first = 0
        for k in range(count):
            length = int(rng.integers(0, room + 1))
            first = int(rng.integers(0, 80 - length + 1)) if k == 0 else min(
                first + int(rng.integers(1, room + 1)), 80 - length)
            row_starts = np.full(seq, -1)
            row_ends = np.full(seq, -1)
            row_starts[question + 2:question + 2 + length] = doc_starts[first:first + length]
            row_ends[question + 2:question + 2 + length] = doc_ends[first:first + length]
            masked = rng.random(seq) < 0.15
            row_starts[masked], row_ends[masked] = -1, -1
            token_starts.append(row_starts)
            token_ends.append(row_ends)
            example_index.append(example)
    return (np.array(token_starts, np.int32).reshape(-1, seq),
            np.array(token_ends, np.int32).reshape(-1, seq), np.array(example_index, np.int32))


@pytest.mark.parametrize("max_answer_length,n_best", [(30, 1), (3, 1), (1, 2), (4, 5)])
def test_matches_brute_force_reference(max_answer_length, n_best):
    rng = np.random.default_rng(max_answer_length * 10 + n_best)
    checked = 0
    for trial in range(4):
        seq = int(rng.integers(8, 24))
        counts = rng.integers(0, 5, size=6)
        counts[0] = 3
        starts, ends, example_index = random_windows(rng, counts, seq)
        # Rows in any order; an example with windows but no context token at all.
        order = rng.permutation(len(example_index))
        starts, ends, example_index = starts[order], ends[order], example_index[order]
        starts[example_index == 1] = ends[example_index == 1] = -1
        start_logits = rng.normal(size=starts.shape).astype("float32") * 3
        end_logits = rng.normal(size=starts.shape).astype("float32") * 3
        # Positions that are no tokens hold anything, also huge values.
        start_logits[starts < 0] = rng.choice([1e4, -1e4, 0.0], size=(starts < 0).sum())
        num_examples = len(counts) + 1  # the last example has no window
        spans = select_answer_spans(start_logits, end_logits, starts, ends, example_index,
                                    num_examples, max_answer_length, n_best)
        assert tuple(spans.start.shape) == ((num_examples,) if n_best == 1
                                            else (num_examples, n_best))
        got = as_lists(spans, n_best)
        expected = reference_spans(start_logits, end_logits, starts, ends, example_index,
                                   num_examples, max_answer_length, n_best)
        assert [[s[:2] for s in row] for row in got] == [[s[:2] for s in row] for row in expected]
        np.testing.assert_allclose([[s[2] for s in row] for row in got],
                                   [[s[2] for s in row] for row in expected], rtol=1e-6)
        for row in got:
            scores = [score for _, _, score in row]
            assert scores == sorted(scores, reverse=True)
            assert all(s < e for s, e, score in row if score > NEG_INF)
        assert got[1] == got[-1] == [(0, 0, NEG_INF)] * n_best
        checked += sum(score > NEG_INF for row in got for _, _, score in row)
    assert checked > 10


def test_max_answer_length_is_respected():
    starts = tf.constant([[-1, 0, 2, 4, 6, 8, 10, -1]])
    ends = starts + 1
    start_logits = tf.constant([[0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    end_logits = tf.constant([[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 10.0, 0.0]])
    # Within 4 tokens every end logit is 0: the tie goes to the span that ends first.
    for length, expected in ((6, (0, 11)), (5, (0, 9)), (4, (0, 1)), (1, (0, 1))):
        spans = select_answer_spans(start_logits, end_logits, starts, ends, tf.constant([0]), 1,
                                    max_answer_length=length)
        assert (int(spans.start[0]), int(spans.end[0])) == expected, length
    # All spans tie at 0: the ones that start first, and of those the ones that end first.
    spans = select_answer_spans(tf.zeros([1, 8]), tf.zeros([1, 8]), starts, ends,
                                tf.constant([0]), 1, max_answer_length=3, n_best=4)
    assert as_lists(spans, 4) == [[(0, 1, 0.0), (0, 3, 0.0), (0, 5, 0.0), (2, 3, 0.0)]]
    with pytest.raises(ValueError, match="max_answer_length"):
        select_answer_spans(start_logits, end_logits, starts, ends, tf.constant([0]), 1, 0)
    with pytest.raises(ValueError, match="n_best"):
        select_answer_spans(start_logits, end_logits, starts, ends, tf.constant([0]), 1, 5, 0)


def test_no_windows_and_no_examples():
    empty_f = tf.zeros([0, 0])
    empty_i = tf.zeros([0, 0], tf.int32)
    spans = select_answer_spans(empty_f, empty_f, empty_i, empty_i, tf.zeros([0], tf.int32), 2,
                                n_best=3)
    assert as_lists(spans, 3) == [[(0, 0, NEG_INF)] * 3] * 2
    spans = select_answer_spans(empty_f, empty_f, empty_i, empty_i, tf.zeros([0], tf.int32), 0)
    assert [tuple(t.shape) for t in spans] == [(0,), (0,), (0,)]
    assert answer_text(tf.constant([], tf.string), spans.start, spans.end).shape == (0,)


def test_answer_text_cuts_code_points():
    context = tf.constant(["北京是首都", "emoji 😀👍🏽 ok", "", b"ab\xffcd\xe4\xb8", "abc"])
    text = answer_text(context, tf.constant([2, 6, 0, 1, 2]), tf.constant([4, 9, 0, 4, 9]))
    # Invalid bytes are one U+FFFD each, as `bytes.decode("utf-8", "replace")`.
    assert [t.decode() for t in text.numpy()] == ["是首", "😀👍🏽", "", "b\ufffdc", "c"]
    assert b"ab\xffcd\xe4\xb8".decode("utf-8", "replace")[1:4] == "b\ufffdc"
    # Out-of-range and reversed spans are clipped; `[batch, n]` spans cut their row's context.
    text = answer_text(tf.constant(["abcdef", "xy"]), tf.constant([[-3, 4], [5, 1]]),
                       tf.constant([[2, 2], [9, 9]]))
    assert text.numpy().tolist() == [[b"ab", b""], [b"", b"y"]]


@pytest.fixture(scope="module")
def uncased(minilm_dir):
    return BertTokenizer(f"{minilm_dir}/vocab.txt", lowercase=True)


@pytest.fixture(scope="module")
def corpus(data_dir):
    """SQuAD and CMRC 2018 paragraphs with accents, full-width characters, emoji and runs of
    spaces between them: over 200,000 characters."""
    squad = json.loads((data_dir / "squad_v1.1" / "validation.json").read_text("utf-8"))
    cmrc = json.loads((data_dir / "cmrc2018" / "train.json").read_text("utf-8"))
    english = [p["context"] for a in squad["data"] for p in a["paragraphs"]][:400]
    chinese = [p["context"] for a in cmrc["data"] for p in a["paragraphs"]][:400]
    extras = ["Crème brûlée ＡＢＣ（テスト） 😀👍🏽   three   spaces"] * 400
    text = "\n\n".join(p for triple in zip(english, chinese, extras) for p in triple)
    assert len(text) > 200_000
    return text


@pytest.fixture(scope="module")
def long_context(corpus):
    return corpus[:20_000]


def qa_pipeline(tokenizer, sequence_length=384, max_query_length=64, doc_stride=128):
    """question, context, answer span -> the answers chosen from one-hot logits at the
    labels of `answer_token_positions`: everything the exported model does but the encoder."""

    def run(question, context, answer_start, answer_end):
        windows = pack_question_windows(tokenizer, question, context, sequence_length,
                                        max_query_length, doc_stride)
        first, last = answer_token_positions(windows["token_starts"], windows["token_ends"],
                                             answer_start, answer_end, windows["example_index"])
        width = tf.shape(windows["token_ids"])[1]
        start_logits = 10.0 * tf.one_hot(first, width)
        end_logits = 10.0 * tf.one_hot(last, width)
        spans = select_answer_spans(start_logits, end_logits, windows["token_starts"],
                                    windows["token_ends"], windows["example_index"],
                                    tf.size(context))
        return {"answer": answer_text(context, spans.start, spans.end), "score": spans.score,
                "start": spans.start, "end": spans.end, "first": first, "last": last,
                "example_index": windows["example_index"],
                "token_starts": windows["token_starts"], "token_ends": windows["token_ends"]}

    text, offsets = tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.int32)
    return tf.function(run, input_signature=[text, text, offsets, offsets])


def test_answer_in_the_last_window_of_a_long_context(uncased, long_context):
    _, starts, ends = (t.to_list()[0] for t in tokenize_with_offsets(
        uncased, tf.constant([long_context])))
    # The last 5 tokens: only the last window holds the very last token.
    begin, end = starts[-5], ends[-1]
    answer = long_context[begin:end]
    contexts = [long_context, long_context[:500], "", "short context", long_context]
    questions = ["What comes last?", "", "Empty context?", "", "What is in the middle?"]
    middle = len(starts) // 2
    answers = [(begin, end), (starts[3], ends[5]), (0, 0), (0, 0),
               (starts[middle], ends[middle + 2])]
    run = qa_pipeline(uncased)
    args = (tf.constant(questions), tf.constant(contexts),
            tf.constant([a for a, _ in answers]), tf.constant([b for _, b in answers]))
    out = {k: v.numpy() for k, v in run(*args).items()}

    windows = np.flatnonzero(out["example_index"] == 0)
    assert len(windows) > 20
    labelled = windows[out["first"][windows] > 0]
    assert labelled.tolist() == [windows[-1]]  # the last window, and only it
    w, first, last = windows[-1], out["first"][windows[-1]], out["last"][windows[-1]]
    assert (out["token_starts"][w, first], out["token_ends"][w, last]) == (begin, end)
    assert out["token_ends"][w, last + 1] == -1  # the answer ends the window's context

    texts = [t.decode() for t in out["answer"]]
    assert texts[0] == answer and (out["start"][0], out["end"][0]) == (begin, end)
    assert texts[1] == contexts[1][answers[1][0]:answers[1][1]]
    assert texts[4] == long_context[answers[4][0]:answers[4][1]]
    np.testing.assert_allclose(out["score"][[0, 1, 4]], 20.0)
    assert (texts[2], out["start"][2], out["end"][2], out["score"][2]) == ("", 0, 0, NEG_INF)
    # An empty answer: the label (0, 0), all logits 0; of the spans that tie at 0, the one
    # that starts, then ends, first.
    assert (texts[3], out["start"][3], out["end"][3], out["score"][3]) == ("short", 0, 5, 0.0)

    # Every row alone gives the answer it gets in the batch.
    for k in range(len(contexts)):
        one = run(*(a[k:k + 1] for a in args))
        assert one["answer"].numpy().tolist() == [out["answer"][k]], k


def test_windows_grow_linearly_with_the_context(uncased, corpus):
    # Structure, not time (speed is measured in benchmarks/qa_inference.py): 10x the text
    # gives about 10x the windows, and the last token of each text is still answered.
    run = qa_pipeline(uncased)
    windows = {}
    for length in (20_000, 200_000):
        text = corpus[:length]
        _, starts, ends = (t.to_list()[0] for t in tokenize_with_offsets(
            uncased, tf.constant([text])))
        out = run(tf.constant(["Which?"]), tf.constant([text]), tf.constant([starts[-1]]),
                  tf.constant([ends[-1]]))
        windows[length] = int(tf.size(out["example_index"]))
        assert out["answer"].numpy()[0].decode("utf-8") == text[starts[-1]:ends[-1]]
    assert 9 * windows[20_000] <= windows[200_000] <= 11 * windows[20_000], windows


def test_saved_model_uses_only_tf_serving_ops(uncased, tmp_path):
    from bertlab.export.custom_ops import check_tf_serving_ops

    run = qa_pipeline(uncased, sequence_length=32, max_query_length=8, doc_stride=8)
    module = tf.Module()
    module.tokenizer = uncased
    module.answer = tf.function(
        lambda question, context: {k: v for k, v in run(
            question, context, tf.zeros_like(tf.strings.length(context)),
            tf.strings.length(context, unit="UTF8_CHAR")).items()
            if k in ("answer", "score", "start", "end")},
        input_signature=[tf.TensorSpec([None], tf.string)] * 2)
    tf.saved_model.save(module, str(tmp_path), signatures=module.answer)
    used = check_tf_serving_ops(str(tmp_path))
    assert "FastWordpieceTokenizeWithOffsets" in used, used

    serve = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    contexts = ["The quick brown fox jumps over the lazy dog. " * 4, "", "北京是首都。"]
    out = serve(question=tf.constant(["", "Why?", "哪里？"]), context=tf.constant(contexts))
    texts = [t.decode() for t in out["answer"].numpy()]
    # The whole context is the answer: held by a window only where the context fits in one.
    for text, context, start, end in zip(texts, contexts, out["start"].numpy(),
                                         out["end"].numpy()):
        assert text == context[start:end]
    assert texts[1] == "" and out["score"].numpy()[1] == NEG_INF
    assert texts[2] == "北京是首都。"
    empty = serve(question=tf.constant([], tf.string), context=tf.constant([], tf.string))
    assert {k: tuple(v.shape) for k, v in empty.items()} == {
        "answer": (0,), "score": (0,), "start": (0,), "end": (0,)}
