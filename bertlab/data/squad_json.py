"""SQuAD-format question-answering JSON: the questions, and the answer span to train on.

SQuAD v1.1, CMRC 2018 and DRCD share one layout (CMRC and DRCD add `id` keys
to articles, paragraphs and answers, which are ignored here):

    {"version": "1.1",                      # optional; logged, not checked
     "data": [{"title": "Warsaw",
               "paragraphs": [{"context": "...",
                               "qas": [{"id": "5733...", "question": "...",
                                        "answers": [{"text": "...", "answer_start": 188},
                                                    ...]}]}]}]}

`read_squad_json` gives one `QuestionExample` per question with every reference
answer (evaluation takes the best score over them). `answer_spans` gives the
training label of each question: the first answer's character span
`(start, end)`, with `context[start:end] == text`. Offsets are Python code
points (`str` indices), the unit of the official files; a start counted in
another unit (UTF-16 code units, bytes) or simply off by a few characters does
not match, and the answer text is then looked up in the context: the occurrence
nearest to the given start is used ("relocated"); an answer whose text is not
in the context, or is blank, leaves its question out of training ("skipped").
Texts are compared exactly: no Unicode normalization, no stripping.

Counts on the files in shared/data (matched / relocated / skipped):
SQuAD v1.1 train 6,979 / 0 / 0 and validation 1,067 / 0 / 0; CMRC 2018 train
3,564 / 8 / 0 (starts 1-2 characters off); DRCD train 3,524 / 0 / 0. (Of the
later CMRC references, kept for evaluation only, 161 are not in their context.)

Example:
>>> examples = read_squad_json("shared/data/squad_v1.1/validation.json")
>>> examples[0].question, examples[0].answer_texts
('What was Maria Curie the first female recipient of?', ('Nobel Prize', 'Nobel Prize', ...))
>>> labels = answer_spans(examples)
>>> labels.counts
SpanCounts(matched=1067, relocated=0, skipped=0)
>>> start, end = labels.spans[0]
>>> labels.examples[0].context[start:end]
'Nobel Prize'
"""

import dataclasses
import itertools
import json

from absl import logging

from bertlab.data.readers import DataError, hold_out_every, read_text_lines

MATCHED, RELOCATED, SKIPPED = "matched", "relocated", "skipped"


@dataclasses.dataclass(frozen=True)
class QuestionExample:
    """One question of a SQuAD-format file, with all its reference answers.

    `answer_texts[i]` and `answer_starts[i]` are the i-th reference answer as
    written in the file (starts are code-point offsets into `context`, and may
    be wrong: see `answer_spans`). `title` is the article's title.
    """

    id: str
    title: str
    question: str
    context: str
    answer_texts: tuple
    answer_starts: tuple


@dataclasses.dataclass(frozen=True)
class SpanCounts:
    """How the first answers of a set of questions were found in their contexts."""

    matched: int = 0
    relocated: int = 0
    skipped: int = 0

    @property
    def total(self):
        return self.matched + self.relocated + self.skipped


@dataclasses.dataclass(frozen=True)
class AnswerSpans:
    """Training labels: `spans[i]` is the `(start, end)` of `examples[i]`'s first answer.

    `examples` holds only the questions that got a span; `skipped_ids` the ids
    of the others, in file order.
    """

    examples: tuple
    spans: tuple
    counts: SpanCounts
    skipped_ids: tuple

    def __len__(self):
        return len(self.examples)


def _where(path, location):
    return f"{path}: {location}" if location else f"{path}: the top level"


def _get(mapping, key, kinds, path, location):
    """`mapping[key]`, checked to be a dict and to hold `key` of one of `kinds`."""
    if not isinstance(mapping, dict):
        raise DataError(f"{_where(path, location)}: expected a JSON object, got "
                        f"{type(mapping).__name__}.")
    if key not in mapping:
        raise DataError(f"{_where(path, location)}: missing key {key!r} (has "
                        f"{sorted(mapping)}).")
    value = mapping[key]
    # bool is an int in Python but never a valid offset or id.
    if not isinstance(value, kinds) or isinstance(value, bool):
        names = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise DataError(f"{_where(path, location)}: {key!r} must be {names}, got "
                        f"{type(value).__name__} {value!r:.60}.")
    return value


def _load_json(path):
    text = "\n".join(read_text_lines(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno}).") \
            from None


def _questions(articles, path):
    """Yields the `QuestionExample`s of the `data` list, checking each as it is read."""
    first_seen = {}
    for a, article in enumerate(articles):
        where_article = f"data[{a}]"
        title = _get(article, "title", str, path, where_article)
        paragraphs = _get(article, "paragraphs", list, path, where_article)
        for p, paragraph in enumerate(paragraphs):
            where_paragraph = f"{where_article}.paragraphs[{p}]"
            context = _get(paragraph, "context", str, path, where_paragraph)
            questions = _get(paragraph, "qas", list, path, where_paragraph)
            for q, qa in enumerate(questions):
                where = f"{where_paragraph}.qas[{q}]"
                question_id = str(_get(qa, "id", (str, int), path, where))
                question = _get(qa, "question", str, path, where)
                answers = _get(qa, "answers", list, path, where)
                if not answers:
                    impossible = " (is_impossible: SQuAD 2.0 is not supported)" \
                        if qa.get("is_impossible") else ""
                    raise DataError(f"{path}: {where}: question {question_id!r} has no "
                                    f"answers{impossible}.")
                texts, starts = [], []
                for i, answer in enumerate(answers):
                    texts.append(_get(answer, "text", str, path, f"{where}.answers[{i}]"))
                    starts.append(_get(answer, "answer_start", int, path,
                                       f"{where}.answers[{i}]"))
                if question_id in first_seen:
                    raise DataError(f"{path}: {where}: question id {question_id!r} repeats the "
                                    f"one at {first_seen[question_id]}.")
                first_seen[question_id] = where
                yield QuestionExample(question_id, title, question, context, tuple(texts),
                                      tuple(starts))


def read_squad_json(path, max_examples=None):
    """Reads the questions of a SQuAD-format JSON file.

    Args:
      path: the file (UTF-8, a byte-order mark is allowed).
      max_examples: read only the first this many questions (file order), or
        all with None.

    Returns:
      A list of `QuestionExample`, in file order.

    Raises:
      DataError: the file is missing, not UTF-8, not valid JSON (with the
        line), lacks a key or has a value of the wrong type (with where, e.g.
        `data[3].paragraphs[0].qas[2].answers[0]`), repeats a question id, has
        a question without answers (SQuAD 2.0's unanswerable questions are not
        supported), or has no question at all.
      ValueError: `max_examples` is not a positive integer.
    """
    if max_examples is not None and (isinstance(max_examples, bool) or
                                     not isinstance(max_examples, int) or max_examples < 1):
        raise ValueError(f"`max_examples` must be a positive integer or None, got "
                         f"{max_examples!r}.")
    document = _load_json(path)
    articles = _get(document, "data", list, path, "")
    examples = list(itertools.islice(_questions(articles, path), max_examples))
    if not examples:
        raise DataError(f"{path}: no questions.")
    version = document.get("version")
    logging.info("%s: %d questions, %d titles (version %s).", path, len(examples),
                 len({e.title for e in examples}), "absent" if version is None else repr(version))
    return examples


def locate_answer(context, text, answer_start):
    """The `(start, end)` of an answer in its context, and how it was found.

    Args:
      context: the paragraph.
      text: the answer text.
      answer_start: the start the file gives (code points; may be wrong or -1).

    Returns:
      `((start, end), "matched")` when `context[answer_start:]` starts with
      `text`; `((start, end), "relocated")` for the occurrence of `text`
      nearest to `answer_start` (the earlier of two equally near) otherwise;
      `(None, "skipped")` when `text` is blank or not in `context`.

    Example:
    >>> locate_answer("one cat, two cats, red cat", "cat", 22)
    ((23, 26), 'relocated')
    """
    if not text.strip():
        return None, SKIPPED
    if answer_start >= 0 and context.startswith(text, answer_start):
        return (answer_start, answer_start + len(text)), MATCHED
    best = None
    start = context.find(text)
    while start != -1:
        if best is None or abs(start - answer_start) < abs(best - answer_start):
            best = start
        start = context.find(text, start + 1)
    if best is None:
        return None, SKIPPED
    return (best, best + len(text)), RELOCATED


def answer_spans(examples, source=None):
    """The training label of each question: its first answer's character span.

    Args:
      examples: `QuestionExample`s (from `read_squad_json`).
      source: a name for the log line (e.g. the file), or None.

    Returns:
      `AnswerSpans` with the questions that have a span, their spans, the
      counts (matched, relocated, skipped; also logged) and the skipped ids.
    """
    kept, spans, skipped_ids = [], [], []
    counts = {MATCHED: 0, RELOCATED: 0, SKIPPED: 0}
    for example in examples:
        span, how = locate_answer(example.context, example.answer_texts[0],
                                  example.answer_starts[0])
        counts[how] += 1
        if span is None:
            skipped_ids.append(example.id)
        else:
            kept.append(example)
            spans.append(span)
    counts = SpanCounts(counts[MATCHED], counts[RELOCATED], counts[SKIPPED])
    log = logging.warning if counts.skipped else logging.info
    log("%sanswer spans: %d matched, %d relocated (answer_start wrong), %d skipped (answer "
        "not in its context)%s.", f"{source}: " if source else "", counts.matched,
        counts.relocated, counts.skipped,
        f"; skipped ids: {', '.join(skipped_ids[:5])}{' ...' if len(skipped_ids) > 5 else ''}"
        if skipped_ids else "")
    return AnswerSpans(tuple(kept), tuple(spans), counts, tuple(skipped_ids))


def split_by_article(examples, every, split):
    """Deterministic train/validation carving by whole articles (no shared context).

    Articles are told apart by `title`, numbered in order of first appearance;
    every `every`-th one (the `every - 1`-th, `2 * every - 1`-th, ... counting
    from 0, as `hold_out_every`) goes to validation, with all its questions.

    Args:
      examples: `QuestionExample`s.
      every: hold out one article in this many (5 -> about 20 %).
      split: "train" or "validation".

    Returns:
      The examples of that split, in their original order.

    Example:
    >>> validation = split_by_article(read_squad_json(".../cmrc2018/train.json"), 5, "validation")
    """
    titles = list(dict.fromkeys(e.title for e in examples))
    chosen = {titles[i] for i in hold_out_every(len(titles), every, split)}
    return [e for e in examples if e.title in chosen]
