r"""Prints how much of each Chinese data set a vocabulary covers (characters not lost to [UNK]).

Coverage is `bertlab.text.vocabulary_coverage.character_coverage`: the share of
a text's characters that the `BertTokenizer` of `--vocab_file` puts in a token
other than `[UNK]`. The text of each data set is what a model reads of it
(reviews, titles, messages, contexts and questions, sentence pairs, abstracts
and titles, the Chinese side of Tatoeba), from the files that `../shared/data`
ships; `--input` adds text files of your own (one text per line, gzip allowed).

Usage:
  python -m apps.pretrain.vocab_coverage --vocab_file=work/zhwiki/vocab.txt \
      [--data_dir=../shared/data] [--datasets=cmrc2018,drcd] [--input='more/*.txt'] \
      [--min_coverage=0.999]

Prints one line per data set (characters, unknown, coverage, the most frequent
`[UNK]` spans) and, with `--min_coverage`, exits with status 1 when a data set
is below it.
"""

import csv
import json
import os
import sys

from absl import app, flags

from bertlab.pretraining import corpus
from bertlab.text import BertTokenizer, VocabularyError
from bertlab.text.vocabulary_coverage import character_coverage


def _tsv_column(path, column, skip_header=False):
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if skip_header:
            next(rows, None)
        for row in rows:
            if len(row) > column:
                yield row[column]


def _conll_sentences(path):
    """Sentences of a `<char><TAB><tag>` file (blank line between sentences)."""
    chars = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                chars.append(line.split("\t")[0])
            elif chars:
                yield "".join(chars)
                chars = []
    if chars:
        yield "".join(chars)


def _squad_texts(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    for article in data:
        for paragraph in article["paragraphs"]:
            yield paragraph["context"]
            for qa in paragraph["qas"]:
                yield qa["question"]


def _sts_sentences(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("||")
            yield from fields[1:3]


def _chain(*generators):
    for generator in generators:
        yield from generator


# name -> function of the data directory giving the texts a model reads.
CHINESE_DATASETS = {
    "chnsenticorp": lambda d: _tsv_column(f"{d}/chnsenticorp/train.tsv", 1, skip_header=True),
    "weibo_ner": lambda d: _chain(_conll_sentences(f"{d}/weibo_ner/train.txt"),
                                  _conll_sentences(f"{d}/weibo_ner/dev.txt")),
    "thucnews_titles": lambda d: _tsv_column(f"{d}/thucnews_titles/train.txt", 0),
    "cmrc2018": lambda d: _squad_texts(f"{d}/cmrc2018/train.json"),
    "drcd": lambda d: _squad_texts(f"{d}/drcd/train.json"),
    "chinese_sts_b": lambda d: _chain(_sts_sentences(f"{d}/chinese_sts_b/cnsd-sts-train.txt"),
                                      _sts_sentences(f"{d}/chinese_sts_b/cnsd-sts-dev.txt")),
    "csl_ts": lambda d: _chain(_tsv_column(f"{d}/csl_ts/dev.tsv", 1),
                               _tsv_column(f"{d}/csl_ts/dev.tsv", 2)),
    "tatoeba_zh_en": lambda d: _chain(_tsv_column(f"{d}/tatoeba_zh_en/train.tsv", 1),
                                      _tsv_column(f"{d}/tatoeba_zh_en/valid.tsv", 1)),
}

flags.DEFINE_string("vocab_file", None, "The vocabulary (vocab.txt) to measure.")
flags.DEFINE_bool("lowercase", True, "Uncased vocabulary (lower-case, strip accents).")
flags.DEFINE_string("data_dir", os.path.join("..", "shared", "data"),
                    "Where the Chinese data sets are.")
flags.DEFINE_list("datasets", list(CHINESE_DATASETS),
                  "Data sets to measure (empty: none): " + ", ".join(CHINESE_DATASETS) + ".")
flags.DEFINE_string("input", None, "Comma-separated glob(s) of text files (one text per line) "
                    "measured together as one more row.")
flags.DEFINE_float("min_coverage", None, "Exit with status 1 when a row is below this.")
flags.DEFINE_integer("show_unknown", 10, "Most frequent [UNK] spans printed per row.")
flags.mark_flag_as_required("vocab_file")


def measure(tokenizer, sources, show_unknown=10):
    """`{name: CharacterCoverage}` of `sources` (`{name: iterable of str}`), printing a row
    for each."""
    results = {}
    for name, texts in sources.items():
        result = character_coverage(tokenizer, texts)
        results[name] = result
        top = ", ".join(f"{span!r}x{n}" for span, n in result.unknown_spans.most_common(
            show_unknown))
        print(f"{name:16s} {result.characters:>10,d} characters {result.unknown:>8,d} unknown  "
              f"coverage {100 * result.coverage:8.4f}%  {top}")
    return results


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    unknown = [name for name in f.datasets if name not in CHINESE_DATASETS]
    if unknown:
        raise app.UsageError(f"--datasets: unknown data set(s) {', '.join(unknown)}; known: "
                             f"{', '.join(CHINESE_DATASETS)}.")
    try:
        tokenizer = BertTokenizer(f.vocab_file, lowercase=f.lowercase)
        sources = {}
        for name in f.datasets:
            if not os.path.isdir(os.path.join(f.data_dir, name)):
                raise corpus.CorpusError(f"No data set {name} in {f.data_dir}.")
            sources[name] = CHINESE_DATASETS[name](f.data_dir)
        if f.input:
            files = corpus.expand_input_patterns(f.input)
            sources["input"] = (line for line in corpus.read_lines(files) if line.strip())
        print(f"Character coverage of {f.vocab_file} ({tokenizer.vocabulary_size} tokens):")
        results = measure(tokenizer, sources, f.show_unknown)
    except (corpus.CorpusError, VocabularyError, OSError, ValueError, KeyError) as e:
        sys.exit(f"vocab_coverage: error: {e}")
    if f.min_coverage is not None:
        below = [name for name, r in results.items() if r.coverage < f.min_coverage]
        if below:
            print(f"Below {100 * f.min_coverage:g}%: {', '.join(below)}")
            sys.exit(1)


if __name__ == "__main__":
    app.run(main)
