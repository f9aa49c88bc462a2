"""An encoder-decoder Transformer for translation and summarization."""

import keras
import tensorflow as tf

from bertlab.layers.bert_embeddings import BertEmbeddings
from bertlab.layers.output_projection import OutputProjection
from bertlab.layers.transformer_decoder_block import TransformerDecoderBlock
from bertlab.layers.transformer_encoder_block import TransformerEncoderBlock
from bertlab.models.bert_encoder import select_inputs

INPUT_NAMES = ("encoder_token_ids", "encoder_padding_mask",
               "decoder_token_ids", "decoder_padding_mask")


@keras.saving.register_keras_serializable(package="bertlab")
class Seq2SeqTransformer(keras.Model):
    """Encoder-decoder Transformer (Vaswani et al., 2017) returning next-token logits.

    Args:
      encoder_vocabulary_size: source vocabulary size.
      decoder_vocabulary_size: target vocabulary size; None shares the source
        vocabulary and its embedding table between encoder and decoder.
      num_encoder_layers, num_decoder_layers, hidden_dim, num_heads,
      intermediate_dim: sizes.
      max_sequence_length: longest source or target (learned positions).
      dropout, attention_dropout, activation, layer_norm_epsilon: as in BERT.
      normalize_first: pre-norm blocks with final LayerNorms (default: stable
        training from scratch); False gives post-norm (BERT2BERT).
      position_type: "sinusoidal" (default) or "learned".
      tie_output_embeddings: the output projection reuses the decoder's token
        embedding table (transposed).
      embedding_layer_norm: LayerNorm after the embedding sum (BERT-style).
      dtype: dtype policy.

    Inputs: dict of int32 `encoder_token_ids` `[b, src]`, `encoder_padding_mask`
    `[b, src]`, `decoder_token_ids` `[b, tgt]` (shifted right: starts with the
    start token), `decoder_padding_mask` `[b, tgt]`.
    Output: float32 logits `[b, tgt, decoder_vocabulary_size]`; position t
    predicts decoder token t + 1.

    Step-by-step decoding (what `bertlab.decoding` uses):
    >>> enc = model.encode(src_ids, src_mask)
    >>> cross = model.compute_cross_attention_cache(enc)
    >>> cache = model.init_self_attention_cache(batch_size, max_length)
    >>> logits, cache = model.decode_step(ids[:, :1], cache, 0, cross, src_mask)
    """

    def __init__(self, encoder_vocabulary_size, num_encoder_layers=3, num_decoder_layers=3,
                 hidden_dim=256, num_heads=4, intermediate_dim=1024,
                 decoder_vocabulary_size=None, max_sequence_length=512, dropout=0.1,
                 attention_dropout=None, activation="relu", layer_norm_epsilon=1e-6,
                 normalize_first=True, position_type="sinusoidal", tie_output_embeddings=True,
                 embedding_layer_norm=False, initializer_range=0.02, dtype=None, **kwargs):
        attention_dropout = dropout if attention_dropout is None else attention_dropout
        shared_vocabulary = decoder_vocabulary_size is None
        target_vocabulary = encoder_vocabulary_size if shared_vocabulary else decoder_vocabulary_size
        initializer = keras.initializers.TruncatedNormal(stddev=initializer_range)
        scale = position_type == "sinusoidal" and not embedding_layer_norm

        def embeddings(vocab, name):
            return BertEmbeddings(
                vocab, hidden_dim, max_sequence_length=max_sequence_length, num_segments=0,
                position_type=position_type, scale_token_embeddings=scale,
                use_layer_norm=embedding_layer_norm, dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon, initializer=initializer,
                dtype=dtype, name=name)

        encoder_embeddings = embeddings(encoder_vocabulary_size, "encoder_embeddings")
        decoder_embeddings = embeddings(target_vocabulary, "decoder_embeddings")
        if shared_vocabulary:
            # One table for source, target and (when tied) the output projection.
            decoder_embeddings.token_embedding = encoder_embeddings.token_embedding
        block_args = dict(activation=activation, dropout=dropout,
                          attention_dropout=attention_dropout,
                          layer_norm_epsilon=layer_norm_epsilon,
                          normalize_first=normalize_first, kernel_initializer=initializer,
                          dtype=dtype)
        encoder_blocks = [TransformerEncoderBlock(num_heads, intermediate_dim,
                                                  name=f"encoder_layer_{i}", **block_args)
                          for i in range(num_encoder_layers)]
        decoder_blocks = [TransformerDecoderBlock(num_heads, intermediate_dim,
                                                  name=f"decoder_layer_{i}", **block_args)
                          for i in range(num_decoder_layers)]
        encoder_final_norm = decoder_final_norm = None
        if normalize_first:
            encoder_final_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=dtype, name="encoder_final_layer_norm")
            decoder_final_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=dtype, name="decoder_final_layer_norm")
        projection = OutputProjection(
            target_vocabulary,
            token_embedding=decoder_embeddings.token_embedding if tie_output_embeddings else None,
            kernel_initializer=initializer, dtype=dtype, name="output_projection")

        inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
                  for name in INPUT_NAMES}
        x = encoder_embeddings(inputs["encoder_token_ids"])
        for block in encoder_blocks:
            x = block(x, padding_mask=inputs["encoder_padding_mask"])
        if encoder_final_norm is not None:
            x = encoder_final_norm(x)
        y = decoder_embeddings(inputs["decoder_token_ids"])
        for block in decoder_blocks:
            y = block(y, encoder_outputs=x,
                      decoder_padding_mask=inputs["decoder_padding_mask"],
                      encoder_padding_mask=inputs["encoder_padding_mask"])
        if decoder_final_norm is not None:
            y = decoder_final_norm(y)
        logits = projection(y)
        super().__init__(inputs=inputs, outputs=logits, dtype=dtype, **kwargs)

        self._policy_name = keras.dtype_policies.get(dtype).name if dtype else None
        self.encoder_embeddings = encoder_embeddings
        self.decoder_embeddings = decoder_embeddings
        self.encoder_blocks = encoder_blocks
        self.decoder_blocks = decoder_blocks
        self.encoder_final_norm = encoder_final_norm
        self.decoder_final_norm = decoder_final_norm
        self.output_projection = projection
        self.encoder_vocabulary_size = int(encoder_vocabulary_size)
        self.decoder_vocabulary_size = None if shared_vocabulary else int(decoder_vocabulary_size)
        self.target_vocabulary_size = int(target_vocabulary)
        self.num_encoder_layers = int(num_encoder_layers)
        self.num_decoder_layers = int(num_decoder_layers)
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.max_sequence_length = int(max_sequence_length)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.activation = activation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.normalize_first = bool(normalize_first)
        self.position_type = position_type
        self.tie_output_embeddings = bool(tie_output_embeddings)
        self.embedding_layer_norm = bool(embedding_layer_norm)
        self.initializer_range = float(initializer_range)

    def call(self, inputs, training=None, mask=None):
        return super().call(select_inputs(inputs, INPUT_NAMES, type(self).__name__),
                            training=training, mask=mask)

    # -- Step-by-step decoding ---------------------------------------------------------

    @property
    def head_dim(self):
        return self.hidden_dim // self.num_heads

    def encode(self, encoder_token_ids, encoder_padding_mask, training=False):
        """Source ids `[b, src]` -> encoder outputs `[b, src, hidden_dim]`."""
        x = self.encoder_embeddings(encoder_token_ids, training=training)
        for block in self.encoder_blocks:
            x = block(x, padding_mask=encoder_padding_mask, training=training)
        if self.encoder_final_norm is not None:
            x = self.encoder_final_norm(x)
        return x

    def compute_cross_attention_cache(self, encoder_outputs, per_layer=False):
        """Encoder keys/values of every decoder layer, computed once per source:
        `[b, num_decoder_layers, 2, heads, src, head_dim]` (`per_layer`: a tuple of
        `(keys, values)` pairs of `[b, heads, src, head_dim]`, which steps read
        without slicing a copy out of the stacked tensor)."""
        caches = [block.compute_cross_attention_cache(encoder_outputs)
                  for block in self.decoder_blocks]
        if per_layer:
            return tuple((c[:, 0], c[:, 1]) for c in caches)
        return tf.stack(caches, axis=1)

    def init_self_attention_cache(self, batch_size, max_length, per_layer=False):
        """Zeros `[b, num_decoder_layers, 2, heads, max_length, head_dim]` (`per_layer`:
        a tuple of `(keys, values)` pairs of `[b, heads, max_length, head_dim]`, the
        form a step loop should carry, see `TransformerLanguageModel.decode_step`)."""
        if per_layer:
            shape = [batch_size, self.num_heads, max_length, self.head_dim]
            return tuple((tf.zeros(shape, self.compute_dtype), tf.zeros(shape, self.compute_dtype))
                         for _ in range(self.num_decoder_layers))
        return tf.zeros([batch_size, self.num_decoder_layers, 2, self.num_heads, max_length,
                         self.head_dim], dtype=self.compute_dtype)

    def decode_step(self, token_ids, self_attention_cache, cache_index,
                    cross_attention_cache, encoder_padding_mask):
        """Runs the decoder on `token_ids` `[b, t]` placed at positions
        `cache_index ... cache_index + t - 1`, attending to cached earlier positions.

        Returns `(logits [b, t, vocab] float32, updated self-attention cache)`.
        Each call costs `t` positions, not the whole prefix. Either cache may be
        the stacked tensor or the `per_layer` tuple; the self-attention cache is
        returned in the form given.
        """
        y = self.decoder_embeddings(token_ids, start_index=cache_index)
        per_layer = isinstance(self_attention_cache, (tuple, list))

        def layer(cache, i):
            return cache[i] if isinstance(cache, (tuple, list)) else cache[:, i]

        new_caches = []
        for i, block in enumerate(self.decoder_blocks):
            y, layer_cache = block(
                y, encoder_padding_mask=encoder_padding_mask,
                self_attention_cache=layer(self_attention_cache, i),
                cache_update_index=cache_index,
                cross_attention_cache=layer(cross_attention_cache, i))
            new_caches.append(layer_cache)
        if self.decoder_final_norm is not None:
            y = self.decoder_final_norm(y)
        new_caches = tuple(new_caches) if per_layer else tf.stack(new_caches, axis=1)
        return self.output_projection(y), new_caches

    # -- Serialization ---------------------------------------------------------------

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "dtype": self._policy_name,
            "encoder_vocabulary_size": self.encoder_vocabulary_size,
            "decoder_vocabulary_size": self.decoder_vocabulary_size,
            "num_encoder_layers": self.num_encoder_layers,
            "num_decoder_layers": self.num_decoder_layers, "hidden_dim": self.hidden_dim,
            "num_heads": self.num_heads, "intermediate_dim": self.intermediate_dim,
            "max_sequence_length": self.max_sequence_length, "dropout": self.dropout,
            "attention_dropout": self.attention_dropout, "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "normalize_first": self.normalize_first, "position_type": self.position_type,
            "tie_output_embeddings": self.tie_output_embeddings,
            "embedding_layer_norm": self.embedding_layer_norm,
            "initializer_range": self.initializer_range,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
