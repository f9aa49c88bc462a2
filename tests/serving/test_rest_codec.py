"""The REST codec without HTTP: JSON bodies to input arrays (TF Serving's row and columnar
formats, `{"b64": ...}` strings, limits, every malformed request refused with its message)
and output arrays to JSON, against hand-written values."""

import base64

import numpy as np
import pytest

from bertlab.serving.rest_codec import (Limits, RequestError, decode_json_body,
                                        format_predict_response, parse_predict_request)

TEXT = {"serving_default": {"text": (np.dtype(object), (-1,))}}
PAIR = {"serving_default": {"text": (np.dtype(object), (-1,)),
                            "text_pair": (np.dtype(object), (-1,))}}
IDS = {"serve_token_ids": {"token_ids": (np.dtype(np.int32), (-1, -1)),
                           "padding_mask": (np.dtype(np.int32), (-1, -1))},
       "serving_default": {"text": (np.dtype(object), (-1,))}}
FEATURES = {"serving_default": {"x": (np.dtype(np.float32), (-1, 3))}}
FLAGS = {"serving_default": {"flag": (np.dtype(bool), (-1,))}}
ANY_RANK = {"serving_default": {"x": (np.dtype(np.int64), None)}}
ANY_TEXT = {"serving_default": {"text": (np.dtype(object), None)}}
SCALAR = {"serving_default": {"x": (np.dtype(np.float32), ())}}


def _b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


def _object_array(values):
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _assert_inputs(got, expected):
    """`got` has exactly `expected`'s names, dtypes, shapes and values."""
    assert sorted(got) == sorted(expected)
    for name, want in expected.items():
        assert got[name].dtype == want.dtype, name
        assert got[name].shape == want.shape, name
        assert got[name].tolist() == want.tolist(), name


def _refused(body, signatures, limits=None):
    with pytest.raises(RequestError) as raised:
        parse_predict_request(body, signatures, limits)
    return raised.value.status, str(raised.value)


# ------------------------------------------------------------------ the body's JSON


def test_decode_json_body():
    assert decode_json_body(b'{"instances": ["caf\xc3\xa9", 1.5]}') == {
        "instances": ["café", 1.5]}
    assert decode_json_body(b"  [1, 2]\n") == [1, 2]
    assert decode_json_body(b"[" * 64 + b"]" * 64) is not None  # MAX_NESTING levels: fine


@pytest.mark.parametrize("body,message", [
    (b"", "The request body is empty; send a JSON object."),
    (b" \n\t ", "The request body is empty; send a JSON object."),
    (b'{"instances": ["caf\xe9"]}',
     "The request body is not valid UTF-8 (byte 0xe9 at position 19)."),
    (b'{"instances": [', "Malformed JSON: Expecting value at line 1 column 16."),
    (b'{"instances": ["a"],}',
     "Malformed JSON: Expecting property name enclosed in double quotes at line 1 column 21."),
    (b'{"inputs": [NaN]}', "Malformed JSON: NaN is not a JSON number."),
    (b'{"inputs": [-Infinity]}', "Malformed JSON: -Infinity is not a JSON number."),
    (b"[" * 100000 + b"]" * 100000, "Malformed JSON: nested too deeply."),
    # Parsed by json, but deeper than the conversion to arrays could recurse (RecursionError).
    (b'{"instances": ' + b"[" * 600 + b'"a"' + b"]" * 600 + b"}",
     "Malformed JSON: nested too deeply (more than 64 levels of arrays and objects)."),
    # int() refuses 4,301 digits or more with a ValueError, not a JSONDecodeError.
    (b"[" + b"7" * 5000 + b"]", "Malformed JSON: an integer with more than 4300 digits."),
])
def test_decode_json_body_refuses(body, message):
    with pytest.raises(RequestError) as raised:
        decode_json_body(body)
    assert str(raised.value) == message
    assert raised.value.status == 400


# ------------------------------------------------------------------ requests


def test_row_format_single_input():
    signature, inputs, rows = parse_predict_request(
        {"instances": ["a fine film", "café ☕", ""]}, TEXT)
    assert (signature, rows) == ("serving_default", True)
    _assert_inputs(inputs, {"text": _object_array(
        [b"a fine film", "café ☕".encode("utf-8"), b""])})
    # The same rows named, and with the default signature given explicitly.
    _, named, _ = parse_predict_request(
        {"signature_name": "serving_default",
         "instances": [{"text": "a fine film"}, {"text": "café ☕"}, {"text": ""}]}, TEXT)
    _assert_inputs(named, inputs)


def test_row_format_several_inputs():
    signature, inputs, rows = parse_predict_request(
        {"signature_name": "serve_token_ids",
         "instances": [{"token_ids": [101, 7, 102], "padding_mask": [1, 1, 1]},
                       {"token_ids": [101, 102, 0], "padding_mask": [1, 1, 0]}]}, IDS)
    assert (signature, rows) == ("serve_token_ids", True)
    _assert_inputs(inputs, {
        "token_ids": np.array([[101, 7, 102], [101, 102, 0]], np.int32),
        "padding_mask": np.array([[1, 1, 1], [1, 1, 0]], np.int32)})


def test_columnar_format():
    signature, inputs, rows = parse_predict_request(
        {"signature_name": "serve_token_ids",
         "inputs": {"token_ids": [[5, 6]], "padding_mask": [[1, 0]]}}, IDS)
    assert (signature, rows) == ("serve_token_ids", False)
    _assert_inputs(inputs, {"token_ids": np.array([[5, 6]], np.int32),
                            "padding_mask": np.array([[1, 0]], np.int32)})
    # One input: a bare value or an object naming it.
    for body in ({"inputs": ["x", "y"]}, {"inputs": {"text": ["x", "y"]}}):
        signature, inputs, rows = parse_predict_request(body, TEXT)
        assert (signature, rows) == ("serving_default", False)
        _assert_inputs(inputs, {"text": _object_array([b"x", b"y"])})


def test_columnar_scalar_beside_a_batch():
    search = {"search": {"query": (np.dtype(object), (-1,)), "k": (np.dtype(np.int32), ())}}
    signature, inputs, rows = parse_predict_request(
        {"signature_name": "search", "inputs": {"query": ["a", "b"], "k": 3}}, search)
    assert (signature, rows) == ("search", False)
    _assert_inputs(inputs, {"query": _object_array([b"a", b"b"]),
                            "k": np.array(3, np.int32)})
    # Rows give every input a batch axis: a scalar input cannot be sent as rows.
    with pytest.raises(RequestError, match="Input 'k' must have rank 0"):
        parse_predict_request({"signature_name": "search",
                               "instances": [{"query": "a", "k": 3}]}, search)


def test_numbers_booleans_and_shapes():
    _, inputs, _ = parse_predict_request({"instances": [[1, 2.5, -3], [0, 0.125, 1e3]]},
                                         FEATURES)
    _assert_inputs(inputs, {"x": np.array([[1, 2.5, -3], [0, 0.125, 1000]], np.float32)})
    _, inputs, _ = parse_predict_request({"inputs": {"flag": [True, False]}}, FLAGS)
    _assert_inputs(inputs, {"flag": np.array([True, False])})
    # No shape in the signature: any rank; a scalar input has no batch dimension.
    _, inputs, _ = parse_predict_request({"inputs": [[[1], [2]]]}, ANY_RANK)
    _assert_inputs(inputs, {"x": np.array([[[1], [2]]], np.int64)})
    _, inputs, rows = parse_predict_request({"inputs": 0.5}, SCALAR)
    _assert_inputs(inputs, {"x": np.array(0.5, np.float32)})
    assert rows is False


def test_base64_strings():
    data = b"\x00\xff binary \xe9"
    _, inputs, _ = parse_predict_request({"instances": [_b64(data), "plain"]}, TEXT)
    _assert_inputs(inputs, {"text": _object_array([data, b"plain"])})
    _, inputs, _ = parse_predict_request({"inputs": _b64(b"one")}, ANY_TEXT)
    assert inputs["text"].dtype == object and inputs["text"].shape == ()
    assert inputs["text"][()] == b"one"
    _, inputs, _ = parse_predict_request(
        {"instances": [{"text": _b64(b"a"), "text_pair": "b"}]}, PAIR)
    _assert_inputs(inputs, {"text": _object_array([b"a"]), "text_pair": _object_array([b"b"])})


def test_limits():
    limits = Limits(max_rows=3, max_text_chars=5)
    _, inputs, _ = parse_predict_request({"instances": ["12345", "", "ab"]}, TEXT, limits)
    _assert_inputs(inputs, {"text": _object_array([b"12345", b"", b"ab"])})
    # Characters are counted, not bytes: five 3-byte characters fit.
    _, inputs, _ = parse_predict_request({"instances": ["☕" * 5]}, TEXT, limits)
    assert inputs["text"][0] == "☕".encode("utf-8") * 5
    # A b64 value may have 4 bytes per allowed character.
    _, inputs, _ = parse_predict_request({"instances": [_b64(b"x" * 20)]}, TEXT, limits)
    assert inputs["text"][0] == b"x" * 20
    assert _refused({"instances": ["123456"]}, TEXT, limits) == (
        413, "Input 'text': a text of 6 characters is longer than the limit of 5.")
    assert _refused({"instances": [_b64(b"x" * 21)]}, TEXT, limits) == (
        413, "Input 'text': a b64 value is longer than the limit of 20 bytes.")
    assert _refused({"instances": ["a"] * 4}, TEXT, limits) == (
        413, "4 rows is more than the limit of 3 per request.")
    assert _refused({"inputs": ["a"] * 4}, TEXT, limits) == (
        413, "4 rows is more than the limit of 3 per request.")
    # 0: no limit on the text's length.
    _, inputs, _ = parse_predict_request({"instances": ["x" * 10000]}, TEXT,
                                         Limits(max_text_chars=0))
    assert inputs["text"][0] == b"x" * 10000
    # The defaults: 256 rows, 5000 characters.
    assert _refused({"instances": ["a"] * 257}, TEXT) == (
        413, "257 rows is more than the limit of 256 per request.")
    assert _refused({"instances": ["x" * 5001]}, TEXT) == (
        413, "Input 'text': a text of 5001 characters is longer than the limit of 5000.")


MALFORMED = [
    # (what, body, signatures, message); all HTTP 400
    ("a list body", ["a"], TEXT,
     "The request body must be a JSON object with 'instances' or 'inputs'."),
    ("a string body", "a", TEXT,
     "The request body must be a JSON object with 'instances' or 'inputs'."),
    ("unknown keys", {"instances": ["a"], "extra": 1, "Inputs": 2}, TEXT,
     "Unknown keys ['Inputs', 'extra'] in the request; expected 'instances' or 'inputs', "
     "and optionally 'signature_name'."),
    ("both formats", {"instances": ["a"], "inputs": ["a"]}, TEXT,
     "The request must have exactly one of 'instances' (row format) or 'inputs' (columnar "
     "format)."),
    ("neither format", {"signature_name": "serving_default"}, TEXT,
     "The request must have exactly one of 'instances' (row format) or 'inputs' (columnar "
     "format)."),
    ("empty signature name", {"signature_name": "", "instances": ["a"]}, TEXT,
     "'signature_name' must be a non-empty string."),
    ("numeric signature name", {"signature_name": 1, "instances": ["a"]}, TEXT,
     "'signature_name' must be a non-empty string."),
    ("unknown signature", {"signature_name": "nope", "instances": ["a"]}, IDS,
     "Serving signature name: 'nope' not found in signature def; the model has "
     "['serve_token_ids', 'serving_default']."),
    ("empty instances", {"instances": []}, TEXT, "'instances' must be a non-empty list of rows."),
    ("instances not a list", {"instances": "a"}, TEXT,
     "'instances' must be a non-empty list of rows."),
    ("unnamed rows, two inputs", {"instances": ["a", "b"]}, PAIR,
     "Each instance must be an object with the inputs ['text', 'text_pair'] (or, for a model "
     "with one input, all plain values)."),
    ("named and unnamed rows", {"instances": [{"text": "a"}, "b"]}, TEXT,
     "Each instance must be an object with the inputs ['text'] (or, for a model with one "
     "input, all plain values)."),
    ("a row missing an input", {"instances": [{"text": "a", "text_pair": "b"}, {"text": "c"}]},
     PAIR, "Instance 1 has inputs ['text']; the signature takes ['text', 'text_pair']."),
    ("a row with a wrong name", {"instances": [{"txt": "a"}]}, TEXT,
     "Instance 0 has inputs ['txt']; the signature takes ['text']."),
    ("columns with a wrong name", {"inputs": {"txt": ["a"]}}, TEXT,
     "'inputs' has ['txt']; the signature takes ['text']."),
    ("bare columns, two inputs", {"inputs": ["a"]}, PAIR,
     "'inputs' must be an object with the inputs ['text', 'text_pair']."),
    ("a number for a text", {"instances": [1]}, TEXT, "Input 'text' takes strings, got int 1."),
    ("null for a text", {"instances": [None]}, TEXT,
     "Input 'text' takes strings, got NoneType None."),
    ("a boolean for a text", {"inputs": {"text": [True]}}, TEXT,
     "Input 'text' takes strings, got bool True."),
    ("a long number for a text",
     {"instances": [{"text": 1234567890123456789012345678901234567890123}]}, TEXT, "Input 'text' takes strings, got int 1234567890123456789012345678901234567...."),
    ("an object for a text", {"instances": [{"text": {"x": 1}}]}, TEXT,
     "Input 'text': an object in a string input must be {\"b64\": \"<base64>\"}."),
    ("b64 not a string", {"instances": [{"text": {"b64": 5}}]}, TEXT,
     "Input 'text': an object in a string input must be {\"b64\": \"<base64>\"}."),
    ("b64 with another key", {"instances": [{"text": {"b64": "YQ==", "x": 1}}]}, TEXT,
     "Input 'text': an object in a string input must be {\"b64\": \"<base64>\"}."),
    ("invalid base64", {"instances": [{"b64": "***"}]}, TEXT,
     "Input 'text': invalid base64 in a b64 value."),
    ("base64 without padding", {"instances": [{"b64": "YQ"}]}, TEXT,
     "Input 'text': invalid base64 in a b64 value."),
    ("a lone surrogate", {"instances": ["\ud800"]}, TEXT,
     "Input 'text': the text is not valid Unicode (a lone surrogate escape such as \\ud800)."),
    ("texts of the wrong rank", {"inputs": {"text": [["a"]]}}, TEXT,
     "Input 'text' must have rank 1 (shape [None]), got shape [1, 1]."),
    ("a scalar text for a batch", {"inputs": "a"}, TEXT,
     "Input 'text' must have rank 1 (shape [None]), got shape []."),
    ("ragged texts", {"inputs": {"text": [["a", "b"], ["c"]]}}, ANY_TEXT,
     "Input 'text' is ragged: its rows differ in length (pad them)."),
    ("a text for an integer", {"inputs": [["a"]]}, ANY_RANK,
     "Input 'x' takes integers (int64), got str 'a'."),
    ("ragged ids", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [[1, 2], [1]], "padding_mask": [[1, 1], [1, 1]]}}, IDS,
     "Input 'token_ids' is ragged: its rows differ in length (pad them)."),
    ("ragged rows", {"signature_name": "serve_token_ids", "instances": [
        {"token_ids": [1, 2], "padding_mask": [1, 1]}, {"token_ids": [1], "padding_mask": [1]}]},
     IDS, "Input 'padding_mask' is ragged: its rows differ in length (pad them)."),
    ("ragged features", {"instances": [[1, 2, 3], [1, 2, 3, 4]]}, FEATURES,
     "Input 'x' is ragged: its rows differ in length (pad them)."),
    ("a wrong fixed dimension", {"instances": [[1, 2], [3, 4]]}, FEATURES,
     "Input 'x' must have shape [None, 3], got [2, 2]."),
    ("a float for an id", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [[1.5]], "padding_mask": [[1]]}}, IDS,
     "Input 'token_ids' takes integers (int32), got float 1.5."),
    ("an integral float for an id", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [[2.0]], "padding_mask": [[1]]}}, IDS,
     "Input 'token_ids' takes integers (int32), got float 2.0."),
    ("a string for an id", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [["7"]], "padding_mask": [[1]]}}, IDS,
     "Input 'token_ids' takes integers (int32), got str '7'."),
    ("a boolean for an id", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [[True]], "padding_mask": [[1]]}}, IDS,
     "Input 'token_ids' takes int32 numbers, got a boolean."),
    ("an id beyond int32", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [[2 ** 31]], "padding_mask": [[1]]}}, IDS,
     "Input 'token_ids': 2147483648 is outside the int32 range."),
    ("an id below int32", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [[-2 ** 31 - 1]], "padding_mask": [[1]]}}, IDS,
     "Input 'token_ids': -2147483649 is outside the int32 range."),
    ("an object for a number", {"instances": [[1, {"b64": "AA=="}, 3]]}, FEATURES,
     "Input 'x' takes float32 values, got an object."),
    ("a string for a float", {"instances": [[1, "2", 3]]}, FEATURES,
     "Input 'x' takes numbers (float32), got str '2'."),
    ("a boolean for a float", {"instances": [[1, False, 3]]}, FEATURES,
     "Input 'x' takes float32 numbers, got a boolean."),
    ("an infinite float", {"instances": [[1, 1e400, 3]]}, FEATURES,
     "Input 'x' has a non-finite number."),
    ("a number for a boolean", {"inputs": [1]}, FLAGS, "Input 'flag' takes booleans, got 1."),
    ("batch sizes differ", {"signature_name": "serve_token_ids", "inputs": {
        "token_ids": [[1]], "padding_mask": [[1], [1]]}}, IDS,
     "Inputs differ in batch size: {'padding_mask': [2, 1], 'token_ids': [1, 1]}."),
]


@pytest.mark.parametrize("what,body,signatures,message", MALFORMED,
                         ids=[m[0] for m in MALFORMED])
def test_malformed_requests_are_refused(what, body, signatures, message):
    assert _refused(body, signatures) == (400, message)


def test_request_error_is_a_value_error_with_a_status():
    error = RequestError("too big", status=413)
    assert isinstance(error, ValueError)
    assert (str(error), error.status) == ("too big", 413)
    assert RequestError("bad").status == 400


# ------------------------------------------------------------------ responses


def test_row_response_one_output():
    labels = np.array([b"positive", b"negative"], dtype=object)
    assert format_predict_response({"label": labels}, True) == {
        "predictions": ["positive", "negative"]}


def test_row_response_several_outputs():
    outputs = {"probabilities": np.array([[0.25, 0.75], [1.0, 0.0]], np.float32),
               "label": np.array([b"positive", b"negative"], dtype=object),
               "tokens": np.array([[b"EU", b""], [b"Peter", b"Pan"]], dtype=object),
               "length": np.array([1, 2], np.int32)}
    assert format_predict_response(outputs, True) == {"predictions": [
        {"label": "positive", "length": 1, "probabilities": [0.25, 0.75],
         "tokens": ["EU", ""]},
        {"label": "negative", "length": 2, "probabilities": [1.0, 0.0],
         "tokens": ["Peter", "Pan"]}]}
    # Outputs in name order, in every row.
    assert [list(row) for row in format_predict_response(outputs, True)["predictions"]] == [
        ["label", "length", "probabilities", "tokens"]] * 2


def test_columnar_response():
    assert format_predict_response({"scores": np.array([0.5, -2.0], np.float32)}, False) == {
        "outputs": [0.5, -2.0]}
    assert format_predict_response(
        {"lengths": np.array([3, 1], np.int64),
         "summary": np.array([b"a short one", b""], dtype=object)}, False) == {
        "outputs": {"lengths": [3, 1], "summary": ["a short one", ""]}}
    # Outputs without a batch dimension are fine in the columnar format.
    assert format_predict_response({"count": np.array(7, np.int32),
                                    "name": np.array(b"x", dtype=object)}, False) == {
        "outputs": {"count": 7, "name": "x"}}


def test_response_values():
    # float32 widened to the nearest double, as TF Serving prints it.
    assert format_predict_response({"p": np.array([0.1], np.float32)}, True) == {
        "predictions": [0.10000000149011612]}
    # JSON has no NaN or infinity: TF Serving's strings.
    assert format_predict_response(
        {"p": np.array([[np.nan, np.inf, -np.inf, 2.5]], np.float32)}, False) == {
        "outputs": [["NaN", "Infinity", "-Infinity", 2.5]]}
    # Invalid UTF-8 is replaced, not refused; fixed-width bytes arrays are text too.
    assert format_predict_response(
        {"text": np.array([b"caf\xc3\xa9", b"bad \xff byte"], dtype=object)}, True) == {
        "predictions": ["café", "bad \ufffd byte"]}
    assert format_predict_response({"text": np.array([b"ab", b"c"])}, False) == {
        "outputs": ["ab", "c"]}
    # Outputs named `*_bytes` are binary: base64, as TF Serving returns them.
    assert format_predict_response(
        {"image_bytes": np.array([b"\x00\xff", b"hi"], dtype=object)}, True) == {
        "predictions": [{"b64": "AP8="}, {"b64": "aGk="}]}
    assert format_predict_response(
        {"flags": np.array([True, False]), "ids": np.array([[1, 2]], np.int32)}, False) == {
        "outputs": {"flags": [True, False], "ids": [[1, 2]]}}


def test_row_response_needs_one_batch_size():
    with pytest.raises(RequestError) as raised:
        format_predict_response({"a": np.zeros(2, np.float32), "b": np.zeros(3, np.float32)},
                                True)
    assert raised.value.status == 500
    assert str(raised.value) == ("The outputs do not share a batch size; use the columnar "
                                 "'inputs' format.")
    with pytest.raises(RequestError) as raised:
        format_predict_response({"a": np.array(1.0, np.float32)}, True)
    assert raised.value.status == 500


def test_round_trip_of_the_module_example():
    spec = {"text": (np.dtype(object), (-1,))}
    signature, inputs, rows = parse_predict_request({"instances": ["a fine film"]},
                                                    {"serving_default": spec})
    assert (signature, rows) == ("serving_default", True)
    _assert_inputs(inputs, {"text": _object_array([b"a fine film"])})
