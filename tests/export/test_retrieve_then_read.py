"""The `answer` signature of a search index built with a reader (`retrieve_then_read`), checked
in one fresh process that imports only tensorflow and tensorflow_text: its spec; each answer
equal to the QA export's own answer on the best-scoring of the retrieved paragraphs (the QA
export called directly, the rule applied in the test), `document_text[start:end] == answer`
in code points (an emoji and invalid UTF-8 before the answer); an empty question and an
empty batch; the published metadata (reader, read_top), warm-up and op check; bad readers.

The corpus is 5 paragraphs; the embedder a tiny random `SentenceEmbedder`, the reader the
serving tests' tiny QA export (`tests/serving/exports.py`: it answers "Paris" wherever a
paragraph has the word, some other span elsewhere)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from bertlab.export import export_question_answerer, publish, read_metadata
from bertlab.export.custom_ops import check_tf_serving_ops
from bertlab.export.retrieve_then_read import load_reader
from bertlab.export.search_index_export import embed_corpus, export_search_index
from bertlab.export.sentence_embedder_export import embedding_functions
from bertlab.export.warmup import read_warmup_requests
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.sentence_embedder import SentenceEmbedder
from bertlab.text import BertPreprocessor
from tests.serving.exports import QA_METADATA, _question_answerer

READ_TOP = 3
IDS = ["eiffel", "nile", "louvre", "guitar", "rain"]
TEXTS = ["😀 The Eiffel Tower stands in Paris , France .",
         "The Nile is the longest river in Africa .",
         "caf\ufffd The Louvre museum of Paris opened in 1793 .",
         "A man is playing a guitar on stage .",
         "Rain is expected tomorrow in London ."]
# A paragraph's own text retrieves it first (cosine 1), whatever the random embedder.
QUESTIONS = [TEXTS[0].encode(), TEXTS[1].encode(), TEXTS[3].encode(), b"", b"  ",
             b"caf\xc3 where is the Louvre? \xff", "天气 😀".encode()]


@pytest.fixture(scope="module")
def built(tmp_path_factory, minilm_dir):
    base = tmp_path_factory.mktemp("retrieve_then_read")
    tf.keras.utils.set_random_seed(5)
    preprocessor = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=24,
                                                    pad_to_longest=True)
    tokenizer = preprocessor.tokenizer

    def write_qa(directory):
        export_question_answerer(_question_answerer(tokenizer), tokenizer, directory,
                                 **{k: QA_METADATA[k] for k in ("sequence_length",
                                    "max_query_length", "doc_stride", "max_answer_length")})

    qa_dir = publish(str(base / "qa"), write_qa, metadata=QA_METADATA)["path"]
    encoder = BertEncoder(vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                          hidden_dim=32, num_heads=2, intermediate_dim=64,
                          max_sequence_length=32, dropout=0.0)
    functions = embedding_functions(SentenceEmbedder(encoder), preprocessor)
    embeddings = embed_corpus(functions, TEXTS)
    reader = load_reader(qa_dir)
    path = publish(str(base / "search"), lambda d: export_search_index(
        functions, IDS, TEXTS, embeddings, d, k=2, reader=reader, read_top=READ_TOP))["path"]
    return dict(base=base, qa_dir=qa_dir, path=path, functions=functions,
                embeddings=embeddings)


SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    index = tf.saved_model.load(sys.argv[1])
    qa = tf.saved_model.load(sys.argv[2]).signatures["serving_default"]
    questions = [bytes.fromhex(x) for x in json.loads(sys.argv[3])]
    answer = f = index.signatures["answer"]
    out = {"spec": {"inputs": {k: [v.dtype.name, v.shape.as_list()]
                               for k, v in f.structured_input_signature[1].items()},
                    "outputs": {k: [v.dtype.name, v.shape.as_list()]
                                for k, v in f.structured_outputs.items()}}}

    def plain(r):
        return {k: [x.decode("utf-8") if isinstance(x, bytes) else x
                    for x in v.numpy().tolist()] for k, v in r.items()}

    out["answers"] = plain(answer(question=tf.constant(questions)))
    out["empty_batch"] = {k: v.shape.as_list()
                          for k, v in answer(question=tf.constant([], tf.string)).items()}
    retrieved = index.signatures["search"](query=tf.constant(questions), k=tf.constant(%d))
    out["retrieved"] = []
    for q, ids, texts, scores in zip(questions, retrieved["ids"].numpy(),
                                     retrieved["texts"].numpy(), retrieved["scores"].numpy()):
        read = plain(qa(question=tf.constant([q] * len(texts)), context=tf.constant(texts)))
        out["retrieved"].append({"ids": [i.decode() for i in ids],
                                 "texts": [t.decode() for t in texts],
                                 "scores": scores.tolist(), "read": read})
    out["modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ("bertlab", "keras_hub"))
    print(json.dumps(out))
""" % READ_TOP)


@pytest.fixture(scope="module")
def served(built):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, built["path"], built["qa_dir"],
         json.dumps([q.hex() for q in QUESTIONS])],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["modules"] == []
    return out


def test_signature(served):
    strings = ["string", [None]]
    assert served["spec"] == {"inputs": {"question": strings}, "outputs": {
        "answer": strings, "score": ["float32", [None]], "document_id": strings,
        "document_text": strings, "start": ["int32", [None]], "end": ["int32", [None]],
        "retrieval_score": ["float32", [None]]}}
    assert served["empty_batch"] == {k: [0] for k in served["spec"]["outputs"]}


def test_the_answer_is_the_readers_best_over_the_retrieved_paragraphs(served):
    answers = served["answers"]
    for row, retrieved in enumerate(served["retrieved"]):
        read = retrieved["read"]
        # The rule: the highest reader score among non-empty answers, the better-retrieved
        # paragraph on a tie; none: "" with the top paragraph.
        found = [i for i in range(READ_TOP) if read["answer"][i]]
        best = max(found, key=lambda i: (read["score"][i], -i)) if found else 0
        assert answers["document_id"][row] == retrieved["ids"][best]
        assert answers["document_text"][row] == retrieved["texts"][best]
        assert answers["retrieval_score"][row] == pytest.approx(retrieved["scores"][best])
        if found:
            assert answers["answer"][row] == read["answer"][best]
            assert answers["score"][row] == pytest.approx(read["score"][best])
            assert (answers["start"][row], answers["end"][row]) == (read["start"][best],
                                                                    read["end"][best])
        else:
            assert (answers["answer"][row], answers["start"][row], answers["end"][row],
                    answers["score"][row]) == ("", 0, 0, -1e9)
        start, end = answers["start"][row], answers["end"][row]
        assert answers["document_text"][row][start:end] == answers["answer"][row]
    # The paragraphs with "Paris" were found and read past the emoji and the U+FFFD.
    assert answers["answer"][0] == "Paris" and answers["document_id"][0] == "eiffel"
    assert answers["start"][0] == TEXTS[0].index("Paris")
    assert "Paris" in answers["answer"]


def test_an_empty_question_gets_an_empty_answer(served):
    answers = served["answers"]
    for row in (3, 4):  # "" and blank
        assert (answers["answer"][row], answers["start"][row], answers["end"][row]) == (
            "", 0, 0)
        assert answers["document_id"][row] == served["retrieved"][row]["ids"][0]


def test_metadata_warmup_and_ops(built):
    metadata = read_metadata(built["path"])
    assert metadata["read_top"] == READ_TOP
    assert metadata["reader"]["source"] == built["qa_dir"]
    assert metadata["reader"]["task"] == "question_answering"
    assert "answer" in {name for name, _ in read_warmup_requests(built["path"])}
    assert "TFText>" not in " ".join(check_tf_serving_ops(built["path"]))


def test_bad_readers_and_read_top_are_refused(built, tmp_path):
    with pytest.raises(ValueError, match="holds no SavedModel"):
        load_reader(str(tmp_path / "missing"))
    # A SavedModel without the reader's inputs and outputs (and without metadata).
    module = tf.Module()
    module.serve = tf.function(lambda text: {"label": tf.strings.upper(text)},
                               input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "not_qa"),
                        signatures={"serving_default": module.serve})
    with pytest.raises(ValueError, match="is not a question-answerer export: its "
                                         "serving_default takes \\['text'\\]"):
        load_reader(str(tmp_path / "not_qa"))
    with pytest.raises(ValueError, match="`read_top` must be a positive integer, got 0"):
        export_search_index(built["functions"], IDS, TEXTS, built["embeddings"],
                            str(tmp_path / "x"), reader=load_reader(built["qa_dir"]),
                            read_top=0)
