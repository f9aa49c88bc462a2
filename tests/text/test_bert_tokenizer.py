"""bertlab's in-graph tokenizer against the checkpoint's own reference tokenizer."""

import pytest
import tensorflow as tf

from bertlab.text import BertPreprocessor, BertTokenizer, VocabularyError, basic_tokenize


def test_ids_match_reference_tokenizer(minilm_dir, reference, real_texts):
    assert len(real_texts) > 500
    tokenizer = BertTokenizer(f"{minilm_dir}/vocab.txt", lowercase=True)
    ours = tokenizer(tf.constant(real_texts)).to_list()
    mismatches = [(t, o, r) for t, o, r in
                  zip(real_texts, ours, (reference.encode(t).ids[1:-1] for t in real_texts))
                  if o != r]
    assert not mismatches, mismatches[:3]


def test_basic_tokenizer_behaviour():
    words = basic_tokenize(tf.constant(["Héllo, wörld!", "中文字", "don't"])).to_list()
    assert words == [[b"hello", b",", b"world", b"!"],
                     ["中".encode(), "文".encode(), "字".encode()],
                     [b"don", b"'", b"t"]]
    cased = basic_tokenize(tf.constant(["Héllo"]), lowercase=False).to_list()
    assert cased == [["Héllo".encode()]]


def test_vocabulary_errors(tmp_path):
    with pytest.raises(VocabularyError, match="not found"):
        BertTokenizer(str(tmp_path / "missing.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(VocabularyError, match="empty"):
        BertTokenizer(str(empty))
    no_cls = tmp_path / "nocls.txt"
    no_cls.write_text("[PAD]\n[UNK]\n[SEP]\nhello\n")
    with pytest.raises(KeyError, match="CLS"):
        BertPreprocessor.from_vocabulary(str(no_cls))
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"[PAD]\n\xff\xfe\n")
    with pytest.raises(VocabularyError, match="UTF-8"):
        BertTokenizer(str(binary))
    dup = tmp_path / "dup.txt"
    dup.write_text("[UNK]\nhello\nhello\n")
    with pytest.raises(VocabularyError, match="repeats"):
        BertTokenizer(str(dup))
    with pytest.raises(ValueError, match="sequence_length"):
        BertPreprocessor(BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]"]), sequence_length=2)
