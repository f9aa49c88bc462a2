"""BERT's masked-language-model head, evaluated only at the masked positions."""

import keras
import tensorflow as tf

from bertlab.layers.activations import get_activation
from bertlab.layers.dense_2d import Dense2D
from bertlab.layers.output_projection import OutputProjection


@keras.saving.register_keras_serializable(package="bertlab")
class MaskedLMHead(keras.layers.Layer):
    """Predicts the original tokens at masked positions (BERT's MLM head).

    Gathers the encoder's hidden states at `masked_positions`, transforms them
    (Dense + GELU + LayerNorm, BERT's "transform") and projects them onto the
    vocabulary. With `token_embedding`, the projection is tied to the input
    embedding table (Press & Wolf, 2017; Devlin et al., 2019): the logits are
    `transformed @ embeddings.T + bias`, the head owning only the bias. Only
    the `max_predictions` gathered positions go through the transform and the
    `[hidden, vocabulary]` projection, not the whole sequence.

    Under mixed precision the transform and the projection run in the compute
    dtype (bf16): the embedding table, which Keras does not autocast, is cast
    explicitly. Logits are float32.

    Args:
      vocabulary_size: output size; optional with `token_embedding` (must then
        equal its `input_dim`).
      token_embedding: a built-or-buildable `keras.layers.Embedding` to tie the
        projection to (a `BertEncoder`'s `.token_embedding`); None for an own
        `[hidden, vocabulary]` kernel.
      intermediate_activation: activation of the transform dense ("gelu", the
        exact GELU of BERT).
      layer_norm_epsilon: epsilon of the transform LayerNorm.
      kernel_initializer: initializer of the transform (and untied) kernels.

    Call: `inputs` float `[batch, seq, hidden]`, `masked_positions` int
    `[batch, max_predictions]` -> float32 logits
    `[batch, max_predictions, vocabulary_size]`. Without `masked_positions`,
    `inputs` are the hidden states at the masked positions already
    (`[batch, max_predictions, hidden]`, e.g. a `BertEncoder`'s output with
    `output_positions`).

    Serialization: `get_config` carries the tied embedding's own config (as
    keras-hub's `MaskedLMHead` does), so `from_config` of the head alone builds
    a head tied to a fresh copy of the embedding. Inside a model, the tie is
    restored by the parent: `BertPretrainer.from_config` rebuilds its encoder and
    constructs a new head with `token_embedding=encoder.token_embedding`, then
    `.keras` loading restores the weights (the table once, in the encoder).

    Example:
    >>> emb = keras.layers.Embedding(100, 16)
    >>> head = MaskedLMHead(token_embedding=emb)
    >>> head(np.zeros((2, 8, 16), "float32"), np.array([[1, 3], [0, 0]])).shape
    TensorShape([2, 2, 100])
    """

    def __init__(self, vocabulary_size=None, token_embedding=None, intermediate_activation="gelu",
                 layer_norm_epsilon=1e-12, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if isinstance(token_embedding, dict):
            token_embedding = keras.layers.deserialize(token_embedding)
        if token_embedding is None and vocabulary_size is None:
            raise ValueError("One of `vocabulary_size` or `token_embedding` must be given, "
                             "got neither.")
        if token_embedding is not None:
            if not isinstance(token_embedding, keras.layers.Embedding):
                raise ValueError("`token_embedding` must be a keras.layers.Embedding, got "
                                 f"{type(token_embedding).__name__}.")
            if vocabulary_size is not None and int(vocabulary_size) != token_embedding.input_dim:
                raise ValueError(
                    f"`vocabulary_size`={vocabulary_size} does not match the tied embedding's "
                    f"{token_embedding.input_dim} rows.")
            vocabulary_size = token_embedding.input_dim
        if int(vocabulary_size) < 1:
            raise ValueError(f"`vocabulary_size` must be positive, got {vocabulary_size}.")
        self.vocabulary_size = int(vocabulary_size)
        self.token_embedding = token_embedding
        self.intermediate_activation = intermediate_activation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, inputs_shape, masked_positions_shape=None):
        hidden_dim = inputs_shape[-1]
        if self.token_embedding is not None:
            if not self.token_embedding.built:
                self.token_embedding.build((None,))
            width = self.token_embedding.output_dim
        else:
            width = hidden_dim
        policy = self.dtype_policy
        self.transform_dense = Dense2D(
            width, activation=get_activation(self.intermediate_activation),
            kernel_initializer=self.kernel_initializer, dtype=policy, name="transform_dense")
        self.transform_dense.build((None, hidden_dim))
        self.transform_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="transform_layer_norm")
        self.transform_layer_norm.build((None, width))
        self.output_projection = OutputProjection(
            self.vocabulary_size, token_embedding=self.token_embedding,
            kernel_initializer=self.kernel_initializer, dtype=policy, name="output_projection")
        self.output_projection.build((None, width))
        self.built = True

    def call(self, inputs, masked_positions=None):
        gathered = tf.cast(inputs, self.compute_dtype)
        if masked_positions is not None:
            positions = tf.cast(masked_positions, tf.int32)
            gathered = tf.gather(gathered, positions, batch_dims=1)  # [batch, predictions, hidden]
        gathered = self.transform_dense(gathered)
        gathered = self.transform_layer_norm(gathered)
        return self.output_projection(gathered)

    def compute_output_spec(self, inputs, masked_positions=None):
        rows = inputs.shape[:-1] if masked_positions is None else masked_positions.shape
        shape = tuple(rows) + (self.vocabulary_size,)
        return keras.KerasTensor(shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            token_embedding=(None if self.token_embedding is None
                             else keras.layers.serialize(self.token_embedding)),
            intermediate_activation=self.intermediate_activation,
            layer_norm_epsilon=self.layer_norm_epsilon,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
