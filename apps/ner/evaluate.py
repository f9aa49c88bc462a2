"""Scores an exported NER SavedModel on a CoNLL file; prints entity F1 (seqeval) and JSON.

    python -m apps.ner.evaluate --model_dir=saved_models/ner/1 \
        --data=../shared/data/conll2003/valid.txt

`--data` has the training data's format (CoNLL columns, token first, BIO tag
last, blank line between sentences), or `tfds:<name>` (`--tfds_split`). Each
sentence is sent as its words joined by spaces, through `serving_default`;
the score is seqeval's micro entity F1 with exact span match, over every word
(words the model cut off by truncation count as tagged `O`).
"""

import json
import os

from absl import app, flags
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from apps.ner.config import APP_NAME, REPO_ROOT
from bertlab.data import is_tfds_source, load_tfds_tagged, read_conll
from bertlab.export import ExportedModel

flags.DEFINE_string("model_dir", os.path.join(REPO_ROOT, "saved_models", APP_NAME),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_string("data", None, "CoNLL file (training format) or tfds:<name>.")
flags.DEFINE_string("tfds_split", "validation", "Split of a tfds: dataset.")
flags.DEFINE_integer("token_column", 0, "CoNLL token column.")
flags.DEFINE_integer("tag_column", -1, "CoNLL tag column.")
flags.DEFINE_integer("batch_size", 64, "Sentences per call of the model.")
flags.mark_flag_as_required("data")
FLAGS = flags.FLAGS


def score(model, sentences, batch_size):
    """seqeval entity scores of `model` (an `ExportedModel`) on `TaggedSentences`."""
    outputs = model.run([" ".join(words) for words in sentences.tokens], batch_size)
    predicted = []
    for words, tokens, tags in zip(sentences.tokens, outputs["tokens"], outputs["tags"]):
        if len(tokens) != len(words):
            raise ValueError(f"The model returned {len(tokens)} words for a sentence of "
                             f"{len(words)}: {words[:10]}...")
        predicted.append([t.decode("utf-8") for t in tags])
    gold = sentences.tags
    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    per_type = {k: round(float(v["f1-score"]), 4) for k, v in report.items()
                if not k.endswith(" avg")}
    return {"entity_f1": f1_score(gold, predicted), "entity_precision":
            precision_score(gold, predicted), "entity_recall": recall_score(gold, predicted),
            "f1_per_type": per_type, "num_sentences": len(gold)}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    model = ExportedModel(FLAGS.model_dir)
    if is_tfds_source(FLAGS.data):
        sentences = load_tfds_tagged(FLAGS.data[len("tfds:"):], FLAGS.tfds_split)
    else:
        sentences = read_conll(FLAGS.data, FLAGS.token_column, FLAGS.tag_column)
    results = score(model, sentences, FLAGS.batch_size)
    print(f"entity F1 {results['entity_f1']:.4f} (precision {results['entity_precision']:.4f}, "
          f"recall {results['entity_recall']:.4f}) on {results['num_sentences']} sentences "
          f"({model.path})")
    print(json.dumps({**results, "model_dir": model.path, "data": FLAGS.data}))


if __name__ == "__main__":
    app.run(main)
