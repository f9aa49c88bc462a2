"""Where a text classifier SavedModel's batch-1 time goes: tokenizer, oneDNN, the rest.

For one exported version (`serving_default`: strings in; `serve_token_ids`: ids
in), on the 12-word SENTENCE of the inference benchmarks:
- p50 of `serving_default` and of `serve_token_ids` on the same ids: their
  difference is the in-graph tokenizer and packing;
- in a second process with `ONEDNN_VERBOSE=1`, one `serve_token_ids` call's
  oneDNN primitives (matmuls, reorders, softmax...): their count and summed
  time; what the call takes beyond them is TensorFlow's own ops and dispatch.

    python benchmarks/saved_model_breakdown.py --version_dir=saved_models/sentiment/N
        [--path=<another export of it, e.g. fp32>] [--threads=2]

Issue #18's measurements (all-MiniLM-L6-v2, 2 shared cores with AMX, 2 threads):
bf16 `serve_token_ids` ~5 ms, of which oneDNN 3.0 ms (24 dense layers 1.4 ms
on prepacked weights, 12 head transposes run as oneDNN reorders 0.8 ms,
attention matmuls 0.5 ms, softmax 0.3 ms); tokenizer ~0.4 ms; fp32 9 ms (its
dense layers 5.2 ms: no AMX in float32).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict

from inference_harness import SENTENCE, percentile

MARK, END = "=====breakdown-start=====", "=====breakdown-end====="


def load(path, version_dir, threads):
    """`(call serving_default, call serve_token_ids)` on SENTENCE, packed by the version's
    tokenizer (`vocab.txt` beside its `model.keras`)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from compression_speed import version_preprocessor

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    loaded = tf.saved_model.load(path)
    text = loaded.signatures["serving_default"]
    token_ids = loaded.signatures["serve_token_ids"]
    sentence = tf.constant([SENTENCE])
    features = version_preprocessor(version_dir)(sentence)
    return (lambda: text(text=sentence)), (lambda: token_ids(**features))


def timed(call, iterations):
    for _ in range(10):
        call()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return round(percentile(times, 50), 3)


def verbose_child(path, version_dir, threads):
    _, token_ids = load(path, version_dir, threads)
    for _ in range(5):
        token_ids()
    print(MARK, flush=True)
    token_ids()
    print(END, flush=True)


def onednn_breakdown(path, version_dir, threads):
    """`{primitive kind + implementation: (count, ms)}` of one call, from ONEDNN_VERBOSE."""
    output = subprocess.run(
        [sys.executable, os.path.abspath(__file__), f"--path={path}",
         f"--version_dir={version_dir}", f"--threads={threads}", "--verbose_child"], capture_output=True, text=True,
        env={**os.environ, "ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}).stdout
    inside, totals = False, defaultdict(lambda: [0, 0.0])
    for line in output.splitlines():
        if line == MARK:
            inside = True
        elif line == END:
            break
        elif inside and line.startswith("onednn_verbose") and ",exec," in line:
            fields = line.split(",")
            key = f"{fields[5]} {fields[6]}"
            totals[key][0] += 1
            totals[key][1] += float(fields[-1])
    return {key: (count, round(ms, 3)) for key, (count, ms) in totals.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--version_dir", required=True,
                        help="a text classifier export version (its vocab.txt tokenizes)")
    parser.add_argument("--path", help="the SavedModel to time (default: --version_dir; e.g. "
                        "compression_speed.py --work_dir's bertlab_float32)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--verbose_child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = args.path or args.version_dir
    if args.verbose_child:
        verbose_child(path, args.version_dir, args.threads)
        return
    text, token_ids = load(path, args.version_dir, args.threads)
    result = {"serving_default_p50_ms": timed(text, args.iterations),
              "serve_token_ids_p50_ms": timed(token_ids, args.iterations)}
    result["tokenizer_ms"] = round(result["serving_default_p50_ms"]
                                   - result["serve_token_ids_p50_ms"], 3)
    primitives = onednn_breakdown(path, args.version_dir, args.threads)
    result["onednn_ms"] = round(sum(ms for _, ms in primitives.values()), 3)
    result["outside_onednn_ms"] = round(result["serve_token_ids_p50_ms"] - result["onednn_ms"],
                                        3)
    result["onednn_primitives"] = primitives
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
