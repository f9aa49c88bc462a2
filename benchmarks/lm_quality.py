"""Language-model quality for the same wall-clock budget: bertlab against keras-hub and
Hugging Face (PyTorch), on the same text, tokenizer, sequences and held-out books.

Same model for everyone: the GPT-2 layout of `--preset` (default "mini": 4 layers,
256 wide, 4 heads, feed-forward 1024), the vocabulary of one lossless BPE
SentencePiece model learned from the training books, a 256-token context,
dropout 0.1, AdamW (learning rate `--learning_rate` after 5% warm-up, linear
decay to 0, weight decay 0.1, beta2 0.98, gradient clipping at norm 1), batches
of `--batch` packed sequences drawn in the same seeded order.

Data: configs/lm/default.yaml's split of ../shared/data/gutenberg (12 books to
train on, `chesterton-thursday.txt` and `shakespeare-caesar.txt` held out whole),
tokenized once by the parent into `[sequences, 257]` ids and the validation
windows (`bertlab.text.scoring_windows`: every held-out token scored once, with
at least 128 tokens of context after the first window).

Each runner trains in its own process: a probe (a throwaway model: 5 steps of
tracing and compilation, then 15 timed) measures its step time, then a fresh
model trains for as many steps as fit in `--budget_minutes` (its learning-rate
schedule spans exactly those steps; its start-up counts in its time), and
is scored on the validation windows in float32: bits per character = summed
negative log-likelihood / ln 2 / characters of the held-out books.

- `bertlab`: `TransformerLanguageModel` on the one runner (`Trainer`), bf16 +
  XLA fusion of element-wise ops (the apps' default);
- `keras_hub`: `GPT2CausalLM` (`GPT2Backbone` from config) with `fit`, bf16;
- `torch`: `GPT2LMHeadModel` (transformers) with a plain loop, bf16 autocast.

    python benchmarks/lm_quality.py [--budget_minutes=10] [--preset=mini] [--batch=32]
        [--only=bertlab,keras_hub,torch]

Not a test: run it on a quiet machine (it takes about 3 x the budget plus a few minutes).
"""

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from benchmarks.child_process import report_result, spawn_child  # noqa: E402

from benchmarks.lm_training_speed import PRESETS, cpu_model  # noqa: E402

DATA_DIR = os.path.join(os.path.dirname(REPO_ROOT), "shared", "data", "gutenberg")
VALIDATION_BOOKS = ("chesterton-thursday.txt", "shakespeare-caesar.txt")
SEQUENCE, STRIDE, VOCABULARY = 256, 128, 8000
DROPOUT, WEIGHT_DECAY, BETA_2, CLIPNORM = 0.1, 0.1, 0.98, 1.0
PROBE_STEPS, PROBE_UNTIMED = 15, 5
RUNNERS = ("bertlab", "keras_hub", "torch")


# --------------------------------------------------------------------------- data

def prepare_data(directory):
    """Learns the tokenizer and writes `train.npy` (packed sequences), `validation.npz`
    (scoring windows and the held-out characters) into `directory`."""
    import numpy as np
    import tensorflow as tf

    from bertlab.data.text_packing import pack_sequences, token_stream, tokenize_documents
    from bertlab.tasks.language_modeling import count_file_characters
    from bertlab.text.scoring_windows import batch_scoring_windows
    from bertlab.text.sentencepiece_tokenizer import SentencePieceTokenizer, train_sentencepiece

    books = sorted(f for f in os.listdir(DATA_DIR) if f.endswith(".txt"))
    train = [os.path.join(DATA_DIR, f) for f in books if f not in VALIDATION_BOOKS]
    validation = [os.path.join(DATA_DIR, f) for f in VALIDATION_BOOKS]

    def lines():
        for path in train:
            with open(path, encoding="utf-8", errors="replace", newline="") as f:
                yield from f

    tokenizer = SentencePieceTokenizer(train_sentencepiece(
        lines(), VOCABULARY, model_type="bpe", lossless=True))
    eod = tokenizer.end_token_id
    sequences = np.stack(list(pack_sequences(token_stream(train, tokenizer, eod), SEQUENCE)))
    np.save(os.path.join(directory, "train.npy"), sequences)
    documents = [np.concatenate([[eod], ids]) for ids, _ in tokenize_documents(validation,
                                                                                tokenizer)]
    windows, _ = batch_scoring_windows(tf.ragged.constant(documents, dtype=tf.int32), SEQUENCE,
                                       STRIDE)
    np.savez(os.path.join(directory, "validation.npz"), token_ids=windows.token_ids.numpy(),
             padding_mask=windows.padding_mask.numpy(), labels=windows.labels.numpy(),
             weights=windows.weights.numpy(), characters=count_file_characters(validation),
             vocabulary_size=tokenizer.vocabulary_size)
    return len(sequences), int(windows.weights.numpy().sum())


def batches(np, sequences, batch, seed):
    """An endless seeded order of batches `[batch, 257]` (one permutation per epoch)."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(sequences))
        for start in range(0, len(order) - batch + 1, batch):
            yield sequences[order[start:start + batch]]


# ------------------------------------------------------------------------ runners

def warmup_steps(steps):
    return max(1, steps // 20)


def run_bertlab(args, data, steps, untimed=0):
    """Trains `untimed` steps, then `steps` timed ones with the runner; returns
    `(seconds, logits_fn)`."""
    from bertlab.layers import xla_fusion

    xla_fusion.enable_elementwise_fusion()
    import numpy as np
    import tensorflow as tf

    from bertlab.models.language_model_metrics import language_model_loss_sum
    from bertlab.models.transformer_language_model import TransformerLanguageModel
    from bertlab.training import OptimizerConfig, Trainer, TrainerConfig
    from bertlab.training.task import Task

    sequences = data["train"]

    class PackedTask(Task):
        global_batch_size = args.batch

        def build_model(self):
            return TransformerLanguageModel.from_preset(
                args.preset, vocabulary_size=data["vocabulary_size"],
                max_sequence_length=SEQUENCE, dropout=DROPOUT)

        def build_dataset(self, split, input_context=None):
            spec = tf.TensorSpec([args.batch, SEQUENCE + 1], tf.int32)
            ds = tf.data.Dataset.from_generator(
                lambda: batches(np, sequences, args.batch, args.seed), output_signature=spec)
            return ds.map(lambda b: ({"token_ids": b[:, :-1],
                                      "padding_mask": tf.ones_like(b[:, :-1])}, b[:, 1:]))

        def compute_loss(self, labels, outputs):
            return language_model_loss_sum(labels, outputs)

    with tempfile.TemporaryDirectory() as model_dir:
        trainer = Trainer(
            PackedTask(),
            TrainerConfig(train_steps=untimed + steps, global_batch_size=args.batch,
                          steps_per_loop=min(50, steps), checkpoint_interval=0,
                          log_interval=max(steps // 4, 1), eval_at_end=False,
                          mixed_precision="mixed_bfloat16", xla_fusion=True),
            OptimizerConfig(learning_rate=args.learning_rate, warmup_steps=warmup_steps(steps),
                            weight_decay=WEIGHT_DECAY, beta_2=BETA_2, clipnorm=CLIPNORM),
            model_dir)
        if untimed:
            trainer.config.train_steps = untimed
            trainer.train()
            trainer.config.train_steps = untimed + steps
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        model = trainer.model
        trainer.close()

    def logits(token_ids, padding_mask):
        return model({"token_ids": token_ids, "padding_mask": padding_mask}, training=False)

    return seconds, logits


def run_keras_hub(args, data, steps, untimed=0):
    import keras
    import keras_hub
    import numpy as np
    import tensorflow as tf

    from bertlab.training.optimization import WarmupDecaySchedule

    keras.config.set_dtype_policy("mixed_bfloat16")
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=data["vocabulary_size"], max_sequence_length=SEQUENCE, dropout=DROPOUT,
        **PRESETS[args.preset])
    model = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    schedule = WarmupDecaySchedule(args.learning_rate, warmup_steps(steps), steps)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=WEIGHT_DECAY,
                                                   beta_2=BETA_2, global_clipnorm=CLIPNORM),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[])
    spec = tf.TensorSpec([args.batch, SEQUENCE + 1], tf.int32)
    ds = tf.data.Dataset.from_generator(
        lambda: batches(np, data["train"], args.batch, args.seed), output_signature=spec)
    ds = ds.map(lambda b: ({"token_ids": b[:, :-1], "padding_mask": tf.ones_like(b[:, :-1])},
                           b[:, 1:])).prefetch(2)
    if untimed:
        model.fit(ds, steps_per_epoch=untimed, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start

    def logits(token_ids, padding_mask):
        return model({"token_ids": token_ids, "padding_mask": padding_mask}, training=False)

    return seconds, logits


def run_torch(args, data, steps, untimed=0):
    import numpy as np
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(args.seed)
    size = PRESETS[args.preset]
    model = GPT2LMHeadModel(GPT2Config(
        vocab_size=data["vocabulary_size"], n_positions=SEQUENCE, n_embd=size["hidden_dim"],
        n_layer=size["num_layers"], n_head=size["num_heads"], n_inner=size["intermediate_dim"],
        resid_pdrop=DROPOUT, embd_pdrop=DROPOUT, attn_pdrop=DROPOUT)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate,
                                  betas=(0.9, BETA_2), weight_decay=WEIGHT_DECAY)
    warm = warmup_steps(steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / (steps - warm)))
    stream = batches(np, data["train"], args.batch, args.seed)
    start = None
    for step in range(untimed + steps):
        if step == untimed:
            start = time.perf_counter()
        batch = torch.from_numpy(next(stream)).long()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(input_ids=batch[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(out.float().reshape(-1, out.shape[-1]),
                                                 batch[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIPNORM)
        optimizer.step()
        scheduler.step()
    seconds = time.perf_counter() - start
    model.eval()

    def logits(token_ids, padding_mask):
        with torch.no_grad():
            return model(input_ids=torch.from_numpy(token_ids).long(),
                         attention_mask=torch.from_numpy(padding_mask).long()).logits.float().numpy()

    return seconds, logits


RUN = {"bertlab": run_bertlab, "keras_hub": run_keras_hub, "torch": run_torch}


def validation_bits_per_character(logits_fn, validation, batch=32):
    """Summed NLL of every scored validation token / ln 2 / held-out characters."""
    import numpy as np

    nll = 0.0
    for start in range(0, len(validation["token_ids"]), batch):
        part = {k: validation[k][start:start + batch]
                for k in ("token_ids", "padding_mask", "labels", "weights")}
        logits = np.asarray(logits_fn(part["token_ids"], part["padding_mask"]), np.float64)
        logits -= logits.max(axis=-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        picked = np.take_along_axis(log_probs, part["labels"][..., None].astype(int), -1)[..., 0]
        nll -= float((picked * part["weights"]).sum())
    tokens = float(validation["weights"].sum())
    return nll / math.log(2) / float(validation["characters"]), math.exp(nll / tokens)


def child(args):
    import numpy as np

    if args.child != "torch":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    else:
        import torch

        torch.set_num_threads(args.threads)
    validation = dict(np.load(os.path.join(args.data, "validation.npz")))
    data = {"train": np.load(os.path.join(args.data, "train.npy")),
            "vocabulary_size": int(validation["vocabulary_size"])}
    seconds, _ = RUN[args.child](args, data, PROBE_STEPS, untimed=PROBE_UNTIMED)
    steps = max(PROBE_STEPS, int(args.budget_minutes * 60 * PROBE_STEPS / seconds))
    seconds, logits_fn = RUN[args.child](args, data, steps)
    bpc, perplexity = validation_bits_per_character(logits_fn, validation)
    report_result({"steps": steps, "seconds": seconds, "bits_per_character": bpc,
                   "perplexity": perplexity, "tokens": steps * args.batch * SEQUENCE})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget_minutes", type=float, default=10.0,
                        help="training time of each runner (the probe not counted)")
    parser.add_argument("--preset", default="mini", choices=sorted(PRESETS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default=",".join(RUNNERS))
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    wanted = [r.strip() for r in args.only.split(",")]
    if set(wanted) - set(RUNNERS):
        parser.error(f"--only: unknown {sorted(set(wanted) - set(RUNNERS))}; runners {RUNNERS}")
    if args.budget_minutes <= 0 or args.batch < 1:
        parser.error("--budget_minutes and --batch must be positive")
    print(f"machine: {cpu_model()}; {args.threads} threads per run")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS=str(args.threads),
               PYTHONPATH=os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory() as directory:
        prep = subprocess.run(
            [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[2]); "
             "from benchmarks.lm_quality import prepare_data; "
             "print(*prepare_data(sys.argv[1]))", directory, REPO_ROOT],
            env=env, capture_output=True, text=True)
        if prep.returncode:
            sys.exit(f"data preparation failed: {prep.stderr[-2000:]}")
        sequences, scored = prep.stdout.split()[-2:]
        print(f"data: {sequences} training sequences of {SEQUENCE + 1} tokens, {scored} held-out "
              f"tokens scored ({', '.join(VALIDATION_BOOKS)}); model {args.preset}, batch "
              f"{args.batch}, budget {args.budget_minutes:g} min each", flush=True)
        results = {}
        for runner in wanted:
            result = spawn_child(__file__, [
                "--child", runner, "--data", directory, *[f"--{k}={getattr(args, k)}" for k in (
                    "budget_minutes", "preset", "batch", "learning_rate", "seed", "threads")]],
                env={"OMP_NUM_THREADS": str(args.threads)})
            if "error" in result:
                print(f"  {runner}: failed: {result['error']}")
                continue
            results[runner] = result
            print(f"  {runner:10s} {result['bits_per_character']:.4f} bits/char  perplexity "
                  f"{result['perplexity']:.1f}  {result['steps']} steps "
                  f"({result['tokens'] / 1e6:.1f}M tokens) in {result['seconds'] / 60:.1f} min",
                  flush=True)
        peers = {k: v for k, v in results.items() if k != "bertlab"}
        if "bertlab" in results and peers:
            best = min(peers, key=lambda k: peers[k]["bits_per_character"])
            ours = results["bertlab"]["bits_per_character"]
            print(f"\nbertlab {ours:.4f} bits/char; best peer {best} "
                  f"{peers[best]['bits_per_character']:.4f} ({'at least as low' if ours <= peers[best]['bits_per_character'] else 'HIGHER'})")


if __name__ == "__main__":
    main()
