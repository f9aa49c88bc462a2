"""Language-model loss and its summaries: perplexity per token, bits per character.

All three come from one quantity, the total negative log-likelihood (NLL, in
nats) of the scored tokens:

- loss = NLL / tokens (mean cross-entropy per token, nats);
- perplexity = exp(NLL / tokens), which depends on the tokenizer (a tokenizer
  with longer pieces has fewer, harder tokens);
- bits per character = NLL / ln 2 / characters, where characters are the
  Unicode code points of the scored text. It does not depend on the tokenizer,
  so two models with different vocabularies (or a byte-level one) compare on
  the same text.

Sums come as `(sum, weight)` pairs, as every bertlab loss does, so a caller adds
them over batches, windows, documents or replicas before dividing.

Example:
>>> nll, tokens = language_model_loss_sum(labels, logits, weights)
>>> float(perplexity(nll, tokens)), float(bits_per_character(nll, count_characters(text)))
"""

import math

import keras
import tensorflow as tf

LN2 = math.log(2.0)


def language_model_loss_sum(labels, logits, weights=None):
    """`(sum_i w_i * -log p(label_i), sum_i w_i)`, float32 scalars.

    Args:
      labels: int `[batch, seq]` next tokens.
      logits: `[batch, seq, vocabulary]` (cast to float32).
      weights: `[batch, seq]` (1 = scored, 0 = padding); None scores all.
    """
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    weights = tf.ones_like(nll) if weights is None else tf.cast(weights, tf.float32)
    return tf.reduce_sum(nll * weights), tf.reduce_sum(weights)


def language_model_loss(labels, logits, weights=None):
    """Mean NLL per scored token, in nats (0 when nothing is scored)."""
    loss_sum, weight = language_model_loss_sum(labels, logits, weights)
    return tf.math.divide_no_nan(loss_sum, weight)


def perplexity(nll_sum, num_tokens):
    """`exp(nll_sum / num_tokens)`: the model is as unsure as a uniform choice
    among this many tokens. `nll_sum` in nats."""
    nll_sum = tf.cast(nll_sum, tf.float64)
    return tf.exp(tf.math.divide_no_nan(nll_sum, tf.cast(num_tokens, tf.float64)))


def bits_per_character(nll_sum, num_characters):
    """`nll_sum / ln 2 / num_characters`: the code length per character of the text
    under the model. `nll_sum` in nats, over all the tokens of the text."""
    nll_sum = tf.cast(nll_sum, tf.float64)
    return tf.math.divide_no_nan(nll_sum / LN2, tf.cast(num_characters, tf.float64))


def count_characters(text):
    """Unicode code points of each string of `text` (`tf.string`, any shape) as int32;
    invalid UTF-8 bytes count one character each (as the tokenizers see them,
    replaced by U+FFFD)."""
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace",
                                        replacement_char=0xFFFD)
    return tf.strings.length(text, unit="UTF8_CHAR")


@keras.saving.register_keras_serializable(package="bertlab")
class Perplexity(keras.metrics.Metric):
    """Token perplexity over everything seen since the last reset, for `compile`.

    `update_state(labels [batch, seq], logits [batch, seq, vocab], sample_weight)`
    adds the weighted NLL and the weight; `result()` is `exp(total NLL / total
    weight)`, the perplexity of all those tokens together (not a mean of batch
    perplexities).

    Keras passes sample weights (padding, scoring windows) to
    `compile(weighted_metrics=...)` only; under `metrics=` every position counts.

    Example:
    >>> model.compile("adam", loss=SparseCategoricalCrossentropy(from_logits=True),
    ...               weighted_metrics=[Perplexity()])
    """

    def __init__(self, name="perplexity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.nll_sum = self.add_variable(shape=(), initializer="zeros", name="nll_sum")
        self.num_tokens = self.add_variable(shape=(), initializer="zeros", name="num_tokens")

    def update_state(self, y_true, y_pred, sample_weight=None):
        loss_sum, weight = language_model_loss_sum(y_true, y_pred, sample_weight)
        self.nll_sum.assign_add(loss_sum)
        self.num_tokens.assign_add(weight)

    def result(self):
        return tf.exp(tf.math.divide_no_nan(self.nll_sum, self.num_tokens))

    def reset_state(self):
        self.nll_sum.assign(0.0)
        self.num_tokens.assign(0.0)
