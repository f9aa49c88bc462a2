"""Running a LiteRT (TFLite) export from Python: one signature, numpy in, numpy out.

`LiteRTModel` wraps the LiteRT interpreter (`ai_edge_litert.interpreter`, the
`ai-edge-litert` package; `tf.lite.Interpreter`, deprecated in TF 2.21, where
it is not installed) with the checks a server needs: the inputs are exactly the
signature's names, integer `[batch, seq]` arrays of one shape, each batch
resized to (the interpreter reallocates its tensors when the shape changes). An
interpreter runs one call at a time, so each `LiteRTModel` keeps a small pool of
interpreters (`concurrency`, one per call running at once) and a caller waits for
a free one. The CPU kernels are XNNPACK's (the interpreter's default delegate),
with `num_threads` threads per call.

Example:
>>> model = LiteRTModel("saved_models/sentiment/3/model.tflite", num_threads=2)
>>> model.inputs
{'padding_mask': (dtype('int32'), (-1, -1)), 'segment_ids': ..., 'token_ids': ...}
>>> model.run({"token_ids": ids, "segment_ids": segments, "padding_mask": mask})["probabilities"]
array([[0.12, 0.88]], dtype=float32)
"""

import os
import queue

import numpy as np

SIGNATURE = "serve_token_ids"


class LiteRTInputError(ValueError):
    """Inputs a signature cannot take (names, dtypes, shapes); the model is not run."""


def interpreter_class():
    """`ai_edge_litert.interpreter.Interpreter`, or `tf.lite.Interpreter` without the
    `ai-edge-litert` package."""
    try:
        # deferred: the LiteRT package is optional (`pip install .[litert]`)
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        # deferred: TensorFlow only where LiteRT is missing
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def signature_keys(path):
    """The signature keys of the LiteRT file at `path`, sorted."""
    with open(os.fspath(path), "rb") as f:
        content = f.read()
    try:
        return sorted(interpreter_class()(model_content=content).get_signature_list())
    except ValueError as e:
        raise ValueError(f"{path} is not a LiteRT model: {e}") from None


class LiteRTModel:
    """One signature of a `.tflite` file, run by a pool of LiteRT interpreters.

    Args:
      path: the `.tflite` file.
      signature: the signature to run (default `serve_token_ids`; None: the
        file's only signature).
      num_threads: CPU threads per call (None: the interpreter's default).
      concurrency: calls that may run at once (one interpreter each).

    Attributes:
      inputs: `{name: (numpy dtype, shape signature)}` (-1 for a dynamic axis).
      outputs: `{name: (numpy dtype, shape signature)}`.
      signatures: every signature of the file, `{key: {"inputs": [...], "outputs": [...]}}`.

    Raises:
      FileNotFoundError: no such file.
      ValueError: the file is not a LiteRT model, or has no such signature.
    """

    def __init__(self, path, signature=SIGNATURE, num_threads=None, concurrency=1):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"LiteRT model not found: {self.path}")
        if num_threads is not None and int(num_threads) < 1:
            raise ValueError(f"`num_threads` must be positive, got {num_threads}.")
        if int(concurrency) < 1:
            raise ValueError(f"`concurrency` must be positive, got {concurrency}.")
        with open(self.path, "rb") as f:
            self._content = f.read()
        self.num_threads = None if num_threads is None else int(num_threads)
        first = self._interpreter()
        self.signatures = first.get_signature_list()
        if signature is None and len(self.signatures) == 1:
            signature = next(iter(self.signatures))
        if signature not in self.signatures:
            raise ValueError(f"{self.path} has no signature {signature!r}; it has "
                             f"{sorted(self.signatures)}.")
        self.signature = signature
        runner = first.get_signature_runner(signature)
        self.inputs = _specs(runner.get_input_details())
        self.outputs = _specs(runner.get_output_details())
        self._pool = queue.SimpleQueue()
        self._pool.put((first, runner))
        for _ in range(int(concurrency) - 1):
            interpreter = self._interpreter()
            self._pool.put((interpreter, interpreter.get_signature_runner(signature)))

    def _interpreter(self):
        try:
            return interpreter_class()(model_content=self._content,
                                       num_threads=self.num_threads)
        except ValueError as e:
            raise ValueError(f"{self.path} is not a LiteRT model: {e}") from None

    @property
    def size_bytes(self):
        return len(self._content)

    def check_inputs(self, inputs):
        """`inputs` as the arrays the interpreter takes (int32, one `[batch, seq]` shape).

        Raises:
          LiteRTInputError: other names, a non-integer dtype, a value outside int32,
            a rank other than the signature's, or shapes that differ.
        """
        if not isinstance(inputs, dict) or set(inputs) != set(self.inputs):
            got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise LiteRTInputError(f"Signature {self.signature!r} takes the inputs "
                                   f"{sorted(self.inputs)}, got {got}.")
        arrays, shapes = {}, {}
        for name, (dtype, shape) in self.inputs.items():
            value = np.asarray(inputs[name])
            if value.dtype != dtype:
                integers = np.issubdtype(value.dtype, np.integer)
                if not (integers and np.issubdtype(dtype, np.integer)):
                    raise LiteRTInputError(f"Input {name!r} must be {dtype.name}, got "
                                           f"{value.dtype.name}.")
                info = np.iinfo(dtype)
                if value.size and (value.min() < info.min or value.max() > info.max):
                    raise LiteRTInputError(f"Input {name!r} has values outside {dtype.name}.")
                value = value.astype(dtype)
            if value.ndim != len(shape) or any(s not in (-1, d)
                                               for s, d in zip(shape, value.shape)):
                raise LiteRTInputError(f"Input {name!r} must have the shape {list(shape)} (-1: "
                                       f"any size), got {list(value.shape)}.")
            arrays[name] = np.ascontiguousarray(value)
            shapes[name] = value.shape
        if len(set(shapes.values())) > 1:
            raise LiteRTInputError(f"The inputs differ in shape: "
                                   f"{ {n: list(s) for n, s in sorted(shapes.items())} }.")
        return arrays

    def run(self, inputs):
        """Runs the signature on numpy `inputs` (by name); returns numpy outputs by name.

        A batch of 0 rows returns outputs of 0 rows; 0 columns are padded to one,
        as the exported graphs do.

        Raises:
          LiteRTInputError: see `check_inputs`.
          RuntimeError: the interpreter failed on these inputs (e.g. a token id
            outside the vocabulary).
        """
        arrays = self.check_inputs(inputs)
        shape = next(iter(arrays.values())).shape if arrays else ()
        rows = shape[0] if shape else None
        if shape and 0 in shape:
            # LiteRT kernels do not all take empty tensors: one row of padding (and one
            # column, as the exported graph pads an empty batch to itself), cut off after.
            arrays = {n: np.zeros([max(d, 1) for d in shape], a.dtype)
                      for n, a in arrays.items()}
        interpreter, runner = self._pool.get()
        try:
            outputs = runner(**arrays)
            # Copies: nothing may point into the interpreter once it is back in the pool.
            outputs = {k: np.array(v) for k, v in outputs.items()}
        finally:
            self._pool.put((interpreter, runner))
        if rows == 0:
            outputs = {k: v[:0] for k, v in outputs.items()}
        return outputs

    __call__ = run


def _specs(details):
    return {name: (np.dtype(d["dtype"]), tuple(int(x) for x in d["shape_signature"]))
            for name, d in sorted(details.items())}

