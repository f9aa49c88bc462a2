"""Scores an exported question answerer on a SQuAD-format file; prints EM, F1 and JSON.

    python -m apps.qa.evaluate --model_dir=saved_models/qa \
        --data=../shared/data/squad_v1.1/validation.json

Each question is sent with its raw context through `serving_default`; the
answers are scored against all reference answers with SQuAD v1.1's official
exact match and F1, or CMRC 2018's (`--metric=cmrc`; by default the metric the
model was trained with, from its metadata).
"""

import json
import os

from absl import app, flags

from apps.qa.config import APP_NAME, REPO_ROOT
from bertlab.data import read_squad_json
from bertlab.export import ExportedModel
from bertlab.tasks.question_answering import METRICS

flags.DEFINE_string("model_dir", os.path.join(REPO_ROOT, "saved_models", APP_NAME),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_string("data", None, "A SQuAD-format JSON file.")
flags.DEFINE_enum("metric", None, sorted(METRICS), "squad or cmrc (default: the model's).")
flags.DEFINE_integer("batch_size", 32, "Questions per call of the model.")
flags.DEFINE_string("output", None, "Write the predictions ({id: answer}) to this JSON file.")
flags.mark_flag_as_required("data")
FLAGS = flags.FLAGS


def answer_all(model, examples, batch_size):
    """`{question id: answer text}` of `model` (an `ExportedModel`) on `QuestionExample`s."""
    outputs = model.run_inputs({"question": [e.question for e in examples],
                                "context": [e.context for e in examples]}, batch_size)
    return {e.id: answer.decode("utf-8") for e, answer in zip(examples, outputs["answer"])}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    model = ExportedModel(FLAGS.model_dir)
    examples = read_squad_json(FLAGS.data)
    metric = FLAGS.metric or model.metadata.get("metric", "squad")
    predictions = answer_all(model, examples, FLAGS.batch_size)
    scores = METRICS[metric](predictions, examples)
    if FLAGS.output:
        with open(FLAGS.output, "w", encoding="utf-8") as f:
            json.dump(predictions, f, ensure_ascii=False, indent=1)
    print(f"exact match {scores['exact_match']:.2f}, F1 {scores['f1']:.2f} ({metric}) on "
          f"{scores['count']} questions ({model.path})")
    print(json.dumps({**scores, "metric": metric, "model_dir": model.path, "data": FLAGS.data}))


if __name__ == "__main__":
    app.run(main)
