"""Scores text files with an exported language model: perplexity and bits per character.

    python -m apps.lm.evaluate [--model_dir=saved_models/lm] [--files=a.txt,b.txt]
        [--data_dir=../shared/data]

Each file is one document, scored whole through the export's `score_text`
signature (every token once, in windows of the context; the stride is in the
export's metadata). `--files` defaults to the held-out validation files the
model was trained with (`validation_files` of its corpus). Only the
SavedModel is used (loaded with `tensorflow` and `tensorflow_text`). Prints
one JSON object: per file and in total, the log-likelihood, tokens,
characters, perplexity per token and bits per character.
"""

import json
import os

import tensorflow as tf
from absl import app, flags

from apps.lm.config import APP_NAME, DEFAULT_DATA_DIR, REPO_ROOT
from bertlab.data.readers import DataError
from bertlab.export import ExportedModel
from bertlab.export.language_model_export import SCORE_SIGNATURE
from bertlab.models.language_model_scoring import TextScore
from bertlab.tasks import seq2seq_cli

flags.DEFINE_string("model_dir", str(REPO_ROOT / "saved_models" / APP_NAME),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_list("files", None, "Text files to score, one document each (default: the "
                  "model's held-out validation files).")
flags.DEFINE_string("data_dir", None, "Folder of the corpora (default ../shared/data), for "
                    "the default files.")
FLAGS = flags.FLAGS


def default_files(metadata):
    corpus, names = metadata.get("corpus"), metadata.get("validation_files")
    if not corpus or not names:
        raise DataError("The export does not name its validation files: pass --files.")
    data_dir = seq2seq_cli.data_dir_from_flags(DEFAULT_DATA_DIR)
    return [os.path.join(data_dir, corpus, name) for name in names]


def score_file(model, path):
    """`TextScore` of one whole file through `score_text`."""
    if not os.path.isfile(path):
        raise DataError(f"Text file not found: {path}")
    with open(path, "rb") as f:
        text = f.read()
    out = model.signatures[SCORE_SIGNATURE](text=tf.constant([text]))
    return TextScore(float(out["log_likelihood"][0]), int(out["num_tokens"][0]),
                     int(out["num_chars"][0]))


def summarize(score):
    return {"log_likelihood": score.log_likelihood, "tokens": score.num_tokens,
            "characters": score.num_characters, "perplexity": score.perplexity,
            "bits_per_character": score.bits_per_character}


def run():
    model = ExportedModel(FLAGS.model_dir)
    if SCORE_SIGNATURE not in model.signatures:
        raise DataError(f"{model.path} has no {SCORE_SIGNATURE!r} signature: not a language "
                        "model export.")
    files = FLAGS.files or default_files(model.metadata)
    total = TextScore(0.0, 0, 0)
    per_file = {}
    for path in files:
        score = score_file(model, path)
        per_file[os.path.basename(path)] = summarize(score)
        total += score
    result = {"model": model.path, "files": per_file, "total": summarize(total)}
    print(json.dumps(result, ensure_ascii=False))
    return result


def main(argv):
    seq2seq_cli.run_main(argv, run, seq2seq_cli.EVALUATE_ERRORS)


if __name__ == "__main__":
    app.run(main)
