"""Scores of a sentence embedder over a whole split, computed outside the graph: how
its cosine similarities correlate with gold pair scores (STS Benchmark), and how
well they rank relevant documents (MRR@10, recall@k, nDCG@10, as MTEB and BEIR
report them).

Rank convention: documents are ordered by descending score, ties broken by
document index (the lower first), so results are deterministic. Relevance is
binary. A relevant document's rank is computed exactly (`1 + #higher scores +
#equal scores at lower indices`), without sorting the corpus.

Example:
>>> scores = [[0.9, 0.1, 0.5], [0.2, 0.3, 0.8]]   # 2 queries x 3 documents
>>> retrieval_metrics(scores, [[2], [2, 0]])
{'mrr@10': 0.75, 'recall@1': 0.25, 'recall@10': 1.0, 'ndcg@10': 0.7...}
"""

import numpy as np

from bertlab.tasks.classification_metrics import correlations


def cosine_similarities(embeddings_a, embeddings_b):
    """Row-wise cosine similarity of two `[pairs, dim]` arrays: `[pairs]` float64."""
    a = np.asarray(embeddings_a, np.float64)
    b = np.asarray(embeddings_b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"Embeddings must be two [pairs, dim] arrays of one shape; got "
                         f"{a.shape} and {b.shape}.")
    norms = np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
    return np.sum(a * b, axis=-1) / norms


def pair_correlations(embeddings_a, embeddings_b, gold_scores):
    """Pearson and Spearman correlation (scipy) of the pairs' cosine similarities
    with their gold scores, as fractions (STS papers report them x 100);
    0 when either side is constant."""
    result = correlations(cosine_similarities(embeddings_a, embeddings_b), gold_scores)
    return {"pearson": result["pearson"], "spearman": result["spearman"]}


def relevant_ranks(scores, relevant, document_ids=None):
    """The 1-based rank of each relevant document of each query.

    Args:
      scores: `[queries, documents]` similarities.
      relevant: per query, its relevant documents: an iterable of column indices
        (or of ids, with `document_ids`), or a single one.
      document_ids: optional ids of the `documents` columns.

    Returns:
      a list (one per query) of int arrays, sorted ascending.

    Raises:
      ValueError: shapes disagree, a query has no relevant document, or a
        relevant index or id is not among the documents.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"`scores` must be [queries, documents], got shape {scores.shape}.")
    relevant = list(relevant)
    if len(relevant) != scores.shape[0]:
        raise ValueError(f"`relevant` has {len(relevant)} entries for {scores.shape[0]} queries.")
    column = None
    if document_ids is not None:
        document_ids = list(document_ids)
        if len(document_ids) != scores.shape[1]:
            raise ValueError(f"`document_ids` has {len(document_ids)} ids for "
                             f"{scores.shape[1]} documents.")
        column = {doc_id: i for i, doc_id in enumerate(document_ids)}
    ranks = []
    for query, (row, wanted) in enumerate(zip(scores, relevant)):
        if isinstance(wanted, (str, bytes)) or np.ndim(wanted) == 0:
            wanted = [wanted]
        try:
            columns = sorted({column[w] if column is not None else int(w) for w in wanted})
        except KeyError as e:
            raise ValueError(f"Query {query}: relevant id {e.args[0]!r} is not a document id.")
        if not columns:
            raise ValueError(f"Query {query} has no relevant document.")
        if columns[0] < 0 or columns[-1] >= len(row):
            raise ValueError(f"Query {query}: relevant index out of range [0, {len(row)}).")
        targets = row[columns]
        higher = np.sum(row[None, :] > targets[:, None], axis=1)
        tied_before = np.array([np.sum(row[:c] == row[c]) for c in columns])
        ranks.append(np.sort(1 + higher + tied_before))
    return ranks


def _mean(values):
    return float(np.mean(values)) if len(values) else 0.0


def mrr_at_k(ranks, k=10):
    """Mean over queries of 1 / (rank of the first relevant document), 0 beyond `k`."""
    return _mean([1.0 / r[0] if r[0] <= k else 0.0 for r in ranks])


def recall_at_k(ranks, k):
    """Mean over queries of the fraction of its relevant documents in the top `k`."""
    return _mean([np.sum(r <= k) / len(r) for r in ranks])


def ndcg_at_k(ranks, k=10):
    """Mean over queries of DCG@k / ideal DCG@k with binary gains:
    `DCG = sum over relevant documents ranked <= k of 1 / log2(rank + 1)`."""
    values = []
    for r in ranks:
        dcg = np.sum(1.0 / np.log2(r[r <= k] + 1.0))
        ideal = np.sum(1.0 / np.log2(np.arange(1, min(len(r), k) + 1) + 1.0))
        values.append(dcg / ideal)
    return _mean(values)


def retrieval_metrics(scores, relevant, document_ids=None, recall_ks=(1, 10)):
    """`{"mrr@10", "recall@<k>" for each of recall_ks, "ndcg@10"}` of a score matrix
    (see `relevant_ranks` for the arguments), as fractions."""
    ranks = relevant_ranks(scores, relevant, document_ids)
    results = {"mrr@10": mrr_at_k(ranks, 10)}
    results.update({f"recall@{k}": recall_at_k(ranks, k) for k in recall_ks})
    results["ndcg@10"] = ndcg_at_k(ranks, 10)
    return results
