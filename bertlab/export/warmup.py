"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests` in an export.

TF Serving replays this file (a TFRecord of `tensorflow.serving.PredictionLog`
protos, each holding a `PredictRequest`) when it loads a version, before the
version is marked available, so the first real request does not pay for
graph optimization and kernel set-up. `apps.serve` replays it too.

The file must be inside the version directory before the directory is
renamed into place (see `bertlab.export.versioned_export`): call
`write_warmup_requests` (or `write_default_warmup_requests`) on the
temporary export directory, after the SavedModel is written.

Example:
>>> write_warmup_requests(tmp_dir, "serving_default",
...                       [{"text": ["a fine film"]}, {"text": ["x"] * 8}])
>>> [(signature, inputs["text"].shape) for signature, inputs in read_warmup_requests(tmp_dir)]
[('serving_default', (1,)), ('serving_default', (8,))]
"""

import os

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from bertlab.export.custom_ops import read_saved_model_proto
from bertlab.storage import atomic_file

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000  # TF Serving reads at most this many.
# The value of an integer scalar input beside text inputs (the `k` of a search signature).
SCALAR_INT_VALUE = 3
# ... and a float scalar (a language model's `temperature`, `top_p`) this value.
SCALAR_FLOAT_VALUE = 0.9

# Varied lengths and scripts: short, long (truncated by the exports), non-ASCII, empty.
DEFAULT_TEXTS = (
    "A quiet, moving film.",
    "EU rejects German call to boycott British lamb .",
    "Two young men are playing soccer on a large green field while a crowd watches "
    "from the stands and a referee runs along the line. " * 6,
    "Grüße aus Köln — 你好，世界",
    "",
)


def warmup_path(export_dir):
    """`<export_dir>/assets.extra/tf_serving_warmup_requests`."""
    return os.path.join(os.fspath(export_dir), WARMUP_DIR, WARMUP_FILE)


def _prediction_log(signature_name, inputs, model_name):
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = signature_name
    if model_name:
        request.model_spec.name = model_name
    if not inputs:
        raise ValueError(f"A warm-up request for {signature_name!r} has no inputs.")
    for name, value in inputs.items():
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
            value = [v.encode("utf-8") for v in value]
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))


def read_warmup_requests(export_dir):
    """The requests of an export's warm-up file: a list of `(signature_name, {input: ndarray})`
    (empty if there is no file)."""
    path = warmup_path(export_dir)
    if not os.path.isfile(path):
        return []
    requests = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(record)
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"{path}: only predict warm-up requests are supported, got "
                             f"{log.WhichOneof('log_type')!r}.")
        request = log.predict_log.request
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        requests.append((request.model_spec.signature_name or "serving_default", inputs))
    return requests


def write_warmup_requests(export_dir, signature_name, examples, model_name=None):
    """Adds warm-up requests for one signature to an export's warm-up file.

    Args:
      export_dir: the SavedModel directory being written (before it is
        renamed into its version directory).
      signature_name: the signature the requests call (e.g. "serving_default").
      examples: a list of requests, each a dict from input name to a batch of
        values (array-like, first axis = batch; `str` are UTF-8 encoded).
      model_name: optional `model_spec.name` (TF Serving ignores it in warm-up).

    Requests already in the file (other signatures) are kept; the file is
    written under a temporary name and renamed.

    Raises:
      ValueError: no examples, an example without inputs, or more than
        `MAX_WARMUP_RECORDS` requests in all.
    """
    examples = list(examples)
    if not examples:
        raise ValueError(f"`examples` is empty for signature {signature_name!r}.")
    if not signature_name:
        raise ValueError("`signature_name` must be a non-empty signature name.")
    logs = [_prediction_log(signature_name, example, model_name) for example in examples]
    path = warmup_path(export_dir)
    existing = []
    if os.path.isfile(path):
        existing = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
    if len(existing) + len(logs) > MAX_WARMUP_RECORDS:
        raise ValueError(f"TF Serving reads at most {MAX_WARMUP_RECORDS} warm-up requests; "
                         f"{len(existing) + len(logs)} were given.")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_file(path) as tmp, tf.io.TFRecordWriter(tmp) as writer:
        for record in existing:
            writer.write(record)
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def signature_inputs(export_dir):
    """`{signature: {input: (numpy dtype, shape with -1 for unknown)}}` read from
    `saved_model.pb` (nothing is loaded)."""
    meta_graph = read_saved_model_proto(export_dir).meta_graphs[0]
    result = {}
    for name, signature in meta_graph.signature_def.items():
        if name.startswith("__"):  # e.g. __saved_model_init_op
            continue
        result[name] = {
            key: (np.dtype(tf.dtypes.as_dtype(info.dtype).as_numpy_dtype),
                  None if info.tensor_shape.unknown_rank
                  else tuple(d.size for d in info.tensor_shape.dim))
            for key, info in signature.inputs.items()}
    return result


def default_warmup_examples(inputs, texts=DEFAULT_TEXTS):
    """Warm-up requests for a signature with the exports' inputs: a batch of one and a
    batch of all `texts` (for `[batch]` string inputs: `text`, and `text_pair` of a
    sentence-pair model, `question` and `context` of a question answerer; an integer
    scalar beside them, a search's `k`, gets `SCALAR_INT_VALUE`, a float scalar
    `SCALAR_FLOAT_VALUE`), or token
    ids of two lengths (for `[batch, length]` int inputs named `token_ids`,
    `segment_ids`, `padding_mask`, `casing_ids`; and `rows`, a search index's
    corpus rows, all 0).

    Args:
      inputs: `{input: (dtype, shape)}`, as `signature_inputs` gives.

    Raises:
      ValueError: an input these conventions do not cover.
    """
    texts = list(texts)
    if "text" in inputs or any(dtype == np.dtype(object) for dtype, _ in inputs.values()):
        # Integer scalars beside the texts (a search's `k`) get SCALAR_INT_VALUE.
        scalars = {name: np.array(SCALAR_INT_VALUE if np.issubdtype(dtype, np.integer)
                                  else SCALAR_FLOAT_VALUE, dtype)
                   for name, (dtype, shape) in inputs.items()
                   if shape == () and (np.issubdtype(dtype, np.integer)
                                       or np.issubdtype(dtype, np.floating))}
        for name, (dtype, shape) in inputs.items():
            if name not in scalars and (dtype != np.dtype(object) or shape not in ((-1,), None)):
                raise ValueError(f"Input {name!r} must be tf.string [batch] (or a numeric "
                                 f"scalar), got {dtype} {shape}.")
        # One batch of one and one of all texts; a second string input (`text_pair`,
        # `context`) gets the texts in another order, so that pairs differ.
        strings = sorted(set(inputs) - set(scalars))
        rotated = {name: texts[i:] + texts[:i] for i, name in enumerate(strings)}
        return [{**{name: values[:1] for name, values in rotated.items()}, **scalars},
                {**rotated, **scalars}]
    examples = []
    for batch, length in ((1, 6), (len(texts), 24)):
        request = {}
        for name, (dtype, shape) in inputs.items():
            if not np.issubdtype(dtype, np.integer) or (shape is not None and len(shape) != 2):
                raise ValueError(f"No default warm-up value for input {name!r} "
                                 f"({dtype}, shape {shape}).")
            if name == "token_ids":
                # Small ids (below any vocabulary's size), a different row each.
                value = 1 + (np.arange(batch)[:, None] + np.arange(length)[None, :]) % 5
            elif name in ("segment_ids", "casing_ids"):
                value = np.zeros((batch, length))
            elif name == "padding_mask":
                value = (np.arange(length)[None, :] <
                         np.linspace(1, length, batch).astype(int)[:, None])
            elif name == "rows":
                # Corpus rows (a search index's `documents`): row 0, there is always one.
                value = np.zeros((batch, length))
            else:
                raise ValueError(f"No default warm-up value for input {name!r}.")
            request[name] = value.astype(dtype)
        examples.append(request)
    return examples


def write_default_warmup_requests(export_dir, texts=DEFAULT_TEXTS):
    """Writes warm-up requests for every signature of the SavedModel at `export_dir`
    (`default_warmup_examples`) that has none yet: an exporter that knows better writes
    its own first (a language model's `generate`, whose `max_new_tokens` may be limited
    below `SCALAR_INT_VALUE`). Returns the path of the warm-up file."""
    signatures = signature_inputs(export_dir)
    if not signatures:
        raise ValueError(f"{export_dir} has no serving signature to warm up.")
    warmed = {signature for signature, _ in read_warmup_requests(export_dir)}
    for signature, inputs in sorted(signatures.items()):
        if signature not in warmed:
            write_warmup_requests(export_dir, signature, default_warmup_examples(inputs, texts))
    return warmup_path(export_dir)
