"""TF Serving's REST predict format: JSON request bodies to input arrays, outputs to JSON.

Body (`decode_json_body`): UTF-8 JSON; empty, non-UTF-8 or malformed bodies,
the non-standard constants `NaN`/`Infinity`, integers of more than 4,300
digits (Python's `int` refuses them with a `ValueError`, not a
`JSONDecodeError`), and nesting deeper than `MAX_NESTING` levels (600 levels
parse, but the recursive conversion below would hit `RecursionError`) are
refused with a 400, like every other malformed body.

Request (`POST /v1/models/<name>:predict`), exactly one of:
- row format: `{"instances": [row, ...]}`; a row is the value of the single
  input, or an object `{input: value}` naming every input;
- columnar format: `{"inputs": value}` (single input) or `{"inputs": {input:
  batch}}`; a scalar input (a search's `k`) sits beside the batched ones,
  `{"inputs": {"query": [...], "k": 3}}`;
plus an optional `"signature_name"` (default `serving_default`). Binary
strings may be given as `{"b64": "..."}`.

Response: `{"predictions": [...]}` for rows (a value per row with one output,
else an object per row) or `{"outputs": ...}` for columns. Strings are
returned as text (invalid UTF-8 replaced), except outputs whose name ends in
`_bytes`, returned as `{"b64": ...}` as TF Serving does.

Every way a request can be wrong raises `RequestError` with a message for
the client (HTTP 400): unknown keys, missing or extra inputs, wrong types
(a number for a string input, a float for an int input, a boolean, a
nested object), ragged or wrongly-ranked arrays, too many rows, strings
longer than the limit, strings that cannot be UTF-8 (lone surrogates).

Example:
>>> spec = {"text": (np.dtype(object), (-1,))}
>>> parse_predict_request({"instances": ["a fine film"]}, {"serving_default": spec})
('serving_default', {'text': array([b'a fine film'], dtype=object)}, True)
"""

import base64
import binascii
import json
import math
import sys

import numpy as np

DEFAULT_SIGNATURE = "serving_default"
_TOP_LEVEL_KEYS = {"signature_name", "instances", "inputs"}
# Arrays and objects inside each other: a body, a row object, then the tensor's rank.
MAX_NESTING = 64


class RequestError(ValueError):
    """A request the server refuses; `status` is the HTTP status (400 by default)."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class Limits:
    """Request limits: `max_rows` per request, `max_text_chars` per string (0: none)."""

    def __init__(self, max_rows=256, max_text_chars=5000):
        self.max_rows = int(max_rows)
        self.max_text_chars = int(max_text_chars)


def _reject_constant(name):
    raise RequestError(f"Malformed JSON: {name} is not a JSON number.")


def _check_nesting(value):
    """`RequestError` if arrays/objects nest deeper than `MAX_NESTING` (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            raise RequestError(f"Malformed JSON: nested too deeply (more than {MAX_NESTING} "
                               "levels of arrays and objects).")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (list, dict)))


def decode_json_body(body):
    """Bytes -> JSON value; `RequestError` (400) for empty, non-UTF-8 or malformed bodies,
    over-long integers and too deep nesting."""
    if not body.strip():
        raise RequestError("The request body is empty; send a JSON object.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RequestError(f"The request body is not valid UTF-8 (byte 0x{body[e.start]:02x} "
                           f"at position {e.start}).") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RequestError:
        raise
    except json.JSONDecodeError as e:
        raise RequestError(f"Malformed JSON: {e.msg} at line {e.lineno} column {e.colno}.") \
            from None
    except RecursionError:
        raise RequestError("Malformed JSON: nested too deeply.") from None
    except ValueError as e:  # an integer of 4,301+ digits, or whatever else int() refuses
        if "digits" in str(e):
            raise RequestError("Malformed JSON: an integer with more than "
                               f"{sys.get_int_max_str_digits()} digits.") from None
        raise RequestError(f"Malformed JSON: {str(e)[:200]}") from None
    if isinstance(value, (list, dict)):
        _check_nesting(value)
    return value


def _string_leaf(value, name, limits):
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise RequestError(f"Input {name!r}: an object in a string input must be "
                               '{"b64": "<base64>"}.')
        try:
            data = base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(f"Input {name!r}: invalid base64 in a b64 value.") from None
        if limits.max_text_chars and len(data) > 4 * limits.max_text_chars:
            raise RequestError(f"Input {name!r}: a b64 value is longer than the limit of "
                               f"{4 * limits.max_text_chars} bytes.", status=413)
        return data
    if not isinstance(value, str):
        raise RequestError(f"Input {name!r} takes strings, got {type(value).__name__} "
                           f"{_short(value)}.")
    if limits.max_text_chars and len(value) > limits.max_text_chars:
        raise RequestError(f"Input {name!r}: a text of {len(value)} characters is longer than "
                           f"the limit of {limits.max_text_chars}.", status=413)
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(f"Input {name!r}: the text is not valid Unicode (a lone surrogate "
                           "escape such as \\ud800).") from None


def _short(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _numeric_leaf(value, name, dtype):
    if isinstance(value, bool) and dtype != np.dtype(bool):
        raise RequestError(f"Input {name!r} takes {dtype.name} numbers, got a boolean.")
    if dtype == np.dtype(bool):
        if not isinstance(value, bool):
            raise RequestError(f"Input {name!r} takes booleans, got {_short(value)}.")
        return value
    if np.issubdtype(dtype, np.integer):
        if not isinstance(value, int):
            raise RequestError(f"Input {name!r} takes integers ({dtype.name}), got "
                               f"{type(value).__name__} {_short(value)}.")
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            raise RequestError(f"Input {name!r}: {value} is outside the {dtype.name} range.")
        return value
    if not isinstance(value, (int, float)):
        raise RequestError(f"Input {name!r} takes numbers ({dtype.name}), got "
                           f"{type(value).__name__} {_short(value)}.")
    return value


def _to_array(value, name, dtype, shape, limits):
    """A JSON value (nested lists) -> an array of `dtype`, checked against `shape`."""
    def convert(v, depth):
        if isinstance(v, list):
            return [convert(x, depth + 1) for x in v]
        if np.dtype(dtype) == np.dtype(object):
            return _string_leaf(v, name, limits)
        if isinstance(v, dict):
            raise RequestError(f"Input {name!r} takes {np.dtype(dtype).name} values, got an "
                               "object.")
        return _numeric_leaf(v, name, np.dtype(dtype))

    converted = convert(value, 0)
    try:
        if np.dtype(dtype) == np.dtype(object):
            array = np.empty(_rectangular_shape(converted, name), dtype=object)
            if array.ndim:
                array[...] = _fill(converted, array.shape)
            else:
                array[()] = converted
        else:
            _rectangular_shape(converted, name)
            array = np.asarray(converted, dtype=dtype)
    except (ValueError, OverflowError) as e:
        if isinstance(e, RequestError):
            raise
        raise RequestError(f"Input {name!r}: {e}") from None
    if shape is not None:
        if array.ndim != len(shape):
            raise RequestError(f"Input {name!r} must have rank {len(shape)} (shape "
                               f"{_shape_text(shape)}), got shape {list(array.shape)}.")
        for got, want in zip(array.shape, shape):
            if want >= 0 and got != want:
                raise RequestError(f"Input {name!r} must have shape {_shape_text(shape)}, got "
                                   f"{list(array.shape)}.")
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        raise RequestError(f"Input {name!r} has a non-finite number.")
    return array


def _shape_text(shape):
    return "[" + ", ".join("None" if d < 0 else str(d) for d in shape) + "]"


def _rectangular_shape(nested, name):
    """The shape of nested lists, or a `RequestError` if they are ragged."""
    if not isinstance(nested, list):
        return ()
    if not nested:
        return (0,)
    shapes = {_rectangular_shape(x, name) for x in nested}
    if len(shapes) != 1:
        raise RequestError(f"Input {name!r} is ragged: its rows differ in length (pad them).")
    return (len(nested),) + shapes.pop()


def _fill(nested, shape):
    # np.array would try to guess a dtype from bytes; build the object array by hand.
    flat = []

    def walk(v):
        if isinstance(v, list):
            for x in v:
                walk(x)
        else:
            flat.append(v)

    walk(nested)
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(shape)


def parse_predict_request(body, signatures, limits=None):
    """Validates a decoded JSON predict body against the served signatures.

    Args:
      body: the decoded JSON.
      signatures: `{signature name: {input: (numpy dtype, shape or None)}}`.
      limits: `Limits` (default: `Limits()`).

    Returns:
      `(signature_name, {input: ndarray}, row_format)`.
    """
    limits = limits or Limits()
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object with 'instances' or "
                           "'inputs'.")
    unknown = sorted(set(body) - _TOP_LEVEL_KEYS)
    if unknown:
        raise RequestError(f"Unknown keys {unknown} in the request; expected 'instances' or "
                           "'inputs', and optionally 'signature_name'.")
    if ("instances" in body) == ("inputs" in body):
        raise RequestError("The request must have exactly one of 'instances' (row format) or "
                           "'inputs' (columnar format).")
    signature_name = body.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(signature_name, str) or not signature_name:
        raise RequestError("'signature_name' must be a non-empty string.")
    if signature_name not in signatures:
        raise RequestError(f"Serving signature name: {signature_name!r} not found in signature "
                           f"def; the model has {sorted(signatures)}.")
    spec = signatures[signature_name]
    names = sorted(spec)
    if "instances" in body:
        columns = _columns_from_instances(body["instances"], names, limits)
    else:
        columns = _columns_from_inputs(body["inputs"], names)
    inputs = {name: _to_array(columns[name], name, *spec[name], limits) for name in names}
    # A scalar input (a search's `k`) has no batch axis: it applies to every row.
    rows = {a.shape[0] for a in inputs.values() if a.ndim}
    if len(rows) > 1:
        raise RequestError(f"Inputs differ in batch size: "
                           f"{ {n: list(a.shape) for n, a in inputs.items()} }.")
    row_count = rows.pop() if rows else None
    if row_count is not None and limits.max_rows and row_count > limits.max_rows:
        raise RequestError(f"{row_count} rows is more than the limit of {limits.max_rows} per "
                           "request.", status=413)
    return signature_name, inputs, "instances" in body


def _columns_from_instances(instances, names, limits):
    if not isinstance(instances, list) or not instances:
        raise RequestError("'instances' must be a non-empty list of rows.")
    if limits.max_rows and len(instances) > limits.max_rows:
        raise RequestError(f"{len(instances)} rows is more than the limit of {limits.max_rows} "
                           "per request.", status=413)
    named = [isinstance(row, dict) and set(row) != {"b64"} for row in instances]
    if len(names) > 1 or any(named):
        if not all(named):
            raise RequestError(f"Each instance must be an object with the inputs {names} "
                               "(or, for a model with one input, all plain values).")
        for i, row in enumerate(instances):
            if set(row) != set(names):
                raise RequestError(f"Instance {i} has inputs {sorted(row)}; the signature "
                                   f"takes {names}.")
        return {name: [row[name] for row in instances] for name in names}
    return {names[0]: instances}


def _columns_from_inputs(inputs, names):
    if isinstance(inputs, dict) and set(inputs) != {"b64"}:
        if set(inputs) != set(names):
            raise RequestError(f"'inputs' has {sorted(inputs)}; the signature takes {names}.")
        return inputs
    if len(names) != 1:
        raise RequestError(f"'inputs' must be an object with the inputs {names}.")
    return {names[0]: inputs}


def _json_value(array, name):
    """An output array (a row or a whole batch) as JSON-able nested lists."""
    if array.dtype == object or array.dtype.kind == "S":
        binary = name.endswith("_bytes")

        def text(x):
            if isinstance(x, bytes):
                if binary:
                    return {"b64": base64.b64encode(x).decode("ascii")}
                return x.decode("utf-8", errors="replace")
            return x

        if array.ndim == 0:
            return text(array[()])
        return np.vectorize(text, otypes=[object])(array).tolist()
    if np.issubdtype(array.dtype, np.floating):
        values = array.astype(np.float64).tolist()
        return _finite(values)
    return array.tolist()


def _finite(values):
    # JSON has no NaN or infinity; TF Serving writes them as "NaN"/"Infinity" strings.
    if isinstance(values, list):
        return [_finite(v) for v in values]
    if math.isnan(values):
        return "NaN"
    if math.isinf(values):
        return "Infinity" if values > 0 else "-Infinity"
    return values


def format_predict_response(outputs, row_format):
    """`{"predictions": ...}` (row format) or `{"outputs": ...}` (columnar) for output arrays.

    Raises:
      RequestError (500): row format with outputs of different batch sizes.
    """
    names = sorted(outputs)
    if not row_format:
        if len(names) == 1:
            return {"outputs": _json_value(outputs[names[0]], names[0])}
        return {"outputs": {n: _json_value(outputs[n], n) for n in names}}
    sizes = {outputs[n].shape[0] if outputs[n].ndim else None for n in names}
    if len(sizes) != 1 or None in sizes:
        raise RequestError("The outputs do not share a batch size; use the columnar "
                           "'inputs' format.", status=500)
    columns = {n: _json_value(outputs[n], n) for n in names}
    if len(names) == 1:
        return {"predictions": columns[names[0]]}
    return {"predictions": [{n: columns[n][i] for n in names} for i in range(sizes.pop())]}
