"""Word casing ids: the categories an uncased tagger gets back, for any script."""

import tensorflow as tf

from bertlab.text.word_casing import CASING_NAMES, NUM_CASING_IDS, word_casing_ids

CASES = {
    "the": "lower", "über": "lower", "ñandú": "lower",
    "London": "title", "Élysée": "title", "O'neil": "title", "'Tis": "title",
    "EU": "upper", "U.S.": "upper", "I": "upper", "A380": "upper", "ΑΘΗΝΑ": "upper",
    "iPhone": "mixed", "McDonald": "mixed", "O'Neil": "mixed", "eBay": "mixed",
    "1996": "numeric", "3-0": "numeric", "12.5": "numeric", "١٢": "numeric",
    ".": "other", "--": "other", "€": "other", "北京": "other", "😀": "other",
}


def test_categories():
    words = tf.constant(list(CASES))
    names = [CASING_NAMES[i] for i in word_casing_ids(words).numpy()]
    assert dict(zip(CASES, names)) == CASES
    assert NUM_CASING_IDS == len(CASING_NAMES) == 7 and CASING_NAMES[0] == "none"


def test_shapes_are_kept():
    ragged = tf.ragged.constant([["EU", "rejects", "German", "call", "."], [], ["1996"]])
    assert word_casing_ids(ragged).to_list() == [[3, 1, 2, 1, 6], [], [5]]
    dense = word_casing_ids(tf.constant([["Ab", "ab"], ["AB", "a1"]]))
    assert dense.shape == (2, 2) and dense.numpy().tolist() == [[2, 1], [3, 1]]
