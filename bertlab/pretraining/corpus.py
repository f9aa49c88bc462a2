"""Reading pretraining text: input files, lines and documents.

Two input formats:

- `"lines"` (google-research/bert's format): one sentence (or line) per line, a
  blank line between documents.
- `"wikitext"`: the tokenized WikiText layout. An article starts at a title
  line ` = Title = `; section headings (` = = Heading = = `) are dropped; each
  paragraph line is split into sentences after ` . `, ` ? ` and ` ! `; the
  split-number/hyphen markers ` @-@ `, ` @,@ `, ` @.@ ` are joined back
  (`"1 @,@ 000"` -> `"1,000"`).

Everything here streams: files are read line by line and documents are yielded
one at a time.

Example:
>>> files = expand_input_patterns("/data/wikitext2/valid.txt")
>>> doc = next(read_documents(files, "wikitext"))
>>> doc[0][:40]
'Homarus gammarus , known as the European'
"""

import glob
import os
import re

INPUT_FORMATS = ("lines", "wikitext")


class CorpusError(ValueError):
    """Input text is missing, empty or undecodable."""


def expand_input_patterns(patterns):
    """Sorted, de-duplicated files matching comma-separated glob patterns.

    Args:
      patterns: a string `"a/*.txt,b.txt"` or a list of patterns.

    Raises:
      CorpusError: naming the patterns when no file matches.
    """
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [p for p in os.fspath(patterns).split(",")]
    patterns = [p.strip() for p in patterns if p and p.strip()]
    if not patterns:
        raise CorpusError("No input pattern given.")
    files = set()
    for pattern in patterns:
        files.update(f for f in glob.glob(os.path.expanduser(pattern)) if os.path.isfile(f))
    if not files:
        raise CorpusError(f"No input files match {', '.join(patterns)}.")
    return sorted(files)


def read_lines(files):
    """Yields the lines of `files` (in order) without their line ends.

    Raises:
      CorpusError: naming the file and line when a line is not valid UTF-8.
    """
    for path in files:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise CorpusError(
                        f"{path}, line {number}: not valid UTF-8 ({e.reason} at byte "
                        f"{e.start}).") from None
                yield line.rstrip("\r\n")


def lines_to_documents(lines):
    """Groups lines into documents: blank lines separate documents.

    Yields lists of non-empty, stripped lines (sentences).
    """
    document = []
    for line in lines:
        line = line.strip()
        if line:
            document.append(line)
        elif document:
            yield document
            document = []
    if document:
        yield document


_WIKITEXT_TITLE = re.compile(r"^ ?= (?!=).*(?<!=) =\s*$")
_WIKITEXT_HEADING = re.compile(r"^ ?(= ){2,}.*( =){2,}\s*$")
_WIKITEXT_JOINERS = re.compile(r" @([-,.])@ ")
_SENTENCE_END = re.compile(r"(?<= [.?!]) (?=\S)")


def split_wikitext_sentences(paragraph):
    """Splits a tokenized WikiText paragraph after ` . `, ` ? ` and ` ! `."""
    paragraph = _WIKITEXT_JOINERS.sub(r"\1", " " + paragraph.strip() + " ").strip()
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def wikitext_to_documents(lines):
    """Turns WikiText lines into documents, one per article (see module docstring).

    Text before the first title is its own document. Yields lists of sentences.
    """
    document = []
    for line in lines:
        if _WIKITEXT_TITLE.match(line):
            if document:
                yield document
            document = []
            continue
        if not line.strip() or _WIKITEXT_HEADING.match(line):
            continue
        document.extend(split_wikitext_sentences(line))
    if document:
        yield document


def read_documents(files, input_format="lines"):
    """Yields documents (lists of sentence strings) from `files`; a document
    never spans two files.

    Args:
      files: paths (see `expand_input_patterns`).
      input_format: one of `INPUT_FORMATS`.
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"`input_format` must be one of {INPUT_FORMATS}, got {input_format!r}.")
    to_documents = wikitext_to_documents if input_format == "wikitext" else lines_to_documents
    return _chain(to_documents(read_lines([path])) for path in files)


def _chain(generators):
    # Documents never span files.
    for generator in generators:
        yield from generator
