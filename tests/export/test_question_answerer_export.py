"""The question-answerer SavedModel (`export_question_answerer`), checked in one fresh process
that imports only tensorflow and tensorflow_text: signatures and dtypes; answers equal to
`context[start:end]` in Python for accents, Chinese, full-width, emoji, runs of spaces and
invalid UTF-8; the same spans as the Keras model with an independent (numpy) span search;
a 20,000-character context answered from its last window; empty questions, contexts and
batches; the TF Serving op check and warm-up requests.

The model is a tiny `BertQuestionAnswerer` (1 layer, width 32, MiniLM's vocabulary) rigged
so that the token "zebra" gets start and end logits far above every other token's (its
embedding lies along a direction no other embedding has, and the span layer reads that
direction): wherever "zebra" is in a context, the answer must be exactly the characters it
came from. Elsewhere the span layer is random, so other answers are checked against the
Keras model."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from bertlab.export import export_question_answerer
from bertlab.export.custom_ops import check_tf_serving_ops
from bertlab.export.warmup import read_warmup_requests, write_default_warmup_requests
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.bert_question_answerer import BertQuestionAnswerer
from bertlab.text import BertPreprocessor
from bertlab.text.question_context_windows import pack_question_windows

SEQUENCE_LENGTH, MAX_QUERY_LENGTH, DOC_STRIDE, MAX_ANSWER_LENGTH = 32, 8, 8, 5
NO_ANSWER_SCORE = -1e9

_rng = np.random.default_rng(7)
_WORDS = ["the", "river", "café", "north", "stone", "北京", "ｗａｓ", "garden", "😀", "old"]
# About 20,000 characters each (~4,000 tokens, ~500 windows of 32): one with "zebra" only
# near its end, one without it (its answer comes from the random span layer).
LONG_ZEBRA = " ".join(_rng.choice(_WORDS[:5], 4000)) + " a zebra " + "north stone " * 3
LONG_RANDOM = " ".join(_rng.choice(_WORDS, 5000))[:20000]
assert len(LONG_ZEBRA) > 20000 and len(LONG_RANDOM) == 20000 and "zebra" not in LONG_RANDOM

BAD_CONTEXT = (b"caf\xc3 bad \xff\xfe bytes \xe2\x82 and \xf0\x9f\x98 \xed\xa0\x80 \xc0\xaf "
               b"the zebra \xff end")
assert BAD_CONTEXT.decode("utf-8", "replace").count("\ufffd") == 11

# (question, context, expected): expected is "zebra-like" text the answer must be exactly
# (its start = the context's only occurrence of it), "" for no answer, or None (random: the
# Keras model and a numpy span search decide).
ROWS = [
    ("Who wrote it?", "It was written by Ann.", None),
    ("Où est le zèbre ?", "À côté de l'église, près du café « Crème », vit un Zébra très âgé.",
     "Zébra"),
    ("北京在哪里？", "北京是中华人民共和国的首都，位于华北平原。", None),
    ("斑马在哪里？", "北京动物园里有一只zebra，它很可爱。", "zebra"),
    ("ＡＢＣ是什么？", "ＡＢＣ　ｃｏｍｐａｎｙ（全角）ｗａｓ ｆｏｕｎｄｅｄ in １９９９．", None),
    ("what is 😀?", "the smile 😀 means joy 🎉 and 👍🏽 a ZEBRA 🦓 here", "ZEBRA"),
    ("  where   is  it ", "  the   stone    lies\tnear \n the   river   ", None),
    ("  where  is  the\tzebra ", "  the   stone    lies\tnear \n  the  zebra   river  ", "zebra"),
    ("where is the zebra?", LONG_ZEBRA, "zebra"),
    ("which river?", LONG_RANDOM, None),
    ("", "an empty question about a zebra", ""),
    (" \t\n ", "a blank question about a zebra", ""),
    ("what?", "", ""),
    ("what?", "  \t\n \u200b  ", ""),
    (b"wh\xffat is it?", BAD_CONTEXT, "zebra"),
    (b"\xc3\xa9t\xe9 ?", b"\xff\xfe le caf\xc3\xa9 \xe2\x82 ferm\xc3 \xf0\x9f\x98 hier", None),
]


def _as_bytes(x):
    return x.encode("utf-8") if isinstance(x, str) else x


def _as_text(x):
    return x if isinstance(x, str) else x.decode("utf-8", "replace")


def _rigged_model(tokenizer):
    """A `BertQuestionAnswerer` whose span logits favour the token "zebra" by ~50."""
    tf.keras.utils.set_random_seed(3)
    encoder = BertEncoder(vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                          hidden_dim=32, num_heads=2, intermediate_dim=64,
                          max_sequence_length=64, dropout=0.0)
    model = BertQuestionAnswerer(encoder, dropout=0.0)
    rng = np.random.default_rng(0)
    direction = rng.normal(size=32)
    direction -= direction.mean()  # zero mean: LayerNorm's centring keeps it apart
    direction /= np.linalg.norm(direction)

    def without(table):
        return (table - (table @ direction)[..., None] * direction).astype("float32")

    embeddings = encoder.embeddings
    tokens = without(embeddings.token_embedding.embeddings.numpy())
    tokens[tokenizer.token_to_id("zebra")] = direction
    embeddings.token_embedding.embeddings.assign(tokens)
    embeddings.segment_embedding.embeddings.assign(
        without(embeddings.segment_embedding.embeddings.numpy()))
    (positions,) = embeddings.position_embedding.weights
    positions.assign(without(positions.numpy()))
    kernel, bias = model.span_layer.get_weights()
    kernel = rng.normal(size=kernel.shape) * 0.5 + 10.0 * direction[:, None]
    model.span_layer.set_weights([kernel.astype("float32"), bias])
    return model


def _windows(tokenizer, rows):
    return pack_question_windows(
        tokenizer, tf.constant([_as_bytes(q) for q, _, _ in rows]),
        tf.constant([_as_bytes(c) for _, c, _ in rows]), SEQUENCE_LENGTH, MAX_QUERY_LENGTH,
        DOC_STRIDE)


def _features(windows):
    return {k: windows[k] for k in ("token_ids", "segment_ids", "padding_mask")}


def reference_spans(start_logits, end_logits, token_starts, token_ends, example_index,
                    num_examples):
    """The best span of each example by brute force: every (window, i <= j < i + max) on
    context tokens; `(score, start, end, window)` or None."""
    best = [None] * num_examples
    for w, example in enumerate(example_index):
        context = np.flatnonzero(token_starts[w] >= 0)
        for i in context:
            for j in context[(context >= i) & (context < i + MAX_ANSWER_LENGTH)]:
                score = float(start_logits[w, i] + end_logits[w, j])
                if best[example] is None or score > best[example][0]:
                    best[example] = (score, int(token_starts[w, i]), int(token_ends[w, j]), w)
    return best


@pytest.fixture(scope="module")
def exported(tmp_path_factory, minilm_dir):
    base = tmp_path_factory.mktemp("qa_export")
    tokenizer = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=SEQUENCE_LENGTH,
                                                 pad_to_longest=True).tokenizer
    assert tokenizer(tf.constant(["zebra"])).to_list() == [[tokenizer.token_to_id("zebra")]]
    model = _rigged_model(tokenizer)
    path = str(base / "1")
    policies = export_question_answerer(model, tokenizer, path, SEQUENCE_LENGTH,
                                        MAX_QUERY_LENGTH, DOC_STRIDE, MAX_ANSWER_LENGTH)
    warmup = write_default_warmup_requests(path)
    return dict(path=path, base=base, model=model, tokenizer=tokenizer, policies=policies,
                warmup=warmup)


@pytest.fixture(scope="module")
def reference(exported):
    """The Keras model on the same windows, and a numpy search for the best span."""
    windows = _windows(exported["tokenizer"], ROWS)
    outputs = exported["model"](_features(windows))
    start_logits, end_logits = (outputs[k].numpy() for k in ("start_logits", "end_logits"))
    example_index = windows["example_index"].numpy()
    spans = reference_spans(start_logits, end_logits, windows["token_starts"].numpy(),
                            windows["token_ends"].numpy(), example_index, len(ROWS))
    return dict(windows=windows, spans=spans, example_index=example_index,
                start_logits=start_logits, end_logits=end_logits)


SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    loaded = tf.saved_model.load(sys.argv[1])
    with open(sys.argv[2]) as f:
        inputs = json.load(f)
    out = {"modules": sorted(m for m in sys.modules if m.split(".")[0] in ("bertlab", "keras_hub"))}
    out["signatures"] = sorted(loaded.signatures)
    spec = {}
    for name, function in loaded.signatures.items():
        spec[name] = {
            "inputs": {k: [v.dtype.name, v.shape.as_list()]
                       for k, v in function.structured_input_signature[1].items()},
            "outputs": {k: [v.dtype.name, v.shape.as_list()]
                        for k, v in function.structured_outputs.items()}}
    out["spec"] = spec
    serve = loaded.signatures["serving_default"]

    def answer(questions, contexts):
        r = serve(question=tf.constant(questions, tf.string),
                  context=tf.constant(contexts, tf.string))
        return {"answer": [a.hex() for a in r["answer"].numpy()],
                "score": r["score"].numpy().tolist(), "start": r["start"].numpy().tolist(),
                "end": r["end"].numpy().tolist(),
                "dtypes": {k: v.dtype.name for k, v in r.items()},
                "shapes": {k: v.shape.as_list() for k, v in r.items()}}

    questions = [bytes.fromhex(x) for x in inputs["questions"]]
    contexts = [bytes.fromhex(x) for x in inputs["contexts"]]
    out["batch"] = answer(questions, contexts)
    out["alone"] = [answer([q], [c]) for q, c in zip(questions, contexts)]
    out["empty_batch"] = answer([], [])
    try:
        answer(questions[:2], contexts[:1])
        out["mismatch"] = "no error"
    except Exception as e:  # noqa: BLE001
        out["mismatch"] = type(e).__name__ + ": " + str(e)[:2000]
    ids = {k: tf.constant(v, tf.int32) for k, v in inputs["ids"].items()}
    r = loaded.signatures["serve_token_ids"](**ids)
    out["id_logits"] = {k: v.numpy().tolist() for k, v in r.items()}
    warmed = []
    for name, request in inputs["warmup"]:
        values = {k: (tf.constant([bytes.fromhex(x) for x in v], tf.string)
                      if isinstance(v[0], str) else tf.constant(v, tf.int32))
                  for k, v in request.items()}
        r = loaded.signatures[name](**values)
        warmed.append([name, sorted(r), sorted({v.shape[0] for v in r.values()})])
    out["warmed"] = warmed
    print(json.dumps(out))
""")


def _short_rows():
    return [row for row in ROWS if len(_as_bytes(row[1])) < 1000]


@pytest.fixture(scope="module")
def served(exported, tmp_path_factory):
    windows = _windows(exported["tokenizer"], _short_rows())
    warmup = []
    for name, request in read_warmup_requests(exported["path"]):
        warmup.append([name, {k: ([bytes(x).hex() for x in v.tolist()] if v.dtype == object
                                  else v.tolist()) for k, v in request.items()}])
    payload = {"questions": [_as_bytes(q).hex() for q, _, _ in ROWS],
               "contexts": [_as_bytes(c).hex() for _, c, _ in ROWS],
               "ids": {k: v.numpy().tolist() for k, v in _features(windows).items()},
               "warmup": warmup}
    payload_path = tmp_path_factory.mktemp("qa_payload") / "payload.json"
    payload_path.write_text(json.dumps(payload), encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", SCRIPT, exported["path"], str(payload_path)],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), windows


def _decoded(result):
    return [bytes.fromhex(a).decode("utf-8") for a in result["answer"]]


def test_loads_without_bertlab_and_has_the_signatures(served, exported):
    out, _ = served
    assert out["modules"] == []
    assert out["signatures"] == ["serve_token_ids", "serving_default"]
    default, ids = out["spec"]["serving_default"], out["spec"]["serve_token_ids"]
    assert default["inputs"] == {"question": ["string", [None]], "context": ["string", [None]]}
    assert default["outputs"] == {"answer": ["string", [None]], "score": ["float32", [None]],
                                  "start": ["int32", [None]], "end": ["int32", [None]]}
    assert ids["inputs"] == {k: ["int32", [None, None]]
                             for k in ("token_ids", "segment_ids", "padding_mask")}
    assert ids["outputs"] == {"start_logits": ["float32", [None, None]],
                              "end_logits": ["float32", [None, None]]}
    assert out["batch"]["dtypes"] == {"answer": "string", "score": "float32", "start": "int32",
                                      "end": "int32"}
    assert exported["policies"] == ["float32"]


def test_answers_are_python_slices_of_the_context(served):
    out, _ = served
    result = out["batch"]
    answers = _decoded(result)
    assert len(answers) == len(ROWS)
    for (question, context, expected), answer, start, end in zip(
            ROWS, answers, result["start"], result["end"]):
        text = _as_text(context)  # invalid UTF-8: one U+FFFD per bad sequence
        assert 0 <= start <= end <= len(text), (question, start, end)
        assert answer == text[start:end], (question, answer, start, end)
        if expected:  # the rigged token: exactly its original characters
            assert (answer, start) == (expected, text.index(expected)), (question, answer)


def test_no_question_or_no_context_gets_no_answer(served):
    out, _ = served
    result = out["batch"]
    answers = _decoded(result)
    for row, (question, context, expected) in enumerate(ROWS):
        if expected == "":
            assert (answers[row], result["start"][row], result["end"][row]) == ("", 0, 0)
            assert result["score"][row] == pytest.approx(NO_ANSWER_SCORE)
        else:
            assert answers[row] and result["score"][row] > -1e4, (question, answers[row])
    assert out["empty_batch"]["shapes"] == {k: [0] for k in ("answer", "score", "start", "end")}
    assert out["empty_batch"]["dtypes"]["start"] == "int32"
    assert "InvalidArgument" in out["mismatch"] and "same batch size" in out["mismatch"]


def test_spans_match_the_keras_model_and_a_brute_force_search(served, reference):
    out, _ = served
    result = out["batch"]
    for row, (question, context, expected) in enumerate(ROWS):
        if expected == "":
            continue
        score, start, end, _ = reference["spans"][row]
        assert (result["start"][row], result["end"][row]) == (start, end), question
        assert result["score"][row] == pytest.approx(score, abs=1e-3), question
    # The random span layer gives answers of more than one token somewhere.
    assert any(" " in a or len(a) > 6 for a, (_, _, e) in zip(_decoded(result), ROWS)
               if e is None)


def test_long_context_is_answered_from_its_last_window(served, reference):
    out, _ = served
    index = reference["example_index"]
    for row, context in ((ROWS.index(r), r[1]) for r in ROWS if r[1] in (LONG_ZEBRA,
                                                                          LONG_RANDOM)):
        windows = np.flatnonzero(index == row)
        assert len(windows) > 400  # ~4,000 tokens, 8 apart
        if context is LONG_ZEBRA:
            # The best span sits in one of the last windows (the ones that hold "zebra").
            assert reference["spans"][row][3] >= windows[-3]
            assert _decoded(out["batch"])[row] == "zebra"
            assert out["batch"]["start"][row] == context.index(" zebra ") + 1 > 19900


def test_each_row_alone_answers_as_in_the_batch(served):
    out, _ = served
    batch = out["batch"]
    for row, alone in enumerate(out["alone"]):
        assert (alone["answer"], alone["start"], alone["end"]) == (
            [batch["answer"][row]], [batch["start"][row]], [batch["end"][row]]), ROWS[row][0]
        assert alone["score"][0] == pytest.approx(batch["score"][row], abs=1e-3)


def test_token_id_signature_gives_the_models_logits(served, exported):
    out, windows = served
    outputs = exported["model"](_features(windows))
    for name in ("start_logits", "end_logits"):
        np.testing.assert_allclose(out["id_logits"][name], outputs[name].numpy(), atol=1e-4)


def test_uses_only_ops_tf_serving_has(exported):
    used = check_tf_serving_ops(exported["path"])
    assert {"FastWordpieceTokenizeWithOffsets", "RegexSplitWithOffsets",
            "NormalizeUTF8"} <= set(used)


def test_warmup_requests_are_written_and_replay(served, exported):
    out, _ = served
    requests = read_warmup_requests(exported["path"])
    assert exported["warmup"].endswith(os.path.join("assets.extra", "tf_serving_warmup_requests"))
    assert sorted({name for name, _ in requests}) == ["serve_token_ids", "serving_default"]
    for name, inputs in requests:
        expected = ({"question", "context"} if name == "serving_default"
                    else {"token_ids", "segment_ids", "padding_mask"})
        assert set(inputs) == expected
    assert [w[0] for w in out["warmed"]] == [name for name, _ in requests]
    assert sorted(sizes[0] for _, _, sizes in out["warmed"]) == [1, 1, 5, 5]
    for name, outputs, sizes in out["warmed"]:
        assert len(sizes) == 1
        assert outputs == (["answer", "end", "score", "start"] if name == "serving_default"
                           else ["end_logits", "start_logits"])
