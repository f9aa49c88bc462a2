"""Tagger inference: NER exports (a teacher and its distilled students) side by side.

Each export's `serving_default` (words in, the in-graph tokenizer and casing
features inside, tags out) is loaded in a fresh process with only `tensorflow`
and `tensorflow_text`, with the same intra-op threads: batch-1 latency (p50/p90)
of one 12-word sentence and batch-64 throughput over the first 640 CoNLL-2003
valid sentences. The summary prints each export's speed-up over the first.

    python benchmarks/tagger_speed.py --model_dirs=saved_models/ner/1,saved_models/ner_3l/1
        [--threads=2] [--iterations=200] [--passes=3]

Not a test: run it on a quiet machine.
"""

import argparse
import json
import os
import sys

from child_process import spawn_child
from inference_harness import DEFAULT_DATA_DIR, measure

SENTENCES = 640


def conll_sentences(data_dir):
    """The first `SENTENCES` sentences of CoNLL-2003 valid, words joined by spaces."""
    sentences, words = [], []
    with open(os.path.join(data_dir, "conll2003", "valid.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("-DOCSTART-"):
                words.append(line.split()[0])
            elif words:
                sentences.append(" ".join(words))
                words = []
    return sentences[:SENTENCES]


def child(args):
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    served = tf.saved_model.load(args.path).signatures["serving_default"]

    def call(texts):
        tags = served(text=tf.constant(texts))["tags"].numpy()  # words' tags, as a client reads
        return np.zeros((len(tags), 1))  # (`measure` wants scores to argmax; tags are strings)

    result = measure(call, conll_sentences(args.data_dir), args.iterations, args.passes)
    result.pop("predictions")
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dirs", help="comma-separated version dirs (required)")
    parser.add_argument("--data_dir", default=DEFAULT_DATA_DIR)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if not args.model_dirs:
        parser.error("--model_dirs is required")
    rows = {}
    for path in args.model_dirs.split(","):
        rows[path] = spawn_child(__file__, ["--child", f"--path={path}",
                                            f"--data_dir={args.data_dir}",
                                            f"--iterations={args.iterations}",
                                            f"--passes={args.passes}",
                                            f"--threads={args.threads}"])
        print(path, json.dumps(rows[path]), flush=True)
    first = rows[args.model_dirs.split(",")[0]]
    print("\n| export | batch-1 p50 / p90 ms | batch 64 sentences/s | p50 speed-up | batch-64 speed-up |")
    print("|---|---|---|---|---|")
    for path, row in rows.items():
        if "error" in row:
            print(f"| {path} | error: {row['error']} | | | |")
            continue
        print(f"| {path} | {row['p50_ms']:.2f} / {row['p90_ms']:.2f} | "
              f"{row['batch64_sentences_per_s']:.0f} | {first['p50_ms'] / row['p50_ms']:.2f}x | "
              f"{row['batch64_sentences_per_s'] / first['batch64_sentences_per_s']:.2f}x |")


if __name__ == "__main__":
    sys.exit(main())
