"""An approximate nearest-neighbour index of corpus embeddings, for corpora too large to scan.

The exact search of a search-index SavedModel (`search_index_export`) scores a
query against every document: about 2*N*dim flops, 0.8 GFLOP per query for a
million documents of dimension 384. This index finds the best documents by
looking at a few percent of them, in three steps (the recipe of ScaNN:
partition, quantized scoring, exact reordering):

1. partition: k-means splits the corpus into `num_leaves` leaves (about
   sqrt(N)); a query looks only into the `leaves_to_search` leaves whose
   centres score highest;
2. quantized scoring: in those leaves, each document is scored through a
   4-bit product-quantization code (one code per 2 dimensions: 96 bytes for
   dimension 384, against 1536 bytes in float32), with SIMD lookup tables;
   the `reorder` best candidates are kept;
3. exact reordering: the candidates are scored again with their float32
   embeddings (`lookup(rows)`: the caller's copy of the corpus, e.g. the
   SavedModel's, so the index holds no second copy) and the best `k` are
   returned, descending, equal scores to the lower corpus row, as the exact
   search does. Scores are exact dot products; only which documents were
   considered is approximate (recall@10 is what to measure:
   `benchmarks/ann_index.py`).

Steps 1 and 2 are FAISS's `IndexIVFPQFastScan` (inner product metric), from
the `faiss-cpu` package, installed with `pip install bertlab[ann]` and
imported only when an index is built or loaded. (ScaNN 1.4.2 was the first
choice; its package cannot be imported beside TensorFlow 2.21: `import scann`
loads a TensorFlow op library built for another TensorFlow, which fails with
an undefined absl symbol.) The index is meant for unit-norm embeddings (a
normalizing embedder, e.g. all-MiniLM-L6-v2), where dot products are cosines;
it indexes the vectors as given.

Saved as a directory (`save`/`load`): `index.faiss` (FAISS's own format) and
`index.json` (the settings, corpus size and dimension, FAISS's version).

Example:
>>> index = build_approximate_index(embeddings)               # float32 [N, dim]
>>> rows, scores = index.search(queries, k=10, lookup=lambda r: embeddings[r])
>>> rows.shape, scores.shape                                   # [num queries, 10]
((64, 10), (64, 10))
>>> index.save("/tmp/search/1/assets.extra/approximate_index")
>>> ApproximateIndex.load("/tmp/search/1/assets.extra/approximate_index").size
1000000
"""

import dataclasses
import json
import math
import os

import numpy as np

LIBRARY = "faiss-cpu"
INDEX_FILE = "index.faiss"
SETTINGS_FILE = "index.json"
FORMAT_VERSION = 1
# FAISS's k-means wants at least this many training points per centre.
MIN_POINTS_PER_LEAF = 39
INSTALL_HINT = "pip install bertlab[ann] (or: pip install faiss-cpu~=1.15.0)"


class ApproximateIndexError(ValueError):
    """An index directory that is missing, incomplete or does not load (its path is named)."""


def import_faiss():
    """The `faiss` module; an `ImportError` saying how to install it when it is missing."""
    try:
        # deferred: optional dependency (the `ann` extra), needed only by approximate indexes
        import faiss
    except ImportError as error:
        raise ImportError(f"The approximate index needs FAISS: {INSTALL_HINT}.") from error
    return faiss


@dataclasses.dataclass(frozen=True)
class ApproximateIndexSettings:
    """How the index is built and searched (see the module docstring).

    Args:
      num_leaves: k-means partitions of the corpus (`for_corpus`: about sqrt(N)).
      leaves_to_search: partitions a query scans (`for_corpus`: about
        sqrt(num_leaves), 32 of 1,000 for a million documents); more: better
        recall, slower.
      reorder: candidates per query rescored exactly (at least `k` are).
      training_sample_size: corpus rows the k-means and quantizers train on.
    """
    num_leaves: int
    leaves_to_search: int
    reorder: int = 300  # 1M clustered vectors: recall@10 0.9999 (100: 0.962), 15% fewer queries/s
    training_sample_size: int = 262144

    def __post_init__(self):
        for name in ("num_leaves", "leaves_to_search", "reorder", "training_sample_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.leaves_to_search > self.num_leaves:
            raise ValueError(f"`leaves_to_search` ({self.leaves_to_search}) must be at most "
                             f"`num_leaves` ({self.num_leaves}).")

    @classmethod
    def for_corpus(cls, size, **overrides):
        """Defaults scaled to a corpus of `size` documents; `overrides` replace any of them.

        `num_leaves` ~ sqrt(size) (with at least 39 documents per leaf, FAISS's
        minimum for k-means), `leaves_to_search` ~ sqrt(num_leaves).
        """
        size = int(size)
        if size < 1:
            raise ValueError(f"The corpus must hold at least one document, got {size}.")
        leaves = overrides.get("num_leaves") or max(
            1, min(round(math.sqrt(size)), size // MIN_POINTS_PER_LEAF))
        searched = min(leaves, max(1, math.ceil(math.sqrt(leaves))))
        defaults = {"num_leaves": leaves, "leaves_to_search": searched}
        return cls(**{**defaults, **overrides})

    def as_dict(self):
        return dataclasses.asdict(self)


def _subquantizers(dim):
    """4-bit codes for pairs of dimensions (one per dimension for an odd `dim`)."""
    return dim // 2 if dim % 2 == 0 else dim


class ApproximateIndex:
    """A built or loaded index: `search` and `save` (see the module docstring).

    Attributes:
      settings: `ApproximateIndexSettings`.
      size, dim: corpus documents and embedding dimension.
    """

    def __init__(self, faiss_index, settings, size, dim):
        self._index, self.settings = faiss_index, settings
        self.size, self.dim = int(size), int(dim)

    def metadata(self):
        """What an export's metadata records of the index (JSON-serializable)."""
        return {"library": LIBRARY, "library_version": import_faiss().__version__,
                "format_version": FORMAT_VERSION, "size": self.size, "dim": self.dim,
                "index_type": "IVFPQFastScan, inner product, 4-bit codes, exact reorder",
                "settings": self.settings.as_dict()}

    def candidates(self, queries, count):
        """int64 `[num queries, min(count, size)]`: corpus rows by quantized score,
        best first, every row valid (a query whose scanned leaves hold too few
        documents is searched again in every leaf).

        Args:
          queries: float32 `[num queries, dim]`.
          count: candidates per query (at least 1).
        """
        faiss = import_faiss()
        queries = self._check_queries(queries)
        count = min(int(count), self.size)
        if count < 1:
            raise ValueError(f"`count` must be at least 1, got {count}.")
        if len(queries) == 0:
            return np.zeros((0, count), np.int64)
        _, rows = self._index.search(queries, count, params=faiss.SearchParametersIVF(
            nprobe=self.settings.leaves_to_search))
        short = np.flatnonzero((rows < 0).any(axis=1))
        if len(short):
            _, rows[short] = self._index.search(queries[short], count,
                                                params=faiss.SearchParametersIVF(
                                                    nprobe=self.settings.num_leaves))
        return rows

    def search(self, queries, k, lookup):
        """The `k` best corpus rows of each query and their exact scores.

        Args:
          queries: float32 `[num queries, dim]` (embedded as the corpus was).
          k: results per query (at least 1); more than the corpus: every document.
          lookup: `lookup(rows)` -> float32 `[*rows.shape, dim]`, the corpus
            embeddings of int64 `rows` (e.g. `lambda rows: corpus[rows]`).

        Returns:
          `(rows, scores)`: int64 and float32 `[num queries, min(k, size)]`,
          scores descending, equal scores to the lower row.
        """
        queries = self._check_queries(queries)
        rows = self.reorder_candidates(queries, k)
        positions, scores = rerank(queries, rows, lookup(rows), min(int(k), self.size))
        return np.take_along_axis(rows, positions, -1), scores

    def reorder_candidates(self, queries, k):
        """int64 `[num queries, min(max(k, reorder), size)]`: the candidate rows
        (`candidates`) that `search` rescores exactly for `k` results per query.

        Raises:
          ValueError: `k` < 1.
        """
        if isinstance(k, bool) or int(k) < 1:
            raise ValueError(f"`k` must be at least 1, got {k!r}.")
        return self.candidates(queries, max(min(int(k), self.size), self.settings.reorder))

    def _check_queries(self, queries):
        queries = np.ascontiguousarray(queries, np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"Queries must be [num queries, {self.dim}], got {queries.shape}.")
        return queries

    def save(self, directory):
        """Writes `index.faiss` and `index.json` into `directory` (created)."""
        faiss = import_faiss()
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        faiss.write_index(self._index, os.path.join(directory, INDEX_FILE))
        with open(os.path.join(directory, SETTINGS_FILE), "w", encoding="utf-8") as f:
            json.dump(self.metadata(), f, indent=2, sort_keys=True)

    @classmethod
    def load(cls, directory):
        """The index `save` wrote into `directory`.

        Raises:
          ApproximateIndexError: a missing directory or file, unreadable
            settings, a FAISS file that does not load or disagrees with them.
          ImportError: FAISS is not installed.
        """
        faiss = import_faiss()
        directory = os.fspath(directory)
        index_file = os.path.join(directory, INDEX_FILE)
        settings_file = os.path.join(directory, SETTINGS_FILE)
        for path in (directory, settings_file, index_file):
            if not os.path.exists(path):
                raise ApproximateIndexError(f"Approximate index not found: {path} is missing.")
        try:
            with open(settings_file, encoding="utf-8") as f:
                saved = json.load(f)
            settings = ApproximateIndexSettings(**saved["settings"])
            size, dim = int(saved["size"]), int(saved["dim"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ApproximateIndexError(f"Unreadable approximate index settings in "
                                        f"{settings_file}: {error}") from None
        try:
            index = faiss.read_index(index_file)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ApproximateIndexError(f"Corrupt approximate index {index_file}: FAISS "
                                        f"cannot read it ({first[:300]}).") from None
        if index.ntotal != size or index.d != dim:
            raise ApproximateIndexError(
                f"{index_file} holds {index.ntotal} vectors of dimension {index.d}; "
                f"{settings_file} says {size} of dimension {dim}.")
        return cls(index, settings, size, dim)


def rerank(queries, rows, vectors, k):
    """The best `k` of each query's candidates by exact dot product.

    Args:
      queries: float32 `[n, dim]`.
      rows: int64 `[n, c]`, the candidates' corpus rows (`candidates`).
      vectors: float32 `[n, c, dim]`, their embeddings.
      k: results per query, at most `c`.

    Returns:
      `(positions, scores)` `[n, k]`: indices into the candidates' axis and
      their scores, descending, equal scores to the lower corpus row.
    """
    scores = np.einsum("nd,ncd->nc", queries, np.asarray(vectors, np.float32),
                       dtype=np.float32)
    # lexsort sorts by its last key first: score descending, then row ascending.
    positions = np.lexsort((rows, -scores), axis=-1)[:, :k]
    return positions, np.take_along_axis(scores, positions, -1)


def build_approximate_index(embeddings, settings=None, seed=0):
    """Builds the index of the corpus `embeddings` (float32 `[N, dim]`, row i = document i).

    Args:
      embeddings: the corpus embeddings (unit norm for cosine scores).
      settings: `ApproximateIndexSettings`; None: `for_corpus(N)`.
      seed: which rows form the training sample when the corpus is larger.

    Returns:
      An `ApproximateIndex`.

    Raises:
      ValueError: not a non-empty 2-D array of finite values.
      ImportError: FAISS is not installed.
    """
    faiss = import_faiss()
    embeddings = np.ascontiguousarray(embeddings, np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] < 1 or embeddings.shape[1] < 1:
        raise ValueError(f"`embeddings` must be a non-empty [N, dim] array, got shape "
                         f"{embeddings.shape}.")
    if not np.all(np.isfinite(embeddings)):
        raise ValueError("`embeddings` hold non-finite values.")
    size, dim = embeddings.shape
    settings = settings or ApproximateIndexSettings.for_corpus(size)
    if settings.num_leaves > size:
        raise ValueError(f"`num_leaves` ({settings.num_leaves}) exceeds the corpus size "
                         f"({size}).")
    sample = embeddings
    if size > settings.training_sample_size:
        picked = np.random.default_rng(seed).choice(size, settings.training_sample_size,
                                                    replace=False)
        sample = embeddings[np.sort(picked)]
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFPQFastScan(quantizer, dim, settings.num_leaves, _subquantizers(dim),
                                     4, faiss.METRIC_INNER_PRODUCT)
    index.train(sample)  # (FAISS's Python wrapper keeps `quantizer` alive with `index`)
    index.add(embeddings)
    return ApproximateIndex(index, settings, size, dim)
