"""Compression and CPU runtimes: one fine-tuned SST-2 classifier in fp32, bf16 and int8.

Every row runs the same weights (the Keras model `model.keras` of one sentiment
export version), on the same sentences, with the same number of intra-op
threads, each in a fresh process:
- `bertlab_fp32`, `bertlab_bf16`: the portable SavedModel that stock TF Serving
  runs (`serving_default`: strings in, the in-graph tokenizer inside), exported
  from `model.keras` under float32 / bfloat16;
- `litert_fp32`, `litert_dynamic`, `litert_int8`: `bertlab.export.litert_export`'s
  LiteRT conversions of `model.keras` (float, dynamic-range int8 weights, full
  integer calibrated on 200 SST-2 training sentences) run by
  `bertlab.export.litert_model.LiteRTModel` (XNNPACK); the files take token
  ids, so bertlab's `BertPreprocessor` (a traced `tf.function`, in the same
  process) tokenizes inside the timing; skipped while that module is missing;
- `ort_fp32`, `ort_int8`: ONNX Runtime on the same weights in PyTorch
  (transformers' `BertModel` + the classifier's pooling + a `Linear` head),
  exported with `torch.onnx.export` (dynamic batch and sequence axes), the int8
  one quantized with `onnxruntime.quantization.quantize_dynamic` (QInt8
  weights); the Hugging Face fast tokenizer inside the timing;
- `torch_fp32`, `torch_int8`: that PyTorch module, and
  `torch.ao.quantization.quantize_dynamic` of its `nn.Linear`s; fast tokenizer.

"Same weights" is checked, not assumed: the PyTorch module's logits are
compared with the Keras model's (float32) on the same token ids, the fast
tokenizer's ids with bertlab's on all 872 sentences, ONNX Runtime fp32 with
PyTorch; the numbers are printed (the fp32 logits must agree within 1e-3).

Per row: batch-1 latency (p50/p90) of one 12-word sentence, batch-64
throughput over the 872 SST-2 validation sentences (each batch padded to its
longest sentence), the model's size on disk, and its SST-2 validation
accuracy (all 872). The table gives ratios against ONNX Runtime int8 and fp32.

    python benchmarks/compression_speed.py --model_dir=saved_models/sentiment/N
        [--threads=2] [--iterations=200] [--passes=3] [--only=ort_int8,bertlab_bf16,...]
        [--json_out=compression.json]

`--model_dir` is a version of the sentiment app's export holding `model.keras`;
without it an untrained all-MiniLM-L6-v2 classifier (mean pooling) is exported
as a version first (speed and sizes only: its accuracy is chance). Needs
`pip install -e .[benchmarks]` plus torch and transformers (see setup.py).
Not a test: run it on a quiet machine.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

from child_process import spawn_child
from inference_harness import (REPO_ROOT, SENTENCE, SEQUENCE_LENGTH, add_timing_arguments,
                               measure, minilm_dir, module_available, run_saved_model, selected,
                               sst2_examples)

ROWS = ("bertlab_fp32", "bertlab_bf16", "litert_fp32", "litert_dynamic", "litert_int8",
        "ort_fp32", "ort_int8", "torch_fp32", "torch_int8")
INPUTS = {"bertlab": "strings (in-graph tokenizer)",
          "litert": "token ids (bertlab tokenizer timed)",
          "ort": "token ids (HF fast tokenizer timed)",
          "torch": "token ids (HF fast tokenizer timed)"}
LITERT_QUANTIZE = {"litert_fp32": "none", "litert_dynamic": "dynamic", "litert_int8": "int8"}
LITERT_MODULES = ("bertlab.export.litert_export", "bertlab.export.litert_model")
PARITY_SENTENCES = 16  # the first dev sentences whose logits are compared (plus SENTENCE)
PARITY_TOLERANCE = 1e-3


def directory_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names)


# ------------------------------------------------------------ the model (TensorFlow side)

def _bertlab_imports():
    sys.path.insert(0, REPO_ROOT)
    import bertlab.models  # noqa: F401  (registers the Keras classes model.keras names)


def version_facts(version_dir):
    """What the version's metadata says about its inputs and classes, and its vocabulary."""
    with open(os.path.join(version_dir, "assets.extra", "bertlab_export.json"),
              encoding="utf-8") as f:
        metadata = json.load(f)
    vocabulary = os.path.join(version_dir, "vocab.txt")  # beside model.keras
    if not os.path.isfile(vocabulary):
        raise FileNotFoundError(f"{version_dir} has no vocab.txt (the tokenizer's vocabulary, "
                                "written beside model.keras)")
    return {"vocabulary": vocabulary, "lowercase": bool(metadata.get("lowercase", True)),
            "sequence_length": int(metadata.get("sequence_length", SEQUENCE_LENGTH)),
            "class_names": metadata.get("class_names", ["negative", "positive"]),
            "label_values": metadata.get("label_values", ["0", "1"])}


def version_preprocessor(version_dir):
    """The version's `BertPreprocessor` (its vocabulary, casing and length; each batch
    padded to its longest row, as the export does)."""
    _bertlab_imports()
    from bertlab.text import BertPreprocessor

    facts = version_facts(version_dir)
    return BertPreprocessor.from_vocabulary(
        facts["vocabulary"], facts["lowercase"], facts["sequence_length"], pad_to_longest=True)


def load_classifier(version_dir):
    """`(model.keras under float32, its BertPreprocessor)` of a version."""
    _bertlab_imports()
    from bertlab.export.keras_model_file import load_exported_keras_model
    from bertlab.models.dtype_policy_copy import copy_with_dtype_policy

    model = copy_with_dtype_policy(load_exported_keras_model(version_dir), "float32")
    return model, version_preprocessor(version_dir)


def export_dev_version(base_dir):
    """An untrained all-MiniLM-L6-v2 classifier (mean pooling, trained-like
    `mixed_bfloat16` policy) published as a sentiment version, with `model.keras` and
    `vocab.txt` as the app writes them."""
    import keras

    _bertlab_imports()
    from bertlab.export import export_text_classifier
    from bertlab.export.keras_model_file import save_exported_keras_model
    from bertlab.export.publish import publish
    from bertlab.models.bert_classifier import BertClassifier
    from bertlab.models.bert_encoder import BertEncoder
    from bertlab.text import BertPreprocessor

    keras.config.set_dtype_policy("mixed_bfloat16")
    model = BertClassifier(BertEncoder.from_pretrained(minilm_dir()), num_classes=2,
                           pooling="mean")
    preprocessor = BertPreprocessor.from_pretrained(minilm_dir(), SEQUENCE_LENGTH,
                                                    pad_to_longest=True)
    class_names = ["negative", "positive"]

    def write(directory):
        policies = export_text_classifier(model, preprocessor, class_names, directory)
        save_exported_keras_model(model, directory, preprocessor.tokenizer.vocabulary)
        return {"task": "text_classification", "sequence_length": SEQUENCE_LENGTH,
                "lowercase": True, "class_names": class_names, "label_values": ["0", "1"],
                "dtype_policies": policies, "note": "untrained: benchmark development only"}

    return publish(base_dir, write)["path"]


def export_bertlab(version_dir, policy, path):
    """The string-in SavedModel of the version's `model.keras`, computing under `policy`."""
    _bertlab_imports()
    from bertlab.export import export_text_classifier

    model, preprocessor = load_classifier(version_dir)
    facts = version_facts(version_dir)
    export_text_classifier(model, preprocessor, facts["class_names"], path,
                           dtype_policy=policy)
    return {"policies": policy}


def export_reference(version_dir, path, data_dir):
    """Writes what the PyTorch side needs into `path`: the encoder in the Hugging Face
    layout (with the vocabulary), `head.npz` (pooling, head kernel and bias) and
    `reference.json` (bertlab's token ids of SENTENCE and the dev sentences, and the
    float32 Keras logits of the parity sentences)."""
    import tensorflow as tf

    _bertlab_imports()
    from bertlab.models.bert_checkpoint import write_bert_checkpoint

    model, preprocessor = load_classifier(version_dir)
    encoder = model.encoder
    if encoder.normalize_first or encoder.position_type != "learned":
        raise ValueError("transformers' BertModel is post-norm with learned positions; this "
                         f"encoder has normalize_first={encoder.normalize_first}, "
                         f"position_type={encoder.position_type!r}")
    facts = version_facts(version_dir)
    os.makedirs(path, exist_ok=True)
    write_bert_checkpoint(encoder, path, vocabulary=facts["vocabulary"],
                          lowercase=facts["lowercase"])
    np.savez(os.path.join(path, "head.npz"), kernel=model.classifier.kernel.numpy(),
             bias=model.classifier.bias.numpy(), pooling=model.pooling)

    sentences = [SENTENCE] + sst2_examples(data_dir)[0]
    ids = []
    for start in range(0, len(sentences), 128):
        features = preprocessor(tf.constant(sentences[start:start + 128]))
        for row, mask in zip(features["token_ids"].numpy(), features["padding_mask"].numpy()):
            ids.append(row[mask.astype(bool)].tolist())
    parity = preprocessor(tf.constant(sentences[:PARITY_SENTENCES + 1]))
    logits = model(parity, training=False)
    with open(os.path.join(path, "reference.json"), "w", encoding="utf-8") as f:
        json.dump({"token_ids": ids, "parity_sentences": sentences[:PARITY_SENTENCES + 1],
                   "keras_logits": np.asarray(logits, np.float64).tolist()}, f)
    return {}


# ------------------------------------------------------------ the model (PyTorch side)

def torch_classifier(reference_dir):
    """transformers' `BertModel` with the exported encoder weights, the Keras classifier's
    pooling and its head as an `nn.Linear`: logits `[batch, classes]` of
    `(input_ids, token_type_ids, attention_mask)`."""
    import torch
    from transformers import BertModel

    head = np.load(os.path.join(reference_dir, "head.npz"))
    pooling = str(head["pooling"])

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = BertModel.from_pretrained(reference_dir, attn_implementation="eager",
                                                  add_pooling_layer=pooling == "pooled")
            kernel = torch.from_numpy(np.asarray(head["kernel"], np.float32))
            self.classifier = torch.nn.Linear(kernel.shape[0], kernel.shape[1])
            with torch.no_grad():
                self.classifier.weight.copy_(kernel.T)
                self.classifier.bias.copy_(torch.from_numpy(np.asarray(head["bias"],
                                                                       np.float32)))

        def forward(self, input_ids, token_type_ids, attention_mask):
            outputs = self.bert(input_ids=input_ids, token_type_ids=token_type_ids,
                                attention_mask=attention_mask)
            if pooling == "pooled":
                x = outputs.pooler_output
            elif pooling == "cls":
                x = outputs.last_hidden_state[:, 0]
            else:  # "mean" over real tokens, as BertClassifier: sum / max(count, 1)
                mask = attention_mask.to(outputs.last_hidden_state.dtype)[:, :, None]
                total = (outputs.last_hidden_state * mask).sum(dim=1)
                x = total / mask.sum(dim=1).clamp(min=1.0)
            return self.classifier(x)

    return Classifier().eval()


def fast_tokenizer(reference_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(reference_dir, use_fast=True)

    def tokenize(texts):
        return tokenizer(texts, padding=True, truncation=True, max_length=SEQUENCE_LENGTH,
                         return_tensors="np")

    return tokenize


def padded(rows):
    """int64 `(input_ids, token_type_ids, attention_mask)` of token id lists, padded with 0."""
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), np.int64)
    mask = np.zeros((len(rows), width), np.int64)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    return ids, np.zeros_like(ids), mask


def export_onnx(reference_dir, path, data_dir):
    """Checks the PyTorch module against the Keras logits and the fast tokenizer against
    bertlab's ids; writes `model.onnx` (fp32) and `model.int8.onnx` (dynamic int8)."""
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with open(os.path.join(reference_dir, "reference.json"), encoding="utf-8") as f:
        reference = json.load(f)
    model = torch_classifier(reference_dir)
    count = len(reference["parity_sentences"])
    inputs = padded(reference["token_ids"][:count])
    with torch.inference_mode():
        torch_logits = model(*map(torch.from_numpy, inputs)).numpy()
    keras_diff = float(np.abs(torch_logits - np.asarray(reference["keras_logits"])).max())

    tokenize = fast_tokenizer(reference_dir)
    all_texts = reference["parity_sentences"][:1] + sst2_examples(data_dir)[0]
    fast_ids = [list(row[row != 0]) for row in tokenize(all_texts)["input_ids"]]
    tokenizer_mismatches = sum(a != b for a, b in zip(fast_ids, reference["token_ids"]))

    fp32_path = os.path.join(path, "model.onnx")
    int8_path = os.path.join(path, "model.int8.onnx")
    names = ["input_ids", "token_type_ids", "attention_mask"]
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    torch.onnx.export(model, tuple(map(torch.from_numpy, inputs)), fp32_path,
                      input_names=names, output_names=["logits"],
                      dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=17,
                      dynamo=False)
    quantize_dynamic(fp32_path, int8_path, weight_type=QuantType.QInt8)
    session = onnxruntime.InferenceSession(fp32_path, providers=["CPUExecutionProvider"])
    ort_logits = session.run(None, dict(zip(names, inputs)))[0]
    return {"max_abs_logit_diff_torch_vs_keras_fp32": keras_diff,
            "max_abs_logit_diff_ort_fp32_vs_torch": float(np.abs(ort_logits - torch_logits).max()),
            "parity_sentences": count,
            "fast_tokenizer_id_mismatches": f"{tokenizer_mismatches} of {len(all_texts)}"}


# ------------------------------------------------------------------------- the runtimes

def ort_session(path, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def run_onnx(path, reference_dir, sentences, iterations, passes, threads):
    session = ort_session(path, threads)
    tokenize = fast_tokenizer(reference_dir)

    def call(texts):
        inputs = tokenize(texts)
        return session.run(None, {"input_ids": inputs["input_ids"],
                                  "token_type_ids": inputs["token_type_ids"],
                                  "attention_mask": inputs["attention_mask"]})[0]

    result = measure(call, sentences, iterations, passes)
    result["bytes"] = os.path.getsize(path)
    return result


def run_torch(variant, reference_dir, sentences, iterations, passes, threads):
    import io

    import torch

    torch.set_num_threads(threads)
    model = torch_classifier(reference_dir)
    if variant == "int8":
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                       dtype=torch.qint8)
    tokenize = fast_tokenizer(reference_dir)

    def call(texts):
        with torch.inference_mode():
            inputs = tokenize(texts)
            return model(*(torch.from_numpy(inputs[name]) for name in
                           ("input_ids", "token_type_ids", "attention_mask"))).numpy()

    result = measure(call, sentences, iterations, passes)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    result["bytes"] = buffer.getbuffer().nbytes
    return result


def export_litert(version_dir, quantize, path, data_dir):
    """`bertlab.export.litert_export.convert` of the version (from its `model.keras`, float32
    weights), written to `path` (the version directory is left as it is); "int8" is
    calibrated on 200 SST-2 training sentences, as `apps.export_litert` does."""
    _bertlab_imports()
    from bertlab.export import litert_export

    calibration = None
    if quantize == "int8":
        texts = litert_export.read_texts_file(os.path.join(data_dir, "sst2", "train.tsv"))
        calibration = litert_export.representative_inputs(version_dir, texts)
    flatbuffer, source = litert_export.convert(version_dir, quantize, calibration)
    with open(path, "wb") as f:
        f.write(flatbuffer)
    return {"source": source}


def run_litert(path, version_dir, sentences, iterations, passes, threads):
    import tensorflow as tf

    _bertlab_imports()
    from bertlab.export.litert_model import LiteRTModel

    tf.config.threading.set_intra_op_parallelism_threads(threads)  # the tokenizer's
    preprocessor = version_preprocessor(version_dir)
    # Traced once, as a client would (eager, the same ops take ~17 ms a sentence).
    tokenize = tf.function(preprocessor, input_signature=[tf.TensorSpec([None], tf.string)])
    model = LiteRTModel(path, num_threads=threads)

    def call(texts):
        features = tokenize(tf.constant(texts))
        return model.run({k: v.numpy() for k, v in features.items()})["logits"]

    result = measure(call, sentences, iterations, passes)
    result["bytes"] = os.path.getsize(path)
    return result


# ------------------------------------------------------------------------------ driver


def child(args):
    sentences = sst2_examples(args.data_dir)[0]
    timing = (sentences, args.iterations, args.passes, args.threads)
    if args.child == "export_dev":
        return {"path": export_dev_version(args.path)}
    if args.child.startswith("export_bertlab_"):
        return export_bertlab(args.model_dir, args.child[len("export_bertlab_"):], args.path)
    if args.child == "export_reference":
        return export_reference(args.model_dir, args.path, args.data_dir)
    if args.child == "export_onnx":
        return export_onnx(args.reference_dir, args.path, args.data_dir)
    if args.child.startswith("export_litert_"):
        return export_litert(args.model_dir, args.child[len("export_litert_"):], args.path,
                             args.data_dir)
    if args.child == "saved_model":
        result = run_saved_model(args.path, *timing)
        result["bytes"] = directory_bytes(args.path)
        return result
    if args.child == "onnx":
        return run_onnx(args.path, args.reference_dir, *timing)
    if args.child.startswith("torch_"):
        return run_torch(args.child[len("torch_"):], args.reference_dir, *timing)
    if args.child == "litert":
        return run_litert(args.path, args.model_dir, *timing)
    raise ValueError(f"unknown child {args.child!r}")


class Runner:
    """Spawns the children with the shared flags and reports each step."""

    def __init__(self, args):
        self.args = args

    def __call__(self, what, **paths):
        a = self.args
        arguments = [f"--child={what}", f"--data_dir={a.data_dir}",
                     f"--iterations={a.iterations}", f"--passes={a.passes}",
                     f"--threads={a.threads}"]
        arguments += [f"--{key}={value}" for key, value in paths.items() if value]
        started = time.perf_counter()
        result = spawn_child(__file__, arguments)
        shown = {k: v for k, v in result.items() if k != "predictions"}
        print(f"  {what}: {json.dumps(shown)} ({time.perf_counter() - started:.0f} s)",
              flush=True)
        return result


def accuracy(result, labels, label_values):
    predictions = result.pop("predictions", None)
    if predictions is None:
        return
    correct = sum(label_values[p] == label for p, label in zip(predictions, labels))
    result["accuracy"] = correct / len(labels)


def run_all(args, wanted, work):
    run = Runner(args)
    results, exports = {}, {}
    version_dir = args.model_dir
    if not version_dir:
        print("no --model_dir: exporting an untrained MiniLM classifier (speed only)")
        version_dir = run("export_dev", path=os.path.join(work, "dev", "sentiment")).get("path")
        if not version_dir:
            raise SystemExit("the development export failed")
    version_dir = os.path.abspath(version_dir)
    with open(os.path.join(version_dir, "assets.extra", "bertlab_export.json"),
              encoding="utf-8") as f:
        label_values = json.load(f).get("label_values", ["0", "1"])
    labels = sst2_examples(args.data_dir)[1]

    def saved_model(policy):
        path = os.path.join(work, f"bertlab_{policy}")
        if path not in exports:
            exports[path] = run(f"export_bertlab_{policy}", model_dir=version_dir, path=path)
        return path, exports[path]

    reference_dir = os.path.join(work, "reference")
    onnx_dir = os.path.join(work, "onnx")
    needs_torch = [r for r in wanted if r.startswith(("ort_", "torch_"))]
    if needs_torch:
        if not module_available("torch", "transformers", "onnxruntime", "onnx"):
            for row in needs_torch:
                results[row] = {"skipped": "torch, transformers, onnx or onnxruntime missing"}
        else:
            exported = run("export_reference", model_dir=version_dir, path=reference_dir)
            if "error" not in exported:
                os.makedirs(onnx_dir, exist_ok=True)
                exported = run("export_onnx", reference_dir=reference_dir, path=onnx_dir)
                results["parity"] = exported
                diff = exported.get("max_abs_logit_diff_torch_vs_keras_fp32")
                if diff is not None and diff >= PARITY_TOLERANCE:
                    exported = {"error": f"torch vs Keras fp32 logits differ by {diff:.2e}: "
                                         "not the same model"}
            if "error" in exported:
                for row in needs_torch:
                    results[row] = exported

    # (bertlab as the children import it: this checkout's, REPO_ROOT first on their path)
    litert = all(os.path.isfile(os.path.join(REPO_ROOT, *module.split(".")) + ".py")
                 for module in LITERT_MODULES)
    for row in wanted:
        if row in results:
            continue
        print(f"{row}:", flush=True)
        if row.startswith("bertlab_"):
            path, exported = saved_model({"bertlab_fp32": "float32",
                                          "bertlab_bf16": "bfloat16"}[row])
            results[row] = exported if "error" in exported else run("saved_model", path=path)
        elif row.startswith("litert_"):
            if not litert:
                results[row] = {"skipped": "bertlab.export.litert_export is not in "
                                           "this checkout"}
                continue
            path = os.path.join(work, f"{row}.tflite")
            exported = run(f"export_litert_{LITERT_QUANTIZE[row]}", model_dir=version_dir,
                           path=path)
            results[row] = exported if "error" in exported else run(
                "litert", path=path, model_dir=version_dir)
        elif row.startswith("ort_"):
            path = os.path.join(onnx_dir, "model.onnx" if row == "ort_fp32" else
                                "model.int8.onnx")
            results[row] = run("onnx", path=path, reference_dir=reference_dir)
        else:
            results[row] = run(row, reference_dir=reference_dir)
        accuracy(results[row], labels, label_values)
    return results


def ratio(row, peer):
    if not (row and peer and "p50_ms" in row and "p50_ms" in peer):
        return "", ""
    return (f"x{peer['p50_ms'] / row['p50_ms']:.2f}",
            f"x{row['batch64_sentences_per_s'] / peer['batch64_sentences_per_s']:.2f}")


def table(results):
    """The markdown table; the ratios are speed-ups (> 1: the row is faster than the peer)."""
    lines = ["| row | inputs | p50 ms | p90 ms | batch-64 sent/s | size MB | SST-2 acc | "
             "p50 speed-up vs ORT int8 | b64 vs ORT int8 | p50 vs ORT fp32 | b64 vs ORT fp32 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ROWS:
        r = results.get(name)
        if r is None:
            continue
        inputs = INPUTS[name.split("_")[0]]
        if "p50_ms" not in r:
            reason = r.get("skipped") or r.get("error")
            lines.append(f"| {name} | {inputs} | {reason} | | | | | | | | |")
            continue
        cells = [*ratio(r, results.get("ort_int8")), *ratio(r, results.get("ort_fp32"))]
        lines.append(f"| {name} | {inputs} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
                     f"{r['batch64_sentences_per_s']:.0f} | {r['bytes'] / 1e6:.1f} | "
                     f"{r['accuracy']:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", help="a sentiment export version holding model.keras "
                        "(default: an untrained MiniLM classifier, for development)")
    add_timing_arguments(parser, 2,
                         "intra-op threads of every runtime (TensorFlow's intra-op pool, "
                         "ONNX Runtime's intra_op_num_threads, PyTorch's set_num_threads, "
                         "the LiteRT interpreter's num_threads)")
    parser.add_argument("--only", default=",".join(ROWS), help="rows, comma-separated")
    parser.add_argument("--json_out", help="also write the results as JSON to this file")
    parser.add_argument("--work_dir", help="keep the exports here (default: a temporary "
                        "directory, removed at the end)")
    parser.add_argument("--reference_dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    wanted = selected(parser, args.only, ROWS)
    print(f"intra-op threads per runtime: {args.threads}", flush=True)
    if args.work_dir:
        os.makedirs(args.work_dir, exist_ok=True)
        results = run_all(args, wanted, os.path.abspath(args.work_dir))
    else:
        with tempfile.TemporaryDirectory() as work:
            results = run_all(args, wanted, work)

    print("\n" + table(results))
    if "parity" in results:
        print(f"\nsame weights: {json.dumps(results['parity'])}")
    print("\nsize: the SavedModel directory (graph, weights, vocabulary), the .onnx or .tflite "
          "file, PyTorch's serialized state_dict")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump({"threads": args.threads, "iterations": args.iterations,
                       "passes": args.passes, "model_dir": args.model_dir,
                       "results": results}, f, indent=2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
