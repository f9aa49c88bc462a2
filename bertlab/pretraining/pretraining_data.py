"""Creating BERT pretraining data (MLM + NSP) as sharded TFRecords, streaming.

Output: `{prefix}-00000-of-0000N.tfrecord` files of `tf.train.Example` with
google-research/bert's features, so the data is interchangeable with
google-research/bert and TF Model Garden:

| feature                | type    | length                    |
|------------------------|---------|---------------------------|
| `input_ids`            | int64   | `max_seq_length`          |
| `input_mask`           | int64   | `max_seq_length` (1 = token) |
| `segment_ids`          | int64   | `max_seq_length`          |
| `masked_lm_positions`  | int64   | `max_predictions_per_seq` |
| `masked_lm_ids`        | int64   | `max_predictions_per_seq` |
| `masked_lm_weights`    | float   | `max_predictions_per_seq` (1.0 real, 0.0 pad) |
| `next_sentence_labels` | int64   | 1 (0 = B follows A, 1 = B is random) |

plus `{prefix}-stats.json` (instances, masked fraction, 80/10/10 split, NSP
balance, the settings).

Instance semantics: `bertlab.pretraining.instances` (google-research/bert's).
Chinese whole-word masking (`whole_word_mask` with `segmenter="jieba"`, as
Chinese BERT-wwm): each sentence is also cut into words by the segmenter, the
words are aligned with the tokens by character offsets
(`bertlab.pretraining.word_segmentation`), and the tokens of one word are
masked together; the files are the same as without it.
What differs is the streaming, which keeps memory bounded on a corpus larger
than RAM:

- Documents are read lazily and processed in chunks of `chunk_documents`
  documents (a document longer than `max_document_sentences` sentences is cut
  into several). Sentences are tokenized in batches by the in-graph
  `BertTokenizer` (`tokenize_batch_size` strings per call).
- Within a chunk, the documents are shuffled, `dupe_factor` passes create
  instances (different masks and pairings each pass), and the chunk's
  instances are shuffled, then dealt round-robin to the shards. The reference
  shuffles documents and instances over the whole corpus instead.
- A random next segment B is drawn from the current chunk plus a bounded
  buffer of the `random_buffer_documents` most recent documents of earlier
  chunks, not from the whole corpus.
- Everything is seeded by `random_seed`: the same inputs and settings give
  byte-identical files.

Shards are written under temporary names and renamed into place only when all
are complete; on error the temporary files are removed and existing outputs
are left untouched.

Example:
>>> config = PretrainingDataConfig(max_seq_length=128, dupe_factor=2)
>>> stats = create_pretraining_data("wiki/*.txt", "vocab.txt", "out/wiki", config)
>>> stats["files"][0]
'out/wiki-00000-of-00001.tfrecord'
"""

import collections
import dataclasses
import json
import os
import random

import numpy as np
import tensorflow as tf
import tqdm
from absl import logging

from bertlab.pretraining import corpus
from bertlab.pretraining import word_segmentation
from bertlab.pretraining.instances import (InstanceVocabulary, create_instances_from_document,
                                           mark_word_continuations)
from bertlab.storage import atomic_file
from bertlab.text.bert_tokenizer import BertTokenizer
from bertlab.text.offset_tokenization import tokenize_with_offsets
from bertlab.text.vocabulary import load_vocabulary

FEATURE_NAMES = ("input_ids", "input_mask", "segment_ids", "masked_lm_positions",
                 "masked_lm_ids", "masked_lm_weights", "next_sentence_labels")
MIN_SEQ_LENGTH = 5  # [CLS] a [SEP] b [SEP]


@dataclasses.dataclass
class PretrainingDataConfig:
    """Settings of `create_pretraining_data` (the `create_data` app's flags)."""
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    dupe_factor: int = 10
    short_seq_prob: float = 0.1
    whole_word_mask: bool = False
    segmenter: str = None  # None: WordPiece words; "jieba": Chinese words (whole_word_mask)
    random_seed: int = 12345
    num_shards: int = 1
    lowercase: bool = True
    input_format: str = "lines"
    chunk_documents: int = 1000
    max_document_sentences: int = 10_000
    random_buffer_documents: int = 1000
    tokenize_batch_size: int = 1024

    def __post_init__(self):
        if self.max_seq_length < MIN_SEQ_LENGTH:
            raise ValueError(
                f"`max_seq_length` must be at least {MIN_SEQ_LENGTH} ([CLS] A [SEP] B [SEP]), "
                f"got {self.max_seq_length}.")
        if self.max_predictions_per_seq < 1:
            raise ValueError(
                f"`max_predictions_per_seq` must be positive, got {self.max_predictions_per_seq}.")
        if not 0.0 < self.masked_lm_prob < 1.0:
            raise ValueError(f"`masked_lm_prob` must be in (0, 1), got {self.masked_lm_prob}.")
        if not 0.0 <= self.short_seq_prob <= 1.0:
            raise ValueError(f"`short_seq_prob` must be in [0, 1], got {self.short_seq_prob}.")
        for name in ("dupe_factor", "num_shards", "chunk_documents", "max_document_sentences",
                     "tokenize_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}.")
        if self.random_buffer_documents < 0:
            raise ValueError(
                f"`random_buffer_documents` must be >= 0, got {self.random_buffer_documents}.")
        if self.segmenter is not None:
            if self.segmenter not in word_segmentation.SEGMENTERS:
                raise ValueError(f"`segmenter` must be one of {word_segmentation.SEGMENTERS}, "
                                 f"got {self.segmenter!r}.")
            if not self.whole_word_mask:
                raise ValueError(f"`segmenter`={self.segmenter!r} is used only by whole-word "
                                 "masking: set `whole_word_mask` too.")
        if self.input_format not in corpus.INPUT_FORMATS:
            raise ValueError(f"`input_format` must be one of {corpus.INPUT_FORMATS}, "
                             f"got {self.input_format!r}.")


def shard_paths(output_prefix, num_shards):
    """`[f"{prefix}-00000-of-0000N.tfrecord", ...]`."""
    return [f"{output_prefix}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]


def stats_path(output_prefix):
    return f"{output_prefix}-stats.json"


class _DocumentTokenizer:
    """Tokenizes documents (lists of sentence strings) in batches, in the graph; with a
    `segmenter` (`word_segmentation.make_segmenter`), the tokens that continue a segmenter
    word come marked (`instances.mark_word_continuations`)."""

    def __init__(self, vocabulary, lowercase, batch_size, segmenter=None):
        tokenizer = BertTokenizer(vocabulary, lowercase=lowercase)
        self.segmenter = segmenter
        if segmenter is None:
            self._tokenize = tf.function(
                lambda text: (tokenizer(text),), input_signature=[tf.TensorSpec([None], tf.string)])
        else:
            self._tokenize = tf.function(
                lambda text: tokenize_with_offsets(tokenizer, text)[:2],
                input_signature=[tf.TensorSpec([None], tf.string)])
        self.batch_size = batch_size

    def __call__(self, documents):
        """Returns the documents as lists of non-empty id lists (empty documents dropped)."""
        sentences = [s for doc in documents for s in doc]
        ids = []
        for start in range(0, len(sentences), self.batch_size):
            batch = sentences[start:start + self.batch_size]
            outputs = self._tokenize(tf.constant(batch))
            splits = outputs[0].row_splits.numpy()
            values = outputs[0].flat_values.numpy()
            rows = [values[splits[j]:splits[j + 1]].tolist() for j in range(len(splits) - 1)]
            if self.segmenter is not None:
                starts = outputs[1].flat_values.numpy()
                rows = [mark_word_continuations(row, word_segmentation.word_continuations(
                            text, starts[splits[j]:splits[j + 1]].tolist(), self.segmenter))
                        for j, (text, row) in enumerate(zip(batch, rows))]
            ids.extend(rows)
        out = []
        position = 0
        for doc in documents:
            tokenized = [s for s in ids[position:position + len(doc)] if s]
            position += len(doc)
            if tokenized:
                out.append(tokenized)
        return out


def _chunks(documents, chunk_documents, max_document_sentences):
    """Groups documents into lists of at most `chunk_documents`, cutting long ones."""
    chunk = []
    for document in documents:
        for start in range(0, len(document), max_document_sentences):
            chunk.append(document[start:start + max_document_sentences])
            if len(chunk) >= chunk_documents:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _int_feature(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _float_feature(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def instance_to_example(instance, max_seq_length, max_predictions_per_seq):
    """A `TrainingInstance` as a `tf.train.Example` (padded google-research/bert features)."""
    n = len(instance.tokens)
    if n > max_seq_length:
        raise ValueError(f"Instance of {n} tokens exceeds `max_seq_length`={max_seq_length}.")
    pad = max_seq_length - n
    m = len(instance.masked_lm_positions)
    mpad = max_predictions_per_seq - m
    features = {
        "input_ids": _int_feature(instance.tokens + [0] * pad),
        "input_mask": _int_feature([1] * n + [0] * pad),
        "segment_ids": _int_feature(instance.segment_ids + [0] * pad),
        "masked_lm_positions": _int_feature(instance.masked_lm_positions + [0] * mpad),
        "masked_lm_ids": _int_feature(instance.masked_lm_ids + [0] * mpad),
        "masked_lm_weights": _float_feature([1.0] * m + [0.0] * mpad),
        "next_sentence_labels": _int_feature([1 if instance.is_random_next else 0]),
    }
    return tf.train.Example(features=tf.train.Features(feature=features))


class _Stats:
    def __init__(self):
        self.counts = collections.Counter()

    def add_instance(self, instance):
        c = self.counts
        c["instances"] += 1
        c["tokens"] += len(instance.tokens)
        c["content_tokens"] += len(instance.tokens) - 3
        c["masked"] += len(instance.masked_lm_positions)
        c["masked_replaced_by_mask"] += instance.num_mask
        c["masked_replaced_by_random"] += instance.num_random
        c["masked_kept"] += instance.num_kept
        c["random_next"] += int(instance.is_random_next)

    def summary(self):
        c = self.counts
        n = max(c["instances"], 1)
        masked = max(c["masked"], 1)
        return {
            "documents": c["documents"],
            "sentences": c["sentences"],
            "corpus_tokens": c["corpus_tokens"],
            "instances": c["instances"],
            "mean_sequence_length": c["tokens"] / n,
            "masked_tokens": c["masked"],
            "masked_fraction": c["masked"] / max(c["content_tokens"], 1),
            "mask_token_fraction": c["masked_replaced_by_mask"] / masked,
            "random_token_fraction": c["masked_replaced_by_random"] / masked,
            "kept_token_fraction": c["masked_kept"] / masked,
            "next_sentence_random_fraction": c["random_next"] / n,
        }


def _write_json_atomic(data, path):
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


def create_pretraining_data(input_patterns, vocab_file, output_prefix, config=None,
                            show_progress=False):
    """Writes pretraining TFRecords from text files (see the module docstring).

    Args:
      input_patterns: comma-separated globs (or a list) of UTF-8 text files.
      vocab_file: WordPiece `vocab.txt` with `[CLS]`, `[SEP]`, `[MASK]`, `[UNK]`.
      output_prefix: shards are `{output_prefix}-0000i-of-0000N.tfrecord`.
      config: a `PretrainingDataConfig`.
      show_progress: a tqdm progress bar over documents.

    Returns:
      the stats dict also written to `{output_prefix}-stats.json`.

    Raises:
      CorpusError: no input file, undecodable input, or no usable document.
      VocabularyError: missing vocabulary or required token.
    """
    config = config or PretrainingDataConfig()
    files = corpus.expand_input_patterns(input_patterns)
    tokens = load_vocabulary(vocab_file, required_tokens=("[UNK]", "[CLS]", "[SEP]", "[MASK]"))
    vocab = InstanceVocabulary(tokens)
    segmenter = None
    if config.segmenter is not None:
        segmenter = word_segmentation.make_segmenter(config.segmenter)
    tokenizer = _DocumentTokenizer(tokens, config.lowercase, config.tokenize_batch_size,
                                   segmenter)
    rng = random.Random(config.random_seed)
    stats = _Stats()

    out_dir = os.path.dirname(os.path.abspath(output_prefix))
    os.makedirs(out_dir, exist_ok=True)
    paths = shard_paths(output_prefix, config.num_shards)
    tmp_paths = [f"{p}.tmp-{os.getpid()}" for p in paths]
    writers = [tf.io.TFRecordWriter(p) for p in tmp_paths]
    progress = None
    if show_progress:
        progress = tqdm.tqdm(unit=" docs", desc="create_data")
    try:
        buffer = collections.deque(maxlen=config.random_buffer_documents)
        raw = corpus.read_documents(files, config.input_format)
        written = 0
        for chunk in _chunks(raw, config.chunk_documents, config.max_document_sentences):
            documents = tokenizer(chunk)
            stats.counts["documents"] += len(documents)
            stats.counts["sentences"] += sum(len(d) for d in documents)
            stats.counts["corpus_tokens"] += sum(len(s) for d in documents for s in d)
            if not documents:
                continue
            rng.shuffle(documents)
            pool = documents + list(buffer)
            instances = []
            for _ in range(config.dupe_factor):
                for index in range(len(documents)):
                    instances.extend(create_instances_from_document(
                        pool, index, vocab, config.max_seq_length, config.short_seq_prob,
                        config.masked_lm_prob, config.max_predictions_per_seq, rng,
                        whole_word_mask=config.whole_word_mask))
            rng.shuffle(instances)
            for instance in instances:
                example = instance_to_example(instance, config.max_seq_length,
                                              config.max_predictions_per_seq)
                writers[written % len(writers)].write(example.SerializeToString())
                written += 1
                stats.add_instance(instance)
            buffer.extend(documents)
            if progress is not None:
                progress.update(len(chunk))
                progress.set_postfix(instances=written)
            logging.info("create_data: %d documents, %d instances so far.",
                         stats.counts["documents"], written)
        for writer in writers:
            writer.close()
        if written == 0:
            raise corpus.CorpusError(
                f"The corpus {input_patterns} gave no instances: it has no document with text.")
        summary = stats.summary()
        summary.update(files=paths, config=dataclasses.asdict(config), vocab_file=str(vocab_file),
                       vocab_size=len(tokens), input_files=files)
        for tmp, path in zip(tmp_paths, paths):
            os.replace(tmp, path)
        _write_json_atomic(summary, stats_path(output_prefix))
        return summary
    finally:
        if progress is not None:
            progress.close()
        for writer in writers:
            writer.close()
        for tmp in tmp_paths:
            if os.path.exists(tmp):
                os.remove(tmp)


def read_examples(path):
    """Parses one TFRecord file into a list of dicts of numpy arrays (for checks)."""
    examples = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        example = tf.train.Example.FromString(record)
        row = {}
        for name, feature in example.features.feature.items():
            if feature.HasField("float_list"):
                row[name] = np.array(feature.float_list.value, np.float32)
            else:
                row[name] = np.array(feature.int64_list.value, np.int64)
        examples.append(row)
    return examples


