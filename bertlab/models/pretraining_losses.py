"""Pretraining losses: masked LM (weighted by `masked_lm_weights`) and next sentence.

Labels follow google-research/bert's names: `masked_lm_ids` int
`[batch, predictions]`, `masked_lm_weights` float `[batch, predictions]` (1 at
real predictions, 0 at padding), `next_sentence_labels` int `[batch]` or
`[batch, 1]` (0 = B follows A, 1 = B is random). Outputs are `BertPretrainer`'s:
`mlm_logits` `[batch, predictions, vocabulary]`, `nsp_logits` `[batch, 2]`.

Each loss comes as a `(sum, weight)` pair, so that a caller can normalize over
any set of batches or replicas (`sum_total / weight_total`), and as a mean.

Example:
>>> loss_sum, weight = masked_lm_loss_sum(ids, logits, weights)
>>> float(loss_sum / weight)  # the weighted mean cross-entropy
"""

import tensorflow as tf


def masked_lm_loss_sum(masked_lm_ids, mlm_logits, masked_lm_weights):
    """`(sum_i w_i * CE_i, sum_i w_i)` over the masked positions, float32 scalars."""
    logits = tf.cast(mlm_logits, tf.float32)
    labels = tf.cast(masked_lm_ids, tf.int32)
    weights = tf.cast(masked_lm_weights, tf.float32)
    per_position = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_sum(per_position * weights), tf.reduce_sum(weights)


def masked_lm_loss(masked_lm_ids, mlm_logits, masked_lm_weights):
    """Weighted mean cross-entropy (0 when every weight is 0)."""
    loss_sum, weight = masked_lm_loss_sum(masked_lm_ids, mlm_logits, masked_lm_weights)
    return tf.math.divide_no_nan(loss_sum, weight)


def next_sentence_loss_sum(next_sentence_labels, nsp_logits):
    """`(sum of per-example cross-entropy, number of examples)`, float32 scalars."""
    logits = tf.cast(nsp_logits, tf.float32)
    labels = tf.reshape(tf.cast(next_sentence_labels, tf.int32), [-1])
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_sum(per_example), tf.cast(tf.size(labels), tf.float32)


def next_sentence_loss(next_sentence_labels, nsp_logits):
    """Mean cross-entropy over examples."""
    loss_sum, count = next_sentence_loss_sum(next_sentence_labels, nsp_logits)
    return tf.math.divide_no_nan(loss_sum, count)


def pretraining_loss(labels, outputs):
    """Masked LM mean + next-sentence mean over one batch (NSP only when both
    `next_sentence_labels` and `nsp_logits` are present).

    Args:
      labels: dict with `masked_lm_ids`, `masked_lm_weights`
        (and `next_sentence_labels`).
      outputs: dict with `mlm_logits` (and `nsp_logits`).

    Returns:
      float32 scalar.
    """
    loss = masked_lm_loss(labels["masked_lm_ids"], outputs["mlm_logits"],
                          labels["masked_lm_weights"])
    if "nsp_logits" in outputs and "next_sentence_labels" in labels:
        loss = loss + next_sentence_loss(labels["next_sentence_labels"], outputs["nsp_logits"])
    return loss
