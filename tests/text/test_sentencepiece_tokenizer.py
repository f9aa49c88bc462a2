import numpy as np
import pytest
import sentencepiece as spm
import tensorflow as tf

from bertlab.text.sentencepiece_tokenizer import (BOS_ID, EOS_ID, PAD_ID, SentencePieceError,
                                                  SubwordConfig, subword_tokenizer,
                                                  SentencePieceTokenizer,
                                                  save_sentencepiece_model, train_sentencepiece)


@pytest.fixture(scope="module")
def multi30k_lines(data_dir):
    en = (data_dir / "multi30k" / "train.en").read_text(encoding="utf-8").splitlines()[:1500]
    de = (data_dir / "multi30k" / "train.de").read_text(encoding="utf-8").splitlines()[:1500]
    return en, de


@pytest.fixture(scope="module")
def proto(multi30k_lines):
    en, de = multi30k_lines
    return train_sentencepiece(en + de, vocabulary_size=600)


def test_in_graph_ids_match_the_sentencepiece_library(proto, multi30k_lines, data_dir):
    tokenizer = SentencePieceTokenizer(proto)
    reference = spm.SentencePieceProcessor(model_proto=proto)
    val = (data_dir / "multi30k" / "val.de").read_text(encoding="utf-8").splitlines()[:200]
    ids = tokenizer(tf.constant(val)).to_list()
    assert ids == reference.encode(val)
    assert tokenizer.vocabulary_size == reference.get_piece_size() <= 600
    assert (tokenizer.pad_token_id, tokenizer.start_token_id, tokenizer.end_token_id) == (
        PAD_ID, BOS_ID, EOS_ID)


def test_round_trip_restores_text(proto, data_dir):
    tokenizer = SentencePieceTokenizer(proto)
    texts = (data_dir / "multi30k" / "val.en").read_text(encoding="utf-8").splitlines()[:300]
    # Unseen words and characters (byte fallback) included.
    texts += ["Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.", "猫 café ☕"]
    decoded = tokenizer.detokenize(tokenizer(tf.constant(texts))).numpy()
    decoded = [t.decode("utf-8") for t in decoded]
    normalized = [" ".join(t.split()) for t in texts]
    assert decoded == normalized


def test_detokenize_dense_ids_drops_special_tokens(proto):
    tokenizer = SentencePieceTokenizer(proto)
    ids = tokenizer(tf.constant(["A dog runs.", "Two men"])).to_list()
    dense = np.zeros((2, 12), "int32")
    for row, seq in enumerate(ids):
        dense[row, :len(seq) + 2] = [BOS_ID] + seq + [EOS_ID]
    np.testing.assert_array_equal(tokenizer.detokenize(tf.constant(dense)).numpy(),
                                  [b"A dog runs.", b"Two men"])


def test_any_bytes_are_accepted(proto):
    tokenizer = SentencePieceTokenizer(proto)
    ids = tokenizer(tf.constant([b"", b"\xff\xfe\x80 broken", b"ok \xc3"]))
    assert ids.shape[0] == 3 and ids[0].shape[0] == 0 and ids[1].shape[0] > 0
    text = tokenizer.detokenize(ids).numpy()
    assert text[0] == b"" and text[1].decode("utf-8").endswith("broken")


def test_config_round_trip_and_files(proto, tmp_path):
    tokenizer = SentencePieceTokenizer(proto)
    clone = SentencePieceTokenizer.from_config(tokenizer.get_config())
    texts = tf.constant(["A little girl climbing."])
    assert clone(texts).to_list() == tokenizer(texts).to_list()
    path = str(tmp_path / "spm.model")
    save_sentencepiece_model(proto, path)
    assert SentencePieceTokenizer(path)(texts).to_list() == tokenizer(texts).to_list()
    assert tokenizer.token_to_id(tokenizer.id_to_token(42)) == 42
    with pytest.raises(KeyError, match="not in the vocabulary"):
        tokenizer.token_to_id("no-such-piece-here")


def test_bad_models_and_training_data(tmp_path):
    with pytest.raises(SentencePieceError, match="not found"):
        SentencePieceTokenizer(str(tmp_path / "missing.model"))
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"this is not a model proto")
    with pytest.raises(SentencePieceError, match="not a SentencePiece model"):
        SentencePieceTokenizer(str(bad))
    with pytest.raises(SentencePieceError, match="No training sentences"):
        train_sentencepiece(["", "   "], vocabulary_size=100)
    with pytest.raises(SentencePieceError, match="model_type"):
        train_sentencepiece(["a b c"], vocabulary_size=100, model_type="wordpiece")


def test_survives_resetting_the_global_seed(proto):
    # tf.random.set_seed clears TF's kernel cache, where the model resource lives.
    tokenizer = SentencePieceTokenizer(proto)
    texts = tf.constant(["Two dogs play in the snow."])
    before = tokenizer(texts).to_list()
    tf.random.set_seed(3)
    assert tokenizer(texts).to_list() == before
    tf.random.set_seed(4)
    assert tf.function(lambda t: tokenizer.detokenize(tokenizer(t)))(texts).numpy()[0] == (
        b"Two dogs play in the snow.")


def test_subword_tokenizer_reuses_a_saved_model(pairs, spm_path):
    first = subword_tokenizer(SubwordConfig(vocabulary_size=500), pairs[0] + pairs[1], spm_path)
    # A resumed run reloads the file instead of training on (different) text.
    again = subword_tokenizer(SubwordConfig(vocabulary_size=300), ["other text"], spm_path)
    assert again.proto == first.proto
