"""SavedModel of a semantic search index: a question in, the closest documents of a corpus out.

The SavedModel holds everything a stock TF Serving needs to answer a search:
the sentence embedder (tokenizer and encoder), the corpus's embeddings, ids
and texts, and an exact top-k (one matmul of the query embeddings with all
corpus embeddings, then `tf.math.top_k`). No vector database, no Python.

Signatures (TF Serving; `saved_model_cli show --all` lists them):
- `serving_default`: input `query` tf.string `[None]`; outputs `ids`
  tf.string `[None, k]`, `scores` float32 `[None, k]` (descending) and
  `texts` tf.string `[None, k]`, with `k` the index's default (`k` of
  `export_search_index`, at most the corpus size).
- `search`: inputs `query` tf.string `[None]` and `k` int32 scalar; the same
  outputs with `[None, min(k, corpus size)]`: a `k` larger than the corpus is
  clipped to the corpus size (every document, ranked); a `k` below 1 is
  refused with an `InvalidArgumentError` ("`k` must be at least 1"; HTTP 400
  from a server), not clipped, since asking for no result is a client's bug.
- `embed`: input `text` tf.string `[None]`; output `embedding` float32
  `[None, dim]` (the embedder's, e.g. to add documents elsewhere).
- `answer` (only with a `reader`): input `question` tf.string `[None]`; the
  best answer among the top `read_top` documents read by a question-answerer
  export (`retrieve_then_read`: outputs `answer`, `score`, `document_id`,
  `document_text`, `start`, `end`, `retrieval_score`, each `[None]`).
- `documents` (only with `approximate`): input `rows` int64 `[None, None]`
  (corpus rows, 0-based, in the order of `ids`); outputs `ids` and `texts`
  tf.string `[None, None]` and `embeddings` float32 `[None, None, dim]` of
  those rows: what a server answering through the approximate index needs
  from the SavedModel (the candidates' embeddings to rescore them exactly, and
  the winners' ids and texts), so the corpus is held once.

With `approximate` an approximate nearest-neighbour index of the corpus
(`approximate_index`: FAISS IVF-PQ, then exact reordering) is saved in
`assets.extra/approximate_index/`, and the metadata's `approximate_index`
records its settings and library version. TF Serving never loads
`assets.extra` (only its warm-up file), so a stock TF Serving still answers
every signature exactly; `bertlab.serving` answers `serving_default` and
`search` through the index, with the same inputs and outputs (`answer` stays
exact). A million documents of dimension 384 still fit the SavedModel: the
corpus is a variable (1.5 GB in float32, in `variables/`), not a graph constant
bound by the 2 GiB protobuf limit; only the exact search's cost (0.8 GFLOP per
query) grows.

Scores are dot products of the query's and the documents' embeddings: cosine
similarities for a normalizing embedder (all-MiniLM-L6-v2 normalizes). Equal
scores rank the lower corpus index first (`tf.math.top_k`'s rule), so results
are deterministic. Every query is answered: an empty query, invalid UTF-8 and
a 10,000-character query (truncated to the embedder's `sequence_length`
tokens) all get `k` results, like any other text.

The corpus lives in variables, not graph constants: `saved_model.pb` stays
small whatever the corpus (a protobuf cannot exceed 2 GiB; 100,000 documents
of dimension 384 are 154 MB in float32). `corpus_dtype="bfloat16"` halves
that, at the cost of about 3 significant digits per component (scores are
within ~1e-2 of float32's; near-ties may swap); the matmul still runs in
float32. The search is exact and linear in the corpus size: about 2*N*dim
flops per query (40 MFLOP for 50,000 documents of 384), beside the encoder's
cost; an approximate index only pays off far beyond that.

Example:
>>> functions = embedding_functions(embedder, preprocessor)   # sentence_embedder_export
>>> embeddings = embed_corpus(functions, texts, batch_size=64)
>>> export_search_index(functions, ids, texts, embeddings, "/tmp/search/1", k=10)
>>> search = tf.saved_model.load("/tmp/search/1").signatures["search"]
>>> search(query=tf.constant(["who wrote it?"]), k=tf.constant(3))["ids"]
<tf.Tensor: shape=(1, 3), dtype=string, numpy=array([[b'd7', b'd2', b'd9']], dtype=object)>
"""

import os

import numpy as np
import tensorflow as tf

from bertlab.export.approximate_index import (ApproximateIndexSettings,
                                              build_approximate_index)
from bertlab.export.retrieve_then_read import ANSWER_SIGNATURE, read_retrieved
from bertlab.export.sentence_embedder_export import EMBED_SIGNATURE, write_signatures

SEARCH_SIGNATURE = "search"
DOCUMENTS_SIGNATURE = "documents"
# Where `approximate` saves the index, relative to the SavedModel directory.
APPROXIMATE_INDEX_DIR = os.path.join("assets.extra", "approximate_index")
TASK = "search_index"
CORPUS_DTYPES = ("float32", "bfloat16")


def embed_corpus(functions, texts, batch_size=64, progress=None):
    """The embeddings of `texts`, computed in batches with the export's own graph.

    Args:
      functions: `EmbeddingFunctions` (`embedding_functions` of a Keras
        embedder, or `load_embedding_functions` of an embedder export).
      texts: a list of `str` (or UTF-8 `bytes`).
      batch_size: texts per call.
      progress: optional `progress(count)`, called after each batch with the
        number of texts it embedded (a progress bar's `update`).

    Returns:
      float32 `[len(texts), dim]` numpy array.

    Raises:
      ValueError: `batch_size` is not positive.
    """
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
    embed = tf.function(functions.embed_text,
                        input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    dim = functions.metadata["embedding_dim"]
    parts = [np.zeros((0, dim), np.float32)]
    for start in range(0, len(texts), int(batch_size)):
        batch = list(texts[start:start + int(batch_size)])
        parts.append(embed(tf.constant(batch, tf.string)).numpy().astype(np.float32))
        if progress is not None:
            progress(len(batch))
    return np.concatenate(parts, axis=0)


def _check_corpus(ids, texts, embeddings, dim):
    """The corpus as lists and a float32 array; a `ValueError` naming what is wrong."""
    ids = [str(i) for i in ids]
    texts = [t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t) for t in texts]
    embeddings = np.asarray(embeddings, np.float32)
    if not ids:
        raise ValueError("`ids` is empty: a search index needs at least one document.")
    if len(texts) != len(ids) or embeddings.ndim != 2 or embeddings.shape[0] != len(ids):
        raise ValueError(f"`ids`, `texts` and `embeddings` must hold one row per document; got "
                         f"{len(ids)} ids, {len(texts)} texts and embeddings of shape "
                         f"{embeddings.shape}.")
    if embeddings.shape[1] != dim:
        raise ValueError(f"`embeddings` have dimension {embeddings.shape[1]}, the embedder's "
                         f"is {dim}.")
    if not np.all(np.isfinite(embeddings)):
        raise ValueError("`embeddings` hold non-finite values.")
    seen = set()
    duplicates = sorted({i for i in ids if i in seen or seen.add(i)})
    if duplicates:
        raise ValueError(f"`ids` must be unique; repeated: {duplicates[:10]}.")
    return ids, texts, embeddings


def export_search_index(functions, ids, texts, embeddings, path, k=10, corpus_dtype="float32",
                        reader=None, read_top=5, approximate=None):
    """Writes the search SavedModel (see the module docstring) at `path`.

    Args:
      functions: `EmbeddingFunctions` of the embedder that made `embeddings`
        (`embedding_functions(embedder, preprocessor)` or
        `load_embedding_functions(export_dir)`); queries are embedded with it.
      ids: the documents' ids (unique; stored as strings).
      texts: the documents' texts, returned with each result.
      embeddings: float `[len(ids), dim]`, e.g. `embed_corpus(functions, texts)`.
      path: the SavedModel directory (`bertlab.export.publish` writes it as a
        new version).
      k: the number of results of `serving_default`, clipped to the corpus
        size (`search` takes its own `k`).
      corpus_dtype: "float32" or "bfloat16" (half the size, ~1e-2 score error).
      reader: None, or a `retrieve_then_read.Reader` (`load_reader(qa_export_dir)`):
        adds the `answer` signature, which reads the top `read_top` documents.
      read_top: documents the reader reads per question (clipped to the corpus size).
      approximate: None or False (exact search only); True (an approximate index
        with `ApproximateIndexSettings.for_corpus` defaults) or an
        `ApproximateIndexSettings`: saves the index in `APPROXIMATE_INDEX_DIR`
        and adds the `documents` signature (see the module docstring).

    Returns:
      The metadata: `task` ("search_index"), `k` (after clipping), `corpus_size`,
      `embedding_dim`, `corpus_dtype`, `embedder` (the embedder's metadata); with
      a reader also `reader` (its metadata and `source`) and `read_top` (after
      clipping); with `approximate` also `approximate_index` (the index's
      `metadata()` and its `path` relative to the SavedModel).

    Raises:
      ValueError: an empty corpus, ids/texts/embeddings of different lengths,
        repeated ids, a dimension other than the embedder's, `k` < 1, an
        unknown `corpus_dtype`, or `read_top` < 1.
    """
    dim = int(functions.metadata["embedding_dim"])
    ids, texts, embeddings = _check_corpus(ids, texts, embeddings, dim)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"`k` must be a positive integer, got {k!r}.")
    if corpus_dtype not in CORPUS_DTYPES:
        raise ValueError(f"`corpus_dtype` must be one of {CORPUS_DTYPES}, got {corpus_dtype!r}.")
    if reader is not None and (isinstance(read_top, bool) or
                               not isinstance(read_top, (int, np.integer)) or read_top < 1):
        raise ValueError(f"`read_top` must be a positive integer, got {read_top!r}.")
    if not (approximate in (None, False, True) or
            isinstance(approximate, ApproximateIndexSettings)):
        raise ValueError("`approximate` must be None, a bool or ApproximateIndexSettings, got "
                         f"{approximate!r}.")
    size = len(ids)
    default_k = min(int(k), size)
    corpus = tf.Variable(tf.constant(embeddings, tf.dtypes.as_dtype(corpus_dtype)),
                         trainable=False, name="corpus_embeddings")
    corpus_ids = tf.Variable(tf.constant(ids, tf.string), trainable=False, name="corpus_ids")
    corpus_texts = tf.Variable(tf.constant(texts, tf.string), trainable=False,
                               name="corpus_texts")

    def top_k(query, count):
        """`count`: a Python int (static shape) or an int32 scalar tensor, in [1, size]."""
        scores = tf.matmul(functions.embed_text(query), tf.cast(corpus, tf.float32),
                           transpose_b=True)
        values, indices = tf.math.top_k(scores, count, sorted=True)
        return {"ids": tf.gather(corpus_ids, indices), "scores": values,
                "texts": tf.gather(corpus_texts, indices)}

    def serve_default(query):
        return top_k(tf.reshape(query, [-1]), default_k)

    def serve_search(query, k):
        k = tf.convert_to_tensor(k, tf.int32)
        check = tf.debugging.assert_greater_equal(k, 1, message="`k` must be at least 1")
        with tf.control_dependencies([check]):
            count = tf.minimum(k, size)
        return top_k(tf.reshape(query, [-1]), count)

    def serve_embed(text):
        return {"embedding": functions.embed_text(text)}

    query_spec = tf.TensorSpec([None], tf.string, name="query")
    endpoints = {
        "serving_default": (serve_default, [query_spec]),
        SEARCH_SIGNATURE: (serve_search, [query_spec, tf.TensorSpec([], tf.int32, name="k")]),
        EMBED_SIGNATURE: (serve_embed, [tf.TensorSpec([None], tf.string, name="text")]),
    }
    metadata = {"task": TASK, "k": default_k, "corpus_size": size, "embedding_dim": dim,
                "corpus_dtype": corpus_dtype, "embedder": dict(functions.metadata)}
    tracked = [*functions.tracked, corpus, corpus_ids, corpus_texts]
    if reader is not None:
        read_count = min(int(read_top), size)

        def serve_answer(question):
            question = tf.reshape(question, [-1])
            found = top_k(question, read_count)
            return read_retrieved(reader, question, found["ids"], found["texts"],
                                  found["scores"])

        endpoints[ANSWER_SIGNATURE] = (serve_answer,
                                       [tf.TensorSpec([None], tf.string, name="question")])
        tracked += list(reader.tracked)
        metadata.update(reader=dict(reader.metadata), read_top=read_count)
    if approximate:
        def serve_documents(rows):
            return {"ids": tf.gather(corpus_ids, rows), "texts": tf.gather(corpus_texts, rows),
                    "embeddings": tf.cast(tf.gather(corpus, rows), tf.float32)}

        endpoints[DOCUMENTS_SIGNATURE] = (serve_documents,
                                          [tf.TensorSpec([None, None], tf.int64, name="rows")])
    write_signatures(path, tracked, endpoints)
    if approximate:
        settings = None if approximate is True else approximate
        index = build_approximate_index(embeddings, settings)
        index.save(os.path.join(path, APPROXIMATE_INDEX_DIR))
        metadata["approximate_index"] = {**index.metadata(), "path": APPROXIMATE_INDEX_DIR}
    return metadata
