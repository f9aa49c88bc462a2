"""The capitalisation of words, as ids a tagger can embed (in the graph).

An uncased encoder (all-MiniLM-L6-v2, BERT-uncased) lowercases its input, so
"Apple" and "apple", "US" and "us" reach it as the same subwords, yet
capitalisation is the strongest single clue to a named entity. A tagger gets it
back as one extra embedding per subword: the casing category of the word the
subword belongs to (the casing feature of BiLSTM-CRF taggers, e.g. Reimers &
Gurevych, 2017).

Categories (`CASING_NAMES`; id 0 is kept for `[CLS]`, `[SEP]` and padding):

| id | name | examples |
|---|---|---|
| 1 | lower | "the", "über" |
| 2 | title | "London", "Élysée", "O'neil" |
| 3 | upper | "EU", "U.S.", "I" |
| 4 | mixed | "iPhone", "McDonald", "eBay" |
| 5 | numeric | "1996", "3-0", "12.5" (digits, no letters) |
| 6 | other | ".", "--", "€" (no letters, no digits) |

Letters are Unicode letters of any script; a word without cased letters and
without digits (Chinese characters, punctuation) is "other".

Example:
>>> word_casing_ids(tf.ragged.constant([["EU", "rejects", "German", "call", "."]])).to_list()
[[3, 1, 2, 1, 6]]
"""

import tensorflow as tf

CASING_NAMES = ("none", "lower", "title", "upper", "mixed", "numeric", "other")
NUM_CASING_IDS = len(CASING_NAMES)

_UPPER = r"\p{Lu}|\p{Lt}"
_LOWER = r"\p{Ll}"


def _matches(words, pattern):
    return tf.strings.regex_full_match(words, pattern)


def _casing_of_flat(words):
    """int32 `[n]` casing ids of a flat `tf.string` `[n]` of words."""
    has_upper = _matches(words, rf"(?s).*(?:{_UPPER}).*")
    has_lower = _matches(words, rf"(?s).*{_LOWER}.*")
    has_digit = _matches(words, r"(?s).*\p{Nd}.*")
    # Title: the first cased letter is a capital and no other letter is.
    title = _matches(words, rf"(?s)[^\p{{L}}]*(?:{_UPPER})[^\p{{Lu}}\p{{Lt}}]*")
    casing = tf.fill(tf.shape(words), tf.constant(6, tf.int32))        # other
    casing = tf.where(has_digit, 5, casing)                               # numeric
    casing = tf.where(has_lower & ~has_upper, 1, casing)                  # lower
    casing = tf.where(has_upper & ~has_lower, 3, casing)                  # upper
    casing = tf.where(has_upper & has_lower, tf.where(title, 2, 4), casing)  # title / mixed
    return casing


def word_casing_ids(words):
    """Casing id (1-6, see the module docstring) of every word.

    Args:
      words: `tf.string` tensor or `tf.RaggedTensor` of any shape (valid UTF-8;
        `bertlab.text.word_tokenization.split_whitespace` ensures it).

    Returns:
      int32 of the same shape (ragged if `words` is).
    """
    if isinstance(words, tf.RaggedTensor):
        return tf.ragged.map_flat_values(_casing_of_flat, words)
    words = tf.convert_to_tensor(words, dtype=tf.string)
    return tf.reshape(_casing_of_flat(tf.reshape(words, [-1])), tf.shape(words))
