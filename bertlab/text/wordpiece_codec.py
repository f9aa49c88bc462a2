"""BERT's WordPiece tokenizer with in-graph detokenization, for BERT2BERT generation.

`BertTokenizer` maps text to ids; generation (BERT2BERT summarization) also
needs the way back. `WordPieceCodec` adds it: ids -> pieces -> words
(continuation pieces `##x` glued to the previous piece) -> text, with the
spaces that BERT's tokenizer put before punctuation removed. The output is lower-cased when the
vocabulary is (MiniLM's is).
"""

import keras
import tensorflow as tf

from bertlab.text.bert_tokenizer import BertTokenizer
from bertlab.text.special_token_ids import without_special_tokens


@keras.saving.register_keras_serializable(package="bertlab")
class WordPieceCodec(keras.layers.Layer):
    """WordPiece tokenization and detokenization, in the graph.

    Args:
      vocabulary: path of `vocab.txt` or a list of tokens (with [PAD], [UNK],
        [CLS], [SEP]).
      lowercase: whether the vocabulary is uncased.

    Call: `tf.string [batch]` -> ragged int32 ids (no [CLS]/[SEP]).
    `detokenize(ids [batch, len])` -> `tf.string [batch]` ([PAD], [CLS], [SEP]
    dropped). Attributes `pad_token_id`, `start_token_id` ([CLS]),
    `end_token_id` ([SEP]), `vocabulary_size`.

    Example:
    >>> codec = WordPieceCodec("vocab.txt")
    >>> codec.detokenize(codec(tf.constant(["Hello, world!"]))).numpy()
    array([b'hello, world!'], dtype=object)
    """

    def __init__(self, vocabulary, lowercase=True, **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs["dtype"] = "int32"
        super().__init__(**kwargs)
        self.tokenizer = BertTokenizer(vocabulary, lowercase=lowercase)
        self.lowercase = bool(lowercase)
        self.pad_token_id = self.tokenizer.token_to_id("[PAD]")
        self.start_token_id = self.tokenizer.token_to_id("[CLS]")
        self.end_token_id = self.tokenizer.token_to_id("[SEP]")
        self.built = True

    @property
    def vocabulary_size(self):
        return self.tokenizer.vocabulary_size

    def call(self, text):
        return self.tokenizer(text)

    def detokenize(self, token_ids):
        token_ids = without_special_tokens(
            token_ids, (self.pad_token_id, self.start_token_id, self.end_token_id))
        vocabulary = tf.constant(self.tokenizer.vocabulary)
        ids = tf.clip_by_value(token_ids, 0, self.vocabulary_size - 1)
        pieces = tf.gather(vocabulary, ids)
        text = tf.strings.reduce_join(pieces, axis=-1, separator=" ")
        text = tf.strings.regex_replace(text, r" ##", "")
        text = tf.strings.regex_replace(text, r" ([.,;:!?%)\]}'])", r"\1")
        text = tf.strings.regex_replace(text, r"(\d)([.,]) (\d)", r"\1\2\3")
        text = tf.strings.regex_replace(text, r"([(\[{]) ", r"\1")
        text = tf.strings.regex_replace(text, r" ?- ?", "-")
        text = tf.strings.regex_replace(text, r"' (s|t|re|ve|ll|d|m)\b", r"'\1")
        return text

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary=list(self.tokenizer.vocabulary), lowercase=self.lowercase)
        return config
