"""How much of a text a WordPiece vocabulary covers: the share of characters not lost to `[UNK]`.

A character is *covered* when the `BertTokenizer` puts it in a token other than
`[UNK]`. WordPiece makes a whole word `[UNK]` when one of its characters is
missing, so one missing letter loses the whole word ("abc" with no "c": 3
characters lost); a CJK ideograph is a word of its own, so a missing ideograph
loses just itself. Characters are counted through the tokenizer's own spans
(`tokenize_with_offsets`): whitespace and the control characters it drops count
for nothing, and every character of a token, `[UNK]` or not, counts once.

This is the figure issue 20 asks for ("covers >= 99.9% of the characters of the
Chinese data sets"); `apps.pretrain.vocab_coverage` prints it for the Chinese
data sets of `../shared/data`.

Example:
>>> tokenizer = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "中", "国", "a", "##b"])
>>> result = character_coverage(tokenizer, ["中国人", "ab abc"])
>>> result.characters, result.unknown, round(result.coverage, 3)
(8, 4, 0.5)
>>> result.unknown_spans.most_common()
[('人', 1), ('abc', 1)]
"""

import collections
import dataclasses

import tensorflow as tf

from bertlab.text.offset_tokenization import tokenize_with_offsets


@dataclasses.dataclass
class CharacterCoverage:
    """Counts of `character_coverage`.

    Attributes:
      characters: characters inside tokens (whitespace and dropped control
        characters excluded).
      unknown: those inside `[UNK]` tokens.
      unknown_spans: `collections.Counter` of the text of each `[UNK]` token
        (one character for an ideograph, the whole word otherwise).
    """
    characters: int = 0
    unknown: int = 0
    unknown_spans: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    @property
    def coverage(self):
        """`1 - unknown / characters`; 1.0 for a text with no characters."""
        return 1.0 - self.unknown / self.characters if self.characters else 1.0

    def __add__(self, other):
        return CharacterCoverage(self.characters + other.characters, self.unknown + other.unknown,
                                 self.unknown_spans + other.unknown_spans)


def character_coverage(tokenizer, texts, batch_size=512):
    """Counts the characters of `texts` that `tokenizer` covers (see the module docstring).

    Args:
      tokenizer: a `bertlab.text.BertTokenizer`.
      texts: iterable of `str` (streamed in batches of `batch_size`).
      batch_size: strings tokenized per call.

    Returns:
      a `CharacterCoverage`.

    Raises:
      ValueError: `batch_size` is not positive.
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
    tokenize = tf.function(lambda text: tokenize_with_offsets(tokenizer, text),
                           input_signature=[tf.TensorSpec([None], tf.string)])
    unknown_id = tokenizer.unknown_token_id
    result = CharacterCoverage()
    batch = []

    def flush():
        ids, starts, ends = tokenize(tf.constant(batch, dtype=tf.string))
        for text, row_ids, row_starts, row_ends in zip(
                batch, ids.to_list(), starts.to_list(), ends.to_list()):
            for token, start, end in zip(row_ids, row_starts, row_ends):
                result.characters += end - start
                if token == unknown_id:
                    result.unknown += end - start
                    result.unknown_spans[text[start:end]] += 1
        batch.clear()

    for text in texts:
        batch.append(text)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return result
