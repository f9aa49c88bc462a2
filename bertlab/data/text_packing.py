"""Plain text files -> language-model training sequences, streamed.

Each file is one document (a book of `../shared/data/gutenberg/`, say). Files
are read a few hundred lines at a time and tokenized line by line with a
lossless BPE SentencePiece model (`train_sentencepiece(lossless=True,
model_type="bpe")`: lines that keep their newline tokenize to the same ids as
the whole text), so no file and no corpus is ever held in memory.

The token stream is GPT-2's: it starts with the end-of-document token and every
document is followed by one, so each document's first token is predicted from
that same token (as `bertlab.models.language_model_scoring` scores a text).
The stream is cut into sequences of `sequence_length + 1` tokens, consecutive
sequences sharing one token: inputs are a sequence's first `sequence_length`
tokens, labels its last `sequence_length`, and every token of the stream after
the first is a label exactly once. Sequences cross document boundaries (no
padding); the stream's last partial sequence is dropped.

Example:
>>> ds = language_model_dataset(["a.txt", "b.txt"], tokenizer, sequence_length=256,
...                             batch_size=16, end_of_document_id=tokenizer.end_token_id)
>>> inputs, labels = next(iter(ds))
>>> inputs["token_ids"].shape, labels.shape
(TensorShape([16, 256]), TensorShape([16, 256]))
"""

import itertools

import numpy as np
import tensorflow as tf

DEFAULT_LINES_PER_CHUNK = 512


def read_line_chunks(path, lines_per_chunk=DEFAULT_LINES_PER_CHUNK):
    """Yields lists of at most `lines_per_chunk` lines of the file at `path`, each
    line with its line ending, exactly as in the file (UTF-8; invalid bytes
    become U+FFFD)."""
    if int(lines_per_chunk) < 1:
        raise ValueError(f"`lines_per_chunk` must be positive, got {lines_per_chunk}.")
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        while True:
            chunk = list(itertools.islice(f, int(lines_per_chunk)))
            if not chunk:
                return
            yield chunk


def _flat_tokenizer(tokenizer):
    """`lines [n] -> concatenated ids` (one tokenizer op per chunk of lines)."""
    return lambda lines: tokenizer(lines).flat_values


def tokenize_file_chunks(path, tokenizer, lines_per_chunk=DEFAULT_LINES_PER_CHUNK):
    """Yields `(token_ids int32 [k], num_characters)` for each chunk of lines of
    one file; concatenated, the ids are the whole file's tokens."""
    yield from _file_chunks(path, _flat_tokenizer(tokenizer), lines_per_chunk)


def _file_chunks(path, tokenize, lines_per_chunk):
    for chunk in read_line_chunks(path, lines_per_chunk):
        ids = tokenize(tf.constant(chunk)).numpy().astype(np.int32)
        yield ids, sum(len(line) for line in chunk)


def tokenize_documents(paths, tokenizer, lines_per_chunk=DEFAULT_LINES_PER_CHUNK):
    """Yields `(token_ids int32 [n], num_characters)` of each whole file in `paths`,
    one document in memory at a time (for validation on held-out documents)."""
    tokenize = _flat_tokenizer(tokenizer)
    for path in paths:
        pieces = list(_file_chunks(path, tokenize, lines_per_chunk))
        ids = np.concatenate([p[0] for p in pieces]) if pieces else np.zeros([0], np.int32)
        yield ids, sum(p[1] for p in pieces)


def token_stream(paths, tokenizer, end_of_document_id,
                 lines_per_chunk=DEFAULT_LINES_PER_CHUNK):
    """Yields int32 arrays whose concatenation is `eod, document 1, eod, document 2,
    eod, ...` over the files in `paths`, in order."""
    tokenize = _flat_tokenizer(tokenizer)
    eod = np.array([end_of_document_id], np.int32)
    yield eod
    for path in paths:
        for ids, _ in _file_chunks(path, tokenize, lines_per_chunk):
            yield ids
        yield eod


def pack_sequences(token_chunks, sequence_length):
    """Cuts a stream of token arrays into int32 `[sequence_length + 1]` sequences.

    Sequence k holds stream tokens `k * sequence_length ... (k + 1) *
    sequence_length`: consecutive sequences share their boundary token, so
    every stream token but the first is a label (a sequence's last
    `sequence_length` tokens) exactly once. The trailing partial sequence is
    dropped. Memory holds one chunk plus one sequence.
    """
    length = int(sequence_length)
    if length < 1:
        raise ValueError(f"`sequence_length` must be positive, got {sequence_length}.")
    buffer = np.zeros([0], np.int32)
    for chunk in token_chunks:
        buffer = np.concatenate([buffer, np.asarray(chunk, np.int32)])
        count = (len(buffer) - 1) // length
        for k in range(count):
            yield buffer[k * length:(k + 1) * length + 1]
        buffer = buffer[count * length:]


def language_model_dataset(paths, tokenizer, sequence_length, batch_size, end_of_document_id,
                           seed=0, shuffle_files=True, shuffle_buffer_size=1024,
                           lines_per_chunk=DEFAULT_LINES_PER_CHUNK, drop_remainder=True):
    """A `tf.data.Dataset` of `({"token_ids", "padding_mask"}, labels)` batches.

    Args:
      paths: plain text files, one document each.
      tokenizer: a `SentencePieceTokenizer` trained with `lossless=True` (and
        `model_type="bpe"`, for ids equal to the whole text's).
      sequence_length: model inputs per sequence (the context window).
      batch_size: sequences per batch.
      end_of_document_id: the token that starts the stream and follows every
        document (`tokenizer.end_token_id`).
      seed: fixes the file order (when `shuffle_files`) and the shuffle buffer,
        so a seed gives the same batches on every run; each epoch (each new
        iterator) draws a new, equally reproducible, sequence order.
      shuffle_files: visit the files in a seeded random order instead of as
        given.
      shuffle_buffer_size: sequences shuffled together (0 = no shuffling; the
        memory bound of the pipeline with the batch and one chunk of lines).
      lines_per_chunk: lines tokenized per tokenizer call.
      drop_remainder: drop the last partial batch (static batch shape).

    Every batch element is int32 `[sequence_length]`; `labels` are the inputs
    shifted left by one and `padding_mask` is all ones (sequences are packed).
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("`paths` is empty: no text files to read.")
    if shuffle_files:
        paths = [paths[i] for i in np.random.default_rng(seed).permutation(len(paths))]
    length = int(sequence_length)

    def sequences():
        yield from pack_sequences(
            token_stream(paths, tokenizer, end_of_document_id, lines_per_chunk), length)

    ds = tf.data.Dataset.from_generator(
        sequences, output_signature=tf.TensorSpec([length + 1], tf.int32))
    if shuffle_buffer_size:
        ds = ds.shuffle(int(shuffle_buffer_size), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)

    def split(batch):
        inputs = batch[:, :-1]
        return {"token_ids": inputs, "padding_mask": tf.ones_like(inputs)}, batch[:, 1:]

    return ds.map(split, num_parallel_calls=tf.data.AUTOTUNE,
                  deterministic=True).prefetch(tf.data.AUTOTUNE)
