"""`--prefer_tflite_model`: a version holding its LiteRT file is served from it behind the same
REST API (its `serve_token_ids` only; rows and columns; `/metadata`; bad inputs answered 400),
while a version without the file is served from its SavedModel."""

import shutil

import numpy as np
import pytest
import tensorflow as tf

from bertlab.export.litert_export import export_litert, representative_inputs
from bertlab.export.litert_model import LiteRTModel
from bertlab.serving.litert_servable import LiteRTOptions
from tests.serving.helpers import http

TEXTS = ["a gripping , beautifully acted film", "dull", "the plot is thin and the jokes fall flat"]


@pytest.fixture(scope="module")
def litert_server(exports, tmp_path_factory):
    """The session's sentiment export with a `model.tflite` and its NER export without one,
    served with `LiteRTOptions()`."""
    from bertlab.serving.model_registry import ModelRegistry
    from bertlab.serving.rest_server import BackgroundServer, create_app

    base = tmp_path_factory.mktemp("litert_serving")
    for name in ("sentiment", "ner"):
        shutil.copytree(exports[name], base / name / "1")
    export_litert(base / "sentiment" / "1", "none")
    registry = ModelRegistry(base, poll_interval_s=0, litert=LiteRTOptions()).start()
    server = BackgroundServer(create_app(registry)).start()
    server.base = base
    try:
        yield server
    finally:
        server.stop()
        registry.stop()


def test_metadata_lists_the_litert_signature(litert_server):
    status, metadata = http(f"{litert_server.url}/v1/models/sentiment/metadata")
    assert status == 200
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert sorted(signatures) == ["serve_token_ids"]
    token_ids = signatures["serve_token_ids"]["inputs"]["token_ids"]
    assert token_ids["dtype"] == "DT_INT32"
    assert [d["size"] for d in token_ids["tensor_shape"]["dim"]] == ["-1", "-1"]
    assert sorted(signatures["serve_token_ids"]["outputs"]) == ["logits", "probabilities"]
    assert metadata["metadata"]["litert"]["file"] == "model.tflite"
    # Without the file: the SavedModel, every signature.
    status, metadata = http(f"{litert_server.url}/v1/models/ner/metadata")
    assert sorted(metadata["metadata"]["signature_def"]["signature_def"]) == [
        "serve_token_ids", "serving_default"]
    assert "litert" not in metadata["metadata"]


def test_predict_rows_and_columns_from_the_litert_file(litert_server):
    version = litert_server.base / "sentiment" / "1"
    batch = representative_inputs(version, TEXTS, batch_size=len(TEXTS))[0]
    url = f"{litert_server.url}/v1/models/sentiment/versions/1:predict"
    rows = [{k: v[i].tolist() for k, v in batch.items()} for i in range(len(TEXTS))]
    status, by_rows = http(url, {"signature_name": "serve_token_ids", "instances": rows})
    assert status == 200, by_rows
    status, by_columns = http(url, {"signature_name": "serve_token_ids",
                                    "inputs": {k: v.tolist() for k, v in batch.items()}})
    assert status == 200, by_columns
    expected = LiteRTModel(version / "model.tflite").run(batch)
    np.testing.assert_allclose([r["probabilities"] for r in by_rows["predictions"]],
                               expected["probabilities"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(by_columns["outputs"]["logits"], expected["logits"],
                               rtol=1e-5, atol=1e-6)
    saved = tf.saved_model.load(str(version)).signatures["serve_token_ids"]
    np.testing.assert_allclose(expected["probabilities"], saved(**{
        k: tf.constant(v) for k, v in batch.items()})["probabilities"].numpy(), atol=1e-4)
    # The tagger without the file answers its text signature from the SavedModel.
    status, tagged = http(f"{litert_server.url}/v1/models/ner:predict",
                          {"instances": ["EU rejects German call"]})
    assert status == 200 and len(tagged["predictions"][0]["tags"]) == 4


def test_bad_requests_to_the_litert_file(litert_server):
    url = f"{litert_server.url}/v1/models/sentiment:predict"
    row = {"token_ids": [101, 2204, 102], "segment_ids": [0, 0, 0], "padding_mask": [1, 1, 1]}
    status, body = http(url, {"instances": ["a fine film"]})
    assert status == 400 and "'serving_default' not found" in body["error"]
    status, body = http(url, {"signature_name": "serve_token_ids",
                              "instances": [{**row, "token_ids": [101, 10 ** 6, 102]}]})
    assert status == 400 and body["error"].startswith("The model rejected the input: LiteRT")
    status, body = http(url, {"signature_name": "serve_token_ids",
                              "instances": [{**row, "token_ids": [1.5, 2, 3]}]})
    assert status == 400
    status, body = http(url, {"signature_name": "serve_token_ids", "instances": [row]})
    assert status == 200 and np.isclose(sum(body["predictions"][0]["probabilities"]), 1.0)


def test_litert_options_refuse_bad_file_names():
    for name in ("../model.tflite", "model.onnx", ".model.tflite", "dir/model.tflite"):
        with pytest.raises(ValueError, match="file name ending in .tflite"):
            LiteRTOptions(name)
    with pytest.raises(ValueError, match="num_threads"):
        LiteRTOptions(num_threads=0)
