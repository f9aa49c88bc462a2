"""Sentence-pair readers: STS-B's tab-separated lines (trailing fields, literal quotes), Chinese
STS-B's `||` lines, SciTLDR JSON lines, SQuAD questions; bad lines fail naming the line."""

import json

import pytest

from bertlab.data import DataError, SentencePairs, read_sentence_pairs

STSB = ("main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\t"
        "An air plane is taking off.\n"
        'main-news\theadlines\t2016\t0012\t4\tHe said "no" twice\tHe said no\t'
        "Europe Media Monitor\tEurope Media Monitor\n"
        "main-forums\tdeft-forum\t2014\t0002\t0.600\tA cat.\tA dog.\n")


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_stsb_lines_take_the_first_seven_fields_and_keep_quotes(tmp_path):
    pairs = read_sentence_pairs(_write(tmp_path, "sts.csv", STSB), "stsb")
    assert pairs.first == ["A plane is taking off.", 'He said "no" twice', "A cat."]
    assert pairs.second == ["An air plane is taking off.", "He said no", "A dog."]
    assert pairs.scores == [5.0, 4.0, 0.6] and pairs.scored and pairs.groups is None
    assert pairs.select([2, 0]).first == ["A cat.", "A plane is taking off."]


@pytest.mark.parametrize("line, message", [
    ("main\tMSRvid\t2012\t0003\t4.0\tOnly one sentence.", r":2: expected at least 7 "),
    ("main\tMSRvid\t2012\t0003\tfour\tA.\tB.", r":2: the score 'four' is not a number"),
    ("main\tMSRvid\t2012\t0003\tnan\tA.\tB.", r":2: the score 'nan' is not a finite"),
    ("main\tMSRvid\t2012\t0003\t4.0\t \tB.", r":2: sentence 1 is empty"),
])
def test_bad_stsb_lines_name_the_line(tmp_path, line, message):
    text = STSB.splitlines(keepends=True)[0] + line + "\n"
    with pytest.raises(DataError, match=message):
        read_sentence_pairs(_write(tmp_path, "sts.csv", text), "stsb")


def test_cnsd_lines_and_their_errors(tmp_path):
    text = "2012test-0001||一架飞机要起飞了。||一架飞机正在起飞。||5\nx||猫。||狗。||0\n"
    pairs = read_sentence_pairs(_write(tmp_path, "cnsd.txt", text), "cnsd")
    assert pairs.first == ["一架飞机要起飞了。", "猫。"] and pairs.second[1] == "狗。"
    assert pairs.scores == [5.0, 0.0]
    with pytest.raises(DataError, match=r"cnsd.txt:2: expected 4 fields separated by '\|\|'"):
        read_sentence_pairs(_write(tmp_path, "cnsd.txt", "x||猫。||狗。||0\ny||猫||3\n"), "cnsd")
    with pytest.raises(DataError, match=r":1: the score 'high' is not a number"):
        read_sentence_pairs(_write(tmp_path, "cnsd.txt", "x||猫。||狗。||high\n"), "cnsd")


def test_scitldr_gives_one_query_per_tldr(tmp_path):
    papers = [{"paper_id": "p1", "source": ["First sentence.", "Second one."],
               "target": ["TLDR one.", "TLDR two."]},
              {"paper_id": "p2", "source": ["Other abstract."], "target": ["Other TLDR."]}]
    text = "\n".join(json.dumps(p) for p in papers)  # no final newline, as the real files
    pairs = read_sentence_pairs(_write(tmp_path, "dev.jsonl", text), "scitldr")
    assert pairs.first == ["TLDR one.", "TLDR two.", "Other TLDR."]
    assert pairs.second == ["First sentence. Second one."] * 2 + ["Other abstract."]
    assert pairs.scores is None and not pairs.scored and pairs.groups == ["p1", "p1", "p2"]
    with pytest.raises(DataError, match=r"dev.jsonl:2: not valid JSON"):
        read_sentence_pairs(_write(tmp_path, "dev.jsonl", json.dumps(papers[0]) + "\n{oops"),
                            "scitldr")
    with pytest.raises(DataError, match=r":1: expected `source` and `target` lists"):
        read_sentence_pairs(_write(tmp_path, "dev.jsonl", '{"source": "a", "target": []}'),
                            "scitldr")


def test_squad_questions_with_their_paragraphs(tmp_path):
    document = {"data": [{"title": "T", "paragraphs": [{"context": "Paris is in France.", "qas": [
        {"id": "1", "question": "Where is Paris?", "answers": [{"text": "France",
                                                                "answer_start": 12}]},
        {"id": "2", "question": "What is in France?", "answers": [{"text": "Paris",
                                                                   "answer_start": 0}]}]}]}]}
    pairs = read_sentence_pairs(_write(tmp_path, "q.json", json.dumps(document)), "squad")
    assert pairs.first == ["Where is Paris?", "What is in France?"]
    assert pairs.second == ["Paris is in France."] * 2 and pairs.groups == ["T", "T"]


def test_real_files_read(data_dir):
    sts = read_sentence_pairs(data_dir / "stsbenchmark" / "sts-dev.csv", "stsb")
    assert len(sts) == 1500 and min(sts.scores) == 0.0 and max(sts.scores) == 5.0
    assert len(read_sentence_pairs(data_dir / "chinese_sts_b" / "cnsd-sts-dev.txt", "cnsd")) \
        == 1458


def test_unknown_format_and_empty_or_missing_file(tmp_path):
    with pytest.raises(ValueError, match="`file_format` must be one of"):
        read_sentence_pairs(_write(tmp_path, "a.csv", STSB), "csv")
    with pytest.raises(DataError, match="no sentence pairs"):
        read_sentence_pairs(_write(tmp_path, "empty.csv", ""), "stsb")
    with pytest.raises(DataError, match="not found"):
        read_sentence_pairs(tmp_path / "missing.csv", "stsb")
    assert len(SentencePairs(["a"], ["b"])) == 1
