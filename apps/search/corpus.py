"""The search app's corpus files: one document a line, as JSON Lines or tab-separated values.

- JSONL (`.jsonl`, `.json`, or a first line starting with `{`): one object a
  line with `"id"` (a string or an integer) and `"text"` (a string); other keys
  are ignored.
- TSV (anything else): `id<TAB>text`, split at the first tab (the text may
  hold tabs); a first line `id<TAB>text` is a header and skipped.

Blank lines are skipped. Bytes that are not UTF-8 become U+FFFD, as the
exported tokenizer would read them. Every problem is a `CorpusError` that says
where: a missing file, a malformed line (its number), a repeated id (both line
numbers), a file without documents.

Example:
>>> ids, texts = read_corpus("docs.jsonl")
>>> ids[:2], texts[:1]
(['d1', 'd2'], ['The Eiffel Tower is in Paris.'])
"""

import json
import os

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
TSV_HEADER = ("id", "text")


class CorpusError(ValueError):
    """A corpus file that cannot be indexed; the message names the file and line."""


def corpus_format(path, first_line):
    """"jsonl" or "tsv": by the file's suffix, else by its first non-blank line."""
    if os.fspath(path).lower().endswith(JSONL_SUFFIXES):
        return "jsonl"
    return "jsonl" if first_line.lstrip().startswith("{") else "tsv"


def _jsonl_document(line, where):
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise CorpusError(f"{where}: not a JSON object ({e.msg}).") from None
    if not isinstance(record, dict) or "id" not in record or "text" not in record:
        raise CorpusError(f'{where}: each line must be an object with "id" and "text".')
    doc_id, text = record["id"], record["text"]
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise CorpusError(f'{where}: "id" must be a string or an integer, got {doc_id!r}.')
    if not isinstance(text, str):
        raise CorpusError(f'{where}: "text" must be a string, got {type(text).__name__}.')
    return str(doc_id), text


def _tsv_document(line, where):
    if "\t" not in line:
        raise CorpusError(f"{where}: expected id<TAB>text, found no tab.")
    doc_id, text = line.split("\t", 1)
    return doc_id, text


def read_corpus(path):
    """`(ids, texts)` of a corpus file (see the module docstring).

    Raises:
      CorpusError: the file is missing or unreadable, a line is malformed, an
        id is empty or repeated, or there is no document.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            lines = [raw.decode("utf-8", "replace").rstrip("\r\n") for raw in f]
    except FileNotFoundError:
        raise CorpusError(f"Corpus file not found: {path}") from None
    except OSError as e:
        raise CorpusError(f"Cannot read the corpus file {path}: {e.strerror}") from None
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        raise CorpusError(f"{path} holds no document (the file is empty or blank).")
    fmt = corpus_format(path, numbered[0][1])
    if fmt == "tsv" and tuple(numbered[0][1].strip().split("\t")) == TSV_HEADER:
        numbered = numbered[1:]
    parse = _jsonl_document if fmt == "jsonl" else _tsv_document
    ids, texts, first_seen = [], [], {}
    for number, line in numbered:
        where = f"{path}, line {number}"
        doc_id, text = parse(line, where)
        if not doc_id.strip():
            raise CorpusError(f"{where}: the id is empty.")
        if doc_id in first_seen:
            raise CorpusError(f"{where}: id {doc_id!r} is repeated (first on line "
                              f"{first_seen[doc_id]}); ids must be unique.")
        first_seen[doc_id] = number
        ids.append(doc_id)
        texts.append(text)
    if not ids:
        raise CorpusError(f"{path} holds no document (only a header).")
    return ids, texts
