"""Character coverage of a vocabulary, on texts whose numbers are counted by hand."""

import pytest

from bertlab.text import BertTokenizer
from bertlab.text.vocabulary_coverage import CharacterCoverage, character_coverage

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "中", "国", "a", "##b", "。"]


def test_unknown_ideographs_and_unknown_words_count_their_characters():
    tokenizer = BertTokenizer(VOCAB)
    # "中国人。": 4 characters, 人 unknown. "ab abc": "ab" -> a ##b (2 covered), "abc" has no
    # "c": one [UNK] of 3 characters. Spaces count for nothing.
    result = character_coverage(tokenizer, ["中国人。", "ab abc"])
    assert (result.characters, result.unknown) == (9, 4)
    assert result.coverage == pytest.approx(5 / 9)
    assert dict(result.unknown_spans) == {"人": 1, "abc": 1}
    # Batching does not change the counts.
    assert character_coverage(tokenizer, ["中国人。", "ab abc"], batch_size=1) == result


def test_normalization_whitespace_and_control_characters():
    tokenizer = BertTokenizer(VOCAB, lowercase=True)
    # Upper case and an accent fold into "ab" (covered); NUL and a zero-width space are
    # dropped by the tokenizer's cleaning; a tab is whitespace.
    result = character_coverage(tokenizer, ["AB\t\x00中\u200b国", "Áb 人人"])
    assert (result.characters, result.unknown) == (8, 2)
    assert result.unknown_spans["人"] == 2
    cased = character_coverage(BertTokenizer(VOCAB, lowercase=False), ["AB ab"])
    assert (cased.characters, cased.unknown) == (4, 2)


def test_empty_text_and_sums():
    tokenizer = BertTokenizer(VOCAB)
    empty = character_coverage(tokenizer, ["", "   "])
    assert (empty.characters, empty.unknown, empty.coverage) == (0, 0, 1.0)
    total = character_coverage(tokenizer, ["中人"]) + character_coverage(tokenizer, ["国国"])
    assert (total.characters, total.unknown) == (4, 1) and total.coverage == 0.75
    assert isinstance(total, CharacterCoverage)
    with pytest.raises(ValueError, match="batch_size"):
        character_coverage(tokenizer, ["中"], batch_size=0)


def _fake_data_dir(root):
    """Each Chinese data set of ../shared/data in its own format, two short texts each."""
    files = {
        "chnsenticorp/train.tsv": "label\ttext_a\n1\t中国\n0\t人\n",
        "weibo_ner/train.txt": "中\tB-GPE.NAM\n国\tI-GPE.NAM\n\n人\tO\n",
        "weibo_ner/dev.txt": "国\tO\n",
        "thucnews_titles/train.txt": "中国\t3\n人人\t4\n",
        "cmrc2018/train.json": '{"data": [{"paragraphs": [{"context": "中国人", '
                               '"qas": [{"question": "国", "answers": []}]}]}]}',
        "drcd/train.json": '{"data": [{"paragraphs": [{"context": "中國", "qas": []}]}]}',
        "chinese_sts_b/cnsd-sts-train.txt": "1||中国||人||5\n",
        "chinese_sts_b/cnsd-sts-dev.txt": "2||国||国||4\n",
        "csl_ts/dev.tsv": "to title\t中国人\t中国\n",
        "tatoeba_zh_en/train.tsv": "China.\t中国。\tCC-BY 2.0\n",
        "tatoeba_zh_en/valid.tsv": "Man.\t人。\tCC-BY 2.0\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_vocab_coverage_app_reads_every_data_set_format(tmp_path):
    from tests.apps.app_process import run_apps

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    data_dir = _fake_data_dir(tmp_path / "data")
    extra = tmp_path / "extra.txt"
    extra.write_text("中国人。\nab abc\n", encoding="utf-8")
    ok, below, bad = run_apps([
        ("apps.pretrain.vocab_coverage", [f"--vocab_file={vocab}", f"--data_dir={data_dir}",
                                          f"--input={extra}"]),
        ("apps.pretrain.vocab_coverage", [f"--vocab_file={vocab}", f"--data_dir={data_dir}",
                                          "--datasets=thucnews_titles", "--min_coverage=0.9"]),
        ("apps.pretrain.vocab_coverage", [f"--vocab_file={vocab}", "--datasets=weibo"]),
    ], expect_ok=False)
    assert ok.returncode == 0, ok.stderr[-2000:]
    rows = {line.split()[0]: line for line in ok.stdout.splitlines()[1:]}
    # Hand counts (characters, unknown): 人 is the only missing ideograph, 國 too for DRCD.
    expected = {"chnsenticorp": (3, 1), "weibo_ner": (4, 1), "thucnews_titles": (4, 2),
                "cmrc2018": (4, 1), "drcd": (2, 1), "chinese_sts_b": (5, 1),
                "csl_ts": (5, 1), "tatoeba_zh_en": (5, 1), "input": (9, 4)}
    assert set(rows) == set(expected)
    for name, (characters, unknown) in expected.items():
        assert f" {characters:,d} characters " in rows[name], rows[name]
        assert f" {unknown:,d} unknown " in rows[name], rows[name]
        assert f"coverage {100 * (1 - unknown / characters):8.4f}%" in rows[name], rows[name]
    assert "'國'x1" in rows["drcd"] and "'abc'x1" in rows["input"]
    assert below.returncode == 1 and "Below 90%: thucnews_titles" in below.stdout
    assert bad.returncode != 0 and "unknown data set(s) weibo" in bad.stderr


def test_every_chinese_data_set_is_read_from_shared_data(data_dir):
    from apps.pretrain.vocab_coverage import CHINESE_DATASETS
    from bertlab.text.bert_tokenizer import is_cjk_character

    for name, read in CHINESE_DATASETS.items():
        texts = list(read(str(data_dir)))
        assert len(texts) > 900, name
        cjk = sum(is_cjk_character(c) for t in texts for c in t)
        assert cjk > 0.5 * sum(len(t) for t in texts), name
