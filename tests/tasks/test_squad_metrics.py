"""SQuAD v1.1 and CMRC 2018 exact match and F1, against hand computations of the official
scripts' definitions (normalization, token overlap, longest common substring, totals)."""

import logging

import pytest

from bertlab.data import QuestionExample
from bertlab.tasks.squad_metrics import (cmrc_exact_match, cmrc_f1, cmrc_scores,
                                         longest_common_substring, mixed_segmentation,
                                         normalize_answer, remove_punctuation, squad_exact_match,
                                         squad_f1, squad_scores)


def _question(qid, *references):
    return QuestionExample(qid, "title", "?", "context", tuple(references), (0,) * len(references))


@pytest.mark.parametrize("text, normalized", [
    ("The  Quick, brown fox!", "quick brown fox"),
    ("an apple a day", "apple day"),
    ("Theory of the atom", "theory of atom"),    # articles only as whole words
    ("the-end", "theend"),                       # punctuation goes first: no article left
    ("A.M.", "am"),
    ("Ünïcode   Straße\t", "ünïcode straße"),
    ("“Quoted”", "“quoted”"),                    # curly quotes are not string.punctuation
    (" The ", ""),
])
def test_squad_normalization(text, normalized):
    assert normalize_answer(text) == normalized


def test_squad_exact_match_and_f1_by_hand():
    assert squad_exact_match("The Denver Broncos!", "denver broncos") == 1.0
    assert squad_exact_match("Denver", "Denver Broncos") == 0.0
    # [denver, broncos, team] vs [broncos, of, denver]: 2 in common, P = R = 2/3.
    assert squad_f1("the Denver Broncos team", "Broncos of Denver") == pytest.approx(2 / 3)
    # Overlap is a multiset: one "paris" in common, P = 1/3, R = 1, F1 = 2 * 1/3 / (4/3).
    assert squad_f1("Paris Paris Paris", "Paris") == pytest.approx(0.5)
    assert squad_f1("London", "Paris") == 0.0
    assert squad_f1("", "Paris") == 0.0 and squad_exact_match("", "Paris") == 0.0
    # The official quirk: a reference that normalizes to nothing matches an empty
    # prediction exactly, but has no token to overlap.
    assert squad_exact_match("", "The") == 1.0 and squad_f1("", "The") == 0.0


def test_squad_scores_take_the_best_reference_and_count_missing_as_zero(caplog):
    examples = [_question("q1", "Broncos", "Denver Broncos"),  # F1 2/3 against the first
                _question("q2", "Denver Broncos"),
                _question("q3", "Carolina Panthers")]
    predictions = {"q1": "Denver Broncos",
                   # [broncos, team] vs [denver, broncos]: P = R = 1/2.
                   "q2": "the Broncos team",
                   "other": "ignored"}
    with caplog.at_level(logging.WARNING):
        scores = squad_scores(predictions, examples)
    assert scores == pytest.approx({"exact_match": 100 / 3, "f1": 100 * 1.5 / 3, "count": 3})
    assert "1 of 3 questions have no prediction" in caplog.text and "q3" in caplog.text
    assert squad_scores({"q1": "broncos"}, examples[:1]) == {"exact_match": 100.0, "f1": 100.0,
                                                             "count": 1}


def test_cmrc_segmentation():
    assert mixed_segmentation("2018年CMRC比赛") == ["2018", "年", "cmrc", "比", "赛"]
    assert mixed_segmentation("《北京》 v1.5版") == ["《", "北", "京", "》", "v1", ".", "5", "版"]
    assert mixed_segmentation("《北京》 v1.5版", remove_punc=True) == ["北", "京", "v1", ".", "5",
                                                                       "版"]
    # A removed mark does not end the word it sits in, as in the script.
    assert mixed_segmentation("ab-cd") == ["ab", "-", "cd"]
    assert mixed_segmentation("ab-cd", remove_punc=True) == ["abcd"]
    # Outside U+4E00..U+9FA5 (here U+3400, extension A) characters are word characters.
    assert mixed_segmentation("㐀㐁北") == ["㐀㐁", "北"]
    assert mixed_segmentation("v1.5版", word_tokenize=str.split) == ["v1.5", "版"]


def test_cmrc_punctuation_is_the_scripts_list():
    assert remove_punctuation(" 「北京」（大学）：一、二。 ") == "北京大学一二"
    assert remove_punctuation("A-B_C+D=E") == "abcde"
    # Not in the script's list: ASCII . , ( ), the left single quote and the ellipsis.
    assert remove_punctuation("好.,()‘…") == "好.,()‘…"


def test_cmrc_exact_match_and_f1_by_hand():
    # [北, 京, 大, 学] inside [北, 京, 大, 学, 图, 书, 馆]: P = 1, R = 4/7, F1 = 8/11.
    assert cmrc_f1("北京大学", "北京大学图书馆") == pytest.approx(8 / 11)
    assert cmrc_exact_match("北京大学", "北京大学图书馆") == 0.0
    # [cmrc, 比, 赛] inside [2018, 年, cmrc, 比, 赛]: P = 1, R = 3/5, F1 = 0.75.
    assert cmrc_f1("CMRC比赛", "2018年CMRC比赛") == pytest.approx(0.75)
    assert cmrc_f1("2018年CMRC比赛", "2018年cmrc比赛") == 1.0
    # Longest common *substring*: [北, 大, 学] vs [北, 京, 大, 学] share the run 大学 (2),
    # not the subsequence 北大学 (3): P = 2/3, R = 1/2, F1 = 4/7.
    assert cmrc_f1("北大学", "北京大学") == pytest.approx(4 / 7)
    # Full-width marks are removed for both scores; an ASCII period is not.
    assert cmrc_exact_match("「北京大学」。", "北京大学") == 1.0
    assert cmrc_f1("「北京大学」。", "北京大学") == 1.0
    assert cmrc_exact_match("北京大学.", "北京大学") == 0.0
    assert cmrc_f1("北京大学.", "北京大学") == pytest.approx(8 / 9)  # P = 4/5, R = 1
    # Inner whitespace: EM compares strings, F1 tokens.
    assert cmrc_exact_match("北京 大学", "北京大学") == 0.0 and cmrc_f1("北京 大学", "北京大学") == 1.0
    assert cmrc_f1("", "北京") == 0.0 and cmrc_exact_match("", "北京") == 0.0
    assert cmrc_f1("上海", "北京") == 0.0
    assert longest_common_substring([], ["a"]) == 0
    assert longest_common_substring(list("xabcyabcd"), list("zabcdz")) == 4


def test_cmrc_scores_take_the_best_reference_and_count_missing_as_zero():
    examples = [_question("q1", "北京大学图书馆", "北京大学"),
                _question("q2", "2018年CMRC比赛"),
                _question("q3", "上海")]
    # q2: [2018, 年] inside 5 tokens: P = 1, R = 2/5, F1 = 4/7.
    scores = cmrc_scores({"q1": "北京大学", "q2": "2018年"}, examples)
    assert scores == pytest.approx({"exact_match": 100 / 3, "f1": 100 * (1 + 4 / 7) / 3,
                                    "count": 3})


def test_bad_arguments():
    examples = [_question("q1", "Paris")]
    with pytest.raises(ValueError, match="no questions"):
        squad_scores({"q1": "Paris"}, [])
    with pytest.raises(TypeError, match="question 'q1' must be a string, got int"):
        cmrc_scores({"q1": 3}, examples)
    with pytest.raises(TypeError, match="must map question ids"):
        squad_scores(["Paris"], examples)
    with pytest.raises(ValueError, match="'q2' has no reference answer"):
        squad_scores({}, [_question("q2")])
