"""Readers of TSV sentence files and CoNLL column files: real data and bad files."""

import pytest

from bertlab.data import (DataError, hold_out_every, read_conll, read_labeled_sentences)


def _write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def test_reads_sst2_dev(data_dir):
    sentences = read_labeled_sentences(data_dir / "sst2" / "dev.tsv", label_names=("0", "1"))
    assert len(sentences) == 872
    assert sentences.labels.count("0") == 428
    assert sentences.texts[0].startswith("it 's a charming")


def test_reads_chnsenticorp_columns_in_other_order(data_dir):
    sentences = read_labeled_sentences(data_dir / "chnsenticorp" / "train.tsv")
    assert len(sentences) == 9600
    assert set(sentences.labels) == {"0", "1"}
    assert sentences.texts[0].startswith("选择珠江花园")


def test_reads_conll2003_and_weibo(data_dir):
    conll = read_conll(data_dir / "conll2003" / "valid.txt")
    assert len(conll) == 3250
    assert sum(len(t) for t in conll.tokens) == 51362
    assert conll.tokens[2][:2] == ["West", "Indian"]
    assert conll.tags[2][:2] == ["B-MISC", "I-MISC"]
    weibo = read_conll(data_dir / "weibo_ner" / "dev.txt")
    assert len(weibo) == 270
    assert sum(len(t) for t in weibo.tokens) == 14509
    assert weibo.tags[0][0] in ("O", "B-PER.NAM", "B-PER.NOM", "B-LOC.NAM", "B-ORG.NAM", "B-GPE.NAM")


def test_docstart_and_windows_line_endings(tmp_path):
    path = _write(tmp_path, "a.txt", "-DOCSTART- -X- -X- O\r\n\r\nEU NNP B-NP B-ORG\r\n"
                  "rejects VBZ B-VP O\r\n\r\n-DOCSTART- -X- -X- O\r\nPeter NNP B-NP B-PER\r\n")
    tagged = read_conll(path)
    assert tagged.tokens == [["EU", "rejects"], ["Peter"]]
    assert tagged.tags == [["B-ORG", "O"], ["B-PER"]]


def test_missing_file():
    with pytest.raises(DataError, match="not found: /no/such.tsv"):
        read_labeled_sentences("/no/such.tsv")
    with pytest.raises(DataError, match="not found"):
        read_conll("/no/such.txt")


@pytest.mark.parametrize("content, message", [
    ("sentence\tlabel\ngood film\t1\nbad film\n", r"a.tsv:3: expected 2 tab-separated columns, got 1"),
    ("sentence\tlabel\ngood film\t7\n", r"a.tsv:2: unknown label '7'"),
    ("sentence\tlabel\n\t1\n", r"a.tsv:2: empty text"),
    ("text\tscore\ngood\t1\n", r"no label column"),
    ("", r"empty"),
    ("sentence\tlabel\n", r"no examples"),
])
def test_malformed_tsv(tmp_path, content, message):
    path = _write(tmp_path, "a.tsv", content)
    with pytest.raises(DataError, match=message):
        read_labeled_sentences(path, label_names=("0", "1"))


def test_non_utf8_names_the_line(tmp_path):
    path = _write(tmp_path, "a.tsv", b"sentence\tlabel\ngood\t1\nbad \xff\t0\n")
    with pytest.raises(DataError, match=r"a.tsv:3: not valid UTF-8"):
        read_labeled_sentences(path)


@pytest.mark.parametrize("content, message", [
    ("EU NNP B-NP B-ORG\nrejects VBZ O\n", r"c.txt:2: expected 4 columns, got 3"),
    ("EU NNP B-NP ORG\n", r"c.txt:1: tag 'ORG' is not BIO"),
    ("EU\n", r"expected a token and a tag column"),
    ("\n\n", r"no sentences"),
])
def test_malformed_conll(tmp_path, content, message):
    path = _write(tmp_path, "c.txt", content)
    with pytest.raises(DataError, match=message):
        read_conll(path)


def test_hold_out_every_is_a_deterministic_partition():
    train = hold_out_every(25, 10, "train")
    validation = hold_out_every(25, 10, "validation")
    assert validation == [9, 19]
    assert sorted(train + validation) == list(range(25))
    with pytest.raises(ValueError, match="`every`"):
        hold_out_every(25, 1, "train")
    with pytest.raises(ValueError, match="`split`"):
        hold_out_every(25, 10, "test")


def test_csv_with_joined_text_columns_and_quotes(tmp_path):
    # AG News: "class","title","description", quoted, commas and quotes inside fields.
    path = tmp_path / "news.csv"
    path.write_text('"3","Oil, gas rise","Prices ""jump"" again"\n"1","Vote","Polls open"\n',
                    encoding="utf-8")
    examples = read_labeled_sentences(path, [1, 2], 0, has_header=False, file_format="csv")
    assert examples.texts == ['Oil, gas rise Prices "jump" again', "Vote Polls open"]
    assert examples.labels == ["3", "1"] and examples.pairs is None


def test_text_pairs_and_extra_trailing_columns(tmp_path):
    # STS-B: genre, file, year, id, score, sentence 1, sentence 2 (+ 2 fields on some rows).
    path = tmp_path / "sts.csv"
    path.write_text("g\tf\t2012\t1\t5.000\tA plane.\tAn air plane.\n"
                    "g\tf\t2012\t2\t0.500\tA \"quote\".\tB.\textra\tmore\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"sts.csv:2: expected 7 tab-separated columns, got 9"):
        read_labeled_sentences(path, 5, 4, has_header=False, text_pair_column=6)
    examples = read_labeled_sentences(path, 5, 4, has_header=False, text_pair_column=6,
                                      extra_columns=True)
    assert examples.texts == ["A plane.", 'A "quote".'] and examples.pairs == ["An air plane.", "B."]
    assert examples.labels == ["5.000", "0.500"]
    assert examples.select([1]).pairs == ["B."]


def test_empty_text_pair_and_malformed_csv_are_errors(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("1\ta\t \n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.tsv:1: empty text pair"):
        read_labeled_sentences(path, 1, 0, has_header=False, text_pair_column=2)
    bad = tmp_path / "bad.csv"
    bad.write_text('"1","unterminated\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv: malformed CSV"):
        read_labeled_sentences(bad, 1, 0, has_header=False, file_format="csv")
