"""Scores an exported sentence embedder on sentence pairs; prints the scores and JSON.

    python -m apps.search.evaluate --model_dir=saved_models/search_embedder \
        --data=../shared/data/stsbenchmark/sts-dev.csv [--format=stsb]
    python -m apps.search.evaluate --init=minilm --data=../shared/data/stsbenchmark/sts-dev.csv

Both texts of every pair go through the export's `embed` signature (raw
strings, as a search index sends them). Scored pairs (`--format=stsb|cnsd`)
are scored by the Spearman and Pearson correlation x 100 of the pairs' cosines
with the gold scores (the STS Benchmark figure); (query, positive) pairs
(`--format=scitldr|squad`) by retrieving each query's positive among the
file's distinct positives: MRR@10, recall@1, recall@10, nDCG@10, x 100. The
scores are the training task's (`SentenceEmbeddingTask.scores`).

`--init=minilm` (or a checkpoint directory) scores a pretrained embedder
without fine-tuning (zero-shot): it is exported to a temporary directory with
the same writer as a trained one (`export_sentence_embedder`) and scored
through that export, so both numbers come from the same path.
"""

import json
import os
import tempfile

from absl import app, flags

from apps.search.config import APP_NAME, PRETRAINED_SEQUENCE_LENGTH, REPO_ROOT
from apps.search.training_config import EMBEDDER_EXPORT_DIR
from bertlab.data import PAIR_FORMATS, DataError, read_sentence_pairs
from bertlab.export import ExportedModel, write_metadata
from bertlab.export.sentence_embedder_export import export_sentence_embedder
from bertlab.models import CheckpointError
from bertlab.models.sentence_embedder import SentenceEmbedder
from bertlab.tasks.encoder_config import resolve_init
from bertlab.tasks.fine_tuning_cli import run_main
from bertlab.tasks.sentence_embedding import SentenceEmbeddingTask
from bertlab.text.bert_preprocessor import BertPreprocessor

flags.DEFINE_string("model_dir", os.path.join(REPO_ROOT, EMBEDDER_EXPORT_DIR),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_string("init", None, "Score a pretrained embedder instead of an export: 'minilm' "
                    "or a checkpoint directory (sentence-transformers or Hugging Face BERT "
                    "layout).")
flags.DEFINE_integer("sequence_length", PRETRAINED_SEQUENCE_LENGTH,
                     "With --init: the tokens of a text the embedder reads (default: as "
                     "apps.search.index reads with a pretrained embedder).")
flags.DEFINE_string("data", None, "A file of sentence pairs.")
flags.DEFINE_enum("format", "stsb", PAIR_FORMATS, "The file's format: stsb (STS Benchmark), "
                  "cnsd (Chinese STS-B), scitldr (TLDR -> abstract), squad (question -> "
                  "paragraph).")
flags.DEFINE_integer("batch_size", 64, "Texts per call of the model.")
flags.mark_flag_as_required("data")
FLAGS = flags.FLAGS


def embed_texts(model, texts, batch_size):
    """float32 `[len(texts), dim]` embeddings of `texts` through an `ExportedModel` of a
    sentence embedder; each distinct text is embedded once (a SciTLDR abstract with
    several TLDRs, a SQuAD paragraph with several questions)."""
    distinct = list(dict.fromkeys(texts))
    row = {text: i for i, text in enumerate(distinct)}
    embeddings = model.run(distinct, batch_size)["embedding"]
    return embeddings[[row[text] for text in texts]]


def embed_pairs(model, pairs, batch_size):
    """`(first, second)` float32 `[n, dim]` embeddings of both sides of `SentencePairs`."""
    return (embed_texts(model, pairs.first, batch_size),
            embed_texts(model, pairs.second, batch_size))


def export_pretrained(init, sequence_length, directory):
    """Exports the pretrained embedder `init` names ("minilm" or a directory) into
    `directory` (a SavedModel, as training exports); returns `directory`."""
    checkpoint = resolve_init(init)
    if checkpoint is None:
        raise ValueError("--init must be 'minilm' or a checkpoint directory, got 'none'.")
    embedder = SentenceEmbedder.from_pretrained(checkpoint)
    preprocessor = BertPreprocessor.from_pretrained(checkpoint, sequence_length=sequence_length,
                                                    pad_to_longest=True)
    metadata = export_sentence_embedder(embedder, preprocessor, directory, dtype_policy=None)
    write_metadata(directory, {**metadata, "init": init, "fine_tuned": False})
    return directory


def evaluate(model, pairs, batch_size):
    """The task's scores of `pairs` embedded by `model` (an `ExportedModel`)."""
    first, second = embed_pairs(model, pairs, batch_size)
    return SentenceEmbeddingTask.scores(pairs, first, second)


def run():
    """Reads the pairs, embeds them with the export (or the pretrained embedder), prints
    the scores."""
    pairs = read_sentence_pairs(FLAGS.data, FLAGS.format)
    with tempfile.TemporaryDirectory(prefix="pretrained-embedder-") as scratch:
        if FLAGS.init:
            model_dir = export_pretrained(FLAGS.init, FLAGS.sequence_length,
                                          os.path.join(scratch, "1"))
            source = f"{FLAGS.init} (pretrained, not fine-tuned)"
        else:
            model_dir = FLAGS.model_dir
        model = ExportedModel(model_dir)
        if not FLAGS.init:
            source = model.path
        scores = evaluate(model, pairs, FLAGS.batch_size)
    print(", ".join(f"{name} {value:.2f}" for name, value in scores.items())
          + f" (x 100) on {len(pairs)} pairs ({source})")
    print(json.dumps({**scores, "pairs": len(pairs), "format": FLAGS.format, "model": source,
                      "data": FLAGS.data, "app": APP_NAME}))


def main(argv):
    # Bad data, a missing export or checkpoint: `error: ...` and exit status 1.
    run_main(argv, run, errors=(DataError, CheckpointError, FileNotFoundError, ValueError))


if __name__ == "__main__":
    app.run(main)
