r"""Converts raw text into the pretraining input format, with a held-out split.

The input format of `build_vocab` and `create_data`: one sentence per line, a
blank line between documents. Whole documents (articles) are held out for
validation, never sentences of a training document.

Usage:
  python -m apps.pretrain.prepare_text --input=../shared/data/wikitext2/valid.txt \
      --input_format=wikitext --output_dir=work/wikitext2 --validation_documents=6

Writes `OUTPUT_DIR/train.txt` and `OUTPUT_DIR/validation.txt` (atomically) and
prints the counts.
"""

import os

from absl import app, flags

from bertlab.pretraining import corpus

flags.DEFINE_string("input", None, "Comma-separated glob(s) of UTF-8 text files.")
flags.DEFINE_enum("input_format", "lines", corpus.INPUT_FORMATS,
                  "'lines': one sentence per line, blank line between documents; "
                  "'wikitext': WikiText articles (` = Title = `).")
flags.DEFINE_string("output_dir", None, "Where train.txt and validation.txt are written.")
flags.DEFINE_integer("validation_documents", 0,
                     "Documents held out for validation: every k-th document, spread over "
                     "the corpus (0: no validation file).")
flags.mark_flags_as_required(["input", "output_dir"])


def write_documents(documents, path):
    """Writes documents in the input format, atomically; returns (documents, sentences)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    num_documents = num_sentences = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for document in documents:
            if num_documents:
                f.write("\n")
            f.write("\n".join(document) + "\n")
            num_documents += 1
            num_sentences += len(document)
    os.replace(tmp, path)
    return num_documents, num_sentences


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    if f.validation_documents < 0:
        raise app.UsageError("--validation_documents must be >= 0.")
    try:
        documents = list(corpus.read_documents(corpus.expand_input_patterns(f.input),
                                               f.input_format))
    except corpus.CorpusError as e:
        raise SystemExit(f"error: {e}")
    if not documents:
        raise SystemExit(f"error: no text in {f.input}")
    held_out = set()
    if f.validation_documents:
        if f.validation_documents >= len(documents):
            raise SystemExit(f"error: --validation_documents={f.validation_documents} leaves no "
                             f"training text ({len(documents)} documents).")
        stride = len(documents) / f.validation_documents
        held_out = {int(i * stride + stride / 2) for i in range(f.validation_documents)}
    os.makedirs(f.output_dir, exist_ok=True)
    train = [d for i, d in enumerate(documents) if i not in held_out]
    counts = {"train": write_documents(train, os.path.join(f.output_dir, "train.txt"))}
    if held_out:
        validation = [d for i, d in enumerate(documents) if i in held_out]
        counts["validation"] = write_documents(
            validation, os.path.join(f.output_dir, "validation.txt"))
    for split, (docs, sentences) in counts.items():
        print(f"{split}: {docs} documents, {sentences} sentences -> "
              f"{os.path.join(f.output_dir, split + '.txt')}")


if __name__ == "__main__":
    app.run(main)
