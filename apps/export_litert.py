"""Writes a LiteRT (TFLite) file beside a classifier's or tagger's exported SavedModel.

    python -m apps.export_litert --model_dir=saved_models/sentiment [--version=N] \
        --quantize=none|dynamic|int8 [--representative_data=FILE] \
        [--representative_examples=200] [--num_threads=2]

Into the version directory (default: the highest version) it writes
`model.tflite` (float32), `model.dynamic.tflite` (int8 weights) or
`model.int8.tflite` (int8 weights and activations), with a `serve_token_ids`
signature as the SavedModel's, and records its size beside the SavedModel's in
the export's metadata (`bertlab.export.litert_export`). `python -m apps.serve
--prefer_tflite_model` then serves it behind the same REST API.

int8 calibrates on texts: `--representative_data` (a TSV file with a
`sentence`/`text` column, as the training data, or one text per line), else the
training file the export's metadata names (`train_data`). Every mode checks the
LiteRT file against the SavedModel's `serve_token_ids` on those texts (or on a few
built-in sentences) and prints the largest probability difference and how often
the labels agree. Bad input prints one `error: ...` line and exits with status 1.
"""

import os
import sys

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the SavedModel's tokenizer ops)
from absl import app, flags

from bertlab.export.litert_export import (QUANTIZE_MODES, export_litert, read_texts_file,
                                          representative_inputs, token_id_signature)
from bertlab.export.litert_model import LiteRTModel
from bertlab.export.versioned_export import list_versions, read_metadata

# Checked when there is no representative file (modes other than int8).
CHECK_SENTENCES = [
    "a gripping , beautifully acted film .", "the plot is thin and the jokes fall flat .",
    "EU rejects German call to boycott British lamb .", "Peter Blackburn reports from Brussels",
    "it is neither good nor bad", "I loved every minute of it !",
]

flags.DEFINE_string("model_dir", None, "The exported model's base directory "
                    "(saved_models/<app>) or one version directory.")
flags.DEFINE_integer("version", None, "The version to convert (default: the highest).",
                     lower_bound=1)
flags.DEFINE_string("quantize", "none", f"One of {', '.join(QUANTIZE_MODES)}.")
flags.DEFINE_string("representative_data", None, "Texts to calibrate int8 on and to check "
                    "with: a TSV file with a header (sentence/text column) or one text per line.")
flags.DEFINE_integer("representative_examples", 200, "Texts read from it.", lower_bound=1)
flags.DEFINE_integer("num_threads", None, "Interpreter threads for the check.", lower_bound=1)
FLAGS = flags.FLAGS


class AppError(Exception):
    """An input this command refuses (printed as `error: ...`)."""


def version_directory(model_dir, version):
    """The version directory to convert: `model_dir/<version>`, the highest version, or
    `model_dir` itself when it is a version (holds `saved_model.pb`)."""
    if not os.path.isdir(model_dir):
        raise AppError(f"Model directory not found: {model_dir}")
    if os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
        if version is not None:
            raise AppError(f"{model_dir} is a version directory; --version applies to a base "
                           "directory.")
        return model_dir
    versions = list_versions(model_dir)
    if not versions:
        raise AppError(f"{model_dir} holds no version directory (1/, 2/, ...).")
    if version is None:
        return os.path.join(model_dir, str(versions[-1]))
    if version not in versions:
        raise AppError(f"{model_dir} has no version {version}; it has {versions}.")
    return os.path.join(model_dir, str(version))


def representative_texts(version_dir, metadata, path, count, required):
    """The texts to calibrate on (and check with); None if there are none and none are
    `required`."""
    source = path or metadata.get("train_data")
    if not source:
        if required:
            raise AppError("--quantize=int8 needs texts to calibrate on: the export's metadata "
                           "names no training data (train_data); give --representative_data="
                           "FILE (a TSV file with a sentence/text column, or one text per line).")
        return None
    if not os.path.isfile(source):
        raise AppError(f"Representative data not found: {source}")
    return read_texts_file(source, count)


def agreement(version_dir, litert_path, inputs, num_threads):
    """`(max |probability difference|, label agreement)` of the LiteRT file against the
    SavedModel's `serve_token_ids` over `inputs` (a tagger: over real tokens)."""
    served = tf.saved_model.load(version_dir).signatures["serve_token_ids"]
    litert = LiteRTModel(litert_path, num_threads=num_threads)
    key = "probabilities" if "probabilities" in litert.outputs else "score"
    worst, agree, total = 0.0, 0, 0
    for batch in inputs:
        expected = served(**{k: tf.constant(v) for k, v in batch.items()})[key].numpy()
        got = litert.run(batch)[key]
        mask = batch["padding_mask"].astype(bool) if got.ndim == 3 else np.ones(len(got), bool)
        worst = max(worst, float(np.abs(got - expected).max())) if got.size else worst
        if key == "probabilities":
            same = expected.argmax(-1) == got.argmax(-1)
            agree += int(same[mask].sum())
            total += int(mask.sum())
    return worst, (agree / total if total else None)


def run(flags_values):
    if flags_values.quantize not in QUANTIZE_MODES:
        raise AppError(f"--quantize must be one of {', '.join(QUANTIZE_MODES)}, got "
                       f"{flags_values.quantize!r}.")
    if not flags_values.model_dir:
        raise AppError("--model_dir is required (saved_models/<app>).")
    version_dir = version_directory(flags_values.model_dir, flags_values.version)
    try:
        token_id_signature(version_dir)
        metadata = read_metadata(version_dir)
        int8 = flags_values.quantize == "int8"
        texts = representative_texts(version_dir, metadata, flags_values.representative_data,
                                     flags_values.representative_examples, required=int8)
        inputs = representative_inputs(version_dir, texts or CHECK_SENTENCES)
        record = export_litert(version_dir, flags_values.quantize, inputs if int8 else None)
    except (ValueError, FileNotFoundError) as e:  # not a classifier/tagger, unreadable data
        raise AppError(str(e)) from None
    worst, agree = agreement(version_dir, record["path"], inputs, flags_values.num_threads)
    ratio = record["size_bytes"] / record["saved_model_size_bytes"]
    print(record["path"])
    print(f"  {record['file']}: {record['size_bytes']:,} bytes ({ratio:.0%} of the float "
          f"SavedModel's {record['saved_model_size_bytes']:,}); weights from {record['source']}")
    print(f"  against the SavedModel on {sum(len(b['token_ids']) for b in inputs)} texts: "
          f"max |probability difference| {worst:.2g}" +
          ("" if agree is None else f", labels agree {agree:.1%}"))
    return record


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        run(FLAGS)
    except AppError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
