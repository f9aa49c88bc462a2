"""Searches an index built by `apps.search.index`: the closest documents to each question.

    python -m apps.search.query --model_dir=saved_models/search "who designed the tower?"
    python -m apps.search.query --k=3 --json "first question" "second question"
    cat questions.txt | python -m apps.search.query
    python -m apps.search.query --answer "who designed the tower?"   # an index with a reader

Prints, for each question (the arguments, else the non-blank lines of stdin),
its ranked results: rank, id, score (the cosine similarity for a normalizing
embedder) and text (on one line, cut at `--max_chars`). Without `--k` the
index's own `k` is used (its `serving_default`); with it, the `search`
signature (a `k` beyond the corpus gives every document). `--json` prints one
JSON object per question instead: `{"query", "results": [{"id", "score", "text"}]}`.
An index built with `--approximate` is searched through its approximate index,
as `apps.serve` does (`--noapproximate_search`: exactly, as TF Serving does).

`--answer` asks an index built with `--reader` (its `answer` signature,
`bertlab.export.retrieve_then_read`): for each question it prints the answer,
the reader's score, and the source document: its id, retrieval score and the
paragraph with the answer marked `[[like this]]` (cut around the answer at
`--max_chars`). With `--json`: `{"question", "answer", "score", "document_id",
"document_text", "start", "end", "retrieval_score"}` (code-point offsets).
An index without a reader is refused with a clear error.
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer's ops before loading)
from absl import app, flags

from apps.search.config import DEFAULT_EXPORT_DIR, REPO_ROOT
from bertlab.export import read_metadata, read_texts, resolve_version_dir
from bertlab.export.approximate_index import ApproximateIndexError
from bertlab.serving.approximate_search import load_approximate_search

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags (defined only when run, so that tests import this module)."""
    flags.DEFINE_string("model_dir", os.path.join(REPO_ROOT, DEFAULT_EXPORT_DIR),
                        "An index version directory, or the base directory (latest version).")
    flags.DEFINE_integer("k", None, "Results per question; default: the index's k.")
    flags.DEFINE_integer("max_chars", 200, "Cut each printed text at this many characters (0: "
                         "whole); --json prints whole texts.")
    flags.DEFINE_bool("json", False, "Print one JSON object per question.")
    flags.DEFINE_bool("answer", False, "Answer each question from the documents (an index "
                      "built with --reader: its `answer` signature).")
    flags.DEFINE_bool("approximate_search", True, "Search an index built with --approximate "
                      "through its approximate index (as apps.serve); false: exactly.")


def search(model_dir, queries, k=None, approximate=True):
    """`[[{"id", "score", "text"}, ...] per query]`, best first; through the index's
    approximate index when it has one and `approximate` (`bertlab.serving.approximate_search`,
    the same results `apps.serve` gives), else exactly (the SavedModel's signatures).

    Raises:
      FileNotFoundError: no SavedModel at `model_dir`.
      ValueError: `k` < 1, or the SavedModel is not a search index.
      ApproximateIndexError: its approximate index is missing or corrupt.
    """
    if k is not None and k < 1:
        raise ValueError(f"--k must be at least 1, got {k}.")
    path = resolve_version_dir(model_dir)
    loaded = tf.saved_model.load(path)
    if "search" not in loaded.signatures:
        raise ValueError(f"{model_dir} is not a search index (it has no `search` signature; "
                         f"it has {sorted(loaded.signatures)}).")
    query = tf.constant(list(queries), tf.string)
    index = load_approximate_search(path, read_metadata(path), loaded.signatures) \
        if approximate else None
    if index is not None:
        outputs = index.search(query, index.default_k if k is None else k)
    elif k is None:
        outputs = loaded.signatures["serving_default"](query=query)
    else:
        outputs = loaded.signatures["search"](query=query, k=tf.constant(k, tf.int32))
    ids, scores, texts = (np.asarray(outputs[key]) for key in ("ids", "scores", "texts"))
    return [[{"id": i.decode("utf-8", "replace"), "score": float(s),
              "text": t.decode("utf-8", "replace")} for i, s, t in zip(*row)]
            for row in zip(ids, scores, texts)]


def answer(model_dir, questions):
    """`[{"answer", "score", "document_id", "document_text", "start", "end",
    "retrieval_score"}]`, one per question (`start`, `end`: code points in `document_text`).

    Raises:
      FileNotFoundError: no SavedModel at `model_dir`.
      ValueError: the SavedModel has no `answer` signature (built without --reader).
    """
    loaded = tf.saved_model.load(resolve_version_dir(model_dir))
    if "answer" not in loaded.signatures:
        raise ValueError(f"{model_dir} cannot answer questions: it has no `answer` signature "
                         f"(it has {sorted(loaded.signatures)}); build the index with "
                         f"`apps.search.index --reader=QA_EXPORT_DIR`.")
    outputs = loaded.signatures["answer"](question=tf.constant(list(questions), tf.string))
    columns = {key: value.numpy().tolist() for key, value in outputs.items()}
    rows = []
    for i in range(len(questions)):
        row = {key: columns[key][i] for key in ("answer", "score", "document_id",
                                                "document_text", "start", "end",
                                                "retrieval_score")}
        for key in ("answer", "document_id", "document_text"):
            row[key] = row[key].decode("utf-8", "replace")
        rows.append(row)
    return rows


def mark_answer(text, start, end, max_chars=0):
    """`text` on one line with `text[start:end]` marked `[[...]]`; longer than `max_chars`
    (0: no limit), cut to about `max_chars` characters around the answer.

    >>> mark_answer("It was written by Ann.", 18, 21)
    'It was written by [[Ann]].'
    """
    before, middle, after = text[:start], text[start:end], text[end:]
    if start == end:
        return _one_line(text, max_chars)
    before, middle, after = (" ".join(part.split()) for part in (before, middle, after))
    before += " " if text[:start] and text[:start][-1].isspace() and before else ""
    after = (" " if text[end:] and text[end:][0].isspace() and after else "") + after
    if max_chars and len(before) + len(middle) + len(after) + 4 > max_chars:
        room = max(0, max_chars - len(middle) - 4) // 2
        if len(before) > room:
            before = "…" + before[len(before) - room + 1:] if room > 0 else ""
        if len(after) > room:
            after = after[:room - 1] + "…" if room > 0 else ""
    return f"{before}[[{middle}]]{after}"


def _one_line(text, max_chars):
    text = " ".join(text.split())
    return text if not max_chars or len(text) <= max_chars else text[:max_chars - 1] + "…"


def main(argv):
    queries = read_texts(argv[1:])
    if not queries:
        raise app.UsageError("Give questions as arguments or lines on stdin.")
    if FLAGS.answer:
        try:
            answers = answer(FLAGS.model_dir, queries)
        except (FileNotFoundError, ValueError) as e:
            sys.exit(f"query: error: {e}")
        for question, found in zip(queries, answers):
            if FLAGS.json:
                print(json.dumps({"question": question, **found}, ensure_ascii=False))
                continue
            print(f"question: {question}")
            print(f"answer: {found['answer'] or '(none)'}"
                  + (f"\tscore {found['score']:.4f}" if found["answer"] else ""))
            print(f"document: {found['document_id']}\tretrieval score "
                  f"{found['retrieval_score']:.4f}")
            print("  " + mark_answer(found["document_text"], found["start"], found["end"],
                                     FLAGS.max_chars))
            print()
        return
    try:
        results = search(FLAGS.model_dir, queries, FLAGS.k, FLAGS.approximate_search)
    except (FileNotFoundError, ValueError, ApproximateIndexError, ImportError) as e:
        sys.exit(f"query: error: {e}")
    for query, ranked in zip(queries, results):
        if FLAGS.json:
            print(json.dumps({"query": query, "results": ranked}, ensure_ascii=False))
            continue
        print(f"query: {query}")
        for rank, result in enumerate(ranked, 1):
            print(f"{rank:>3}. {result['id']}\t{result['score']:.4f}\t"
                  f"{_one_line(result['text'], FLAGS.max_chars)}")
        print()


if __name__ == "__main__":
    define_flags()
    app.run(main)
