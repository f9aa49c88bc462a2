"""A BERT token classifier (tagger): one label per subword position."""

import keras

from bertlab.models.bert_classifier import classification_head
from bertlab.models.bert_encoder import INPUT_NAMES, as_bert_encoder, token_inputs


@keras.saving.register_keras_serializable(package="bertlab")
class BertTokenClassifier(keras.Model):
    """Token classification (NER, POS tagging) with a BERT encoder (Devlin et al., 2019).

    A dense layer over every position of the encoder's `sequence_output`. For
    word-level tags, read the logits at each word's first subword
    (`bertlab.text.word_tokenization.pack_words` gives those positions).

    Args:
      encoder: a `BertEncoder`.
      num_tags: number of tag classes (e.g. 9 for CoNLL-2003 BIO).
      dropout: dropout before the classification layer.
      initializer_range: stddev of the head's truncated-normal initializer.
      num_casing_ids: > 0: the model takes a fourth input, `casing_ids`, whose
        embedding (a `[num_casing_ids, hidden_dim]` table, zero at the start so
        a pretrained encoder starts unchanged) is added to the encoder's input
        embeddings: the capitalisation an uncased encoder cannot see
        (`bertlab.text.word_casing`; `pack_words(..., with_casing=True)`).

    Inputs: dict of int32 `[batch, seq]` `token_ids`, `segment_ids`,
    `padding_mask` (and `casing_ids` with `num_casing_ids`).
    Output: float32 logits `[batch, seq, num_tags]`.

    Example:
    >>> encoder = BertEncoder.from_preset("tiny", vocabulary_size=1000)
    >>> model = BertTokenClassifier(encoder, num_tags=9)
    >>> model({"token_ids": ids, "segment_ids": zeros, "padding_mask": ones}).shape
    (batch, seq, 9)
    """

    def __init__(self, encoder, num_tags, dropout=0.1, initializer_range=0.02, num_casing_ids=0,
                 **kwargs):
        encoder = as_bert_encoder(encoder)
        if int(num_tags) < 2:
            raise ValueError(f"`num_tags` must be at least 2, got {num_tags}.")
        # (A functional model reports "float32" as its own policy; its layers hold the real one.)
        dtype = kwargs.pop("dtype", None) or encoder.embeddings.dtype_policy
        head_dropout, head = classification_head(num_tags, dropout, initializer_range, dtype,
                                                 "tagger")

        if int(num_casing_ids) < 0:
            raise ValueError(f"`num_casing_ids` must be 0 or positive, got {num_casing_ids}.")
        casing_embedding = None
        if num_casing_ids:
            inputs = token_inputs(INPUT_NAMES + ("casing_ids",))
            casing_embedding = keras.layers.Embedding(
                int(num_casing_ids), encoder.hidden_dim, embeddings_initializer="zeros",
                dtype=dtype, name="casing_embedding")
            sequence = encoder.call_with_added_embeddings(
                inputs, casing_embedding(inputs["casing_ids"]))["sequence_output"]
        else:
            inputs = token_inputs()
            sequence = encoder(inputs)["sequence_output"]
        logits = head(head_dropout(sequence))
        super().__init__(inputs=inputs, outputs=logits, dtype=dtype, **kwargs)

        # The pooler gets no gradient: freeze it rather than train nothing.
        encoder.pooler_dense.trainable = False
        self.encoder = encoder
        self.casing_embedding = casing_embedding
        self.tagger_dropout = head_dropout
        self.tagger = head
        self.num_tags = int(num_tags)
        self.dropout = float(dropout)
        self.initializer_range = float(initializer_range)
        self.num_casing_ids = int(num_casing_ids)

    def encoder_added_embeddings(self, inputs):
        """`[batch, seq, hidden]` embeddings the model adds to the encoder's input (its
        casing embedding of `inputs["casing_ids"]`), or None."""
        if self.casing_embedding is None:
            return None
        return self.casing_embedding(inputs["casing_ids"])

    def logits_from_encoder_outputs(self, outputs, padding_mask, training=None):
        """float32 logits `[batch, seq, num_tags]` of the encoder's `outputs` (its dict, or
        `encoder_layer_states`'), as `call` computes them: for a caller that ran the
        encoder itself (a distillation student whose hidden states are matched).
        `padding_mask` is unused (every position gets logits)."""
        del padding_mask
        return self.tagger(self.tagger_dropout(outputs["sequence_output"], training=training))

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "num_tags": self.num_tags, "dropout": self.dropout,
            "initializer_range": self.initializer_range,
            "num_casing_ids": self.num_casing_ids,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
