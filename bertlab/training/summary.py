"""What a run leaves for people: TensorBoard scalars and `summary.json`.

TensorBoard logs go to `model_dir/train` and `model_dir/validation`; only the
chief worker writes (the others get no-op writers). `write_json_atomic` writes
to a temporary file in the same folder and renames it, so a reader (or a kill)
never sees half a file.

Example:
>>> import tempfile, os, json
>>> d = tempfile.mkdtemp()
>>> write_json_atomic(os.path.join(d, "summary.json"), {"steps": 3})
>>> json.load(open(os.path.join(d, "summary.json")))
{'steps': 3}
"""

import json
import math
import os

import tensorflow as tf

from bertlab.storage import atomic_file

SUMMARY_FILE = "summary.json"


def _plain(value):
    """JSON-safe numbers: NaN and infinities become strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # NumPy and TF scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_json_atomic(path, data):
    """Writes `data` as JSON to `path` via a temporary file and a rename."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(_plain(data), f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


class SummaryWriters:
    """TensorBoard writers for the "train" and "validation" subfolders of `model_dir`."""

    def __init__(self, model_dir, enabled=True):
        self._writers = {}
        for split in ("train", "validation"):
            if enabled:
                self._writers[split] = tf.summary.create_file_writer(os.path.join(model_dir, split))
            else:
                self._writers[split] = tf.summary.create_noop_writer()

    def scalars(self, split, values, step):
        """Writes `{name: number}` at `step` for `split` ("train" or "validation")."""
        writer = self._writers[split]
        with writer.as_default(step=int(step)):
            for name, value in values.items():
                tf.summary.scalar(name, float(value))
        writer.flush()

    def close(self):
        for writer in self._writers.values():
            writer.close()
