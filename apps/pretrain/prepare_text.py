r"""Converts raw text into the pretraining input format, with a held-out split.

The input format of `build_vocab` and `create_data`: one sentence per line, a
blank line between documents. Whole documents (articles) are held out for
validation, never sentences of a training document.

Usage:
  python -m apps.pretrain.prepare_text --input=../shared/data/wikitext2/valid.txt \
      --input_format=wikitext --output_dir=work/wikitext2 --validation_documents=6
  python -m apps.pretrain.prepare_text --input='../shared/data/zhwiki/*.txt.gz' \
      --input_format=wikiextractor --output_dir=work/zhwiki --validation_documents=1000

Input files may be gzip-compressed. The corpus is streamed twice (once to count
its documents, once to write them), so memory stays bounded whatever its size.
Writes `OUTPUT_DIR/train.txt` and `OUTPUT_DIR/validation.txt` (atomically) and
prints the counts.
"""

import os

from absl import app, flags

from bertlab.pretraining import corpus

flags.DEFINE_string("input", None, "Comma-separated glob(s) of UTF-8 text files.")
flags.DEFINE_enum("input_format", "lines", corpus.INPUT_FORMATS,
                  "'lines': one sentence per line, blank line between documents; "
                  "'wikitext': WikiText articles (` = Title = `); 'wikiextractor': Wikipedia "
                  "articles (title line, one paragraph per line, blank line between articles; "
                  "split into sentences).")
flags.DEFINE_string("output_dir", None, "Where train.txt and validation.txt are written.")
flags.DEFINE_integer("validation_documents", 0,
                     "Documents held out for validation: every k-th document, spread over "
                     "the corpus (0: no validation file).")
flags.mark_flags_as_required(["input", "output_dir"])


class _AtomicWriter:
    """Writes documents in the input format to `path`, renamed into place by `commit`."""

    def __init__(self, path):
        self.path = path
        self.tmp = f"{path}.tmp-{os.getpid()}"
        self.file = open(self.tmp, "w", encoding="utf-8")
        self.documents = self.sentences = 0

    def write(self, document):
        if self.documents:
            self.file.write("\n")
        self.file.write("\n".join(document) + "\n")
        self.documents += 1
        self.sentences += len(document)

    def commit(self):
        self.file.close()
        os.replace(self.tmp, self.path)

    def discard(self):
        self.file.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


def held_out_indices(num_documents, validation_documents):
    """Indices of the held-out documents: every k-th, spread over the corpus."""
    if not validation_documents:
        return set()
    stride = num_documents / validation_documents
    return {int(i * stride + stride / 2) for i in range(validation_documents)}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    if f.validation_documents < 0:
        raise app.UsageError("--validation_documents must be >= 0.")
    try:
        files = corpus.expand_input_patterns(f.input)
        num_documents = sum(1 for _ in corpus.read_documents(files, f.input_format))
        if not num_documents:
            raise SystemExit(f"error: no text in {f.input}")
        if f.validation_documents >= num_documents:
            raise SystemExit(f"error: --validation_documents={f.validation_documents} leaves no "
                             f"training text ({num_documents} documents).")
        held_out = held_out_indices(num_documents, f.validation_documents)
        os.makedirs(f.output_dir, exist_ok=True)
        writers = {"train": _AtomicWriter(os.path.join(f.output_dir, "train.txt"))}
        if held_out:
            writers["validation"] = _AtomicWriter(os.path.join(f.output_dir, "validation.txt"))
        try:
            for i, document in enumerate(corpus.read_documents(files, f.input_format)):
                writers["validation" if i in held_out else "train"].write(document)
            for writer in writers.values():
                writer.commit()
        finally:
            for writer in writers.values():
                writer.discard()
    except corpus.CorpusError as e:
        raise SystemExit(f"error: {e}")
    for split, writer in writers.items():
        print(f"{split}: {writer.documents} documents, {writer.sentences} sentences -> "
              f"{writer.path}")


if __name__ == "__main__":
    app.run(main)
