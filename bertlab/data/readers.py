"""Readers for labelled text files: TSV sentence/label files and CoNLL column files.

Both readers return plain Python lists (the files here are small: tens of
thousands of sentences) and fail with a `DataError` that names the file, the
line and what is wrong with it: a missing file, bytes that are not UTF-8, a
line with the wrong number of columns, an unknown label, a tag that is not BIO.

Example:
>>> sentences = read_labeled_sentences("shared/data/sst2/dev.tsv")
>>> sentences.texts[0], sentences.labels[0]
("it 's a charming and often affecting journey . ", '1')
>>> tagged = read_conll("shared/data/conll2003/valid.txt")
>>> tagged.tokens[2][:2], tagged.tags[2][:2]
(['West', 'Indian'], ['B-MISC', 'I-MISC'])
"""

import csv
import dataclasses
import os
import typing

DOCSTART = "-DOCSTART-"
TEXT_COLUMN_NAMES = ("sentence", "text_a", "text", "review")
LABEL_COLUMN_NAMES = ("label",)


class DataError(ValueError):
    """A data file is missing or malformed (the message names file and line)."""


@dataclasses.dataclass
class LabeledSentences:
    """Parallel lists of texts and their (string) labels; `pairs`: the second text of
    each example for sentence-pair data (paraphrase, entailment, similarity), else None."""

    texts: list
    labels: list
    pairs: typing.Optional[list] = None

    def __len__(self):
        return len(self.texts)

    def select(self, indices):
        pairs = None if self.pairs is None else [self.pairs[i] for i in indices]
        return LabeledSentences([self.texts[i] for i in indices],
                                [self.labels[i] for i in indices], pairs)


@dataclasses.dataclass
class TaggedSentences:
    """Parallel lists of sentences: `tokens[i]` and `tags[i]` are lists of strings."""

    tokens: list
    tags: list

    def __len__(self):
        return len(self.tokens)

    def select(self, indices):
        return TaggedSentences([self.tokens[i] for i in indices], [self.tags[i] for i in indices])


def read_text_lines(path):
    """The lines of a UTF-8 text file, without their line ends.

    A byte-order mark is dropped, CRLF counts as a line end, and a final line
    end does not start one more (empty) line.

    Raises:
      DataError: the file is missing, or not UTF-8 (with the line and byte).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"Data file not found: {path}")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 ({e.reason} at byte {e.start}).") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _find_column(header, wanted, names, path, what):
    if wanted is not None:
        if isinstance(wanted, int):
            if not -len(header) <= wanted < len(header):
                raise DataError(f"{path}: {what} column {wanted} is out of range for "
                                f"{len(header)} columns.")
            return wanted % len(header)
        if wanted not in header:
            raise DataError(f"{path}: no {what} column {wanted!r} in header {header}.")
        return header.index(wanted)
    for name in names:
        if name in header:
            return header.index(name)
    raise DataError(f"{path}: header {header} has no {what} column (looked for "
                    f"{', '.join(names)}).")


FILE_FORMATS = ("tsv", "csv")


def _split_rows(lines, path, file_format):
    """The fields of each line: TSV splits on tabs (quotes are text); CSV follows
    RFC 4180 quoting (commas and quotes inside quoted fields)."""
    if file_format == "tsv":
        return [line.split("\t") for line in lines]
    if file_format == "csv":
        try:
            return list(csv.reader(lines, strict=True))
        except csv.Error as e:
            raise DataError(f"{path}: malformed CSV: {e}") from None
    raise ValueError(f"`file_format` must be one of {FILE_FORMATS}, got {file_format!r}.")


def read_labeled_sentences(path, text_column=None, label_column=None, has_header=True,
                           label_names=None, text_pair_column=None, file_format="tsv",
                           extra_columns=False):
    """Reads a TSV (or CSV) file of texts and labels, optionally with a second text.

    Args:
      path: the file. Its first line is a header naming the columns (GLUE's
        `sentence<TAB>label`, ChnSentiCorp's `label<TAB>text_a`), unless
        `has_header=False`.
      text_column, label_column: column names (or 0-based indices). By default
        the text column is the first of `sentence`, `text_a`, `text`, `review`
        in the header and the label column is `label`; without a header, 0 and
        1. `text_column` may also be a list of columns, joined with a space
        into one text (AG News: title and description).
      has_header: whether the first line is a header.
      label_names: the allowed labels; a line with another label is an error.
      text_pair_column: the column of a second text (sentence pairs), or None.
      file_format: "tsv" (tab-separated, quotes are literal) or "csv"
        (comma-separated, RFC 4180 quoting).
      extra_columns: accept rows with more columns than the first row or the
        header (STS Benchmark has trailing fields on some rows); the columns
        read must be present.

    Returns:
      `LabeledSentences` (texts as in the file, labels as strings with
      surrounding whitespace removed, `pairs` with `text_pair_column`).

    Raises:
      DataError: the file is missing, not UTF-8, empty, or a line has the
        wrong number of columns, an empty text or a label not in
        `label_names`.
    """
    lines = read_text_lines(path)
    while lines and lines[-1] == "":
        lines.pop()
    rows = _split_rows(lines, path, file_format)
    if has_header:
        if not rows:
            raise DataError(f"{path}: the file is empty (expected a header line).")
        header = [h.strip() for h in rows[0]]
        body, first_line = rows[1:], 2
    else:
        header = None
        body, first_line = rows, 1
    text_columns = text_column if isinstance(text_column, (list, tuple)) else [text_column]
    if header is not None:
        text_indices = [_find_column(header, c, TEXT_COLUMN_NAMES, path, "text")
                        for c in text_columns]
        label_index = _find_column(header, label_column, LABEL_COLUMN_NAMES, path, "label")
        pair_index = (None if text_pair_column is None else
                      _find_column(header, text_pair_column, (), path, "text pair"))
        num_columns = len(header)
    else:
        text_indices = [0 if c is None else int(c) for c in text_columns]
        label_index = 1 if label_column is None else int(label_column)
        pair_index = None if text_pair_column is None else int(text_pair_column)
        num_columns = None
    needed = max(text_indices + [label_index] + ([pair_index] if pair_index is not None
                                                 else [])) + 1
    separator = "tab-separated" if file_format == "tsv" else "comma-separated"
    allowed = None if label_names is None else set(label_names)
    texts, labels, pairs = [], [], []
    for offset, fields in enumerate(body):
        line_number = first_line + offset
        if not fields or fields == [""]:
            raise DataError(f"{path}:{line_number}: empty line.")
        if num_columns is None:
            num_columns = len(fields)
            if needed > num_columns:
                raise DataError(f"{path}:{line_number}: expected at least {needed} "
                                f"{separator} columns, got {num_columns}.")
        if len(fields) != num_columns and not (extra_columns and len(fields) >= needed):
            raise DataError(f"{path}:{line_number}: expected {num_columns} {separator} "
                            f"columns, got {len(fields)}.")
        text = " ".join(fields[i].strip() for i in text_indices) if len(text_indices) > 1 \
            else fields[text_indices[0]]
        label = fields[label_index].strip()
        if not text.strip():
            raise DataError(f"{path}:{line_number}: empty text.")
        if pair_index is not None:
            if not fields[pair_index].strip():
                raise DataError(f"{path}:{line_number}: empty text pair.")
            pairs.append(fields[pair_index])
        if allowed is not None and label not in allowed:
            raise DataError(f"{path}:{line_number}: unknown label {label!r}; expected one of "
                            f"{sorted(allowed)}.")
        texts.append(text)
        labels.append(label)
    if not texts:
        raise DataError(f"{path}: no examples.")
    return LabeledSentences(texts, labels, pairs if pair_index is not None else None)


def check_bio_tag(tag):
    """Whether `tag` is `O`, `B-<type>` or `I-<type>`."""
    return tag == "O" or (len(tag) > 2 and tag[:2] in ("B-", "I-"))


def read_conll(path, token_column=0, tag_column=-1, separator=None):
    """Reads a CoNLL column file: one token per line, a blank line between sentences.

    Columns are separated by `separator` (default: any whitespace; use "\\t"
    for files whose tokens may contain spaces). `-DOCSTART-` lines are skipped.
    Tags must be BIO (`O`, `B-X`, `I-X`).

    Args:
      path: the file (e.g. CoNLL-2003 `token POS chunk NER`, Weibo NER
        `char<TAB>tag`).
      token_column, tag_column: 0-based column indices (negative counts from
        the end).
      separator: column separator; `None` splits on runs of whitespace.

    Returns:
      `TaggedSentences`.

    Raises:
      DataError: the file is missing, not UTF-8, has no sentences, or a line
        has a different number of columns than the file's first line, or a
        tag that is not BIO.
    """
    lines = read_text_lines(path)
    tokens, tags = [], []
    sentence_tokens, sentence_tags = [], []
    num_columns = None

    def flush():
        if sentence_tokens:
            tokens.append(list(sentence_tokens))
            tags.append(list(sentence_tags))
            sentence_tokens.clear()
            sentence_tags.clear()

    for line_number, line in enumerate(lines, start=1):
        stripped = line.strip() if separator is None else line.rstrip("\n")
        if not stripped.strip():
            flush()
            continue
        fields = stripped.split(separator)
        if fields[0] == DOCSTART:
            flush()
            continue
        if num_columns is None:
            num_columns = len(fields)
            for index, what in ((token_column, "token"), (tag_column, "tag")):
                if not -num_columns <= index < num_columns:
                    raise DataError(f"{path}:{line_number}: {what} column {index} is out of "
                                    f"range for {num_columns} columns.")
            if num_columns < 2:
                raise DataError(f"{path}:{line_number}: expected a token and a tag column, "
                                f"got {num_columns} column.")
        if len(fields) != num_columns:
            raise DataError(f"{path}:{line_number}: expected {num_columns} columns, got "
                            f"{len(fields)}: {line!r}.")
        tag = fields[tag_column].strip()
        if not check_bio_tag(tag):
            raise DataError(f"{path}:{line_number}: tag {tag!r} is not BIO (O, B-X or I-X).")
        sentence_tokens.append(fields[token_column].strip())
        sentence_tags.append(tag)
    flush()
    if not tokens:
        raise DataError(f"{path}: no sentences.")
    return TaggedSentences(tokens, tags)


def hold_out_every(num_examples, every, split):
    """Deterministic train/validation carving: every `every`-th example is held out.

    Args:
      num_examples: size of the file being split.
      every: hold out indices `every - 1, 2 * every - 1, ...` (10 -> 10 %).
      split: "train" (the rest) or "validation" (the held-out indices).

    Returns:
      A list of indices.
    """
    if int(every) < 2:
        raise ValueError(f"`every` must be at least 2, got {every}.")
    if split not in ("train", "validation"):
        raise ValueError(f"`split` must be 'train' or 'validation', got {split!r}.")
    held = split == "validation"
    return [i for i in range(num_examples) if ((i + 1) % every == 0) == held]
