"""The approximate search index at scale: build time, size, memory, queries/s and recall@10.

Measures `bertlab.export.approximate_index` (FAISS IVF-PQ with 4-bit fast-scan
codes, then exact reordering of `reorder` candidates; what `apps.search.index
--approximate` builds and `apps.serve` answers with) on synthetic vectors, with
exact brute-force search over the same vectors as the peer:

- the corpus: `--size` unit vectors of dimension `--dim` (default 1,000,000 x
  384, MiniLM's dimension), a Gaussian mixture around `--centres` random unit
  centres (default 1,000): each vector is its centre plus isotropic noise of
  norm ~`--spread` (default 1.0: cosine ~0.7 to its centre, ~0.5 between two
  vectors of a cluster, ~0 across clusters, roughly the spread of sentence
  embeddings of related and unrelated texts), normalized;
- the queries: `--queries` corpus vectors (picked at random) plus noise of
  half that norm, normalized (cosine ~0.9 to the vector they came from);
- the truth: exact top-10 by dot product (NumPy matmul and argpartition, in
  batches of 64), also timed as the exact search's queries/s;
- reported: build time (training and adding), the index's size on disk
  (`save`), the process's resident memory growth across the build (the
  index; the corpus is the caller's, as in the server, where the SavedModel
  holds it), queries/s at batch 1 and batch 64 for the approximate search
  (index search, gather of the candidates' vectors, exact rescoring) and for
  the exact search, and recall@10 (the fraction of the exact top-10 found).

`--leaves_to_search=16,32,64` and `--reorder=100,400` measure each pair of
settings on the same index (the first pair is the JSON's headline; empty: the
defaults for the corpus size); `--threads` sets FAISS's and
NumPy's threads (0: all cores). Only the search is timed, not the embedder
that a served query also passes through (~7 ms at batch 1 for MiniLM; see
`embedding_speed.py`).

    python benchmarks/ann_index.py [--size=1000000] [--dim=384] [--centres=1000]
        [--queries=1000] [--threads=0] [--leaves_to_search=32,64] [--reorder=100,400]
        [--output=ann.json]
    python benchmarks/ann_index.py --size=20000 --queries=200   # a smoke run, seconds

Needs `faiss-cpu` (`pip install -e ".[ann]"`). The default run needs ~4 GB of
memory and minutes on 2 cores; run it on a quiet machine. The last line
printed is the JSON result.
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

K = 10
EXACT_BATCH = 64
BATCH_1_EXACT_QUERIES = 50  # each a pass over the whole corpus


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="corpus vectors")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--centres", type=int, default=1000, help="Gaussian mixture centres")
    parser.add_argument("--spread", type=float, default=1.0,
                        help="norm of a vector's noise around its centre (unit centres)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0, help="0: all cores")
    parser.add_argument("--leaves_to_search", default="",
                        help="comma-separated settings to measure (empty: the default)")
    parser.add_argument("--reorder", default="",
                        help="comma-separated settings to measure (empty: the default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="", help="also write the JSON result here")
    return parser.parse_args(argv)


def rss_bytes():
    """This process's resident memory (Linux `/proc/self/status` VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def unit(x, np):
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    return x


def synthetic(args, np):
    """`(corpus, queries)`, float32 unit vectors (see the module docstring)."""
    rng = np.random.default_rng(args.seed)
    centres = unit(rng.standard_normal((args.centres, args.dim), dtype=np.float32), np)
    corpus = np.empty((args.size, args.dim), np.float32)
    scale = np.float32(args.spread / np.sqrt(args.dim))
    for start in range(0, args.size, 65536):  # in slices: no second full-size temporary
        part = corpus[start:start + 65536]
        part[:] = rng.standard_normal(part.shape, dtype=np.float32) * scale
        part += centres[rng.integers(0, args.centres, len(part))]
        unit(part, np)
    picked = rng.choice(args.size, args.queries, replace=False)
    queries = corpus[picked] + rng.standard_normal((args.queries, args.dim),
                                                   dtype=np.float32) * (scale / 2)
    return corpus, unit(queries, np)


def exact_top_k(corpus, queries, np):
    """Rows `[n, K]` by exact dot product, best first (ties: lower row)."""
    scores = queries @ corpus.T
    top = np.argpartition(-scores, K, axis=1)[:, :K]
    top_scores = np.take_along_axis(scores, top, 1)
    order = np.lexsort((top, -top_scores), axis=-1)
    return np.take_along_axis(top, order, 1)


def timed_queries_per_s(search, queries, batch):
    started = time.perf_counter()
    for start in range(0, len(queries), batch):
        search(queries[start:start + batch])
    return len(queries) / (time.perf_counter() - started)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)  # before NumPy and FAISS load
    import numpy as np

    from bertlab.export.approximate_index import (ApproximateIndexSettings,
                                                  build_approximate_index, import_faiss)

    faiss = import_faiss()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)

    started = time.perf_counter()
    corpus, queries = synthetic(args, np)
    print(f"synthetic corpus {corpus.shape} in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)

    started = time.perf_counter()
    truth = np.concatenate([exact_top_k(corpus, queries[s:s + EXACT_BATCH], np)
                            for s in range(0, len(queries), EXACT_BATCH)])
    exact_qps_64 = len(queries) / (time.perf_counter() - started)
    exact_qps_1 = timed_queries_per_s(lambda q: exact_top_k(corpus, q, np),
                                      queries[:BATCH_1_EXACT_QUERIES], 1)
    print(f"exact: {exact_qps_1:.1f} queries/s at batch 1, {exact_qps_64:.1f} at batch 64",
          file=sys.stderr)

    defaults = ApproximateIndexSettings.for_corpus(args.size)
    before = rss_bytes()
    started = time.perf_counter()
    index = build_approximate_index(corpus, defaults, seed=args.seed)
    build_s = time.perf_counter() - started
    rss_growth = rss_bytes() - before
    with tempfile.TemporaryDirectory() as directory:
        index.save(directory)
        disk_bytes = sum(os.path.getsize(os.path.join(directory, f))
                         for f in os.listdir(directory))
    print(f"built in {build_s:.1f} s: {disk_bytes / 1e6:.1f} MB on disk, RSS +"
          f"{rss_growth / 1e6:.1f} MB ({defaults})", file=sys.stderr)

    def lookup(rows):
        return corpus[rows]

    searched = [int(x) for x in args.leaves_to_search.split(",") if x] or \
        [defaults.leaves_to_search]
    reordered = [int(x) for x in args.reorder.split(",") if x] or [defaults.reorder]
    settings_results = []
    for leaves, reorder in [(a, b) for a in searched for b in reordered]:
        index.settings = ApproximateIndexSettings(
            defaults.num_leaves, min(leaves, defaults.num_leaves), reorder,
            defaults.training_sample_size)
        found = np.concatenate([index.search(queries[s:s + EXACT_BATCH], K, lookup)[0]
                                for s in range(0, len(queries), EXACT_BATCH)])
        recall = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth)]))
        result = {"leaves_to_search": index.settings.leaves_to_search, "reorder": reorder,
                  "recall_at_10": round(recall, 4),
                  "queries_per_s_batch_1": round(timed_queries_per_s(
                      lambda q: index.search(q, K, lookup), queries, 1), 1),
                  "queries_per_s_batch_64": round(timed_queries_per_s(
                      lambda q: index.search(q, K, lookup), queries, EXACT_BATCH), 1)}
        print(json.dumps(result), file=sys.stderr)
        settings_results.append(result)

    result = {
        "benchmark": "ann_index", "library": "faiss-cpu", "library_version": faiss.__version__,
        "size": args.size, "dim": args.dim, "centres": args.centres, "spread": args.spread,
        "queries": args.queries, "threads": args.threads or os.cpu_count(),
        "settings": defaults.as_dict(), "build_s": round(build_s, 1),
        "index_bytes_on_disk": disk_bytes, "rss_growth_bytes": rss_growth,
        "corpus_bytes_float32": int(corpus.nbytes),
        **settings_results[0], "by_settings": settings_results,
        "exact_queries_per_s_batch_1": round(exact_qps_1, 1),
        "exact_queries_per_s_batch_64": round(exact_qps_64, 1),
    }
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
