"""The language-model SentencePiece setting (`train_sentencepiece(lossless=True)`): any
UTF-8 text round-trips through the in-graph tokenizer, and tokenizing line by line equals
tokenizing the whole text (what streaming a corpus relies on)."""

import pytest
import sentencepiece as spm
import tensorflow as tf

from bertlab.text.sentencepiece_tokenizer import SentencePieceTokenizer, train_sentencepiece

TEXTS = [
    "It was the best of times, it was the worst of times.",
    "中文测试：你好，世界！《红楼梦》",
    "emoji 😀👍🏽 and a family 👨‍👩‍👧",
    "Crème brûlée, naïve café, Ångström; decomposed: e\u0301",
    "",
    "  indented  with   runs of spaces \n\nand blank lines\n",
    "tab\tand\u00a0nbsp\r\nwindows line",
    "ﬁ ligature, ｆｕｌｌｗｉｄｔｈ, zero\u200bwidth",
]


@pytest.fixture(scope="module")
def emma_lines(data_dir):
    text = (data_dir / "gutenberg" / "austen-emma.txt").read_text(encoding="utf-8")
    return text.splitlines(keepends=True)[:3000]


@pytest.fixture(scope="module")
def tokenizer(emma_lines):
    return SentencePieceTokenizer(train_sentencepiece(emma_lines, vocabulary_size=700,
                                                      lossless=True, model_type="bpe"))


def test_any_utf8_text_round_trips_in_the_graph(tokenizer):
    round_trip = tf.function(lambda t: tokenizer.detokenize(tokenizer(t)))
    decoded = [t.decode("utf-8") for t in round_trip(tf.constant(TEXTS)).numpy()]
    assert decoded == TEXTS
    # Characters never seen in training (Chinese, emoji) become byte pieces, not <unk>.
    ids = tokenizer(tf.constant(TEXTS)).flat_values.numpy()
    assert tokenizer.unknown_token_id not in ids


@pytest.mark.parametrize("book", ["austen-emma.txt", "chesterton-ball.txt"])
def test_line_by_line_equals_whole_text_with_bpe(tokenizer, book, data_dir):
    lines = (data_dir / "gutenberg" / book).read_text(
        encoding="utf-8").splitlines(keepends=True)[:3000]
    whole = tokenizer(tf.constant(["".join(lines)])).flat_values.numpy().tolist()
    by_line = tokenizer(tf.constant(lines)).flat_values.numpy().tolist()
    assert whole == by_line
    reference = spm.SentencePieceProcessor(model_proto=tokenizer.proto)
    assert whole == reference.encode("".join(lines))


def test_unigram_round_trips_too(emma_lines):
    tokenizer = SentencePieceTokenizer(train_sentencepiece(emma_lines, vocabulary_size=700,
                                                           lossless=True))
    decoded = tokenizer.detokenize(tokenizer(tf.constant(TEXTS))).numpy()
    assert [t.decode("utf-8") for t in decoded] == TEXTS


def test_default_setting_still_normalizes(emma_lines):
    tokenizer = SentencePieceTokenizer(train_sentencepiece(emma_lines, vocabulary_size=700))
    decoded = tokenizer.detokenize(tokenizer(tf.constant(["  two  spaces ﬁ"]))).numpy()[0]
    assert decoded.decode("utf-8") == "two spaces fi"
