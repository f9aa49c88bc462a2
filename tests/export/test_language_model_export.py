"""LanguageModelModule: the four signatures (text and token-id generation agree, per-request
settings and their refusals, text scores equal the library's sliding-window scoring), bad
inputs (empty, 20,000 characters, broken UTF-8), and the SavedModel in a fresh process with
only tensorflow and tensorflow_text, in graph and XLA form."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from bertlab.decoding import DecodingConfig
from bertlab.export.language_model_export import LanguageModelModule
from bertlab.models import TransformerLanguageModel, score_text

CONTEXT, MAX_NEW = 32, 8


def _model(vocabulary_size):
    # Not re-seeded here: `tf.random.set_seed` would drop the SentencePiece resources that
    # functions traced before hold (the autouse fixture seeds each test once).
    return TransformerLanguageModel(vocabulary_size, num_layers=1, hidden_dim=32, num_heads=2,
                                    intermediate_dim=64, max_sequence_length=CONTEXT,
                                    dropout=0.0, initializer_range=0.3)


def _module(tokenizer, model=None, jit_compile=False, **decoding):
    config = DecodingConfig(**{"method": "greedy", "max_length": MAX_NEW, **decoding})
    model = model or _model(tokenizer.vocabulary_size)
    return LanguageModelModule(model, tokenizer, config,
                               score_stride=12, jit_compile=jit_compile,
                               dtype_policy="float32" if jit_compile else None)


@pytest.fixture
def module(lm_tokenizer):
    # One per test: the autouse seeding before each test drops the SentencePiece
    # resources that functions traced in an earlier test hold.
    return _module(lm_tokenizer)


def _texts(tensor):
    return [t.decode("utf-8") for t in tensor.numpy()]


def test_text_and_token_id_generation_agree(module, lm_tokenizer):
    prompts = ["It was a dark", "", "The man who was Thursday"]
    by_text = _texts(module.complete(tf.constant(prompts))["completion"])
    ids = [[lm_tokenizer.end_token_id] + lm_tokenizer(tf.constant([p]))[0].numpy().tolist()
           for p in prompts]
    width = max(map(len, ids))
    token_ids = tf.constant([row + [0] * (width - len(row)) for row in ids])
    mask = tf.constant([[1] * len(row) + [0] * (width - len(row)) for row in ids])
    out = module.serve_token_ids(token_ids, mask)
    expected = _texts(lm_tokenizer.detokenize(
        tf.RaggedTensor.from_tensor(out["token_ids"], lengths=out["lengths"])))
    assert by_text == expected
    assert all(1 <= n <= MAX_NEW for n in out["lengths"].numpy())
    # An all-padding row is an empty prompt.
    empty = module.serve_token_ids(tf.zeros([1, 3], tf.int32), tf.zeros([1, 3], tf.int32))
    assert empty["token_ids"].numpy().tolist() == out["token_ids"].numpy()[1:2].tolist()


def test_generate_signature_takes_per_request_settings(module):
    prompts = tf.constant(["It was a dark", "The man"])
    greedy = module.generate(prompts, 5, 0.0, 0, 1.0, 0)
    assert _texts(greedy["completion"]) == _texts(
        _module(module.tokenizer, module.model, max_length=5).complete(prompts)["completion"])
    assert max(greedy["num_tokens"].numpy()) <= 5
    first = module.generate(prompts, MAX_NEW, 1.5, 20, 0.9, 7)
    again = module.generate(prompts, MAX_NEW, 1.5, 20, 0.9, 7)
    assert _texts(first["completion"]) == _texts(again["completion"])
    others = {str(_texts(module.generate(prompts, MAX_NEW, 1.5, 0, 1.0, s)["completion"]))
              for s in range(4)}
    assert len(others) > 1


@pytest.mark.parametrize("settings,message", [
    ((0, 1.0, 0, 1.0), "max_new_tokens` must be at least 1"),
    ((MAX_NEW + 1, 1.0, 0, 1.0), f"at most {MAX_NEW}"),
    ((4, -0.5, 0, 1.0), "temperature"),
    ((4, 1.0, -1, 1.0), "top_k"),
    ((4, 1.0, 0, 0.0), "top_p"),
    ((4, 1.0, 0, 1.5), "top_p"),
])
def test_generate_refuses_settings_out_of_range(module, settings, message):
    max_new_tokens, temperature, top_k, top_p = settings
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        module.generate(tf.constant(["a"]), max_new_tokens, temperature, top_k, top_p, 0)


def test_score_text_equals_the_library_scoring(module, lm_tokenizer, gutenberg_slices):
    book = gutenberg_slices[1].read_text(encoding="utf-8")[:3000]  # ~100 windows of 32
    texts = [book, "", "Thursday", "naïve café — 你好 🙂"]
    out = module.score_text(tf.constant(texts))
    for i, text in enumerate(texts):
        expected = score_text(module.model, lm_tokenizer, text, lm_tokenizer.end_token_id,
                              stride=12)
        assert int(out["num_tokens"][i]) == expected.num_tokens
        assert int(out["num_chars"][i]) == expected.num_characters == len(text)
        np.testing.assert_allclose(float(out["log_likelihood"][i]), expected.log_likelihood,
                                   rtol=1e-4, atol=1e-3)
    # Every token of the text is scored once: as many as the tokenizer gives.
    assert int(out["num_tokens"][0]) == int(lm_tokenizer(tf.constant([book])).row_lengths()[0])
    assert float(out["log_likelihood"][1]) == 0.0 and int(out["num_tokens"][1]) == 0


def test_bad_prompts_are_not_errors(module):
    long_prompt = "It was a dark and stormy night; " * 625  # 20,000 characters
    out = module.complete(tf.constant([long_prompt, b"\xff\xfe broken", ""]))["completion"]
    assert out.shape == [3]
    # A long prompt keeps its last tokens: the same completion as those tokens alone.
    ids = module.tokenizer(tf.constant([long_prompt]))[0].numpy()
    kept = ids[-(module.max_prompt_tokens - 1):]
    tail = module.tokenizer.detokenize(tf.constant([kept]))[0].numpy()
    assert _texts(module.complete(tf.constant([tail]))["completion"])[0] == _texts(out)[0]
    assert module.max_prompt_tokens == CONTEXT - MAX_NEW
    assert module.complete(tf.constant([], tf.string))["completion"].shape == [0]


def test_metadata_states_the_limits(module):
    metadata = module.metadata()
    assert metadata["context_window"] == CONTEXT and metadata["max_new_tokens"] == MAX_NEW
    assert metadata["max_prompt_tokens"] == CONTEXT - MAX_NEW
    assert metadata["score_stride"] == 12
    assert metadata["end_of_document_id"] == module.tokenizer.end_token_id


def test_bad_settings_are_refused(lm_tokenizer):
    with pytest.raises(ValueError, match="score_stride"):
        LanguageModelModule(_model(lm_tokenizer.vocabulary_size), lm_tokenizer,
                            DecodingConfig(method="greedy", max_length=4), score_stride=0)
    with pytest.raises(ValueError, match="only 100 token ids"):
        LanguageModelModule(_model(100), lm_tokenizer,
                            DecodingConfig(method="greedy", max_length=4), score_stride=8)
    with pytest.raises(ValueError, match="beam search"):
        _module(lm_tokenizer, jit_compile=True, method="beam", beam_width=2)


_CLIENT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    loaded = tf.saved_model.load(sys.argv[1])
    sig = loaded.signatures
    prompts = tf.constant([b"It was a dark", b"", b"\\xff broken", b"long " * 4000])
    completions = sig["serving_default"](prompt=prompts)["completion"]
    generated = sig["generate"](prompt=prompts[:2], max_new_tokens=tf.constant(3),
                                temperature=tf.constant(0.0), top_k=tf.constant(0),
                                top_p=tf.constant(1.0), seed=tf.constant(0))
    scores = sig["score_text"](text=tf.constant([b"It was a dark and stormy night", b""]))
    ids = sig["serve_token_ids"](token_ids=tf.constant([[3, 40, 41]]),
                                 padding_mask=tf.constant([[1, 1, 1]]))
    try:
        sig["generate"](prompt=prompts[:1], max_new_tokens=tf.constant(999),
                        temperature=tf.constant(1.0), top_k=tf.constant(0),
                        top_p=tf.constant(1.0), seed=tf.constant(0))
        refused = None
    except tf.errors.InvalidArgumentError as e:
        refused = e.message
    print(json.dumps({
        "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("bertlab", "apps")),
        "signatures": sorted(sig),
        "inputs": {name: sorted(s.structured_input_signature[1]) for name, s in sig.items()},
        "completions": [t.decode("utf-8", "replace") for t in completions.numpy()],
        "generated": [t.decode("utf-8", "replace") for t in generated["completion"].numpy()],
        "generated_tokens": generated["num_tokens"].numpy().tolist(),
        "log_likelihood": scores["log_likelihood"].numpy().tolist(),
        "num_tokens": scores["num_tokens"].numpy().tolist(),
        "num_chars": scores["num_chars"].numpy().tolist(),
        "id_lengths": ids["lengths"].numpy().tolist(),
        "refused": refused,
    }))
""")


@pytest.fixture(scope="module")
def fresh_process_reports(lm_tokenizer, tmp_path_factory):
    """For a graph and an XLA export: the expected outputs in this process, and what a fresh
    process (tensorflow and tensorflow_text only) reports; the two run side by side."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    expected, processes = {}, {}
    model = _model(lm_tokenizer.vocabulary_size)
    for jit_compile in (False, True):
        module = _module(lm_tokenizer, model, jit_compile=jit_compile)
        scores = module.score_text(tf.constant(["It was a dark and stormy night", ""]))
        expected[jit_compile] = {
            "completions": module.complete_texts(["It was a dark", ""]),
            "log_likelihood": scores["log_likelihood"].numpy().tolist()}
        path = str(tmp_path_factory.mktemp("xla" if jit_compile else "graph") / "1")
        module.save(path)
        processes[jit_compile] = subprocess.Popen(
            [sys.executable, "-c", _CLIENT, path], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env, cwd=path)
    reports = {}
    for jit_compile, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
        reports[jit_compile] = json.loads(stdout.strip().splitlines()[-1])
    return expected, reports


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_saved_model_in_a_fresh_process(fresh_process_reports, jit_compile):
    expected, reports = fresh_process_reports
    report, wanted = reports[jit_compile], expected[jit_compile]
    assert report["modules"] == []
    assert report["signatures"] == ["generate", "score_text", "serve_token_ids",
                                    "serving_default"]
    assert report["inputs"]["generate"] == ["max_new_tokens", "prompt", "seed", "temperature",
                                            "top_k", "top_p"]
    assert report["completions"][:2] == wanted["completions"]
    assert len(report["completions"]) == 4
    assert max(report["generated_tokens"]) <= 3
    np.testing.assert_allclose(report["log_likelihood"], wanted["log_likelihood"], rtol=1e-4,
                               atol=1e-3)
    assert report["num_tokens"][1] == 0 and report["num_chars"] == [30, 0]
    assert 1 <= report["id_lengths"][0] <= MAX_NEW
    assert "at most 8" in report["refused"]


def test_xla_generation_equals_graph_generation(lm_tokenizer):
    graph = _module(lm_tokenizer, jit_compile=False)
    xla = _module(lm_tokenizer, graph.model, jit_compile=True)
    prompts = tf.constant(["It was a dark", "", "The man who was Thursday"])
    assert _texts(xla.complete(prompts)["completion"]) == \
        _texts(graph.complete(prompts)["completion"])
    np.testing.assert_allclose(xla.score_text(prompts)["log_likelihood"].numpy(),
                               graph.score_text(prompts)["log_likelihood"].numpy(), rtol=1e-4)
