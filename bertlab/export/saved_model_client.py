"""Using an exported SavedModel from Python, as a TF Serving client would.

Only `tensorflow` and `tensorflow_text` (for the tokenizer's ops) are needed to
load the exports; nothing here touches the model's Python code.

Example:
>>> served = ExportedModel("saved_models/sentiment")   # a base dir: its latest version
>>> served.run(["a fine film"])["label"]
array([b'positive'], dtype=object)
"""

import os
import sys

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer's ops before loading)

from bertlab.export.versioned_export import latest_version_dir, read_metadata


def resolve_version_dir(model_dir):
    """`model_dir` itself if it holds a SavedModel, else its latest integer version.

    Raises:
      FileNotFoundError: neither exists.
    """
    model_dir = os.fspath(model_dir)
    if os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
        return model_dir
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"Model directory not found: {model_dir}")
    latest = latest_version_dir(model_dir)
    if latest is None or not os.path.isfile(os.path.join(latest, "saved_model.pb")):
        raise FileNotFoundError(f"{model_dir} holds no SavedModel (saved_model.pb) and no "
                                "version directory with one.")
    return latest


class ExportedModel:
    """A loaded export: its `serving_default` signature (`signature`), all its
    signatures by name (`signatures`) and its metadata.

    Args:
      model_dir: a version directory, or a base directory (its latest
        version is used).
    """

    def __init__(self, model_dir):
        self.path = resolve_version_dir(model_dir)
        self.metadata = read_metadata(self.path)
        self._loaded = tf.saved_model.load(self.path)
        self.signatures = self._loaded.signatures
        self.signature = self.signatures["serving_default"]

    def run(self, texts, batch_size=64, pairs=None):
        """Runs `serving_default` over `texts` (and, for a sentence-pair model, their
        `pairs`, its `text_pair` input) in batches; returns numpy outputs per key.

        Outputs of rank 2 with a padded second axis (`tokens`, `tags`) are
        returned as lists of rows (each row cut to its real length for string
        outputs, where "" is padding).
        """
        inputs = set(self.signature.structured_input_signature[1])
        if ("text_pair" in inputs) != (pairs is not None):
            raise ValueError("This model takes text pairs: give `pairs` (a second text per "
                             "text)." if "text_pair" in inputs else
                             "This model takes single texts: it has no `text_pair` input.")
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(pairs)} pairs.")
        inputs = {"text": texts} if pairs is None else {"text": texts, "text_pair": pairs}
        return self.run_inputs(inputs, batch_size)

    def run_inputs(self, inputs, batch_size=64):
        """Runs `serving_default` over string inputs by name (e.g. `{"question": [...],
        "context": [...]}`, all of one length) in batches; returns numpy outputs per
        key, as `run` does."""
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
        expected = set(self.signature.structured_input_signature[1])
        if set(inputs) != expected:
            raise ValueError(f"This model takes {sorted(expected)}, got {sorted(inputs)}.")
        sizes = {len(values) for values in inputs.values()}
        if len(sizes) != 1:
            raise ValueError(f"The inputs differ in length: "
                             f"{ {k: len(v) for k, v in inputs.items()} }.")
        ragged, dense = {}, {}
        for start in range(0, sizes.pop(), batch_size):
            batch = {name: tf.constant(list(values[start:start + batch_size]), dtype=tf.string)
                     for name, values in inputs.items()}
            for key, value in self.signature(**batch).items():
                value = value.numpy()
                if value.dtype == object and value.ndim == 2:
                    ragged.setdefault(key, []).extend(
                        [[x for x in row if x != b""] for row in value])
                else:
                    dense.setdefault(key, []).append(value)
        results = {k: np.concatenate(v, axis=0) for k, v in dense.items()}
        results.update(ragged)
        return results


def read_texts(args, stream=None):
    """The texts to predict: the positional arguments, else the non-blank lines of stdin.

    Bytes that are not UTF-8 (in arguments or on stdin) become U+FFFD, as the
    exported tokenizer would treat them.
    """
    if args:
        return [os.fsencode(a).decode("utf-8", errors="replace") for a in args]
    stream = stream if stream is not None else sys.stdin.buffer
    lines = []
    for line in stream:
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        line = line.rstrip("\r\n")
        if line.strip():
            lines.append(line)
    return lines
