"""Warm-up requests: written into every export before it is published, parsed with TF
Serving's own protos, replayed through the loaded SavedModel."""

import collections
import shutil

import numpy as np
import pytest
import tensorflow as tf

from bertlab.export.warmup import (MAX_WARMUP_RECORDS, default_warmup_examples,
                                    read_warmup_requests, signature_inputs, warmup_path,
                                    write_default_warmup_requests, write_warmup_requests)
from tests.serving.helpers import load_saved_model

APPS = ["sentiment", "ner", "translation", "summarization"]


def _parse(path):
    from tensorflow_serving.apis import prediction_log_pb2

    return [prediction_log_pb2.PredictionLog.FromString(record)
            for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator()]


@pytest.mark.parametrize("app", APPS)
def test_warmup_file_parses_and_replays(exports, app):
    path = exports[app] / "assets.extra" / "tf_serving_warmup_requests"
    logs = _parse(path)
    assert logs and all(log.WhichOneof("log_type") == "predict_log" for log in logs)
    requests = [log.predict_log.request for log in logs]
    loaded = load_saved_model(exports[app])
    assert {r.model_spec.signature_name for r in requests} == set(loaded.signatures) == {
        "serving_default", "serve_token_ids"}
    sizes = set()
    for request in requests:
        function = loaded.signatures[request.model_spec.signature_name]
        expected = set(function.structured_input_signature[1])
        assert set(request.inputs) == expected
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        outputs = function(**{k: tf.constant(v) for k, v in inputs.items()})
        batch = next(iter(inputs.values())).shape[0]
        sizes.add(batch)
        for value in outputs.values():
            assert value.shape[0] == batch
    assert sizes == {1, 5}  # a single text and a batch
    # Our reader agrees with the protos.
    assert [(s, sorted(i)) for s, i in read_warmup_requests(exports[app])] == [
        (r.model_spec.signature_name, sorted(r.inputs)) for r in requests]


def test_write_appends_per_signature_and_checks_arguments(tmp_path):
    write_warmup_requests(tmp_path, "serving_default", [{"text": ["a", "b"]}])
    write_warmup_requests(tmp_path, "serve_token_ids",
                          [{"token_ids": np.ones((1, 3), np.int32),
                            "padding_mask": np.ones((1, 3), np.int32)}])
    requests = read_warmup_requests(tmp_path)
    assert [s for s, _ in requests] == ["serving_default", "serve_token_ids"]
    np.testing.assert_array_equal(requests[0][1]["text"], [b"a", b"b"])
    assert requests[1][1]["token_ids"].dtype == np.int32
    with pytest.raises(ValueError, match="`examples` is empty"):
        write_warmup_requests(tmp_path, "serving_default", [])
    with pytest.raises(ValueError, match="has no inputs"):
        write_warmup_requests(tmp_path, "serving_default", [{}])
    with pytest.raises(ValueError, match="at most 1000"):
        write_warmup_requests(tmp_path, "serving_default",
                              [{"text": ["x"]}] * (MAX_WARMUP_RECORDS - 1))
    assert len(read_warmup_requests(tmp_path)) == 2  # the refused call wrote nothing
    assert not (tmp_path / "assets.extra" / "tf_serving_warmup_requests.tmp").exists()
    assert read_warmup_requests(tmp_path / "none") == []


def test_default_examples_follow_the_signatures(exports):
    specs = signature_inputs(exports["sentiment"])
    assert set(specs) == {"serving_default", "serve_token_ids"}
    ids = default_warmup_examples(specs["serve_token_ids"])
    for request in ids:
        mask = request["padding_mask"]
        assert mask[:, 0].all() and (request["token_ids"] > 0).all()
        assert request["segment_ids"].max() == 0
    with pytest.raises(ValueError, match="No default warm-up value for input 'image'"):
        default_warmup_examples({"image": (np.dtype(np.float32), (-1, 3))})
    with pytest.raises(ValueError, match="must be tf.string"):
        default_warmup_examples({"text": (np.dtype(np.int32), (-1,))})
    with pytest.raises(ValueError, match="'context' must be tf.string"):
        default_warmup_examples({"question": (np.dtype(object), (-1,)),
                                 "context": (np.dtype(np.int32), (-1, 2))})
    # A question answerer: two string inputs, different texts in each request row.
    one, many = default_warmup_examples({"question": (np.dtype(object), (-1,)),
                                         "context": (np.dtype(object), (-1,))})
    assert len(one["question"]) == 1 and len(many["context"]) == len(many["question"]) > 1
    assert [q != c for q, c in zip(many["question"], many["context"])] == [True] * len(
        many["question"])
    assert warmup_path("x").endswith("x/assets.extra/tf_serving_warmup_requests")


def test_default_examples_give_an_integer_scalar_beside_texts_a_value():
    # A search signature: `query` strings and a scalar `k`.
    one, many = default_warmup_examples({"query": (np.dtype(object), (-1,)),
                                         "k": (np.dtype(np.int32), ())})
    assert len(one["query"]) == 1 and len(many["query"]) > 1
    assert one["k"].shape == () and one["k"].dtype == np.int32 and int(many["k"]) >= 1
    with pytest.raises(ValueError, match="'k' must be tf.string"):
        default_warmup_examples({"query": (np.dtype(object), (-1,)),
                                 "k": (np.dtype(np.float32), (4,))})


def test_default_examples_give_float_scalars_a_valid_probability():
    # A language model's `generate`: sampling settings beside the prompts.
    one, _ = default_warmup_examples({"prompt": (np.dtype(object), (-1,)),
                                      "top_p": (np.dtype(np.float32), ()),
                                      "max_new_tokens": (np.dtype(np.int32), ())})
    assert one["top_p"].dtype == np.float32 and 0.0 < float(one["top_p"]) <= 1.0
    assert one["max_new_tokens"].dtype == np.int32 and int(one["max_new_tokens"]) >= 1


def test_default_requests_leave_the_exporter_s_own(exports, tmp_path):
    export = tmp_path / "sentiment"
    shutil.copytree(exports["sentiment"], export)
    (export / "assets.extra" / "tf_serving_warmup_requests").unlink()
    write_warmup_requests(export, "serving_default", [{"text": ["its own"]}])
    path = write_default_warmup_requests(export)
    assert path == warmup_path(export)
    requests = read_warmup_requests(export)
    assert [s for s, _ in requests] == ["serving_default"] + ["serve_token_ids"] * 2
    np.testing.assert_array_equal(requests[0][1]["text"], [b"its own"])
    write_default_warmup_requests(export)  # every signature has its requests: none added
    assert len(read_warmup_requests(export)) == 3


def test_a_language_model_allowing_fewer_new_tokens_than_the_default_warms_up(
        lm_tokenizer, tmp_path):
    """`generate` refuses more than the export's `max_length` new tokens; the default
    warm-up asks 3, so a language-model export writes `generate`'s own (a refused warm-up
    request makes TF Serving and `apps.serve` refuse the export)."""
    from bertlab.decoding import DecodingConfig
    from tests.serving.exports import build_language_model_export

    path = build_language_model_export(tmp_path, lm_tokenizer,
                                       DecodingConfig(method="greedy", max_length=2))
    requests = read_warmup_requests(path)
    assert collections.Counter(s for s, _ in requests) == {
        "serving_default": 2, "generate": 2, "score_text": 2, "serve_token_ids": 2}
    loaded = load_saved_model(path)
    for signature, inputs in requests:
        if signature == "generate":
            assert int(inputs["max_new_tokens"]) == 2 and inputs["prompt"].shape[0] in (1, 5)
        outputs = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        assert outputs
