import os
import subprocess
import sys

import pytest
import tensorflow as tf

from bertlab.text import vocabulary_learning
from bertlab.text import BertTokenizer, basic_tokenize, load_vocabulary
from bertlab.text.vocabulary import SPECIAL_TOKENS

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_reserved_tokens_first_and_size_bounded(vocab_file):
    tokens = load_vocabulary(str(vocab_file))
    assert tokens[:5] == list(SPECIAL_TOKENS)  # [PAD] is id 0
    assert 900 <= len(tokens) <= 1000  # the learner's 5% slack below the target
    assert any(t.startswith("##") for t in tokens)


def test_learned_vocabulary_round_trips_the_text(vocab_file, wikitext_sentences):
    tokenizer = BertTokenizer(str(vocab_file), lowercase=True)
    sample = tf.constant(wikitext_sentences[:200])
    words = basic_tokenize(sample).to_list()
    pieces = tokenizer.tokenize_words(basic_tokenize(sample)).to_list()
    unk = tokenizer.token_to_id("[UNK]")
    total = unknown = 0
    for sentence_words, sentence_pieces in zip(words, pieces):
        for word, ids in zip(sentence_words, sentence_pieces):
            total += 1
            if ids == [unk]:
                unknown += 1
                continue
            text = "".join(tokenizer.id_to_token(i).removeprefix("##") for i in ids)
            assert text == word.decode("utf-8")
    # Every character of the learning text is in the alphabet: no [UNK] at all.
    assert total > 3000 and unknown == 0


def test_chinese_characters_are_single_tokens():
    text = ["我们喜欢学习中文。中文很有意思！", "学习 BERT 模型。", "我们的模型很好"] * 3
    tokens = vocabulary_learning.learn_vocabulary_from_lines(text, vocab_size=60, min_frequency=1)
    cjk = [t for t in tokens if any("\u4e00" <= ch <= "\u9fff" for ch in t)]
    assert cjk and all(len(t.removeprefix("##")) == 1 for t in cjk)
    tokenizer = BertTokenizer(tokens)
    ids = tokenizer(tf.constant(["中文模型"])).to_list()[0]
    assert [tokenizer.id_to_token(i) for i in ids] == ["中", "文", "模", "型"]


def test_vocabulary_respects_size_when_the_learner_overshoots():
    counts = {"abcdefgh": 5, "bcdefghi": 5, "cdefghij": 5}
    tokens = vocabulary_learning.learn_vocabulary(counts, vocab_size=30, min_frequency=1)
    assert len(tokens) <= 30
    chars = set("abcdefghij")
    assert chars <= set(tokens) and {"##" + c for c in chars} <= set(tokens)
    with pytest.raises(ValueError, match="vocab_size"):
        vocabulary_learning.learn_vocabulary(counts, vocab_size=12)


def test_bad_inputs():
    with pytest.raises(ValueError, match="corpus is empty"):
        vocabulary_learning.learn_vocabulary_from_lines(["", "  "], vocab_size=100)
    with pytest.raises(ValueError, match="vocab_size"):
        vocabulary_learning.learn_vocabulary({"a": 1}, vocab_size=5)
    with pytest.raises(ValueError, match="reserved_tokens"):
        vocabulary_learning.learn_vocabulary({"a": 1}, 50, reserved_tokens=["[PAD]", "[PAD]"])


def _run_app(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "apps.pretrain.build_vocab", *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_build_vocab_app(wikitext_file, tmp_path):
    out = tmp_path / "sub" / "vocab.txt"
    done = _run_app(f"--input={wikitext_file}", f"--output={out}", "--vocab_size=300",
                    "--input_format=wikitext", "--max_lines=150")
    assert done.returncode == 0, done.stderr[-2000:]
    tokens = load_vocabulary(str(out))
    assert tokens[:5] == list(SPECIAL_TOKENS) and len(tokens) <= 300
    assert not [p for p in os.listdir(out.parent) if ".tmp" in p]


def test_cjk_min_count_makes_every_frequent_ideograph_one_token():
    counts = {"中": 7, "国": 3, "人": 2, "の": 9, "the": 30, "cat": 12, "cats": 6, "##x": 1}
    tokens = vocabulary_learning.learn_vocabulary(counts, vocab_size=40, min_frequency=1,
                                                  cjk_min_count=3)
    assert tokens[:7] == [*SPECIAL_TOKENS, "中", "国"]  # most frequent first
    assert "人" not in tokens  # counted 2 < 3 times: [UNK]
    assert not [t for t in tokens if t.startswith("##") and len(t) == 3
                and vocabulary_learning.is_cjk_character(t[2])]  # no "##中"
    assert "の" in tokens and "##の" in tokens  # kana are not ideographs: learner's alphabet
    assert len(tokens) <= 40 and len(set(tokens)) == len(tokens)
    tokenizer = BertTokenizer(tokens)
    ids = tokenizer(tf.constant(["中国人 the cats"])).to_list()[0]
    assert [tokenizer.id_to_token(i) for i in ids][:3] == ["中", "国", "[UNK]"]
    # Only ideographs: reserved tokens and ideographs, nothing learned.
    assert vocabulary_learning.learn_vocabulary({"中": 2, "国": 1}, 10, cjk_min_count=1) == [
        *SPECIAL_TOKENS, "中", "国"]


def test_cjk_min_count_bad_values():
    counts = {c: 5 for c in "中国人民大学"} | {"word": 5}
    with pytest.raises(ValueError, match=r"6 CJK characters occur at least `cjk_min_count`=5"):
        vocabulary_learning.learn_vocabulary(counts, vocab_size=11, cjk_min_count=5)
    with pytest.raises(ValueError, match="cjk_min_count"):
        vocabulary_learning.learn_vocabulary(counts, vocab_size=100, cjk_min_count=0)


def test_build_vocab_app_cjk_min_count(tmp_path):
    corpus_file = tmp_path / "zh.txt"
    corpus_file.write_text("中国人民。\n中国。\n\n人民的中国 hello hello\n", encoding="utf-8")
    out = tmp_path / "vocab.txt"
    done = _run_app(f"--input={corpus_file}", f"--output={out}", "--vocab_size=40",
                    "--cjk_min_count=2", "--min_frequency=1")
    assert done.returncode == 0, done.stderr[-2000:]
    tokens = load_vocabulary(str(out))
    # Counts: 中 3, 国 3, 人 2, 民 2, 的 1.
    assert tokens[5:9] == ["中", "国", "人", "民"] and "的" not in tokens
    assert "(4 CJK characters)" in done.stdout
