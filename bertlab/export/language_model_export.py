"""Raw text in, continued text and text scores out: the language model's SavedModel.

The whole path runs in the graph (tokenization with tensorflow-text's
SentencePiece op, generation with the key/value cache, detokenization), so
stock TF Serving serves it; loading it needs only `tensorflow` and
`import tensorflow_text`.

Signatures:
- `serving_default`: `prompt` tf.string `[None]` -> `completion` tf.string
  `[None]`, with the export's decoding settings (`DecodingConfig`).
- `generate`: `prompt` `[None]` and scalars `max_new_tokens` int32,
  `temperature` float32 (0 = greedy), `top_k` int32 (0 = off), `top_p`
  float32 (1.0 = off), `seed` int32 -> `completion` `[None]`, `num_tokens`
  int32 `[None]` (new tokens, end-of-document token included). Always greedy or
  sampled, with the export's repetition rules. Values out of range are
  refused (`InvalidArgumentError`: a 400 from a server).
- `score_text`: `text` `[None]` -> `log_likelihood` float32 `[None]` (natural
  log, of every token of the text, each predicted from the end-of-document
  token and the text before it), `num_tokens` int32, `num_chars` int32
  (Unicode code points): perplexity = exp(-log_likelihood / num_tokens), bits
  per character = -log_likelihood / ln 2 / num_chars. A text longer than the
  context window is scored in windows `score_stride` tokens apart, every token
  once (`bertlab.text.scoring_windows`).
- `serve_token_ids`: `token_ids` int32 `[None, None]`, `padding_mask` int32
  `[None, None]` (prompts as the model sees them: the end-of-document token
  first, right-padded) -> `token_ids` int32 `[None, None]` completions,
  `lengths` int32 `[None]`.

Warm-up: `save` writes `generate`'s warm-up requests (the default ones, with at
most `max_length` new tokens: the default 3 would be refused by an export that
allows fewer, and the server would refuse the export); `prepare_for_serving`
adds the other signatures'.

Prompts: an empty prompt generates from the end-of-document token alone (the
start of a document); a prompt longer than the context window minus the new
tokens keeps its last tokens (`max_prompt_tokens` in the metadata, for the
default decoding). Invalid UTF-8 is replaced (U+FFFD), never an error.

Example:
>>> module = LanguageModelModule(model, tokenizer, DecodingConfig(method="sample",
...                              top_p=0.9, max_length=64), score_stride=128)
>>> module.complete(tf.constant(["It was a dark and stormy night"]))
>>> module.save("/tmp/export/1")
"""

import numpy as np
import tensorflow as tf

from bertlab.decoding.language_model_generator import LanguageModelGenerator
from bertlab.export.warmup import (SCALAR_INT_VALUE, default_warmup_examples, signature_inputs,
                                   write_warmup_requests)
from bertlab.models.dtype_policy_copy import copy_with_dtype_policy
from bertlab.models.language_model_metrics import count_characters
from bertlab.text.scoring_windows import batch_scoring_windows

GENERATE_SIGNATURE = "generate"
SCORE_SIGNATURE = "score_text"
TOKEN_IDS_SIGNATURE = "serve_token_ids"
# Scoring windows per model call of `score_text`.
SCORE_WINDOWS_PER_CALL = 32


class LanguageModelModule(tf.Module):
    """Tokenizer + `TransformerLanguageModel` + generator and scorer, one `tf.Module`.

    Args:
      model: a `TransformerLanguageModel`.
      tokenizer: a lossless `SentencePieceTokenizer` (called on `tf.string
        [n]` it gives ragged ids; `detokenize`; `end_token_id` is the
        end-of-document token, `pad_token_id`).
      decoding_config: `DecodingConfig` of `serving_default`; its `max_length`
        is also the most new tokens the `generate` signature allows.
      score_stride: tokens between scoring windows (<= the context window).
      jit_compile: compile generation and scoring with XLA (float32; TF
        Serving then needs `--xla_cpu_compilation_enabled=true`); generation
        buffers are then sized for `decoding_config.max_length` new tokens
        whatever a request asks.
      dtype_policy: export a copy of `model` under this policy (None: as is).
    """

    def __init__(self, model, tokenizer, decoding_config, score_stride, jit_compile=False,
                 dtype_policy=None, name=None):
        super().__init__(name=name)
        if not 1 <= int(score_stride) <= model.max_sequence_length:
            raise ValueError(f"`score_stride` must be in [1, {model.max_sequence_length}], "
                             f"got {score_stride}.")
        if tokenizer.vocabulary_size > model.vocabulary_size:
            raise ValueError(f"The tokenizer has {tokenizer.vocabulary_size} pieces but the "
                             f"model only {model.vocabulary_size} token ids.")
        if jit_compile and decoding_config.method == "beam":
            raise ValueError("An XLA export (`jit_compile`) generates by greedy search or "
                             "sampling; beam search runs each prompt alone, with shapes XLA "
                             "cannot compile.")
        if dtype_policy is not None:
            model = copy_with_dtype_policy(model, dtype_policy)
        self.model = model
        self.tokenizer = tokenizer
        self.decoding_config = decoding_config
        self.score_stride = int(score_stride)
        self.jit_compile = bool(jit_compile)
        self.end_of_document_id = int(tokenizer.end_token_id)
        # Never generated: padding, the unused start token, and `<unk>` (a lossless
        # tokenizer with byte fallback never produces it, its text is " \u2047 ").
        suppressed = {tokenizer.pad_token_id, tokenizer.start_token_id,
                      getattr(tokenizer, "unknown_token_id", tokenizer.pad_token_id)}
        self.generator = LanguageModelGenerator(
            model, decoding_config, self.end_of_document_id, pad_token_id=tokenizer.pad_token_id,
            suppressed_token_ids=sorted(suppressed - {self.end_of_document_id}))
        string_batch = tf.TensorSpec([None], tf.string, name="prompt")
        self._generate_ids = tf.function(self._generate_ids_impl, jit_compile=jit_compile,
                                         reduce_retracing=True)
        self._sample_ids = tf.function(self._sample_ids_impl, jit_compile=jit_compile,
                                       reduce_retracing=True)
        self._window_log_likelihoods = tf.function(
            self._window_log_likelihoods_impl, jit_compile=jit_compile, reduce_retracing=True)
        self.complete = tf.function(self._complete_impl, input_signature=[string_batch])
        self.generate = tf.function(self._generate_impl, input_signature=[
            string_batch, tf.TensorSpec([], tf.int32, name="max_new_tokens"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.float32, name="top_p"),
            tf.TensorSpec([], tf.int32, name="seed")])
        self.score_text = tf.function(self._score_text_impl, input_signature=[
            tf.TensorSpec([None], tf.string, name="text")])
        self.serve_token_ids = tf.function(self._serve_token_ids_impl, input_signature=[
            tf.TensorSpec([None, None], tf.int32, name="token_ids"),
            tf.TensorSpec([None, None], tf.int32, name="padding_mask")])

    @property
    def max_prompt_tokens(self):
        """Prompt tokens kept (end-of-document token included) with the default
        number of new tokens."""
        return self.generator.max_prompt_length

    # -- Text <-> ids ---------------------------------------------------------------

    def _with_context_token(self, text):
        text = tf.reshape(tf.convert_to_tensor(text, tf.string), [-1])
        ids = tf.cast(self.tokenizer(text), tf.int32)
        context = tf.fill([ids.nrows(), 1], self.end_of_document_id)
        return tf.concat([tf.RaggedTensor.from_tensor(context), ids], axis=1)

    def _detokenize(self, token_ids, lengths):
        """Completions `[n, W]` with their lengths -> strings (the tokenizer drops the
        end-of-document token)."""
        return self.tokenizer.detokenize(tf.RaggedTensor.from_tensor(token_ids, lengths=lengths))

    # -- Generation -------------------------------------------------------------------

    def _generate_ids_impl(self, prompt_ids, prompt_lengths):
        out = self.generator.generate(prompt_ids, prompt_lengths)
        return out.token_ids, out.lengths

    def _sample_ids_impl(self, prompt_ids, prompt_lengths, max_new_tokens, temperature, top_k,
                         top_p, seed):
        room = self.decoding_config.max_length if self.jit_compile else None
        out = self.generator.generate(prompt_ids, prompt_lengths, max_new_tokens=max_new_tokens,
                                      temperature=temperature, top_k=top_k, top_p=top_p,
                                      seed=seed, room=room)
        return out.token_ids, out.lengths

    def _complete_impl(self, prompt):
        ids, lengths = self.generator.prompt_batch(self._with_context_token(prompt))
        token_ids, new_lengths = self._generate_ids(ids, lengths)
        return {"completion": self._detokenize(token_ids, new_lengths)}

    def _generate_impl(self, prompt, max_new_tokens, temperature, top_k, top_p, seed):
        limit = self.decoding_config.max_length
        checks = [
            tf.debugging.assert_greater_equal(max_new_tokens, 1, message=(
                "`max_new_tokens` must be at least 1")),
            tf.debugging.assert_less_equal(max_new_tokens, limit, message=(
                f"`max_new_tokens` must be at most {limit} (this export's limit)")),
            tf.debugging.assert_greater_equal(temperature, 0.0, message=(
                "`temperature` must be >= 0 (0 = greedy)")),
            tf.debugging.assert_greater_equal(top_k, 0, message="`top_k` must be >= 0 (0 = off)"),
            tf.debugging.assert_greater(top_p, 0.0, message="`top_p` must be in (0, 1]"),
            tf.debugging.assert_less_equal(top_p, 1.0, message="`top_p` must be in (0, 1]"),
        ]
        with tf.control_dependencies(checks):
            room = limit if self.jit_compile else max_new_tokens
            ids, lengths = self.generator.prompt_batch(self._with_context_token(prompt), room)
            token_ids, new_lengths = self._sample_ids(ids, lengths, max_new_tokens, temperature,
                                                      top_k, top_p, seed)
        return {"completion": self._detokenize(token_ids, new_lengths),
                "num_tokens": new_lengths}

    def _serve_token_ids_impl(self, token_ids, padding_mask):
        vocabulary_size = self.model.vocabulary_size
        token_ids = tf.clip_by_value(token_ids, 0, vocabulary_size - 1)
        lengths = tf.reduce_sum(tf.cast(padding_mask > 0, tf.int32), axis=1)
        # An all-padding row is an empty prompt: the end-of-document token alone.
        empty = lengths == 0
        token_ids = tf.where(empty[:, None] & (tf.range(tf.shape(token_ids)[1]) == 0)[None, :],
                             self.end_of_document_id, token_ids)
        ragged = tf.RaggedTensor.from_tensor(token_ids, lengths=tf.maximum(lengths, 1))
        ids, prompt_lengths = self.generator.prompt_batch(ragged)
        out_ids, out_lengths = self._generate_ids(ids, prompt_lengths)
        return {"token_ids": out_ids, "lengths": out_lengths}

    # -- Scoring ----------------------------------------------------------------------

    def _window_log_likelihoods_impl(self, token_ids, padding_mask, labels, weights):
        logits = self.model({"token_ids": token_ids, "padding_mask": padding_mask},
                            training=False)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=tf.cast(logits, tf.float32))
        return -tf.reduce_sum(nll * weights, axis=1)

    def _score_text_impl(self, text):
        ids = self._with_context_token(text)
        windows, row = batch_scoring_windows(ids, self.model.max_sequence_length,
                                             self.score_stride,
                                             pad_id=self.tokenizer.pad_token_id)
        # The windows go through the model SCORE_WINDOWS_PER_CALL at a time: a book
        # is thousands of windows, whose logits together would not fit in memory.
        num_windows = tf.shape(row)[0]
        chunk = SCORE_WINDOWS_PER_CALL

        def body(start, scores):
            part = tf.nest.map_structure(lambda t: t[start:start + chunk], windows)
            return start + chunk, scores.write(start // chunk, self._window_log_likelihoods(
                part.token_ids, part.padding_mask, part.labels, part.weights))

        _, scores = tf.while_loop(
            lambda start, _: start < num_windows, body,
            (tf.constant(0), tf.TensorArray(tf.float32, size=0, dynamic_size=True,
                                            infer_shape=False)))
        num_rows = ids.nrows(out_type=tf.int32)
        log_likelihood = tf.math.unsorted_segment_sum(scores.concat(), row, num_rows)
        num_tokens = tf.math.unsorted_segment_sum(tf.reduce_sum(windows.weights, axis=1), row,
                                                  num_rows)
        return {"log_likelihood": log_likelihood, "num_tokens": tf.cast(num_tokens, tf.int32),
                "num_chars": count_characters(text)}

    # -- Python helpers and saving ------------------------------------------------------

    def complete_texts(self, prompts, batch_size=16):
        """A list of prompts (`str`) -> their completions (`str`), in order, with the
        default decoding (`batch_size` prompts per call)."""
        prompts = list(prompts)
        outputs = []
        for start in range(0, len(prompts), int(batch_size)):
            out = self.complete(tf.constant(prompts[start:start + batch_size], tf.string))
            outputs += [t.decode("utf-8", errors="replace")
                        for t in out["completion"].numpy()]
        return outputs

    def metadata(self):
        """What a client needs to know about the export (JSON-able)."""
        return {"context_window": self.model.max_sequence_length,
                "max_new_tokens": self.decoding_config.max_length,
                "max_prompt_tokens": self.max_prompt_tokens,
                "long_prompts": "the last max_prompt_tokens tokens are kept (the "
                                "end-of-document token included)",
                "score_stride": self.score_stride,
                "end_of_document_id": self.end_of_document_id,
                "vocabulary_size": self.tokenizer.vocabulary_size,
                "signatures": ["serving_default", GENERATE_SIGNATURE, SCORE_SIGNATURE,
                               TOKEN_IDS_SIGNATURE],
                "jit_compile": self.jit_compile}

    def save(self, path):
        """Writes the SavedModel with its four signatures, and `generate`'s warm-up
        requests (see the module docstring)."""
        signatures = {
            "serving_default": self.complete.get_concrete_function(),
            GENERATE_SIGNATURE: self.generate.get_concrete_function(),
            SCORE_SIGNATURE: self.score_text.get_concrete_function(),
            TOKEN_IDS_SIGNATURE: self.serve_token_ids.get_concrete_function(),
        }
        tf.saved_model.save(self, path, signatures=signatures)
        examples = default_warmup_examples(signature_inputs(path)[GENERATE_SIGNATURE])
        new_tokens = np.array(min(SCALAR_INT_VALUE, self.decoding_config.max_length), np.int32)
        write_warmup_requests(path, GENERATE_SIGNATURE,
                              [{**example, "max_new_tokens": new_tokens} for example in examples])
