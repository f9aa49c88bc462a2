"""Continuing prompts with a decoder-only language model: prefill, then token by token.

`LanguageModelGenerator` takes a batch of prompts of different lengths (token
ids, each starting with the context token the model saw before every document)
and generates up to `max_new_tokens` tokens after each, with the model's
key/value cache:

1. Prefill: the whole right-padded prompt batch `[n, P]` goes through the
   model in one call (one big matmul per layer instead of `m - 1` small
   ones, `m` the shortest prompt's length). Its keys and values at positions
   `< m - 1` are each row's own (attention is causal, and those positions hold
   prompt tokens in every row); later positions are written again by the steps
   before any query reads them. The call's shape does not depend on the
   prompts' lengths, so XLA compiles it too: an XLA export used to feed every
   prompt token through the loop, 95 steps instead of 64 for 32-token prompts
   and 64 new tokens (`benchmarks/lm_generation_speed.py`).
2. Steps: from position `m - 1` on, one token per step. A row whose prompt is
   longer than the step's position is fed its own next prompt token (no
   choice, no log-probability); a row past its prompt chooses its next token
   (greedy or sampled, after the `LogitsProcessor`). So every row sees exactly
   its own prompt at its own positions, with no padding anywhere in the
   attention: a prompt's completion is the same alone or in any batch (for
   greedy search exactly; for sampling, with the same seed and the same
   prompt lengths in the batch, since the draw of step `index` is seeded by
   `index`).

The repetition penalty and the no-repeat n-gram rule see the prompt (after its
context token) and the generated tokens, as Hugging Face's `generate` does.
Beam search (`method: beam`) runs each prompt alone (`tf.map_fn`), with the
prompt prefilled and only the generated tokens seen by the logits rules.

Settings that a served request may set (`max_new_tokens`, `temperature`,
`top_k`, `top_p`, `seed`) may be scalar tensors; a `temperature` of 0 (or
below) then means greedy search for that call.

Example:
>>> generator = LanguageModelGenerator(model, DecodingConfig(method="sample", top_p=0.9,
...                                    max_length=64), end_of_document_id=3)
>>> out = generator.generate(prompt_ids, prompt_lengths)
>>> out.token_ids.shape     # the completions, end token included, then padding
TensorShape([batch, 64])
"""

import tensorflow as tf

from bertlab.decoding.beam_search import beam_search, tile_for_beams
from bertlab.decoding.logits_processing import NEG_INF, LogitsProcessor
from bertlab.decoding.sampling import sampling_choice
from bertlab.decoding.seq2seq_generator import check_generation_ids
from bertlab.decoding.step_decoding import (GenerationOutput, static_while_loop,
                                             write_position)


def greedy_choice(logits, index):
    """`choose_fn` of greedy search: the arg-max token and its log-probability."""
    del index
    next_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    return next_ids, tf.gather(log_probs, next_ids, axis=1, batch_dims=1)


def keep_last_tokens(token_ids, count):
    """The last `count` tokens of each row of a ragged `[n, None]` batch (all of a
    shorter row): how a prompt longer than the context window is cut."""
    lengths = token_ids.row_lengths()
    count = tf.cast(count, lengths.dtype)
    starts = tf.maximum(lengths - count, 0)
    positions = tf.ragged.range(starts, lengths)
    return tf.gather(token_ids, positions, batch_dims=1)


def continue_prompts(step_fn, initial_state, token_ids, prompt_lengths, first_index,
                     max_new_tokens, room, end_token_id, pad_token_id, logits_processor,
                     choose_fn, min_new_tokens=0):
    """The step loop of greedy search and sampling after a prefill.

    Args:
      step_fn: `bertlab.decoding.step_decoding`'s contract, fed the buffer's
        token at `index` (model position `index`).
      initial_state: the cache after the prefill of positions `0 ... first_index - 1`.
      token_ids: int32 `[n, T]` buffer: each row's prompt, then `pad_token_id`;
        `T >= max(prompt_lengths) + max_new_tokens`.
      prompt_lengths: int32 `[n]`, each >= `first_index + 1`.
      first_index: int32 scalar, the first position fed by the loop.
      max_new_tokens: int32 scalar, most tokens generated per row (end token included).
      room: columns of the completions (>= `max_new_tokens`; a Python int keeps the
        output's shape static).
      end_token_id, pad_token_id, logits_processor: as in `greedy_search`.
      choose_fn: `(logits, index) -> (ids [n], log_probs [n])`.
      min_new_tokens: the end token is banned before this many generated tokens.

    Returns:
      `GenerationOutput` whose `token_ids` are `[n, room]` completions,
      left-aligned (end token included, then padding).
    """
    n = tf.shape(token_ids)[0]
    width = tf.shape(token_ids)[1]
    pad = tf.cast(pad_token_id, tf.int32)
    prompt_lengths = tf.cast(prompt_lengths, tf.int32)
    max_new_tokens = tf.cast(max_new_tokens, tf.int32)
    last_index = tf.reduce_max(prompt_lengths) + max_new_tokens - 1  # last position written

    def cond(index, token_ids, state, finished, log_probs, lengths):
        return (index < last_index) & tf.logical_not(tf.reduce_all(finished))

    def body(index, token_ids, state, finished, log_probs, lengths):
        logits, state = step_fn(token_ids, index, state)
        logits = tf.cast(logits, tf.float32)
        if logits_processor is not None:
            logits = logits_processor(logits, token_ids, index)
        if min_new_tokens:
            end_column = tf.one_hot(end_token_id, tf.shape(logits)[1], on_value=True,
                                    off_value=False)
            logits = tf.where((lengths < min_new_tokens)[:, None] & end_column[None, :],
                              tf.cast(NEG_INF, logits.dtype), logits)
        chosen, chosen_log_probs = choose_fn(logits, index)
        in_prompt = index + 1 < prompt_lengths
        generating = tf.logical_not(in_prompt | finished)
        current = tf.gather(token_ids, tf.minimum(index + 1, width - 1), axis=1)
        next_ids = tf.where(in_prompt, current,
                            tf.where(finished, pad, tf.cast(chosen, tf.int32)))
        log_probs += tf.where(generating, chosen_log_probs, 0.0)
        lengths += tf.cast(generating, tf.int32)
        token_ids = write_position(token_ids, index + 1, next_ids)
        finished |= generating & (tf.equal(next_ids, end_token_id)
                                  | (lengths >= max_new_tokens))
        return index + 1, token_ids, state, finished, log_probs, lengths

    loop_vars = (tf.cast(first_index, tf.int32), token_ids, initial_state,
                 tf.zeros([n], tf.bool) | (max_new_tokens <= 0), tf.zeros([n], tf.float32),
                 tf.zeros([n], tf.int32))
    _, token_ids, _, _, log_probs, lengths = static_while_loop(
        cond, body, loop_vars, maximum_iterations=width)
    # Completions start right after each prompt.
    positions = prompt_lengths[:, None] + tf.range(room)[None, :]
    completions = tf.gather(token_ids, tf.minimum(positions, width - 1), batch_dims=1)
    completions = tf.where(tf.range(room)[None, :] < lengths[:, None], completions, pad)
    return GenerationOutput(completions, lengths, log_probs, log_probs)


class LanguageModelGenerator:
    """Generates continuations of prompts with a `TransformerLanguageModel`.

    Args:
      model: a `TransformerLanguageModel` (`decode_step`, `init_cache`,
        `max_sequence_length`, `vocabulary_size`).
      config: `DecodingConfig`: `method` ("greedy", "sample", "beam"),
        `max_length` (the most new tokens; the default of `generate`),
        sampling, beam and logits-rule settings; `min_length` is the fewest
        new tokens.
      end_of_document_id: the token that ends a document, and begins every
        prompt as its context; generation of a row stops after it.
      pad_token_id: fills the completions after their end.
      suppressed_token_ids: never generated (default: the padding id, unless
        it is the end-of-document id).

    `generate(prompt_ids, prompt_lengths, ...)`: see its docstring.
    """

    def __init__(self, model, config, end_of_document_id, pad_token_id=0,
                 suppressed_token_ids=None):
        check_generation_ids(model.vocabulary_size, config,
                             end_of_document_id=end_of_document_id, pad_token_id=pad_token_id)
        if config.max_length >= model.max_sequence_length:
            raise ValueError(f"`max_length`={config.max_length} new tokens leave no room for a "
                             f"prompt in the context window of {model.max_sequence_length}.")
        self.model = model
        self.config = config
        self.end_of_document_id = int(end_of_document_id)
        self.pad_token_id = int(pad_token_id)
        if suppressed_token_ids is None:
            suppressed_token_ids = sorted({self.pad_token_id} - {self.end_of_document_id})
        self.logits_processor = LogitsProcessor(
            repetition_penalty=config.repetition_penalty,
            no_repeat_ngram_size=config.no_repeat_ngram_size,
            suppressed_token_ids=suppressed_token_ids)

    @property
    def max_prompt_length(self):
        """Prompt tokens kept with `config.max_length` new tokens (context token included)."""
        return self.model.max_sequence_length - self.config.max_length

    def prompt_batch(self, token_ids, max_new_tokens=None):
        """Ragged prompt ids `[n, None]` (context token first) -> `(token_ids int32 [n, P],
        lengths int32 [n])`, each prompt cut to its last `context - max_new_tokens`
        tokens (default `config.max_length`) and padded on the right."""
        max_new_tokens = self.config.max_length if max_new_tokens is None else max_new_tokens
        keep = self.model.max_sequence_length - tf.cast(max_new_tokens, tf.int64)
        token_ids = keep_last_tokens(tf.cast(token_ids, tf.int32), keep)
        return (token_ids.to_tensor(default_value=self.pad_token_id),
                tf.cast(token_ids.row_lengths(), tf.int32))

    def generate(self, prompt_ids, prompt_lengths, max_new_tokens=None, temperature=None,
                 top_k=None, top_p=None, seed=None, room=None, prefill=True):
        """Completions of a batch of prompts.

        Args:
          prompt_ids: int32 `[n, P]` right-padded prompts, each beginning with
            the context token (an empty prompt is that token alone).
          prompt_lengths: int32 `[n]`, in `[1, P]`; `max(prompt_lengths) +
            max_new_tokens` must fit the context window (`prompt_batch` cuts
            prompts so that it does).
          max_new_tokens: most new tokens (end token included); a Python int
            or an int32 scalar tensor; default `config.max_length`.
          temperature, top_k, top_p: sampling settings replacing the config's
            (scalars or scalar tensors; a temperature <= 0 means greedy).
            Passing any of them samples, whatever `config.method`.
          seed: int scalar, replaces `config.seed`.
          room: columns for new tokens in the buffers (default `max_new_tokens`);
            a Python int >= `max_new_tokens` keeps the shapes static when
            `max_new_tokens` is a tensor (XLA).
          prefill: run the prompts through the model in one call before the
            loop (False: every prompt token is fed by a step of the loop).

        Returns:
          `GenerationOutput`: `token_ids` int32 `[n, W]` completions (`W =
          room` for greedy search and sampling, `config.max_length` for beam
          search; the end token
          included when generated, then `pad_token_id`), `lengths` `[n]`,
          `log_probs`, `scores`.
        """
        config = self.config
        if max_new_tokens is None:
            max_new_tokens = config.max_length
        elif isinstance(max_new_tokens, int) and not 0 < max_new_tokens <= config.max_length:
            raise ValueError(f"`max_new_tokens` must be in [1, {config.max_length}], "
                             f"got {max_new_tokens}.")
        prompt_ids = tf.cast(prompt_ids, tf.int32)
        prompt_lengths = tf.cast(prompt_lengths, tf.int32)
        sampling_overridden = any(v is not None for v in (temperature, top_k, top_p, seed))
        if config.method == "beam" and not sampling_overridden:
            return self._beam_search(prompt_ids, prompt_lengths)
        n = tf.shape(prompt_ids)[0]
        room = max_new_tokens if room is None else room
        buffer = tf.concat([prompt_ids, tf.fill([n, room], self.pad_token_id)],
                           axis=1)
        cache = self.model.init_cache(n, tf.shape(buffer)[1], per_layer=True)
        first_index = 0
        if prefill:
            # All of `prompt_ids` (a static shape, for XLA); the loop starts at the
            # shortest prompt's last token and rewrites the cache from there on.
            first_index = tf.maximum(tf.reduce_min(prompt_lengths), 1) - 1
            _, cache = self.model.decode_step(prompt_ids, cache, 0, compute_logits=False)
        choose = self._choice(temperature, top_k, top_p, seed, sampling_overridden)
        return continue_prompts(self.model.step_function(), cache, buffer, prompt_lengths,
                                first_index, max_new_tokens, room, self.end_of_document_id,
                                self.pad_token_id, self.logits_processor, choose,
                                min_new_tokens=config.min_length)

    def _choice(self, temperature, top_k, top_p, seed, sampling_overridden):
        config = self.config
        if not sampling_overridden:
            if config.method == "greedy":
                return greedy_choice
            return sampling_choice(config.temperature, config.top_k, config.top_p,
                                   (config.seed, 0))
        temperature = config.temperature if temperature is None else temperature
        sample = sampling_choice(
            temperature, config.top_k if top_k is None else top_k,
            config.top_p if top_p is None else top_p,
            tf.stack([tf.cast(config.seed if seed is None else seed, tf.int32), 0]))
        if isinstance(temperature, (int, float)):
            return greedy_choice if temperature <= 0 else sample

        def choose(logits, index):
            greedy_ids, greedy_log_probs = greedy_choice(logits, index)
            sampled_ids, sampled_log_probs = sample(logits, index)
            is_greedy = tf.cast(temperature, tf.float32) <= 0.0
            return (tf.where(is_greedy, greedy_ids, sampled_ids),
                    tf.where(is_greedy, greedy_log_probs, sampled_log_probs))

        return choose

    def _beam_search(self, prompt_ids, prompt_lengths):
        config, model = self.config, self.model
        width = config.beam_width
        max_length = config.max_length

        def one_prompt(row):
            ids, length = row
            prompt = ids[None, :length]
            cache = model.init_cache(1, length - 1 + max_length, per_layer=True)
            _, cache = model.decode_step(prompt[:, :-1], cache, 0, compute_logits=False)
            cache = tf.nest.map_structure(lambda c: tile_for_beams(c, width), cache)
            out = beam_search(model.step_function(position_offset=length - 1),
                              cache, prompt[:, -1], max_length,
                              self.end_of_document_id, width,
                              length_penalty=config.length_penalty,
                              pad_token_id=self.pad_token_id,
                              logits_processor=self.logits_processor)
            return GenerationOutput(out.token_ids[0], out.lengths[0], out.log_probs[0],
                                    out.scores[0])

        spec = GenerationOutput(tf.TensorSpec([max_length], tf.int32),
                                tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32),
                                tf.TensorSpec([], tf.float32))
        return tf.map_fn(one_prompt, (prompt_ids, prompt_lengths), fn_output_signature=spec)
