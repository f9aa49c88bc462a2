"""Answers a question from a context with an exported question answerer.

    python -m apps.qa.predict --model_dir=saved_models/qa "Who wrote it?" "It was written by Ann."
    python -m apps.qa.predict --context_file=report.txt "When did sales peak?"

Prints the answer (`--json`: the answer, its score and its character offsets
in the context, one JSON object). The context may be as long as a document:
the model reads it in overlapping windows and answers from the best one.
"""

import json
import os

from absl import app, flags

from apps.qa.config import APP_NAME, REPO_ROOT
from bertlab.export import ExportedModel, read_texts

flags.DEFINE_string("model_dir", os.path.join(REPO_ROOT, "saved_models", APP_NAME),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_string("context_file", None, "Read the context from this UTF-8 text file.")
flags.DEFINE_bool("json", False, "Print a JSON object instead of the answer alone.")
FLAGS = flags.FLAGS


def question_and_context(args, context_file):
    """The question and the context from the arguments (`"question" "context"`, or
    `"question"` with `--context_file`)."""
    args = read_texts(args) if args else []
    expected = 1 if context_file else 2
    if len(args) != expected:
        raise app.UsageError('Give "question" "context", or "question" with --context_file.')
    if context_file:
        try:
            with open(context_file, "rb") as f:
                return args[0], f.read().decode("utf-8", errors="replace")
        except OSError as e:
            raise app.UsageError(f"Cannot read --context_file: {e}") from None
    return args[0], args[1]


def main(argv):
    question, context = question_and_context(argv[1:], FLAGS.context_file)
    model = ExportedModel(FLAGS.model_dir)
    outputs = model.run_inputs({"question": [question], "context": [context]}, 1)
    answer = outputs["answer"][0].decode("utf-8")
    if FLAGS.json:
        print(json.dumps({"question": question, "answer": answer,
                          "score": float(outputs["score"][0]), "start": int(outputs["start"][0]),
                          "end": int(outputs["end"][0])}, ensure_ascii=False))
    else:
        print(answer)


if __name__ == "__main__":
    app.run(main)
