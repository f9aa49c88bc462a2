"""Pretraining throughput: bertlab's runner against keras-hub and Hugging Face (PyTorch).

Same model for everyone: 4 layers, hidden 256, 4 heads, intermediate 1024,
vocabulary 30522, sequence 128, batch 32, 20 masked positions per sequence,
MLM (+ NSP where the peer has it). Synthetic token ids: throughput does not
depend on the values. Each configuration runs in its own process (so thread
pools and XLA flags do not leak between them) and prints sequences/s; the
summary prints ratios against the best peer and the achieved FLOP/s (of the
matmul work each one executes: bertlab's last layer runs only at the positions
the pretraining heads read).

    python benchmarks/pretraining_throughput.py [--steps=30] [--repeats=2]
        [--only=bertlab,keras_hub,torch]   (runners, or configuration names such
                                            as "bertlab bf16 xla_fusion")

Not a test: run it on a quiet machine.
"""

import argparse
import os
import tempfile
import time

from child_process import print_ratios, report_result, run_configurations, spawn_child

LAYERS, HIDDEN, HEADS, INTERMEDIATE = 4, 256, 4, 1024
VOCAB, SEQ, BATCH, PREDICTIONS = 30522, 128, 32, 20

# (name, runner, mixed precision, jit)
CONFIGS = [
    ("bertlab fp32", "bertlab", None, False),
    ("bertlab fp32 xla", "bertlab", None, True),
    ("bertlab bf16", "bertlab", "mixed_bfloat16", False),
    ("bertlab bf16 xla", "bertlab", "mixed_bfloat16", True),
    ("bertlab bf16 xla_fusion", "bertlab", "mixed_bfloat16", "fusible"),
    ("keras-hub fp32", "keras_hub", None, False),
    ("keras-hub fp32 xla", "keras_hub", None, True),
    ("keras-hub bf16", "keras_hub", "mixed_bfloat16", False),
    ("keras-hub bf16 xla", "keras_hub", "mixed_bfloat16", True),
    ("torch fp32", "torch", None, False),
    ("torch bf16 autocast", "torch", "bf16", False),
]


def encoder_layer_flops(output_rows=SEQ):
    """Forward matmul FLOPs of one encoder layer for one sequence whose output is
    computed at `output_rows` positions (queries, keys and values projected for
    all `SEQ`)."""
    return (2 * 3 * HIDDEN * HIDDEN * SEQ + 2 * 2 * output_rows * SEQ * HIDDEN
            + 2 * HIDDEN * HIDDEN * output_rows + 2 * 2 * HIDDEN * INTERMEDIATE * output_rows)


def train_flops_per_sequence(last_layer_rows=SEQ):
    """Matmul FLOPs of one training step per sequence (forward x 3). bertlab's
    pretrainer computes its last layer at `1 + PREDICTIONS` rows only ([CLS] and
    the masked positions, all that the heads read); the peers at all `SEQ`."""
    encoder = (LAYERS - 1) * encoder_layer_flops() + encoder_layer_flops(last_layer_rows)
    mlm = PREDICTIONS * 2 * (HIDDEN * HIDDEN + HIDDEN * VOCAB)
    return 3 * (encoder + mlm)


def executed_flops_per_sequence(runner):
    return train_flops_per_sequence(1 + PREDICTIONS if runner == "bertlab" else SEQ)


def synthetic_batch(np):
    rng = np.random.default_rng(0)
    positions = np.sort(np.stack([rng.choice(np.arange(1, SEQ - 1), PREDICTIONS, replace=False)
                                  for _ in range(BATCH)]), axis=1).astype("int32")
    return {
        "token_ids": rng.integers(1000, VOCAB, (BATCH, SEQ)).astype("int32"),
        "segment_ids": np.concatenate([np.zeros((BATCH, SEQ // 2)), np.ones((BATCH, SEQ // 2))],
                                      1).astype("int32"),
        "padding_mask": np.ones((BATCH, SEQ), "int32"),
        "masked_positions": positions,
        "masked_lm_ids": rng.integers(1000, VOCAB, (BATCH, PREDICTIONS)).astype("int32"),
        "masked_lm_weights": np.ones((BATCH, PREDICTIONS), "float32"),
        "next_sentence_labels": rng.integers(0, 2, (BATCH, 1)).astype("int32"),
    }


# ------------------------------------------------------------------------------ peers

def run_bertlab(mixed_precision, jit, steps):
    import numpy as np
    import tensorflow as tf

    from bertlab.pretraining.task import PretrainingTask, PretrainingTaskConfig
    from bertlab.training import OptimizerConfig, Trainer, TrainerConfig

    batch = synthetic_batch(np)
    feature_names = ("token_ids", "segment_ids", "padding_mask", "masked_positions")

    class SyntheticPretraining(PretrainingTask):
        def build_dataset(self, split, input_context=None):
            features = {k: batch[k] for k in feature_names}
            labels = {k: batch[k] for k in batch if k not in feature_names}
            return tf.data.Dataset.from_tensors((features, labels)).repeat()

    task = SyntheticPretraining(PretrainingTaskConfig(
        vocabulary_size=VOCAB, global_batch_size=BATCH,
        encoder={"num_layers": LAYERS, "hidden_dim": HIDDEN, "num_heads": HEADS,
                 "intermediate_dim": INTERMEDIATE, "max_sequence_length": SEQ}))
    warmup = 5
    with tempfile.TemporaryDirectory() as model_dir:
        config = TrainerConfig(train_steps=warmup, global_batch_size=BATCH, steps_per_loop=warmup,
                               checkpoint_interval=0, log_interval=warmup, eval_at_end=False,
                               mixed_precision=mixed_precision, jit_compile=jit is True,
                               xla_fusion=jit == "fusible")
        trainer = Trainer(task, config, OptimizerConfig(learning_rate=1e-4, warmup_steps=1),
                          model_dir)
        trainer.train()  # traces and warms up
        trainer.config.train_steps = warmup + steps
        trainer.config.steps_per_loop = steps
        trainer.config.log_interval = steps
        start = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - start
        trainer.close()
    return steps * BATCH / elapsed


def run_keras_hub(mixed_precision, jit, steps):
    import keras
    import keras_hub
    import numpy as np

    if mixed_precision:
        keras.config.set_dtype_policy(mixed_precision)
    batch = synthetic_batch(np)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB, num_layers=LAYERS, num_heads=HEADS, hidden_dim=HIDDEN,
        intermediate_dim=INTERMEDIATE, max_sequence_length=SEQ)
    model = keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)
    model.compile(optimizer=keras.optimizers.AdamW(1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[], jit_compile=jit)
    x = {"token_ids": batch["token_ids"], "segment_ids": batch["segment_ids"],
         "padding_mask": batch["padding_mask"], "mask_positions": batch["masked_positions"]}
    import tensorflow as tf
    ds = tf.data.Dataset.from_tensors((x, batch["masked_lm_ids"], batch["masked_lm_weights"])).repeat()
    model.fit(ds, steps_per_epoch=5, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * BATCH / (time.perf_counter() - start)


def run_torch(mixed_precision, jit, steps):
    import numpy as np
    import torch
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertModel, BertPreTrainingHeads

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 2)
    config = BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                        num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
                        max_position_embeddings=SEQ)

    class Pretrainer(torch.nn.Module):
        """BertForPreTraining with the MLM head applied only at masked positions."""

        def __init__(self):
            super().__init__()
            self.bert = BertModel(config)
            self.cls = BertPreTrainingHeads(config)
            self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

        def forward(self, ids, segments, mask, positions):
            out = self.bert(input_ids=ids, token_type_ids=segments, attention_mask=mask)
            gathered = torch.gather(out.last_hidden_state, 1,
                                    positions[..., None].expand(-1, -1, HIDDEN))
            return self.cls(gathered, out.pooler_output)

    model = Pretrainer().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    b = {k: torch.tensor(v) for k, v in synthetic_batch(np).items()}
    ids, seg, mask, pos = (b["token_ids"].long(), b["segment_ids"].long(),
                           b["padding_mask"].long(), b["masked_positions"].long())
    labels, nsp = b["masked_lm_ids"].long(), b["next_sentence_labels"].long()[:, 0]

    def step():
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mixed_precision == "bf16"):
            mlm, nsp_logits = model(ids, seg, mask, pos)
            loss = (torch.nn.functional.cross_entropy(mlm.float().reshape(-1, VOCAB), labels.reshape(-1))
                    + torch.nn.functional.cross_entropy(nsp_logits.float(), nsp))
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * BATCH / (time.perf_counter() - start)


RUNNERS = {"bertlab": run_bertlab, "keras_hub": run_keras_hub, "torch": run_torch}


# ------------------------------------------------------------------------- driver

def run_one(name, steps):
    result = spawn_child(__file__, ["--child", name, "--steps", str(steps)])
    if "error" in result:
        print(f"  {name}: failed: {result['error']}")
    return result.get("sequences_per_second")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--only", default="bertlab,keras_hub,torch",
                        help="comma-separated runners or configuration names")
    parser.add_argument("--repeats", type=int, default=2,
                        help="processes per configuration; the best rate counts (keras-hub's "
                             "fit is sometimes half as fast in one process as in the next)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _, runner, mixed_precision, jit = next(c for c in CONFIGS if c[0] == args.child)
        rate = RUNNERS[runner](mixed_precision, jit, args.steps)
        report_result({"sequences_per_second": rate})
        return

    wanted = {name.strip() for name in args.only.split(",")}
    unknown = wanted - set(RUNNERS) - {c[0] for c in CONFIGS}
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}; runners: {sorted(RUNNERS)}, "
                     f"configurations: {[c[0] for c in CONFIGS]}")
    print(f"model: {LAYERS} layers, hidden {HIDDEN}, seq {SEQ}, batch {BATCH}; "
          f"{train_flops_per_sequence() / 1e9:.2f} GFLOP per training sequence "
          f"(bertlab executes {executed_flops_per_sequence('bertlab') / 1e9:.2f}: its last layer "
          f"runs at the {1 + PREDICTIONS} positions the heads read); GFLOP/s below are executed "
          f"matmul work; {args.steps} timed steps")
    results = run_configurations(CONFIGS, wanted, args.repeats,
                                 lambda name: run_one(name, args.steps), "sequences",
                                 executed_flops_per_sequence)
    print_ratios(results, "sequences")


if __name__ == "__main__":
    main()
