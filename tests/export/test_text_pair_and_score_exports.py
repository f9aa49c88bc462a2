"""Sentence-pair, regression and decision-threshold classifier exports, checked in a fresh
process that imports only tensorflow and tensorflow_text: `text` + `text_pair` in, `score` or
`label` out, agreement with the Keras model, bad input, a missing `text_pair` refused."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from bertlab.export import ExportedModel, export_text_classifier, publish
from bertlab.models.bert_classifier import BertClassifier
from bertlab.models.bert_encoder import BertEncoder
from bertlab.text import BertPreprocessor

BAD = [b"", b"   ", ("long " * 2000).encode(), "x" * 10000, "Grüße, 你好 мир!! 😀",
       b"\xff\xfe bad \xc3 bytes\x00"]
FIRST = ["A man is playing a flute .", "A plane is taking off .", ""]
SECOND = ["A man plays the flute .", "A dog runs " + "fast " * 40, "an empty first text"]


def _classifier(vocabulary_size, num_classes, seed):
    tf.keras.utils.set_random_seed(seed)
    encoder = BertEncoder(vocabulary_size=vocabulary_size, num_layers=1, hidden_dim=32,
                          num_heads=2, intermediate_dim=64, max_sequence_length=64, dropout=0.0)
    return BertClassifier(encoder, num_classes, pooling="mean", dropout=0.0)


@pytest.fixture(scope="module")
def exports(tmp_path_factory, minilm_dir):
    base = tmp_path_factory.mktemp("exports")
    preprocessor = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=24,
                                                    pad_to_longest=True)
    size = preprocessor.tokenizer.vocabulary_size
    scorer, spam = _classifier(size, 1, 1), _classifier(size, 2, 2)
    stsb = publish(base / "stsb", lambda d: export_text_classifier(
        scorer, preprocessor, [], d, text_pair=True, regression=True) and
        {"text_pair": True})["path"]
    threshold = publish(base / "sms", lambda d: export_text_classifier(
        spam, preprocessor, ["ham", "spam"], d, positive_class="spam",
        decision_threshold=0.3) and {"class_names": ["ham", "spam"]})["path"]
    return dict(stsb=stsb, sms=threshold, scorer=scorer, spam=spam, preprocessor=preprocessor)


SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    stsb = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    sms = tf.saved_model.load(sys.argv[2]).signatures["serving_default"]
    inputs = json.loads(sys.argv[3])
    bad = [bytes.fromhex(x) for x in inputs["bad"]]
    out = {"modules": sorted(m for m in sys.modules if m.split(".")[0] in ("bertlab", "keras_hub"))}
    out["stsb_inputs"] = sorted(stsb.structured_input_signature[1])
    out["stsb_outputs"] = {k: [v.dtype.name, v.shape.as_list()]
                           for k, v in stsb.structured_outputs.items()}
    out["scores"] = stsb(text=tf.constant(inputs["first"]),
                         text_pair=tf.constant(inputs["second"]))["score"].numpy().tolist()
    out["bad_scores"] = stsb(text=tf.constant(bad), text_pair=tf.constant(bad[::-1]))[
        "score"].numpy().tolist()
    try:
        stsb(text=tf.constant(["only one text"]))
        out["missing_pair"] = None
    except TypeError as e:
        out["missing_pair"] = str(e)
    r = sms(text=tf.constant(inputs["first"]))
    out["sms_labels"] = [x.decode() for x in r["label"].numpy()]
    out["sms_probabilities"] = r["probabilities"].numpy().tolist()
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def served(exports):
    inputs = {"first": FIRST, "second": SECOND,
              "bad": [(b if isinstance(b, bytes) else b.encode()).hex() for b in BAD]}
    result = subprocess.run([sys.executable, "-c", SCRIPT, exports["stsb"], exports["sms"],
                             json.dumps(inputs)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_pair_regression_signature_and_scores(served, exports):
    assert served["modules"] == []
    assert served["stsb_inputs"] == ["text", "text_pair"]
    assert served["stsb_outputs"] == {"score": ["float32", [None]]}
    # The export packs the pair as training did: the Keras model on the preprocessor's ids.
    features = exports["preprocessor"]((tf.constant(FIRST), tf.constant(SECOND)))
    expected = exports["scorer"](features, training=False).numpy()[:, 0]
    np.testing.assert_allclose(served["scores"], expected, rtol=1e-4, atol=1e-5)
    assert len(served["bad_scores"]) == len(BAD) and np.all(np.isfinite(served["bad_scores"]))


def test_missing_text_pair_is_refused_clearly(served, exports):
    assert "text_pair" in served["missing_pair"]
    model = ExportedModel(exports["stsb"])
    with pytest.raises(ValueError, match="takes text pairs"):
        model.run(["only one text"])
    with pytest.raises(ValueError, match="2 texts but 1 pairs"):
        model.run(["a", "b"], pairs=["c"])
    scores = model.run(FIRST, pairs=SECOND)["score"]
    np.testing.assert_allclose(scores, served["scores"], rtol=1e-5)


def test_decision_threshold_labels_by_the_positive_probability(served, exports):
    probabilities = np.array(served["sms_probabilities"])
    expected = np.where(probabilities[:, 1] >= 0.3, "spam", "ham")
    assert served["sms_labels"] == expected.tolist()
    keras_probabilities = tf.nn.softmax(exports["spam"](
        exports["preprocessor"](tf.constant(FIRST)), training=False)).numpy()
    np.testing.assert_allclose(probabilities, keras_probabilities, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="takes single texts"):
        ExportedModel(exports["sms"]).run(["a"], pairs=["b"])


def test_bad_threshold_settings(exports, tmp_path):
    with pytest.raises(ValueError, match="positive class among two"):
        export_text_classifier(exports["spam"], exports["preprocessor"], ["ham", "spam"],
                               str(tmp_path / "a"), positive_class="eggs",
                               decision_threshold=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        export_text_classifier(exports["spam"], exports["preprocessor"], ["ham", "spam"],
                               str(tmp_path / "b"), positive_class="spam",
                               decision_threshold=1.5)
