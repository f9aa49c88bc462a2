"""Reading pretraining text: input files, lines and documents.

Three input formats:

- `"lines"` (google-research/bert's format): one sentence (or line) per line, a
  blank line between documents.
- `"wikitext"`: the tokenized WikiText layout. An article starts at a title
  line ` = Title = `; section headings (` = = Heading = = `) are dropped; each
  paragraph line is split into sentences after ` . `, ` ? ` and ` ! `; the
  split-number/hyphen markers ` @-@ `, ` @,@ `, ` @.@ ` are joined back
  (`"1 @,@ 000"` -> `"1,000"`).
- `"wikiextractor"`: Wikipedia text as WikiExtractor writes it once its `<doc>`
  lines are removed (`../shared/data/zhwiki`, `enwiki`): each article starts
  with its title line, then one paragraph per line; a blank line ends it. The
  title line is dropped, and so are section headings (see `is_heading`), as
  BERT's Wikipedia text kept only the passages; empty brackets left where
  templates were (`"（）"`, `"()"`) are removed, and each paragraph is split
  into sentences on Chinese and Western sentence punctuation
  (`split_sentences`).

Files may be gzip-compressed (recognized by their first two bytes, whatever
their name). Everything here streams: files are read line by line and
documents are yielded one at a time.

Example:
>>> files = expand_input_patterns("/data/wikitext2/valid.txt")
>>> doc = next(read_documents(files, "wikitext"))
>>> doc[0][:40]
'Homarus gammarus , known as the European'
"""

import glob
import gzip
import os
import re
import zlib

INPUT_FORMATS = ("lines", "wikitext", "wikiextractor")
_GZIP_MAGIC = b"\x1f\x8b"


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
    """Yields the lines of `files` (in order) without their line ends; a gzip file
    (first bytes 1f 8b, which no UTF-8 text starts with) is decompressed on the fly.

    Raises:
      CorpusError: naming the file and line when a line is not valid UTF-8, or the
        file when its gzip stream is corrupt or cut short.
    """
    for path in files:
        with open(path, "rb") as raw_file:
            compressed = raw_file.peek(2)[:2] == _GZIP_MAGIC
            f = gzip.GzipFile(fileobj=raw_file, mode="rb") if compressed else raw_file
            number = 0
            try:
                for number, raw in enumerate(f, 1):
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError as e:
                        raise CorpusError(
                            f"{path}, line {number}: not valid UTF-8 ({e.reason} at byte "
                            f"{e.start}).") from None
                    yield line.rstrip("\r\n")
            except (OSError, EOFError, zlib.error) as e:
                raise CorpusError(f"{path}: corrupt or truncated gzip data after line "
                                  f"{number} ({e}).") from None


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


# Sentence ends. Chinese: a run of 。！？ and the closing quotes and brackets after it, wherever it
# is, except before a closing title mark (《你好吗？》 is a title inside the sentence).
# Western: a run of . ! ? and closing quotes/brackets, then whitespace, then what starts a
# sentence (a capital, a digit, an opening quote or bracket, a CJK ideograph).
_CLOSERS = "\"'”’」』）)\\]"
_SENTENCE_BREAK = re.compile(
    rf"[。！？]+[{_CLOSERS}]*(?![》〉{_CLOSERS}])\s*"
    rf"|(?<=\S)(?P<western>[.!?]+)[{_CLOSERS}]*\s+"
    r"(?=[\"'“‘(\[]?[A-Z0-9\u3400-\u4dbf\u4e00-\u9fff])")
# A "." after one of these words (lower-cased) or after a single letter ("J. R. R. Tolkien") or
# a dotted abbreviation ("U.S.", "e.g.") does not end a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt ft lt col gen capt sgt cpl adm rev hon gov sen rep pres "
    "no nos vol vols pp fig figs inc ltd co corp bros vs approx ca cf jan feb mar apr jun jul "
    "aug sep sept oct nov dec".split())
# What precedes a Western word without a space: CJK text and punctuation, opening quotes.
_WORD_START = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef\"'“‘(\[]")
_EMPTY_BRACKETS = re.compile(r"\s*(?:（\s*）|\(\s*\))")
# Section headings: WikiExtractor writes them as one line ending in "." ("历史.", "Early life.").
HEADING_MAX_CHARS = 40
HEADING_MAX_WORDS = 5


def _is_abbreviation(text, end):
    """Whether the word ending at `text[end]` (a ".") is an abbreviation or an initial."""
    word = _WORD_START.split(text[:end].rsplit(None, 1)[-1])[-1]
    return len(word) == 1 or "." in word or word.lower() in _ABBREVIATIONS


def split_sentences(paragraph):
    """Splits a paragraph into sentences on Chinese and Western sentence punctuation.

    After 。！？ (with any closing quotes/brackets: `"他说：「好。」"`) always, unless a
    closing title mark follows; after . ! ? only when whitespace and a sentence
    start (capital, digit, opening quote or bracket, CJK ideograph) follow, and
    for a single "." not after an initial or a common abbreviation ("Mrs.",
    "U.S.", "No. 5"). Decimal points ("7.2米") and URLs never split.

    Example:
    >>> split_sentences("他来了。她走了！Mr. Li left. Then rain fell.")
    ['他来了。', '她走了！', 'Mr. Li left.', 'Then rain fell.']
    """
    sentences = []
    start = 0
    for match in _SENTENCE_BREAK.finditer(paragraph):
        western = match.group("western")
        if western == "." and _is_abbreviation(paragraph, match.start()):
            continue
        sentence = paragraph[start:match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    rest = paragraph[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def is_heading(line):
    """Whether a WikiExtractor line is a section heading: it ends in one "." and is
    short (at most `HEADING_MAX_CHARS` characters and `HEADING_MAX_WORDS`
    whitespace-separated words) and holds no other sentence end. A real
    one-sentence paragraph that short ("Built in Minnesota.") goes with them."""
    line = line.strip()
    return (line.endswith(".") and not line.endswith("..")
            and len(line) <= HEADING_MAX_CHARS and len(line.split()) <= HEADING_MAX_WORDS
            and len(split_sentences(line)) == 1 and not re.search(r"[。！？]", line))


def wikiextractor_to_documents(lines):
    """Turns WikiExtractor lines into documents, one per article (see module docstring).

    Yields lists of sentences; an article with no sentence left is skipped.
    """
    document = []
    title_next = True
    for line in lines:
        line = line.strip()
        if not line:
            if document:
                yield document
            document = []
            title_next = True
            continue
        if title_next:
            title_next = False
            continue
        if is_heading(line):
            continue
        document.extend(split_sentences(_EMPTY_BRACKETS.sub("", line)))
    if document:
        yield document


_TO_DOCUMENTS = {"lines": lines_to_documents, "wikitext": wikitext_to_documents,
                 "wikiextractor": wikiextractor_to_documents}


def read_documents(files, input_format="lines"):
    """Yields documents (lists of sentence strings) from `files`; a document
    never spans two files.

    Args:
      files: paths (see `expand_input_patterns`).
      input_format: one of `INPUT_FORMATS`.
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"`input_format` must be one of {INPUT_FORMATS}, got {input_format!r}.")
    to_documents = _TO_DOCUMENTS[input_format]
    return _chain(to_documents(read_lines([path])) for path in files)


def _chain(generators):
    # Documents never span files.
    for generator in generators:
        yield from generator
