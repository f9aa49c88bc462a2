"""Scores an exported classification SavedModel on labelled data; prints the scores (and JSON).

    python -m apps.classify.evaluate --model_dir=saved_models/sms_spam \
        --config=configs/classify/sms_spam.yaml [--data=FILE]

The data is read as the config says (file format, columns, label values);
`--data` defaults to the config's `report` source, else its `validation`
source (a split carved from the training file with `holdout_every` is not a
file: give `--data`). `--data=tfds:<name>` reads a prepared TFDS dataset
(`--tfds_split`). The model only sees the raw text (and text pair), through
its `serving_default` signature. Scores: accuracy and recall per class; with
a positive class, its precision, recall and F1 at the export's threshold; for
a regression model, Pearson and Spearman correlation (x 100 in the text line).
"""

import json
import os

import numpy as np
from absl import app, flags

from apps.classify.config import APP_NAME, DEFAULT_CONFIG, REPO_ROOT, ClassifyConfig
from bertlab.config import ConfigError, load_config
from bertlab.data import DataError
from bertlab.export import ExportedModel
from bertlab.tasks.fine_tuning_cli import resolve_config_paths
from bertlab.tasks.classification_metrics import correlations, positive_class_scores
from bertlab.tasks.text_classification import read_source

FLAGS = flags.FLAGS


def define_flags(app_name=APP_NAME, default_config=DEFAULT_CONFIG):
    flags.DEFINE_string("model_dir", None, "An exported version directory, or the base "
                        "directory (latest version); default: the config's export_dir.")
    flags.DEFINE_string("config", os.path.join(REPO_ROOT, "configs", app_name, default_config),
                        "The training config: how the data is read.")
    flags.DEFINE_string("data", None, "A labelled file in the config's format, or "
                        "tfds:<name> (default: the config's report, else validation source).")
    flags.DEFINE_string("tfds_split", "validation", "Split of a tfds: dataset.")
    flags.DEFINE_string("text_column", None, "Overrides task.data.text_column.")
    flags.DEFINE_string("label_column", None, "Overrides task.data.label_column.")
    flags.DEFINE_integer("batch_size", 64, "Texts per call of the model.")


def score(model, examples, batch_size):
    """The scores of `model` (an `ExportedModel`) on `LabeledSentences` with file labels."""
    meta = model.metadata
    if meta.get("task") not in ("text_classification", "sentence_classification"):
        raise ValueError(f"{model.path} is not a text classifier export (its task is "
                         f"{meta.get('task')!r}).")
    outputs = model.run(examples.texts, batch_size, pairs=examples.pairs)
    if "score" in outputs:
        try:
            gold = np.array([float(label) for label in examples.labels])
        except ValueError as e:
            raise DataError(f"The labels of a regression model must be numbers: {e}") from None
        return {**correlations(outputs["score"], gold), "num_examples": len(gold)}
    names = meta["class_names"]
    to_name = dict(zip(meta.get("label_values") or names, names))
    to_name.update({n: n for n in names})
    unknown = sorted(set(examples.labels) - set(to_name))
    if unknown:
        raise DataError(f"Labels {unknown} are neither the model's label values "
                        f"{meta.get('label_values')} nor its classes {names}.")
    gold = [to_name[label] for label in examples.labels]
    predicted = [p.decode("utf-8") for p in outputs["label"]]
    results = {"accuracy": sum(p == g for p, g in zip(predicted, gold)) / len(gold),
               "num_examples": len(gold),
               "recall_per_class": {name: sum(p == g == name for p, g in zip(predicted, gold))
                                    / max(1, gold.count(name)) for name in names}}
    positive = meta.get("positive_class")
    if positive:
        probabilities = outputs["probabilities"][:, names.index(positive)]
        threshold = meta.get("decision_threshold")
        threshold = 0.5 if threshold is None else threshold
        results.update(positive_class=positive, threshold=threshold,
                       **positive_class_scores(probabilities,
                                               [g == positive for g in gold], threshold))
    return results


def describe(results):
    """One line of the main scores."""
    if "spearman" in results:
        return (f"Spearman {100 * results['spearman']:.2f}, Pearson "
                f"{100 * results['pearson']:.2f} x 100")
    line = f"accuracy {results['accuracy']:.4f}"
    if "positive_class" in results:
        line += (f"; {results['positive_class']} precision {results['precision']:.4f}, "
                 f"recall {results['recall']:.4f}, F1 {results['f1']:.4f} "
                 f"(threshold {results['threshold']:.3f})")
    return line


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    overrides = {}
    if FLAGS.text_column is not None:
        overrides["task.data.text_column"] = FLAGS.text_column
    if FLAGS.label_column is not None:
        overrides["task.data.label_column"] = FLAGS.label_column
    try:
        config = resolve_config_paths(load_config(ClassifyConfig, FLAGS.config, overrides),
                                      REPO_ROOT)
        data = config.task.data
        source = FLAGS.data or data.report or data.validation
        if not source:
            raise ConfigError(f"{FLAGS.config} carves its validation split from the training "
                              "data and has no report split: pass --data.")
        if FLAGS.data and not FLAGS.data.startswith("tfds:"):
            source = os.path.abspath(FLAGS.data)
        data.tfds_validation_split = FLAGS.tfds_split
        examples = read_source(data, source)
        model = ExportedModel(FLAGS.model_dir or config.export_dir)
        results = score(model, examples, FLAGS.batch_size)
    except (ConfigError, DataError, FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    print(f"{describe(results)} on {results['num_examples']} examples ({model.path})")
    print(json.dumps({**results, "model_dir": model.path, "data": source}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
