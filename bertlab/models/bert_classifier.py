"""A BERT sentence classifier: an encoder, a pooling of its outputs, a dense head."""

import keras

from bertlab.layers.dense_2d import Dense2D
from bertlab.models.bert_encoder import as_bert_encoder, token_inputs

POOLINGS = ("pooled", "cls", "mean")


def classification_head(units, dropout, initializer_range, dtype, name):
    """`(dropout layer, dense layer)` of a head on encoder outputs: dropout in `dtype`
    named `<name>_dropout`, then a float32 `Dense2D` of `units` named `name` (the
    logits stay float32 under mixed precision: a stable softmax and loss).

    Raises:
      ValueError: `dropout` is not in [0, 1).
    """
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1), got {dropout}.")
    head_dropout = keras.layers.Dropout(dropout, dtype=dtype, name=f"{name}_dropout")
    head = Dense2D(units,
                   kernel_initializer=keras.initializers.TruncatedNormal(
                       stddev=initializer_range),
                   dtype="float32", name=name)
    return head_dropout, head


def pool_encoder_outputs(outputs, padding_mask, pooling):
    """One vector per sentence from an encoder's outputs (`sequence_output`
    `[batch, seq, hidden]`, or its first position only, and `pooled_output`):
    `pooled_output`, the first position ("cls"), or the float32 mean over the
    real tokens of `padding_mask` `[batch, seq]` ("mean")."""
    if pooling == "pooled":
        return outputs["pooled_output"]
    if pooling == "cls":
        return outputs["sequence_output"][:, 0, :]
    sequence = keras.ops.cast(outputs["sequence_output"], "float32")
    # expand_dims, not [:, :, None]: LiteRT has no kernel for a strided slice adding an axis.
    mask = keras.ops.expand_dims(keras.ops.cast(padding_mask, "float32"), -1)
    total = keras.ops.sum(sequence * mask, axis=1)
    count = keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0)
    return total / count


@keras.saving.register_keras_serializable(package="bertlab")
class BertClassifier(keras.Model):
    """Sentence (or sentence-pair) classification with a BERT encoder (Devlin et al., 2019).

    Args:
      encoder: a `BertEncoder` (pretrained or fresh).
      num_classes: number of classes (1: one score, a regression head).
      pooling: how a sentence becomes one vector:
        "pooled": the encoder's `pooled_output` (tanh dense over `[CLS]`, as
          in BERT's fine-tuning);
        "cls": the `[CLS]` position of `sequence_output`, without the pooler;
          (with "pooled" and "cls" the encoder's last layer is computed at
          `[CLS]` only: see `BertEncoder`'s `output_positions`);
        "mean": the mean of `sequence_output` over real (unpadded) tokens, as
          sentence-transformers (e.g. all-MiniLM-L6-v2) are trained.
      dropout: dropout before the classification layer.
      initializer_range: stddev of the head's truncated-normal initializer.

    Inputs: dict of int32 `[batch, seq]` `token_ids`, `segment_ids`,
    `padding_mask` (see `bertlab.text.BertPreprocessor`).
    Output: float32 logits `[batch, num_classes]` (float32 under mixed precision
    too).

    Example:
    >>> encoder = BertEncoder.from_preset("tiny", vocabulary_size=1000)
    >>> model = BertClassifier(encoder, num_classes=2, pooling="mean")
    >>> model({"token_ids": ids, "segment_ids": zeros, "padding_mask": ones}).shape
    (batch, 2)
    """

    def __init__(self, encoder, num_classes, pooling="pooled", dropout=0.1,
                 initializer_range=0.02, **kwargs):
        encoder = as_bert_encoder(encoder)
        if int(num_classes) < 1:
            raise ValueError(f"`num_classes` must be positive, got {num_classes}.")
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}, got {pooling!r}.")
        # (A functional model reports "float32" as its own policy; its layers hold the real one.)
        dtype = kwargs.pop("dtype", None) or encoder.embeddings.dtype_policy
        head_dropout, head = classification_head(num_classes, dropout, initializer_range, dtype,
                                                 "classifier")

        inputs = token_inputs()
        if pooling == "mean":
            outputs = encoder(inputs)
        else:
            # Only the first token's final state is read: the last layer runs there only.
            first = keras.ops.zeros_like(inputs["token_ids"][:, :1])
            outputs = encoder({**inputs, "output_positions": first})
        logits = head(head_dropout(pool_encoder_outputs(outputs, inputs["padding_mask"],
                                                        pooling)))
        super().__init__(inputs=inputs, outputs=logits, dtype=dtype, **kwargs)

        if pooling != "pooled":
            # The pooler gets no gradient: freeze it rather than train nothing.
            encoder.pooler_dense.trainable = False
        self.encoder = encoder
        self.classifier_dropout = head_dropout
        self.classifier = head
        self.num_classes = int(num_classes)
        self.pooling = pooling
        self.dropout = float(dropout)
        self.initializer_range = float(initializer_range)

    def encoder_added_embeddings(self, inputs):
        """None: the classifier adds nothing to the encoder's input embeddings (see
        `BertTokenClassifier`'s casing embedding)."""
        del inputs
        return None

    def logits_from_encoder_outputs(self, outputs, padding_mask, training=None):
        """float32 logits `[batch, num_classes]` of the encoder's `outputs` (its dict, or
        `encoder_layer_states`'), as `call` computes them: for a caller that ran the
        encoder itself (a distillation student whose hidden states are matched)."""
        x = pool_encoder_outputs(outputs, padding_mask, self.pooling)
        return self.classifier(self.classifier_dropout(x, training=training))

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "num_classes": self.num_classes, "pooling": self.pooling,
            "dropout": self.dropout, "initializer_range": self.initializer_range,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
