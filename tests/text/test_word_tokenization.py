"""Word -> subword alignment for tagging: first-subword positions, punctuation, truncation."""

import numpy as np
import pytest
import tensorflow as tf

from bertlab.text import BertTokenizer
from bertlab.text.word_tokenization import (gather_word_values, pack_words,
                                            scatter_word_labels, split_whitespace, tokenize_words)

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "u", ".", "s", "go", "##es", "new", "york", "-"]


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB)


def test_split_whitespace_unicode_spaces_and_bad_bytes():
    words = split_whitespace(tf.constant([b"  a\tb\xc2\xa0c\xe3\x80\x80d ", b"", b"x\xff y"]))
    assert words.to_list() == [[b"a", b"b", b"c", b"d"], [], [b"x\xef\xbf\xbd", b"y"]]


def test_first_subword_positions_with_punctuation_split_words(tokenizer):
    words = split_whitespace(tf.constant(["U.S. goes New-York", "goes"]))
    packed = pack_words(tokenizer, words, sequence_length=32)
    # [CLS] u . s . go ##es new - york [SEP]
    assert packed["token_ids"].numpy()[0].tolist() == [2, 4, 5, 6, 5, 7, 8, 9, 11, 10, 3]
    assert packed["word_positions"].to_list() == [[1, 5, 7], [1]]
    assert packed["token_ids"].shape == (2, 11)  # padded to the longest row only
    np.testing.assert_array_equal(packed["padding_mask"].numpy()[1], [1, 1, 1, 1] + [0] * 7)  # [CLS] go ##es [SEP]


def test_words_without_subwords_get_unknown(tokenizer):
    # A private-use character and a zero-width space are dropped by BERT's cleaning.
    words = split_whitespace(tf.constant(["go \ue000 \u200b goes"]))
    subwords = tokenize_words(tokenizer, words)
    assert subwords.to_list() == [[[7], [1], [1], [7, 8]]]


def test_truncation_marks_cut_words(tokenizer):
    words = split_whitespace(tf.constant(["goes goes go U.S."]))
    packed = pack_words(tokenizer, words, sequence_length=7)  # room for 5 subwords
    assert packed["token_ids"].numpy().tolist() == [[2, 7, 8, 7, 8, 7, 3]]
    assert packed["word_positions"].to_list() == [[1, 3, 5, -1]]
    with pytest.raises(ValueError, match="sequence_length"):
        pack_words(tokenizer, words, sequence_length=2)


def test_casing_ids_follow_each_subword_of_a_word(tokenizer):
    words = split_whitespace(tf.constant(["U.S. goes New-York", "goes"]))
    packed = pack_words(tokenizer, words, sequence_length=32, with_casing=True)
    # [CLS] u . s . go ##es new - york [SEP]: upper x4, lower x2, mixed x3 ("New-York").
    assert packed["casing_ids"].numpy().tolist() == [[0, 3, 3, 3, 3, 1, 1, 4, 4, 4, 0],
                                                     [0, 1, 1, 0] + [0] * 7]
    assert packed["token_ids"].numpy()[0].tolist() == [2, 4, 5, 6, 5, 7, 8, 9, 11, 10, 3]
    cut = pack_words(tokenizer, words, sequence_length=5, with_casing=True)
    assert cut["casing_ids"].numpy().tolist() == [[0, 3, 3, 3, 0], [0, 1, 1, 0, 0]]
    assert "casing_ids" not in pack_words(tokenizer, words, sequence_length=5)


def test_scatter_and_gather_are_inverse(tokenizer):
    words = split_whitespace(tf.constant(["U.S. goes go", "", "go go go go"]))
    packed = pack_words(tokenizer, words, sequence_length=7)
    labels = tf.ragged.constant([[3, 4, 5], [], [6, 7, 8, 9]])
    dense = scatter_word_labels(labels, packed["word_positions"],
                                tf.shape(packed["token_ids"])[1])
    assert dense.numpy().tolist() == [[-1, 3, -1, -1, -1, 4, -1],
                                      [-1, -1, -1, -1, -1, -1, -1],
                                      [-1, 6, 7, 8, 9, -1, -1]]
    back = gather_word_values(dense, packed["word_positions"], fill_value=0)
    assert back.to_list() == [[3, 4, 0], [], [6, 7, 8, 9]]  # the cut word reads fill_value
    logits = tf.random.normal(tf.concat([tf.shape(dense), [5]], axis=0))
    per_word = gather_word_values(logits, packed["word_positions"], fill_value=0.0)
    assert per_word.shape.as_list() == [3, None, 5]
    np.testing.assert_allclose(per_word[2].numpy(), logits[2, 1:5].numpy())


def test_matches_reference_wordpiece_per_word(minilm_dir, data_dir):
    """Every CoNLL word's subwords equal the reference tokenizer's on that word."""
    tokenizers = pytest.importorskip("tokenizers")
    from bertlab.data import read_conll

    tok = BertTokenizer(f"{minilm_dir}/vocab.txt")
    reference = tokenizers.BertWordPieceTokenizer(f"{minilm_dir}/vocab.txt", lowercase=True)
    sentences = read_conll(data_dir / "conll2003" / "valid.txt").tokens[:40]
    sentences.append(["U.S.-led", "naïve", "2:1", "(AP)", "O'Neill"])
    words = split_whitespace(tf.constant([" ".join(s) for s in sentences]))
    packed = pack_words(tok, words, sequence_length=512)
    for row, sentence in enumerate(sentences):
        expected = [reference.encode(w, add_special_tokens=False).ids for w in sentence]
        ids = packed["token_ids"].numpy()[row]
        positions = packed["word_positions"][row].numpy().tolist()
        flat = [i for word in expected for i in word]
        assert ids[1:1 + len(flat)].tolist() == flat
        assert positions == np.cumsum([1] + [len(w) for w in expected[:-1]]).tolist()
