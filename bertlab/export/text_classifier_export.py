"""SavedModel of a text classifier: raw strings in, class names and probabilities out.

Signatures (TF Serving; `saved_model_cli show --all` lists them):
- `serving_default`: input `text` tf.string `[None]`; outputs `label`
  tf.string `[None]` (a class name) and `probabilities` float32
  `[None, num_classes]`. Tokenization (the in-graph BERT tokenizer) is inside.
- `serve_token_ids`: inputs `token_ids`, `segment_ids`, `padding_mask` int32
  `[None, None]`; outputs `logits` and `probabilities` float32
  `[None, num_classes]`, for servers without text ops or clients that
  tokenize themselves.

Loading needs only `tensorflow` and `import tensorflow_text` (for the
tokenizer's ops): the functions are traced graphs, no bertlab or keras-hub code.
The text is packed as `[CLS] tokens [SEP]` by slicing, not with
tensorflow-text's `RoundRobinTrimmer`: its `TFText>RoundRobinTrim` op (TF Text
2.16+) is missing from the TF Text that TF Serving embeds (2.12,
tensorflow/serving#4057), so the graph uses only ops stock TF Serving has.
Every batch of strings is accepted: empty strings and invalid UTF-8 are handled
by the tokenizer (cleaned, then `[CLS] [SEP]` at worst), long texts are
truncated to the preprocessor's `sequence_length`, and batches are padded only
to their longest row (no retracing: one traced graph for any batch).

Example:
>>> export_text_classifier(model, preprocessor, ["negative", "positive"], "/tmp/m/1")
>>> served = tf.saved_model.load("/tmp/m/1").signatures["serving_default"]
>>> served(text=tf.constant(["a great film"]))["label"]
<tf.Tensor: shape=(1,), dtype=string, numpy=array([b'positive'], dtype=object)>
"""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from bertlab.models.dtype_policy_copy import inference_copy, layer_policies
from bertlab.text.bert_preprocessor import pack_ragged

TEXT_SIGNATURE = "serving_default"
TOKEN_IDS_SIGNATURE = "serve_token_ids"
INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask")


def token_id_specs():
    """The `serve_token_ids` input signature: three int32 `[None, None]` specs."""
    return [tf.TensorSpec([None, None], tf.int32, name=name) for name in INPUT_NAMES]


def ensure_min_width(features, width=1):
    """Pads `[batch, seq]` inputs to at least `width` columns (an empty batch has 0)."""
    missing = tf.maximum(width - tf.shape(features["token_ids"])[1], 0)
    return {k: tf.pad(v, [[0, 0], [0, missing]]) for k, v in features.items()}


def logits_and_probabilities(model):
    """`run(features)` -> `(logits, probabilities)` float32 of `model` (inference mode;
    inputs padded to at least one column)."""

    def run(features):
        features = ensure_min_width(features)
        logits = tf.cast(model(features, training=False), tf.float32)
        return logits, tf.nn.softmax(logits, axis=-1)

    return run


def write_archive(path, tokenizer, serve_text, run):
    """Writes the SavedModel at `path`: `serve_text(text)` as `serving_default` and
    `run` (see `logits_and_probabilities`) on token ids as `serve_token_ids`.

    The model's variables are saved once, as the endpoints use them (tracking
    the Keras model too would store every weight a second time).
    """

    def serve_token_ids(token_ids, segment_ids, padding_mask):
        logits, probabilities = run({"token_ids": token_ids, "segment_ids": segment_ids,
                                     "padding_mask": padding_mask})
        return {"logits": logits, "probabilities": probabilities}

    archive = keras.export.ExportArchive()
    archive.track(tokenizer)
    archive.add_endpoint(TEXT_SIGNATURE, serve_text,
                         input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.add_endpoint(TOKEN_IDS_SIGNATURE, serve_token_ids, input_signature=token_id_specs())
    archive.write_out(path, verbose=False)


def pack_text(tokenizer, text, sequence_length):
    """`[CLS] tokens [SEP]` inputs for one text segment, each batch padded to its longest.

    The same ids as `BertPreprocessor` (one segment, `pad_to_longest=True`), with
    truncation by slicing. Returns int32 `[batch, seq]` `token_ids`,
    `segment_ids`, `padding_mask`.
    """
    ids = tokenizer(tf.reshape(text, [-1]))[:, :sequence_length - 2]
    token_ids, segment_ids = tf_text.combine_segments(
        [ids], start_of_sequence_id=tokenizer.token_to_id("[CLS]"),
        end_of_segment_id=tokenizer.token_to_id("[SEP]"))
    return pack_ragged(token_ids, segment_ids, sequence_length, pad_to_longest=True,
                       pad_id=tokenizer.token_to_id("[PAD]"))


def export_text_classifier(model, preprocessor, class_names, path, dtype_policy="auto"):
    """Writes the classifier with its preprocessor as a SavedModel at `path`.

    Args:
      model: a Keras model mapping `token_ids`/`segment_ids`/`padding_mask`
        to logits `[batch, num_classes]` (e.g. `BertClassifier`).
      preprocessor: the `bertlab.text.BertPreprocessor` of training: its
        tokenizer and `sequence_length` are exported (one text segment, each
        batch padded to its longest).
      class_names: the name of each class, in logit order.
      path: the SavedModel directory (see `versioned_export` for atomic,
        versioned writes).
      dtype_policy: what the export computes in: "auto" (a `mixed_bfloat16`
        model is exported with bfloat16 weights, see
        `bertlab.models.serving_dtype_policy`), None (as the model is) or a
        policy name.

    Returns:
      The sorted dtype policies the exported layers compute under.
    """
    class_names = [str(c) for c in class_names]
    if len(class_names) < 2:
        raise ValueError(f"`class_names` needs at least 2 names, got {class_names}.")
    names = tf.constant(class_names)

    exported = inference_copy(model, dtype_policy)
    classify = logits_and_probabilities(exported)

    tokenizer = preprocessor.tokenizer
    sequence_length = preprocessor.sequence_length

    def serve_text(text):
        features = pack_text(tokenizer, text, sequence_length)
        _, probabilities = classify(features)
        label = tf.gather(names, tf.argmax(probabilities, axis=-1, output_type=tf.int32))
        return {"label": label, "probabilities": probabilities}

    write_archive(path, tokenizer, serve_text, classify)
    return sorted(layer_policies(exported))
