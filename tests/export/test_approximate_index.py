"""The approximate index (`bertlab.export.approximate_index`) against exact search on 3,000
clustered synthetic unit vectors (dimension 32, 30 Gaussian clusters; queries are corpus
points moved a little): recall@10 at least 0.95 with the default settings, scores the exact
dot products, descending, equal scores to the lower row (and a weak index, one leaf scanned
without reordering, below 0.8); a save/load round trip answers
the same; `k` beyond the corpus gives every row once; a partition too small for the
candidates asked falls back to every leaf; the settings' defaults and checks; a missing
or corrupt index directory named in the error."""

import json

import numpy as np
import pytest

from bertlab.export.approximate_index import (INDEX_FILE, SETTINGS_FILE, ApproximateIndex,
                                              ApproximateIndexError, ApproximateIndexSettings,
                                              build_approximate_index)

SIZE, DIM, CENTRES, QUERIES = 3000, 32, 30, 200
RECALL_BOUND = 0.95


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(7)
    centres = _unit(rng.standard_normal((CENTRES, DIM)))
    vectors = _unit(centres[rng.integers(0, CENTRES, SIZE)] +
                    rng.standard_normal((SIZE, DIM)) / np.sqrt(DIM))
    vectors[11] = vectors[10]  # a tie: row 10 must rank before row 11
    picked = rng.choice(SIZE, QUERIES, replace=False)
    queries = _unit(vectors[picked] + 0.3 * rng.standard_normal((QUERIES, DIM)) / np.sqrt(DIM))
    return vectors, np.concatenate([queries, vectors[10:11]])


@pytest.fixture(scope="module")
def index(corpus):
    return build_approximate_index(corpus[0])


def _exact(vectors, queries, k):
    scores = queries.astype(np.float64) @ vectors.astype(np.float64).T
    rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return rows, np.take_along_axis(scores, rows, 1)


def _lookup(vectors):
    return lambda rows: vectors[rows]


def test_recall_at_10_against_exact_search(corpus, index):
    vectors, queries = corpus
    rows, scores = index.search(queries, 10, _lookup(vectors))
    exact_rows, _ = _exact(vectors, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, exact_rows)])
    assert recall >= RECALL_BOUND, recall
    assert rows.shape == scores.shape == (len(queries), 10)
    assert rows.dtype == np.int64 and scores.dtype == np.float32
    # Exact scores of the rows found, descending; the tie: the lower row first.
    np.testing.assert_allclose(scores, np.einsum("nd,nkd->nk", queries, vectors[rows]),
                               atol=1e-6)
    assert np.all(np.diff(scores, axis=1) <= 0)
    assert list(rows[-1, :2]) == [10, 11]
    # Where nothing was missed, the ranking is the exact one.
    same = [i for i in range(len(queries)) if set(rows[i]) == set(exact_rows[i])]
    assert len(same) > len(queries) // 2
    assert all(list(rows[i]) == list(exact_rows[i]) for i in same)
    # The bound measures something: one leaf scanned and no reordering misses many.
    weak = build_approximate_index(vectors, ApproximateIndexSettings(
        num_leaves=index.settings.num_leaves, leaves_to_search=1, reorder=10))
    weak_rows, _ = weak.search(queries, 10, _lookup(vectors))
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(weak_rows, exact_rows)]) < 0.8


def test_save_and_load_answer_the_same(corpus, index, tmp_path):
    vectors, queries = corpus
    index.save(tmp_path / "ann")
    loaded = ApproximateIndex.load(tmp_path / "ann")
    assert (loaded.size, loaded.dim, loaded.settings) == (SIZE, DIM, index.settings)
    for k in (1, 10):
        before, after = index.search(queries, k, _lookup(vectors)), loaded.search(
            queries, k, _lookup(vectors))
        np.testing.assert_array_equal(before[0], after[0])
        np.testing.assert_array_equal(before[1], after[1])
    saved = json.loads((tmp_path / "ann" / SETTINGS_FILE).read_text())
    assert saved["library"] == "faiss-cpu" and saved["library_version"]
    assert saved["settings"] == index.settings.as_dict()


def test_k_beyond_the_corpus_and_small_partitions(corpus):
    vectors, queries = corpus
    small = vectors[:300]
    # 7 leaves of ~43 documents, 1 scanned, 120 candidates: every leaf is searched.
    index = build_approximate_index(small, ApproximateIndexSettings(
        num_leaves=7, leaves_to_search=1, reorder=120))
    rows = index.candidates(queries[:5], 120)
    assert rows.shape == (5, 120) and rows.min() >= 0
    assert all(len(set(r)) == 120 for r in rows)
    rows, scores = index.search(queries[:3], 1000, _lookup(small))
    assert rows.shape == (3, 300) and all(sorted(r) == list(range(300)) for r in rows)
    exact_rows, exact_scores = _exact(small, queries[:3], 300)
    np.testing.assert_array_equal(rows, exact_rows)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-6)
    assert index.search(queries[:0], 5, _lookup(small))[0].shape == (0, 5)
    with pytest.raises(ValueError, match="`k` must be at least 1"):
        index.search(queries[:1], 0, _lookup(small))
    with pytest.raises(ValueError, match=r"Queries must be \[num queries, 32\]"):
        index.search(queries[:1, :16], 3, _lookup(small))


def test_settings_scale_with_the_corpus():
    assert ApproximateIndexSettings.for_corpus(1_000_000) == ApproximateIndexSettings(
        num_leaves=1000, leaves_to_search=32, reorder=300)
    assert ApproximateIndexSettings.for_corpus(3000).num_leaves == 55
    assert ApproximateIndexSettings.for_corpus(20) == ApproximateIndexSettings(1, 1)
    assert ApproximateIndexSettings.for_corpus(20, reorder=5).reorder == 5
    with pytest.raises(ValueError, match="`leaves_to_search` \\(9\\) must be at most"):
        ApproximateIndexSettings(num_leaves=4, leaves_to_search=9)
    with pytest.raises(ValueError, match="`reorder` must be a positive integer"):
        ApproximateIndexSettings(num_leaves=4, leaves_to_search=1, reorder=0)
    with pytest.raises(ValueError, match="exceeds the corpus size"):
        build_approximate_index(np.eye(4, dtype=np.float32),
                                ApproximateIndexSettings(num_leaves=5, leaves_to_search=1))


def test_missing_or_corrupt_index_directories_are_named(index, tmp_path):
    with pytest.raises(ApproximateIndexError, match=f"{tmp_path / 'none'} is missing"):
        ApproximateIndex.load(tmp_path / "none")
    index.save(tmp_path / "no_file")
    (tmp_path / "no_file" / INDEX_FILE).unlink()
    with pytest.raises(ApproximateIndexError, match=f"{tmp_path / 'no_file' / INDEX_FILE} is "
                                                    "missing"):
        ApproximateIndex.load(tmp_path / "no_file")
    index.save(tmp_path / "corrupt")
    path = tmp_path / "corrupt" / INDEX_FILE
    path.write_bytes(path.read_bytes()[:1000])  # cut short, as by a full disk
    with pytest.raises(ApproximateIndexError, match=f"Corrupt approximate index {path}"):
        ApproximateIndex.load(tmp_path / "corrupt")
    index.save(tmp_path / "bad_json")
    (tmp_path / "bad_json" / SETTINGS_FILE).write_text("{not json")
    with pytest.raises(ApproximateIndexError, match="Unreadable approximate index settings in "
                                                    f"{tmp_path / 'bad_json' / SETTINGS_FILE}"):
        ApproximateIndex.load(tmp_path / "bad_json")
