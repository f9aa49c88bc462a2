"""The demo page's app views (`apps.serve.app_views.describe`) and the server's `describe`
hook: what `/demo/apps.json` lists comes from each export's metadata, passed through the
server unchanged, and a new app is described in `apps/serve` alone."""

import logging

import pytest

from apps.serve.app_views import describe
from bertlab.serving.rest_server import (BackgroundServer, create_app, demo_listing,
                                         export_description)
from tests.serving.helpers import http

# What `LanguageModelingTask.export` writes (apps.lm, configs/lm/smoke.yaml), in part.
LM_METADATA = {
    "app": "lm", "context_window": 64, "max_new_tokens": 16, "max_prompt_tokens": 48,
    "score_stride": 32, "end_of_document_id": 3, "vocabulary_size": 1000,
    "signatures": ["serving_default", "generate", "score_text", "serve_token_ids"],
    "decoding": {"method": "sample", "max_length": 16, "beam_width": 4, "length_penalty": 0.6,
                 "temperature": 0.8, "top_k": 0, "top_p": 0.95, "seed": 0,
                 "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "min_length": 0}}

CASES = [
    # (what, metadata, inputs, outputs, description)
    ("sentiment export",
     {"task": "sentence_classification", "class_names": ["negative", "positive"],
      "sequence_length": 32}, ["text"], ["label", "probabilities"],
     {"kind": "sentiment", "label": "Sentiment", "class_names": ["negative", "positive"]}),
    ("three polarities",
     {"task": "sentence_classification", "class_names": ["negative", "neutral", "positive"]},
     ["text"], ["label", "probabilities"],
     {"kind": "sentiment", "label": "Sentiment",
      "class_names": ["negative", "neutral", "positive"]}),
    ("NER export", {"task": "token_classification", "tag_names": ["O", "B-PER"]}, ["text"],
     ["tags", "tokens"], {"kind": "ner", "label": "Named entities"}),
    ("tokens and tags without metadata", {}, ["text"], ["tokens", "tags"],
     {"kind": "ner", "label": "Named entities"}),
    ("translation en-de",
     {"output_key": "translation", "app": "translation", "direction": "en-de"}, ["text"],
     ["translation"], {"kind": "translation", "label": "English → German",
                       "direction": "en-de", "output": "translation"}),
    ("translation zh-en", {"app": "translation", "direction": "zh-en"}, ["text"],
     ["translation"], {"kind": "translation", "label": "Chinese → English",
                       "direction": "zh-en", "output": "translation"}),
    ("unknown languages", {"output_key": "translation", "direction": "xx-yy"}, ["text"],
     ["translation"], {"kind": "translation", "label": "xx → yy", "direction": "xx-yy",
                       "output": "translation"}),
    ("translation without a direction", {}, ["text"], ["translation"],
     {"kind": "translation", "label": "Translation", "output": "translation"}),
    ("summarization export", {"output_key": "summary", "app": "summarization"}, ["text"],
     ["summary"], {"kind": "summarization", "label": "Summarization", "output": "summary"}),
    ("generic classifier",
     {"task": "text_classification", "class_names": ["world", "sports", "business"]},
     ["text"], ["label", "probabilities"],
     {"kind": "classification", "label": "Text classification", "inputs": ["text"],
      "outputs": ["label", "probabilities"],
      "class_names": ["world", "sports", "business"]}),
    ("sentence classifier, other classes",
     {"task": "sentence_classification", "class_names": ["spam", "ham"]}, ["text"],
     ["label", "probabilities"],
     {"kind": "classification", "label": "Text classification", "inputs": ["text"],
      "outputs": ["label", "probabilities"], "class_names": ["spam", "ham"]}),
    ("pair classifier with a score", {"task": "sentence_classification"},
     ["text_pair", "text"], ["score", "label"],
     {"kind": "classification", "label": "Text classification",
      "inputs": ["text", "text_pair"], "outputs": ["label", "score"]}),
    ("polarities of a pair go to the generic card",
     {"task": "sentence_classification", "class_names": ["negative", "positive"]},
     ["text", "text_pair"], ["label", "probabilities"],
     {"kind": "classification", "label": "Text classification",
      "inputs": ["text", "text_pair"], "outputs": ["label", "probabilities"],
      "class_names": ["negative", "positive"]}),
    ("classifier outputs without metadata", {}, ["text"], ["label", "score"],
     {"kind": "classification", "label": "Text classification", "inputs": ["text"],
      "outputs": ["label", "score"]}),
    ("a titled classifier", {"task": "text_classification", "title": " Topic "}, ["text"],
     ["label", "probabilities"],
     {"kind": "classification", "label": "Topic", "inputs": ["text"],
      "outputs": ["label", "probabilities"]}),
    ("classifier over other inputs", {"task": "text_classification"}, ["token_ids"],
     ["label", "probabilities"], {"kind": "other", "label": "Model"}),
    ("extractive QA export",
     {"task": "question_answering", "sequence_length": 384, "doc_stride": 128,
      "metric": "squad"}, ["question", "context"], ["answer", "score", "start", "end"],
     {"kind": "question_answering", "label": "Question answering"}),
    ("QA outputs without metadata", {}, ["context", "question"],
     ["answer", "end", "score", "start"],
     {"kind": "question_answering", "label": "Question answering"}),
    ("a titled QA export",
     {"task": "question_answering", "title": "Question answering: DRCD (traditional Chinese)"},
     ["context", "question"], ["answer", "end", "score", "start"],
     {"kind": "question_answering", "label": "Question answering: DRCD (traditional Chinese)"}),
    ("QA with the answer alone", {"task": "question_answering"}, ["context", "question"],
     ["answer"], {"kind": "question_answering", "label": "Question answering",
                  "output": "answer"}),
    # The card sends a question and a context: anything else is not for it.
    ("QA task over one text", {"task": "question_answering"}, ["text"], ["answer", "score"],
     {"kind": "other", "label": "Model"}),
    ("QA task over three inputs", {"task": "question_answering"},
     ["context", "question", "title"], ["answer", "end", "score", "start"],
     {"kind": "other", "label": "Model"}),
    ("question and context, other outputs", {}, ["context", "question"],
     ["label", "probabilities"], {"kind": "other", "label": "Model"}),
    # Other kinds keep their exports: classifiers and taggers of a question...
    ("a polarity classifier with a QA task",
     {"task": "question_answering", "class_names": ["negative", "positive"]}, ["text"],
     ["label", "probabilities"],
     {"kind": "sentiment", "label": "Sentiment", "class_names": ["negative", "positive"]}),
    ("a tagger of questions and contexts", {"task": "token_classification"},
     ["context", "question"], ["tags", "tokens"], {"kind": "ner", "label": "Named entities"}),
    ("a pair classifier with an answer output", {"task": "sentence_classification"},
     ["text", "text_pair"], ["answer", "end", "label", "score", "start"],
     {"kind": "classification", "label": "Text classification",
      "inputs": ["text", "text_pair"], "outputs": ["answer", "end", "label", "score", "start"]}),
    ("a search index with a reader",
     {"task": "search_index", "k": 3, "reader": {"task": "question_answering"},
      "read_top": 5}, ["query"], ["ids", "scores", "texts"],
     {"kind": "ask_documents", "label": "Ask your documents", "read_top": 5}),
    ("a search index without a reader", {"task": "search_index", "k": 3}, ["query"],
     ["ids", "scores", "texts"], {"kind": "other", "label": "Model"}),
    # A language model: its card calls `generate` and `score_text`, which the metadata lists.
    ("language-model export", LM_METADATA, ["prompt"], ["completion"],
     {"kind": "language_model", "label": "Language model", "max_new_tokens": 16,
      "settings": {"max_new_tokens": 16, "temperature": 0.8, "top_k": 0, "top_p": 0.95,
                   "seed": 0},
      "context_window": 64, "output": "completion"}),
    ("a greedy language model starts at temperature 0",
     {**LM_METADATA, "title": "Gutenberg", "decoding": {"method": "greedy", "max_length": 16,
                                                        "temperature": 1.0, "top_k": 0,
                                                        "top_p": 1.0, "seed": 3}},
     ["prompt"], ["completion"],
     {"kind": "language_model", "label": "Gutenberg", "max_new_tokens": 16,
      "settings": {"max_new_tokens": 16, "temperature": 0.0, "top_k": 0, "top_p": 1.0,
                   "seed": 3},
      "context_window": 64, "output": "completion"}),
    ("language model with odd settings: only the numbers kept",
     {"signatures": ["serving_default", "generate", "score_text"], "max_new_tokens": "many",
      "decoding": {"temperature": "hot", "top_k": 2.5, "top_p": 0.9, "seed": True}},
     ["prompt"], ["completion"],
     {"kind": "language_model", "label": "Language model", "settings": {"top_p": 0.9},
      "output": "completion"}),
    ("prompt in without the signatures the card calls",
     {"app": "lm", "signatures": ["serving_default", "serve_token_ids"]}, ["prompt"],
     ["completion"], {"kind": "other", "label": "Model", "output": "completion"}),
    ("the signatures over another input", LM_METADATA, ["text"], ["completion"],
     {"kind": "other", "label": "Model", "output": "completion"}),
    ("one unknown output", {}, ["text"], ["vector"],
     {"kind": "other", "label": "Model", "output": "vector"}),
    ("metadata not an object", ["odd"], ["text"], ["summary"],
     {"kind": "summarization", "label": "Summarization", "output": "summary"}),
]


@pytest.mark.parametrize("what,metadata,inputs,outputs,expected", CASES,
                         ids=[c[0] for c in CASES])
def test_describe(what, metadata, inputs, outputs, expected):
    got = describe(metadata, inputs, outputs)
    assert got == expected
    assert list(got) == list(expected)  # the JSON's key order too


class _Served:
    def __init__(self, name, version, metadata, inputs, outputs):
        self.name, self.version, self.metadata = name, version, metadata
        self.inputs = {"serving_default": {n: None for n in inputs}} if inputs else {}
        self.outputs = {"serving_default": list(outputs)} if outputs else {}


class _Registry:
    """What the demo listing needs of a `ModelRegistry`."""

    def __init__(self, *served):
        self._served = list(served)

    def served(self):
        return list(self._served)

    def names(self):
        return [s.name for s in self._served]

    def get(self, name, version=None):
        return next(s for s in self._served if s.name == name)


QA_METADATA = {"task": "question_answering", "title": "Ask the text", "max_answer_tokens": 30}
REGISTRY = _Registry(
    _Served("qa", 3, QA_METADATA, ["question", "context"], ["start", "answer", "score", "end"]),
    _Served("plain", 1, {}, [], []))


def _qa_view(metadata, inputs, outputs):
    """A view of the test's own (the hook takes any function), passing the names on."""
    if metadata.get("task") == "question_answering" or inputs == ["context", "question"]:
        return {"kind": "question_answering", "label": metadata.get("title", "Questions"),
                "inputs": inputs, "outputs": outputs}
    return describe(metadata, inputs, outputs)


def test_listing_passes_the_metadata_through_by_default():
    assert demo_listing(REGISTRY) == [
        {"name": "qa", "version": 3, "metadata": QA_METADATA,
         "inputs": ["context", "question"], "outputs": ["answer", "end", "score", "start"]},
        {"name": "plain", "version": 1, "metadata": {}, "inputs": [], "outputs": []}]
    assert export_description({"a": 1}, ("x",), ("y",)) == {
        "metadata": {"a": 1}, "inputs": ["x"], "outputs": ["y"]}


def test_listing_with_an_app_view():
    assert demo_listing(REGISTRY, _qa_view) == [
        {"name": "qa", "version": 3, "kind": "question_answering", "label": "Ask the text",
         "inputs": ["context", "question"], "outputs": ["answer", "end", "score", "start"]},
        {"name": "plain", "version": 1, "kind": "other", "label": "Model"}]
    # A view cannot rename a model or change its version.
    assert demo_listing(REGISTRY, lambda m, i, o: {"name": "x", "version": 9, "kind": "k"}) == [
        {"name": "qa", "version": 3, "kind": "k"}, {"name": "plain", "version": 1, "kind": "k"}]


def test_listing_with_the_demo_page_s_views():
    assert demo_listing(REGISTRY, describe) == [
        {"name": "qa", "version": 3, "kind": "question_answering", "label": "Ask the text"},
        {"name": "plain", "version": 1, "kind": "other", "label": "Model"}]


def test_a_failing_view_is_logged_and_the_metadata_listed(caplog):
    def view(metadata, inputs, outputs):
        if metadata:
            raise KeyError("direction")
        return {"kind": "other"}

    with caplog.at_level(logging.ERROR, logger="bertlab.serving"):
        listing = demo_listing(REGISTRY, view)
    assert listing == [
        {"name": "qa", "version": 3, "metadata": QA_METADATA,
         "inputs": ["context", "question"], "outputs": ["answer", "end", "score", "start"]},
        {"name": "plain", "version": 1, "kind": "other"}]
    assert "Describing qa version 3 failed" in caplog.text


def test_create_app_serves_the_hook_s_listing():
    servers = [BackgroundServer(create_app(REGISTRY)).start(),
               BackgroundServer(create_app(REGISTRY, describe=_qa_view)).start()]
    try:
        assert http(f"{servers[0].url}/demo/apps.json") == (
            200, {"apps": demo_listing(REGISTRY)})
        assert http(f"{servers[1].url}/demo/apps.json") == (
            200, {"apps": demo_listing(REGISTRY, _qa_view)})
    finally:
        for server in servers:
            server.stop()
