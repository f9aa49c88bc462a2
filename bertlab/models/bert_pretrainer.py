"""BERT pretraining model: encoder + masked-LM head + next-sentence head."""

import keras
import tensorflow as tf

from bertlab.layers.dense_2d import Dense2D
from bertlab.layers.masked_lm_head import MaskedLMHead
from bertlab.models.bert_encoder import INPUT_NAMES, as_bert_encoder
from bertlab.models import pretraining_losses
from bertlab.models import pretraining_metrics

PRETRAINER_INPUT_NAMES = INPUT_NAMES + ("masked_positions",)
LABEL_NAMES = ("masked_lm_ids", "masked_lm_weights", "next_sentence_labels")


@keras.saving.register_keras_serializable(package="bertlab")
class BertPretrainer(keras.Model):
    """A `BertEncoder` with BERT's pretraining heads (Devlin et al., 2019).

    - Masked LM: `MaskedLMHead` at `masked_positions` only, its output
      projection tied to the encoder's token embedding. The encoder's last
      layer, too, is evaluated only there and at the first token
      (`output_positions`).
    - Next sentence prediction: `Dense(2)` on `pooled_output` (optional).

    Args:
      encoder: a `BertEncoder` (or its serialized config).
      use_next_sentence_prediction: add the NSP head and loss (BERT); False for
        MLM only (RoBERTa-style).
      mlm_activation: activation of the MLM transform ("gelu").
      initializer_range: stddev of the heads' truncated-normal initializer
        (defaults to the encoder's).
      dtype: dtype policy (defaults to the encoder's).

    Inputs: dict of int32 `token_ids`, `segment_ids`, `padding_mask`
    `[batch, seq]` and `masked_positions` `[batch, max_predictions]`
    (google-research/bert's `input_ids`, `segment_ids`, `input_mask`,
    `masked_lm_positions`; `bertlab.pretraining.dataset` renames them).
    Outputs: dict of float32 `mlm_logits` `[batch, max_predictions, vocabulary]`
    and `nsp_logits` `[batch, 2]`.

    Training with Keras: `compile(optimizer)` without a `loss` and `fit` on
    `(features, labels)` with labels dict `masked_lm_ids`, `masked_lm_weights`,
    `next_sentence_labels`: `compute_loss` then returns the weighted masked-LM
    mean plus the NSP mean (plus any regularization losses) and the model
    reports `mlm_accuracy`, `mlm_perplexity` and `nsp_accuracy`. With a `loss`
    given to `compile`, Keras' usual loss handling applies instead.

    Saving: `get_config` holds the encoder's config and the head settings;
    `from_config` rebuilds the encoder and re-ties a new head to it, and `.keras`
    files then restore all weights. To export the encoder alone (for
    fine-tuning): `pretrainer.encoder.save_pretrained(dir, vocabulary)`.

    Example:
    >>> encoder = BertEncoder.from_preset("tiny", vocabulary_size=1000)
    >>> model = BertPretrainer(encoder)
    >>> model.compile(optimizer="adam")
    >>> model.fit(dataset, steps_per_epoch=10)  # (features, labels) batches
    """

    def __init__(self, encoder, use_next_sentence_prediction=True, mlm_activation="gelu",
                 initializer_range=None, dtype=None, **kwargs):
        encoder = as_bert_encoder(encoder)
        if dtype is None:
            dtype = encoder.dtype_policy
        if initializer_range is None:
            initializer_range = encoder.initializer_range
        initializer = keras.initializers.TruncatedNormal(stddev=initializer_range)

        mlm_head = MaskedLMHead(
            token_embedding=encoder.token_embedding, intermediate_activation=mlm_activation,
            layer_norm_epsilon=encoder.layer_norm_epsilon, kernel_initializer=initializer,
            dtype=dtype, name="mlm_head")
        nsp_head = None
        if use_next_sentence_prediction:
            nsp_head = Dense2D(2, kernel_initializer=initializer, dtype=dtype, name="nsp_head")

        inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
                  for name in PRETRAINER_INPUT_NAMES}
        # The encoder's last layer runs only at the masked positions (and the
        # first token, for NSP): nothing else of its output is read.
        encoded = encoder({**{name: inputs[name] for name in INPUT_NAMES},
                           "output_positions": inputs["masked_positions"]})
        outputs = {"mlm_logits": keras.layers.Activation(
            "linear", dtype="float32", name="mlm_logits")(mlm_head(encoded["sequence_output"]))}
        if nsp_head is not None:
            outputs["nsp_logits"] = keras.layers.Activation(
                "linear", dtype="float32", name="nsp_logits")(nsp_head(encoded["pooled_output"]))
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        self.encoder = encoder
        self.mlm_head = mlm_head
        self.nsp_head = nsp_head
        self.use_next_sentence_prediction = bool(use_next_sentence_prediction)
        self.mlm_activation = mlm_activation
        self.initializer_range = float(initializer_range)
        self.pretraining_metrics = pretraining_metrics.pretraining_metrics(
            self.use_next_sentence_prediction)

    # Keras training without a compiled loss.

    def _uses_pretraining_loss(self, y):
        return self._compile_loss is None and isinstance(y, dict) and all(
            name in y for name in ("masked_lm_ids", "masked_lm_weights"))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not self._uses_pretraining_loss(y):
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        loss = pretraining_losses.pretraining_loss(y, y_pred)
        for extra in self.losses:
            loss = loss + tf.cast(tf.reduce_sum(extra), loss.dtype)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if self._uses_pretraining_loss(y):
            for metric in self.pretraining_metrics:
                metric.update_state(y, y_pred)
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "use_next_sentence_prediction": self.use_next_sentence_prediction,
            "mlm_activation": self.mlm_activation,
            "initializer_range": self.initializer_range,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
