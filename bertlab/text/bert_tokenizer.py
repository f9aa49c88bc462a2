"""BERT's WordPiece tokenizer, running entirely inside the TensorFlow graph.

It reproduces the reference tokenizer of google-research/bert (and Hugging Face's
`BertTokenizer`) exactly:

1. clean text: invalid UTF-8 bytes become U+FFFD and are dropped with NUL and other
   control/format characters; every Unicode whitespace becomes a space;
2. CJK ideographs are surrounded by spaces (one token each);
3. if `lowercase`: Unicode lower-casing, NFD decomposition and removal of
   combining marks (accent stripping);
4. split on whitespace and around every punctuation character (ASCII symbols and
   Unicode category P*);
5. WordPiece with tensorflow-text's `FastWordpieceTokenizer` (`##` continuation
   prefix); words longer than 100 characters become `[UNK]`.

Only ops that TF Serving's bundled tensorflow-text has are used (regex, normalize,
FastWordpiece), so exports serve there.
"""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from bertlab.text.vocabulary import load_vocabulary

# google-research/bert `_is_chinese_char` ranges.
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
_CJK_CLASS = "".join(f"\\x{{{lo:x}}}-\\x{{{hi:x}}}" for lo, hi in _CJK_RANGES)
# `_is_whitespace`: space, \t, \n, \r and category Zs.
_WHITESPACE_PATTERN = r"[\t\n\r\p{Zs}]"
# `_is_control` (category C*, \t\n\r already turned into spaces), NUL and U+FFFD.
_DROPPED_PATTERN = r"[\x00\x{fffd}\p{C}]"
# `_is_punctuation`: the ASCII non-alphanumeric symbols and category P*.
_PUNCTUATION_CLASS = r"!-/:-@\[-`{-~\p{P}"
# Regex (RE2) matching one punctuation character or CJK ideograph, in one capturing group:
# each such character is a word of its own (`basic_tokenize` splits around it).
PUNCTUATION_OR_CJK_PATTERN = f"([{_PUNCTUATION_CLASS}{_CJK_CLASS}])"
# Words longer than this many characters (code points) become one unknown token.
MAX_CHARS_PER_WORD = 100


def is_cjk_character(char):
    """Whether `char` (one code point) is a CJK ideograph by google-research/bert's
    `_is_chinese_char` ranges: the characters the tokenizer makes words of their own
    (kana and Hangul are not among them).

    Example:
    >>> is_cjk_character("中"), is_cjk_character("の"), is_cjk_character("a")
    (True, False, False)
    """
    if len(char) != 1:
        return False
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def replace_invalid_utf8(text):
    """Replaces each maximal ill-formed UTF-8 subsequence by U+FFFD (as Python's
    `bytes.decode("utf-8", "replace")`).

    Args:
      text: `tf.string` tensor of any shape.

    Returns:
      `tf.string` tensor of the same shape, valid UTF-8.
    """
    return tf.strings.unicode_transcode(
        text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
    )


def clean_text(text):
    """BERT's `_clean_text`: every Unicode whitespace becomes a space; NUL, U+FFFD and
    control/format characters (category C*) are dropped. Acts on each character alone.

    Args:
      text: `tf.string` tensor of any shape, valid UTF-8 (see `replace_invalid_utf8`).

    Returns:
      `tf.string` tensor of the same shape.
    """
    text = tf.strings.regex_replace(text, _WHITESPACE_PATTERN, " ")
    return tf.strings.regex_replace(text, _DROPPED_PATTERN, "")


def fold_text(text, lowercase):
    """For an uncased vocabulary (`lowercase`): Unicode lower-casing, NFD decomposition and
    removal of combining marks (category Mn, accent stripping); otherwise `text` unchanged.

    Args:
      text: `tf.string` tensor of any shape, valid UTF-8 (as `clean_text` leaves it).
      lowercase: Python bool.

    Returns:
      `tf.string` tensor of the same shape.
    """
    if not lowercase:
        return text
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf_text.normalize_utf8(text, "NFD")
    return tf.strings.regex_replace(text, r"\p{Mn}", "")


def split_normalized_text(text):
    """Splits normalized text (after `clean_text` and `fold_text`) into BERT's words: on
    spaces, and around each punctuation character and CJK ideograph
    (`PUNCTUATION_OR_CJK_PATTERN`), each of which is a word of its own.

    Args:
      text: `tf.string` tensor of shape `[batch]`.

    Returns:
      `tf.RaggedTensor` of `tf.string`, shape `[batch, (words)]`.
    """
    text = tf.strings.regex_replace(text, PUNCTUATION_OR_CJK_PATTERN, r" \1 ")
    return tf.strings.split(text)


def basic_tokenize(text, lowercase=True):
    """Splits strings into BERT's words (before WordPiece): `replace_invalid_utf8`,
    `clean_text`, `fold_text` and `split_normalized_text`.

    Args:
      text: `tf.string` tensor of shape `[batch]`.
      lowercase: apply lower-casing and accent stripping.

    Returns:
      `tf.RaggedTensor` of `tf.string`, shape `[batch, (words)]`.

    Example:
    >>> basic_tokenize(tf.constant(["Héllo, wörld!"])).to_list()
    [[b'hello', b',', b'world', b'!']]
    """
    text = replace_invalid_utf8(tf.convert_to_tensor(text, dtype=tf.string))
    text = fold_text(clean_text(text), lowercase)
    return split_normalized_text(text)


@keras.saving.register_keras_serializable(package="bertlab")
class BertTokenizer(keras.layers.Layer):
    """In-graph BERT WordPiece tokenizer: strings to ragged token ids.

    Args:
      vocabulary: path to `vocab.txt` or a list of tokens.
      lowercase: whether the vocabulary is uncased (lower-case and strip accents).
      unknown_token: the out-of-vocabulary token.

    Call: `tf.string` `[batch]` -> `tf.RaggedTensor` int32 `[batch, (tokens)]`.

    Example:
    >>> tok = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "##s"])
    >>> tok(tf.constant(["Hellos there"])).to_list()
    [[4, 5, 1]]
    """

    def __init__(self, vocabulary, lowercase=True, unknown_token="[UNK]", **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs["dtype"] = "int32"
        super().__init__(**kwargs)
        self.vocabulary = load_vocabulary(vocabulary, required_tokens=(unknown_token,))
        self.lowercase = bool(lowercase)
        self.unknown_token = unknown_token
        self._token_to_id = {t: i for i, t in enumerate(self.vocabulary)}
        self.unknown_token_id = self._token_to_id[unknown_token]
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=self.vocabulary,
            suffix_indicator="##",
            max_bytes_per_word=4 * MAX_CHARS_PER_WORD,
            token_out_type=tf.int32,
            unknown_token=unknown_token,
            no_pretokenization=True,
            support_detokenization=False,
        )
        self.built = True

    @property
    def wordpiece(self):
        """The `tensorflow_text.FastWordpieceTokenizer` (int32 ids, `##` suffixes, no
        pre-tokenization: it takes single words) that `tokenize_words` runs; read-only."""
        return self._wordpiece

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def token_to_id(self, token):
        """Id of `token`; raises `KeyError` naming it if it is not in the vocabulary."""
        if token not in self._token_to_id:
            raise KeyError(f"Token {token!r} is not in the vocabulary.")
        return self._token_to_id[token]

    def id_to_token(self, token_id):
        return self.vocabulary[token_id]

    def split_words(self, text):
        """Basic tokenization only: `[batch]` -> ragged words `[batch, (words)]`."""
        return basic_tokenize(text, lowercase=self.lowercase)

    def tokenize_words(self, words):
        """WordPiece over words: ragged `[..., (words)]` -> ragged `[..., (words), (pieces)]`."""
        words = tf.convert_to_tensor(words) if not isinstance(words, tf.RaggedTensor) else words
        flat = words.flat_values if isinstance(words, tf.RaggedTensor) else words
        too_long = tf.strings.length(flat, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
        flat = tf.where(too_long, self.unknown_token, flat)
        pieces = self._wordpiece.tokenize(flat)
        if isinstance(words, tf.RaggedTensor):
            return words.with_flat_values(pieces)
        return pieces

    def call(self, text):
        words = self.split_words(text)
        return self.tokenize_words(words).merge_dims(-2, -1)

    def compute_output_spec(self, text):
        # Ragged output: the symbolic spec is not used by Keras functional models.
        return keras.KerasTensor(tuple(text.shape) + (None,), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary=list(self.vocabulary),
            lowercase=self.lowercase,
            unknown_token=self.unknown_token,
        )
        return config
