"""Scoring texts with a language model: windows give every token's log-probability with the
right context, text and document scores agree, perplexity and bits per character follow."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from bertlab.data.text_packing import tokenize_documents
from bertlab.models import TransformerLanguageModel
from bertlab.models.language_model_metrics import Perplexity
from bertlab.models.language_model_scoring import (TextScore, score_documents, score_text,
                                                   score_token_ids, scoring_windows_dataset)

EOD = 3


@pytest.fixture(scope="module")
def model(lm_tokenizer):
    return TransformerLanguageModel(lm_tokenizer.vocabulary_size, num_layers=1, hidden_dim=16,
                                    num_heads=2, intermediate_dim=32, max_sequence_length=8,
                                    dropout=0.0)


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _hand_log_likelihood(model, ids, context):
    """Each target t from the (at most `context`) tokens before it, one forward pass each."""
    total = 0.0
    for t in range(1, len(ids)):
        inputs = ids[max(0, t - context):t][None]
        logits = model({"token_ids": inputs, "padding_mask": np.ones_like(inputs)}).numpy()
        total += _log_softmax(logits[0, -1])[ids[t]]
    return total


def test_stride_one_gives_every_token_the_full_context(model):
    ids = np.random.default_rng(0).integers(4, 100, 14).astype("int32")
    log_likelihood, tokens = score_token_ids(model, ids, stride=1, batch_size=3)
    assert tokens == 13
    assert log_likelihood == pytest.approx(_hand_log_likelihood(model, ids, 8), rel=1e-5)
    # Stride = window: independent chunks of 8 targets, each from its chunk only.
    chunked, tokens = score_token_ids(model, ids, stride=8)
    expected = sum(_hand_log_likelihood(model, ids[s:s + 9], 8) for s in (0, 8))
    assert tokens == 13 and chunked == pytest.approx(expected, rel=1e-5)
    short, tokens = score_token_ids(model, ids[:6], stride=4)
    assert tokens == 5 and short == pytest.approx(_hand_log_likelihood(model, ids[:6], 8),
                                                  rel=1e-5)


def test_text_scores_and_their_summaries(model, lm_tokenizer):
    text = "Emma Woodhouse, handsome, clever, and rich — 中文 😀\n"
    score = score_text(model, lm_tokenizer, text, EOD, stride=4)
    ids = lm_tokenizer(tf.constant([text]))[0].numpy()
    assert score.num_tokens == len(ids) and score.num_characters == len(text)
    expected, _ = score_token_ids(model, np.concatenate([[EOD], ids]), stride=4)
    assert score.log_likelihood == pytest.approx(expected)
    assert score.perplexity == pytest.approx(math.exp(-expected / len(ids)))
    assert score.bits_per_character == pytest.approx(-expected / math.log(2) / len(text))
    empty = score_text(model, lm_tokenizer, "", EOD, stride=4)
    assert empty == TextScore(0.0, 0, 0)


def test_whole_documents_score_as_their_texts(model, lm_tokenizer, gutenberg_slices):
    path = gutenberg_slices[2]
    text = path.read_text(encoding="utf-8")[:3000]
    short = path.parent / "short.txt"
    short.write_text(text, encoding="utf-8")
    documents = tokenize_documents([short, short], lm_tokenizer, lines_per_chunk=7)
    total = score_documents(model, documents, EOD, stride=6, batch_size=64)
    one = score_text(model, lm_tokenizer, text, EOD, stride=6, batch_size=64)
    assert total.num_tokens == 2 * one.num_tokens
    assert total.num_characters == 2 * len(text)
    assert total.log_likelihood == pytest.approx(2 * one.log_likelihood, rel=1e-6)
    assert total.bits_per_character == pytest.approx(one.bits_per_character, rel=1e-6)


def test_evaluating_the_windows_dataset_equals_scoring_documents(model, lm_tokenizer,
                                                                  gutenberg_slices):
    paths = gutenberg_slices[1:]
    expected = score_documents(model, tokenize_documents(paths, lm_tokenizer), EOD, stride=5)
    ds = scoring_windows_dataset(lambda: tokenize_documents(paths, lm_tokenizer), EOD,
                                 window_length=8, stride=5, batch_size=256)
    assert int(sum(float(w.numpy().sum()) for _, _, w in ds)) == expected.num_tokens
    # `weighted_metrics`: Keras gives the sample weights to those only.
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[Perplexity()])
    result = model.evaluate(ds, verbose=0, return_dict=True)
    assert result["perplexity"] == pytest.approx(expected.perplexity, rel=1e-4)
