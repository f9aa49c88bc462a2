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


def export_text_classifier(model, preprocessor, class_names, path):
    """Writes the classifier with its preprocessor as a SavedModel at `path`.

    Args:
      model: a Keras model mapping `token_ids`/`segment_ids`/`padding_mask`
        to logits `[batch, num_classes]` (e.g. `BertClassifier`).
      preprocessor: a `bertlab.text.BertPreprocessor`; exported as configured
        (use `pad_to_longest=True`).
      class_names: the name of each class, in logit order.
      path: the SavedModel directory (see `versioned_export` for atomic,
        versioned writes).
    """
    class_names = [str(c) for c in class_names]
    if len(class_names) < 2:
        raise ValueError(f"`class_names` needs at least 2 names, got {class_names}.")
    names = tf.constant(class_names)

    def classify(features):
        features = ensure_min_width(features)
        logits = tf.cast(model(features, training=False), tf.float32)
        return logits, tf.nn.softmax(logits, axis=-1)

    def serve_text(text):
        features = preprocessor(tf.reshape(text, [-1]))
        _, probabilities = classify(features)
        label = tf.gather(names, tf.argmax(probabilities, axis=-1, output_type=tf.int32))
        return {"label": label, "probabilities": probabilities}

    def serve_token_ids(token_ids, segment_ids, padding_mask):
        logits, probabilities = classify({"token_ids": token_ids, "segment_ids": segment_ids,
                                          "padding_mask": padding_mask})
        return {"logits": logits, "probabilities": probabilities}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(preprocessor)
    archive.add_endpoint(TEXT_SIGNATURE, serve_text,
                         input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.add_endpoint(TOKEN_IDS_SIGNATURE, serve_token_ids, input_signature=token_id_specs())
    archive.write_out(path, verbose=False)
