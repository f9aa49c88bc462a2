"""Classifies texts (or scores text pairs) with an exported classification SavedModel.

    python -m apps.classify.predict --model_dir=saved_models/ag_news "Stocks fall on rate fears"
    cat news.txt | python -m apps.classify.predict --model_dir=saved_models/ag_news
    python -m apps.classify.predict --model_dir=saved_models/stsb \
        "A man plays a flute. ||| A man is playing a flute."

Prints one line per text: the label, its probability and the text, or for a
regression model the score (`--json`: one JSON object per line with every class
probability). A pair model reads each input as `first ||| second` (stdin lines
may also separate the two with a tab).
"""

import os
import sys

from absl import app, flags

from apps.classify.config import REPO_ROOT
from apps.classify.output_format import format_predictions
from bertlab.export import ExportedModel, read_texts

PAIR_SEPARATOR = " ||| "
FLAGS = flags.FLAGS


def define_flags(default_model_dir):
    flags.DEFINE_string("model_dir", default_model_dir, "An exported version directory, or "
                        "the base directory (latest version).")
    flags.DEFINE_bool("json", False, "Print JSON lines instead of text.")
    flags.DEFINE_integer("batch_size", 64, "Texts per call of the model.")


def split_pairs(inputs):
    """`(texts, pairs)` of inputs written `first ||| second` (or `first<TAB>second`)."""
    texts, pairs = [], []
    for number, line in enumerate(inputs, 1):
        separator = "\t" if "\t" in line else PAIR_SEPARATOR
        first, found, second = line.partition(separator)
        if not found:
            raise app.UsageError(f"Input {number} is not a pair: write it as "
                                 f"'first{PAIR_SEPARATOR}second'.")
        texts.append(first.strip())
        pairs.append(second.strip())
    return texts, pairs


def main(argv):
    inputs = read_texts(argv[1:])
    if not inputs:
        raise app.UsageError("Give texts as arguments or lines on stdin.")
    try:
        model = ExportedModel(FLAGS.model_dir)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    if model.metadata.get("task") not in ("text_classification", "sentence_classification"):
        print(f"error: {model.path} is not a text classifier export (its task is "
              f"{model.metadata.get('task')!r}).", file=sys.stderr)
        sys.exit(1)
    texts, pairs = (split_pairs(inputs) if model.metadata.get("text_pair")
                    else (inputs, None))
    outputs = model.run(texts, FLAGS.batch_size, pairs=pairs)
    for line in format_predictions(texts, outputs, model.metadata, FLAGS.json, pairs):
        print(line)


if __name__ == "__main__":
    define_flags(os.path.join(REPO_ROOT, "saved_models", "ag_news"))
    app.run(main)
