"""Summarizes texts with an exported summarization model.

    python -m apps.summarization.predict --model_dir=saved_models/summarization/1 \
        "An abstract ..."
    cat abstracts.txt | python -m apps.summarization.predict --model_dir=saved_models/summarization/1

Prints one summary per line, in input order (`--json`: one JSON object per line
with the text and its summary). Only the SavedModel is used.
"""

import json
import sys

from absl import app, flags

from apps.summarization.config import APP_NAME, OUTPUT_KEY, REPO_ROOT
from bertlab.export import ExportedModel, read_texts

flags.DEFINE_string("model_dir", str(REPO_ROOT / "saved_models" / APP_NAME),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_bool("json", False, "Print JSON lines instead of text.")
flags.DEFINE_integer("batch_size", 8, "Texts per call of the model.")
FLAGS = flags.FLAGS


def main(argv):
    try:
        model = ExportedModel(FLAGS.model_dir)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    texts = read_texts(argv[1:])
    if not texts:
        print("error: no texts given (as arguments or on stdin).", file=sys.stderr)
        sys.exit(1)
    outputs = model.run(texts, batch_size=FLAGS.batch_size)[OUTPUT_KEY]
    for text, output in zip(texts, outputs):
        output = output.decode("utf-8", errors="replace")
        if FLAGS.json:
            print(json.dumps({"text": text, OUTPUT_KEY: output}, ensure_ascii=False))
        else:
            print(output)


if __name__ == "__main__":
    app.run(main)
