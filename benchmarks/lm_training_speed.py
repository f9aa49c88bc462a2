"""Language-model training speed: bertlab's runner against keras-hub and Hugging Face (PyTorch).

Same model for everyone: a GPT-2-layout causal LM (pre-norm blocks, learned
positions, approximate GELU, output projection tied to the token embedding,
dropout 0.1 on the embeddings, the residual branches and the attention
probabilities) of the sizes of `--preset` (`LANGUAGE_MODEL_PRESETS`; default
"mini": 4 layers, 256 wide, 4 heads, feed-forward 1024), vocabulary 8000,
position table = `--sequence` (256), batch `--batch` (16), next-token
cross-entropy over all `batch x sequence` positions, AdamW (no gradient
clipping: none of the peers clips by default). Synthetic token ids, one batch
repeated: throughput does not depend on the values.

- `bertlab`: `TransformerLanguageModel` trained by the one runner
  (`bertlab.training.Trainer`, the training step every app uses) through a
  small `Task` whose loss is `language_model_loss_sum`; no metrics.
- `keras_hub`: keras-hub's `GPT2Backbone` + `GPT2CausalLM` (built from the
  config, random initialisation, no preset), `fit` with
  `SparseCategoricalCrossentropy(from_logits=True)` and no metrics.
- `torch`: Hugging Face's `GPT2LMHeadModel` (`GPT2Config`, random
  initialisation, its default attention implementation), a plain loop with
  `torch.optim.AdamW`, float32 or under `torch.autocast("cpu", bfloat16)`;
  "compile": the forward pass and the loss through `torch.compile` (Inductor
  fuses the element-wise work, as bertlab's `xla_fusion` does; compiled
  during the warm-up steps).

Each configuration runs in its own process (thread pools and XLA flags do not
leak between them), with 2 threads (`--threads`: TensorFlow's intra- and
inter-op pools, `torch.set_num_threads`, OMP_NUM_THREADS), `--warmup` steps
(tracing, compilation, first-touch) excluded from the timing, then `--steps`
timed steps; tokens/s = steps x batch x sequence / seconds. For bertlab the
seconds are those of the runner's whole `train()` call (its final checkpoint
included), for keras-hub those of the whole `fit` call. The best of
`--repeats` processes counts; the summary prints the ratio of bertlab's best
configuration to the best peer configuration, and the CPU.

    python benchmarks/lm_training_speed.py [--preset=mini] [--batch=16]
        [--sequence=256] [--steps=20] [--warmup=3] [--repeats=2]
        [--only=bertlab,keras_hub,torch]   (runners, or configuration names such
                                            as "bertlab bf16 xla_fusion")

Not a test: run it on a quiet machine.
"""

import argparse
import os
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from benchmarks.child_process import (print_ratios, report_result,  # noqa: E402
                                      run_configurations, spawn_child)

# Copied from bertlab.models.transformer_language_model (importing it would
# start TensorFlow in the driver and in the PyTorch children).
PRESETS = {
    "tiny": dict(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=512),
    "mini": dict(num_layers=4, hidden_dim=256, num_heads=4, intermediate_dim=1024),
    "small": dict(num_layers=6, hidden_dim=512, num_heads=8, intermediate_dim=2048),
}
DROPOUT = 0.1
LEARNING_RATE = 1e-4
WEIGHT_DECAY = 0.01

# (name, runner, mixed precision, jit: False, True (whole step) or "fusible")
CONFIGS = [
    ("bertlab bf16 xla_fusion", "bertlab", "mixed_bfloat16", "fusible"),
    ("bertlab bf16", "bertlab", "mixed_bfloat16", False),
    ("bertlab fp32", "bertlab", None, False),
    ("keras-hub fp32", "keras_hub", None, False),
    ("keras-hub fp32 xla", "keras_hub", None, True),
    ("keras-hub bf16", "keras_hub", "mixed_bfloat16", False),
    ("keras-hub bf16 xla", "keras_hub", "mixed_bfloat16", True),
    ("torch fp32", "torch", None, False),
    ("torch bf16 autocast", "torch", "bf16", False),
    ("torch bf16 autocast compile", "torch", "bf16", True),
]


def cpu_model():
    """The CPU's model name, its core count and its bfloat16 instructions."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    bf16 = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return f"{name}, {os.cpu_count()} logical cores, {' '.join(bf16) or 'no bf16 instructions'}"


def train_flops_per_token(size, vocabulary, sequence):
    """Matmul FLOPs of one training step per token (forward x 3): the blocks'
    projections, the attention scores and context (all keys, no causal
    skipping: every runner computes the full square), the output projection."""
    d, f, layers = size["hidden_dim"], size["intermediate_dim"], size["num_layers"]
    block = 2 * (4 * d * d + 2 * d * f) + 2 * 2 * sequence * d
    return 3 * (layers * block + 2 * d * vocabulary)


def synthetic_tokens(np, args):
    """int32 `[batch, sequence + 1]`: inputs are the first `sequence`, labels the last."""
    rng = np.random.default_rng(0)
    return rng.integers(1, args.vocabulary, (args.batch, args.sequence + 1)).astype("int32")


def pin_tensorflow_threads(threads):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


# ------------------------------------------------------------------------------ peers

def run_bertlab(mixed_precision, jit, args):
    if jit == "fusible":  # before TensorFlow sets up its devices
        from bertlab.layers import xla_fusion

        xla_fusion.enable_elementwise_fusion()
    import numpy as np
    import tensorflow as tf

    from bertlab.models.language_model_metrics import language_model_loss_sum
    from bertlab.models.transformer_language_model import TransformerLanguageModel
    from bertlab.training import OptimizerConfig, Trainer, TrainerConfig
    from bertlab.training.task import Task

    pin_tensorflow_threads(args.threads)
    tokens = synthetic_tokens(np, args)

    class SyntheticLanguageModelTask(Task):
        """Next-token prediction on one repeated batch of packed sequences."""

        global_batch_size = args.batch

        def build_model(self):
            return TransformerLanguageModel.from_preset(
                args.preset, vocabulary_size=args.vocabulary, max_sequence_length=args.sequence,
                dropout=DROPOUT)

        def build_dataset(self, split, input_context=None):
            features = {"token_ids": tokens[:, :-1], "padding_mask": np.ones_like(tokens[:, 1:])}
            return tf.data.Dataset.from_tensors((features, tokens[:, 1:])).repeat()

        def compute_loss(self, labels, outputs):
            return language_model_loss_sum(labels, outputs)

    warmup, steps = args.warmup, args.steps
    with tempfile.TemporaryDirectory() as model_dir:
        config = TrainerConfig(train_steps=warmup, global_batch_size=args.batch,
                               steps_per_loop=warmup, checkpoint_interval=0, log_interval=warmup,
                               eval_at_end=False, mixed_precision=mixed_precision,
                               jit_compile=jit is True, xla_fusion=jit == "fusible")
        trainer = Trainer(SyntheticLanguageModelTask(), config,
                          OptimizerConfig(learning_rate=LEARNING_RATE, warmup_steps=1,
                                          weight_decay=WEIGHT_DECAY, clipnorm=None),
                          model_dir)
        trainer.train()  # traces and warms up
        trainer.config.train_steps = warmup + steps
        trainer.config.steps_per_loop = steps
        trainer.config.log_interval = steps
        start = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - start
        trainer.close()
    return elapsed


def run_keras_hub(mixed_precision, jit, args):
    import keras
    import keras_hub
    import numpy as np
    import tensorflow as tf

    pin_tensorflow_threads(args.threads)
    keras.utils.set_random_seed(0)
    if mixed_precision:
        keras.config.set_dtype_policy(mixed_precision)
    size = PRESETS[args.preset]
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=args.vocabulary, max_sequence_length=args.sequence, dropout=DROPOUT,
        **size)
    model = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    model.compile(optimizer=keras.optimizers.AdamW(LEARNING_RATE, weight_decay=WEIGHT_DECAY),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[], jit_compile=jit)
    tokens = synthetic_tokens(np, args)
    x = {"token_ids": tokens[:, :-1], "padding_mask": np.ones_like(tokens[:, 1:])}
    dataset = tf.data.Dataset.from_tensors((x, tokens[:, 1:])).repeat()
    model.fit(dataset, steps_per_epoch=args.warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=0)
    return time.perf_counter() - start


def run_torch(mixed_precision, jit, args):
    import numpy as np
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    size = PRESETS[args.preset]
    config = GPT2Config(
        vocab_size=args.vocabulary, n_positions=args.sequence, n_embd=size["hidden_dim"],
        n_layer=size["num_layers"], n_head=size["num_heads"], n_inner=size["intermediate_dim"],
        resid_pdrop=DROPOUT, embd_pdrop=DROPOUT, attn_pdrop=DROPOUT, bos_token_id=0,
        eos_token_id=0)
    model = GPT2LMHeadModel(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    tokens = torch.from_numpy(synthetic_tokens(np, args)).long()
    inputs, labels = tokens[:, :-1], tokens[:, 1:]

    def forward_loss(inputs, labels):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mixed_precision == "bf16"):
            logits = model(input_ids=inputs).logits
        return torch.nn.functional.cross_entropy(logits.float().reshape(-1, args.vocabulary),
                                                 labels.reshape(-1))

    if jit:
        forward_loss = torch.compile(forward_loss)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = forward_loss(inputs, labels)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    return time.perf_counter() - start


RUNNERS = {"bertlab": run_bertlab, "keras_hub": run_keras_hub, "torch": run_torch}


# ------------------------------------------------------------------------- driver

def run_one(name, args):
    result = spawn_child(__file__, [
        "--child", name, "--preset", args.preset, "--batch", str(args.batch),
        "--sequence", str(args.sequence), "--vocabulary", str(args.vocabulary),
        "--steps", str(args.steps), "--warmup", str(args.warmup),
        "--threads", str(args.threads)], env={"OMP_NUM_THREADS": str(args.threads)})
    if "error" in result:
        print(f"  {name}: failed: {result['error']}")
    return result.get("tokens_per_second")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mini", choices=sorted(PRESETS),
                        help="model size (bertlab's LANGUAGE_MODEL_PRESETS)")
    parser.add_argument("--batch", type=int, default=16, help="sequences per step")
    parser.add_argument("--sequence", type=int, default=256,
                        help="tokens per sequence (also the position table's length)")
    parser.add_argument("--vocabulary", type=int, default=8000)
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before the timed ones")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads of every peer (TensorFlow intra- and inter-op, PyTorch)")
    parser.add_argument("--only", default="bertlab,keras_hub,torch",
                        help="comma-separated runners or configuration names")
    parser.add_argument("--repeats", type=int, default=2,
                        help="processes per configuration; the best rate counts")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("batch", "sequence", "vocabulary", "steps", "warmup", "threads", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be positive, got {getattr(args, name)}")
    if args.child:
        _, runner, mixed_precision, jit = next(c for c in CONFIGS if c[0] == args.child)
        seconds = RUNNERS[runner](mixed_precision, jit, args)
        rate = args.steps * args.batch * args.sequence / seconds
        report_result({"tokens_per_second": rate})
        return

    wanted = {name.strip() for name in args.only.split(",")}
    unknown = wanted - set(RUNNERS) - {c[0] for c in CONFIGS}
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}; runners: {sorted(RUNNERS)}, "
                     f"configurations: {[c[0] for c in CONFIGS]}")
    size = PRESETS[args.preset]
    flops = train_flops_per_token(size, args.vocabulary, args.sequence)
    print(f"machine: {cpu_model()}; {args.threads} threads per run")
    print(f"model: {args.preset} ({size['num_layers']} layers, {size['hidden_dim']} wide, "
          f"{size['num_heads']} heads, feed-forward {size['intermediate_dim']}), vocabulary "
          f"{args.vocabulary}, sequence {args.sequence}, batch {args.batch} "
          f"({args.batch * args.sequence} tokens/step), dropout {DROPOUT}, AdamW; "
          f"{flops / 1e6:.1f} MFLOP per training token; {args.warmup} warm-up + "
          f"{args.steps} timed steps", flush=True)
    results = run_configurations(CONFIGS, wanted, args.repeats, lambda name: run_one(name, args),
                                 "tokens", lambda runner: flops, digits=0)
    print_ratios(results, "tokens", digits=0)

if __name__ == "__main__":
    main()
