"""Language-model generation speed: bertlab's exports against keras-hub GPT-2 and Hugging Face GPT-2.

    python benchmarks/lm_generation_speed.py [--preset=mini] [--batch_sizes=1,16]
        [--prompt_tokens=32] [--new_tokens=64] [--methods=greedy,top_p]
        [--systems=portable,xla,keras_hub,torch] [--repeats=5] [--policy=float32]

All systems run the same model size (`--preset`, default "mini": 4 layers,
width 256, 4 heads, feed-forward 1024; vocabulary 8,000; context 256; random
weights) on the same prompts (`--prompt_tokens` ids, the end-of-document token
first) and generate exactly `--new_tokens` tokens per row, with the key/value
cache, by greedy search and by top-p 0.9 sampling (temperature 1, no top-k):
- `portable`: a `LanguageModelModule` saved with `save()` and loaded back with
  `tf.saved_model.load` (+ `tensorflow_text`), the export stock TF Serving runs
  without XLA. Timed through `serving_default` (strings in, strings out:
  SentencePiece tokenization and detokenization included; one export per
  method, `DecodingConfig(min_length=new_tokens)` bans the end token) and
  through `serve_token_ids` (token ids in and out);
- `xla`: the same, exported with `jit_compile=True, dtype_policy="float32"`;
- `keras_hub`: keras-hub `GPT2CausalLM.generate` on token ids (no
  preprocessor, `stop_token_ids=None`), its default XLA-compiled generate
  function, `GreedySampler` / `TopPSampler(p=0.9)`;
- `torch`: Hugging Face `GPT2LMHeadModel.generate` on PyTorch CPU, float32,
  `torch.set_num_threads(--threads)`, `use_cache=True`, `min_new_tokens =
  max_new_tokens`, `top_k=0` for top-p.

Reports new tokens per second (`batch * new_tokens / seconds`, the median of
`--repeats` timed calls after two warm-up calls), and for each bertlab variant
its ratio to the best peer. Not a test: run it on a quiet machine.
"""

import json
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402
import numpy as np  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", "mini", "Model size (bertlab.models LANGUAGE_MODEL_PRESETS).")
flags.DEFINE_integer("vocabulary_size", 8000, "Token ids (the SentencePiece model's pieces).")
flags.DEFINE_integer("context", 256, "Context window.")
flags.DEFINE_list("batch_sizes", ["1", "16"], "Prompts per call.")
flags.DEFINE_integer("prompt_tokens", 32, "Prompt length in tokens (end-of-document token "
                     "included).")
flags.DEFINE_integer("new_tokens", 64, "Tokens generated per prompt, exactly.")
flags.DEFINE_list("methods", ["greedy", "top_p"], "greedy and/or top_p (p = --top_p).")
flags.DEFINE_float("top_p", 0.9, "Nucleus of top-p sampling.")
flags.DEFINE_list("systems", ["portable", "xla", "keras_hub", "torch"], "What to time.")
flags.DEFINE_integer("repeats", 5, "Timed calls per figure (the median is reported).")
flags.DEFINE_integer("threads", 2, "PyTorch threads (TensorFlow uses its defaults).")
flags.DEFINE_enum("policy", "float32", ["float32", "mixed_bfloat16"],
                  "dtype policy of the portable export's model (the XLA export is float32).")
flags.DEFINE_string("tokenizer_cache", os.path.join(tempfile.gettempdir(),
                                                    "bertlab-lm-bench-{size}.model"),
                    "Where the benchmark's SentencePiece model is kept between runs.")
flags.DEFINE_string("corpus", None, "Text to learn the SentencePiece model from (default: "
                    "Gutenberg books from $BERTLAB_DATA_DIR or ../shared/data).")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(fn, repeats):
    """Median wall time of `repeats` calls after two warm-up calls."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def corpus_lines():
    if FLAGS.corpus:
        paths = [FLAGS.corpus]
    else:
        data = os.environ.get("BERTLAB_DATA_DIR",
                              os.path.join(os.path.dirname(REPO), "shared", "data"))
        paths = [os.path.join(data, "gutenberg", name)
                 for name in ("austen-emma.txt", "melville-moby_dick.txt",
                              "chesterton-thursday.txt")]
    lines = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            lines += f.read().splitlines(True)
    return lines


def sentencepiece_tokenizer():
    """A lossless BPE model of `--vocabulary_size` pieces (trained once, then cached)."""
    from bertlab.text.sentencepiece_tokenizer import (
        SentencePieceTokenizer, save_sentencepiece_model, train_sentencepiece)

    path = FLAGS.tokenizer_cache.format(size=FLAGS.vocabulary_size)
    if not os.path.isfile(path):
        proto = train_sentencepiece(corpus_lines(), FLAGS.vocabulary_size, model_type="bpe",
                                    lossless=True)
        save_sentencepiece_model(proto, path)
    tokenizer = SentencePieceTokenizer(path)
    if tokenizer.vocabulary_size != FLAGS.vocabulary_size:
        raise SystemExit(f"The corpus gave {tokenizer.vocabulary_size} pieces, not "
                         f"{FLAGS.vocabulary_size}: pass a larger --corpus.")
    return tokenizer


def prompts(tokenizer, batch_size):
    """`batch_size` prompt texts and their ids `[batch, prompt_tokens]` (end-of-document
    token first): passages of the corpus cut to `prompt_tokens - 1` pieces, kept only when
    the cut text tokenizes back to exactly those pieces."""
    import tensorflow as tf

    paragraphs = [p for p in "".join(corpus_lines()).split("\n\n") if len(p) > 300]
    texts, ids = [], []
    for line in paragraphs[::7]:
        pieces = tokenizer(tf.constant([line]))[0].numpy()[:FLAGS.prompt_tokens - 1]
        text = tokenizer.detokenize(tf.constant([pieces]))[0].numpy().decode("utf-8")
        again = tokenizer(tf.constant([text]))[0].numpy()
        if len(again) == FLAGS.prompt_tokens - 1 and (again == pieces).all():
            texts.append(text)
            ids.append([tokenizer.end_token_id] + pieces.tolist())
        if len(texts) == batch_size:
            return texts, np.asarray(ids, np.int32)
    raise SystemExit("Not enough prompts in the corpus.")


def decoding_config(method):
    from bertlab.decoding import DecodingConfig

    sampling = dict(method="sample", top_p=FLAGS.top_p) if method == "top_p" else dict(
        method="greedy")
    # min_length = max_length: the end token is banned, every row gets new_tokens tokens.
    return DecodingConfig(max_length=FLAGS.new_tokens, min_length=FLAGS.new_tokens, **sampling)


def bench_bertlab(tokenizer, batches):
    import keras
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the SentencePiece ops of the loaded export)

    from bertlab.export.language_model_export import LanguageModelModule
    from bertlab.models import TransformerLanguageModel

    keras.utils.set_random_seed(0)
    model = TransformerLanguageModel.from_preset(
        FLAGS.preset, FLAGS.vocabulary_size, max_sequence_length=FLAGS.context, dropout=0.0,
        dtype=None if FLAGS.policy == "float32" else FLAGS.policy)
    results = {}
    variants = {"portable": (False, None), "xla": (True, "float32")}
    for variant in [v for v in FLAGS.systems if v in variants]:
        jit_compile, dtype_policy = variants[variant]
        for method in FLAGS.methods:
            module = LanguageModelModule(model, tokenizer, decoding_config(method),
                                         score_stride=FLAGS.context // 2,
                                         jit_compile=jit_compile, dtype_policy=dtype_policy)
            with tempfile.TemporaryDirectory() as directory:
                module.save(directory)
                loaded = tf.saved_model.load(directory)
                complete = loaded.signatures["serving_default"]
                serve_ids = loaded.signatures["serve_token_ids"]
                for batch_size, (texts, ids) in batches.items():
                    text = tf.constant(texts)
                    token_ids, mask = tf.constant(ids), tf.ones_like(tf.constant(ids))
                    out = serve_ids(token_ids=token_ids, padding_mask=mask)
                    assert (out["lengths"].numpy() == FLAGS.new_tokens).all(), out["lengths"]
                    key = f"bertlab_{variant}_text", method, batch_size
                    results[key] = timed(lambda: complete(prompt=text)["completion"].numpy(),
                                         FLAGS.repeats)
                    report(results, key)
                    key = f"bertlab_{variant}_ids", method, batch_size
                    results[key] = timed(lambda: serve_ids(
                        token_ids=token_ids, padding_mask=mask)["token_ids"].numpy(),
                        FLAGS.repeats)
                    report(results, key)
    return results


def bench_keras_hub(batches):
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    preset = LANGUAGE_MODEL_SIZES[FLAGS.preset]
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=FLAGS.vocabulary_size, num_layers=preset["num_layers"],
        num_heads=preset["num_heads"], hidden_dim=preset["hidden_dim"],
        intermediate_dim=preset["intermediate_dim"], dropout=0.0,
        max_sequence_length=FLAGS.context)
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    samplers = {"greedy": lambda: "greedy",
                "top_p": lambda: keras_hub.samplers.TopPSampler(p=FLAGS.top_p, seed=0)}
    results = {}
    for method in FLAGS.methods:
        lm.compile(sampler=samplers[method]())
        for batch_size, (_, ids) in batches.items():
            # The prompt, then room for the new tokens; generate fills the masked-out slots.
            width = FLAGS.prompt_tokens + FLAGS.new_tokens
            token_ids = np.zeros((batch_size, width), np.int32)
            token_ids[:, :FLAGS.prompt_tokens] = ids
            mask = np.zeros((batch_size, width), bool)
            mask[:, :FLAGS.prompt_tokens] = True
            inputs = {"token_ids": token_ids, "padding_mask": mask}
            out = lm.generate(inputs, stop_token_ids=None)
            assert np.asarray(out["padding_mask"]).all()
            key = "keras_hub", method, batch_size
            results[key] = timed(lambda: lm.generate(inputs, stop_token_ids=None),
                                 FLAGS.repeats)
            report(results, key)
    return results


def bench_torch(batches, end_id, pad_id):
    try:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel
    except Exception as e:  # not installed, or broken: skip cleanly
        print(f"Skipping Hugging Face GPT-2 (PyTorch): {type(e).__name__}: {e}", file=sys.stderr)
        return {}
    torch.set_num_threads(FLAGS.threads)
    torch.manual_seed(0)
    preset = LANGUAGE_MODEL_SIZES[FLAGS.preset]
    config = GPT2Config(vocab_size=FLAGS.vocabulary_size, n_positions=FLAGS.context,
                        n_embd=preset["hidden_dim"], n_layer=preset["num_layers"],
                        n_head=preset["num_heads"], n_inner=preset["intermediate_dim"],
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        bos_token_id=end_id, eos_token_id=end_id, pad_token_id=pad_id)
    model = GPT2LMHeadModel(config).eval()
    results = {}
    for method in FLAGS.methods:
        sampling = (dict(do_sample=True, top_p=FLAGS.top_p, top_k=0, temperature=1.0)
                    if method == "top_p" else dict(do_sample=False))
        for batch_size, (_, ids) in batches.items():
            input_ids = torch.from_numpy(ids).long()
            mask = torch.ones_like(input_ids)

            def run():
                with torch.inference_mode():
                    return model.generate(input_ids=input_ids, attention_mask=mask,
                                          max_new_tokens=FLAGS.new_tokens,
                                          min_new_tokens=FLAGS.new_tokens, use_cache=True,
                                          pad_token_id=pad_id, **sampling)

            out = run()
            assert out.shape[1] == FLAGS.prompt_tokens + FLAGS.new_tokens, out.shape
            key = "torch", method, batch_size
            results[key] = timed(run, FLAGS.repeats)
            report(results, key)
    return results


LANGUAGE_MODEL_SIZES = {}
PEERS = ("keras_hub", "torch")


def report(results, key):
    """Prints the figure just measured (a long run shows its progress)."""
    seconds = results[key]
    rate = key[2] * FLAGS.new_tokens / seconds
    print(f"  {key[0]:24s} {key[1]:7s} batch {key[2]:3d}: {seconds:8.3f} s {rate:9.1f} tokens/s",
          flush=True)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # SavedModel writing logs pages of INFO
    sys.path.insert(0, REPO)
    import tensorflow as tf

    from bertlab.models.transformer_language_model import LANGUAGE_MODEL_PRESETS

    LANGUAGE_MODEL_SIZES.update(LANGUAGE_MODEL_PRESETS)
    batch_sizes = [int(b) for b in FLAGS.batch_sizes]
    if FLAGS.prompt_tokens + FLAGS.new_tokens > FLAGS.context:
        raise app.UsageError("--prompt_tokens + --new_tokens must fit --context")
    if set(FLAGS.methods) - {"greedy", "top_p"}:
        raise app.UsageError("--methods takes greedy and/or top_p")
    tokenizer = sentencepiece_tokenizer()
    batches = {b: prompts(tokenizer, b) for b in batch_sizes}
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs; TensorFlow {tf.__version__}, "
          f"intra-op threads {tf.config.threading.get_intra_op_parallelism_threads() or 'auto'}")
    results = {}
    if {"portable", "xla"} & set(FLAGS.systems):
        results.update(bench_bertlab(tokenizer, batches))
    if "keras_hub" in FLAGS.systems:
        results.update(bench_keras_hub(batches))
    if "torch" in FLAGS.systems:
        results.update(bench_torch(batches, tokenizer.end_token_id, tokenizer.pad_token_id))

    rates = {key: key[2] * FLAGS.new_tokens / s for key, s in results.items()}
    print(f"\n{FLAGS.preset} ({LANGUAGE_MODEL_SIZES[FLAGS.preset]}), vocabulary "
          f"{FLAGS.vocabulary_size}, {FLAGS.prompt_tokens}-token prompts, {FLAGS.new_tokens} "
          f"new tokens, policy {FLAGS.policy}, median of {FLAGS.repeats}")
    print(f"{'system':24s} {'method':7s} {'batch':>5s} {'seconds':>9s} {'tokens/s':>10s}")
    for key in sorted(rates, key=lambda k: (k[1], k[2], k[0])):
        print(f"{key[0]:24s} {key[1]:7s} {key[2]:5d} {results[key]:9.3f} {rates[key]:10.1f}")
    ratios = {}
    for (system, method, batch_size), rate in sorted(rates.items()):
        if not system.startswith("bertlab"):
            continue
        peers = {p: rates[p, method, batch_size] for p in PEERS
                 if (p, method, batch_size) in rates}
        if peers:
            best = max(peers, key=peers.get)
            ratios[f"{system} {method} batch {batch_size} / {best}"] = rate / peers[best]
    for name, value in ratios.items():
        print(f"{name:56s} {value:6.2f}x")
    print(json.dumps({"cpu": cpu_name(),
                      "tokens_per_second": {" ".join(map(str, k)): v for k, v in rates.items()},
                      "ratios": ratios}))


if __name__ == "__main__":
    app.run(main)
