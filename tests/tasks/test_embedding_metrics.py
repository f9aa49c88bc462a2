"""Embedding metrics against hand-computed cases: STS correlations, MRR@10, recall@k,
nDCG@10, rank ties, ids, bad input."""

import math

import numpy as np
import pytest

from bertlab.tasks.embedding_metrics import (cosine_similarities, mrr_at_k, ndcg_at_k,
                                             pair_correlations, recall_at_k, relevant_ranks,
                                             retrieval_metrics)

# 2 queries x 3 documents; query 0 wants doc 2 (ranked 2nd), query 1 docs 2 and 0
# (ranked 1st and 3rd).
SCORES = [[0.9, 0.1, 0.5], [0.2, 0.3, 0.8]]
RELEVANT = [[2], [2, 0]]


def test_ranks_and_metrics_by_hand():
    ranks = relevant_ranks(SCORES, RELEVANT)
    assert [r.tolist() for r in ranks] == [[2], [1, 3]]
    assert mrr_at_k(ranks, 10) == pytest.approx((1 / 2 + 1) / 2)
    assert mrr_at_k(ranks, 1) == pytest.approx(0.5)  # query 0's hit is beyond k=1
    assert recall_at_k(ranks, 1) == pytest.approx((0 + 1 / 2) / 2)
    assert recall_at_k(ranks, 2) == pytest.approx((1 + 1 / 2) / 2)
    assert recall_at_k(ranks, 10) == 1.0
    ndcg_0 = (1 / math.log2(3)) / 1.0
    ndcg_1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(ranks, 10) == pytest.approx((ndcg_0 + ndcg_1) / 2)
    assert ndcg_at_k(ranks, 2) == pytest.approx((ndcg_0 + 1 / (1 + 1 / math.log2(3))) / 2)
    assert retrieval_metrics(SCORES, RELEVANT) == pytest.approx(
        {"mrr@10": 0.75, "recall@1": 0.25, "recall@10": 1.0, "ndcg@10": (ndcg_0 + ndcg_1) / 2})


def test_cutoff_at_ten_of_a_longer_list():
    """One query over 12 documents; its relevant documents are 1st, 11th and 12th."""
    row = np.linspace(1.0, 0.0, 12)
    ranks = relevant_ranks([row], [[0, 10, 11]])
    assert ranks[0].tolist() == [1, 11, 12]
    assert recall_at_k(ranks, 10) == pytest.approx(1 / 3)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranks, 10) == pytest.approx(1 / ideal)
    # The first hit 11th: MRR@10 is 0.
    assert mrr_at_k(relevant_ranks([row], [[10, 11]]), 10) == 0.0


def test_ties_go_to_the_lower_index_and_ids_map_to_columns():
    scores = [[0.5, 0.5, 0.5, 0.9]]
    assert relevant_ranks(scores, [[2]])[0].tolist() == [4]
    assert relevant_ranks(scores, [0])[0].tolist() == [2]  # a single index per query
    assert relevant_ranks(scores, [["c"]], document_ids=["a", "b", "c", "d"])[0].tolist() == [4]
    assert relevant_ranks(scores, ["d"], document_ids="abcd")[0].tolist() == [1]


@pytest.mark.parametrize("scores, relevant, ids, match", [
    ([0.1, 0.2], [[0]], None, "queries, documents"),
    (SCORES, [[0]], None, "2 queries"),
    (SCORES, [[0], []], None, "no relevant"),
    (SCORES, [[0], [3]], None, "out of range"),
    (SCORES, [["x"], ["z"]], ["x", "y", "w"], "'z'"),
    (SCORES, [["x"], ["y"]], ["x", "y"], "document_ids"),
])
def test_bad_input(scores, relevant, ids, match):
    with pytest.raises(ValueError, match=match):
        relevant_ranks(scores, relevant, ids)


def test_pair_correlations_by_hand():
    # Cosines 1, 0, -1 (and 0.6): known orders and a known linear relation.
    a = np.array([[1, 0], [1, 0], [1, 0], [3, 4]], "float32")
    b = np.array([[2, 0], [0, 5], [-1, 0], [1, 0]], "float32")
    np.testing.assert_allclose(cosine_similarities(a, b), [1, 0, -1, 0.6], atol=1e-7)
    result = pair_correlations(a, b, [5.0, 2.5, 0.0, 4.0])  # gold = 2.5 * (cosine + 1)
    assert result == pytest.approx({"pearson": 1.0, "spearman": 1.0})
    # Same order, not linear: Spearman 1, Pearson below 1. By hand, centred gold
    # (3, -1, -2, 0) and cosines (0.85, -0.15, -1.15, 0.45): r = 5.0 / sqrt(14 * 2.27).
    result = pair_correlations(a, b, [5.0, 1.0, 0.0, 2.0])
    assert result["spearman"] == pytest.approx(1.0)
    assert result["pearson"] == pytest.approx(5.0 / math.sqrt(14 * 2.27))
    assert pair_correlations(a, b, [1.0] * 4) == {"pearson": 0.0, "spearman": 0.0}
    with pytest.raises(ValueError, match="shape"):
        cosine_similarities(a, b[:3])
