"""Generation speed: bertlab's cached decoders against keras-hub and Hugging Face BART.

    python benchmarks/seq2seq_generation.py [--batch_size=16] [--new_tokens=32]
        [--source_length=32] [--vocabulary_size=8000] [--repeats=3]
        [--policy=float32|mixed_bfloat16] [--modes=graph,xla] [--skip_keras_hub]
        [--skip_torch] [--quick]

All models have the same size (3 encoder + 3 decoder layers, width 256, 4
heads, feed-forward 1024, random weights) and generate exactly `new_tokens`
tokens for each of `batch_size` sources (end of sequence suppressed or
stopping disabled), with greedy search and beam search (4 beams). Measured:
- bertlab, predict path: `TextGenerationModule.serve_token_ids` in process (the
  tf.function that generation runs), from source ids to generated ids;
- bertlab, SavedModel: the exported `serve_token_ids` signature, loaded back;
  each in two modes: `graph` (the model under `--policy`) and `xla` (a float32
  copy, XLA-compiled: what the apps' `--export_jit_compile` exports);
- keras-hub `BartSeq2SeqLM.generate` (greedy / `BeamSampler(4)`, its default
  XLA compilation, `stop_token_ids=None`);
- Hugging Face `BartForConditionalGeneration.generate` on PyTorch
  (`min_new_tokens = max_new_tokens`), when torch and transformers import.

Reports generated tokens per second (`batch_size * new_tokens / seconds`, the
median of `repeats` timed calls after one warm-up call) and bertlab's ratios.
Not a test: run it on a quiet machine.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

LAYERS, WIDTH, HEADS, FFN = 3, 256, 4, 1024
PAD, START, END = 0, 2, 3


def timed(fn, repeats):
    """Median wall time of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sources(args):
    rng = np.random.default_rng(0)
    ids = rng.integers(4, args.vocabulary_size, size=(args.batch_size, args.source_length))
    ids[:, -1] = END
    return ids.astype("int32"), np.ones_like(ids, dtype="int32")


def bench_bertlab(args, source_ids, source_mask):
    import keras

    from bertlab.decoding import DecodingConfig
    from bertlab.export.text_generation_module import TextGenerationModule
    from bertlab.models import Seq2SeqTransformer

    keras.config.set_dtype_policy(args.policy)
    keras.utils.set_random_seed(0)
    model = Seq2SeqTransformer(args.vocabulary_size, LAYERS, LAYERS, hidden_dim=WIDTH,
                               num_heads=HEADS, intermediate_dim=FFN, dropout=0.0,
                               max_sequence_length=max(args.source_length,
                                                       args.new_tokens) + 8)
    results = {}
    ids, mask = tf.constant(source_ids), tf.constant(source_mask)
    modes = {"graph": (False, None), "xla": (True, "float32")}
    for name, method, width in (("greedy", "greedy", 1), ("beam4", "beam", 4)):
        # min_length = max_length: the end token is suppressed, every row makes new_tokens.
        config = DecodingConfig(method=method, beam_width=width, max_length=args.new_tokens,
                                min_length=args.new_tokens, length_penalty=0.6)
        for mode in args.modes:
            jit_compile, dtype_policy = modes[mode]
            # What `--export_jit_compile` exports: a float32 copy, XLA-compiled.
            module = TextGenerationModule(model, None, config, args.source_length + 8,
                                          special_token_ids=(START, END, PAD),
                                          jit_compile=jit_compile, dtype_policy=dtype_policy)
            suffix = "" if mode == "graph" else "_xla"
            generate = module.serve_token_ids  # the module's tf.function, in process
            out = generate(ids, mask)
            assert int(tf.reduce_min(out["lengths"])) == args.new_tokens, out["lengths"]
            results[f"bertlab_predict{suffix}_{name}"] = timed(
                lambda: generate(ids, mask)["token_ids"].numpy(), args.repeats)
            with tempfile.TemporaryDirectory() as directory:
                module.save(directory)
                serve = tf.saved_model.load(directory).signatures["serve_token_ids"]
                results[f"bertlab_savedmodel{suffix}_{name}"] = timed(
                    lambda: serve(token_ids=ids, padding_mask=mask)["token_ids"].numpy(),
                    args.repeats)
    keras.config.set_dtype_policy("float32")
    return results


def bench_keras_hub(args, source_ids, source_mask):
    import keras
    import keras_hub

    keras.config.set_dtype_policy(args.policy)
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BartBackbone(
        vocabulary_size=args.vocabulary_size, num_layers=LAYERS, num_heads=HEADS,
        hidden_dim=WIDTH, intermediate_dim=FFN, dropout=0.0,
        max_sequence_length=max(args.source_length, args.new_tokens) + 8)
    lm = keras_hub.models.BartSeq2SeqLM(backbone=backbone, preprocessor=None)
    decoder_ids = np.zeros((args.batch_size, args.new_tokens + 1), "int32")
    decoder_ids[:, 0] = START
    decoder_mask = np.zeros_like(decoder_ids)
    decoder_mask[:, 0] = 1
    inputs = {"encoder_token_ids": source_ids, "encoder_padding_mask": source_mask,
              "decoder_token_ids": decoder_ids, "decoder_padding_mask": decoder_mask}
    results = {}
    for name, sampler in (("greedy", "greedy"),
                          ("beam4", keras_hub.samplers.BeamSampler(num_beams=4))):
        lm.compile(sampler=sampler)
        out = lm.generate(inputs, stop_token_ids=None)
        assert np.asarray(out["decoder_token_ids"]).shape[1] == args.new_tokens + 1
        results[f"keras_hub_{name}"] = timed(lambda: lm.generate(inputs, stop_token_ids=None),
                                             args.repeats)
    keras.config.set_dtype_policy("float32")
    return results


def bench_torch(args, source_ids, source_mask):
    try:
        import torch
        from transformers import BartConfig, BartForConditionalGeneration
    except Exception as e:  # not installed, or broken: skip cleanly
        print(f"Skipping Hugging Face BART (PyTorch): {type(e).__name__}: {e}", file=sys.stderr)
        return {}
    torch.manual_seed(0)
    config = BartConfig(vocab_size=args.vocabulary_size, d_model=WIDTH, encoder_layers=LAYERS,
                        decoder_layers=LAYERS, encoder_attention_heads=HEADS,
                        decoder_attention_heads=HEADS, encoder_ffn_dim=FFN, decoder_ffn_dim=FFN,
                        max_position_embeddings=max(args.source_length, args.new_tokens) + 8,
                        pad_token_id=PAD, bos_token_id=START, eos_token_id=END,
                        decoder_start_token_id=START, forced_bos_token_id=None,
                        forced_eos_token_id=None, dropout=0.0)
    model = BartForConditionalGeneration(config).eval()
    if args.policy == "mixed_bfloat16":
        model = model.to(torch.bfloat16)
    ids, mask = torch.from_numpy(source_ids).long(), torch.from_numpy(source_mask).long()
    results = {}
    for name, beams in (("greedy", 1), ("beam4", 4)):
        def run():
            with torch.inference_mode():
                return model.generate(input_ids=ids, attention_mask=mask, num_beams=beams,
                                      do_sample=False, max_new_tokens=args.new_tokens,
                                      min_new_tokens=args.new_tokens, early_stopping=False)
        out = run()
        assert out.shape[1] == args.new_tokens + 1, out.shape
        results[f"torch_{name}"] = timed(run, args.repeats)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--new_tokens", type=int, default=32)
    parser.add_argument("--source_length", type=int, default=32)
    parser.add_argument("--vocabulary_size", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--policy", choices=["float32", "mixed_bfloat16"], default="float32")
    parser.add_argument("--modes", default="graph,xla",
                        help="bertlab variants, comma-separated: graph (the model under "
                        "--policy, a tf.function) and xla (a float32 copy, XLA-compiled: "
                        "what --export_jit_compile exports).")
    parser.add_argument("--skip_keras_hub", action="store_true")
    parser.add_argument("--skip_torch", action="store_true")
    parser.add_argument("--quick", action="store_true", help="One timed call each.")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or set(args.modes) - {"graph", "xla"}:
        parser.error("--modes takes graph and/or xla")
    for name in ("batch_size", "new_tokens", "source_length", "vocabulary_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be positive")

    source_ids, source_mask = sources(args)
    seconds = bench_bertlab(args, source_ids, source_mask)
    if not args.skip_keras_hub:
        seconds.update(bench_keras_hub(args, source_ids, source_mask))
    if not args.skip_torch:
        seconds.update(bench_torch(args, source_ids, source_mask))

    tokens = args.batch_size * args.new_tokens
    rates = {name: tokens / s for name, s in seconds.items()}
    print(f"{args.batch_size} sources x {args.new_tokens} new tokens, {LAYERS}+{LAYERS} layers, "
          f"width {WIDTH}, vocabulary {args.vocabulary_size}, policy {args.policy}, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()} threads")
    print(f"{'system':32s} {'seconds':>9s} {'tokens/s':>10s}")
    for name in sorted(rates):
        print(f"{name:32s} {seconds[name]:9.3f} {rates[name]:10.1f}")
    ratios = {}
    for search in ("greedy", "beam4"):
        for ours in ("bertlab_predict", "bertlab_savedmodel", "bertlab_predict_xla",
                     "bertlab_savedmodel_xla"):
            for other in ("keras_hub", "torch"):
                a, b = rates.get(f"{ours}_{search}"), rates.get(f"{other}_{search}")
                if a and b:
                    ratios[f"{ours}_{search} / {other}_{search}"] = a / b
    for name, value in ratios.items():
        print(f"{name:50s} {value:6.2f}x")
    print(json.dumps({"tokens_per_second": rates, "ratios": ratios, "args": vars(args)}))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
