"""Translates texts with an exported translation model.

    python -m apps.translation.predict --model_dir=saved_models/translation/1 "A dog runs." ...
    cat sentences.txt | python -m apps.translation.predict --model_dir=saved_models/translation/1

Prints one translation per line, in input order (`--json`: one JSON object per
line with the source and its translation). Only the SavedModel is used.
"""

from absl import app, flags

from apps.translation.config import APP_NAME, OUTPUT_KEY, REPO_ROOT
from bertlab.tasks import seq2seq_cli

flags.DEFINE_string("model_dir", str(REPO_ROOT / "saved_models" / APP_NAME),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_bool("json", False, "Print JSON lines instead of text.")
flags.DEFINE_integer("batch_size", 32, "Texts per call of the model.")
FLAGS = flags.FLAGS


def main(argv):
    seq2seq_cli.print_generations(FLAGS.model_dir, argv[1:], FLAGS.batch_size, OUTPUT_KEY,
                                  FLAGS.json)


if __name__ == "__main__":
    app.run(main)
