"""SavedModel of an extractive question answerer: raw question and context in, the answer out.

Signatures (TF Serving; `saved_model_cli show --all` lists them):
- `serving_default`: inputs `question` and `context`, tf.string `[None]`;
  outputs `answer` tf.string `[None]`, `score` float32 `[None]` (start plus
  end logit of the span), `start` and `end` int32 `[None]`: Unicode code-point
  offsets into the context, so that `answer == context[start:end]` in Python
  (invalid UTF-8 bytes count as one U+FFFD each).
- `serve_token_ids`: inputs `token_ids`, `segment_ids`, `padding_mask` int32
  `[None, None]` (`[CLS] question [SEP] context [SEP]` windows); outputs
  `start_logits`, `end_logits` float32 `[None, None]`.

A context longer than one window is cut into windows `doc_stride` tokens apart
inside the graph (`bertlab.text.pack_question_windows`), all of them run
through the model in one batch, and the best span over all windows of a
context is the answer (`bertlab.decoding.select_answer_spans`): the cost is
linear in the context's length. An empty question or context gets an empty
answer (`start == end == 0`, score -1e9), never an error. Loading needs only
`tensorflow` and `tensorflow_text`.

Example:
>>> export_question_answerer(model, tokenizer, "/tmp/qa/1")
>>> out = tf.saved_model.load("/tmp/qa/1").signatures["serving_default"](
...     question=tf.constant(["Who wrote it?"]), context=tf.constant(["It was written by Ann."]))
>>> out["answer"]
[b'Ann']
"""

import tensorflow as tf

from bertlab.decoding.answer_span_selection import answer_text, select_answer_spans
from bertlab.decoding.logits_processing import NEG_INF
from bertlab.export.constant_weights import constant_weights
from bertlab.export.text_classifier_export import ensure_min_width, write_archive
from bertlab.models.dtype_policy_copy import inference_copy, layer_policies
from bertlab.text.question_context_windows import pack_question_windows


def export_question_answerer(model, tokenizer, path, sequence_length=384, max_query_length=64,
                             doc_stride=128, max_answer_length=30, dtype_policy="auto"):
    """Writes the question answerer with its windowing and span selection at `path`.

    Args:
      model: a Keras model mapping `token_ids`/`segment_ids`/`padding_mask` to a dict
        of `start_logits` and `end_logits` `[batch, seq]` (`BertQuestionAnswerer`).
      tokenizer: the `bertlab.text.BertTokenizer` the model was trained with.
      path: the SavedModel directory.
      sequence_length, max_query_length, doc_stride: the windows
        (`pack_question_windows`), as in training.
      max_answer_length: the longest answer, in tokens.
      dtype_policy: "auto", None or a policy name (see `export_text_classifier`).

    Returns:
      The sorted dtype policies the exported layers compute under.
    """
    exported = inference_copy(model, dtype_policy)
    forward = constant_weights(exported, ("token_ids", "segment_ids", "padding_mask"))

    def span_logits(features):
        outputs = forward(ensure_min_width(features))
        return (tf.cast(outputs["start_logits"], tf.float32),
                tf.cast(outputs["end_logits"], tf.float32))

    def serve_text(question, context):
        question = tf.reshape(question, [-1])
        context = tf.reshape(context, [-1])
        windows = pack_question_windows(tokenizer, question, context, sequence_length,
                                        max_query_length, doc_stride)
        start_logits, end_logits = span_logits(
            {k: windows[k] for k in ("token_ids", "segment_ids", "padding_mask")})
        spans = select_answer_spans(start_logits, end_logits, windows["token_starts"],
                                    windows["token_ends"], windows["example_index"],
                                    tf.size(context), max_answer_length)
        # A question with no token asks nothing: no answer. (Its tokens are those of
        # segment 0 besides [CLS] and [SEP], in every window of its example.)
        question_tokens = tf.reduce_sum(
            windows["padding_mask"] * tf.cast(windows["segment_ids"] == 0, tf.int32), axis=1) - 2
        asked = tf.math.unsorted_segment_max(question_tokens, windows["example_index"],
                                             tf.size(context)) > 0
        start = tf.where(asked, spans.start, 0)
        end = tf.where(asked, spans.end, 0)
        score = tf.where(asked, spans.score, NEG_INF)
        return {"answer": answer_text(context, start, end), "score": score, "start": start,
                "end": end}

    def serve_token_ids(token_ids, segment_ids, padding_mask):
        start_logits, end_logits = span_logits(
            {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask})
        return {"start_logits": start_logits, "end_logits": end_logits}

    write_archive(path, tokenizer, serve_text, serve_token_ids,
                  text_inputs=("question", "context"))
    return sorted(layer_policies(exported))
