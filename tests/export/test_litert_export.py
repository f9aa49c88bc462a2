"""LiteRT exports of a classifier and a tagger (`export_litert`, `apps.export_litert`): the
files run in a fresh process that imports only the LiteRT interpreter and numpy (signature,
dtypes, dynamic shapes, a padded batch of 3); float32 equals the SavedModel's
`serve_token_ids`, dynamic-range and int8 agree with it; sizes in the metadata; bad inputs
refused clearly; a failed write leaves the version as it was."""

import json
import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest
import tensorflow as tf

from apps import export_litert as app
from bertlab.export import export_text_classifier, export_token_classifier, publish, read_metadata
from bertlab.export import litert_export
from bertlab.export.keras_model_file import VOCABULARY_FILE, save_exported_keras_model
from bertlab.export.litert_export import export_litert, representative_inputs
from bertlab.export.litert_model import LiteRTInputError, LiteRTModel
from bertlab.models.bert_classifier import BertClassifier
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.bert_token_classifier import BertTokenClassifier
from bertlab.text import BertPreprocessor
from bertlab.text.word_casing import NUM_CASING_IDS
from tests.apps.app_process import run_apps

CLASSES = ["negative", "positive"]
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
# A batch of 3 of different lengths: the ids are padded to the longest.
TEXTS = ["a gripping , beautifully acted film", "dull", "EU rejects German call to boycott "
         "British lamb and Peter Blackburn reports"]


def _encoder(vocabulary_size):
    return BertEncoder.from_preset("tiny", vocabulary_size=vocabulary_size, num_layers=1,
                                   max_sequence_length=64, dropout=0.0)


@pytest.fixture(scope="module")
def built(tmp_path_factory, minilm_dir, sst2_dev_sentences):
    """A classifier export with `model.keras` beside it, converted three ways, and a tagger
    export with casing features (no `model.keras`: converted from its SavedModel)."""
    base = tmp_path_factory.mktemp("litert")
    tf.keras.utils.set_random_seed(3)
    preprocessor = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=32,
                                                    pad_to_longest=True)
    tokenizer = preprocessor.tokenizer
    classifier = BertClassifier(_encoder(tokenizer.vocabulary_size), len(CLASSES),
                                dropout=0.0)
    classifier(preprocessor(tf.constant(TEXTS)))
    head = classifier.layers[-1]
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 20.0, bias])  # decisive labels, as a trained head gives
    train = base / "train.tsv"
    train.write_text("sentence\tlabel\n" + "".join(f"{s}\t1\n" for s in sst2_dev_sentences[:64]),
                     encoding="utf-8")
    metadata = {"task": "text_classification", "class_names": CLASSES, "sequence_length": 32,
                "lowercase": True, "train_data": str(train)}
    sentiment = publish(base / "sentiment", lambda d: export_text_classifier(
        classifier, preprocessor, CLASSES, d) and metadata)["path"]
    save_exported_keras_model(classifier, sentiment, tokenizer.vocabulary)

    tagger = BertTokenClassifier(_encoder(tokenizer.vocabulary_size), len(TAGS), dropout=0.0,
                                 num_casing_ids=NUM_CASING_IDS)
    ner = publish(base / "ner", lambda d: export_token_classifier(tagger, tokenizer, TAGS, 24, d)
                  and {"task": "token_classification", "tag_names": TAGS, "sequence_length": 24,
                       "lowercase": True, "casing_features": True})["path"]
    # The vocabulary without the Keras model: converted from the SavedModel.
    with open(os.path.join(ner, VOCABULARY_FILE), "w", encoding="utf-8") as f:
        f.writelines(f"{token}\n" for token in tokenizer.vocabulary)
    texts = litert_export.read_texts_file(train, 16)
    records = {"float": export_litert(sentiment, "none"),
               "dynamic": export_litert(sentiment, "dynamic"),
               "int8": export_litert(sentiment, "int8", representative_inputs(sentiment, texts)),
               "tagger": export_litert(ner, "none")}
    return types.SimpleNamespace(base=base, sentiment=sentiment, ner=ner, records=records,
                                 train=train, classifier=classifier)


FRESH = textwrap.dedent("""
    import json, sys
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter
    paths, inputs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    out = {}
    for name, path in paths.items():
        interpreter = Interpreter(model_path=path, num_threads=2)
        runner = interpreter.get_signature_runner("serve_token_ids")
        spec = lambda details: {k: [np.dtype(v["dtype"]).name, v["shape_signature"].tolist()]
                                for k, v in details.items()}
        feed = {k: np.array(v, np.int32) for k, v in inputs[name].items()}
        out[name] = {"signatures": sorted(interpreter.get_signature_list()),
                     "inputs": spec(runner.get_input_details()),
                     "outputs": spec(runner.get_output_details()),
                     "results": {k: v.tolist() for k, v in runner(**feed).items()}}
    out["modules"] = sorted(m for m in sys.modules
                            if m.split(".")[0] in ("tensorflow", "keras", "bertlab"))
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def fresh(built):
    """What a fresh process (LiteRT and numpy only) reads from every file, and the inputs."""
    batch = representative_inputs(built.sentiment, TEXTS, batch_size=3)[0]
    tagged = representative_inputs(built.ner, TEXTS, batch_size=3)[0]
    inputs = {k: {n: v.tolist() for n, v in (tagged if k == "tagger" else batch).items()}
              for k in built.records}
    paths = {k: r["path"] for k, r in built.records.items()}
    result = subprocess.run([sys.executable, "-c", FRESH, json.dumps(paths), json.dumps(inputs)],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), {"classifier": batch,
                                                                 "tagger": tagged}


def _saved_model(path, inputs):
    function = tf.saved_model.load(path).signatures["serve_token_ids"]
    return {k: v.numpy() for k, v in function(**{n: tf.constant(a) for n, a in
                                                 inputs.items()}).items()}


def test_signature_as_the_saved_models_in_a_fresh_process(fresh, built):
    report, inputs = fresh
    assert report["modules"] == []
    ids = ["int32", [-1, -1]]
    for name in ("float", "dynamic", "int8"):
        assert report[name]["signatures"] == ["serve_token_ids"]
        assert report[name]["inputs"] == {n: ids for n in ("padding_mask", "segment_ids",
                                                           "token_ids")}
        assert report[name]["outputs"] == {"logits": ["float32", [-1, 2]],
                                           "probabilities": ["float32", [-1, 2]]}
    assert report["tagger"]["inputs"] == {n: ids for n in ("casing_ids", "padding_mask",
                                                           "segment_ids", "token_ids")}
    assert report["tagger"]["outputs"] == {k: ["float32", [-1, -1, len(TAGS)]]
                                           for k in ("logits", "probabilities")}
    # The batch of 3 is padded: its rows have different lengths.
    assert len(set(inputs["classifier"]["padding_mask"].sum(1))) == 3


def test_float32_equals_the_saved_model(fresh, built):
    report, inputs = fresh
    for name, key in (("float", "classifier"), ("tagger", "tagger")):
        expected = _saved_model(built.sentiment if key == "classifier" else built.ner,
                                inputs[key])
        for output in ("logits", "probabilities"):
            np.testing.assert_allclose(report[name]["results"][output], expected[output],
                                       rtol=1e-4, atol=1e-4)
    assert built.records["float"]["source"] == "model.keras"
    assert built.records["tagger"]["source"] == "saved_model"


def test_quantized_files_agree_with_the_saved_model(fresh, built):
    report, inputs = fresh
    # A handful of training texts beside the batch of 3.
    texts = TEXTS + litert_export.read_texts_file(built.train, 8)
    batch = representative_inputs(built.sentiment, texts, batch_size=len(texts))[0]
    expected = _saved_model(built.sentiment, batch)["probabilities"]
    for name in ("dynamic", "int8"):
        np.testing.assert_allclose(report[name]["results"]["probabilities"],
                                   expected[:3], atol=0.1)
        got = LiteRTModel(built.records[name]["path"]).run(batch)["probabilities"]
        assert (got.argmax(-1) == expected.argmax(-1)).mean() >= 0.9, (name, got, expected)
        assert np.abs(got - expected).max() < 0.15


def test_sizes_in_the_metadata(built):
    metadata = read_metadata(built.sentiment)
    sizes = {f: os.path.getsize(os.path.join(built.sentiment, f)) for f in
             ("model.tflite", "model.dynamic.tflite", "model.int8.tflite")}
    assert metadata["litert"] == {
        "model.tflite": {"quantize": "none", "size_bytes": sizes["model.tflite"],
                         "source": "model.keras"},
        "model.dynamic.tflite": {"quantize": "dynamic", "source": "model.keras",
                                 "size_bytes": sizes["model.dynamic.tflite"]},
        "model.int8.tflite": {"quantize": "int8", "source": "model.keras",
                              "size_bytes": sizes["model.int8.tflite"]}}
    assert metadata["class_names"] == CLASSES  # the rest is kept
    float_size = metadata["saved_model_size_bytes"]
    assert sizes["model.tflite"] > 0.8 * float_size
    assert sizes["model.int8.tflite"] < 0.4 * float_size
    assert sizes["model.dynamic.tflite"] < 0.4 * float_size


def test_interpreter_wrapper_refuses_bad_inputs(built):
    model = LiteRTModel(built.records["float"]["path"], num_threads=1)
    good = {"token_ids": np.array([[101, 2204, 102]]), "segment_ids": np.zeros((1, 3), np.int32),
            "padding_mask": np.ones((1, 3), np.int32)}
    np.testing.assert_allclose(model.run(good)["probabilities"].sum(), 1.0, rtol=1e-5)
    for bad, message in (
            ({**good, "token_ids": good["token_ids"].astype(np.float32)}, "must be int32"),
            ({**good, "token_ids": np.array([101, 102, 103])}, r"shape \[-1, -1\]"),
            ({**good, "padding_mask": np.ones((1, 4), np.int32)}, "differ in shape"),
            ({k: v for k, v in good.items() if k != "segment_ids"}, "takes the inputs"),
            ({**good, "token_ids": np.array([[101, 2 ** 40, 102]])}, "outside int32"),
            ({**good, "token_ids": np.array([["a", "b", "c"]])}, "must be int32")):
        with pytest.raises(LiteRTInputError, match=message):
            model.run(bad)
    with pytest.raises(RuntimeError):  # a token id outside the vocabulary
        model.run({**good, "token_ids": np.array([[101, 10 ** 6, 102]], np.int32)})
    empty = model.run({k: v[:0] for k, v in good.items()})
    assert empty["probabilities"].shape == (0, 2)
    tagger = LiteRTModel(built.records["tagger"]["path"])
    assert tagger.run({k: np.zeros((2, 0), np.int32) for k in tagger.inputs})[
        "logits"].shape == (2, 1, len(TAGS))  # as the SavedModel pads an empty batch
    with pytest.raises(ValueError, match="no signature 'serving_default'"):
        LiteRTModel(built.records["float"]["path"], signature="serving_default")


def test_bad_conversions_leave_the_version_as_it_was(built, monkeypatch, tmp_path):
    files = sorted(os.listdir(built.sentiment))
    metadata = read_metadata(built.sentiment)
    with pytest.raises(ValueError, match="needs representative inputs"):
        export_litert(built.sentiment, "int8")
    with pytest.raises(ValueError, match="`quantize` must be one of"):
        export_litert(built.sentiment, "int4")

    # A conversion whose output is not a LiteRT model is refused before anything is written.
    monkeypatch.setattr(litert_export, "convert", lambda *a: (b"\x00" * 64, "saved_model"))
    with pytest.raises(ValueError, match="not a LiteRT model"):
        export_litert(built.sentiment, "dynamic")
    monkeypatch.undo()
    assert sorted(os.listdir(built.sentiment)) == files
    assert read_metadata(built.sentiment) == metadata

    def fail(*args):
        raise OSError("disk full")

    # A write that fails at the rename leaves neither the file nor its temporary.
    target = tmp_path / "model.tflite"
    monkeypatch.setattr(litert_export.os, "replace", fail)
    try:
        with pytest.raises(OSError, match="disk full"):
            litert_export.write_bytes_atomic(target, b"data")
    finally:
        monkeypatch.undo()
    assert os.listdir(tmp_path) == []
    not_a_model = tmp_path / "not_a_model"
    not_a_model.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a LiteRT model"):
        LiteRTModel(not_a_model)


def _flags(**values):
    return types.SimpleNamespace(**{"version": None, "quantize": "none",
                                    "representative_data": None, "representative_examples": 20,
                                    "num_threads": 1, **values})


def test_app_refuses_bad_inputs(built, tmp_path):
    (tmp_path / "empty").mkdir()
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": x}, input_signature=[tf.TensorSpec([None], tf.int32)])
    tf.saved_model.save(module, str(tmp_path / "other" / "1"),
                        signatures={"serving_default": module.f.get_concrete_function()})
    ner_base = os.path.dirname(built.ner)
    for values, message in (
            ({"model_dir": str(tmp_path / "missing")}, "Model directory not found"),
            ({"model_dir": str(tmp_path / "empty")}, "holds no version directory"),
            ({"model_dir": str(tmp_path / "other")}, "no 'serve_token_ids' signature"),
            ({"model_dir": ner_base, "version": 7}, r"has no version 7; it has \[1\]"),
            ({"model_dir": ner_base, "quantize": "int4"}, "--quantize must be one of"),
            ({"model_dir": ner_base, "quantize": "int8"}, "needs texts to calibrate on"),
            ({"model_dir": ner_base, "quantize": "int8",
              "representative_data": str(tmp_path / "nope.tsv")},
             "Representative data not found")):
        with pytest.raises(app.AppError, match=message):
            app.run(_flags(**values))


def test_app_command(built):
    ok, bad = run_apps([
        ("apps.export_litert", [f"--model_dir={os.path.dirname(built.ner)}", "--quantize=int8",
                                f"--representative_data={built.train}",
                                "--representative_examples=8", "--num_threads=1"]),
        ("apps.export_litert", [f"--model_dir={built.ner}", "--quantize=int8"])],
        expect_ok=False)
    assert ok.returncode == 0, ok.stderr[-3000:]
    lines = ok.stdout.strip().splitlines()
    assert lines[0] == os.path.join(built.ner, "model.int8.tflite")
    assert "of the float SavedModel's" in lines[1] and "weights from saved_model" in lines[1]
    assert "max |probability difference|" in lines[2] and "labels agree" in lines[2]
    assert "model.int8.tflite" in read_metadata(built.ner)["litert"]
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("error: --quantize=int8 needs texts")
