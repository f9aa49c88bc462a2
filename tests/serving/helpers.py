"""Helpers for the serving tests: HTTP calls (standard library only), cached SavedModels."""

import functools
import json
import urllib.error
import urllib.request


@functools.lru_cache(maxsize=None)
def load_saved_model(path):
    """`tf.saved_model.load(path)`, loaded once per test session."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    return tf.saved_model.load(str(path))


def http(url, body=None, method=None, headers=None, timeout=60):
    """`(status, decoded JSON or raw bytes)`; `body` a dict (sent as JSON) or bytes, sent
    with `Content-Type: application/json` unless `headers` name another."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode("utf-8")
    headers = dict(headers or {})
    if body is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, method=method or (
        "POST" if body is not None else "GET"), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, data = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, data = error.code, error.read()
    try:
        return status, json.loads(data)
    except ValueError:
        return status, data
