"""A version served from its LiteRT (TFLite) file instead of its SavedModel.

As TF Serving's `--prefer_tflite_model`: when a version directory holds the
LiteRT file (`model.tflite` by default, or a quantized one, written by
`bertlab.export.litert_export`), the registry (`LoadedVersion`) serves that file's
signatures behind the same REST API (`:predict` with `signature_name`, row and
columnar formats, `/metadata`), through the LiteRT interpreter; the SavedModel is
not loaded. The files `litert_export` writes have one signature,
`serve_token_ids`: the string-in `serving_default` is not in them (the in-graph
tokenizer does not convert), so such a version answers token ids only.

An interpreter runs one call at a time: each signature keeps one interpreter
per batch that may run at once (`BatchingOptions.max_concurrent_batches`).

Example:
>>> servable = LiteRTServable("saved_models/<name>/3/model.int8.tflite", num_threads=2)
>>> servable.predict("serve_token_ids", {"token_ids": ids, "segment_ids": s,
...                                      "padding_mask": m})["probabilities"]
"""

import os

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from bertlab.export.litert_model import LiteRTInputError, LiteRTModel, signature_keys

PREDICT_METHOD = "tensorflow/serving/predict"


class LiteRTOptions:
    """Which LiteRT file a version is served from, when it has one.

    Args:
      file_name: the file in the version directory (`model.tflite`,
        `model.dynamic.tflite`, `model.int8.tflite`, ...).
      num_threads: CPU threads of each interpreter call (None: LiteRT's default).
    """

    def __init__(self, file_name="model.tflite", num_threads=None):
        self.file_name = str(file_name)
        if (os.path.basename(self.file_name) != self.file_name
                or not self.file_name.endswith(".tflite") or self.file_name.startswith(".")):
            raise ValueError("`file_name` must be a file name ending in .tflite (no directory), "
                             f"got {file_name!r}.")
        self.num_threads = None if num_threads is None else int(num_threads)
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"`num_threads` must be positive, got {num_threads}.")


def _tensor_info(name, dtype, shape):
    info = meta_graph_pb2.TensorInfo(name=name, dtype=tf.as_dtype(dtype).as_datatype_enum)
    for size in shape:
        info.tensor_shape.dim.add(size=int(size))
    return info


class LiteRTServable:
    """Every signature of one LiteRT file, as `LoadedVersion` serves a SavedModel's.

    Args:
      path: the `.tflite` file.
      num_threads: CPU threads per call.
      concurrency: calls of one signature that may run at once.

    Attributes:
      signature_defs: `{key: SignatureDef}` (for `/metadata`), built from the file's
        tensors: int32 `[-1, -1]` inputs, float32 outputs.
      inputs: `{key: {input: (numpy dtype, shape)}}`; outputs: `{key: [names]}`.
    """

    def __init__(self, path, num_threads=None, concurrency=1):
        self.path = os.fspath(path)
        keys = signature_keys(self.path)
        if not keys:
            raise ValueError(f"{self.path} has no signature to serve.")
        self._models = {key: LiteRTModel(self.path, key, num_threads, concurrency)
                        for key in keys}
        self.signature_defs, self.inputs, self.outputs = {}, {}, {}
        for key, model in sorted(self._models.items()):
            signature = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
            for name, (dtype, shape) in model.inputs.items():
                signature.inputs[name].CopyFrom(_tensor_info(f"{key}_{name}:0", dtype, shape))
            for name, (dtype, shape) in model.outputs.items():
                signature.outputs[name].CopyFrom(_tensor_info(f"{key}_{name}:0", dtype, shape))
            self.signature_defs[key] = signature
            self.inputs[key] = dict(model.inputs)
            self.outputs[key] = sorted(model.outputs)
        self.size_bytes = os.path.getsize(self.path)

    def predict(self, signature, inputs):
        """Runs `signature` on numpy inputs; numpy outputs.

        Raises:
          tf.errors.InvalidArgumentError: inputs the signature does not take, or that
            its interpreter fails on (the REST server answers 400 with the message).
        """
        try:
            return self._models[signature].run(inputs)
        except (LiteRTInputError, RuntimeError) as error:
            raise tf.errors.InvalidArgumentError(None, None, f"LiteRT: {error}") from None

    def describe(self):
        """What `/metadata` says of the file: its name, size and signatures."""
        return {"file": os.path.basename(self.path), "size_bytes": self.size_bytes,
                "signatures": sorted(self._models)}

