"""Answers a search index's `serving_default` and `search` through its approximate index.

A search-index export written with `approximate`
(`bertlab.export.search_index_export`) holds, beside its exact SavedModel, an
approximate nearest-neighbour index (`assets.extra/approximate_index/`, named
by the metadata's `approximate_index`). A loaded version with one answers its
two search signatures in Python, with the same inputs, outputs, dtypes and
shapes as the SavedModel's exact signatures:

1. the queries are embedded by the SavedModel's `embed` signature;
2. the index gives each query its `reorder` best candidate rows
   (`ApproximateIndex.reorder_candidates`, as its own `search` does);
3. the SavedModel's `documents` signature gives the candidates' embeddings,
   ids and texts; the candidates are rescored exactly and the best `k` kept
   (`approximate_index.rerank`: descending, equal scores to the lower row).

As in the exact signatures, `k` larger than the corpus gives every document
and `k` < 1 is refused with an `InvalidArgumentError` ("`k` must be at least
1", HTTP 400); `serving_default` uses the export's default `k`; every query,
empty ones included, gets `k` results. The other signatures (`embed`,
`answer`, `documents`) run as exported.

Example:
>>> search = load_approximate_search(path, read_metadata(path), loaded.signatures)
>>> search.predict("search", {"query": np.array([b"who wrote it?"], object),
...                           "k": np.array(3, np.int32)})["ids"].shape
(1, 3)
"""

import os

import numpy as np
import tensorflow as tf

from bertlab.export.approximate_index import ApproximateIndex, ApproximateIndexError, rerank
from bertlab.export.search_index_export import (APPROXIMATE_INDEX_DIR, DOCUMENTS_SIGNATURE,
                                                EMBED_SIGNATURE, SEARCH_SIGNATURE)

DEFAULT_SIGNATURE = "serving_default"
METADATA_KEY = "approximate_index"


class ApproximateSearch:
    """The approximate answers of one loaded version (see the module docstring).

    Args:
      index: its `ApproximateIndex`.
      functions: the version's signatures by name (`embed` and `documents` needed).
      default_k: the `k` of `serving_default` (the export's, clipped to the corpus).
      description: what `describe()` reports (the export's `approximate_index`
        metadata).
    """

    signatures = (DEFAULT_SIGNATURE, SEARCH_SIGNATURE)

    def __init__(self, index, functions, default_k, description=None):
        missing = [s for s in (EMBED_SIGNATURE, DOCUMENTS_SIGNATURE) if s not in functions]
        if missing:
            raise ValueError(f"An approximate index needs the SavedModel's {missing} "
                             "signatures (export it with `approximate`).")
        self.index = index
        self._embed = functions[EMBED_SIGNATURE]
        self._documents = functions[DOCUMENTS_SIGNATURE]
        self.default_k = min(int(default_k), index.size)
        self._description = dict(description or index.metadata())

    def describe(self):
        """`{"used_by": [signatures], **the index's metadata}` for the metadata response."""
        return {"used_by": list(self.signatures), **self._description}

    def predict(self, signature, inputs):
        """Runs `serving_default` (`query`) or `search` (`query`, `k`) on numpy inputs;
        numpy outputs `ids`, `scores`, `texts`, `[num queries, min(k, corpus size)]`."""
        if signature == SEARCH_SIGNATURE:
            k = int(np.asarray(inputs["k"]))
            if k < 1:
                raise tf.errors.InvalidArgumentError(None, None, "`k` must be at least 1")
        elif signature == DEFAULT_SIGNATURE:
            k = self.default_k
        else:
            raise ValueError(f"{signature!r} is not answered by the approximate index.")
        return self.search(inputs["query"], k)

    def search(self, queries, k):
        """The best `k` documents of each of `queries` (strings or bytes, any shape,
        flattened): `{"ids", "scores", "texts"}` `[num queries, min(k, corpus size)]`."""
        texts = tf.reshape(tf.constant(queries, tf.string), [-1])
        count = min(int(k), self.index.size)
        if texts.shape[0] == 0:
            return {"ids": np.zeros((0, count), object),
                    "scores": np.zeros((0, count), np.float32),
                    "texts": np.zeros((0, count), object)}
        embedded = self._embed(text=texts)["embedding"].numpy()
        rows = self.index.reorder_candidates(embedded, count)
        found = {name: value.numpy() for name, value in
                 self._documents(rows=tf.constant(rows, tf.int64)).items()}
        positions, scores = rerank(embedded, rows, found["embeddings"], count)
        return {"ids": np.take_along_axis(found["ids"], positions, -1), "scores": scores,
                "texts": np.take_along_axis(found["texts"], positions, -1)}


def load_approximate_search(path, metadata, functions):
    """The `ApproximateSearch` of the version at `path`, or None if its metadata names
    no approximate index.

    Raises:
      ApproximateIndexError: the index directory is missing or corrupt (its path
        is named), or holds another number of documents than the corpus.
      ImportError: FAISS is not installed (`pip install bertlab[ann]`).
    """
    described = (metadata or {}).get(METADATA_KEY)
    if not described:
        return None
    directory = os.path.join(os.fspath(path), described.get("path", APPROXIMATE_INDEX_DIR))
    index = ApproximateIndex.load(directory)
    corpus_size = metadata.get("corpus_size", index.size)
    if index.size != corpus_size:
        raise ApproximateIndexError(f"{directory} indexes {index.size} documents; the corpus holds "
                         f"{corpus_size}.")
    return ApproximateSearch(index, functions, metadata.get("k", 10), described)
