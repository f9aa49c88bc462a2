"""LiteRT (TFLite) files beside a classifier's or tagger's SavedModel version.

`export_litert(version_dir, quantize)` converts the version's `serve_token_ids`
signature with `tf.lite.TFLiteConverter` and writes, into the same version
directory:

- `quantize="none"`: `model.tflite`, float32 weights and compute;
- `"dynamic"`: `model.dynamic.tflite`, dynamic-range quantization
  (`Optimize.DEFAULT`): int8 weights, activations quantized on the fly;
- `"int8"`: `model.int8.tflite`, full-integer quantization
  (`TFLITE_BUILTINS_INT8`): int8 weights and activations, their ranges
  calibrated on a representative set of token ids (`representative_inputs`,
  from training texts). The int32 ids stay the inputs and the float32 outputs
  stay float32 (quantized inside the graph).

The file has one signature, `serve_token_ids`, with the SavedModel's input and
output names, dtypes and dynamic `[None, None]` shapes (`token_ids`,
`segment_ids`, `padding_mask`, a tagger's `casing_ids`; `logits` and
`probabilities`, or a regression model's `score`), checked after conversion.
Run it with `bertlab.export.litert_model.LiteRTModel`.

The graph comes from float32 weights: from the fine-tuned Keras model saved
beside the export (`<version>/model.keras`), copied to float32 and traced as
the export traces it (`constant_weights`), so a `mixed_bfloat16` run (whose
SavedModel holds bfloat16 weights) still gives float32 and int8 files from its
float32 weights. Without `model.keras`, the SavedModel's `serve_token_ids` is
converted as it is.

What is written is atomic: each file goes to a temporary name in the version
directory and is renamed into place; a failed conversion leaves the version
as it was. The version's metadata (`assets.extra/bertlab_export.json`) gets
`litert` (`{file: {"quantize", "size_bytes", "source"}}`) and
`saved_model_size_bytes` (the float SavedModel: `saved_model.pb`, `variables/`,
`assets/`), so the size of each file is stated beside the SavedModel's.

No string-in signature: the tokenizer does not run in LiteRT. The exports'
tokenizer (`bertlab.text.BertTokenizer`) uses TF Text's regex splitting and
normalization ops, which have no LiteRT kernels (`serving_default` converts only
with `allow_custom_ops`, as unresolved custom ops); and even a tokenizer built
from the ops tensorflow-text does register for LiteRT (`FastBertNormalizer` +
`FastWordpieceTokenizer`, `tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`)
converts but fails in the interpreter with `RuntimeError: Encountered unresolved
custom op: RaggedRange` (its ragged batching; `STRING_SIGNATURE_ERROR`). Clients
tokenize with the export's vocabulary (`representative_inputs` shows how).

Example:
>>> inputs = representative_inputs("saved_models/sentiment/3", texts)
>>> export_litert("saved_models/sentiment/3", "int8", inputs)
{'path': '.../3/model.int8.tflite', 'quantize': 'int8', 'size_bytes': 23412345, ...}
"""

import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

import bertlab.models  # noqa: F401  (registers the model classes `model.keras` holds)
from bertlab.data import read_text_lines
from bertlab.export.constant_weights import constant_weights
from bertlab.export.custom_ops import read_saved_model_proto
from bertlab.export.keras_model_file import KERAS_MODEL_FILE, VOCABULARY_FILE
from bertlab.export.litert_model import SIGNATURE, LiteRTModel
from bertlab.export.text_classifier_export import (logits_and_probabilities, score_of,
                                                   token_id_specs)
from bertlab.export.versioned_export import METADATA_DIR, METADATA_FILE, read_metadata
from bertlab.models.dtype_policy_copy import inference_copy
from bertlab.text import BertPreprocessor, BertTokenizer
from bertlab.text.word_tokenization import pack_words, split_whitespace
from bertlab.training.summary import write_json_atomic

QUANTIZE_MODES = ("none", "dynamic", "int8")
LITERT_FILES = {"none": "model.tflite", "dynamic": "model.dynamic.tflite",
                "int8": "model.int8.tflite"}
# The inputs and outputs of a classifier's or tagger's `serve_token_ids`.
TOKEN_ID_INPUTS = {"token_ids", "segment_ids", "padding_mask", "casing_ids"}
CLASSIFIER_OUTPUTS = ({"logits", "probabilities"}, {"score"})
# What the interpreter says of a converted LiteRT-kernel tokenizer (TF 2.21, tensorflow-text
# 2.21, ai-edge-litert 2.3.0 and tf.lite.Interpreter alike).
STRING_SIGNATURE_ERROR = "Encountered unresolved custom op: RaggedRange."
TEMP_PREFIX = ".tmp-litert-"


class NotConvertibleError(ValueError):
    """A directory that is not a classifier's or tagger's SavedModel version."""


def litert_file_name(quantize):
    """The file a quantize mode writes (`LITERT_FILES`).

    Raises:
      ValueError: an unknown mode.
    """
    if quantize not in LITERT_FILES:
        raise ValueError(f"`quantize` must be one of {list(QUANTIZE_MODES)}, got {quantize!r}.")
    return LITERT_FILES[quantize]


def token_id_signature(version_dir):
    """`(input names, {output: rank})` of the `serve_token_ids` signature of the
    classifier or tagger SavedModel at `version_dir`, read from `saved_model.pb`.

    Raises:
      NotConvertibleError: no SavedModel, no `serve_token_ids`, or other inputs
        or outputs than a classifier's or a tagger's.
    """
    version_dir = os.fspath(version_dir)
    if not os.path.isfile(os.path.join(version_dir, "saved_model.pb")):
        raise NotConvertibleError(f"{version_dir} holds no SavedModel (saved_model.pb).")
    signatures = read_saved_model_proto(version_dir).meta_graphs[0].signature_def
    if SIGNATURE not in signatures:
        raise NotConvertibleError(f"{version_dir} has no {SIGNATURE!r} signature: it is not a "
                                  "classifier's or tagger's export.")
    signature = signatures[SIGNATURE]
    inputs = tuple(signature.inputs)
    outputs = {k: len(v.tensor_shape.dim) for k, v in signature.outputs.items()}
    if not set(inputs) <= TOKEN_ID_INPUTS or set(outputs) not in CLASSIFIER_OUTPUTS:
        raise NotConvertibleError(
            f"{version_dir}: {SIGNATURE!r} takes {sorted(inputs)} and returns "
            f"{sorted(outputs)}: not a classifier's or tagger's export.")
    return inputs, outputs


def saved_model_size_bytes(version_dir):
    """Bytes of the SavedModel itself: `saved_model.pb`, `variables/` and `assets/`."""
    total = os.path.getsize(os.path.join(version_dir, "saved_model.pb"))
    for sub in ("variables", "assets"):
        for root, _, files in os.walk(os.path.join(version_dir, sub)):
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def _float32_module(keras_path, input_names, outputs):
    """A `tf.Module` whose `serve` is `serve_token_ids` traced from the Keras model at
    `keras_path`, copied to float32, as the SavedModel export traces it."""
    model = inference_copy(keras.models.load_model(keras_path, compile=False), "float32")
    forward = constant_weights(model, input_names)
    if set(outputs) == {"score"}:
        score = score_of(forward)

        def serve(*inputs):
            return {"score": score(dict(zip(input_names, inputs)))}
    else:
        classify = logits_and_probabilities(forward)

        def serve(*inputs):
            logits, probabilities = classify(dict(zip(input_names, inputs)))
            return {"logits": logits, "probabilities": probabilities}

    module = tf.Module()
    module.serve = tf.function(serve, input_signature=token_id_specs(input_names))
    return module


def convert(version_dir, quantize="none", representative_inputs=None):
    """The LiteRT flatbuffer of the version's `serve_token_ids` (see the module docstring).

    Args:
      version_dir: a classifier's or tagger's SavedModel version directory.
      quantize: "none", "dynamic" or "int8".
      representative_inputs: for "int8", a list of input dicts (int32
        `[batch, seq]` arrays by input name) to calibrate activation ranges on.

    Returns:
      `(flatbuffer bytes, source)`: source is `model.keras` or `saved_model`.

    Raises:
      NotConvertibleError, ValueError (bad `quantize` or representative set).
    """
    litert_file_name(quantize)
    version_dir = os.fspath(version_dir)
    input_names, outputs = token_id_signature(version_dir)
    if quantize == "int8":
        _check_representative(representative_inputs, input_names)
    keras_path = os.path.join(version_dir, KERAS_MODEL_FILE)
    with tempfile.TemporaryDirectory(prefix="bertlab-litert-") as scratch:
        if os.path.isfile(keras_path):
            source, saved_model = KERAS_MODEL_FILE, os.path.join(scratch, "float32")
            module = _float32_module(keras_path, input_names, outputs)
            tf.saved_model.save(module, saved_model, signatures={
                SIGNATURE: module.serve.get_concrete_function()})
        else:
            source, saved_model = "saved_model", version_dir
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model,
                                                             signature_keys=[SIGNATURE])
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "int8":
            converter.representative_dataset = lambda: (
                {k: np.asarray(v, np.int32) for k, v in example.items()}
                for example in representative_inputs)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return converter.convert(), source


def _check_representative(examples, input_names):
    if not examples:
        raise ValueError("int8 quantization needs representative inputs (token ids of "
                         "training texts) to calibrate on; got none.")
    for example in examples:
        if not isinstance(example, dict) or set(example) != set(input_names):
            got = sorted(example) if isinstance(example, dict) else repr(example)[:100]
            raise ValueError(f"Each representative input must be a dict with "
                             f"{sorted(input_names)}, got {got}.")


def _check_flatbuffer(path, input_names, outputs):
    """Loads the written file and checks its `serve_token_ids` against the SavedModel's."""
    model = LiteRTModel(path)
    want_inputs = {n: (np.dtype(np.int32), (-1, -1)) for n in input_names}
    if model.inputs != want_inputs or set(model.outputs) != set(outputs) or any(
            model.outputs[k][0] != np.float32 for k in outputs):
        raise ValueError(f"The converted {SIGNATURE!r} takes {model.inputs} and returns "
                         f"{model.outputs}; the SavedModel's takes {sorted(input_names)} (int32 "
                         f"[-1, -1]) and returns {sorted(outputs)} (float32).")


def write_bytes_atomic(path, data):
    """Writes `data` to `path` through a temporary file beside it and one rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def export_litert(version_dir, quantize="none", representative_inputs=None):
    """Converts the version's `serve_token_ids` and writes the LiteRT file beside it.

    Args:
      version_dir: a classifier's or tagger's SavedModel version directory (with
        its `assets.extra/bertlab_export.json`).
      quantize, representative_inputs: see `convert`.

    Returns:
      `{"path", "file", "quantize", "size_bytes", "saved_model_size_bytes", "source"}`.

    Raises:
      FileNotFoundError: no metadata; NotConvertibleError, ValueError: see
      `convert`. The version is left as it was.
    """
    version_dir = os.path.abspath(os.fspath(version_dir))
    file_name = litert_file_name(quantize)
    input_names, outputs = token_id_signature(version_dir)
    metadata = read_metadata(version_dir)
    flatbuffer, source = convert(version_dir, quantize, representative_inputs)
    with tempfile.TemporaryDirectory(prefix="bertlab-litert-") as scratch:
        check_path = os.path.join(scratch, file_name)
        with open(check_path, "wb") as f:
            f.write(flatbuffer)
        _check_flatbuffer(check_path, input_names, outputs)
    path = os.path.join(version_dir, file_name)
    write_bytes_atomic(path, flatbuffer)
    entry = {"quantize": quantize, "size_bytes": len(flatbuffer), "source": source}
    float_size = saved_model_size_bytes(version_dir)
    metadata["litert"] = {**metadata.get("litert", {}), file_name: entry}
    metadata["saved_model_size_bytes"] = float_size
    write_json_atomic(os.path.join(version_dir, METADATA_DIR, METADATA_FILE), metadata)
    return {"path": path, "file": file_name, **entry, "saved_model_size_bytes": float_size}


# ------------------------------------------------------------- representative set

TEXT_HEADERS = ("sentence", "text_a", "text", "review")


def read_texts_file(path, max_examples=200):
    """Up to `max_examples` texts of a TSV file with a header naming its text column
    (`sentence`, `text_a`, `text` or `review`, as the training data) or of a text file
    (one per non-blank line), spread evenly over the file.

    Raises:
      bertlab.data.DataError: the file is missing or not UTF-8; ValueError: no text.
    """
    lines = [line for line in read_text_lines(path) if line.strip()]
    header = lines[0].split("\t") if lines else []
    column = next((header.index(h) for h in TEXT_HEADERS if h in header), None)
    if column is not None and len(header) > 1:
        rows = [line.split("\t") for line in lines[1:]]
        lines = [row[column] for row in rows if len(row) > column and row[column].strip()]
    if not lines:
        raise ValueError(f"{path} holds no text.")
    step = max(1, len(lines) // max(1, int(max_examples)))
    return lines[::step][:int(max_examples)]


def representative_inputs(version_dir, texts, batch_size=1):
    """`texts` as the version's `serve_token_ids` inputs, tokenized as its
    `serving_default` does (its `vocab.txt`, its metadata's
    `lowercase` and `sequence_length`): a list of dicts of int32 `[batch, seq]`
    arrays, each batch padded to its longest row.

    A tagger's texts are split at whitespace into words (`pack_words`, with
    `casing_ids` when its signature takes them); a classifier's are packed as
    `[CLS] text [SEP]` (a tab in a text separates a pair).
    """
    version_dir = os.fspath(version_dir)
    input_names, outputs = token_id_signature(version_dir)
    metadata = read_metadata(version_dir)
    vocabulary = os.path.join(version_dir, VOCABULARY_FILE)
    if not os.path.isfile(vocabulary):
        raise NotConvertibleError(f"{version_dir} has no vocabulary ({VOCABULARY_FILE} beside "
                                  "model.keras): re-export it with this bertlab version.")
    tokenizer = BertTokenizer(vocabulary, lowercase=bool(metadata.get("lowercase", True)))
    sequence_length = int(metadata.get("sequence_length", 128))
    tagger = next(iter(outputs.values())) == 3
    preprocessor = None if tagger else BertPreprocessor(tokenizer, sequence_length,
                                                        pad_to_longest=True)
    batches = []
    for start in range(0, len(texts), batch_size):
        chunk = [str(t) for t in texts[start:start + batch_size]]
        if tagger:
            packed = pack_words(tokenizer, split_whitespace(tf.constant(chunk)), sequence_length,
                                with_casing="casing_ids" in input_names)
        else:
            pairs = [t.split("\t", 1) + [""] * ("\t" not in t) for t in chunk]
            if any(p[1] for p in pairs):
                packed = preprocessor((tf.constant([p[0] for p in pairs]),
                                       tf.constant([p[1] for p in pairs])))
            else:
                packed = preprocessor(tf.constant(chunk))
        batches.append({n: np.asarray(packed[n], np.int32) for n in input_names})
    return batches
