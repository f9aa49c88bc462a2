"""Searches an index built by `apps.search.index`: the closest documents to each question.

    python -m apps.search.query --model_dir=saved_models/search "who designed the tower?"
    python -m apps.search.query --k=3 --json "first question" "second question"
    cat questions.txt | python -m apps.search.query

Prints, for each question (the arguments, else the non-blank lines of stdin),
its ranked results: rank, id, score (the cosine similarity for a normalizing
embedder) and text (on one line, cut at `--max_chars`). Without `--k` the
index's own `k` is used (its `serving_default`); with it, the `search`
signature (a `k` beyond the corpus gives every document). `--json` prints one
JSON object per question instead: `{"query", "results": [{"id", "score", "text"}]}`.
"""

import json
import os
import sys

import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer's ops before loading)
from absl import app, flags

from apps.search.config import DEFAULT_EXPORT_DIR, REPO_ROOT
from bertlab.export import read_texts, resolve_version_dir

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags (defined only when run, so that tests import this module)."""
    flags.DEFINE_string("model_dir", os.path.join(REPO_ROOT, DEFAULT_EXPORT_DIR),
                        "An index version directory, or the base directory (latest version).")
    flags.DEFINE_integer("k", None, "Results per question; default: the index's k.")
    flags.DEFINE_integer("max_chars", 200, "Cut each printed text at this many characters (0: "
                         "whole); --json prints whole texts.")
    flags.DEFINE_bool("json", False, "Print one JSON object per question.")


def search(model_dir, queries, k=None):
    """`[[{"id", "score", "text"}, ...] per query]`, best first.

    Raises:
      FileNotFoundError: no SavedModel at `model_dir`.
      ValueError: `k` < 1, or the SavedModel is not a search index.
    """
    if k is not None and k < 1:
        raise ValueError(f"--k must be at least 1, got {k}.")
    loaded = tf.saved_model.load(resolve_version_dir(model_dir))
    if "search" not in loaded.signatures:
        raise ValueError(f"{model_dir} is not a search index (it has no `search` signature; "
                         f"it has {sorted(loaded.signatures)}).")
    query = tf.constant(list(queries), tf.string)
    if k is None:
        outputs = loaded.signatures["serving_default"](query=query)
    else:
        outputs = loaded.signatures["search"](query=query, k=tf.constant(k, tf.int32))
    ids, scores, texts = (outputs[key].numpy() for key in ("ids", "scores", "texts"))
    return [[{"id": i.decode("utf-8", "replace"), "score": float(s),
              "text": t.decode("utf-8", "replace")} for i, s, t in zip(*row)]
            for row in zip(ids, scores, texts)]


def _one_line(text, max_chars):
    text = " ".join(text.split())
    return text if not max_chars or len(text) <= max_chars else text[:max_chars - 1] + "…"


def main(argv):
    queries = read_texts(argv[1:])
    if not queries:
        raise app.UsageError("Give questions as arguments or lines on stdin.")
    try:
        results = search(FLAGS.model_dir, queries, FLAGS.k)
    except (FileNotFoundError, ValueError) as e:
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
