"""A decoder-only Transformer language model (GPT-2's layout)."""

import keras
import tensorflow as tf

from bertlab.layers.bert_embeddings import BertEmbeddings
from bertlab.layers.output_projection import OutputProjection
from bertlab.layers.transformer_decoder_block import TransformerDecoderBlock
from bertlab.models.bert_encoder import select_inputs, token_inputs

# Sizes: "tiny" and "mini" train on the 2-core CPU in minutes; "small" is half of
# GPT-2 small (124M) in depth, GPT-2's width being 768.
LANGUAGE_MODEL_PRESETS = {
    "tiny": dict(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=512),
    "mini": dict(num_layers=4, hidden_dim=256, num_heads=4, intermediate_dim=1024),
    "small": dict(num_layers=6, hidden_dim=512, num_heads=8, intermediate_dim=2048),
}

INPUT_NAMES = ("token_ids", "padding_mask")


@keras.saving.register_keras_serializable(package="bertlab")
class TransformerLanguageModel(keras.Model):
    """Causal language model (Radford et al., 2019, "Language Models are Unsupervised
    Multitask Learners"): next-token logits from a decoder-only Transformer.

    Token embeddings plus learned positions, `num_layers` pre-norm blocks
    (LayerNorm -> causal self-attention -> residual, LayerNorm -> feed-forward
    -> residual), a final LayerNorm, and an output projection tied to the token
    embedding table (no separate output kernel, no output bias, as GPT-2).

    Args:
      vocabulary_size: number of token ids.
      num_layers, hidden_dim, num_heads, intermediate_dim: sizes (see
        `LANGUAGE_MODEL_PRESETS` and `from_preset`).
      max_sequence_length: the context window (rows of the position table);
        training sequences and the decoding cache are at most this long.
      dropout: on the embeddings and every residual branch; `attention_dropout`
        (on the attention probabilities) defaults to it.
      activation: feed-forward activation ("gelu_approximate" is GPT-2's).
      layer_norm_epsilon: LayerNorm epsilon.
      initializer_range: stddev of the truncated-normal initializer.
      dtype: dtype policy, e.g. "mixed_bfloat16": weights stay float32, the
        computation runs in bfloat16, the attention softmax and the logits in
        float32, so a loss on the logits is float32.

    Inputs: dict of int32 `token_ids` `[batch, seq]` and `padding_mask`
    `[batch, seq]` (1 = token, 0 = padding; padded keys are never attended,
    so right padding leaves the real positions' logits unchanged).
    Output: float32 logits `[batch, seq, vocabulary_size]`; position t predicts
    token t + 1 (train with labels = ids shifted left by one, weighted by the
    labels' padding mask).

    Example:
    >>> model = TransformerLanguageModel.from_preset("tiny", vocabulary_size=1000)
    >>> logits = model({"token_ids": ids, "padding_mask": tf.ones_like(ids)})
    >>> logits.shape
    (batch, seq, 1000)

    Step-by-step decoding with a key/value cache (see `decode_step` and
    `step_function`, which fits `bertlab.decoding`'s greedy, sampling and beam
    search):
    >>> cache = model.init_cache(batch_size, max_length)
    >>> logits, cache = model.decode_step(prompt_ids, cache, 0)   # the whole prompt
    >>> logits, cache = model.decode_step(next_ids, cache, prompt_length)  # one token
    """

    def __init__(self, vocabulary_size, num_layers, hidden_dim, num_heads, intermediate_dim,
                 max_sequence_length=512, dropout=0.1, attention_dropout=None,
                 activation="gelu_approximate", layer_norm_epsilon=1e-5, initializer_range=0.02,
                 dtype=None, **kwargs):
        for name, value in (("vocabulary_size", vocabulary_size), ("num_layers", num_layers),
                            ("hidden_dim", hidden_dim), ("num_heads", num_heads),
                            ("intermediate_dim", intermediate_dim),
                            ("max_sequence_length", max_sequence_length)):
            if int(value) < 1:
                raise ValueError(f"`{name}` must be positive, got {value}.")
        if int(hidden_dim) % int(num_heads):
            raise ValueError(
                f"`hidden_dim`={hidden_dim} is not divisible by `num_heads`={num_heads}.")
        attention_dropout = dropout if attention_dropout is None else attention_dropout
        initializer = keras.initializers.TruncatedNormal(stddev=initializer_range)

        embeddings = BertEmbeddings(
            vocabulary_size, hidden_dim, max_sequence_length=max_sequence_length,
            num_segments=0, position_type="learned", use_layer_norm=False, dropout=dropout,
            initializer=initializer, dtype=dtype, name="embeddings")
        blocks = [
            TransformerDecoderBlock(
                num_heads, intermediate_dim, activation=activation, dropout=dropout,
                attention_dropout=attention_dropout, layer_norm_epsilon=layer_norm_epsilon,
                normalize_first=True, kernel_initializer=initializer, use_cross_attention=False,
                dtype=dtype, name=f"decoder_layer_{i}")
            for i in range(num_layers)
        ]
        final_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="final_layer_norm")
        projection = OutputProjection(vocabulary_size, token_embedding=embeddings.token_embedding,
                                      use_bias=False, dtype=dtype, name="output_projection")

        inputs = token_inputs(INPUT_NAMES)
        x = embeddings(inputs["token_ids"])
        for block in blocks:
            x = block(x, decoder_padding_mask=inputs["padding_mask"])
        logits = projection(final_layer_norm(x))
        super().__init__(inputs=inputs, outputs=logits, dtype=dtype, **kwargs)

        self._policy_name = keras.dtype_policies.get(dtype).name if dtype else None
        self.embeddings = embeddings
        self.decoder_layers = blocks
        self.final_layer_norm = final_layer_norm
        self.output_projection = projection
        self.vocabulary_size = int(vocabulary_size)
        self.num_layers = int(num_layers)
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.max_sequence_length = int(max_sequence_length)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.activation = activation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.initializer_range = float(initializer_range)

    def call(self, inputs, training=None, mask=None):
        return super().call(select_inputs(inputs, INPUT_NAMES, type(self).__name__),
                            training=training, mask=mask)

    # -- Step-by-step decoding ---------------------------------------------------------

    @property
    def head_dim(self):
        return self.hidden_dim // self.num_heads

    def init_cache(self, batch_size, max_length=None, per_layer=False):
        """Zeros `[batch, num_layers, 2, heads, max_length, head_dim]` in the layers'
        compute dtype (bfloat16 under `mixed_bfloat16`): room for the keys and values
        of `max_length` positions (default: the whole context window).

        `per_layer=True`: the same zeros as a tuple of `num_layers` `(keys, values)`
        pairs of `[batch, heads, max_length, head_dim]`, the form a step loop should
        carry (see `decode_step`)."""
        max_length = self.max_sequence_length if max_length is None else max_length
        if isinstance(max_length, int) and not 0 < max_length <= self.max_sequence_length:
            raise ValueError(f"`max_length`={max_length} must be in [1, "
                             f"max_sequence_length={self.max_sequence_length}].")
        if per_layer:
            shape = [batch_size, self.num_heads, max_length, self.head_dim]
            dtype = self.embeddings.compute_dtype
            return tuple((tf.zeros(shape, dtype), tf.zeros(shape, dtype))
                         for _ in range(self.num_layers))
        return tf.zeros([batch_size, self.num_layers, 2, self.num_heads, max_length,
                         self.head_dim], dtype=self.embeddings.compute_dtype)

    def decode_step(self, token_ids, cache, cache_index, compute_logits=True):
        """Runs `token_ids` int `[batch, t]` at positions `cache_index ...
        cache_index + t - 1`, attending to themselves (causally) and to the
        positions already in `cache`.

        Feed a whole prompt at once (`cache_index` 0), then one token per call.
        Returns `(logits [batch, t, vocabulary_size] float32, updated cache)`;
        the logits equal those of the full forward pass on the whole prefix.

        `cache` is `init_cache`'s tensor or its `per_layer` tuple, and is
        returned in the same form. A step loop should carry the tuple: each
        layer's keys and values are then updated in place and attended as they
        are, where the stacked tensor is sliced per layer, split into keys and
        values and stacked again, five copies of the whole cache per step.

        `compute_logits=False` returns `(None, cache)`: a prefill that only fills
        the cache skips the output projection (for 16 prompts of 32 tokens and
        8,000 token ids, a `[512, 256] x [256, 8000]` matmul).
        """
        x = self.embeddings(token_ids, start_index=cache_index)
        per_layer = isinstance(cache, (tuple, list))
        new_caches = []
        for i, block in enumerate(self.decoder_layers):
            x, layer_cache = block(x, self_attention_cache=cache[i] if per_layer else cache[:, i],
                                   cache_update_index=cache_index)
            new_caches.append(layer_cache)
        new_caches = tuple(new_caches) if per_layer else tf.stack(new_caches, axis=1)
        if not compute_logits:
            return None, new_caches
        return self.output_projection(self.final_layer_norm(x)), new_caches

    def step_function(self, position_offset=0):
        """A step function in `bertlab.decoding`'s contract, state = the cache.

        `step_fn(token_ids [n, L + 1], index, cache) -> (logits [n, vocab], cache)`
        feeds the token at buffer position `index`, which sits at model position
        `index + position_offset`. With a prompt of length p already in the cache
        by `decode_step(prompt[:, :-1], cache, 0)`, pass `position_offset=p - 1`
        and start the search from the prompt's last token; the cache must hold
        `p - 1 + max_length` positions.

        Example:
        >>> out = greedy_search(model.step_function(), model.init_cache(n, 32),
        ...                     tf.fill([n], end_of_document_id), 32, end_of_document_id)
        """

        def step_fn(token_ids, index, cache):
            current = tf.gather(token_ids, index, axis=1)[:, None]
            logits, cache = self.decode_step(current, cache, index + position_offset)
            return logits[:, 0, :], cache

        return step_fn

    # -- Serialization ---------------------------------------------------------------

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "dtype": self._policy_name,
            "vocabulary_size": self.vocabulary_size, "num_layers": self.num_layers,
            "hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "max_sequence_length": self.max_sequence_length, "dropout": self.dropout,
            "attention_dropout": self.attention_dropout, "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "initializer_range": self.initializer_range,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_preset(cls, preset, vocabulary_size, **kwargs):
        """A randomly initialised model of a named size (`LANGUAGE_MODEL_PRESETS`);
        `kwargs` override the preset or set the other arguments."""
        if preset not in LANGUAGE_MODEL_PRESETS:
            raise ValueError(f"Unknown preset {preset!r}; choose one of "
                             f"{sorted(LANGUAGE_MODEL_PRESETS)}.")
        return cls(vocabulary_size=vocabulary_size,
                   **{**LANGUAGE_MODEL_PRESETS[preset], **kwargs})
