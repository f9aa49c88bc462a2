"""Readers for the sentence pairs a sentence embedder is fine-tuned and judged on.

Two kinds of pairs:
- scored pairs (semantic textual similarity): two sentences and a gold
  similarity, for CoSENT training and Spearman evaluation;
  "stsb": the STS Benchmark's tab-separated lines `genre, file, year, id,
  score (0-5), sentence 1, sentence 2` (some lines carry trailing fields: the
  first 7 are read; quotes are literal text, so no CSV parser);
  "cnsd": Chinese STS-B (CNSD) lines `id||sentence 1||sentence 2||score`.
- (query, positive) pairs, for in-batch-negative training and retrieval
  evaluation: "scitldr": SciTLDR JSON lines, each TLDR of a paper (`target`)
  a query whose positive is the paper's abstract (`source` sentences joined
  with spaces); "squad": SQuAD-format JSON, each question a query whose
  positive is its paragraph (`context`).

Every reader returns `SentencePairs` and fails with a `DataError` naming the
file and the line (a missing file, bad UTF-8, a wrong field count, a score that
is not a number, an empty sentence, bad JSON).

Example:
>>> pairs = read_sentence_pairs("../shared/data/stsbenchmark/sts-dev.csv", "stsb")
>>> pairs.first[0], pairs.second[0], pairs.scores[0]
('A man with a hard hat is dancing.', 'A man wearing a hard hat is dancing.', 5.0)
>>> read_sentence_pairs("../shared/data/scitldr/dev.jsonl", "scitldr").scores is None
True
"""

import dataclasses
import json
import math
import typing

from bertlab.data.readers import DataError, read_text_lines
from bertlab.data.squad_json import read_squad_json

SCORED_FORMATS = ("stsb", "cnsd")
QUERY_FORMATS = ("scitldr", "squad")
PAIR_FORMATS = SCORED_FORMATS + QUERY_FORMATS

_STSB_FIELDS = 7  # genre, file, year, id, score, sentence 1, sentence 2
_CNSD_SEPARATOR = "||"


@dataclasses.dataclass
class SentencePairs:
    """Parallel lists: `first[i]` and `second[i]` are one pair (for query data: the
    query and its positive); `scores[i]` its gold similarity (floats), or None
    for (query, positive) data; `groups[i]` an optional group id (the SQuAD
    article of a question), for carving a validation split by group."""

    first: list
    second: list
    scores: typing.Optional[list] = None
    groups: typing.Optional[list] = None

    def __len__(self):
        return len(self.first)

    @property
    def scored(self):
        """Whether the pairs carry gold similarity scores."""
        return self.scores is not None

    def select(self, indices):
        """The pairs at `indices` (a list of ints), in that order."""
        def pick(values):
            return None if values is None else [values[i] for i in indices]
        return SentencePairs(pick(self.first), pick(self.second), pick(self.scores),
                             pick(self.groups))


def _score(text, path, line_number):
    try:
        score = float(text)
    except ValueError:
        raise DataError(f"{path}:{line_number}: the score {text!r} is not a number.") from None
    if not math.isfinite(score):
        raise DataError(f"{path}:{line_number}: the score {text!r} is not a finite number.")
    return score


def _sentence(text, path, line_number, which):
    if not text.strip():
        raise DataError(f"{path}:{line_number}: {which} is empty.")
    return text.strip()


def _finish(path, pairs):
    if not pairs.first:
        raise DataError(f"{path}: no sentence pairs.")
    return pairs


def read_stsb_pairs(path):
    """Scored pairs of an STS Benchmark file (tab-separated, no header; fields 5-7 are
    the score and the two sentences; trailing fields after the 7th are ignored)."""
    pairs = SentencePairs([], [], [])
    for line_number, line in enumerate(read_text_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) < _STSB_FIELDS:
            raise DataError(f"{path}:{line_number}: expected at least {_STSB_FIELDS} "
                            f"tab-separated fields (genre, file, year, id, score, sentence 1, "
                            f"sentence 2), got {len(fields)}.")
        pairs.scores.append(_score(fields[4], path, line_number))
        pairs.first.append(_sentence(fields[5], path, line_number, "sentence 1"))
        pairs.second.append(_sentence(fields[6], path, line_number, "sentence 2"))
    return _finish(path, pairs)


def read_cnsd_pairs(path):
    """Scored pairs of a Chinese STS-B (CNSD) file: `id||sentence 1||sentence 2||score`."""
    pairs = SentencePairs([], [], [])
    for line_number, line in enumerate(read_text_lines(path), start=1):
        fields = line.split(_CNSD_SEPARATOR)
        if len(fields) != 4:
            raise DataError(f"{path}:{line_number}: expected 4 fields separated by "
                            f"'{_CNSD_SEPARATOR}' (id, sentence 1, sentence 2, score), got "
                            f"{len(fields)}.")
        pairs.first.append(_sentence(fields[1], path, line_number, "sentence 1"))
        pairs.second.append(_sentence(fields[2], path, line_number, "sentence 2"))
        pairs.scores.append(_score(fields[3].strip(), path, line_number))
    return _finish(path, pairs)


def read_scitldr_pairs(path):
    """(TLDR, abstract) pairs of a SciTLDR JSON-lines file: one pair per TLDR in
    `target` (one per paper in train, 1-4 in dev), the abstract being the paper's
    `source` sentences joined with spaces; `groups` are the `paper_id`s."""
    pairs = SentencePairs([], [], None, [])
    for line_number, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        try:
            paper = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{line_number}: not valid JSON ({e.msg}).") from None
        if not isinstance(paper, dict):
            raise DataError(f"{path}:{line_number}: expected a JSON object, got "
                            f"{type(paper).__name__}.")
        source, targets = paper.get("source"), paper.get("target")
        if (not isinstance(source, list) or not isinstance(targets, list)
                or not all(isinstance(s, str) for s in source + targets)):
            raise DataError(f"{path}:{line_number}: expected `source` and `target` lists of "
                            "strings.")
        abstract = _sentence(" ".join(s.strip() for s in source), path, line_number,
                             "the abstract (`source`)")
        for target in targets:
            pairs.first.append(_sentence(target, path, line_number, "a TLDR (`target`)"))
            pairs.second.append(abstract)
            pairs.groups.append(str(paper.get("paper_id", line_number)))
    return _finish(path, pairs)


def read_squad_question_pairs(path):
    """(question, paragraph) pairs of a SQuAD-format JSON file (see
    `read_squad_json`); `groups` are the article titles."""
    examples = read_squad_json(path)
    pairs = SentencePairs([e.question.strip() for e in examples],
                          [e.context for e in examples], None, [e.title for e in examples])
    for i, (question, context) in enumerate(zip(pairs.first, pairs.second)):
        if not question or not context.strip():
            raise DataError(f"{path}: question {examples[i].id!r} has an empty question or "
                            "context.")
    return _finish(path, pairs)


_READERS = {"stsb": read_stsb_pairs, "cnsd": read_cnsd_pairs, "scitldr": read_scitldr_pairs,
            "squad": read_squad_question_pairs}


def read_sentence_pairs(path, file_format):
    """The `SentencePairs` of `path` in `file_format` (one of `PAIR_FORMATS`).

    Raises:
      ValueError: an unknown `file_format`.
      DataError: the file is missing or malformed (the message names the line).
    """
    if file_format not in _READERS:
        raise ValueError(f"`file_format` must be one of {PAIR_FORMATS}, got {file_format!r}.")
    return _READERS[file_format](path)
