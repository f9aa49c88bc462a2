"""Raw text in, generated text out: the module that translation and summarization
export as a SavedModel for TF Serving.

The whole path runs in the graph: in-graph tokenization of `tf.string` inputs
(invalid UTF-8 replaced, sources truncated to the model's source length, empty
strings allowed), encoding, step-by-step decoding with the key/value cache
(beam search, greedy or sampling, as configured), detokenization. Loading the
SavedModel needs only `tensorflow` and `import tensorflow_text`.

Signatures:
- `serving_default`: `text` tf.string `[None]` -> `{output_key: tf.string [None]}`.
- `serve_token_ids`: `token_ids` int32 `[None, None]` and `padding_mask` int32
  `[None, None]` (encoder ids, special tokens included; truncated to the source
  length, ids outside the vocabulary clipped) -> `token_ids` int32
  `[None, max_length]` (end token included, then padding), `lengths` int32
  `[None]`, `scores` float32 `[None]` (beam: length-penalized log-probability).

Example:
>>> module = TextGenerationModule(model, tokenizer, DecodingConfig(beam_width=4),
...                               max_source_length=128, output_key="translation")
>>> module.generate_text(tf.constant(["A dog runs."]))
>>> module.save("/tmp/export/1")
"""

import tensorflow as tf

from bertlab.decoding.seq2seq_generator import Seq2SeqGenerator
from bertlab.models.dtype_policy_copy import copy_with_dtype_policy


class TextGenerationModule(tf.Module):
    """Tokenizer + `Seq2SeqTransformer` + decoder, as one exportable `tf.Module`.

    Args:
      model: a `Seq2SeqTransformer`.
      tokenizer: in-graph tokenizer: called on `tf.string [batch]` it returns ragged
        ids; `detokenize(ids [batch, len])` returns `tf.string [batch]`;
        attributes `pad_token_id`, `start_token_id`, `end_token_id`. None gives
        a token-ids-only module (then pass `special_token_ids`).
      decoding_config: `DecodingConfig` (method, beam width and max length are
        fixed in the export).
      max_source_length: encoder length, special tokens included.
      source_start_token: sources begin with the start token (BERT2BERT).
      output_key: name of the output of `serving_default`.
      jit_compile: compile the generation (encoder, decoding loop) with XLA:
        about 2x faster on CPU in float32, slower under bfloat16 (XLA:CPU
        turns bfloat16 dots into float32 ones). TF Serving runs such an export
        only with `--xla_cpu_compilation_enabled=true`.
      dtype_policy: generate with a copy of `model` under this policy (e.g.
        "float32" for a model trained under `mixed_bfloat16`, with
        `jit_compile`); None: the model as it is.
      special_token_ids: `(start, end, pad)` ids, only without a tokenizer.
    """

    def __init__(self, model, tokenizer, decoding_config, max_source_length,
                 source_start_token=False, output_key="translation", jit_compile=False,
                 dtype_policy=None, special_token_ids=None, name=None):
        super().__init__(name=name)
        if int(max_source_length) < 2 + int(source_start_token):
            raise ValueError(f"`max_source_length` is too small: {max_source_length}.")
        if not output_key or not str(output_key).isidentifier():
            raise ValueError(f"`output_key` must be a name, got {output_key!r}.")
        if tokenizer is not None:
            special_token_ids = (tokenizer.start_token_id, tokenizer.end_token_id,
                                 tokenizer.pad_token_id)
        elif special_token_ids is None or len(special_token_ids) != 3:
            raise ValueError("Without a tokenizer, pass `special_token_ids` = "
                             "(start, end, pad).")
        if dtype_policy is not None:
            model = copy_with_dtype_policy(model, dtype_policy)
        self.model = model
        self.tokenizer = tokenizer
        self.decoding_config = decoding_config
        self.max_source_length = int(max_source_length)
        self.source_start_token = bool(source_start_token)
        self.output_key = str(output_key)
        self.generator = Seq2SeqGenerator(model, decoding_config, *special_token_ids)
        self._generate_ids = tf.function(self._generate_ids_impl, jit_compile=jit_compile,
                                         reduce_retracing=True)
        if tokenizer is not None:
            self.serve_text = tf.function(
                self._serve_text_impl,
                input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        self.serve_token_ids = tf.function(
            self._serve_token_ids_impl,
            input_signature=[tf.TensorSpec([None, None], tf.int32, name="token_ids"),
                             tf.TensorSpec([None, None], tf.int32, name="padding_mask")])

    def encode(self, text):
        """`tf.string [batch]` -> encoder ids and padding mask int32 `[batch, len]`."""
        text = tf.reshape(tf.convert_to_tensor(text, tf.string), [-1])
        ids = self.tokenizer(text)
        tokenizer = self.tokenizer
        budget = self.max_source_length - 1 - int(self.source_start_token)
        ids = tf.cast(ids[:, :budget], tf.int32)
        n = ids.nrows()
        parts = [ids, tf.RaggedTensor.from_tensor(tf.fill([n, 1], tokenizer.end_token_id))]
        if self.source_start_token:
            parts.insert(0, tf.RaggedTensor.from_tensor(tf.fill([n, 1],
                                                                tokenizer.start_token_id)))
        ids = tf.concat(parts, axis=1)
        token_ids = ids.to_tensor(default_value=tokenizer.pad_token_id)
        padding_mask = tf.ones_like(ids).to_tensor(default_value=0)
        return token_ids, padding_mask

    def _generate_ids_impl(self, token_ids, padding_mask):
        out = self.generator.generate(token_ids, padding_mask)
        return {"token_ids": out.token_ids, "lengths": out.lengths, "scores": out.scores}

    def _serve_token_ids_impl(self, token_ids, padding_mask):
        # Out-of-vocabulary ids are clipped rather than failing the request.
        vocabulary_size = self.model.encoder_vocabulary_size
        token_ids = tf.clip_by_value(token_ids[:, :self.max_source_length], 0,
                                     vocabulary_size - 1)
        padding_mask = tf.cast(padding_mask[:, :self.max_source_length] > 0, tf.int32)
        return self._generate_ids(token_ids, padding_mask)

    def _serve_text_impl(self, text):
        token_ids, padding_mask = self.encode(text)
        out = self._generate_ids(token_ids, padding_mask)
        ragged = tf.RaggedTensor.from_tensor(out["token_ids"], lengths=out["lengths"])
        return {self.output_key: self.tokenizer.detokenize(ragged)}

    def generate_text(self, texts, batch_size=64, progress=None):
        """A list of `str` (or bytes) -> the list of generated `str`, in order.

        Texts are generated `batch_size` at a time, in order of length (less
        padding); `progress`, if given, is called with the number of texts done
        after each batch (e.g. a tqdm bar's `update`).
        """
        texts = list(texts)
        if int(batch_size) < 1:
            raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        outputs = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            generated = self.serve_text(tf.constant([texts[i] for i in chunk], tf.string))
            for i, text in zip(chunk, generated[self.output_key].numpy()):
                outputs[i] = text.decode("utf-8", errors="replace")
            if progress is not None:
                progress(len(chunk))
        return outputs

    def save(self, path):
        """Writes the SavedModel with `serving_default` (text; only with a
        tokenizer) and `serve_token_ids`."""
        signatures = {"serve_token_ids": self.serve_token_ids.get_concrete_function()}
        if self.tokenizer is not None:
            signatures["serving_default"] = self.serve_text.get_concrete_function()
        tf.saved_model.save(self, path, signatures=signatures)
