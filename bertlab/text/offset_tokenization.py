"""BERT WordPiece tokens with their character spans in the original text, in the graph.

An extractive question-answering model points at tokens, but its client wants
the answer as a slice of the text it sent: `context[start:end]` in Python.
`tokenize_with_offsets` returns the token ids of `BertTokenizer` (exactly) and,
for each token, the code-point span of the original characters it came from.

How offsets are mapped. `normalized` is the text exactly as `basic_tokenize`
prepares it before its split (whitespace to spaces; control and format
characters, NUL and U+FFFD dropped; for an uncased vocabulary also Unicode
lower-casing, NFD and removal of combining marks), made by the same functions
(`replace_invalid_utf8`, `clean_text`, `fold_text` of `bert_tokenizer`) on the
whole text. Words are split from `normalized` itself (around spaces, and
around punctuation and CJK ideographs, with `RegexSplitWithOffsets`) and
WordPiece runs with byte offsets on those very words, so the ids are those of
`tokenizer(text)` by construction. Every step of the normalization acts on one
character at a time, so the same functions applied to each original character
alone tell how many bytes of `normalized` it produced: the *owner* of every
byte of `normalized` is known (one `tf.repeat`). Then, for a token:

- start = the owner of its first byte;
- end, for a piece followed by another piece of the same word = the next
  character after the owner of its last byte that produced anything, i.e. the
  next piece's start: the pieces of a word partition the word's span, and a
  character that normalizes to nothing inside a word (a zero-width space,
  U+FEFF, a soft hyphen, NUL, a stripped combining mark) goes to the piece
  before it;
- end, for the last piece of a word = after the owner of its last byte and
  the combining marks that follow it (accents that an uncased vocabulary
  strips, also when the text spells "é" as "e" + U+0301), but not after
  dropped control or format characters;
- a word longer than 100 characters is one `[UNK]` spanning the whole word;
  an out-of-vocabulary word is one `[UNK]` spanning it too (WordPiece gives
  its offsets as the whole word).

These are the spans of Hugging Face's `BertTokenizerFast` (checked on every
token of the SQuAD validation contexts and 200 CMRC 2018 contexts) except
that it leaves a character dropped inside a word out of every piece.

Length changes of normalization are exact: "İ" lower-cases to "i" + U+0307
and the mark is stripped, "é" decomposes to "e" + U+0301: one original
character, one token character ("ß" stays "ß": lower-casing is not case
folding). Approximate is only a character that becomes several characters of
*different* pieces, as a span cannot cut a character: Hangul syllables
decompose (NFD, uncased only) into 2-3 jamo, which MiniLM's vocabulary keeps as
separate pieces ("한" -> "ᄒ", "##ᅡ", "##ᆫ"), and a few Bengali, Oriya, Tamil,
Kannada, Malayalam, Sinhala and Balinese vowel signs and musical symbols
decompose into two characters that are not stripped (letters, symbols or
spacing marks). Every piece made (partly) from such a character spans the
whole character, so consecutive pieces share it: they overlap by that one
character; starts and ends stay non-decreasing and no span is empty. ("≠",
"≮", "≯" and U+1FEF decompose into "=", "<", ">", "`", which BERT counts as
punctuation, plus a stripped mark: a word of their own, whose span is the
original character, exactly.)

Lower-casing context: ICU lower-cases a capital sigma to final "ς" or "σ"
depending on the letters around it ("ΑΣ'Β" -> "ασ'β", "ΟΔΟΣ." -> "οδος."),
so the content of `normalized` comes from the whole text, and only the byte
lengths from characters alone (both sigmas are 2 bytes; no other
context-dependent rule of the root locale changes a length). NFD's canonical
reordering also happens on the whole text; it permutes only marks with a
nonzero combining class (all stripped but a few Mc signs), so owners stay right
up to the order of such marks after one base character.

Offsets are Unicode code points of the input after invalid UTF-8 is replaced
by U+FFFD, each maximal ill-formed subsequence by one U+FFFD, exactly as
Python's `bytes.decode("utf-8", "replace")` does (`tf.strings.unicode_transcode`);
BERT's cleaning then drops that U+FFFD. For a valid UTF-8 input the offsets
index the Python `str`.

Cost: linear in the text length: each character normalized alone is one
element of a flat string tensor, then one repeat, cumulative sums and gathers.
A 20,000-character context of SQuAD and CMRC paragraphs (10,000 tokens) takes
15 ms in a `tf.function` on a 2-core CPU machine, against 4 ms for
`tokenizer(text)` alone; 200,000 characters take 10 times as long.

Ops: `RegexSplitWithOffsets`, `NormalizeUTF8` and
`FastWordpieceTokenizeWithOffsets` (registered by the tensorflow-text that TF
Serving 2.20 links) and core TensorFlow ops.

Example:
>>> tokenizer = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "naive", "cafe", "##s", ","])
>>> ids, starts, ends = tokenize_with_offsets(tokenizer, tf.constant(["Naïve, cafés"]))
>>> ids.to_list(), starts.to_list(), ends.to_list()
([[4, 7, 5, 6]], [[0, 5, 7, 11]], [[5, 6, 11, 12]])
"""

import tensorflow as tf
import tensorflow_text as tf_text

from bertlab.text.bert_tokenizer import (MAX_CHARS_PER_WORD, PUNCTUATION_OR_CJK_PATTERN,
                                         clean_text, fold_text, replace_invalid_utf8)

# Words of `split_normalized_text`: split on spaces, and around (keeping) punctuation and CJK.
_WORD_DELIMITER_PATTERN = f" |{PUNCTUATION_OR_CJK_PATTERN}"


def _next_marked(mask, index):
    """For each `index` (itself marked in the bool vector `mask`), the next marked index after
    it, or `size(mask)`: a gather into the marked indices by rank (linear)."""
    marked = tf.concat([tf.where(mask)[:, 0], tf.size(mask, out_type=tf.int64)[None]], axis=0)
    rank = tf.cumsum(tf.cast(mask, tf.int64))  # rank + 1 of each marked index
    return tf.gather(marked, tf.gather(rank, index))


def tokenize_with_offsets(tokenizer, text):
    """WordPiece ids of `text` with each token's code-point span in `text`.

    Args:
      tokenizer: a `bertlab.text.BertTokenizer` (uncased or cased).
      text: `tf.string` `[batch]` (any batch size, also unknown in a
        `tf.function`).

    Returns:
      `(token_ids, starts, ends)`, each a `tf.RaggedTensor` int32
      `[batch, (tokens)]`: `token_ids` equals `tokenizer(text)` (no `[CLS]` or
      `[SEP]`); token `k` of row `b` came from `decoded[b][starts[b, k]:ends[b, k]]`,
      where `decoded[b]` is `text[b].decode("utf-8", "replace")`. Spans are
      non-empty, within `[0, len(decoded[b])]`, and their starts and ends are
      non-decreasing along a row; consecutive pieces of a word touch
      (`ends[k] == starts[k + 1]`) except where they share a decomposed
      character (see the module docstring).

    Raises:
      ValueError: `text` has a known rank other than 1.
    """
    text = tf.convert_to_tensor(text, dtype=tf.string)
    if text.shape.rank is not None and text.shape.rank != 1:
        raise ValueError(f"`text` must have shape [batch], got shape {text.shape}.")
    text = replace_invalid_utf8(text)
    # [batch], exactly as `basic_tokenize` before its split.
    normalized = fold_text(clean_text(text), tokenizer.lowercase)

    # Each character normalized alone: the owner (global character index) of every byte of
    # the concatenated `normalized` rows.
    chars = tf.strings.unicode_split(text, "UTF-8")  # [batch, (chars)]
    cleaned = clean_text(chars.flat_values)
    folded = fold_text(cleaned, tokenizer.lowercase)
    char_bytes = tf.strings.length(folded)  # [num_chars]
    owner = tf.repeat(tf.range(tf.size(char_bytes, out_type=tf.int64)), char_bytes)
    last_byte = tf.maximum(tf.size(owner, out_type=tf.int64) - 1, 0)
    produced = char_bytes > 0
    # A character that cleaning keeps but folding removes is a combining mark: it stays with
    # the character before it, also at the end of a word.
    not_a_mark = produced | tf.equal(tf.strings.length(cleaned), 0)

    # Words of `normalized` (exactly `basic_tokenize`'s), then WordPiece with byte offsets.
    words, word_begins, word_ends = tf_text.regex_split_with_offsets(
        normalized, _WORD_DELIMITER_PATTERN, PUNCTUATION_OR_CJK_PATTERN)  # [batch, (words)]
    flat_words = words.flat_values
    too_long = tf.strings.length(flat_words, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
    flat_words = tf.where(too_long, tokenizer.unknown_token, flat_words)
    pieces, piece_begins, piece_ends = tokenizer.wordpiece.tokenize_with_offsets(flat_words)

    # Global byte offsets (in the concatenated rows of `normalized`) of each piece.
    word_of_piece = pieces.value_rowids()
    row_of_word = words.value_rowids()
    row_of_piece = tf.gather(row_of_word, word_of_piece)
    row_bytes = tf.cast(tf.strings.length(normalized), tf.int64)
    word_offset = (tf.gather(tf.cumsum(row_bytes, exclusive=True), row_of_word)
                   + word_begins.flat_values)
    whole_word = tf.gather(too_long, word_of_piece)  # the `[UNK]` of a too long word
    word_bytes = word_ends.flat_values - word_begins.flat_values
    begin = tf.where(whole_word, tf.zeros_like(word_of_piece), piece_begins.flat_values)
    end = tf.where(whole_word, tf.gather(word_bytes, word_of_piece), piece_ends.flat_values)
    begin = tf.gather(word_offset, word_of_piece) + begin
    end = tf.gather(word_offset, word_of_piece) + end

    # Bytes -> owners -> code points of the row. A piece inside a word ends where the next
    # character that produced anything starts (the next piece's start: the pieces partition
    # the word); the last piece of a word ends after its combining marks.
    first_owner = tf.gather(owner, tf.clip_by_value(begin, 0, last_byte))
    last_owner = tf.gather(owner, tf.clip_by_value(end - 1, 0, last_byte))
    last_of_word = tf.equal(tf.range(tf.size(word_of_piece, out_type=tf.int64)),
                            tf.gather(pieces.row_limits() - 1, word_of_piece))
    end_owner = tf.where(last_of_word, _next_marked(not_a_mark, last_owner),
                         _next_marked(produced, last_owner))
    row_start = tf.gather(chars.row_starts(), row_of_piece)
    row_limit = tf.gather(chars.row_limits(), row_of_piece)
    starts = first_owner - row_start
    ends = tf.minimum(end_owner, row_limit) - row_start

    def per_row(flat):
        return words.with_flat_values(pieces.with_flat_values(flat)).merge_dims(1, 2)

    return (per_row(pieces.flat_values), per_row(tf.cast(starts, tf.int32)),
            per_row(tf.cast(ends, tf.int32)))
