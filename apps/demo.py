"""Runs every exported app on a few example inputs and prints what each says.

    python -m apps.demo [--model_base_path=saved_models] [--text="your own text" ...]

Loads the newest version of each model under the base path (only the
SavedModels are used, as a server would), then prints, app by app: the
sentiment label and its probability, the text with its entities bracketed,
translations (the examples in the model's source language), summaries.
`--text` replaces the built-in examples (for every app).
"""

import pathlib
import sys
import textwrap

import numpy as np
from absl import app, flags

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

flags.DEFINE_string("model_base_path", str(REPO_ROOT / "saved_models"),
                    "Directory with one directory per exported app.")
flags.DEFINE_multi_string("text", None, "Your own input (repeat for several); replaces the "
                          "examples.")
FLAGS = flags.FLAGS

EXAMPLES = {
    "sentiment": ["A charming, funny and deeply moving film.",
                  "Dull, lifeless and far too long.",
                  "The plot is thin, but the actors make it worth watching."],
    "ner": ["Angela Merkel met Emmanuel Macron in Paris on Tuesday .",
            "Apple opened a new office in London , said Tim Cook ."],
    "translation": {
        "en": ["A man is riding a bicycle down the street.", "Two dogs play in the snow."],
        "de": ["Ein Mann fährt mit dem Fahrrad die Straße entlang.",
               "Zwei Hunde spielen im Schnee."],
        "zh": ["我喜欢在公园里散步。", "今天天气很好。"],
    },
    "summarization": [
        "We propose a simple method for training neural networks with noisy labels. The "
        "method reweights training examples by their agreement with a small clean set of "
        "labels, and improves accuracy on three image and text benchmarks without any extra "
        "cost at test time. We also show that the reweighting is robust to the size of the "
        "clean set."],
}
WIDTH = 96


def _text(value):
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def printable(text):
    """`text` with control characters escaped (an undertrained model may generate them)."""
    if not text:
        return "(empty)"
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" for c in text)


def bracket_entities(tokens, tags):
    """Words with BIO entities bracketed: `[Angela Merkel](PER) met ...`."""
    out, entity, kind = [], [], None

    def close():
        nonlocal entity, kind
        if entity:
            out.append(f"[{' '.join(entity)}]({kind})")
        entity, kind = [], None

    for token, tag in zip(tokens, tags):
        token, tag = _text(token), _text(tag) or "O"
        if not token:
            continue
        prefix, _, label = tag.partition("-")
        if prefix == "B" or (prefix == "I" and label != kind):
            close()
            entity, kind = [token], label
        elif prefix == "I":
            entity.append(token)
        else:
            close()
            out.append(token)
    close()
    return " ".join(out)


def examples_for(info):
    if FLAGS.text:
        return list(FLAGS.text)
    kind = info["kind"]
    if kind == "translation":
        source = info.get("direction", "en-").split("-")[0]
        return EXAMPLES["translation"].get(source, EXAMPLES["translation"]["en"])
    return EXAMPLES.get(kind, [])


def describe(served, info, texts):
    """Lines describing the app's answers to `texts`."""
    outputs = served.predict("serving_default", {"text": np.array(
        [t.encode("utf-8") for t in texts], dtype=object)})
    lines = []
    for i, text in enumerate(texts):
        shown = textwrap.shorten(text, WIDTH - 6, placeholder=" …")
        if info["kind"] == "sentiment":
            probabilities = outputs["probabilities"][i]
            lines.append(f"  {shown}\n    -> {_text(outputs['label'][i])} "
                         f"({100 * float(np.max(probabilities)):.1f}%)")
        elif info["kind"] == "ner":
            lines.append(f"  {shown}\n    -> "
                         f"{bracket_entities(outputs['tokens'][i], outputs['tags'][i])}")
        elif info["kind"] in ("translation", "summarization"):
            generated = printable(_text(outputs[info.get("output", next(iter(outputs)))][i]))
            lines.append(f"  {shown}\n    -> " + textwrap.fill(
                generated, WIDTH, subsequent_indent="       "))
        else:
            lines.append(f"  {shown}\n    -> " + ", ".join(
                f"{k}={v[i]!r}"[:60] for k, v in sorted(outputs.items())))
    return lines


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    # deferred: loads TensorFlow (seconds); `--help` and usage errors answer at once
    from apps.serve.app_views import describe as describe_app
    # deferred: as above
    from bertlab.serving.model_registry import BatchingOptions, ModelRegistry

    try:
        registry = ModelRegistry(FLAGS.model_base_path, poll_interval_s=0,
                                 batching=BatchingOptions(enabled=False), warm_up=False)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    registry.start()
    names = registry.names()
    if not names:
        print(f"error: no exported app under {FLAGS.model_base_path} (train one, e.g. "
              "python -m apps.sentiment.train --config=configs/sentiment/smoke.yaml).",
              file=sys.stderr)
        sys.exit(1)
    for name in names:
        served = registry.get(name)
        info = describe_app(served.metadata, served.inputs.get("serving_default", {}),
                            served.outputs.get("serving_default", []))
        print(f"== {name} (version {served.version}): {info['label']}")
        texts = examples_for(info)
        if "serving_default" not in served.inputs or set(
                served.inputs["serving_default"]) != {"text"} or not texts:
            print("  (no text examples for this model)")
            continue
        for line in describe(served, info, texts):
            print(line)
        print()
    registry.stop()


if __name__ == "__main__":
    app.run(main)
