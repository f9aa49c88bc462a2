"""Reading and checking WordPiece vocabularies (one token per line, id = line number)."""

import os

from bertlab.storage import atomic_file

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class VocabularyError(ValueError):
    """A vocabulary file is missing, empty, malformed or lacks a required token."""


def load_vocabulary(path_or_tokens, required_tokens=("[PAD]", "[UNK]", "[CLS]", "[SEP]")):
    """Returns the vocabulary as a list of tokens, id = index.

    Args:
      path_or_tokens: path to a `vocab.txt` (one token per line, UTF-8) or a
        list of tokens.
      required_tokens: tokens that must be present; a clear `VocabularyError`
        names the first one that is missing.

    Example:
    >>> load_vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"])[4]
    'hello'
    """
    if isinstance(path_or_tokens, (list, tuple)):
        tokens = list(path_or_tokens)
        source = "the given token list"
    else:
        path = os.fspath(path_or_tokens)
        source = path
        if not os.path.isfile(path):
            raise VocabularyError(f"Vocabulary file not found: {path}")
        try:
            with open(path, encoding="utf-8") as f:
                tokens = [line.rstrip("\r\n") for line in f]
        except UnicodeDecodeError as e:
            raise VocabularyError(f"Vocabulary file {path} is not UTF-8: {e}") from e
        while tokens and tokens[-1] == "":
            tokens.pop()
    if not tokens:
        raise VocabularyError(f"Vocabulary from {source} is empty.")
    seen = {}
    for i, token in enumerate(tokens):
        if token == "":
            raise VocabularyError(f"Vocabulary from {source} has an empty token on line {i + 1}.")
        if token in seen:
            raise VocabularyError(
                f"Vocabulary from {source} repeats token {token!r} "
                f"(lines {seen[token] + 1} and {i + 1})."
            )
        seen[token] = i
    for token in required_tokens:
        if token not in seen:
            raise VocabularyError(f"Vocabulary from {source} has no {token} token.")
    return tokens


def save_vocabulary(tokens, path):
    """Writes `tokens` one per line, atomically (a temporary file, then a rename)."""
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for token in tokens:
            f.write(token + "\n")
