"""A BERT span extractor for question answering (SQuAD-style): start and end logits."""

import keras

from bertlab.models.bert_classifier import classification_head
from bertlab.models.bert_encoder import as_bert_encoder, token_inputs

# The logit of a position that cannot start or end an answer (the question, its [SEP],
# the context's closing [SEP], padding): far below any real logit, finite so that
# softmax and sums of two logits stay finite.
MASKED_LOGIT = -1e4


def answer_position_mask(segment_ids, padding_mask):
    """1 where an answer may start or end: the context tokens (segment 1, before the
    closing `[SEP]`) and position 0 (`[CLS]`, "no answer in this window"); 0 on the
    question, the `[SEP]`s and padding.

    Args:
      segment_ids, padding_mask: int `[batch, seq]` of `[CLS] question [SEP] context [SEP]`
        windows (`bertlab.text.pack_question_windows`).

    Returns:
      bool `[batch, seq]`.
    """
    lengths = keras.ops.sum(keras.ops.cast(padding_mask, "int32"), axis=1, keepdims=True)
    # (A cumulative sum, not `arange`: the width is unknown when the model is built.)
    positions = keras.ops.cumsum(keras.ops.ones_like(segment_ids, dtype="int32"), axis=1) - 1
    context = keras.ops.logical_and(keras.ops.equal(segment_ids, 1),
                                    keras.ops.less(positions, lengths - 1))
    return keras.ops.logical_or(context, keras.ops.equal(positions, 0))


@keras.saving.register_keras_serializable(package="bertlab")
class BertQuestionAnswerer(keras.Model):
    """Extractive question answering with a BERT encoder (Devlin et al., 2019, SQuAD).

    A dense layer maps every final hidden state to a start and an end logit. The
    answer is the context span `[i, j]` (i <= j) with the highest start logit at i
    plus end logit at j; `[CLS]` (position 0) stands for "the answer is not in this
    window" when a long context is cut into several windows. Positions that cannot
    hold an answer (the question, the `[SEP]`s, padding) get `MASKED_LOGIT`, so a
    softmax over positions never picks them.

    Args:
      encoder: a `BertEncoder`.
      dropout: dropout before the span layer.
      initializer_range: stddev of the head's truncated-normal initializer.

    Inputs: dict of int32 `[batch, seq]` `token_ids`, `segment_ids` (0 for
    `[CLS] question [SEP]`, 1 for `context [SEP]`) and `padding_mask`.
    Outputs: dict of float32 `[batch, seq]` `start_logits` and `end_logits`.

    Training: softmax cross-entropy of each against the answer's start and end
    token positions (0 where the window holds no answer), averaged.

    Example:
    >>> encoder = BertEncoder.from_preset("tiny", vocabulary_size=1000)
    >>> model = BertQuestionAnswerer(encoder)
    >>> model({"token_ids": ids, "segment_ids": segments, "padding_mask": mask})["start_logits"].shape
    (batch, seq)
    """

    def __init__(self, encoder, dropout=0.1, initializer_range=0.02, **kwargs):
        encoder = as_bert_encoder(encoder)
        # (A functional model reports "float32" as its own policy; its layers hold the real one.)
        dtype = kwargs.pop("dtype", None) or encoder.embeddings.dtype_policy
        head_dropout, head = classification_head(2, dropout, initializer_range, dtype,
                                                 "span_logits")

        inputs = token_inputs()
        sequence = encoder(inputs)["sequence_output"]
        logits = head(head_dropout(sequence))  # float32 [batch, seq, 2]
        allowed = answer_position_mask(inputs["segment_ids"], inputs["padding_mask"])
        logits = keras.ops.where(keras.ops.expand_dims(allowed, -1), logits, MASKED_LOGIT)
        outputs = {"start_logits": logits[:, :, 0], "end_logits": logits[:, :, 1]}
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # The pooler gets no gradient: freeze it rather than train nothing.
        encoder.pooler_dense.trainable = False
        self.encoder = encoder
        self.span_dropout = head_dropout
        self.span_layer = head
        self.dropout = float(dropout)
        self.initializer_range = float(initializer_range)

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "dropout": self.dropout, "initializer_range": self.initializer_range,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
