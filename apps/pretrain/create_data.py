r"""Creates BERT pretraining data (masked LM + next sentence) as sharded TFRecords.

Input: UTF-8 text, one sentence (or line) per line and a blank line between
documents (`--input_format=lines`), or WikiText articles
(`--input_format=wikitext`). Output: `PREFIX-0000i-of-0000N.tfrecord` with
google-research/bert's features (interchangeable with its and Model Garden's
data) and `PREFIX-stats.json`. Streams the corpus in bounded chunks; see
`bertlab.pretraining.pretraining_data` for the exact semantics.

Usage:
  python -m apps.pretrain.create_data --input='corpus/*.txt' --vocab_file=vocab.txt \
      --output=data/train --max_seq_length=128 --max_predictions_per_seq=20 \
      --dupe_factor=10 --num_shards=8 [--whole_word_mask] [--nolowercase]
  python -m apps.pretrain.create_data --input=work/zhwiki/train.txt \
      --vocab_file=work/zhwiki/vocab.txt --output=work/zhwiki/train \
      --whole_word_mask --segmenter=jieba        # Chinese whole-word masking (BERT-wwm)

`--whole_word_mask` alone masks the WordPiece pieces of a word together; with
`--segmenter=jieba` the words are Chinese words from jieba (`pip install
'bertlab[zh]'`), so all characters of a word are masked together, as Chinese
BERT-wwm does. The TFRecord features are the same either way.
"""

import sys

from absl import app, flags, logging

from bertlab.pretraining import corpus
from bertlab.pretraining.pretraining_data import PretrainingDataConfig, create_pretraining_data
from bertlab.text import VocabularyError

_DEFAULTS = PretrainingDataConfig()

flags.DEFINE_string("input", None, "Comma-separated glob(s) of UTF-8 text files.")
flags.DEFINE_string("vocab_file", None, "WordPiece vocab.txt (with [CLS], [SEP], [MASK], [UNK]).")
flags.DEFINE_string("output", None, "Output prefix: PREFIX-0000i-of-0000N.tfrecord.")
flags.DEFINE_enum("input_format", _DEFAULTS.input_format, corpus.INPUT_FORMATS,
                  "'lines': one sentence per line, blank line between documents; "
                  "'wikitext': WikiText articles (` = Title = `).")
flags.DEFINE_bool("lowercase", _DEFAULTS.lowercase,
                  "Uncased vocabulary (lower-case, strip accents).")
flags.DEFINE_integer("max_seq_length", _DEFAULTS.max_seq_length, "Tokens per instance.")
flags.DEFINE_integer("max_predictions_per_seq", _DEFAULTS.max_predictions_per_seq,
                     "Most masked positions per instance.")
flags.DEFINE_float("masked_lm_prob", _DEFAULTS.masked_lm_prob, "Fraction of tokens predicted.")
flags.DEFINE_integer("dupe_factor", _DEFAULTS.dupe_factor,
                     "Passes over each document (different masks each pass).")
flags.DEFINE_float("short_seq_prob", _DEFAULTS.short_seq_prob,
                   "Probability of a shorter target length.")
flags.DEFINE_bool("whole_word_mask", _DEFAULTS.whole_word_mask,
                  "Mask all WordPiece pieces of a word together.")
flags.DEFINE_string("segmenter", _DEFAULTS.segmenter,
                    "With --whole_word_mask: words from this segmenter ('jieba': Chinese words) "
                    "instead of WordPiece's.")
flags.DEFINE_integer("random_seed", _DEFAULTS.random_seed, "Seed; same seed, same files.")
flags.DEFINE_integer("num_shards", _DEFAULTS.num_shards, "Output files.")
flags.DEFINE_integer("chunk_documents", _DEFAULTS.chunk_documents,
                     "Documents held in memory and shuffled together.")
flags.DEFINE_integer("random_buffer_documents", _DEFAULTS.random_buffer_documents,
                     "Earlier documents kept as a pool for random next segments.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.mark_flags_as_required(["input", "vocab_file", "output"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    try:
        config = PretrainingDataConfig(
            max_seq_length=f.max_seq_length, max_predictions_per_seq=f.max_predictions_per_seq,
            masked_lm_prob=f.masked_lm_prob, dupe_factor=f.dupe_factor,
            short_seq_prob=f.short_seq_prob, whole_word_mask=f.whole_word_mask,
            segmenter=f.segmenter or None,
            random_seed=f.random_seed, num_shards=f.num_shards, lowercase=f.lowercase,
            input_format=f.input_format, chunk_documents=f.chunk_documents,
            random_buffer_documents=f.random_buffer_documents)
        stats = create_pretraining_data(f.input, f.vocab_file, f.output, config,
                                        show_progress=f.progress)
    except (corpus.CorpusError, VocabularyError, ValueError) as e:
        sys.exit(f"create_data: error: {e}")
    logging.info("Stats: %s",
                 {k: v for k, v in stats.items() if k not in ("config", "input_files")})
    print(f"Wrote {stats['instances']} instances to {len(stats['files'])} file(s) "
          f"({f.output}-*.tfrecord); masked fraction {stats['masked_fraction']:.3f}, "
          f"random next {stats['next_sentence_random_fraction']:.3f}.")


if __name__ == "__main__":
    app.run(main)
