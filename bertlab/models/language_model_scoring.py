"""Scoring whole texts with a language model: log-likelihood, tokens, characters.

A text of any length is scored through `bertlab.text.scoring_windows` (every
token once, each window at most the model's context), starting from a context
token (the end-of-document id that precedes every document in training, see
`bertlab.data.text_packing`). This is the contract of the exported `score_text`
signature, and what validation on held-out documents reports.

Example:
>>> score = score_text(model, tokenizer, "It was a dark and stormy night.",
...                    context_token_id=tokenizer.end_token_id, stride=128)
>>> score.perplexity, score.bits_per_character
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from bertlab.models.language_model_metrics import (bits_per_character, count_characters,
                                                   language_model_loss_sum, perplexity)
from bertlab.text.scoring_windows import scoring_windows


class TextScore(NamedTuple):
    """How well a model predicts a text (or a sum over texts: add the fields).

    Fields:
      log_likelihood: sum of the natural-log probabilities of the text's tokens
        (<= 0).
      num_tokens: tokens scored.
      num_characters: Unicode code points of the text.
    """

    log_likelihood: float
    num_tokens: int
    num_characters: int

    @property
    def perplexity(self):
        return float(perplexity(-self.log_likelihood, self.num_tokens))

    @property
    def bits_per_character(self):
        return float(bits_per_character(-self.log_likelihood, self.num_characters))

    def __add__(self, other):
        return TextScore(self.log_likelihood + other.log_likelihood,
                         self.num_tokens + other.num_tokens,
                         self.num_characters + other.num_characters)


def score_token_ids(model, token_ids, stride, window_length=None, batch_size=32):
    """Log-likelihood of a token sequence under `model`, each target scored once.

    Args:
      model: a `TransformerLanguageModel` (or any model taking `token_ids` and
        `padding_mask` and returning next-token logits).
      token_ids: int `[n]`: a context token, then the `n - 1` tokens to score.
      stride: tokens between window starts (see `scoring_windows`); at most
        `window_length`.
      window_length: inputs per window; default the model's
        `max_sequence_length`.
      batch_size: windows per model call.

    Returns:
      `(log_likelihood float, num_tokens int)`.
    """
    window_length = int(window_length or model.max_sequence_length)
    windows = scoring_windows(token_ids, window_length, stride)
    nll, count = 0.0, 0.0
    for start in range(0, int(windows.token_ids.shape[0]), int(batch_size)):
        part = tf.nest.map_structure(lambda t: t[start:start + batch_size], windows)
        logits = _logits(model, part.token_ids, part.padding_mask)
        loss_sum, weight = language_model_loss_sum(part.labels, logits, part.weights)
        nll += float(loss_sum)
        count += float(weight)
    return -nll, int(round(count))


def score_text(model, tokenizer, text, context_token_id, stride, window_length=None,
               batch_size=32):
    """`TextScore` of one string: tokenized with `tokenizer` (a
    `SentencePieceTokenizer`), preceded by `context_token_id`, scored by
    `score_token_ids`."""
    ids = tokenizer(tf.constant([text]))[0]
    ids = tf.concat([[tf.cast(context_token_id, ids.dtype)], ids], axis=0)
    log_likelihood, num_tokens = score_token_ids(model, ids, stride, window_length, batch_size)
    return TextScore(log_likelihood, num_tokens, int(count_characters(tf.constant(text))))


def score_documents(model, documents, context_token_id, stride, window_length=None,
                    batch_size=32):
    """The summed `TextScore` of whole documents.

    Args:
      documents: iterable of `(token_ids, num_characters)`, one per document
        (e.g. `bertlab.data.text_packing.tokenize_documents`), consumed one at
        a time.
      context_token_id, stride, window_length, batch_size: as `score_token_ids`.
    """
    total = TextScore(0.0, 0, 0)
    for token_ids, num_characters in documents:
        ids = np.concatenate([[context_token_id], np.asarray(token_ids)]).astype("int32")
        log_likelihood, num_tokens = score_token_ids(model, ids, stride, window_length,
                                                     batch_size)
        total += TextScore(log_likelihood, num_tokens, int(num_characters))
    return total


def scoring_windows_dataset(documents, context_token_id, window_length, stride, batch_size):
    """Whole documents as a `tf.data.Dataset` of `(inputs, labels, weights)` windows.

    The same windows `score_documents` scores, for `model.evaluate` or a
    runner's validation step: with `Perplexity` in `compile(weighted_metrics=...)`
    (Keras gives sample weights to weighted metrics only), or the runner's
    `(loss_sum, weight_sum)`, the result equals `score_documents`'s perplexity.
    Batches hold `batch_size` windows (a document's windows, then the next's).

    Args:
      documents: a callable returning a fresh iterable of `(token_ids,
        num_characters)` per document (called once per pass, e.g.
        `lambda: tokenize_documents(paths, tokenizer)`), consumed one document
        at a time.
      context_token_id, window_length, stride: as `score_token_ids`.
      batch_size: windows per batch.

    Elements: `({"token_ids", "padding_mask"} int32 [b, window_length], labels
    int32 [b, window_length], weights float32 [b, window_length])`.
    """
    window_length, stride = int(window_length), int(stride)
    spec = tf.TensorSpec([window_length], tf.int32)

    def windows():
        for token_ids, _ in documents():
            ids = np.concatenate([[context_token_id], np.asarray(token_ids)]).astype("int32")
            w = scoring_windows(ids, window_length, stride)
            for row in zip(w.token_ids.numpy(), w.padding_mask.numpy(), w.labels.numpy(),
                           w.weights.numpy()):
                yield row

    ds = tf.data.Dataset.from_generator(
        windows, output_signature=(spec, spec, spec, tf.TensorSpec([window_length],
                                                                   tf.float32)))
    ds = ds.batch(int(batch_size))
    return ds.map(lambda ids, mask, labels, weights: (
        {"token_ids": ids, "padding_mask": mask}, labels, weights)).prefetch(tf.data.AUTOTUNE)


def _logits(model, token_ids, padding_mask):
    return model({"token_ids": token_ids, "padding_mask": padding_mask}, training=False)
