"""text_packing: streamed tokenization equals whole-text tokenization, packing makes every
token a label exactly once, the dataset is lazy and reproducible per seed."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from bertlab.data.text_packing import (language_model_dataset, pack_sequences,
                                       read_line_chunks, token_stream, tokenize_documents)

EOD = 3


def _whole_ids(tokenizer, path):
    return tokenizer(tf.constant([path.read_text(encoding="utf-8")])).flat_values.numpy()


@pytest.mark.parametrize("chunk_sizes", [[100], [1] * 100, [7, 30, 0, 2, 61]])
def test_packing_makes_every_token_a_label_once(chunk_sizes):
    stream = np.arange(100, dtype=np.int32)
    bounds = np.cumsum([0] + chunk_sizes)
    chunks = [stream[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    sequences = np.stack(list(pack_sequences(chunks, 8)))
    assert sequences.shape == (12, 9)  # (100 - 1) // 8 sequences; 3 trailing tokens dropped
    np.testing.assert_array_equal(sequences[:, 1:].ravel(), stream[1:97])  # labels
    np.testing.assert_array_equal(sequences[:, :-1].ravel(), stream[:96])  # inputs


def test_packing_and_reading_are_lazy(data_dir):
    endless = pack_sequences(itertools.repeat(np.arange(5)), 4)
    assert [s.tolist() for s in itertools.islice(endless, 2)] == [[0, 1, 2, 3, 4],
                                                                  [4, 0, 1, 2, 3]]
    first = next(read_line_chunks(data_dir / "gutenberg" / "bible-kjv.txt", 10))
    assert len(first) == 10 and first[0].endswith("\n")


def test_streamed_tokens_equal_whole_documents(gutenberg_slices, lm_tokenizer):
    stream = np.concatenate(list(token_stream(gutenberg_slices, lm_tokenizer, EOD,
                                              lines_per_chunk=17)))
    expected = [[EOD]]
    for path in gutenberg_slices:
        expected += [_whole_ids(lm_tokenizer, path), [EOD]]
    np.testing.assert_array_equal(stream, np.concatenate(expected))
    documents = list(tokenize_documents(gutenberg_slices, lm_tokenizer, lines_per_chunk=17))
    assert len(documents) == 3
    for (ids, chars), path in zip(documents, gutenberg_slices):
        np.testing.assert_array_equal(ids, _whole_ids(lm_tokenizer, path))
        assert chars == len(path.read_text(encoding="utf-8"))


def test_dataset_batches_cover_the_stream_in_order(gutenberg_slices, lm_tokenizer):
    ds = language_model_dataset(gutenberg_slices, lm_tokenizer, sequence_length=32,
                                batch_size=4, end_of_document_id=EOD, shuffle_files=False,
                                shuffle_buffer_size=0, drop_remainder=False)
    stream = np.concatenate(list(token_stream(gutenberg_slices, lm_tokenizer, EOD)))
    inputs, labels = [], []
    for x, y in ds:
        assert x["token_ids"].shape[1:] == (32,) and x["token_ids"].dtype == tf.int32
        assert (x["padding_mask"].numpy() == 1).all()
        inputs.append(x["token_ids"].numpy().ravel())
        labels.append(y.numpy().ravel())
    count = (len(stream) - 1) // 32
    np.testing.assert_array_equal(np.concatenate(labels), stream[1:count * 32 + 1])
    np.testing.assert_array_equal(np.concatenate(inputs), stream[:count * 32])


def test_dataset_is_reproducible_per_seed(gutenberg_slices, lm_tokenizer):
    def first_epoch(seed, shuffle_files=True):
        ds = language_model_dataset(gutenberg_slices, lm_tokenizer, sequence_length=16,
                                    batch_size=8, end_of_document_id=EOD, seed=seed,
                                    shuffle_files=shuffle_files, shuffle_buffer_size=64,
                                    drop_remainder=False)
        return np.concatenate([y.numpy() for _, y in ds])

    a = first_epoch(1)
    np.testing.assert_array_equal(first_epoch(1), a)
    assert not np.array_equal(first_epoch(2), a)
    # The seed moves sequences around, it does not change them.
    a, b = first_epoch(1, shuffle_files=False), first_epoch(2, shuffle_files=False)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(np.unique(a, axis=0), np.unique(b, axis=0))
    with pytest.raises(ValueError, match="paths"):
        language_model_dataset([], lm_tokenizer, 16, 8, EOD)
