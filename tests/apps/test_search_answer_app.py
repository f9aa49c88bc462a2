"""Question answering over your own documents with the search app: `build_index` (what
`apps.search.index --reader=QA_EXPORT --read_top=N` runs) on a 5-paragraph corpus with a
tiny embedder export and the serving tests' tiny QA export (it answers "Paris" wherever a
paragraph has the word), then `apps.search.query --answer` as a user runs it (answer, score,
source document with the answer marked), `--answer` on an index without a reader, and bad
`--reader`/`--read_top` values refused before the corpus is embedded.

The signature's contract (the reader's best answer over the retrieved paragraphs, offsets,
empty questions) is tested in `tests/export/test_retrieve_then_read.py`."""

import json

import pytest

from apps.search.index import build_index
from apps.search.query import answer, mark_answer
from bertlab.export import export_question_answerer, publish, read_metadata
from bertlab.export.sentence_embedder_export import export_sentence_embedder
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.sentence_embedder import SentenceEmbedder
from bertlab.text import BertPreprocessor
from tests.apps.app_process import run_app
from tests.serving.exports import QA_METADATA, _question_answerer

DOCUMENTS = {"eiffel": "The Eiffel Tower   stands in Paris , France .",
             "nile": "The Nile is the longest river in Africa .",
             "louvre": "The Louvre museum of Paris opened in 1793 .",
             "guitar": "A man is playing a guitar on stage .",
             "rain": "Rain is expected tomorrow in London ."}


@pytest.fixture(scope="module")
def built(tmp_path_factory, minilm_dir):
    root = tmp_path_factory.mktemp("search_answer_app")
    preprocessor = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=24,
                                                    pad_to_longest=True)
    tokenizer = preprocessor.tokenizer
    encoder = BertEncoder(vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                          hidden_dim=32, num_heads=2, intermediate_dim=64,
                          max_sequence_length=32, dropout=0.0)
    embedder_dir = root / "embedder"
    publish(str(embedder_dir),
            lambda d: export_sentence_embedder(SentenceEmbedder(encoder), preprocessor, d))

    def write_qa(directory):
        export_question_answerer(_question_answerer(tokenizer), tokenizer, directory,
                                 **{k: QA_METADATA[k] for k in ("sequence_length",
                                    "max_query_length", "doc_stride", "max_answer_length")})

    qa_dir = root / "qa"
    publish(str(qa_dir), write_qa, metadata=QA_METADATA)
    corpus = root / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                              for i, t in DOCUMENTS.items()), encoding="utf-8")
    args = dict(embedder=str(embedder_dir), k=3, batch_size=8, sequence_length=16,
                corpus_dtype="float32", export_dir=str(root / "search"))
    record = build_index(str(corpus), **args, reader=str(qa_dir), read_top=2)
    return dict(root=root, corpus=corpus, args=args, record=record, qa_dir=qa_dir,
                embedder_dir=embedder_dir)


def test_query_answer_prints_the_answer_and_its_marked_paragraph(built):
    metadata = read_metadata(built["record"]["path"])
    assert metadata["read_top"] == 2 and metadata["reader"]["source"] == str(
        built["qa_dir"] / "1")
    # A paragraph's own text retrieves it first; the QA export answers "Paris" in it.
    result = run_app("apps.search.query", f"--model_dir={built['root'] / 'search'}",
                     "--answer", DOCUMENTS["eiffel"], "")
    first, empty = result.stdout.strip().split("\n\n")
    lines = first.splitlines()
    assert lines[0] == f"question: {DOCUMENTS['eiffel']}"
    assert lines[1].startswith("answer: Paris\tscore ")
    assert lines[2].startswith("document: eiffel\tretrieval score 1.0000")
    assert lines[3] == "  The Eiffel Tower stands in [[Paris]] , France ."
    assert empty.splitlines()[:2] == ["question: ", "answer: (none)"]
    found = answer(built["record"]["path"], [DOCUMENTS["louvre"]])[0]
    assert found["document_id"] == "louvre" and found["answer"] == "Paris"
    assert found["document_text"][found["start"]:found["end"]] == "Paris"


def test_answer_needs_an_index_with_a_reader(built):
    with pytest.raises(ValueError, match="no `answer` signature .* --reader=QA_EXPORT_DIR"):
        answer(str(built["embedder_dir"]), ["where?"])
    assert mark_answer("a b", 0, 0) == "a b"


def test_bad_readers_are_refused_before_the_corpus_is_embedded(built, tmp_path):
    args = {**built["args"], "export_dir": str(tmp_path / "search")}
    with pytest.raises(ValueError, match="--reader=.*missing: Model directory not found"):
        build_index(str(built["corpus"]), **args, reader=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="--reader=.*embedder: .*is not a question-answerer "
                                         "export: its task is 'sentence_embedding'"):
        build_index(str(built["corpus"]), **args, reader=str(built["embedder_dir"]))
    with pytest.raises(ValueError, match="--read_top must be at least 1, got 0"):
        build_index(str(built["corpus"]), **args, reader=str(built["qa_dir"]), read_top=0)
    assert not (tmp_path / "search").exists()
