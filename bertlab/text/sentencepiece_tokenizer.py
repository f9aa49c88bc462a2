"""SentencePiece subword models: training, and in-graph tokenization/detokenization.

`train_sentencepiece` learns a model (Kudo & Richardson, 2018) from an iterable
of sentences with the `sentencepiece` library and returns its serialized
proto. `SentencePieceTokenizer` runs that model inside the TensorFlow graph
with `tensorflow_text.SentencepieceTokenizer`, so an exported SavedModel maps
raw strings to ids and ids back to strings by itself (it then loads after
`import tensorflow_text`).

Special ids of the models trained here: 0 `<pad>`, 1 `<unk>`, 2 `<s>` (start),
3 `</s>` (end).
"""

import base64
import dataclasses
import io
import itertools
import os

import keras
import sentencepiece as spm
import tensorflow as tf
import tensorflow_text as tf_text

from bertlab.storage import atomic_file
from bertlab.text.special_token_ids import without_special_tokens

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
MODEL_TYPES = ("unigram", "bpe", "char", "word")


class SentencePieceError(ValueError):
    """A SentencePiece model cannot be trained or read."""


def train_sentencepiece(sentences, vocabulary_size, model_type="unigram",
                        character_coverage=1.0, byte_fallback=True, max_sentence_length=4192,
                        input_sentence_size=0, seed_sentencepiece_size=1000000,
                        user_defined_symbols=(), num_threads=2, lossless=False):
    """Trains a SentencePiece model; returns the serialized model proto (bytes).

    Args:
      sentences: an iterable of `str` (the training text, one sentence each;
        empty ones are skipped). For a shared source/target vocabulary pass
        both sides. It is streamed, not listed: with `input_sentence_size` the
        trainer keeps a reservoir sample, so memory stays bounded on any corpus.
      vocabulary_size: pieces in the model. It is a soft limit: with too little
        text the model gets as many pieces as the text allows.
      model_type: "unigram" (default), "bpe", "char" or "word".
      character_coverage: share of characters covered by the alphabet (1.0
        for Latin scripts, 0.9995 for Chinese or Japanese).
      byte_fallback: unknown characters become UTF-8 byte pieces instead of
        `<unk>` (lossless decoding of any text).
      max_sentence_length: longer sentences (in bytes) are skipped in training.
      input_sentence_size: sample this many sentences (0: use all).
      user_defined_symbols: pieces always kept whole.
      num_threads: trainer threads.
      lossless: the language-model setting. The default (False) NFKC-normalizes
        the text and collapses runs of whitespace, as translation and
        classification want. True keeps every character as it is (identity
        normalization, whitespace kept, whitespace-only pieces allowed, no
        dummy "▁" prefix): with byte fallback, `detokenize(tokenize(t)) == t`
        for every UTF-8 string (newlines, tabs and indentation included). With
        `model_type="bpe"` (GPT-2's choice), text cut into lines, each keeping
        its newline, also tokenizes line by line to the same ids as the whole
        text (no piece contains a newline, and merges never cross whitespace),
        which lets `bertlab.data.text_packing` tokenize a corpus as a stream.
        A unigram model may split a word differently in a longer text (its
        Viterbi search breaks near-ties by accumulated float scores: "sat" was
        "s|at" in a Gutenberg chapter, "sa|t" on its own line).

    Example:
    >>> proto = train_sentencepiece(open("train.en"), vocabulary_size=8000)
    >>> tokenizer = SentencePieceTokenizer(proto)
    """
    if model_type not in MODEL_TYPES:
        raise SentencePieceError(f"`model_type` must be one of {MODEL_TYPES}, got {model_type!r}.")
    if int(vocabulary_size) < 8:
        raise SentencePieceError(f"`vocabulary_size` must be >= 8, got {vocabulary_size}.")
    if not 0.0 < character_coverage <= 1.0:
        raise SentencePieceError(
            f"`character_coverage` must be in (0, 1], got {character_coverage}.")
    clean = (lambda s: s.rstrip("\r\n")) if lossless else (lambda s: s.strip())
    sentences = (clean(s) for s in sentences if s and s.strip())
    first = next(sentences, None)
    if first is None:
        raise SentencePieceError("No training sentences for the SentencePiece model.")
    sentences = itertools.chain([first], sentences)
    text_options = {}
    if lossless:
        text_options = dict(normalization_rule_name="identity", remove_extra_whitespaces=False,
                            add_dummy_prefix=False, allow_whitespace_only_pieces=True)
    writer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=sentences, model_writer=writer,
            vocab_size=int(vocabulary_size), model_type=model_type,
            character_coverage=float(character_coverage), byte_fallback=bool(byte_fallback),
            pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
            hard_vocab_limit=False, max_sentence_length=int(max_sentence_length),
            input_sentence_size=int(input_sentence_size), shuffle_input_sentence=True,
            seed_sentencepiece_size=int(seed_sentencepiece_size),
            user_defined_symbols=list(user_defined_symbols), num_threads=int(num_threads),
            minloglevel=2, **text_options)
    except RuntimeError as e:
        raise SentencePieceError(f"SentencePiece training failed: {e}") from e
    return writer.getvalue()


def save_sentencepiece_model(proto, path):
    """Writes a model proto to `path` atomically (temporary file, then rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        f.write(proto)


def load_sentencepiece_model(path_or_proto):
    """Model proto bytes from a `.model` file path or the bytes themselves, checked."""
    if isinstance(path_or_proto, (bytes, bytearray)):
        proto = bytes(path_or_proto)
        where = "the given model proto"
    else:
        path = os.fspath(path_or_proto)
        if not os.path.isfile(path):
            raise SentencePieceError(f"SentencePiece model not found: {path}")
        with open(path, "rb") as f:
            proto = f.read()
        where = path
    processor = spm.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(proto)
    except (RuntimeError, OSError) as e:
        raise SentencePieceError(f"{where} is not a SentencePiece model: {e}") from e
    return proto, processor


@keras.saving.register_keras_serializable(package="bertlab")
class SentencePieceTokenizer(keras.layers.Layer):
    """In-graph SentencePiece tokenizer: strings to ragged ids and back.

    Args:
      model: the serialized model proto (bytes, e.g. from
        `train_sentencepiece`) or the path of a `.model` file.

    Call: `tf.string` `[batch]` -> `tf.RaggedTensor` int32 `[batch, (tokens)]`
    (no start/end tokens added). Bytes that are not valid UTF-8 are replaced by
    U+FFFD first, so any string is accepted.

    `detokenize(ids)`: int ids `[batch, (tokens)]`, ragged or dense, -> `tf.string`
    `[batch]`; padding, start and end ids are dropped.

    Example:
    >>> tokenizer = SentencePieceTokenizer(proto)
    >>> ids = tokenizer(tf.constant(["A dog runs."]))
    >>> tokenizer.detokenize(ids).numpy()
    array([b'A dog runs.'], dtype=object)
    """

    def __init__(self, model, **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs["dtype"] = "int32"
        super().__init__(**kwargs)
        if isinstance(model, str) and not os.path.isfile(model):
            # `get_config` stores the proto base64-encoded.
            try:
                model = base64.b64decode(model.encode("ascii"), validate=True)
            except (ValueError, UnicodeEncodeError):
                raise SentencePieceError(f"SentencePiece model not found: {model}") from None
        self.proto, processor = load_sentencepiece_model(model)
        self._processor = processor
        self.pad_token_id = processor.pad_id()
        self.unknown_token_id = processor.unk_id()
        self.start_token_id = processor.bos_id()
        self.end_token_id = processor.eos_id()
        for name in ("pad_token_id", "start_token_id", "end_token_id"):
            if getattr(self, name) < 0:
                raise SentencePieceError(
                    f"The SentencePiece model has no {name.replace('_token_id', '')} id; "
                    "train it with pad, bos and eos ids (train_sentencepiece does).")
        self._tokenizer = tf_text.SentencepieceTokenizer(model=self.proto, out_type=tf.int32)
        self.built = True

    @property
    def vocabulary_size(self):
        return self._processor.get_piece_size()

    def id_to_token(self, token_id):
        return self._processor.id_to_piece(int(token_id))

    def token_to_id(self, token):
        """Id of the piece `token`; raises `KeyError` naming it if it is not one."""
        token_id = self._processor.piece_to_id(token)
        if token_id == self.unknown_token_id and token != self._processor.id_to_piece(token_id):
            raise KeyError(f"Token {token!r} is not in the vocabulary.")
        return token_id

    def _live_tokenizer(self):
        """The tensorflow-text tokenizer, loaded again if its resource is gone.

        `tf.random.set_seed` (hence `keras.utils.set_random_seed`, which the
        training runner calls) clears TensorFlow's kernel cache, and with it the
        SentencePiece model resource of tokenizers created before; a tiny eager
        probe detects that and reloads the model.
        """
        with tf.init_scope():
            try:
                self._tokenizer.tokenize(tf.constant([""]))
            except tf.errors.NotFoundError:
                self._tokenizer = tf_text.SentencepieceTokenizer(model=self.proto,
                                                                 out_type=tf.int32)
        return self._tokenizer

    def call(self, text):
        text = tf.convert_to_tensor(text, dtype=tf.string)
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace",
                                            replacement_char=0xFFFD)
        return self._live_tokenizer().tokenize(text)

    def detokenize(self, token_ids):
        token_ids = without_special_tokens(
            token_ids, (self.pad_token_id, self.start_token_id, self.end_token_id))
        return self._live_tokenizer().detokenize(token_ids)

    def compute_output_spec(self, text):
        return keras.KerasTensor(tuple(text.shape) + (None,), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(model=base64.b64encode(self.proto).decode("ascii"))
        return config


@dataclasses.dataclass
class SubwordConfig:
    """The SentencePiece model an app trains on its training split (one
    vocabulary shared by source and target).

    Fields: `vocabulary_size` (soft limit), `model_type` ("unigram", "bpe"),
    `character_coverage` (1.0 for Latin scripts, 0.9995 for Chinese),
    `input_sentence_size` (sample this many sentences; 0 = all), `lossless`
    (a language model's setting: see `train_sentencepiece`).
    """

    vocabulary_size: int = 8000
    model_type: str = "unigram"
    character_coverage: float = 1.0
    input_sentence_size: int = 0
    lossless: bool = False


def subword_tokenizer(config, texts, model_path):
    """The run's `SentencePieceTokenizer`: loaded from `model_path` when a
    (resumed) run already has one, otherwise trained on `texts` and saved there
    atomically."""
    if os.path.isfile(model_path):
        proto, _ = load_sentencepiece_model(model_path)
    else:
        proto = train_sentencepiece(
            texts, config.vocabulary_size, model_type=config.model_type,
            character_coverage=config.character_coverage,
            input_sentence_size=config.input_sentence_size, lossless=config.lossless)
        save_sentencepiece_model(proto, model_path)
    return SentencePieceTokenizer(proto)
