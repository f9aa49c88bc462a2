"""Small real exports of the apps for the serving tests, written as the exporters do.

Sentiment, NER and question answering: tiny random BERT encoders with the
MiniLM vocabulary (the real in-graph WordPiece tokenizer); the question
answerer's weights are set so that it answers "Paris" wherever the context
has the word (`QA_ANSWER`), through its real windows and span selection.
Translation and summarization: a tiny `Seq2SeqTransformer` with a small SentencePiece model learned from Multi30k.
A language model (`build_language_model_export`, apart: only its tests build it): a tiny
random `TransformerLanguageModel` with a lossless SentencePiece model, its metadata as
`LanguageModelingTask.export` writes it.
Each export goes through `export_new_version` with the serving hook
(`prepare_for_serving`: warm-up requests, op check) inside its write function,
then `models.config` is written, as `bertlab.export.publish` does.
"""

import dataclasses
import os
import shutil

import tensorflow as tf

from bertlab.decoding import DecodingConfig
from bertlab.export.language_model_export import LanguageModelModule
from bertlab.export.keras_model_file import save_exported_keras_model
from bertlab.export.text_generation_module import TextGenerationModule
from bertlab.export import (export_new_version, export_question_answerer,
                            export_text_classifier, export_token_classifier, write_metadata)
from bertlab.models import Seq2SeqTransformer, TransformerLanguageModel
from bertlab.models.bert_classifier import BertClassifier
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.bert_question_answerer import BertQuestionAnswerer
from bertlab.models.bert_token_classifier import BertTokenClassifier
from bertlab.export.publish import prepare_for_serving, update_models_config
from bertlab.text import BertPreprocessor
from bertlab.text.sentencepiece_tokenizer import SentencePieceTokenizer, train_sentencepiece

TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
CLASSES = ["negative", "positive"]
# The word the QA export answers with, wherever a context holds it (any case: MiniLM is uncased).
QA_ANSWER = "paris"
QA_METADATA = {"task": "question_answering", "sequence_length": 48, "max_query_length": 16,
               "doc_stride": 16, "max_answer_length": 8, "metric": "squad", "lowercase": True}


def _encoder(vocabulary_size):
    return BertEncoder(vocabulary_size=vocabulary_size, num_layers=1, hidden_dim=32,
                       num_heads=2, intermediate_dim=64, max_sequence_length=64, dropout=0.0)


def _question_answerer(tokenizer):
    """A tiny `BertQuestionAnswerer` whose best span is the word `QA_ANSWER`: embedding
    dimension 0 is 0 for every token, position and segment but that word's, and both span
    logits read dimension 0 alone (a random head would answer anywhere)."""
    encoder = _encoder(tokenizer.vocabulary_size)
    model = BertQuestionAnswerer(encoder, dropout=0.0)
    embeddings = encoder.embeddings
    for layer in (embeddings.token_embedding, embeddings.segment_embedding,
                  embeddings.position_embedding):
        weights = layer.get_weights()
        weights[0][..., 0] = 0.0
        if layer is embeddings.token_embedding:
            weights[0][tokenizer.vocabulary.index(QA_ANSWER), 0] = 10.0
        layer.set_weights(weights)
    head = model.get_layer("span_logits")
    kernel, bias = head.get_weights()
    kernel[...] = 0.0
    kernel[0, :] = 10.0
    head.set_weights([kernel, bias])
    return model


def _export(base_dir, write, metadata):
    def write_fn(path):
        write(path)
        write_metadata(path, metadata)
        prepare_for_serving(path)

    return export_new_version(base_dir, write_fn)[1]


def build_exports(root, minilm_dir, data_dir):
    """Writes `root/{sentiment,ner,qa,translation,translation_de_en,summarization}/1` and
    `root/models.config`; returns `{name: version directory}`."""
    root = str(root)
    tf.keras.utils.set_random_seed(11)
    preprocessor = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=32,
                                                    pad_to_longest=True)
    tokenizer = preprocessor.tokenizer
    classifier = BertClassifier(_encoder(tokenizer.vocabulary_size), len(CLASSES),
                                pooling="mean", dropout=0.0)
    tagger = BertTokenClassifier(_encoder(tokenizer.vocabulary_size), len(TAGS), dropout=0.0)
    kernel, bias = tagger.tagger.get_weights()
    tagger.tagger.set_weights([kernel * 50.0, bias])  # a spread of tags, entities included
    paths = {}
    paths["sentiment"] = _export(
        os.path.join(root, "sentiment"),
        lambda p: (export_text_classifier(classifier, preprocessor, CLASSES, p),
                   save_exported_keras_model(classifier, p, tokenizer.vocabulary)),
        {"task": "sentence_classification", "class_names": CLASSES, "sequence_length": 32})
    paths["ner"] = _export(
        os.path.join(root, "ner"),
        lambda p: (export_token_classifier(tagger, tokenizer, TAGS, 24, p),
                   save_exported_keras_model(tagger, p, tokenizer.vocabulary)),
        {"task": "token_classification", "tag_names": TAGS, "sequence_length": 24})

    lines = []
    for language in ("en", "de"):
        with open(os.path.join(data_dir, "multi30k", f"train.{language}"), encoding="utf-8") as f:
            lines += [next(f).strip() for _ in range(300)]
    spm_tokenizer = SentencePieceTokenizer(train_sentencepiece(lines, vocabulary_size=500))
    model = Seq2SeqTransformer(spm_tokenizer.vocabulary_size, num_encoder_layers=1,
                               num_decoder_layers=1, hidden_dim=32, num_heads=2,
                               intermediate_dim=64, dropout=0.0, initializer_range=0.3)
    for name, output_key, extra in (
            ("translation", "translation", {"app": "translation", "direction": "en-de"}),
            ("summarization", "summary", {"app": "summarization"})):
        module = TextGenerationModule(model, spm_tokenizer,
                                      DecodingConfig(method="greedy", max_length=6),
                                      max_source_length=16, output_key=output_key)
        paths[name] = _export(os.path.join(root, name), module.save,
                              {"output_key": output_key, **extra})
    # A second direction: the same SavedModel files, described as de-en.
    other = os.path.join(root, "translation_de_en", "1")
    shutil.copytree(paths["translation"], other)
    write_metadata(other, {"output_key": "translation", "app": "translation",
                           "direction": "de-en"})
    paths["translation_de_en"] = other
    # Last: the other models' random weights stay those of the same seed.
    answerer = _question_answerer(tokenizer)
    paths["qa"] = _export(
        os.path.join(root, "qa"),
        lambda p: export_question_answerer(
            answerer, tokenizer, p, **{k: QA_METADATA[k] for k in (
                "sequence_length", "max_query_length", "doc_stride", "max_answer_length")}),
        QA_METADATA)
    update_models_config(os.path.join(root, "sentiment"))
    return paths


# The language model's export settings: sampled, at most 8 new tokens (the warm-up asks 3).
LM_DECODING = DecodingConfig(method="sample", max_length=8, temperature=0.8, top_p=0.95)


def build_language_model_export(root, tokenizer, decoding=LM_DECODING):
    """Writes `root/lm/1` (a 1-layer, 32-wide random `TransformerLanguageModel` over
    `tokenizer`, a lossless SentencePiece model; context window 64, scored 32 tokens apart;
    `decoding`: its `DecodingConfig`) and `root/models.config`; returns the version
    directory."""
    tf.keras.utils.set_random_seed(5)
    model = TransformerLanguageModel(tokenizer.vocabulary_size, num_layers=1, hidden_dim=32,
                                     num_heads=2, intermediate_dim=64, max_sequence_length=64,
                                     dropout=0.0)
    module = LanguageModelModule(model, tokenizer, decoding, score_stride=32)
    path = _export(os.path.join(str(root), "lm"), module.save,
                   {**module.metadata(), "app": "lm", "decoding": dataclasses.asdict(decoding)})
    update_models_config(os.path.join(str(root), "lm"))
    return path
