"""Writes `models.config` for TF Serving: every exported app under the model base path.

    python -m apps.export_config [--model_base_path=saved_models] [--serving_base_path=/models]
    tensorflow_model_server --model_config_file=saved_models/models.config --rest_api_port=8501

Each directory of the base path holding integer versions with a SavedModel
is listed under its own name (its base path absolute, or under
`--serving_base_path` when the server sees the directory elsewhere, e.g. in a
container with `-v $PWD/saved_models:/models`). Prints the file's path and
the models it lists. The exports write this file themselves; run this after
moving or deleting exports by hand.
"""

import pathlib
import sys

from absl import app, flags

from bertlab.export.model_config import write_models_config

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

flags.DEFINE_string("model_base_path", str(REPO_ROOT / "saved_models"),
                    "Directory with one directory per exported app.")
flags.DEFINE_string("serving_base_path", None, "The base path as TF Serving sees it "
                    "(default: the absolute local path).")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if FLAGS.serving_base_path is not None and not FLAGS.serving_base_path.startswith("/"):
        raise app.UsageError("--serving_base_path must be absolute, got "
                             f"{FLAGS.serving_base_path!r}.")
    try:
        path, models = write_models_config(FLAGS.model_base_path, FLAGS.serving_base_path)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    if not models:
        print(f"warning: no exported model under {FLAGS.model_base_path}; "
              f"{path} lists none.", file=sys.stderr)
    print(path)
    for name, directory in models.items():
        print(f"  {name}: {directory}")


if __name__ == "__main__":
    app.run(main)
