"""The search-index SavedModel (`export_search_index`), checked in one fresh process that
imports only tensorflow and tensorflow_text: signatures and dtypes; top-k equal to a NumPy
brute-force ranking of the Keras embedder's vectors (ties to the lower index); `k` larger
than the corpus clipped, `k` < 1 refused; empty, blank, 10,000-character and invalid-UTF-8
queries answered; `embed` equal to the Keras embedder; an index built on a loaded embedder
export equal to one built on the Keras embedder; a bfloat16 corpus; `publish` (warm-up of
`search` with its scalar `k`, op check); corpus errors.

The embedder is a tiny `SentenceEmbedder` (1 layer, width 32) on MiniLM's vocabulary."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from bertlab.export import publish, read_metadata
from bertlab.export.custom_ops import check_tf_serving_ops
from bertlab.export.search_index_export import embed_corpus, export_search_index
from bertlab.export.sentence_embedder_export import (embedding_functions,
                                                     export_sentence_embedder,
                                                     load_embedding_functions)
from bertlab.export.warmup import read_warmup_requests
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.sentence_embedder import SentenceEmbedder
from bertlab.text import BertPreprocessor

DIM, K = 32, 4
TEXTS = ["The Eiffel Tower is in Paris.", "A man is playing a guitar.",
         "Photosynthesis turns light into sugar.", "The cat sleeps on the sofa.",
         "Stock markets fell sharply on Monday.", "A man is playing a guitar.",
         "北京是中国的首都。", "Grüße aus Köln", "", "Rain is expected tomorrow in London.",
         "The recipe needs two eggs and flour.", "long " * 300]
IDS = [f"doc-{i}" for i in range(len(TEXTS))]
QUERIES = [b"where is the tower?", b"guitar music", b"", b"  \t ", ("x" * 10000).encode(),
           b"caf\xc3 bad \xff\xfe bytes\x00", "天气 😀".encode()]


@pytest.fixture(scope="module")
def built(tmp_path_factory, minilm_dir):
    base = tmp_path_factory.mktemp("search_export")
    preprocessor = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=16,
                                                    pad_to_longest=True)
    encoder = BertEncoder(vocabulary_size=preprocessor.tokenizer.vocabulary_size, num_layers=1,
                          hidden_dim=DIM, num_heads=2, intermediate_dim=64,
                          max_sequence_length=32, dropout=0.0)
    embedder = SentenceEmbedder(encoder)
    functions = embedding_functions(embedder, preprocessor)
    progress = []
    embeddings = embed_corpus(functions, TEXTS, batch_size=5, progress=progress.append)
    record = publish(str(base / "search"), lambda d: export_search_index(
        functions, IDS, TEXTS, embeddings, d, k=K), metadata={"source": "test"})
    # The same index on the embedder's own export (loaded, then tracked by the index).
    export_sentence_embedder(embedder, preprocessor, str(base / "embedder"))
    loaded = load_embedding_functions(str(base / "embedder"))
    loaded_embeddings = embed_corpus(loaded, TEXTS, batch_size=64)
    export_search_index(loaded, IDS, TEXTS, loaded_embeddings, str(base / "from_export"), k=K)
    export_search_index(functions, IDS, TEXTS, embeddings, str(base / "bf16"), k=K,
                        corpus_dtype="bfloat16")
    return dict(path=record["path"], base=base, embedder=embedder, preprocessor=preprocessor,
                functions=functions, embeddings=embeddings, progress=progress,
                loaded_embeddings=loaded_embeddings)


SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    queries = tf.constant([bytes.fromhex(x) for x in json.loads(sys.argv[2])])
    result = {"modules": None, "models": []}
    for path in sys.argv[1].split(","):
        loaded = tf.saved_model.load(path)
        out = {"spec": {
            name: {"inputs": {k: [v.dtype.name, v.shape.as_list()]
                              for k, v in f.structured_input_signature[1].items()},
                   "outputs": {k: [v.dtype.name, v.shape.as_list()]
                               for k, v in f.structured_outputs.items()}}
            for name, f in loaded.signatures.items()}}

        def plain(r):
            return {"ids": [[x.decode() for x in row] for row in r["ids"].numpy()],
                    "texts": [[x.decode() for x in row] for row in r["texts"].numpy()],
                    "scores": r["scores"].numpy().tolist()}

        search = loaded.signatures["search"]
        out["default"] = plain(loaded.signatures["serving_default"](query=queries))
        for k in (1, 3, 12, 100):
            out[f"k{k}"] = plain(search(query=queries, k=tf.constant(k)))
        for k in (0, -2):
            try:
                search(query=queries, k=tf.constant(k))
                out[f"k{k}"] = "no error"
            except tf.errors.InvalidArgumentError as e:
                out[f"k{k}"] = e.message[:300]
        out["empty_batch"] = {k: v.shape.as_list() for k, v in
                              search(query=tf.constant([], tf.string), k=tf.constant(3)).items()}
        out["embed"] = loaded.signatures["embed"](text=queries)["embedding"].numpy().tolist()
        result["models"].append(out)
    result["modules"] = sorted(m for m in sys.modules
                               if m.split(".")[0] in ("bertlab", "keras_hub"))
    print(json.dumps(result))
""")


@pytest.fixture(scope="module")
def served(built):
    paths = [built["path"], str(built["base"] / "from_export"), str(built["base"] / "bf16")]
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(paths), json.dumps([q.hex() for q in QUERIES])],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["modules"] == []
    return dict(zip(("keras", "from_export", "bf16"), out["models"]))


def _brute_force(built, k):
    """NumPy: the Keras embedder's query vectors against the corpus, stable descending sort."""
    queries = built["embedder"](built["preprocessor"](tf.constant(QUERIES))).numpy()
    corpus = built["embedder"](built["preprocessor"](tf.constant(TEXTS))).numpy()
    scores = queries.astype(np.float64) @ corpus.astype(np.float64).T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ([[IDS[i] for i in row] for row in order],
            np.take_along_axis(scores, order, axis=1), queries)


def test_signatures(served):
    spec = served["keras"]["spec"]
    query = {"query": ["string", [None]]}
    assert spec["serving_default"] == {"inputs": query, "outputs": {
        "ids": ["string", [None, K]], "scores": ["float32", [None, K]],
        "texts": ["string", [None, K]]}}
    assert spec["search"] == {"inputs": {**query, "k": ["int32", []]}, "outputs": {
        "ids": ["string", [None, None]], "scores": ["float32", [None, None]],
        "texts": ["string", [None, None]]}}
    assert spec["embed"] == {"inputs": {"text": ["string", [None]]},
                             "outputs": {"embedding": ["float32", [None, DIM]]}}
    assert served["from_export"]["spec"] == spec


@pytest.mark.parametrize("key, k", [("default", K), ("k1", 1), ("k3", 3), ("k12", 12)])
def test_top_k_equals_a_brute_force_ranking(served, built, key, k):
    ids, scores, _ = _brute_force(built, k)
    out = served["keras"][key]
    np.testing.assert_allclose(out["scores"], scores, atol=1e-5)
    assert out["ids"] == ids
    assert out["texts"] == [[TEXTS[IDS.index(i)] for i in row] for row in ids]
    if k == len(TEXTS):  # the two identical guitar texts tie: the lower index ranks first
        for row in out["ids"]:
            assert row.index("doc-5") == row.index("doc-1") + 1


def test_k_beyond_the_corpus_is_clipped_and_k_below_one_refused(served):
    out = served["keras"]
    assert out["k100"] == out["k12"]
    assert all(len(row) == len(TEXTS) for row in out["k100"]["ids"])
    assert all(sorted(row) == sorted(IDS) for row in out["k100"]["ids"])
    assert "`k` must be at least 1" in out["k0"] and "`k` must be at least 1" in out["k-2"]
    assert out["empty_batch"] == {"ids": [0, 3], "scores": [0, 3], "texts": [0, 3]}


def test_every_query_gets_results(served):
    out = served["keras"]["default"]
    assert len(out["ids"]) == len(QUERIES)
    scores = np.array(out["scores"])
    assert scores.shape == (len(QUERIES), K) and np.all(np.isfinite(scores))
    assert np.all(np.diff(scores, axis=1) <= 0)  # descending
    assert out["ids"][2] == out["ids"][3]  # empty and blank: both just [CLS] [SEP]


def test_embed_matches_the_keras_embedder(served, built):
    _, _, queries = _brute_force(built, 1)
    np.testing.assert_allclose(served["keras"]["embed"], queries, atol=1e-5)
    np.testing.assert_allclose(built["embeddings"], built["embedder"](
        built["preprocessor"](tf.constant(TEXTS))).numpy(), atol=1e-5)
    assert built["progress"] == [5, 5, 2]


def test_an_index_on_an_embedder_export_equals_the_keras_one(served, built):
    np.testing.assert_allclose(built["loaded_embeddings"], built["embeddings"], atol=1e-6)
    for key in ("default", "k3", "k100"):
        assert served["from_export"][key]["ids"] == served["keras"][key]["ids"]
        np.testing.assert_allclose(served["from_export"][key]["scores"],
                                   served["keras"][key]["scores"], atol=1e-6)
    np.testing.assert_allclose(served["from_export"]["embed"], served["keras"]["embed"],
                               atol=1e-6)


def test_bfloat16_corpus(served, built):
    _, scores, _ = _brute_force(built, K)
    np.testing.assert_allclose(served["bf16"]["default"]["scores"], scores, atol=2e-2)
    sizes = {name: sum(os.path.getsize(os.path.join(root, f))
                       for root, _, files in os.walk(built["base"] / name / "variables")
                       for f in files) for name in ("bf16", "from_export")}
    assert sizes["bf16"] < sizes["from_export"]


def test_published_metadata_warmup_and_ops(built):
    metadata = read_metadata(built["path"])
    assert {k: metadata[k] for k in ("task", "k", "corpus_size", "embedding_dim",
                                     "corpus_dtype", "source")} == {
        "task": "search_index", "k": K, "corpus_size": len(TEXTS), "embedding_dim": DIM,
        "corpus_dtype": "float32", "source": "test"}
    assert metadata["embedder"]["pooling"] == "mean"
    requests = read_warmup_requests(built["path"])
    assert sorted({name for name, _ in requests}) == ["embed", "search", "serving_default"]
    for name, inputs in requests:
        if name == "search":
            assert set(inputs) == {"query", "k"} and inputs["k"].shape == ()
    assert "TFText>" not in " ".join(check_tf_serving_ops(built["path"]))


def test_the_default_k_is_clipped_to_the_corpus(built, tmp_path):
    functions = built["functions"]
    metadata = export_search_index(functions, IDS[:2], TEXTS[:2], built["embeddings"][:2],
                                   str(tmp_path / "small"), k=10)
    assert (metadata["k"], metadata["corpus_size"]) == (2, 2)
    served = tf.saved_model.load(str(tmp_path / "small")).signatures["serving_default"]
    assert served(query=tf.constant(["guitar"]))["ids"].shape == (1, 2)


@pytest.mark.parametrize("change, message", [
    (dict(ids=[], texts=[], embeddings=np.zeros((0, DIM))), "`ids` is empty"),
    (dict(ids=["a", "b", "a"]), "repeated: \\['a'\\]"),
    (dict(texts=["x"]), "one row per document"),
    (dict(embeddings=np.zeros((3, DIM + 1))), "dimension 33"),
    (dict(embeddings=np.full((3, DIM), np.nan)), "non-finite"),
    (dict(k=0), "`k` must be a positive integer, got 0"),
    (dict(k=2.5), "`k` must be a positive integer, got 2.5"),
    (dict(corpus_dtype="float16"), "`corpus_dtype` must be one of"),
])
def test_bad_corpora_are_refused(built, change, message):
    args = dict(ids=["a", "b", "c"], texts=["x", "y", "z"], embeddings=np.zeros((3, DIM)),
                k=2, corpus_dtype="float32", **{})
    args.update(change)
    with pytest.raises(ValueError, match=message):
        export_search_index(built["functions"], args["ids"], args["texts"], args["embeddings"],
                            "/nonexistent/search", k=args["k"],
                            corpus_dtype=args["corpus_dtype"])


def test_embed_corpus_rejects_a_bad_batch_size(built):
    with pytest.raises(ValueError, match="`batch_size` must be positive, got 0"):
        embed_corpus(built["functions"], TEXTS, batch_size=0)
