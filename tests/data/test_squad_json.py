"""SQuAD-format JSON: questions with all references, training spans (matched, relocated,
skipped), code-point offsets, bad files, article splits, and the real SQuAD/CMRC/DRCD files."""

import dataclasses
import json

import pytest

from bertlab.data import (DataError, QuestionExample, SpanCounts, answer_spans, locate_answer,
                          read_squad_json, split_by_article)


def _qa(qid, question, *answers):
    return {"id": qid, "question": question,
            "answers": [{"text": text, "answer_start": start} for text, start in answers]}


def _article(title, *paragraphs):
    return {"title": title, "paragraphs": [{"context": context, "qas": list(qas)}
                                           for context, qas in paragraphs]}


def _write(tmp_path, content, name="squad.json"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content, ensure_ascii=False, indent=1), encoding="utf-8")
    return str(path)


def test_reads_every_question_with_all_its_references(tmp_path):
    data = [_article("Paris", ("Paris is the capital of France.",
                               [_qa("q1", "Capital?", ("Paris", 0), ("Paris", 0)),
                                _qa(7, "Country?", ("France", 24))]),
                     ("It has 2 million people.", [_qa("q3", "How many?", ("2 million", 7))])),
            _article("Rome", ("Rome is in Italy.", [_qa("q4", "Where?", ("Italy", 11))]))]
    examples = read_squad_json(_write(tmp_path, {"version": "1.1", "data": data}))
    assert examples == [
        QuestionExample("q1", "Paris", "Capital?", "Paris is the capital of France.",
                        ("Paris", "Paris"), (0, 0)),
        QuestionExample("7", "Paris", "Country?", "Paris is the capital of France.",
                        ("France",), (24,)),
        QuestionExample("q3", "Paris", "How many?", "It has 2 million people.",
                        ("2 million",), (7,)),
        QuestionExample("q4", "Rome", "Where?", "Rome is in Italy.", ("Italy",), (11,))]
    with pytest.raises(dataclasses.FrozenInstanceError):
        examples[0].context = "changed"
    # No `version` key, a byte-order mark, and `max_examples` stopping inside an article.
    path = _write(tmp_path, b"\xef\xbb\xbf" + json.dumps({"data": data}).encode(), "bom.json")
    assert read_squad_json(path) == examples
    assert [e.id for e in read_squad_json(path, max_examples=2)] == ["q1", "7"]
    with pytest.raises(ValueError, match="`max_examples`"):
        read_squad_json(path, max_examples=0)


def test_max_examples_stops_before_a_broken_later_question(tmp_path):
    data = [_article("A", ("x y", [_qa("q1", "?", ("x", 0)), {"id": "q2", "answers": []}]))]
    path = _write(tmp_path, {"data": data})
    assert len(read_squad_json(path, max_examples=1)) == 1
    with pytest.raises(DataError, match=r"qas\[1\]: missing key 'question'"):
        read_squad_json(path)


def test_training_spans_are_matched_relocated_or_skipped_and_counted(tmp_path):
    data = [_article("T", ("Paris is the capital of France.", [_qa("match", "?", ("Paris", 0))]),
                     # "cat" is at 4, 13 (in "cats") and 23: the one nearest to 22 is 23.
                     ("one cat, two cats, red cat", [_qa("near", "?", ("cat", 22))]),
                     # Equally near (0 and 4 from 2): the earlier.
                     ("xy  xy", [_qa("tie", "?", ("xy", 2))]),
                     ("The dog barks.", [_qa("minus", "?", ("dog", -1))]),
                     # Only the first answer labels training, even when a later one is found.
                     ("The dog barks.", [_qa("absent", "?", ("cat", 4), ("dog", 4))]),
                     ("The dog barks.", [_qa("blank", "?", ("", 0))]))]
    examples = read_squad_json(_write(tmp_path, {"data": data}))
    labels = answer_spans(examples, "toy")
    assert labels.counts == SpanCounts(matched=1, relocated=3, skipped=2)
    assert labels.counts.total == 6
    assert [e.id for e in labels.examples] == ["match", "near", "tie", "minus"]
    assert labels.spans == ((0, 5), (23, 26), (0, 2), (4, 7))
    assert labels.skipped_ids == ("absent", "blank")
    assert len(labels) == 4
    assert locate_answer("one cat, two cats, red cat", "cat", 13) == ((13, 16), "matched")
    assert locate_answer("one cat, two cats, red cat", "cat", 10) == ((13, 16), "relocated")
    assert locate_answer("The dog barks.", "  ", 3) == (None, "skipped")


def test_offsets_are_python_code_points_and_texts_are_not_normalized(tmp_path):
    # Code points: 0 😀, 1 space, 2-5 café, 6 :, 7 space, 8-11 北京大学, 12 space,
    # 13-14 👍🏽 (thumb + skin tone), 15 space, 16-18 "end". In UTF-16 units "end" starts
    # at 19 (three characters outside the BMP take two units each).
    context = "😀 café: 北京大学 👍🏽 end"
    data = [_article("Ünïcode", (context, [_qa("cafe", "?", ("café", 2)),
                                            _qa("beijing", "?", ("北京大学", 8)),
                                            _qa("thumb", "?", ("👍🏽", 13)),
                                            _qa("end", "?", ("end", 16)),
                                            _qa("utf16", "?", ("end", 19))]),
                     # "cafe" + combining acute accent never equals the composed "café".
                     ("cafe\u0301 noir", [_qa("decomposed", "?", ("café", 0))]))]
    labels = answer_spans(read_squad_json(_write(tmp_path, {"data": data})))
    assert dict(zip((e.id for e in labels.examples), labels.spans)) == {
        "cafe": (2, 6), "beijing": (8, 12), "thumb": (13, 15), "end": (16, 19),
        "utf16": (16, 19)}
    assert labels.counts == SpanCounts(matched=4, relocated=1, skipped=1)
    assert labels.skipped_ids == ("decomposed",)
    assert labels.examples[0].title == "Ünïcode"


def _valid():
    return {"version": "1.1", "data": [_article("A", ("x y", [_qa("q1", "?", ("x", 0))]))]}


def _without(*keys):
    """`_valid()` with the key at the path `keys` (last one the key) removed."""
    document = _valid()
    node = document
    for key in keys[:-1]:
        node = node[key]
    del node[keys[-1]]
    return document


@pytest.mark.parametrize("content, message", [
    ('{"data": [\n  {"title": "A",\n   "paragraphs": [}\n]}', r"bad\.json:3: invalid JSON"),
    (b'{"data": [\n{"title": "caf\xe9"}]}', r"bad\.json:2: not valid UTF-8"),
    (_without("data"), r"bad\.json: the top level: missing key 'data'"),
    ([1, 2], r"the top level: expected a JSON object, got list"),
    (_without("data", 0, "title"), r"data\[0\]: missing key 'title'"),
    (_without("data", 0, "paragraphs", 0, "context"), r"data\[0\]\.paragraphs\[0\]: missing key "
                                                      r"'context'"),
    (_without("data", 0, "paragraphs", 0, "qas", 0, "question"),
     r"data\[0\]\.paragraphs\[0\]\.qas\[0\]: missing key 'question'"),
    (_without("data", 0, "paragraphs", 0, "qas", 0, "answers", 0, "answer_start"),
     r"qas\[0\]\.answers\[0\]: missing key 'answer_start'"),
    ({"data": [_article("A", ("x", [_qa("q1", "?", ("x", "0"))]))]},
     r"answers\[0\]: 'answer_start' must be int, got str '0'"),
    ({"data": [_article("A", ("x", [_qa("q1", "?", ("x", True))]))]}, r"must be int, got bool"),
    ({"data": {"title": "A"}}, r"the top level: 'data' must be list, got dict"),
    ({"data": [_article("A", ("x", [{**_qa("q1", "?"), "is_impossible": True}]))]},
     r"qas\[0\]: question 'q1' has no answers \(is_impossible: SQuAD 2\.0 is not supported\)"),
    ({"data": [_article("A", ("x", [_qa("q1", "?", ("x", 0))]),
                        ("y", [_qa("q1", "?", ("y", 0))]))]},
     r"paragraphs\[1\]\.qas\[0\]: question id 'q1' repeats the one at "
     r"data\[0\]\.paragraphs\[0\]\.qas\[0\]"),
    ({"version": "1.1", "data": []}, r"bad\.json: no questions"),
])
def test_bad_files_are_named_with_what_is_wrong_and_where(tmp_path, content, message):
    path = _write(tmp_path, content, "bad.json")
    with pytest.raises(DataError, match=message):
        read_squad_json(path)


def test_missing_file():
    with pytest.raises(DataError, match="not found: /no/such/squad.json"):
        read_squad_json("/no/such/squad.json")


def test_split_by_article_keeps_articles_whole_and_is_deterministic():
    # Titles in order of first appearance: A B C D E; "A" comes back at the end.
    titles = ["A", "A", "B", "C", "C", "D", "E", "A"]
    examples = [QuestionExample(f"q{i}", t, "?", "c", ("c",), (0,)) for i, t in enumerate(titles)]
    validation = split_by_article(examples, 2, "validation")
    train = split_by_article(examples, 2, "train")
    assert [e.id for e in validation] == ["q2", "q5"]  # B and D
    assert [e.id for e in train] == ["q0", "q1", "q3", "q4", "q6", "q7"]
    assert split_by_article(examples, 2, "validation") == validation
    with pytest.raises(ValueError, match="`split`"):
        split_by_article(examples, 2, "test")


@pytest.mark.parametrize("name, questions, titles, counts", [
    ("squad_v1.1/validation.json", 1067, 4, SpanCounts(1067, 0, 0)),
    ("cmrc2018/train.json", 3572, 934, SpanCounts(3564, 8, 0)),
    ("drcd/train.json", 3524, 383, SpanCounts(3524, 0, 0)),
])
def test_real_files_spans_round_trip(data_dir, name, questions, titles, counts):
    examples = read_squad_json(data_dir / name)
    assert len(examples) == questions
    assert len({e.title for e in examples}) == titles
    labels = answer_spans(examples, name)
    assert labels.counts == counts
    assert len(labels) == counts.matched + counts.relocated
    moved = 0
    for example, (start, end) in zip(labels.examples, labels.spans):
        assert example.context[start:end] == example.answer_texts[0], example.id
        moved += start != example.answer_starts[0]
    assert moved == counts.relocated


def test_squad_validation_first_question_and_references(data_dir):
    examples = read_squad_json(data_dir / "squad_v1.1" / "validation.json")
    first = examples[0]
    assert first.id == "5733a5f54776f41900660f45" and first.title == "Warsaw"
    assert first.question == "What was Maria Curie the first female recipient of?"
    assert first.answer_texts == ("Nobel Prize",) * 3 and first.answer_starts == (188,) * 3
    assert sum(len(e.answer_texts) for e in examples) == 3185
