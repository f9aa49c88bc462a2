"""Scores an exported sentiment SavedModel on a labelled data file; prints accuracy (and JSON).

    python -m apps.sentiment.evaluate --model_dir=saved_models/sentiment/1 \
        --data=../shared/data/sst2/dev.tsv

`--data` has the training data's format (TSV with a header naming a text and a
`label` column; labels as in training, e.g. 0/1, or class names), or
`tfds:<name>` for a prepared TFDS dataset (`--tfds_split`). The model only
sees the raw text, through its `serving_default` signature.
"""

import json
import os

from absl import app, flags

from apps.sentiment.config import APP_NAME, REPO_ROOT
from bertlab.data import DataError, is_tfds_source, load_tfds_sentences, read_labeled_sentences
from bertlab.export import ExportedModel

flags.DEFINE_string("model_dir", os.path.join(REPO_ROOT, "saved_models", APP_NAME),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_string("data", None, "Labelled TSV file (training format) or tfds:<name>.")
flags.DEFINE_string("tfds_split", "validation", "Split of a tfds: dataset.")
flags.DEFINE_string("text_column", None, "TSV text column (default: from the header).")
flags.DEFINE_string("label_column", None, "TSV label column (default: 'label').")
flags.DEFINE_integer("batch_size", 64, "Sentences per call of the model.")
flags.mark_flag_as_required("data")
FLAGS = flags.FLAGS


def score(model, sentences, batch_size):
    """Accuracy of `model` (an `ExportedModel`) on `LabeledSentences` with file labels."""
    meta = model.metadata
    names = meta["class_names"]
    to_name = dict(zip(meta.get("label_values", names), names))
    to_name.update({n: n for n in names})
    unknown = sorted(set(sentences.labels) - set(to_name))
    if unknown:
        raise DataError(f"Labels {unknown} are neither the model's label values "
                        f"{meta.get('label_values')} nor its classes {names}.")
    gold = [to_name[label] for label in sentences.labels]
    predicted = [p.decode("utf-8") for p in model.run(sentences.texts, batch_size)["label"]]
    correct = sum(p == g for p, g in zip(predicted, gold))
    per_class = {name: sum(p == g == name for p, g in zip(predicted, gold)) /
                 max(1, gold.count(name)) for name in names}
    return {"accuracy": correct / len(gold), "num_examples": len(gold),
            "recall_per_class": per_class}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    model = ExportedModel(FLAGS.model_dir)
    if is_tfds_source(FLAGS.data):
        sentences = load_tfds_sentences(FLAGS.data[len("tfds:"):], FLAGS.tfds_split)
    else:
        sentences = read_labeled_sentences(FLAGS.data, FLAGS.text_column, FLAGS.label_column)
    results = score(model, sentences, FLAGS.batch_size)
    print(f"accuracy {results['accuracy']:.4f} on {results['num_examples']} sentences "
          f"({model.path})")
    print(json.dumps({**results, "model_dir": model.path, "data": FLAGS.data}))


if __name__ == "__main__":
    app.run(main)
