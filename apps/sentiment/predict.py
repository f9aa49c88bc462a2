"""Classifies texts with an exported sentiment SavedModel.

    python -m apps.sentiment.predict --model_dir=saved_models/sentiment/1 "a fine film" ...
    cat reviews.txt | python -m apps.sentiment.predict --model_dir=saved_models/sentiment/1

Prints one line per text: the label, its probability and the text (`--json`:
one JSON object per line with every class probability).
"""

import os

from absl import app, flags

from apps.sentiment.config import APP_NAME, REPO_ROOT
from apps.sentiment.output_format import format_predictions
from bertlab.export import ExportedModel, read_texts

flags.DEFINE_string("model_dir", os.path.join(REPO_ROOT, "saved_models", APP_NAME),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_bool("json", False, "Print JSON lines instead of text.")
flags.DEFINE_integer("batch_size", 64, "Texts per call of the model.")
FLAGS = flags.FLAGS


def main(argv):
    texts = read_texts(argv[1:])
    if not texts:
        raise app.UsageError("Give texts as arguments or lines on stdin.")
    model = ExportedModel(FLAGS.model_dir)
    outputs = model.run(texts, FLAGS.batch_size)
    for line in format_predictions(texts, outputs, model.metadata["class_names"], FLAGS.json):
        print(line)


if __name__ == "__main__":
    app.run(main)
