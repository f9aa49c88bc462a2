"""TextGenerationModule: raw text in, generated text out, the same through the token-id
signature, in graph and XLA, and as a SavedModel loaded in a fresh process."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from bertlab.decoding import DecodingConfig
from bertlab.export.text_generation_module import TextGenerationModule
from bertlab.models import Seq2SeqTransformer
from bertlab.models.dtype_policy_copy import layer_policies
from bertlab.text.sentencepiece_tokenizer import SentencePieceTokenizer, train_sentencepiece

MAX_LENGTH = 7


@pytest.fixture(scope="module")
def spm_proto(data_dir):
    lines = (data_dir / "multi30k" / "train.en").read_text(encoding="utf-8").splitlines()[:800]
    return train_sentencepiece(lines, vocabulary_size=400)


def _model(vocabulary_size, dtype=None):
    tf.keras.utils.set_random_seed(1)
    return Seq2SeqTransformer(vocabulary_size, num_encoder_layers=1, num_decoder_layers=1,
                              hidden_dim=32, num_heads=2, intermediate_dim=64, dropout=0.0,
                              initializer_range=0.3, dtype=dtype)


def _module(proto, model=None, jit_compile=False, dtype_policy=None, **decoding):
    tokenizer = SentencePieceTokenizer(proto)
    model = model or _model(tokenizer.vocabulary_size)
    config = DecodingConfig(**{"beam_width": 2, "max_length": MAX_LENGTH, **decoding})
    return TextGenerationModule(model, tokenizer, config, max_source_length=12,
                                output_key="translation", jit_compile=jit_compile,
                                dtype_policy=dtype_policy)


def test_text_and_token_id_paths_agree(spm_proto):
    module = _module(spm_proto)
    texts = ["A dog runs on the beach.", "Two men", ""]
    ids, mask = module.encode(tf.constant(texts))
    assert ids.shape[1] <= 12 and (ids.numpy()[mask.numpy() == 0] == 0).all()
    # Every source ends with the end token; the empty text is just that.
    lengths = mask.numpy().sum(axis=1)
    assert (ids.numpy()[np.arange(3), lengths - 1] == 3).all() and lengths[2] == 1
    by_ids = module.serve_token_ids(ids, mask)
    by_text = module.serve_text(tf.constant(texts))["translation"].numpy()
    expected = module.tokenizer.detokenize(
        tf.RaggedTensor.from_tensor(by_ids["token_ids"], lengths=by_ids["lengths"])).numpy()
    np.testing.assert_array_equal(by_text, expected)
    assert by_ids["token_ids"].shape == (3, MAX_LENGTH)


def test_generate_text_keeps_input_order(spm_proto):
    module = _module(spm_proto, method="greedy")
    texts = ["A man in a red shirt climbs a rock.", "Hi", "A very long sentence " * 5, "Dog"]
    one_by_one = [module.generate_text([t])[0] for t in texts]
    done = []
    assert module.generate_text(texts, batch_size=2, progress=done.append) == one_by_one
    assert sum(done) == len(texts)


def test_long_and_broken_inputs_do_not_fail(spm_proto):
    module = _module(spm_proto)
    texts = tf.constant([b"\xff\xfe\x80", "word " * 3000, "", "\u200b\t\n"])
    out = module.serve_text(texts)["translation"]
    assert out.shape == (4,)
    assert module.serve_text(tf.constant([], tf.string))["translation"].shape == (0,)
    # Ids outside the vocabulary are clipped, masks are 0/1.
    ids = tf.constant([[5, 10 ** 6, -4, 3]], tf.int32)
    out = module.serve_token_ids(ids, tf.constant([[1, 1, 7, 1]], tf.int32))
    assert out["token_ids"].shape == (1, MAX_LENGTH)


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_xla_float32_generation_equals_graph_float32(spm_proto, method):
    # A model trained under mixed_bfloat16, exported XLA-compiled in float32.
    bf16 = _model(SentencePieceTokenizer(spm_proto).vocabulary_size, dtype="mixed_bfloat16")
    xla = _module(spm_proto, bf16, jit_compile=True, dtype_policy="float32", method=method)
    graph = _module(spm_proto, bf16, dtype_policy="float32", method=method)
    assert xla.model is not bf16 and layer_policies(xla.model) == {"float32"}
    assert layer_policies(bf16) == {"mixed_bfloat16"}
    ids, mask = xla.encode(tf.constant(["A dog runs on the beach.", "Two men", ""]))
    a, b = xla.serve_token_ids(ids, mask), graph.serve_token_ids(ids, mask)
    np.testing.assert_array_equal(a["token_ids"], b["token_ids"])
    np.testing.assert_array_equal(a["lengths"], b["lengths"])
    np.testing.assert_allclose(a["scores"], b["scores"], rtol=1e-4, atol=1e-4)


_CLIENT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    loaded = tf.saved_model.load(sys.argv[1])
    serve = loaded.signatures["serving_default"]
    ids = loaded.signatures["serve_token_ids"]
    texts = [b"A dog runs.", b"", b"\\xff\\xfe broken", b"long " * 5000, "\\u4f60\\u597d".encode()]
    out = serve(text=tf.constant(texts))
    empty = serve(text=tf.constant([], tf.string))
    by_ids = ids(token_ids=tf.constant([[7, 8, 3]]), padding_mask=tf.constant([[1, 1, 1]]))
    print(json.dumps({
        "modules": sorted(m for m in sys.modules
                          if m.split(".")[0] in ("bertlab", "keras", "apps")),
        "inputs": {k: [str(v.dtype.name), v.shape.as_list()]
                   for k, v in serve.structured_input_signature[1].items()},
        "outputs": {k: [str(v.dtype.name), v.shape.as_list()]
                    for k, v in serve.structured_outputs.items()},
        "id_outputs": sorted(ids.structured_outputs),
        "translations": [t.decode("utf-8") for t in out["translation"].numpy()],
        "empty": empty["translation"].shape.as_list(),
        "id_shape": by_ids["token_ids"].shape.as_list(),
    }))
""")


@pytest.fixture(scope="module")
def fresh_process_reports(spm_proto, tmp_path_factory):
    """For a graph and an XLA export: the expected translations, and what a fresh process
    (tensorflow and tensorflow_text only) reports; the two processes run side by side."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    expected, processes = {}, {}
    for jit_compile in (False, True):
        module = _module(spm_proto, jit_compile=jit_compile)
        expected[jit_compile] = module.generate_text(["A dog runs.", ""])
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
    report = reports[jit_compile]
    assert [m for m in report["modules"] if not m.startswith("keras")] == []
    assert report["inputs"] == {"text": ["string", [None]]}
    assert report["outputs"] == {"translation": ["string", [None]]}
    assert report["id_outputs"] == ["lengths", "scores", "token_ids"]
    assert report["translations"][:2] == expected[jit_compile]
    assert len(report["translations"]) == 5
    assert report["empty"] == [0] and report["id_shape"] == [1, MAX_LENGTH]
