"""Generation from a `Seq2SeqTransformer`: encode once, then decode step by step."""

import dataclasses

import tensorflow as tf

from bertlab.decoding.beam_search import beam_search, tile_for_beams
from bertlab.decoding.greedy import greedy_search
from bertlab.decoding.logits_processing import LogitsProcessor
from bertlab.decoding.sampling import sample

METHODS = ("greedy", "beam", "sample")


@dataclasses.dataclass
class DecodingConfig:
    """How to generate (the `decoding:` section of app configs).

    Fields:
      method: "greedy", "beam" or "sample".
      max_length: most generated tokens (end token included).
      beam_width, length_penalty: beam search (GNMT alpha).
      temperature, top_k, top_p, seed: sampling.
      repetition_penalty, no_repeat_ngram_size, min_length: for every method.
    """

    method: str = "beam"
    max_length: int = 64
    beam_width: int = 4
    length_penalty: float = 0.6
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    min_length: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}, got {self.method!r}.")
        if self.max_length < 1:
            raise ValueError(f"`max_length` must be positive, got {self.max_length}.")
        if self.beam_width < 1:
            raise ValueError(f"`beam_width` must be positive, got {self.beam_width}.")
        if self.length_penalty < 0:
            raise ValueError(f"`length_penalty` must be >= 0, got {self.length_penalty}.")
        if self.temperature <= 0:
            raise ValueError(f"`temperature` must be positive, got {self.temperature}.")
        if self.top_k < 0:
            raise ValueError(f"`top_k` must be >= 0, got {self.top_k}.")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"`top_p` must be in (0, 1], got {self.top_p}.")
        if self.repetition_penalty <= 0:
            raise ValueError(
                f"`repetition_penalty` must be positive, got {self.repetition_penalty}.")
        if self.no_repeat_ngram_size < 0:
            raise ValueError(
                f"`no_repeat_ngram_size` must be >= 0, got {self.no_repeat_ngram_size}.")
        if not 0 <= self.min_length <= self.max_length:
            raise ValueError(f"`min_length` must be in [0, max_length], got {self.min_length}.")


def with_export_overrides(config, beam_width=None, max_length=None):
    """`config` with the beam width and maximum length an export fixes (the apps'
    `--export_beam_width`, `--export_max_length` flags; None keeps the config's).
    A beam width of 1 turns beam search into greedy search."""
    changes = {}
    if beam_width is not None:
        if int(beam_width) < 1:
            raise ValueError(f"The export beam width must be positive, got {beam_width}.")
        changes["beam_width"] = int(beam_width)
        if int(beam_width) == 1 and config.method == "beam":
            changes["method"] = "greedy"
    if max_length is not None:
        if int(max_length) < 1:
            raise ValueError(f"The export max length must be positive, got {max_length}.")
        changes["max_length"] = int(max_length)
        changes["min_length"] = min(config.min_length, int(max_length))
    return dataclasses.replace(config, **changes)


def check_generation_ids(vocabulary_size, config, **token_ids):
    """Raises `ValueError` naming a special token id (`name=value`) outside the
    vocabulary, or a beam (`config`) too wide for it: the checks every generator
    makes before it builds its graph."""
    for name, value in token_ids.items():
        if not 0 <= int(value) < vocabulary_size:
            raise ValueError(f"`{name}`={value} is outside the vocabulary "
                             f"(size {vocabulary_size}).")
    if config.method == "beam" and 2 * config.beam_width > vocabulary_size:
        raise ValueError(f"`beam_width`={config.beam_width} is too large for a "
                         f"vocabulary of {vocabulary_size}.")


class Seq2SeqGenerator:
    """Generates target token ids from source token ids with a `Seq2SeqTransformer`.

    The encoder runs once; the cross-attention keys/values of every decoder
    layer are computed once (and, for beam search, tiled once to
    `[batch * beam, ...]`); then each step feeds one token through
    `model.decode_step` with the self-attention cache. Everything is graph-
    compatible: call `generate` inside a `tf.function` (XLA optional) or export it.

    Args:
      model: a `Seq2SeqTransformer`.
      config: `DecodingConfig`.
      start_token_id, end_token_id, pad_token_id: the target vocabulary's ids.
      suppressed_token_ids: never generated; defaults to the pad and start ids.
      use_cache: False re-runs the full decoder over the prefix at every step
        (slow; a reference for tests).

    Example:
    >>> gen = Seq2SeqGenerator(model, DecodingConfig(max_length=32), 2, 3, 0)
    >>> out = gen.generate(source_ids, source_mask)
    >>> out.token_ids.shape
    TensorShape([batch, 32])
    """

    def __init__(self, model, config, start_token_id, end_token_id, pad_token_id=0,
                 suppressed_token_ids=None, use_cache=True):
        if config.max_length > model.max_sequence_length and model.position_type == "learned":
            raise ValueError(
                f"`max_length`={config.max_length} exceeds the model's "
                f"max_sequence_length={model.max_sequence_length}.")
        check_generation_ids(model.target_vocabulary_size, config, start_token_id=start_token_id,
                             end_token_id=end_token_id, pad_token_id=pad_token_id)
        self.model = model
        self.config = config
        self.start_token_id = int(start_token_id)
        self.end_token_id = int(end_token_id)
        self.pad_token_id = int(pad_token_id)
        if suppressed_token_ids is None:
            suppressed_token_ids = sorted({self.pad_token_id, self.start_token_id}
                                          - {self.end_token_id})
        self.use_cache = bool(use_cache)
        self.logits_processor = LogitsProcessor(
            repetition_penalty=config.repetition_penalty,
            no_repeat_ngram_size=config.no_repeat_ngram_size,
            suppressed_token_ids=suppressed_token_ids, min_length=config.min_length,
            end_token_id=self.end_token_id)

    def _cached_step_fn(self, cross_cache, source_mask):
        model = self.model

        def step_fn(token_ids, index, cache):
            current = tf.gather(token_ids, index, axis=1)[:, None]
            logits, cache = model.decode_step(current, cache, index, cross_cache, source_mask)
            return logits[:, 0, :], cache

        return step_fn

    def _uncached_step_fn(self, source_ids, source_mask):
        model = self.model

        def step_fn(token_ids, index, state):
            inputs = {"encoder_token_ids": source_ids, "encoder_padding_mask": source_mask,
                      "decoder_token_ids": token_ids[:, :-1],
                      "decoder_padding_mask": tf.ones_like(token_ids[:, :-1])}
            logits = model(inputs, training=False)
            return tf.gather(logits, index, axis=1), state

        return step_fn

    def generate(self, encoder_token_ids, encoder_padding_mask):
        """Source ids/mask int32 `[batch, src]` -> `GenerationOutput` (`token_ids`
        `[batch, max_length]`, padded after the end token)."""
        config = self.config
        source_ids = tf.cast(encoder_token_ids, tf.int32)
        source_mask = tf.cast(encoder_padding_mask, tf.int32)
        batch = tf.shape(source_ids)[0]
        start_ids = tf.fill([batch], self.start_token_id)
        width = config.beam_width if config.method == "beam" else 1
        if width > 1:
            source_ids_k = tile_for_beams(source_ids, width)
            source_mask_k = tile_for_beams(source_mask, width)
        else:
            source_ids_k, source_mask_k = source_ids, source_mask
        if self.use_cache:
            encoded = self.model.encode(source_ids, source_mask)
            # Per-layer (keys, values) pairs: the steps read them as they are, and the
            # self-attention pairs are updated in place (see `decode_step`).
            cross_cache = self.model.compute_cross_attention_cache(encoded, per_layer=True)
            if width > 1:
                cross_cache = tf.nest.map_structure(lambda c: tile_for_beams(c, width),
                                                    cross_cache)
            step_fn = self._cached_step_fn(cross_cache, source_mask_k)
            state = self.model.init_self_attention_cache(batch * width, config.max_length,
                                                         per_layer=True)
        else:
            step_fn = self._uncached_step_fn(source_ids_k, source_mask_k)
            state = tf.zeros([batch * width, 1])
        common = dict(max_length=config.max_length, end_token_id=self.end_token_id,
                      pad_token_id=self.pad_token_id, logits_processor=self.logits_processor)
        if config.method == "greedy":
            return greedy_search(step_fn, state, start_ids, **common)
        if config.method == "beam":
            return beam_search(step_fn, state, start_ids, beam_width=config.beam_width,
                               length_penalty=config.length_penalty, **common)
        return sample(step_fn, state, start_ids, temperature=config.temperature,
                      top_k=config.top_k, top_p=config.top_p, seed=(config.seed, 0), **common)
