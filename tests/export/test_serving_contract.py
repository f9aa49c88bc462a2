"""The SavedModel contract, checked in a fresh process that imports only tensorflow and
tensorflow_text: signatures and dtypes, raw text in, sensible answers to bad input,
agreement with the Keras model, first-subword tags, truncation, casing features."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from bertlab.export import export_new_version, export_text_classifier, export_token_classifier
from bertlab.models.bert_classifier import BertClassifier
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.bert_token_classifier import BertTokenClassifier
from bertlab.text import BertPreprocessor
from bertlab.text.word_casing import NUM_CASING_IDS
from bertlab.text.word_tokenization import pack_words, split_whitespace

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
BAD_INPUTS = [b"", b"   ", ("long " * 2000).encode(), "x" * 10000, "Grüße, 你好 мир!! 😀",
              b"\xff\xfe bad \xc3 bytes\x00", "EU rejects U.S.-led talks ."]
GOOD = ["a charming and affecting journey " + "really " * 40, "dull , lifeless and boring",
        "EU rejects U.S.-led talks on Tuesday ."]


def _encoder(vocabulary_size):
    return BertEncoder(vocabulary_size=vocabulary_size, num_layers=1, hidden_dim=32,
                       num_heads=2, intermediate_dim=64, max_sequence_length=64, dropout=0.0)


@pytest.fixture(scope="module")
def exports(tmp_path_factory, minilm_dir):
    base = tmp_path_factory.mktemp("exports")
    preprocessor = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=32,
                                                    pad_to_longest=True)
    tokenizer = preprocessor.tokenizer
    classifier = BertClassifier(_encoder(tokenizer.vocabulary_size), 2, pooling="mean",
                                dropout=0.0)
    tagger = BertTokenClassifier(_encoder(tokenizer.vocabulary_size), len(TAGS), dropout=0.0,
                                 num_casing_ids=NUM_CASING_IDS)
    # Give the tagger's head a spread of predictions, and casing a say in them.
    kernel, bias = tagger.tagger.get_weights()
    tagger.tagger.set_weights([kernel * 50.0, bias])
    tagger.casing_embedding.set_weights(
        [np.random.default_rng(0).normal(size=(NUM_CASING_IDS, 32)).astype("float32")])
    _, sentiment = export_new_version(
        base / "sentiment",
        lambda p: export_text_classifier(classifier, preprocessor, ["negative", "positive"], p))
    _, ner = export_new_version(
        base / "ner", lambda p: export_token_classifier(tagger, tokenizer, TAGS, 12, p))
    return dict(sentiment=sentiment, ner=ner, classifier=classifier, tagger=tagger,
                preprocessor=preprocessor, tokenizer=tokenizer)


SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    sentiment = tf.saved_model.load(sys.argv[1])
    ner = tf.saved_model.load(sys.argv[2])
    inputs = json.loads(sys.argv[3])
    bad = [bytes.fromhex(x) for x in inputs["bad"]]
    out = {"modules": sorted(m for m in sys.modules if m.split(".")[0] in ("bertlab", "keras_hub"))}
    s = sentiment.signatures["serving_default"]
    n = ner.signatures["serving_default"]
    out["signatures"] = {"sentiment": sorted(sentiment.signatures), "ner": sorted(ner.signatures)}
    out["sentiment_spec"] = [str(s.structured_input_signature), str(s.structured_outputs)]
    out["ner_spec"] = [str(n.structured_input_signature), str(n.structured_outputs)]
    r = s(text=tf.constant(bad))
    out["bad_labels"] = [x.decode() for x in r["label"].numpy()]
    out["bad_probabilities"] = r["probabilities"].numpy().tolist()
    r = n(text=tf.constant(bad))
    out["bad_tokens"] = [[t.decode("utf-8") for t in row] for row in r["tokens"].numpy()]
    out["bad_tags"] = [[t.decode() for t in row] for row in r["tags"].numpy()]
    out["empty_batch"] = [list(s(text=tf.constant([], tf.string))["probabilities"].shape),
                          list(n(text=tf.constant([], tf.string))["tags"].shape)]
    good = tf.constant(inputs["good"])
    out["good_probabilities"] = s(text=good)["probabilities"].numpy().tolist()
    r = n(text=good)
    out["good_tags"] = [[t.decode() for t in row] for row in r["tags"].numpy()]
    ids = {k: tf.constant(v, tf.int32) for k, v in inputs["ids"].items()}
    out["id_logits"] = sentiment.signatures["serve_token_ids"](**ids)["logits"].numpy().tolist()
    ids["casing_ids"] = tf.constant(inputs["casing_ids"], tf.int32)
    out["id_tag_logits"] = ner.signatures["serve_token_ids"](**ids)["logits"].numpy().tolist()
    print(json.dumps(out))
""")


def _casing_ids(features):
    """Some casing ids (1-6 on tokens, 0 on padding) for the `serve_token_ids` call."""
    mask = features["padding_mask"].numpy()
    return (1 + np.arange(mask.size).reshape(mask.shape) % (NUM_CASING_IDS - 1)) * mask


@pytest.fixture(scope="module")
def served(exports):
    features = exports["preprocessor"](tf.constant(GOOD))
    payload = {"bad": [(x.encode() if isinstance(x, str) else x).hex() for x in BAD_INPUTS],
               "good": GOOD,
               "ids": {k: v.numpy().tolist() for k, v in features.items()},
               "casing_ids": _casing_ids(features).tolist()}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, exports["sentiment"], exports["ner"], json.dumps(payload)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), features


def test_loads_without_bertlab_and_lists_signatures(served):
    out, _ = served
    assert out["modules"] == []
    assert out["signatures"]["sentiment"] == ["serve_token_ids", "serving_default"]
    assert out["signatures"]["ner"] == ["serve_token_ids", "serving_default"]
    inputs, outputs = out["sentiment_spec"]
    assert "'text': TensorSpec(shape=(None,), dtype=tf.string" in inputs
    assert "'label': TensorSpec(shape=(None,), dtype=tf.string" in outputs
    assert "'probabilities': TensorSpec(shape=(None, 2), dtype=tf.float32" in outputs
    inputs, outputs = out["ner_spec"]
    assert "'text': TensorSpec(shape=(None,), dtype=tf.string" in inputs
    assert "'tags': TensorSpec(shape=(None, None), dtype=tf.string" in outputs
    assert "'tokens': TensorSpec(shape=(None, None), dtype=tf.string" in outputs


def test_bad_inputs_get_sensible_answers(served):
    out, _ = served
    assert all(label in ("negative", "positive") for label in out["bad_labels"])
    probabilities = np.array(out["bad_probabilities"])
    assert probabilities.shape == (len(BAD_INPUTS), 2) and np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    tokens, tags = out["bad_tokens"], out["bad_tags"]
    width = max(len(x.split()) if isinstance(x, str) else len(x.split()) for x in BAD_INPUTS)
    assert len(tokens[0]) == width == 2000  # padded to the most words in the batch
    for text, row_tokens, row_tags in zip(BAD_INPUTS, tokens, tags):
        words = [w for w in row_tokens if w]
        expected = (text if isinstance(text, str) else text.decode("utf-8", "replace")).split()
        assert words == expected  # invalid bytes arrive as U+FFFD
        assert all(t in TAGS for t in row_tags[:len(words)])
        assert all(t == "" for t in row_tags[len(words):])
    long_tags = tags[2]
    assert set(long_tags[10:]) == {"O"}  # cut off by truncation (12 subwords) -> "O"
    assert out["empty_batch"] == [[0, 2], [0, 0]]


def test_served_outputs_match_the_model(served, exports):
    out, features = served
    logits = exports["classifier"](features).numpy()
    np.testing.assert_allclose(out["id_logits"], logits, atol=1e-4)
    np.testing.assert_allclose(out["good_probabilities"], tf.nn.softmax(logits).numpy(),
                               atol=1e-4)
    tagger_inputs = dict(features, casing_ids=tf.constant(_casing_ids(features), tf.int32))
    np.testing.assert_allclose(out["id_tag_logits"], exports["tagger"](tagger_inputs).numpy(),
                               atol=1e-4)


def test_word_tags_are_first_subword_predictions(served, exports):
    out, _ = served
    words = split_whitespace(tf.constant(GOOD))
    packed = pack_words(exports["tokenizer"], words, 12, with_casing=True)
    positions = packed.pop("word_positions").to_list()
    predicted = np.argmax(exports["tagger"](packed).numpy(), axis=-1)
    # The export computes the casing from the raw text: without it the tags differ.
    uncased = dict(packed, casing_ids=tf.zeros_like(packed["casing_ids"]))
    assert np.any(np.argmax(exports["tagger"](uncased).numpy(), axis=-1) != predicted)
    # "U.S.-led" is one word of 6 subwords (u . s . - led): its tag is the one at "u";
    # the words after the 10th subword are cut off (-1) and tagged O.
    assert positions[2] == [1, 2, 3, 9, 10, -1, -1]
    for row, row_positions in enumerate(positions):
        expected = [TAGS[predicted[row, p]] if p >= 0 else "O" for p in row_positions]
        assert out["good_tags"][row][:len(expected)] == expected
    assert out["good_tags"][2][5:7] == ["O", "O"]


def test_saved_model_cli_lists_the_signatures(exports):
    import shutil

    cli = shutil.which("saved_model_cli")
    if cli is None:
        pytest.skip("saved_model_cli is not installed")
    expected = ["inputs['text']", "outputs['label']", "outputs['probabilities']",
                "shape: (-1, 2)"]
    result = subprocess.run([cli, "show", "--dir", exports["sentiment"], "--all"],
                            capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-2000:]
    default = result.stdout.split("signature_def['serving_default']")[1]
    for line in expected:
        assert line in default
    assert "DT_STRING" in default
    # Only ops that TF Serving's embedded TF Text (2.12) has: no TFText>RoundRobinTrim.
    assert "TFText>" not in result.stdout
    ids = result.stdout.split("signature_def['serve_token_ids']")[1].split("signature_def[")[0]
    for key in ("token_ids", "segment_ids", "padding_mask", "logits", "probabilities"):
        assert f"['{key}']" in ids
    assert "DT_INT32" in ids
