r"""Learns a WordPiece vocabulary (`vocab.txt`) from plain text.

Words come from bertlab's basic tokenizer, so the vocabulary matches the
`BertTokenizer` that will use it; subwords are learned by tensorflow-text's
WordPiece learner (see `bertlab.text.vocabulary_learning`). Reserved
tokens come first (`[PAD]` is id 0). The learner is pure Python: a few
million words take minutes; use `--max_lines` to learn from a sample.

Every CJK ideograph that occurs at least `--cjk_min_count` times (default 3)
is a token of its own, outside the learner (see
`bertlab.text.vocabulary_learning`); `--cjk_min_count=0` leaves ideographs to
the learner's alphabet as other characters. `apps.pretrain.vocab_coverage`
prints how much of the Chinese data sets the result covers.

Usage:
  python -m apps.pretrain.build_vocab --input='corpus/*.txt' --output=vocab.txt \
      --vocab_size=30522 [--nolowercase] [--input_format=wikitext] [--max_lines=1000000]
  python -m apps.pretrain.build_vocab --input=work/zhwiki/train.txt \
      --output=work/zhwiki/vocab.txt --vocab_size=21128 --cjk_min_count=3
"""

import itertools
import os
import sys

from absl import app, flags, logging

from bertlab.pretraining import corpus
from bertlab.text import vocabulary_learning
from bertlab.text import VocabularyError, save_vocabulary
from bertlab.text.vocabulary import SPECIAL_TOKENS

flags.DEFINE_string("input", None, "Comma-separated glob(s) of UTF-8 text files.")
flags.DEFINE_string("output", None, "Path of the vocabulary file to write (atomically).")
flags.DEFINE_integer("vocab_size", 30522, "Largest vocabulary size, reserved tokens included.")
flags.DEFINE_bool("lowercase", True, "Lower-case and strip accents (uncased vocabulary).")
flags.DEFINE_list("reserved_tokens", list(SPECIAL_TOKENS),
                  "Tokens placed first, in order; must include "
                  + ", ".join(SPECIAL_TOKENS) + ".")
flags.DEFINE_enum("input_format", "lines", corpus.INPUT_FORMATS,
                  "'lines': one sentence per line, blank line between documents; "
                  "'wikitext': WikiText articles (` = Title = `).")
flags.DEFINE_integer("max_lines", None, "Learn from at most this many sentences.")
flags.DEFINE_integer("min_frequency", 2, "Lowest count threshold the learner searches.")
flags.DEFINE_integer("max_unique_chars", 1000, "Alphabet size (rarer characters -> [UNK]).")
flags.DEFINE_integer("cjk_min_count", 3,
                     "Every CJK ideograph seen at least this many times is a token (rarer ones "
                     "-> [UNK]); 0: ideographs go through the learner's alphabet.")
flags.mark_flags_as_required(["input", "output"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    try:
        missing = [t for t in SPECIAL_TOKENS if t not in f.reserved_tokens]
        if missing:
            raise ValueError(f"--reserved_tokens lacks {', '.join(missing)}.")
        if f.cjk_min_count < 0:
            raise ValueError(f"--cjk_min_count must be >= 0, got {f.cjk_min_count}.")
        if f.max_lines is not None and f.max_lines < 1:
            raise ValueError(f"--max_lines must be positive, got {f.max_lines}.")
        files = corpus.expand_input_patterns(f.input)
        logging.info("Reading %d file(s).", len(files))
        sentences = (s for doc in corpus.read_documents(files, f.input_format) for s in doc)
        if f.max_lines:
            sentences = itertools.islice(sentences, f.max_lines)
        counts = vocabulary_learning.count_words(sentences, lowercase=f.lowercase)
        if not counts:
            raise corpus.CorpusError(f"The corpus {f.input} has no words.")
        logging.info("%d distinct words, %d in all; learning...", len(counts),
                     sum(counts.values()))
        vocab = vocabulary_learning.learn_vocabulary(
            counts, f.vocab_size, reserved_tokens=f.reserved_tokens,
            min_frequency=f.min_frequency, max_unique_chars=f.max_unique_chars,
            cjk_min_count=f.cjk_min_count or None)
    except (corpus.CorpusError, VocabularyError, ValueError) as e:
        sys.exit(f"build_vocab: error: {e}")
    os.makedirs(os.path.dirname(os.path.abspath(f.output)), exist_ok=True)
    save_vocabulary(vocab, f.output)
    logging.info("Wrote %d tokens to %s.", len(vocab), f.output)
    cjk = sum(vocabulary_learning.is_cjk_character(t) for t in vocab)
    print(f"Wrote {len(vocab)} tokens ({cjk} CJK characters) to {f.output}")


if __name__ == "__main__":
    app.run(main)
