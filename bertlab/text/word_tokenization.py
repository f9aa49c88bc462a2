"""Word-level inputs for tagging: whitespace words -> BERT subwords, aligned, in the graph.

A tagger labels *words* (CoNLL tokens, or the whitespace-separated words of a
served string) but the encoder sees WordPiece *subwords*. This module keeps the
correspondence:

1. `split_whitespace`: strings -> words, split on Unicode whitespace (the
   words a tagging client sees and gets tags for). Invalid UTF-8 bytes become
   U+FFFD first, so every output word is valid UTF-8.
2. `tokenize_words`: each word -> its subwords. BERT's basic tokenizer may
   split one whitespace word into several pieces ("U.S." -> "u . s ."); all
   their subwords belong to the word. A word left with no subword (only
   control or format characters, which BERT drops) gets one `[UNK]`, so every
   word has a position.
3. `pack_words`: subwords -> `[CLS] subwords [SEP]` model inputs and, per word,
   the position of its *first* subword, where its tag is read (training puts
   the word's label there). Truncation: the subword sequence is cut to
   `sequence_length - 2`; words whose first subword falls beyond the cut get
   position -1 (a tagger reports them as `O`).

Example:
>>> tokenizer = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "u", ".", "s", "go", "##es"])
>>> packed = pack_words(tokenizer, split_whitespace(tf.constant(["U.S. goes"])), 16)
>>> packed["token_ids"].numpy().tolist()
[[2, 4, 5, 6, 5, 7, 8, 3]]
>>> packed["word_positions"].to_list()
[[1, 5]]
"""

import tensorflow as tf
import tensorflow_text as tf_text

from bertlab.text.bert_preprocessor import pack_ragged
from bertlab.text.word_casing import word_casing_ids

# BERT's whitespace (`_is_whitespace`): space, \t, \n, \r and category Zs.
_WHITESPACE = r"[\t\n\r\p{Zs}]"


def split_whitespace(text):
    """Splits strings into whitespace-separated words.

    Args:
      text: `tf.string` `[batch]`.

    Returns:
      `tf.RaggedTensor` `tf.string` `[batch, (words)]`; invalid UTF-8 bytes are
      replaced by U+FFFD.
    """
    text = tf.reshape(tf.convert_to_tensor(text, dtype=tf.string), [-1])
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace",
                                        replacement_char=0xFFFD)
    text = tf.strings.regex_replace(text, _WHITESPACE, " ")
    # With `sep=None` runs of (by now only ASCII) whitespace separate words and
    # no empty word is produced.
    return tf.strings.split(text)


def tokenize_words(tokenizer, words):
    """Subword ids of each word.

    Args:
      tokenizer: a `bertlab.text.BertTokenizer`.
      words: `tf.RaggedTensor` `tf.string` `[batch, (words)]`.

    Returns:
      `tf.RaggedTensor` int32 `[batch, (words), (subwords)]`; every word has at
      least one subword (`[UNK]` when BERT's cleaning leaves nothing).
    """
    flat_words = words.flat_values
    pieces = tokenizer.split_words(flat_words)  # [num_words, (pieces)]
    subwords = tokenizer.tokenize_words(pieces).merge_dims(-2, -1)  # [num_words, (subwords)]
    # Words left empty get one [UNK]: appending a 1-element row to exactly the
    # empty rows (and a 0-element row to the others) fills them in place.
    empty = tf.equal(subwords.row_lengths(), 0)
    filler = tf.RaggedTensor.from_row_lengths(
        tf.fill(tf.reduce_sum(tf.cast(empty, tf.int32), keepdims=True),
                tf.constant(tokenizer.unknown_token_id, subwords.dtype)),
        tf.cast(empty, tf.int64))
    subwords = tf.concat([subwords, filler], axis=1)
    return words.with_flat_values(subwords)


def pack_words(tokenizer, words, sequence_length, pad_to_longest=True, with_casing=False):
    """Packs words into encoder inputs with the first-subword position of each word.

    Args:
      tokenizer: a `bertlab.text.BertTokenizer` (with `[CLS]`, `[SEP]`, `[PAD]`).
      words: `tf.RaggedTensor` `tf.string` `[batch, (words)]`.
      sequence_length: the longest output row (`[CLS]` and `[SEP]` included).
      pad_to_longest: pad to the longest row of the batch, not to
        `sequence_length`.
      with_casing: also return `casing_ids`.

    Returns:
      dict with int32 `[batch, seq]` `token_ids`, `segment_ids`, `padding_mask`
      and `word_positions`, ragged int32 `[batch, (words)]`: the index in the
      row of each word's first subword, or -1 for a word cut off by
      truncation. With `with_casing`, int32 `[batch, seq]` `casing_ids`: every
      subword has the casing id of its word (`bertlab.text.word_casing`),
      `[CLS]`, `[SEP]` and padding 0.
    """
    if int(sequence_length) < 3:
        raise ValueError(f"`sequence_length` must be at least 3, got {sequence_length}.")
    budget = int(sequence_length) - 2
    subwords = tokenize_words(tokenizer, words)  # [batch, (words), (subwords)]
    per_word = subwords.with_values(subwords.values.row_lengths())  # [batch, (words)]
    starts = tf.math.cumsum(per_word, axis=1, exclusive=True)
    positions = tf.ragged.map_flat_values(
        lambda s: tf.cast(tf.where(s < budget, s + 1, -1), tf.int32), starts)
    flat = subwords.merge_dims(1, 2)[:, :budget]
    token_ids, segment_ids = tf_text.combine_segments(
        [flat], start_of_sequence_id=tokenizer.token_to_id("[CLS]"),
        end_of_segment_id=tokenizer.token_to_id("[SEP]"))
    packed = pack_ragged(token_ids, segment_ids, sequence_length, pad_to_longest,
                         tokenizer.token_to_id("[PAD]"))
    packed["word_positions"] = positions
    if with_casing:
        casing = word_casing_ids(words)  # [batch, (words)]
        per_subword = subwords.with_flat_values(  # [batch, (words), (subwords)]
            tf.repeat(casing.flat_values, subwords.values.row_lengths()))
        casing = per_subword.merge_dims(1, 2)[:, :budget]
        edge = tf.zeros([casing.nrows(), 1], tf.int32)
        casing = tf.concat([edge, casing, edge], axis=1)
        packed["casing_ids"] = casing.to_tensor(0, shape=tf.shape(packed["token_ids"]))
    return packed


def gather_word_values(values, word_positions, fill_value):
    """Reads per-position values (`[batch, seq, ...]`) at each word's first subword.

    Args:
      values: dense `[batch, seq, ...]` tensor (e.g. tag ids or logits).
      word_positions: ragged int32 `[batch, (words)]` from `pack_words`.
      fill_value: value for words with position -1 (truncated).

    Returns:
      ragged `[batch, (words), ...]`.
    """
    row_ids = tf.cast(word_positions.value_rowids(), tf.int32)
    flat_positions = word_positions.flat_values
    safe = tf.maximum(flat_positions, 0)
    gathered = tf.gather_nd(values, tf.stack([row_ids, safe], axis=1))
    keep = flat_positions >= 0
    keep = tf.reshape(keep, tf.concat([tf.shape(keep), tf.ones([tf.rank(gathered) - 1],
                                                               tf.int32)], axis=0))
    filled = tf.where(keep, gathered, tf.cast(fill_value, gathered.dtype))
    return word_positions.with_flat_values(filled)


def scatter_word_labels(labels, word_positions, sequence_width, ignore_value=-1):
    """Places word labels at their first-subword positions.

    Args:
      labels: ragged int32 `[batch, (words)]`.
      word_positions: ragged int32 `[batch, (words)]` from `pack_words`.
      sequence_width: the width of the packed rows (`tf.shape(token_ids)[1]`).
      ignore_value: the label of every other position (and of truncated
        words, which are dropped).

    Returns:
      int32 `[batch, sequence_width]`.
    """
    batch = word_positions.nrows(out_type=tf.int32)
    row_ids = tf.cast(word_positions.value_rowids(), tf.int32)
    flat_positions = word_positions.flat_values
    keep = flat_positions >= 0
    indices = tf.stack([tf.boolean_mask(row_ids, keep), tf.boolean_mask(flat_positions, keep)],
                       axis=1)
    updates = tf.boolean_mask(tf.cast(labels.flat_values, tf.int32), keep)
    base = tf.fill(tf.stack([batch, tf.cast(sequence_width, tf.int32)]),
                   tf.constant(ignore_value, tf.int32))
    return tf.tensor_scatter_nd_update(base, indices, updates)
