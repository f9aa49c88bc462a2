"""SavedModel of a text classifier: raw strings in, class names and probabilities (or a
score) out.

Signatures (TF Serving; `saved_model_cli show --all` lists them):
- `serving_default`: input `text` tf.string `[None]` (and `text_pair`
  tf.string `[None]` for a sentence-pair model); outputs `label` tf.string
  `[None]` (a class name) and `probabilities` float32 `[None, num_classes]`,
  or, for a regression model (STS-B), `score` float32 `[None]`. Tokenization
  (the in-graph BERT tokenizer) is inside.
- `serve_token_ids`: inputs `token_ids`, `segment_ids`, `padding_mask` int32
  `[None, None]`; outputs `logits` and `probabilities` float32
  `[None, num_classes]` (regression: `score`), for servers without text ops
  or clients that tokenize themselves.

A binary classifier with a `positive_class` and a `decision_threshold` (chosen
on validation, e.g. for spam) labels a text with the positive class when that
class's probability reaches the threshold, instead of the most probable class.

Loading needs only `tensorflow` and `import tensorflow_text` (for the
tokenizer's ops): the functions are traced graphs, no bertlab or keras-hub code.
The text is packed as `[CLS] tokens [SEP]` (a pair: `[CLS] a [SEP] b [SEP]`,
the longer text trimmed first, `BertPreprocessor`'s rule) with plain TF ops, not
with tensorflow-text's `RoundRobinTrimmer`: its `TFText>RoundRobinTrim` op (TF Text
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

from bertlab.export.constant_weights import constant_weights
from bertlab.models.dtype_policy_copy import inference_copy, layer_policies
from bertlab.text.bert_preprocessor import pack_ragged, trim_segments

TEXT_SIGNATURE = "serving_default"
TOKEN_IDS_SIGNATURE = "serve_token_ids"
INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask")


def token_id_specs(names=INPUT_NAMES):
    """The `serve_token_ids` input signature: one int32 `[None, None]` spec per name
    (the model's inputs: `token_ids`, `segment_ids`, `padding_mask`, and e.g. a
    tagger's `casing_ids`)."""
    return [tf.TensorSpec([None, None], tf.int32, name=name) for name in names]


def ensure_min_width(features, width=1):
    """Pads `[batch, seq]` inputs to at least `width` columns (an empty batch has 0)."""
    missing = tf.maximum(width - tf.shape(features["token_ids"])[1], 0)
    return {k: tf.pad(v, [[0, 0], [0, missing]]) for k, v in features.items()}


def logits_and_probabilities(forward):
    """`run(features)` -> `(logits, probabilities)` float32 of `forward(features)` (a
    model's inference call, e.g. `constant_weights`; inputs padded to at least one column)."""

    def run(features):
        features = ensure_min_width(features)
        logits = tf.cast(forward(features), tf.float32)
        return logits, tf.nn.softmax(logits, axis=-1)

    return run


def score_of(forward):
    """`run(features)` -> float32 `[batch]` scores of a one-output regression model's
    inference call `forward(features)`."""

    def run(features):
        features = ensure_min_width(features)
        return tf.cast(forward(features), tf.float32)[:, 0]

    return run


def write_archive(path, tokenizer, serve_text, serve_token_ids, text_inputs=("text",),
                  token_id_inputs=INPUT_NAMES):
    """Writes the SavedModel at `path`: `serve_text(*texts)` as `serving_default` (one
    `tf.string [None]` input per name in `text_inputs`) and
    `serve_token_ids(*token_id_inputs)` (by default `token_ids, segment_ids,
    padding_mask`) as `serve_token_ids`.

    The weights are saved once, as the endpoints use them (as graph constants
    through `constant_weights`; tracking the Keras model too would store every
    weight a second time).
    """
    archive = keras.export.ExportArchive()
    archive.track(tokenizer)
    archive.add_endpoint(TEXT_SIGNATURE, serve_text,
                         input_signature=[tf.TensorSpec([None], tf.string, name=name)
                                          for name in text_inputs])
    archive.add_endpoint(TOKEN_IDS_SIGNATURE, serve_token_ids,
                         input_signature=token_id_specs(token_id_inputs))
    archive.write_out(path, verbose=False)


def pack_text(tokenizer, text, sequence_length, text_pair=None):
    """`[CLS] a [SEP]` (or `[CLS] a [SEP] b [SEP]`) inputs, each batch padded to its longest.

    The same ids as `BertPreprocessor` (`pad_to_longest=True`): one text is
    truncated by slicing, a pair trimmed by `trim_segments`. Returns int32
    `[batch, seq]` `token_ids`, `segment_ids`, `padding_mask`.
    """
    segments = [tokenizer(tf.reshape(text, [-1]))]
    if text_pair is not None:
        segments.append(tokenizer(tf.reshape(text_pair, [-1])))
    segments = trim_segments(segments, sequence_length - 1 - len(segments))
    token_ids, segment_ids = tf_text.combine_segments(
        segments, start_of_sequence_id=tokenizer.token_to_id("[CLS]"),
        end_of_segment_id=tokenizer.token_to_id("[SEP]"))
    return pack_ragged(token_ids, segment_ids, sequence_length, pad_to_longest=True,
                       pad_id=tokenizer.token_to_id("[PAD]"))


def export_text_classifier(model, preprocessor, class_names, path, dtype_policy="auto",
                           text_pair=False, regression=False, positive_class=None,
                           decision_threshold=None):
    """Writes the classifier with its preprocessor as a SavedModel at `path`.

    Args:
      model: a Keras model mapping `token_ids`/`segment_ids`/`padding_mask`
        to logits `[batch, num_classes]` (e.g. `BertClassifier`), or
        `[batch, 1]` scores with `regression`.
      preprocessor: the `bertlab.text.BertPreprocessor` of training: its
        tokenizer and `sequence_length` are exported (each batch padded to its
        longest).
      class_names: the name of each class, in logit order (unused with
        `regression`).
      path: the SavedModel directory (see `bertlab.export.publish` for atomic,
        versioned writes).
      dtype_policy: what the export computes in: "auto" (a `mixed_bfloat16`
        model is exported with bfloat16 weights, see
        `bertlab.models.serving_dtype_policy`), None (as the model is) or a
        policy name.
      text_pair: `serving_default` takes `text` and `text_pair`.
      regression: output `score` instead of `label`/`probabilities`.
      positive_class, decision_threshold: label a text `positive_class` when
        its probability is at least `decision_threshold` (binary classifiers).

    Returns:
      The sorted dtype policies the exported layers compute under.
    """
    exported = inference_copy(model, dtype_policy)
    forward = constant_weights(exported, INPUT_NAMES)
    tokenizer = preprocessor.tokenizer
    sequence_length = preprocessor.sequence_length
    text_inputs = ("text", "text_pair") if text_pair else ("text",)

    def pack(texts):  # `(text,)` or `(text, text_pair)`
        return pack_text(tokenizer, texts[0], sequence_length, *texts[1:])

    if regression:
        score = score_of(forward)

        def serve_text(*texts):
            return {"score": score(pack(texts))}

        def serve_token_ids(token_ids, segment_ids, padding_mask):
            return {"score": score({"token_ids": token_ids, "segment_ids": segment_ids,
                                    "padding_mask": padding_mask})}
    else:
        class_names = [str(c) for c in class_names]
        if len(class_names) < 2:
            raise ValueError(f"`class_names` needs at least 2 names, got {class_names}.")
        choose = _label_rule(class_names, positive_class, decision_threshold)
        classify = logits_and_probabilities(forward)

        def serve_text(*texts):
            _, probabilities = classify(pack(texts))
            return {"label": choose(probabilities), "probabilities": probabilities}

        def serve_token_ids(token_ids, segment_ids, padding_mask):
            logits, probabilities = classify({"token_ids": token_ids,
                                              "segment_ids": segment_ids,
                                              "padding_mask": padding_mask})
            return {"logits": logits, "probabilities": probabilities}

    write_archive(path, tokenizer, serve_text, serve_token_ids, text_inputs)
    return sorted(layer_policies(exported))


def _label_rule(class_names, positive_class, decision_threshold):
    """`probabilities [batch, classes]` -> class names: the most probable class, or with
    a threshold, the positive class when its probability reaches it."""
    names = tf.constant(class_names)
    if decision_threshold is None:
        return lambda p: tf.gather(names, tf.argmax(p, axis=-1, output_type=tf.int32))
    if positive_class not in class_names or len(class_names) != 2:
        raise ValueError(f"A decision threshold needs a positive class among two classes; "
                         f"got {positive_class!r} and {class_names}.")
    if not 0.0 <= float(decision_threshold) <= 1.0:
        raise ValueError(f"`decision_threshold` must be in [0, 1], got {decision_threshold}.")
    positive = class_names.index(positive_class)
    negative = 1 - positive
    threshold = tf.constant(float(decision_threshold), tf.float32)

    def choose(probabilities):
        return tf.where(probabilities[:, positive] >= threshold, names[positive],
                        names[negative])

    return choose
