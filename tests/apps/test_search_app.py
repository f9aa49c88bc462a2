"""The search app, as a user runs it: `apps.search.index` on a 20-document JSONL corpus with a
tiny sentence-embedder export (1 layer, width 32, MiniLM's vocabulary), then
`apps.search.query` (printed ranking, `--k` beyond the corpus), the index served by
`bertlab.serving`'s REST API (`{"instances": [{"query": ...}]}` and the `search`
signature with `k`); a missing corpus file and bad flags refused before anything loads;
the corpus reader's errors. With `--approximate` (2 leaves, 1 scanned, 5 candidates
reordered): the index and its metadata in the version, the server answering
`serving_default` and `search` through it with the exact signatures' shapes and scores
(`--noapproximate_search`: exactly), its metadata response naming it, and a version whose
index is missing or corrupt refused with the path in its status.

With a random embedder nothing is semantically close, but a document's own text embeds
to its own vector (cosine 1), so querying it finds it first."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from apps.search.corpus import CorpusError, read_corpus
from apps.search.index import build_index
from bertlab.export import publish, read_metadata
from bertlab.export.sentence_embedder_export import export_sentence_embedder
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.sentence_embedder import SentenceEmbedder
from bertlab.text import BertPreprocessor
from tests.apps.app_process import run_app
from tests.serving.helpers import http

DOCUMENTS = [
    "The Eiffel Tower was designed by the firm of Gustave Eiffel.",
    "Photosynthesis turns light, water and carbon dioxide into sugar.",
    "The Nile is the longest river in Africa.",
    "A man is playing a guitar on stage.",
    "Stock markets fell sharply on Monday after the report.",
    "The recipe needs two eggs, flour and a pinch of salt.",
    "Rain is expected tomorrow in London and Paris.",
    "Mount Everest is the highest mountain above sea level.",
    "北京是中华人民共和国的首都。",
    "Grüße aus Köln — the cathedral took 632 years to finish.",
    "Penguins cannot fly but swim very well.",
    "The library opens at nine and closes at six.",
    "Water boils at 100 degrees Celsius at sea level.",
    "The first moon landing was in 1969.",
    "Cats sleep for most of the day.",
    "Python is a popular programming language.",
    "The Great Wall of China is thousands of kilometres long.",
    "Coffee contains caffeine, a mild stimulant.",
    "A violin has four strings.",
    "Tea was first drunk in China.",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory, minilm_dir):
    root = tmp_path_factory.mktemp("search_app")
    base = root / "saved_models"
    preprocessor = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=16,
                                                    pad_to_longest=True)
    encoder = BertEncoder(vocabulary_size=preprocessor.tokenizer.vocabulary_size, num_layers=1,
                          hidden_dim=32, num_heads=2, intermediate_dim=64,
                          max_sequence_length=32, dropout=0.0)
    embedder_dir = base / "embedder"
    publish(str(embedder_dir),
            lambda d: export_sentence_embedder(SentenceEmbedder(encoder), preprocessor, d))
    corpus = root / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": t, "extra": 1},
                                         ensure_ascii=False) + "\n"
                              for i, t in enumerate(DOCUMENTS)) + "\n", encoding="utf-8")
    index = run_app("apps.search.index", f"--corpus={corpus}", f"--embedder={embedder_dir}",
                    "--k=3", "--batch_size=8", f"--export_dir={base / 'search'}")
    return dict(root=root, base=base, corpus=corpus, embedder_dir=embedder_dir, index=index)


@pytest.fixture(scope="module")
def approximate(built):
    """The same corpus indexed with `--approximate` (tiny settings, so that a query scans
    one of two leaves and only 5 candidates are reordered)."""
    base = built["root"] / "ann_models"
    index = run_app("apps.search.index", f"--corpus={built['corpus']}",
                    f"--embedder={built['embedder_dir']}", "--k=3", "--batch_size=8",
                    "--approximate", "--num_leaves=2", "--leaves_to_search=1", "--reorder=5",
                    f"--export_dir={base / 'search'}")
    return dict(base=base, path=base / "search" / "1", index=index)


@pytest.fixture(scope="module")
def queried(built):
    """`query` of two documents' texts with `--k` beyond the corpus."""
    return run_app("apps.search.query", f"--model_dir={built['base'] / 'search'}", "--k=25",
                   DOCUMENTS[3], DOCUMENTS[8])


def test_index_publishes_a_version_with_its_metadata(built):
    path = built["base"] / "search" / "1"
    assert f"Exported {path}" in built["index"].stdout
    assert "embedding" in built["index"].stderr  # the progress bar
    metadata = read_metadata(str(path))
    assert {k: metadata[k] for k in ("task", "app", "k", "corpus_size", "embedding_dim")} == {
        "task": "search_index", "app": "search", "k": 3, "corpus_size": 20, "embedding_dim": 32}
    assert metadata["embedder_source"] == str(built["embedder_dir"] / "1")
    assert (built["base"] / "models.config").is_file()


def test_query_prints_the_ranking_and_k_beyond_the_corpus_gives_all(queried):
    blocks = queried.stdout.strip().split("\n\n")
    assert len(blocks) == 2
    for block, own in zip(blocks, ("d3", "d8")):
        lines = block.splitlines()
        assert lines[0].startswith("query: ")
        ranked = [line.split("\t") for line in lines[1:]]
        assert len(ranked) == len(DOCUMENTS)
        assert ranked[0][0].strip() == "1. " + own and float(ranked[0][1]) == pytest.approx(
            1.0, abs=1e-4)
        assert ranked[0][2] == DOCUMENTS[int(own[1:])]
        scores = [float(r[1]) for r in ranked]
        assert scores == sorted(scores, reverse=True)


def test_bad_corpora_and_flags_are_refused_before_anything_loads(built, tmp_path):
    # (`main` prints these as "index: error: ..." and exits 1.)
    args = dict(embedder=str(built["embedder_dir"]), k=3, batch_size=8, sequence_length=16,
                corpus_dtype="float32", export_dir=str(tmp_path / "search"))
    with pytest.raises(CorpusError, match="Corpus file not found: .*missing.jsonl"):
        build_index(str(tmp_path / "missing.jsonl"), **args)
    for flag, value in (("k", 0), ("batch_size", -1), ("sequence_length", 2)):
        with pytest.raises(ValueError, match=f"--{flag} must be at least"):
            build_index(str(built["corpus"]), **{**args, flag: value})
    with pytest.raises(FileNotFoundError, match="no_embedder"):
        build_index(str(built["corpus"]), **{**args, "embedder": str(tmp_path / "no_embedder")})
    assert not (tmp_path / "search").exists()


def test_served_by_the_rest_server(built):
    from bertlab.serving.model_registry import ModelRegistry
    from bertlab.serving.rest_server import BackgroundServer, create_app

    registry = ModelRegistry(str(built["base"]), poll_interval_s=0).start()
    server = BackgroundServer(create_app(registry)).start()
    try:
        url = f"{server.url}/v1/models/search"
        status, body = http(f"{url}:predict", {"instances": [{"query": DOCUMENTS[0]},
                                                              {"query": ""}]})
        assert status == 200, body
        first, empty = body["predictions"]
        assert first["ids"][0] == "d0" and first["texts"][0] == DOCUMENTS[0]
        assert len(first["ids"]) == len(empty["ids"]) == 3
        status, body = http(f"{url}:predict", {"signature_name": "search",
                                               "inputs": {"query": [DOCUMENTS[5]], "k": 30}})
        assert status == 200, body
        assert body["outputs"]["ids"][0][0] == "d5" and len(body["outputs"]["ids"][0]) == 20
        status, body = http(f"{url}:predict", {"signature_name": "search",
                                               "inputs": {"query": ["x"], "k": 0}})
        assert status == 400 and "`k` must be at least 1" in body["error"]
    finally:
        server.stop()
        registry.stop()


def test_the_index_embeds_as_its_embedder_export(built):
    search = tf.saved_model.load(str(built["base"] / "search" / "1"))
    embedder = tf.saved_model.load(str(built["embedder_dir"] / "1"))
    texts = tf.constant(DOCUMENTS[:4] + [""])
    np.testing.assert_allclose(search.signatures["embed"](text=texts)["embedding"].numpy(),
                               embedder.signatures["embed"](text=texts)["embedding"].numpy(),
                               atol=1e-6)


@pytest.mark.parametrize("name, content, message", [
    ("bad.jsonl", '{"id": "a", "text": "x"}\n\n{"id": "b", "text": \n', "line 3: not a JSON"),
    ("bad2.jsonl", '{"id": "a", "text": "x"}\n{"id": "b"}\n', 'line 2: each line must be'),
    ("bad3.jsonl", '{"id": true, "text": "x"}\n', 'line 1: "id" must be'),
    ("bad4.jsonl", '{"id": 1, "text": ["x"]}\n', 'line 1: "text" must be a string'),
    ("bad.tsv", "a\tx\nb without a tab\n", "line 2: expected id<TAB>text"),
    ("dup.tsv", "id\ttext\na\tx\nb\ty\na\tz\n", "line 4: id 'a' is repeated \\(first on line 2"),
    ("dup.jsonl", '{"id": 7, "text": "x"}\n{"id": "7", "text": "y"}\n', "id '7' is repeated"),
    ("empty.tsv", "\n  \n", "holds no document"),
    ("header.tsv", "id\ttext\n", "holds no document"),
    ("noid.tsv", "\tx\n", "line 1: the id is empty"),
])
def test_corpus_errors_name_the_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=message):
        read_corpus(path)


def test_corpus_formats(tmp_path):
    tsv = tmp_path / "docs.txt"
    tsv.write_bytes(b"a\tfirst\ttext with a tab\n\nb\tcaf\xc3 bad\r\n")
    assert read_corpus(tsv) == (["a", "b"], ["first\ttext with a tab", "caf\ufffd bad"])
    sniffed = tmp_path / "docs.data"
    sniffed.write_text('{"id": 1, "text": "one"}\n', encoding="utf-8")
    assert read_corpus(sniffed) == (["1"], ["one"])
    with pytest.raises(CorpusError, match="not found"):
        read_corpus(tmp_path / "none.jsonl")


def test_approximate_index_is_published_with_its_metadata(approximate):
    import faiss

    path = approximate["path"]
    assert f"Exported {path}" in approximate["index"].stdout
    described = read_metadata(str(path))["approximate_index"]
    assert {k: described[k] for k in ("library", "library_version", "size", "path")} == {
        "library": "faiss-cpu", "library_version": faiss.__version__, "size": len(DOCUMENTS),
        "path": "assets.extra/approximate_index"}
    assert described["settings"] == {"num_leaves": 2, "leaves_to_search": 1, "reorder": 5,
                                     "training_sample_size": 262144}
    assert sorted(p.name for p in (path / described["path"]).iterdir()) == [
        "index.faiss", "index.json"]
    documents = tf.saved_model.load(str(path)).signatures["documents"]
    found = documents(rows=tf.constant([[4, 0]], tf.int64))
    assert found["ids"].numpy().tolist() == [[b"d4", b"d0"]]
    assert found["embeddings"].shape == (1, 2, 32)


def _exact_search(path, queries, k):
    search = tf.saved_model.load(str(path)).signatures["search"]
    out = search(query=tf.constant(queries), k=tf.constant(k))
    return {name: value.numpy() for name, value in out.items()}


def test_served_through_the_approximate_index(approximate):
    from bertlab.serving.model_registry import ModelRegistry
    from bertlab.serving.rest_server import BackgroundServer, create_app

    registry = ModelRegistry(str(approximate["base"]), poll_interval_s=0).start()
    server = BackgroundServer(create_app(registry)).start()
    served = registry.get("search")
    calls = []
    candidates = served.approximate.index.candidates
    served.approximate.index.candidates = lambda *a: calls.append(a) or candidates(*a)
    try:
        url = f"{server.url}/v1/models/search"
        status, body = http(f"{url}:predict", {"instances": [{"query": DOCUMENTS[0]},
                                                              {"query": ""}]})
        assert status == 200, body
        first, empty = body["predictions"]
        assert first["ids"][0] == "d0" and first["texts"][0] == DOCUMENTS[0]
        assert len(first["ids"]) == len(empty["ids"]) == len(empty["scores"]) == 3
        assert len(calls) == 1 and calls[0][1] == 5  # 5 candidates for k=3
        assert served.batch_stats()["serving_default"]["requests"] == 1
        # Every document's own text: itself first; the scores are the exact ones.
        exact = _exact_search(approximate["path"], DOCUMENTS, len(DOCUMENTS))
        status, body = http(f"{url}:predict", {"signature_name": "search",
                                               "inputs": {"query": DOCUMENTS, "k": 3}})
        assert status == 200, body
        ids, scores = body["outputs"]["ids"], np.array(body["outputs"]["scores"])
        assert [row[0] for row in ids] == [f"d{i}" for i in range(len(DOCUMENTS))]
        assert np.all(np.diff(scores, axis=1) <= 0)
        for row, row_scores, exact_ids, exact_scores in zip(ids, scores, exact["ids"],
                                                             exact["scores"]):
            by_id = dict(zip([i.decode() for i in exact_ids], exact_scores))
            np.testing.assert_allclose(row_scores, [by_id[i] for i in row], atol=1e-5)
        # k beyond the corpus: every document, as the exact search ranks them.
        status, body = http(f"{url}:predict", {"signature_name": "search",
                                               "inputs": {"query": [DOCUMENTS[5]], "k": 30}})
        assert status == 200, body
        assert body["outputs"]["ids"][0] == [i.decode() for i in _exact_search(
            approximate["path"], [DOCUMENTS[5]], 30)["ids"][0]]
        status, body = http(f"{url}:predict", {"signature_name": "search",
                                               "inputs": {"query": ["x"], "k": 0}})
        assert status == 400 and "`k` must be at least 1" in body["error"]
        none = served.predict("search", {"query": np.array([], object),
                                         "k": np.array(3, np.int32)})
        assert {k: (v.shape, v.dtype) for k, v in none.items()} == {
            "ids": ((0, 3), object), "scores": ((0, 3), np.float32), "texts": ((0, 3), object)}
        status, body = http(f"{url}/metadata")
        assert status == 200
        described = body["metadata"]["approximate_index"]
        assert described["used_by"] == ["serving_default", "search"]
        assert described["library"] == "faiss-cpu"
        assert "documents" in body["metadata"]["signature_def"]["signature_def"]
    finally:
        server.stop()
        registry.stop()
    exact_registry = ModelRegistry(str(approximate["base"]), poll_interval_s=0,
                                   approximate_search=False).start()
    try:
        served = exact_registry.get("search")
        assert served.approximate is None and "approximate_index" not in \
            served.metadata_json()["metadata"]
        out = served.predict("search", {"query": np.array([DOCUMENTS[5]], object),
                                        "k": np.array(30, np.int32)})
        assert out["ids"].tolist() == _exact_search(approximate["path"], [DOCUMENTS[5]],
                                                    30)["ids"].tolist()
    finally:
        exact_registry.stop()


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_missing_or_corrupt_approximate_index_is_refused(approximate, tmp_path, damage):
    from bertlab.serving.model_registry import ModelRegistry

    version = tmp_path / "search" / "1"
    shutil.copytree(approximate["path"], version)
    index_file = version / "assets.extra" / "approximate_index" / "index.faiss"
    if damage == "missing":
        shutil.rmtree(index_file.parent)
        expected = f"{index_file.parent} is missing"
    else:
        index_file.write_bytes(index_file.read_bytes()[:200])
        expected = f"Corrupt approximate index {index_file}"
    registry = ModelRegistry(str(tmp_path), poll_interval_s=0, max_load_retries=0).start()
    try:
        assert registry.names() == []
        [status] = registry.status("search")["model_version_status"]
        assert status["state"] == "END" and expected in status["status"]["error_message"]
    finally:
        registry.stop()


def test_bad_approximate_flags_are_refused_before_embedding(built, tmp_path):
    args = dict(embedder=str(tmp_path / "not_loaded"), k=3, batch_size=8, sequence_length=16,
                corpus_dtype="float32", export_dir=str(tmp_path / "search"), approximate=True)
    with pytest.raises(ValueError, match="--num_leaves=21 exceeds the corpus's 20 documents"):
        build_index(str(built["corpus"]), **args, num_leaves=21)
    with pytest.raises(ValueError, match="--reorder must be at least 0"):
        build_index(str(built["corpus"]), **args, reorder=-1)
    with pytest.raises(ValueError, match=r"`leaves_to_search` \(3\) must be at most"):
        build_index(str(built["corpus"]), **args, num_leaves=2, leaves_to_search=3)
    assert not (tmp_path / "search").exists()


def test_query_searches_through_the_approximate_index(approximate, monkeypatch):
    from apps.search import query
    from bertlab.export.approximate_index import ApproximateIndex

    calls = []
    candidates = ApproximateIndex.candidates
    monkeypatch.setattr(ApproximateIndex, "candidates",
                        lambda self, *a: calls.append(a) or candidates(self, *a))
    ranked = query.search(approximate["base"] / "search", [DOCUMENTS[2], ""])
    assert len(calls) == 1 and calls[0][1] == 5   # the index's 5 candidates for its k=3
    assert [len(row) for row in ranked] == [3, 3] and ranked[0][0]["id"] == "d2"
    exact = _exact_search(approximate["path"], [DOCUMENTS[2]], 3)
    by_id = dict(zip([i.decode() for i in exact["ids"][0]], exact["scores"][0]))
    for result in ranked[0]:   # the candidates' scores are exact
        if result["id"] in by_id:
            assert result["score"] == pytest.approx(float(by_id[result["id"]]), abs=1e-5)
    everything = query.search(approximate["base"] / "search", [DOCUMENTS[5]], k=30)[0]
    assert [r["id"] for r in everything] == [i.decode() for i in _exact_search(
        approximate["path"], [DOCUMENTS[5]], 30)["ids"][0]]
    calls.clear()
    exactly = query.search(approximate["base"] / "search", [DOCUMENTS[2]], approximate=False)
    assert calls == [] and [r["id"] for r in exactly[0]] == [
        i.decode() for i in exact["ids"][0]]
