"""Pretraining metrics as Keras metrics over the labels and outputs dicts.

Each metric's `update_state(labels, outputs)` takes the whole labels dict
(`masked_lm_ids`, `masked_lm_weights`, `next_sentence_labels`) and the whole
outputs dict of `BertPretrainer` (`mlm_logits`, `nsp_logits`), so one list of
metrics serves both `BertPretrainer.fit` and the training runner.

- `MaskedLMAccuracy`: top-1 accuracy at the masked positions, weighted by
  `masked_lm_weights` (padding predictions do not count).
- `MaskedLMPerplexity`: `exp(sum w * CE / sum w)` over all batches seen.
- `NextSentenceAccuracy`: accuracy of the 2-way next-sentence prediction.

Example:
>>> acc = MaskedLMAccuracy()
>>> acc.update_state(labels, outputs)
>>> float(acc.result())
"""

import keras
import tensorflow as tf

from bertlab.models import pretraining_losses as losses


class _SumRatio(keras.metrics.Metric):
    """`total / count`, both accumulated in float32."""

    def __init__(self, name, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype="float32",
                                       name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="float32",
                                       name="count")

    def _accumulate(self, total, count):
        self.total.assign_add(tf.cast(total, tf.float32))
        self.count.assign_add(tf.cast(count, tf.float32))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


@keras.saving.register_keras_serializable(package="bertlab")
class MaskedLMAccuracy(_SumRatio):
    """Weighted top-1 accuracy of `mlm_logits` against `masked_lm_ids`.

    A prediction is correct when the label's logit is the largest of its row
    (a label tied for the largest counts as correct). That is argmax accuracy
    without an argmax: the row maximum is the one the softmax cross-entropy
    already computes, and an argmax over a 30k vocabulary was the costliest
    element-wise reduction of a pretraining step on CPU (XLA does not
    vectorize it).
    """

    def __init__(self, name="mlm_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, labels, outputs, sample_weight=None):
        logits = outputs["mlm_logits"]
        ids = tf.cast(labels["masked_lm_ids"], tf.int32)
        label_logits = tf.gather(logits, ids[..., None], batch_dims=ids.shape.rank)[..., 0]
        correct = tf.cast(label_logits >= tf.reduce_max(logits, axis=-1), tf.float32)
        weights = tf.cast(labels["masked_lm_weights"], tf.float32)
        self._accumulate(tf.reduce_sum(correct * weights), tf.reduce_sum(weights))


@keras.saving.register_keras_serializable(package="bertlab")
class MaskedLMPerplexity(_SumRatio):
    """`exp` of the weighted mean masked-LM cross-entropy over all updates."""

    def __init__(self, name="mlm_perplexity", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, labels, outputs, sample_weight=None):
        self._accumulate(*losses.masked_lm_loss_sum(
            labels["masked_lm_ids"], outputs["mlm_logits"], labels["masked_lm_weights"]))

    def result(self):
        return tf.exp(super().result())


@keras.saving.register_keras_serializable(package="bertlab")
class NextSentenceAccuracy(_SumRatio):
    """Accuracy of `nsp_logits` against `next_sentence_labels`."""

    def __init__(self, name="nsp_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, labels, outputs, sample_weight=None):
        if "nsp_logits" not in outputs or "next_sentence_labels" not in labels:
            return
        predictions = tf.argmax(outputs["nsp_logits"], axis=-1, output_type=tf.int32)
        target = tf.reshape(tf.cast(labels["next_sentence_labels"], tf.int32), [-1])
        correct = tf.cast(tf.equal(predictions, target), tf.float32)
        self._accumulate(tf.reduce_sum(correct), tf.size(correct))


def pretraining_metrics(use_next_sentence_prediction=True):
    """New `[MaskedLMAccuracy, MaskedLMPerplexity, (NextSentenceAccuracy)]`."""
    metrics = [MaskedLMAccuracy(), MaskedLMPerplexity()]
    if use_next_sentence_prediction:
        metrics.append(NextSentenceAccuracy())
    return metrics
