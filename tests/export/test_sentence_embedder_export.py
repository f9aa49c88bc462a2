"""The sentence-embedder SavedModel (`export_sentence_embedder`), checked in one fresh process
that imports only tensorflow and tensorflow_text: signatures and dtypes; `embed` equal to
`serving_default` and to the Keras embedder (text and token ids); empty, blank, very long
and invalid-UTF-8 texts embedded without error; empty batches; the metadata; `publish`
(warm-up for every signature, the TF Serving op check); the weights stored once.

The embedder is a tiny `SentenceEmbedder` (1 layer, width 32) on MiniLM's vocabulary."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from bertlab.export import publish, read_metadata
from bertlab.export.custom_ops import check_tf_serving_ops
from bertlab.export.sentence_embedder_export import (export_sentence_embedder,
                                                     load_embedding_functions)
from bertlab.export.warmup import read_warmup_requests
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.sentence_embedder import SentenceEmbedder
from bertlab.text import BertPreprocessor

SEQUENCE_LENGTH = 16
DIM = 32
GOOD = ["A man is playing a guitar.", "Grüße aus Köln — 你好", "a dog runs " * 20]
BAD = [b"", b"   \t\n ", ("x" * 10000).encode(), ("long " * 2000).encode(),
       b"caf\xc3 bad \xff\xfe bytes\x00", "😀 🎉".encode()]


def _embedder(vocabulary_size, pooling="mean", normalize=True):
    encoder = BertEncoder(vocabulary_size=vocabulary_size, num_layers=1, hidden_dim=DIM,
                          num_heads=2, intermediate_dim=64, max_sequence_length=32, dropout=0.0)
    return SentenceEmbedder(encoder, pooling=pooling, normalize=normalize)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, minilm_dir):
    base = tmp_path_factory.mktemp("embedder_export")
    preprocessor = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=SEQUENCE_LENGTH,
                                                    pad_to_longest=True)
    embedder = _embedder(preprocessor.tokenizer.vocabulary_size)
    record = publish(str(base / "embedder"),
                     lambda d: export_sentence_embedder(embedder, preprocessor, d),
                     metadata={"source": "test"})
    return dict(path=record["path"], embedder=embedder, preprocessor=preprocessor)


SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    loaded = tf.saved_model.load(sys.argv[1])
    with open(sys.argv[2]) as f:
        inputs = json.load(f)
    out = {"modules": sorted(m for m in sys.modules if m.split(".")[0] in ("bertlab", "keras_hub"))}
    out["spec"] = {
        name: {"inputs": {k: [v.dtype.name, v.shape.as_list()]
                          for k, v in f.structured_input_signature[1].items()},
               "outputs": {k: [v.dtype.name, v.shape.as_list()]
                           for k, v in f.structured_outputs.items()}}
        for name, f in loaded.signatures.items()}
    embed = loaded.signatures["embed"]
    default = loaded.signatures["serving_default"]
    good = tf.constant(inputs["good"])
    bad = tf.constant([bytes.fromhex(x) for x in inputs["bad"]])
    out["good"] = embed(text=good)["embedding"].numpy().tolist()
    out["good_default"] = default(text=good)["embedding"].numpy().tolist()
    out["alone"] = [embed(text=tf.constant([t]))["embedding"].numpy()[0].tolist()
                    for t in inputs["good"]]
    out["bad"] = embed(text=bad)["embedding"].numpy().tolist()
    out["empty_batch"] = embed(text=tf.constant([], tf.string))["embedding"].shape.as_list()
    ids = {k: tf.constant(v, tf.int32) for k, v in inputs["ids"].items()}
    out["ids"] = loaded.signatures["serve_token_ids"](**ids)["embedding"].numpy().tolist()
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def served(exported, tmp_path_factory):
    features = exported["preprocessor"](tf.constant(GOOD))
    payload = tmp_path_factory.mktemp("payload") / "inputs.json"
    payload.write_text(json.dumps({
        "good": GOOD, "bad": [x.hex() for x in BAD],
        "ids": {k: v.numpy().tolist() for k, v in features.items()}}))
    result = subprocess.run([sys.executable, "-c", SCRIPT, exported["path"], str(payload)],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), features


def test_loads_without_bertlab_and_has_the_signatures(served):
    out, _ = served
    assert out["modules"] == []
    text = {"inputs": {"text": ["string", [None]]}, "outputs": {"embedding": ["float32",
                                                                              [None, DIM]]}}
    ids = {k: ["int32", [None, None]] for k in ("token_ids", "segment_ids", "padding_mask")}
    assert out["spec"] == {"embed": text, "serving_default": text,
                           "serve_token_ids": {"inputs": ids,
                                               "outputs": {"embedding": ["float32",
                                                                         [None, DIM]]}}}


def test_embeddings_match_the_keras_embedder(served, exported):
    out, features = served
    expected = exported["embedder"](features).numpy()
    np.testing.assert_allclose(out["good"], expected, atol=1e-5)
    np.testing.assert_allclose(out["good_default"], expected, atol=1e-5)
    np.testing.assert_allclose(out["ids"], expected, atol=1e-5)
    # A text alone (no padding) embeds as in a padded batch.
    np.testing.assert_allclose(out["alone"], expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(expected, axis=1), 1.0, atol=1e-5)


def test_bad_texts_are_embedded_not_refused(served, exported):
    out, _ = served
    bad = np.array(out["bad"])
    assert bad.shape == (len(BAD), DIM) and np.all(np.isfinite(bad))
    np.testing.assert_allclose(np.linalg.norm(bad, axis=1), 1.0, atol=1e-5)
    # Empty and blank text: both just [CLS] [SEP].
    np.testing.assert_allclose(bad[0], bad[1], atol=1e-6)
    # Long texts are truncated: the embedding of their first tokens.
    features = exported["preprocessor"](tf.constant(["long " * 2000, "long " * 50]))
    assert features["token_ids"].shape[1] == SEQUENCE_LENGTH
    truncated = exported["embedder"](features).numpy()
    np.testing.assert_allclose(bad[3], truncated[0], atol=1e-5)
    np.testing.assert_allclose(truncated[0], truncated[1], atol=1e-6)
    assert out["empty_batch"] == [0, DIM]


def test_metadata_warmup_and_ops(exported):
    metadata = read_metadata(exported["path"])
    assert metadata == {"task": "sentence_embedding", "pooling": "mean", "normalize": True,
                        "sequence_length": SEQUENCE_LENGTH, "lowercase": True,
                        "dtype_policies": ["float32"], "embedding_dim": DIM, "source": "test"}
    assert sorted({name for name, _ in read_warmup_requests(exported["path"])}) == [
        "embed", "serve_token_ids", "serving_default"]
    assert {"FastWordpieceTokenizeWithOffsets", "NormalizeUTF8"} <= set(
        check_tf_serving_ops(exported["path"]))


def test_weights_are_stored_once(exported):
    weight_bytes = sum(int(np.prod(w.shape)) * 4 for w in exported["embedder"].weights)
    stored = sum(os.path.getsize(os.path.join(root, name))
                 for root, _, names in os.walk(exported["path"]) for name in names)
    assert weight_bytes < stored < 1.5 * weight_bytes + 2_000_000


def test_loaded_export_gives_the_same_functions(exported):
    functions = load_embedding_functions(exported["path"])
    assert functions.metadata["embedding_dim"] == DIM
    assert functions.metadata["pooling"] == "mean"
    texts = tf.constant(GOOD)
    expected = exported["embedder"](exported["preprocessor"](texts)).numpy()
    np.testing.assert_allclose(functions.embed_text(texts).numpy(), expected, atol=1e-5)


def test_cls_pooling_without_normalization(tmp_path, exported):
    preprocessor = exported["preprocessor"]
    embedder = _embedder(preprocessor.tokenizer.vocabulary_size, pooling="cls",
                         normalize=False)
    metadata = export_sentence_embedder(embedder, preprocessor, str(tmp_path / "cls"))
    assert (metadata["pooling"], metadata["normalize"]) == ("cls", False)
    loaded = tf.saved_model.load(str(tmp_path / "cls"))
    texts = tf.constant(GOOD)
    np.testing.assert_allclose(loaded.signatures["embed"](text=texts)["embedding"].numpy(),
                               embedder(preprocessor(texts)).numpy(), atol=1e-5)


def test_rejects_a_model_without_vector_outputs(exported):
    import keras

    inputs = {k: keras.Input((None,), dtype="int32", name=k)
              for k in ("token_ids", "segment_ids", "padding_mask")}
    sequence = keras.layers.Embedding(10, 4)(inputs["token_ids"])
    model = keras.Model(inputs, sequence)
    with pytest.raises(ValueError, match="embedder"):
        export_sentence_embedder(model, exported["preprocessor"], "/nonexistent/x")
