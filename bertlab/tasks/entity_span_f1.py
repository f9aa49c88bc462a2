"""Entity-level F1 of BIO tag sequences (exact span match), computed in the graph.

It counts what `seqeval` (default mode) counts: entities are maximal spans
`(type, start, end)` read from BIO tags, including its treatment of ill-formed
sequences (an `I-X` after `O` or after another type starts an entity); an
entity is correct when a predicted one has the same type, start and end. As a
`keras.metrics.Metric` the three counts are summed over batches (and replicas),
so evaluation runs inside the training loop and matches
`seqeval.metrics.f1_score` on the same words.
"""

import keras
import numpy as np
import tensorflow as tf

from bertlab.data.readers import check_bio_tag

_O, _B, _I = 0, 1, 2


def tag_prefixes_and_types(tag_names):
    """Per tag id: prefix code (O=0, B=1, I=2) and entity type id (0 for O).

    Raises:
      ValueError: a tag is not BIO, or there is no "O" tag.
    """
    if "O" not in tag_names:
        raise ValueError(f"`tag_names` must contain 'O', got {list(tag_names)}.")
    prefixes, types, type_ids = [], [], {}
    for tag in tag_names:
        if not check_bio_tag(tag):
            raise ValueError(f"`tag_names` holds {tag!r}, which is not a BIO tag.")
        if tag == "O":
            prefixes.append(_O)
            types.append(0)
            continue
        prefixes.append(_B if tag.startswith("B-") else _I)
        types.append(type_ids.setdefault(tag[2:], len(type_ids) + 1))
    return np.array(prefixes, np.int32), np.array(types, np.int32)


def count_entity_matches(true_tags, predicted_tags, prefixes, types, outside_id):
    """Counts (correct, predicted, gold) entities of a batch of tag-id sequences.

    Args:
      true_tags, predicted_tags: int `[batch, words]`; pad rows with
        `outside_id` (the id of "O").
      prefixes, types: from `tag_prefixes_and_types`.
      outside_id: the id of the "O" tag.

    Returns:
      Three float32 scalars.
    """
    true_tags = tf.cast(true_tags, tf.int32)
    predicted_tags = tf.cast(predicted_tags, tf.int32)
    # One "O" after every row keeps entities from crossing rows; then flatten.
    pad = tf.fill([tf.shape(true_tags)[0], 1], tf.constant(outside_id, tf.int32))
    true_flat = tf.reshape(tf.concat([true_tags, pad], axis=1), [-1])
    pred_flat = tf.reshape(tf.concat([predicted_tags, pad], axis=1), [-1])
    prefixes = tf.constant(prefixes, tf.int32)
    types = tf.constant(types, tf.int32)

    def starts_ends(tags):
        prefix = tf.gather(prefixes, tags)
        kind = tf.gather(types, tags)
        prev_prefix = tf.concat([[_O], prefix[:-1]], axis=0)
        prev_kind = tf.concat([[0], kind[:-1]], axis=0)
        next_prefix = tf.concat([prefix[1:], [_O]], axis=0)
        next_kind = tf.concat([kind[1:], [0]], axis=0)
        inside = prefix != _O
        starts = (prefix == _B) | (inside & ((prev_prefix == _O) | (prev_kind != kind)))
        ends = inside & ((next_prefix != _I) | (next_kind != kind))
        # For every position, the first entity end at or after it.
        end_positions = tf.cast(tf.where(ends)[:, 0], tf.int32)
        ends_before = tf.cumsum(tf.cast(ends, tf.int32), exclusive=True)
        # (`ends_before` <= number of ends; the appended -1 is never read at a start.)
        next_end = tf.gather(tf.concat([end_positions, [-1]], axis=0), ends_before)
        return starts, kind, next_end

    true_starts, true_kind, true_end = starts_ends(true_flat)
    pred_starts, pred_kind, pred_end = starts_ends(pred_flat)
    correct = true_starts & pred_starts & (true_kind == pred_kind) & (true_end == pred_end)

    def count(x):
        return tf.reduce_sum(tf.cast(x, tf.float32))

    return count(correct), count(pred_starts), count(true_starts)


@keras.saving.register_keras_serializable(package="bertlab")
class EntitySpanF1(keras.metrics.Metric):
    """Micro-averaged entity F1 over BIO tags (seqeval's default, exact spans).

    Args:
      tag_names: the tag of each id, e.g. `["O", "B-PER", "I-PER", ...]`.
      ignore_id: label value of positions that are not words (non-first
        subwords, padding); they are removed before entities are read, so
        `y_true`/`y_pred` may be subword-level with only first subwords
        labelled.

    `update_state(y_true, y_pred)`: int `[batch, seq]` true tag ids (with
    `ignore_id`) and int `[batch, seq]` predicted tag ids (or float logits
    `[batch, seq, num_tags]`, then arg-maxed).
    `result()`: F1 (0 when there is no entity at all); `precision()`, `recall()`.

    Example:
    >>> metric = EntitySpanF1(["O", "B-PER", "I-PER"])
    >>> metric.update_state([[1, 2, 0]], [[1, 2, 0]])
    >>> float(metric.result())
    1.0
    """

    def __init__(self, tag_names, ignore_id=-1, name="entity_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.tag_names = list(tag_names)
        self.ignore_id = int(ignore_id)
        self._prefixes, self._types = tag_prefixes_and_types(self.tag_names)
        self._outside_id = self.tag_names.index("O")
        self.correct = self.add_variable((), initializer="zeros", name="correct")
        self.predicted = self.add_variable((), initializer="zeros", name="predicted")
        self.gold = self.add_variable((), initializer="zeros", name="gold")

    def update_state(self, y_true, y_pred, sample_weight=None):
        del sample_weight
        y_true = tf.cast(y_true, tf.int32)
        y_pred = tf.convert_to_tensor(y_pred)
        if y_pred.dtype.is_floating:
            y_pred = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
        y_pred = tf.cast(y_pred, tf.int32)
        words = y_true != self.ignore_id
        true_words = tf.ragged.boolean_mask(y_true, words).to_tensor(self._outside_id)
        pred_words = tf.ragged.boolean_mask(y_pred, words).to_tensor(self._outside_id)
        correct, predicted, gold = count_entity_matches(
            true_words, pred_words, self._prefixes, self._types, self._outside_id)
        self.correct.assign_add(correct)
        self.predicted.assign_add(predicted)
        self.gold.assign_add(gold)

    def precision(self):
        return tf.math.divide_no_nan(self.correct, self.predicted)

    def recall(self):
        return tf.math.divide_no_nan(self.correct, self.gold)

    def result(self):
        return tf.math.divide_no_nan(2.0 * self.correct, self.predicted + self.gold)

    def reset_state(self):
        for variable in (self.correct, self.predicted, self.gold):
            variable.assign(0.0)

    def get_config(self):
        return {"tag_names": self.tag_names, "ignore_id": self.ignore_id, "name": self.name,
                "dtype": self.dtype}
