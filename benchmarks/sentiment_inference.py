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
import sys
import tempfile
import time

from child_process import spawn_child
from inference_harness import (REPO_ROOT, SENTENCE, SEQUENCE_LENGTH, add_timing_arguments,
                               measure, minilm_dir, module_available, run_saved_model, selected,
                               sst2_sentences)

PEERS = ("bertlab_bf16", "bertlab_fp32", "keras_hub", "torch")


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
        result = run_saved_model(args.path, sentences, args.iterations, args.passes,
                                 args.threads)
    elif args.child == "torch":
        result = run_torch(sentences, args.iterations, args.passes, args.threads)
    else:
        raise ValueError(f"unknown child {args.child!r}")
    result.pop("predictions")
    return result


def spawn(args, what, path=None):
    arguments = [f"--child={what}", f"--data_dir={args.data_dir}",
                 f"--iterations={args.iterations}", f"--passes={args.passes}",
                 f"--threads={args.threads}"]
    if path:
        arguments.append(f"--path={path}")
    return spawn_child(__file__, arguments)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", help="an exported sentiment version (bertlab_bf16 row)")
    parser.add_argument("--only", default=",".join(PEERS))
    add_timing_arguments(parser, os.cpu_count(),
                         "intra-op threads of every peer (TensorFlow's intra-op pool, "
                         "PyTorch's OpenMP pool); 1 is the usual latency-serving setting "
                         "(TF Serving: --tensorflow_intra_op_parallelism=1), requests then "
                         "run side by side on the other cores")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    wanted = selected(parser, args.only, PEERS)
    print(f"intra-op threads per peer: {args.threads}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for peer in wanted:
            started = time.perf_counter()
            if peer == "torch":
                results[peer] = (spawn(args, "torch") if module_available("torch", "transformers")
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
