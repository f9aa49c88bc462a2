"""The local server's TF Serving REST API: every endpoint against the exports, TF Serving's
JSON shapes, answers equal to the SavedModel's own, and every kind of bad request refused
with a clear 4xx while the next request is served."""

import http.client as http_client
import json

import numpy as np
import pytest
import tensorflow as tf

from tests.serving.helpers import http, load_saved_model

GOOD = {"instances": ["a gripping , beautifully acted film"]}


def _direct(path, signature="serving_default", **inputs):
    function = load_saved_model(path).signatures[signature]
    return {k: v.numpy() for k, v in function(**{k: tf.constant(v) for k, v in
                                                 inputs.items()}).items()}


def test_status_and_metadata(server, exports):
    from tensorflow.core.protobuf import meta_graph_pb2
    from google.protobuf import json_format

    for name in ["sentiment", "ner", "translation", "translation_de_en", "summarization"]:
        assert http(f"{server.url}/v1/models/{name}") == (200, {"model_version_status": [
            {"version": "1", "state": "AVAILABLE",
             "status": {"error_code": "OK", "error_message": ""}}]})
        assert http(f"{server.url}/v1/models/{name}/versions/1")[0] == 200
        status, metadata = http(f"{server.url}/v1/models/{name}/metadata")
        assert status == 200
        assert metadata["model_spec"] == {"name": name, "signature_name": "", "version": "1"}
        signatures = metadata["metadata"]["signature_def"]["signature_def"]
        assert set(signatures) == {"serving_default", "serve_token_ids"}
        text = signatures["serving_default"]["inputs"]["text"]
        assert text["dtype"] == "DT_STRING"
        assert text["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}],
                                        "unknown_rank": False}
        assert signatures["serving_default"]["method_name"] == "tensorflow/serving/predict"
        # The JSON is TF Serving's: it parses back into a SignatureDef.
        json_format.ParseDict(signatures["serve_token_ids"], meta_graph_pb2.SignatureDef())
    assert http(f"{server.url}/v1/models/sentiment/versions/1/metadata")[0] == 200


def test_predict_row_and_columnar_match_the_saved_model(server, exports):
    texts = ["a gripping , beautifully acted film", "dull", ""]
    status, rows = http(f"{server.url}/v1/models/sentiment:predict", {"instances": texts})
    assert status == 200 and len(rows["predictions"]) == 3
    direct = _direct(exports["sentiment"], text=texts)
    np.testing.assert_allclose([r["probabilities"] for r in rows["predictions"]],
                               direct["probabilities"], rtol=1e-5, atol=1e-6)
    assert [r["label"] for r in rows["predictions"]] == [x.decode() for x in direct["label"]]
    status, columns = http(f"{server.url}/v1/models/sentiment/versions/1:predict",
                           {"inputs": {"text": texts}})
    assert status == 200 and set(columns["outputs"]) == {"label", "probabilities"}
    np.testing.assert_allclose(columns["outputs"]["probabilities"], direct["probabilities"],
                               rtol=1e-5, atol=1e-6)
    # Single input: the bare value form of both formats.
    assert http(f"{server.url}/v1/models/sentiment:predict", {"inputs": texts})[1] == columns
    assert http(f"{server.url}/v1/models/sentiment:predict",
                {"instances": [{"text": t} for t in texts]})[1] == rows


def test_predict_every_app(server, exports):
    status, body = http(f"{server.url}/v1/models/ner:predict",
                        {"instances": ["EU rejects German call", "Peter"]})
    direct = _direct(exports["ner"], text=["EU rejects German call", "Peter"])
    assert status == 200
    assert [p["tokens"] for p in body["predictions"]] == [
        ["EU", "rejects", "German", "call"], ["Peter", "", "", ""]]
    assert [p["tags"] for p in body["predictions"]] == [
        [t.decode() for t in row] for row in direct["tags"]]
    # The three generation exports share one model and decoding (see exports.py).
    direct = _direct(exports["translation"], text=["A dog runs.", "Zwei Männer"])
    expected = [x.decode("utf-8", "replace") for x in direct["translation"]]
    for name in ["translation", "translation_de_en", "summarization"]:
        status, body = http(f"{server.url}/v1/models/{name}:predict",
                            {"instances": ["A dog runs.", "Zwei Männer"]})
        assert status == 200 and body["predictions"] == expected
        status, body = http(f"{server.url}/v1/models/{name}:predict",
                            {"signature_name": "serve_token_ids", "inputs": {
                                "token_ids": [[2, 5, 9, 3]], "padding_mask": [[1, 1, 1, 1]]}})
        assert status == 200 and set(body["outputs"]) == {"token_ids", "lengths", "scores"}


def test_token_id_signature(server, exports):
    ids = {"token_ids": [[101, 2204, 102], [101, 102, 0]], "segment_ids": [[0, 0, 0]] * 2,
           "padding_mask": [[1, 1, 1], [1, 1, 0]]}
    status, body = http(f"{server.url}/v1/models/sentiment:predict",
                        {"signature_name": "serve_token_ids", "inputs": ids})
    assert status == 200
    direct = _direct(exports["sentiment"], "serve_token_ids",
                     **{k: np.array(v, np.int32) for k, v in ids.items()})
    np.testing.assert_allclose(body["outputs"]["logits"], direct["logits"], rtol=1e-5,
                               atol=1e-6)
    rows = [{k: v[i] for k, v in ids.items()} for i in range(2)]
    status, body = http(f"{server.url}/v1/models/sentiment:predict",
                        {"signature_name": "serve_token_ids", "instances": rows})
    assert status == 200 and len(body["predictions"]) == 2


# An emoji (one code point, two UTF-16 units, four UTF-8 bytes) before the answer.
QA_CONTEXT = "🗼 The tower stands in Paris , France ."
QA_GOOD = {"instances": [{"question": "Where is the tower?", "context": QA_CONTEXT}]}


def test_question_answering_rows_and_columns(server, exports):
    """Two named string inputs, in both formats: the answer and its code-point offsets, as
    the SavedModel gives them (the export answers "Paris": tests/serving/exports.py)."""
    questions = ["Where is the tower?", "Which city?", "Where?", "Anything?"]
    long_context = "The river is wide and slow here . " * 30 + "🎉 Then we reached Paris ."
    contexts = [QA_CONTEXT, "paris is the capital .", long_context, ""]
    status, rows = http(f"{server.url}/v1/models/qa:predict", {"instances": [
        {"question": q, "context": c} for q, c in zip(questions, contexts)]})
    assert status == 200, rows
    predictions = rows["predictions"]
    assert [sorted(p) for p in predictions] == [["answer", "end", "score", "start"]] * 4
    for prediction, context in zip(predictions[:3], contexts):
        start, end = prediction["start"], prediction["end"]
        assert prediction["answer"] == context[start:end] == context[start:end].strip()
        assert prediction["answer"].lower() == "paris"
        assert start == context.lower().rindex("paris")  # Python's (code-point) offsets
    prefix = QA_CONTEXT[:predictions[0]["start"]]
    assert prefix == "🗼 The tower stands in "
    assert len(prefix.encode("utf-16-le")) // 2 == len(prefix) + 1  # a JS index differs
    assert predictions[2]["start"] > 1000  # found in a later window of the long context
    assert predictions[3] == {"answer": "", "end": 0, "score": -1e9, "start": 0}  # no context
    direct = _direct(exports["qa"], question=questions, context=contexts)
    assert [p["answer"] for p in predictions] == [a.decode() for a in direct["answer"]]
    assert [p["start"] for p in predictions] == direct["start"].tolist()
    assert [p["end"] for p in predictions] == direct["end"].tolist()
    np.testing.assert_allclose([p["score"] for p in predictions], direct["score"], rtol=1e-6)

    status, columns = http(f"{server.url}/v1/models/qa:predict",
                           {"inputs": {"question": questions, "context": contexts}})
    assert status == 200, columns
    assert columns == {"outputs": {name: [p[name] for p in predictions]
                                   for name in ["answer", "end", "score", "start"]}}

    status, metadata = http(f"{server.url}/v1/models/qa/metadata")
    assert status == 200
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sorted(signature["inputs"]) == ["context", "question"]
    assert sorted(signature["outputs"]) == ["answer", "end", "score", "start"]
    assert {i["dtype"] for i in signature["inputs"].values()} == {"DT_STRING"}


QA_BAD_REQUESTS = [
    # (what, body, message)
    ("a row without a context", {"instances": [{"question": "Where is the tower?"}]},
     "Instance 0 has inputs ['question']; the signature takes ['context', 'question']."),
    ("a second row without a context", {"instances": [
        {"question": "Where?", "context": QA_CONTEXT}, {"question": "Where?"}]},
     "Instance 1 has inputs ['question']; the signature takes ['context', 'question']."),
    ("columns without a context", {"inputs": {"question": ["Where is the tower?"]}},
     "'inputs' has ['question']; the signature takes ['context', 'question']."),
    ("a bare question", {"instances": ["Where is the tower?"]},
     "Each instance must be an object with the inputs ['context', 'question']"),
    ("a bare question, columnar", {"inputs": ["Where is the tower?"]},
     "'inputs' must be an object with the inputs ['context', 'question']."),
    ("a number for the context", {"instances": [{"question": "Where?", "context": 7}]},
     "Input 'context' takes strings, got int 7."),
    ("more questions than contexts", {"inputs": {"question": ["a", "b"], "context": ["c"]}},
     "Inputs differ in batch size"),
]


@pytest.mark.parametrize("what,body,message", QA_BAD_REQUESTS,
                         ids=[b[0] for b in QA_BAD_REQUESTS])
def test_bad_question_answering_request_is_refused(server, what, body, message):
    status, answer = http(f"{server.url}/v1/models/qa:predict", body)
    assert status == 400, answer
    assert set(answer) == {"error"} and message in answer["error"], answer
    status, answer = http(f"{server.url}/v1/models/qa:predict", QA_GOOD)
    assert status == 200 and answer["predictions"][0]["answer"] == "Paris"


BAD_REQUESTS = [
    # (what, path suffix, body (bytes or JSON-able), method, status, message part)
    ("malformed JSON", ":predict", b'{"instances": [', None, 400, "Malformed JSON"),
    ("empty body", ":predict", b"", None, 400, "body is empty"),
    ("not an object", ":predict", [1, 2], None, 400, "must be a JSON object"),
    ("invalid UTF-8", ":predict", b'{"instances": ["caf\xe9"]}', None, 400, "not valid UTF-8"),
    ("lone surrogate", ":predict", b'{"instances": ["\\ud800"]}', None, 400, "not valid Unicode"),
    ("NaN constant", ":predict", b'{"instances": [NaN]}', None, 400, "NaN is not a JSON"),
    ("deep nesting", ":predict", b"[" * 100000 + b"]" * 100000, None, 400, "Malformed JSON"),
    ("600 nested arrays", ":predict", b'{"instances": ' + b"[" * 600 + b'"a"' + b"]" * 600 +
     b"}", None, 400, "nested too deeply"),
    ("5,000-digit integer", ":predict", b'{"instances": [' + b"7" * 5000 + b"]}", None, 400,
     "an integer with more than 4300 digits"),
    ("both formats", ":predict", {"instances": ["a"], "inputs": ["a"]}, None, 400,
     "exactly one of"),
    ("neither format", ":predict", {"signature_name": "serving_default"}, None, 400,
     "exactly one of"),
    ("unknown key", ":predict", {"instances": ["a"], "extra": 1}, None, 400, "Unknown keys"),
    ("wrong input name", ":predict", {"instances": [{"txt": "a"}]}, None, 400,
     "the signature takes ['text']"),
    ("wrong columnar name", ":predict", {"inputs": {"txt": ["a"]}}, None, 400,
     "the signature takes ['text']"),
    ("number for text", ":predict", {"instances": [1]}, None, 400, "takes strings, got int"),
    ("boolean for text", ":predict", {"inputs": {"text": [True]}}, None, 400, "takes strings"),
    ("object for text", ":predict", {"instances": [{"text": {"x": 1}}]}, None, 400,
     "must be {\"b64\""),
    ("bad base64", ":predict", {"instances": [{"b64": "***"}]}, None, 400, "invalid base64"),
    ("wrong rank", ":predict", {"inputs": {"text": [["a"]]}}, None, 400, "must have rank 1"),
    ("empty instances", ":predict", {"instances": []}, None, 400, "non-empty list"),
    ("unknown signature", ":predict", {"signature_name": "nope", "instances": ["a"]}, None,
     400, "'nope' not found"),
    ("ragged ids", ":predict", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [[1, 2], [1]], "segment_ids": [[0, 0], [0]],
        "padding_mask": [[1, 1], [1]]}}, None, 400, "ragged"),
    ("float id", ":predict", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [[1.5]], "segment_ids": [[0]], "padding_mask": [[1]]}}, None, 400,
     "takes integers"),
    ("id beyond int32", ":predict", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [[2 ** 40]], "segment_ids": [[0]], "padding_mask": [[1]]}}, None, 400,
     "outside the int32 range"),
    ("id beyond the vocabulary", ":predict", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [[10 ** 8]], "segment_ids": [[0]], "padding_mask": [[1]]}}, None, 400,
     "The model rejected the input"),
    ("batch sizes differ", ":predict", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [[1]], "segment_ids": [[0], [0]], "padding_mask": [[1]]}}, None, 400,
     "differ in batch size"),
    ("10,000-character text", ":predict", {"instances": ["x" * 10000]}, None, 413,
     "10000 characters is longer than the limit of 5000"),
    ("too many rows", ":predict", {"instances": ["a"] * 300}, None, 413,
     "300 rows is more than the limit of 256"),
    ("unknown model", "/../nope:predict", None, None, 404, "Malformed request"),
    ("GET predict", ":predict", None, "GET", 405, "use POST"),
    ("POST status", "", {"instances": ["a"]}, None, 405, "use GET"),
    ("classify", ":classify", {"instances": ["a"]}, None, 400, "use :predict"),
    ("unknown version", "/versions/9:predict", {"instances": ["a"]}, None, 404,
     "Specific(sentiment, 9)"),
    ("invalid version", "/versions/abc:predict", {"instances": ["a"]}, None, 400,
     "Invalid version 'abc'"),
    ("label", "/labels/stable:predict", {"instances": ["a"]}, None, 404, "labels"),
    ("unknown version status", "/versions/9", None, None, 404, "version 9"),
]


@pytest.mark.parametrize("what,suffix,body,method,status,message", BAD_REQUESTS,
                         ids=[b[0] for b in BAD_REQUESTS])
def test_bad_request_is_refused_and_the_next_is_served(server, what, suffix, body, method,
                                                       status, message):
    got, answer = http(f"{server.url}/v1/models/sentiment{suffix}", body, method=method)
    assert got == status, answer
    assert isinstance(answer, dict) and set(answer) == {"error"}
    assert message in answer["error"], answer["error"]
    assert http(f"{server.url}/v1/models/sentiment:predict", GOOD)[0] == 200


def _send_raw(server, head, chunks):
    """Sends a request's head and body chunks on a raw socket, stopping when the server
    answers or closes; returns the status line and the JSON body."""
    import socket

    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early and closed: read what it said
        data = b""
        try:
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                block = sock.recv(65536)
                if not block:
                    break
                data += block
        except ConnectionResetError:
            pass
    head_part, _, body = data.partition(b"\r\n\r\n")
    if b"chunked" in head_part.lower():
        body = body.split(b"\r\n")[1]
    return head_part.split(b"\r\n")[0], json.loads(body)


def test_oversized_body_is_refused_without_reading_it(server):
    size = 50 * 2 ** 20
    head = (f"POST /v1/models/sentiment:predict HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n").encode()
    status, body = _send_raw(server, head, [b"[" * 65536] * 4)
    assert b" 413 " in status
    assert body == {"error": f"The request body ({size} bytes) is larger than the limit of "
                             "1048576 bytes."}
    # Without a length (chunked), the limit applies while reading.
    head = (b"POST /v1/models/sentiment:predict HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b" " * 65536 + b"\r\n"
    status, body = _send_raw(server, head, [chunk] * 40)
    assert b" 413 " in status
    assert body == {"error": "The request body is larger than the limit of 1048576 bytes."}
    assert http(f"{server.url}/v1/models/sentiment:predict", GOOD)[0] == 200


def test_unknown_model(server):
    assert http(f"{server.url}/v1/models/nope") == (
        404, {"error": "Could not find any versions of model nope"})
    assert http(f"{server.url}/v1/models/nope:predict", GOOD) == (
        404, {"error": "Servable not found for request: Latest(nope)"})
    assert http(f"{server.url}/v1/models/nope/metadata")[0] == 404
    assert http(f"{server.url}/v2/whatever")[0] == 404


def _raw_get(server, path):
    connection = http_client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request("GET", path)  # sent as written: no client-side normalization
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("path", [
    "/v1/models/../../../../etc/passwd",
    "/v1/models/..%2F..%2F..%2Fetc%2Fpasswd/metadata",
    "/v1/models/%2e%2e/metadata",
    "/v1/models/..",
    "/v1/models/.%2e/versions/1",
    "/v1/models/sentiment%2F..%2F..%2Fner/metadata",
    "/v1/models/%00sentiment",
    "/static/../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
])
def test_path_traversal_is_refused(server, path):
    status, body = _raw_get(server, path)
    assert status in (400, 404), (status, body[:200])
    assert b"root:" not in body and b"saved_model" not in body
    if path.startswith("/v1/"):
        assert "error" in json.loads(body)
    assert http(f"{server.url}/v1/models/sentiment:predict", GOOD)[0] == 200


def test_demo_listing_and_page(server):
    status, body = http(f"{server.url}/demo/apps.json")
    assert status == 200
    kinds = {a["name"]: (a["kind"], a.get("direction")) for a in body["apps"]}
    assert kinds == {"sentiment": ("sentiment", None), "ner": ("ner", None),
                     "qa": ("question_answering", None),
                     "translation": ("translation", "en-de"),
                     "translation_de_en": ("translation", "de-en"),
                     "summarization": ("summarization", None)}
    # Exactly what the page reads (`apps.serve.app_views` through the server's hook).
    assert body["apps"] == [
        {"name": "ner", "version": 1, "kind": "ner", "label": "Named entities"},
        {"name": "qa", "version": 1, "kind": "question_answering",
         "label": "Question answering"},
        {"name": "sentiment", "version": 1, "kind": "sentiment", "label": "Sentiment",
         "class_names": ["negative", "positive"]},
        {"name": "summarization", "version": 1, "kind": "summarization",
         "label": "Summarization", "output": "summary"},
        {"name": "translation", "version": 1, "kind": "translation",
         "label": "English → German", "direction": "en-de", "output": "translation"},
        {"name": "translation_de_en", "version": 1, "kind": "translation",
         "label": "German → English", "direction": "de-en", "output": "translation"}]
    status, page = http(f"{server.url}/")
    assert status == 200 and b"<title>bertlab demo</title>" in page
    for asset in ["app.js", "style.css"]:
        assert http(f"{server.url}/static/{asset}")[0] == 200
