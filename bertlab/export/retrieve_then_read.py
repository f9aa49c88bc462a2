"""Retrieve-then-read in the graph: a search index's top documents, read by a QA export.

A search SavedModel (`search_index_export`) built with a reader gets an
`answer` signature: the question is embedded and the top `read_top` documents
retrieved (the index's exact top-k), the loaded question-answerer export
(`question_answerer_export`) runs its `serving_default` on (question, each
retrieved document) in one batch, and the best answer is kept. Everything runs
in one SavedModel that stock TF Serving serves: no Python between the steps.

The rule for the best answer (`read_retrieved`): among the `read_top`
documents, the answer with the highest reader `score` (start plus end logit);
an empty answer (the reader found no span, e.g. an empty question or
document) is never chosen; on equal scores the better-retrieved document
wins. When every answer is empty, the answer is "" with the top retrieved
document, `start == end == 0` and `score` -1e9 (the reader's no-answer
score). Reader scores of different documents are compared as they are: a
reader trained on SQuAD-style single paragraphs has no calibration across
paragraphs, which is the usual open-domain trade-off (and why `read_top` is
small: more documents, more chances for a confident wrong span).

`answer` signature: input `question` tf.string `[None]`; outputs `answer`
tf.string `[None]`, `score` float32 `[None]` (the reader's), `document_id`
and `document_text` tf.string `[None]` (the paragraph the answer comes
from), `start`, `end` int32 `[None]` (Unicode code-point offsets into
`document_text`: `document_text[start:end] == answer` in Python), and
`retrieval_score` float32 `[None]` (that document's search score). An empty
question gets an empty answer (no error); invalid UTF-8 is handled as the
reader handles it (each bad byte one U+FFFD).

Cost per question: the embedder once, the exact top-k, and the reader on
`read_top` documents (each cut into windows by the reader): the reader
dominates, linearly in `read_top`.

Example:
>>> reader = load_reader("saved_models/qa/3")
>>> export_search_index(functions, ids, texts, embeddings, "/tmp/search/1", reader=reader,
...                     read_top=5)
>>> answer = tf.saved_model.load("/tmp/search/1").signatures["answer"]
>>> answer(question=tf.constant(["Who designed the tower?"]))["answer"]
<tf.Tensor: shape=(1,), dtype=string, numpy=array([b'Gustave Eiffel'], dtype=object)>
"""

import collections
import os

import tensorflow as tf

from bertlab.decoding.logits_processing import NEG_INF
from bertlab.export.versioned_export import read_metadata

ANSWER_SIGNATURE = "answer"
READER_TASK = "question_answering"
READER_INPUTS = {"question", "context"}
READER_OUTPUTS = {"answer", "score", "start", "end"}
# The reader's score of "no answer" (`question_answerer_export`'s).
NO_ANSWER_SCORE = NEG_INF

Reader = collections.namedtuple("Reader", ["read", "tracked", "metadata"])
Reader.__doc__ = """A loaded question-answerer export, ready to be called in another graph.

Fields:
  read: `read(question, context)`: tf.string `[n]` each -> `{"answer": string [n],
    "score": float32 [n], "start", "end": int32 [n]}` (traceable).
  tracked: what the SavedModel must track (the loaded export).
  metadata: `source` (the reader's directory) and the reader's own metadata
    (`sequence_length`, `doc_stride`, ...) when it has any.
"""


def load_reader(export_dir):
    """The question-answerer export at `export_dir` as a `Reader`.

    Args:
      export_dir: a version directory written by `export_question_answerer`
        (a `saved_model.pb`; its `publish` metadata is read when present).

    Raises:
      ValueError: `export_dir` is missing, holds no SavedModel, or is not a
        question-answerer export (its metadata names another task, or its
        `serving_default` does not take `question`, `context` and give
        `answer`, `score`, `start`, `end`).
    """
    export_dir = os.fspath(export_dir)
    if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
        raise ValueError(f"`export_dir` {export_dir!r} holds no SavedModel (saved_model.pb).")
    try:
        metadata = read_metadata(export_dir)
    except FileNotFoundError:  # written without `publish`: the signature says enough
        metadata = {}
    if metadata.get("task", READER_TASK) != READER_TASK:
        raise ValueError(f"`export_dir` {export_dir!r} is not a question-answerer export: "
                         f"its task is {metadata.get('task')!r}, not {READER_TASK!r}.")
    loaded = tf.saved_model.load(export_dir)
    serve = loaded.signatures.get("serving_default")
    inputs = set(serve.structured_input_signature[1]) if serve is not None else set()
    outputs = set(serve.structured_outputs) if serve is not None else set()
    if inputs != READER_INPUTS or not READER_OUTPUTS <= outputs:
        raise ValueError(f"`export_dir` {export_dir!r} is not a question-answerer export: its "
                         f"serving_default takes {sorted(inputs)} and gives {sorted(outputs)}; "
                         f"a reader takes {sorted(READER_INPUTS)} and gives "
                         f"{sorted(READER_OUTPUTS)}.")

    def read(question, context):
        out = serve(question=question, context=context)
        return {"answer": out["answer"], "score": tf.cast(out["score"], tf.float32),
                "start": tf.cast(out["start"], tf.int32), "end": tf.cast(out["end"], tf.int32)}

    kept = {k: v for k, v in metadata.items() if k not in ("path", "version")}
    return Reader(read, (loaded,), {**kept, "source": os.path.abspath(export_dir)})


def read_retrieved(reader, question, ids, texts, retrieval_scores):
    """The best answer of each question over its retrieved documents (the module's rule).

    Args:
      reader: a `Reader` (`load_reader`).
      question: tf.string `[batch]`.
      ids, texts: tf.string `[batch, n]`, the retrieved documents, best first.
      retrieval_scores: float32 `[batch, n]`, their search scores.

    Returns:
      `{"answer", "score", "document_id", "document_text", "start", "end",
      "retrieval_score"}`, each `[batch]`.
    """
    n = tf.shape(texts)[1]
    read = reader.read(tf.repeat(question, n), tf.reshape(texts, [-1]))
    shape = tf.shape(texts)
    answer, score, start, end = (tf.reshape(read[k], shape)
                                 for k in ("answer", "score", "start", "end"))
    found = tf.strings.length(answer) > 0
    # Empty answers rank last; `top_k` puts the lower index (better retrieved) first on ties.
    ranked = tf.where(found, score, -float("inf"))
    best = tf.math.top_k(ranked, 1, sorted=True).indices[:, 0]
    any_found = tf.reduce_any(found, axis=1)

    def pick(values):
        return tf.gather(values, best, axis=1, batch_dims=1)

    return {"answer": tf.where(any_found, pick(answer), ""),
            "score": tf.where(any_found, pick(score), NO_ANSWER_SCORE),
            "document_id": pick(ids), "document_text": pick(texts),
            "start": tf.where(any_found, pick(start), 0),
            "end": tf.where(any_found, pick(end), 0),
            "retrieval_score": pick(retrieval_scores)}
