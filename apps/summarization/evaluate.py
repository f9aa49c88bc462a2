"""Scores an exported summarization model with ROUGE-1/2/L (rouge-score), next to the
first-sentence baseline scored the same way.

    python -m apps.summarization.evaluate --model_dir=saved_models/summarization/1 \
        [--data=scitldr|csl_ts|tfds:NAME|examples.tsv] [--split=validation] \
        [--data_dir=../shared/data] [--output=summaries.txt]

Only the SavedModel is used (loaded with `tensorflow` and `tensorflow_text`).
`--data` defaults to the dataset the model was trained on; a `.tsv` file holds
`source<TAB>reference[<TAB>reference...]` lines. Prints one JSON object.
"""

import json

from absl import app, flags

from apps.summarization.config import APP_NAME, DEFAULT_DATA_DIR, OUTPUT_KEY, REPO_ROOT
from apps.summarization.data import SPLITS, load_examples, read_tsv_examples
from apps.summarization.metrics import rouge_scores
from bertlab.data.readers import DataError
from bertlab.export import ExportedModel
from bertlab.tasks import seq2seq_cli

flags.DEFINE_string("model_dir", str(REPO_ROOT / "saved_models" / APP_NAME),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_string("data", None, "Dataset name (scitldr, csl_ts, tfds:NAME) or a .tsv file; "
                    "default: the training dataset.")
flags.DEFINE_enum("split", "validation", list(SPLITS), "Split of a named dataset.")
flags.DEFINE_string("data_dir", None, "Folder of the datasets (default ../shared/data).")
flags.DEFINE_enum("language", None, ["en", "zh"], "ROUGE tokenization (default: the model's).")
flags.DEFINE_integer("limit", None, "Score only the first N examples.")
flags.DEFINE_integer("batch_size", 16, "Texts per call of the model.")
flags.DEFINE_string("output", None, "Also write the summaries here, one per line.")
FLAGS = flags.FLAGS


def run():
    model = ExportedModel(FLAGS.model_dir)
    metadata = model.metadata
    language = FLAGS.language or metadata.get("language", "en")
    data = FLAGS.data or metadata.get("dataset")
    if data and data.endswith(".tsv"):
        examples = read_tsv_examples(data).head(FLAGS.limit)
    elif data:
        data_dir = seq2seq_cli.data_dir_from_flags(DEFAULT_DATA_DIR)
        examples = load_examples(data, FLAGS.split, data_dir, FLAGS.limit)
    else:
        raise DataError("Pass --data (a dataset name or a .tsv file).")
    summaries = seq2seq_cli.generate(model, examples.sources, FLAGS.batch_size, OUTPUT_KEY)
    if FLAGS.output:
        seq2seq_cli.write_lines(FLAGS.output, summaries)
    result = {"model": model.path, "data": data, "split": FLAGS.split, "examples": len(examples),
              "rouge": rouge_scores(summaries, examples.references, language),
              "first_sentence_baseline": rouge_scores(examples.first_sentences,
                                                      examples.references, language)}
    print(json.dumps(result, ensure_ascii=False))
    return result


def main(argv):
    seq2seq_cli.run_main(argv, run, seq2seq_cli.EVALUATE_ERRORS)


if __name__ == "__main__":
    app.run(main)
